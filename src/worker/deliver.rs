//! The end of a request's life: pack, store, announce, acknowledge — in that order, so that a
//! request is acknowledged only once its result is safe and announced exactly once.
//!
//! The result is packed into a staging directory of the spool and stored from there, streamed.
//! While the store is away it becomes a spool entry and is retried with backoff; a signal
//! during that wait leaves it there and exits (the next start delivers it). A permanent store
//! error sends the request to `adtop.rejected` with the reason.
//!
//! Pipelining (file store): the flush that makes a result durable (`syncfs`, milliseconds to
//! tens of milliseconds on a shared disk) runs while the worker takes and starts its next
//! request. Once request N's result is written, its flush starts and the consume channel's
//! prefetch goes from 1 to 2, so that the broker hands over N+1 at once; a task of its own
//! ([`Pending`]) waits for the flush, sets the prefetch back to 1, and only then announces N
//! and acknowledges it. So nothing is announced or acknowledged before its result is durable,
//! a second request is prefetched only while a flush is pending (never behind a running test:
//! with N acknowledged and the prefetch back at 1 no third request comes while N+1 runs), and
//! a worker killed meanwhile leaves both unacknowledged, to be delivered again. N+1's own
//! flush starts as soon as its result is written, beside N's if that still runs (a flush
//! started after a result was written makes it durable), but results are announced in the
//! order they were taken: N+1's task starts only once N is finished with ([`settle`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use lapin::Channel;
use lapin::options::BasicQosOptions;
use tempfile::TempDir;

use super::decide::{self, Announce, StoreNext};
use super::job::{Attempt, Holding, Job};
use super::life::{self, STORE_RETRY_MAX};
use super::{Flow, Worker, debci, hold, results};
use crate::broker::{Backoff, Session, publish};
use crate::protocol::messages::{CompleteExtra, IndexEntry, TestComplete};
use crate::protocol::{Request, layout, names};
use crate::store::spool::{SpoolEntry, announced_key};
use crate::store::{Access, ObjectMeta, Spool, Store, run};

/// Where a result's packed files are.
enum Place {
    /// Packed for this delivery, not spooled (yet).
    Staging(TempDir),
    /// A spool entry.
    Spooled,
}

/// What a rejection needs of the request: its body and queue (not known for a spooled result
/// delivered after a restart: its request comes back and is refused then).
type Origin<'a> = Option<(&'a [u8], String)>;

/// Step 5 for a fresh result: pack, then store, announce, acknowledge. On the file store the
/// flush and what follows it may be left running ([`Pending`]) while the next request is
/// taken; `consume` is the channel whose prefetch lets that request come.
pub async fn deliver(
    w: &mut Worker,
    session: &Arc<Session>,
    consume: &Channel,
    job: &Job,
    holding: Holding,
    a: Attempt,
    attempts: u32,
) -> Result<Flow> {
    let staging = w.opts.spool.staging()?;
    let files = pack(&job.req, &a, staging.path()).await?;
    let mut entry = describe(w, job, &a, attempts, files);
    // debci's collector gets its tarball first; if the broker does not take it, nothing is
    // acknowledged and the request runs again.
    if !debci::publish_result(w, session, job, &a).await {
        return Ok(Flow::Reconnect);
    }
    count(w, &entry);
    tracing::info!(
        "{}: finished with exit code {} ({})",
        job.uuid,
        a.code.0,
        a.code.describe()
    );
    drop(a);
    if pipelines(w, &holding) {
        match run::write_run(&mut entry, staging.path(), &w.opts.store).await {
            Ok(()) => {
                // This flush may overlap the previous result's: a flush started after this
                // result was written makes it durable, whatever else is flushing.
                let flush = tokio::spawn({
                    let store = w.opts.store.clone();
                    async move { store.sync().await }
                });
                // The previous result is announced (and acknowledged) before this one is.
                let before = settle(w, session).await?;
                let f = Finish {
                    flush,
                    consume: None,
                    session: session.clone(),
                    store: w.opts.store.clone(),
                    spool: w.opts.spool.clone(),
                    id: w.opts.id.clone(),
                    entry,
                    staging,
                    holding,
                    origin: (job.body.clone(), job.queue.to_string()),
                };
                flush_behind(w, consume, f).await;
                return Ok(before);
            }
            // The ordinary path tells a store that is away from one that refuses, and waits.
            Err(e) => tracing::debug!("{}: writing the result: {e}", entry.uuid),
        }
    }
    let before = settle(w, session).await?;
    let origin = Some((job.body.as_slice(), job.queue.to_string()));
    let flow = store_announce_ack(
        w,
        session,
        entry,
        Place::Staging(staging),
        Some(holding),
        origin,
    )
    .await?;
    Ok(before.and(flow))
}

/// May this result's flush run behind the next request? Only where there is a flush (the
/// file store), for a request still held as a delivery (a held one is past its lease and
/// released, not acknowledged), and while the worker goes on taking requests.
fn pipelines(w: &Worker, holding: &Holding) -> bool {
    w.opts.store.flushes()
        && matches!(holding, Holding::Delivery(_))
        && w.signals.leaving.is_none()
        && !w.paused
}

/// A result written but not yet durable, whose flush, announcement and acknowledgement run in
/// a task of their own while the worker takes its next request. At most one at a time.
pub struct Pending {
    uuid: String,
    task: tokio::task::JoinHandle<Finished>,
}

impl Pending {
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Wait for the task (for `tokio::select!`; [`settled`] then finishes with what it gives).
    pub async fn done(&mut self) -> std::result::Result<Finished, tokio::task::JoinError> {
        (&mut self.task).await
    }
}

/// How a [`Pending`] task ended.
pub enum Finished {
    /// Flushed; announced and acknowledged unless the flow says otherwise (then the result is
    /// in the spool, as after the ordinary path).
    Done(Flow),
    /// The flush failed: the result is finished the ordinary way ([`store_announce_ack`]:
    /// retries, the spool, a rejection for a permanent error).
    Unflushed {
        entry: Box<SpoolEntry>,
        staging: TempDir,
        holding: Holding,
        origin: (Vec<u8>, String),
    },
}

/// Let the next request come while `f`'s flush runs, and leave the rest to a task.
async fn flush_behind(w: &mut Worker, consume: &Channel, mut f: Finish) {
    // Quorum queues are polled (`poll.rs`): no prefetch there, the loop asks when it is free.
    if !w.polling() {
        // Raised after the previous result's task lowered it (that task is done: [`settle`])
        // and before the task that lowers it again exists, so that the lowering comes second.
        if let Err(e) = consume.basic_qos(2, BasicQosOptions { global: true }).await {
            tracing::debug!("{}: prefetch 2: {e}", f.entry.uuid);
        }
        f.consume = Some(consume.clone());
    }
    let uuid = f.entry.uuid.clone();
    let task = tokio::spawn(finish(f));
    w.pending = Some(Pending { uuid, task });
}

/// What the task of a [`Pending`] result needs.
struct Finish {
    flush: tokio::task::JoinHandle<std::result::Result<(), crate::store::StoreError>>,
    consume: Option<Channel>,
    session: Arc<Session>,
    store: Store,
    spool: Spool,
    id: String,
    entry: SpoolEntry,
    staging: TempDir,
    holding: Holding,
    origin: (Vec<u8>, String),
}

/// Wait for the flush; back to a prefetch of 1; then announce and acknowledge.
async fn finish(f: Finish) -> Finished {
    let Finish {
        flush,
        consume,
        session,
        store,
        spool,
        id,
        mut entry,
        staging,
        holding,
        origin,
    } = f;
    let flushed = match flush.await {
        Ok(r) => r.map_err(anyhow::Error::new),
        Err(e) => Err(anyhow::Error::new(e).context("the flush task")),
    };
    // Before anything is acknowledged: with N acknowledged under a prefetch of 2, the broker
    // would hand over a third request to wait behind N+1, however long N+1 runs.
    let lowered = match &consume {
        Some(ch) => ch
            .basic_qos(1, BasicQosOptions { global: true })
            .await
            .map_err(|e| tracing::warn!("{}: prefetch back to 1: {e}", entry.uuid))
            .is_ok(),
        None => true,
    };
    if let Err(e) = flushed {
        tracing::warn!(
            "{}: flushing the stored result failed ({e:#}); storing it again",
            entry.uuid
        );
        return Finished::Unflushed {
            entry: Box::new(entry),
            staging,
            holding,
            origin,
        };
    }
    entry.stored = true;
    let flow = if lowered {
        match announce_ack(&store, &id, &session, &entry.complete, Some(holding)).await {
            Ok(flow) => flow,
            Err(e) => {
                tracing::warn!("{}: announcing: {e:#}", entry.uuid);
                Flow::Reconnect
            }
        }
    } else {
        // Not acknowledged on a channel whose prefetch is unknown: the broker requeues the
        // request with the channel, and the spool announces the result after reconnecting.
        drop(holding);
        Flow::Reconnect
    };
    if flow != Flow::Continue
        && let Err(e) = spool.add(&entry, staging)
    {
        // Stored and durable: the redelivered request is recognised by its stored result.
        tracing::warn!("{}: {e:#}", entry.uuid);
    }
    Finished::Done(flow)
}

/// Wait for the pending result, if any, and finish with it. The flow to go on with.
pub async fn settle(w: &mut Worker, session: &Session) -> Result<Flow> {
    let Some(mut p) = w.pending.take() else {
        return Ok(Flow::Continue);
    };
    let done = p.done().await;
    settled(w, session, &p.uuid, done).await
}

/// Finish with what a [`Pending`] task gave.
pub async fn settled(
    w: &mut Worker,
    session: &Session,
    uuid: &str,
    done: std::result::Result<Finished, tokio::task::JoinError>,
) -> Result<Flow> {
    match done {
        Ok(Finished::Done(flow)) => Ok(flow),
        Ok(Finished::Unflushed {
            entry,
            staging,
            holding,
            origin,
        }) => {
            let origin = Some((origin.0.as_slice(), origin.1));
            store_announce_ack(
                w,
                session,
                *entry,
                Place::Staging(staging),
                Some(holding),
                origin,
            )
            .await
        }
        Err(e) => {
            // Its delivery went with the task, unacknowledged: the broker requeues it when the
            // channel closes, and the redelivery is recognised by its stored result.
            tracing::error!("{uuid}: finishing the result failed: {e}");
            Ok(Flow::Reconnect)
        }
    }
}

/// A redelivery whose result waits in this worker's spool: deliver it with this delivery.
pub async fn finish_spooled(
    w: &mut Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
) -> Result<Flow> {
    let before = settle(w, session).await?;
    let Some(entry) = w
        .opts
        .spool
        .pending()?
        .into_iter()
        .find(|e| e.uuid == job.uuid)
    else {
        // Delivered meanwhile: what is stored answers.
        return Ok(before.and(announce_stored(w, session, job, holding).await?));
    };
    let origin = Some((job.body.as_slice(), job.queue.to_string()));
    let flow = store_announce_ack(w, session, entry, Place::Spooled, Some(holding), origin).await?;
    Ok(before.and(flow))
}

/// After (re)connecting: deliver whatever finished while the broker or store was away.
pub async fn flush_spool(w: &mut Worker, session: &Session) -> Result<Flow> {
    for entry in w.opts.spool.pending()? {
        tracing::info!("{}: delivering a spooled result", entry.uuid);
        let flow = store_announce_ack(w, session, entry, Place::Spooled, None, None).await?;
        if flow != Flow::Continue {
            return Ok(flow);
        }
    }
    Ok(Flow::Continue)
}

/// A redelivered request whose result is already stored: make sure it is announced once (the
/// worker that stored it may have died before announcing), then acknowledge it.
pub async fn announce_stored(
    w: &mut Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
) -> Result<Flow> {
    let before = settle(w, session).await?;
    let stored = match run::by_uuid(&w.opts.store, &job.uuid).await {
        Ok(run::ByUuid::Stored(e)) => e,
        // Gone or unreadable since it was looked at: let the redelivery decide again.
        Ok(run::ByUuid::Nothing) | Err(_) => return Ok(Flow::Reconnect),
    };
    // Found, not necessarily durable: the worker that wrote it may have been killed before its
    // flush, leaving it in the page cache only.
    if let Err(e) = w.opts.store.sync().await {
        tracing::warn!("{}: flushing its stored result failed ({e})", job.uuid);
        return Ok(Flow::Reconnect);
    }
    tracing::info!(
        "{}: already stored ({}); announcing it if it was not, acknowledging the redelivery",
        job.uuid,
        stored.swift_dir
    );
    let flow = announce_ack(
        &w.opts.store,
        &w.opts.id,
        session,
        &complete_from_index(&stored),
        Some(holding),
    )
    .await?;
    Ok(before.and(flow))
}

/// Store (waiting while the store is away), then announce once and acknowledge.
async fn store_announce_ack(
    w: &mut Worker,
    session: &Session,
    mut entry: SpoolEntry,
    mut place: Place,
    holding: Option<Holding>,
    origin: Origin<'_>,
) -> Result<Flow> {
    let mut backoff = Backoff::new(Duration::from_secs(1), STORE_RETRY_MAX);
    loop {
        let stored = match &place {
            Place::Staging(t) => run::put_run(&mut entry, t.path(), &w.opts.store).await,
            Place::Spooled => w.opts.spool.store(&mut entry, &w.opts.store).await,
        };
        let e = match stored {
            Ok(()) => break,
            Err(e) => e,
        };
        match decide::on_store_error(&e, &mut backoff) {
            StoreNext::Reject(why) => {
                w.opts.spool.remove(&entry.uuid)?;
                return match (holding, origin) {
                    (Some(holding), Some((body, queue))) => {
                        life::reject(w, session, holding, &queue, body, &why).await
                    }
                    _ => {
                        tracing::error!(
                            "{}: {}; spooled result dropped, its request is refused when it comes back",
                            entry.uuid,
                            why.reason
                        );
                        Ok(Flow::Continue)
                    }
                };
            }
            StoreNext::Wait(delay) => {
                if let Place::Staging(t) = place {
                    w.opts.spool.add(&entry, t)?;
                    place = Place::Spooled;
                }
                tracing::warn!(
                    "{}: store unavailable ({e}); result kept in the spool, retrying in {}s",
                    entry.uuid,
                    delay.as_secs()
                );
                if !decide::wait_unless(delay, async {
                    w.signals.next().await;
                })
                .await
                {
                    tracing::info!(
                        "{}: leaving with the result in the spool {}; it is stored when the worker starts again",
                        entry.uuid,
                        w.opts.spool.dir().display()
                    );
                    return Ok(Flow::Exit(w.signals.leaving.unwrap_or(0)));
                }
                if !session.alive() {
                    return Ok(Flow::Reconnect);
                }
            }
        }
    }
    let flow = announce_ack(&w.opts.store, &w.opts.id, session, &entry.complete, holding).await?;
    match (flow, place) {
        (Flow::Continue, _) => w.opts.spool.remove(&entry.uuid)?,
        // Stored, not announced: the spool announces it after reconnecting.
        (_, Place::Staging(t)) => w.opts.spool.add(&entry, t)?,
        (_, Place::Spooled) => {}
    }
    Ok(flow)
}

/// Announce once (unless it runs elsewhere), then acknowledge. `Reconnect` when the broker
/// did not take the announcement or the acknowledgement.
async fn announce_ack(
    store: &Store,
    id: &str,
    session: &Session,
    complete: &TestComplete,
    holding: Option<Holding>,
) -> Result<Flow> {
    let uuid = complete.uuid.as_str();
    // A request moved to the held queue and reclaimed meanwhile is being run again elsewhere.
    let released = match &holding {
        Some(Holding::Held { .. }) => Some(hold::release(&session.confirm, id, uuid).await?),
        _ => None,
    };
    let marker = matches!(
        store
            .get(names::INDEX_CONTAINER, &announced_key(uuid))
            .await,
        Ok(Some(_))
    );
    match decide::announce(marker, released) {
        Announce::RunsElsewhere => {
            tracing::warn!(
                "{uuid}: its held request was reclaimed by another worker; stored, not announced"
            );
            return Ok(Flow::Continue);
        }
        Announce::AlreadyAnnounced => {}
        Announce::Publish => {
            if !publish_completion(store, session, complete).await {
                return Ok(Flow::Reconnect);
            }
        }
    }
    match holding {
        Some(h @ Holding::Delivery(_)) => {
            if !life::acknowledge(id, session, h, uuid, "the request").await? {
                return Ok(Flow::Reconnect);
            }
        }
        // Released above, or none (a spooled result: its request comes back and is known).
        Some(Holding::Held { .. }) | None => {}
    }
    Ok(Flow::Continue)
}

/// Completions published whose confirm never came (the connection or the queue's node went
/// meanwhile): the broker may have routed them. They are announced again all the same (a lost
/// announcement is worse than a repeat, and autopkgtest-cloud's db writer skips a result it
/// holds), marked [`names::H_REPEAT`]. In memory: a worker started again does not mark them.
static UNCONFIRMED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);
/// Bound of [`UNCONFIRMED`]: past it the set starts again (a repeat is then unmarked).
const UNCONFIRMED_MAX: usize = 10_000;

/// Was an earlier announcement of `uuid` sent without its confirm coming back?
fn was_unconfirmed(uuid: &str) -> bool {
    UNCONFIRMED.lock().is_ok_and(|set| set.contains(uuid))
}

/// Record how the announcement of `uuid` ended: confirmed, or sent and not confirmed.
fn note_confirm(uuid: &str, confirmed: bool) {
    let Ok(mut set) = UNCONFIRMED.lock() else {
        return;
    };
    if confirmed {
        set.remove(uuid);
    } else {
        if set.len() >= UNCONFIRMED_MAX {
            set.clear();
        }
        set.insert(uuid.to_string());
    }
}

/// Publish the completion (confirmed), then set the `announced/<uuid>` marker.
async fn publish_completion(store: &Store, session: &Session, complete: &TestComplete) -> bool {
    let Ok(body) = serde_json::to_vec(complete) else {
        return false;
    };
    let mut props = publish::persistent().with_content_type("application/json".into());
    if was_unconfirmed(&complete.uuid) {
        let mut headers = lapin::types::FieldTable::default();
        headers.insert(
            names::H_REPEAT.into(),
            lapin::types::AMQPValue::Boolean(true),
        );
        props = props.with_headers(headers);
    }
    let sent = publish::send(
        &session.confirm,
        names::TESTCOMPLETE_EXCHANGE,
        "",
        &body,
        props,
        false,
    )
    .await;
    let outcome = match sent {
        Ok(pending) => {
            let r =
                publish::confirmed(&session.confirm, names::TESTCOMPLETE_EXCHANGE, pending).await;
            // Sent but not confirmed: it may have been routed.
            if r.is_err() {
                note_confirm(&complete.uuid, false);
            }
            r
        }
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        tracing::warn!(
            "{}: cannot announce the completion yet ({e}); it waits in the spool",
            complete.uuid
        );
        return false;
    }
    note_confirm(&complete.uuid, true);
    let meta = ObjectMeta {
        content_type: Some("text/plain"),
        content_encoding: None,
    };
    if let Err(e) = store
        .put(
            names::INDEX_CONTAINER,
            &announced_key(&complete.uuid),
            Utc::now().to_rfc3339().into_bytes(),
            meta,
        )
        .await
    {
        tracing::warn!(
            "{}: announced, but could not record it ({e})",
            complete.uuid
        );
    }
    true
}

/// Write the files autopkgtest-cloud adds, then pack the output off the async threads.
async fn pack(req: &Request, a: &Attempt, into: &Path) -> Result<Vec<String>> {
    let out = a.out();
    prepare_output(&out, req, a)?;
    let into = into.to_path_buf();
    crate::store::file::blocking(move || results::pack(&out, &into))
        .await
        .context("pack results")?
        .context("pack results")
}

/// At most this much of `testpkg-version` is read (it is written by the test's tooling).
const VERSION_MAX: u64 = 4096;

fn read_version(out: &Path) -> String {
    let mut s = String::new();
    if let Ok(f) = std::fs::File::open(out.join("testpkg-version")) {
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(f, VERSION_MAX), &mut s);
    }
    s.trim().to_string()
}

/// The spool entry of a fresh result: index entry, completion, where it goes.
fn describe(w: &Worker, job: &Job, a: &Attempt, attempts: u32, files: Vec<String>) -> SpoolEntry {
    let p = &job.req.params;
    let requester = p.requester.clone().unwrap_or_default();
    let private = p.private();
    let container = layout::container(&job.queue.release, &p.ppas, private);
    let version = read_version(&a.out());
    let finished = Utc::now();
    let class = a.code.class();
    SpoolEntry {
        uuid: job.uuid.clone(),
        container: container.clone(),
        access: match &p.swiftuser {
            Some(user) if private => Access::Private(user.clone()),
            _ => Access::Public,
        },
        run_dir: String::new(),
        hash5: Request::body_hash5(&job.body),
        stored: false,
        files,
        index: IndexEntry {
            uuid: job.uuid.clone(),
            package: job.req.package.clone(),
            release: job.queue.release.clone(),
            arch: job.queue.arch.clone(),
            queue: job.queue.to_string(),
            exitcode: a.code.0,
            class,
            container: container.clone(),
            swift_dir: String::new(),
            duration: a.duration,
            finished,
            worker: w.opts.id.clone(),
            triggers: p.triggers.clone(),
            requester: requester.clone(),
            testpkg_version: version.clone(),
            // The index is read by every operator: a private PPA's token stays out of it.
            body: job.index_body.clone(),
            private,
        },
        complete: TestComplete {
            architecture: job.queue.arch.clone(),
            container,
            duration: a.duration,
            exitcode: a.code.0,
            package: job.req.package.clone(),
            testpkg_version: bare_version(&version),
            release: job.queue.release.clone(),
            requester,
            swift_dir: String::new(),
            triggers: p.triggers_joined(),
            env: p.completion_env(),
            uuid: job.uuid.clone(),
            adtop: Some(CompleteExtra {
                worker: w.opts.id.clone(),
                queue: job.queue.to_string(),
                class,
                attempts,
                finished,
            }),
        },
    }
}

fn count(w: &Worker, entry: &SpoolEntry) {
    if let Ok(mut s) = w.shared.lock() {
        s.done += 1;
        match entry.index.class {
            crate::protocol::Class::Fail => s.failed += 1,
            crate::protocol::Class::Tmpfail => s.tmpfailed += 1,
            _ => {}
        }
    }
}

/// The completion message of a stored result, rebuilt from its index entry.
pub fn complete_from_index(e: &IndexEntry) -> TestComplete {
    let env = Request::parse(e.body.as_bytes())
        .map(|r| r.params.completion_env())
        .unwrap_or_default();
    TestComplete {
        architecture: e.arch.clone(),
        container: e.container.clone(),
        duration: e.duration,
        exitcode: e.exitcode,
        package: e.package.clone(),
        testpkg_version: bare_version(&e.testpkg_version),
        release: e.release.clone(),
        requester: e.requester.clone(),
        swift_dir: e.swift_dir.clone(),
        triggers: e.triggers.join(" "),
        env,
        uuid: e.uuid.clone(),
        adtop: Some(CompleteExtra {
            worker: e.worker.clone(),
            queue: e.queue.clone(),
            class: e.class,
            attempts: 0,
            finished: e.finished,
        }),
    }
}

/// The second word of `testpkg-version` (`hello 1.0-1` gives `1.0-1`), as autopkgtest-cloud
/// sends it; `unknown` and `blacklisted` pass through the same way.
pub fn bare_version(testpkg_version: &str) -> String {
    let mut words = testpkg_version.split_whitespace();
    match (words.next(), words.next()) {
        (_, Some(v)) => v.to_string(),
        (Some(only), None) => only.to_string(),
        _ => String::new(),
    }
}

/// Write what autopkgtest-cloud's worker adds to an output directory before packing: exit code,
/// duration, requester, `testpkg-version` when autopkgtest wrote none (`<pkg> unknown`), a
/// `testinfo.json` with the triggers when it is missing (britney ignores a result without it),
/// and `readable-by`. Returns the files written, for `result.tar`.
fn prepare_output(out: &Path, req: &Request, a: &Attempt) -> Result<()> {
    let p = &req.params;
    let mut files = vec![
        ("exitcode", format!("{}\n", a.code.0)),
        ("duration", format!("{}\n", a.duration)),
    ];
    if !out.join("testpkg-version").is_file() {
        files.push(("testpkg-version", format!("{} unknown\n", req.package)));
    }
    if !out.join("testinfo.json").is_file() {
        let info = if p.triggers.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({
                "custom_environment": [format!("ADT_TEST_TRIGGERS={}", p.triggers_joined())]
            })
        };
        files.push(("testinfo.json", serde_json::to_string_pretty(&info)?));
    }
    if let Some(r) = &p.requester {
        files.push(("requester", format!("{r}\n")));
    }
    match &p.readable_by {
        Some(serde_json::Value::Array(users)) => {
            let users: Vec<&str> = users.iter().filter_map(|u| u.as_str()).collect();
            files.push((layout::READABLE_BY_OBJECT, users.join("\n")));
        }
        Some(serde_json::Value::String(user)) => {
            files.push((layout::READABLE_BY_OBJECT, format!("{user}\n")));
        }
        _ => {}
    }
    std::fs::create_dir_all(out).context("output directory")?;
    for (name, content) in &files {
        std::fs::write(out.join(name), content).with_context(|| format!("write {name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_versions_like_autopkgtest_cloud() {
        assert_eq!(bare_version("hello 1.0-1\n"), "1.0-1");
        assert_eq!(bare_version("hello blacklisted"), "blacklisted");
        assert_eq!(bare_version("hello unknown"), "unknown");
        assert_eq!(bare_version(""), "");
    }
}
