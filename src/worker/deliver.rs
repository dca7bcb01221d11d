//! The end of a request's life: pack, store, announce, acknowledge — in that order, so that a
//! request is acknowledged only once its result is safe and announced exactly once.
//!
//! The result is packed into a staging directory of the spool and stored from there, streamed.
//! While the store is away it becomes a spool entry and is retried with backoff; a signal
//! during that wait leaves it there and exits (the next start delivers it). A permanent store
//! error sends the request to `adtop.rejected` with the reason.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use tempfile::TempDir;

use super::decide::{self, Announce, StoreNext};
use super::job::{Attempt, Holding, Job};
use super::life::{self, STORE_RETRY_MAX};
use super::{Flow, Worker, debci, hold, results};
use crate::broker::{Backoff, Session, publish};
use crate::protocol::messages::{CompleteExtra, IndexEntry, TestComplete};
use crate::protocol::{Request, layout, names};
use crate::store::spool::{SpoolEntry, announced_key};
use crate::store::{Access, ObjectMeta, run};

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

/// Step 5 for a fresh result: pack, then store, announce, acknowledge.
pub async fn deliver(
    w: &mut Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
    a: Attempt,
    attempts: u32,
) -> Result<Flow> {
    let staging = w.opts.spool.staging()?;
    let files = pack(&job.req, &a, staging.path()).await?;
    let entry = describe(w, job, &a, attempts, files);
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
    let origin = Some((job.body.as_slice(), job.queue.to_string()));
    store_announce_ack(
        w,
        session,
        entry,
        Place::Staging(staging),
        Some(holding),
        origin,
    )
    .await
}

/// A redelivery whose result waits in this worker's spool: deliver it with this delivery.
pub async fn finish_spooled(
    w: &mut Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
) -> Result<Flow> {
    let Some(entry) = w
        .opts
        .spool
        .pending()?
        .into_iter()
        .find(|e| e.uuid == job.uuid)
    else {
        // Delivered meanwhile: what is stored answers.
        return announce_stored(w, session, job, holding).await;
    };
    let origin = Some((job.body.as_slice(), job.queue.to_string()));
    store_announce_ack(w, session, entry, Place::Spooled, Some(holding), origin).await
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
    let stored = match run::by_uuid(&w.opts.store, &job.uuid).await {
        Ok(run::ByUuid::Stored(e)) => e,
        // Gone or unreadable since it was looked at: let the redelivery decide again.
        Ok(run::ByUuid::Nothing) | Err(_) => return Ok(Flow::Reconnect),
    };
    tracing::info!(
        "{}: already stored ({}); announcing it if it was not, acknowledging the redelivery",
        job.uuid,
        stored.swift_dir
    );
    announce_ack(w, session, &complete_from_index(&stored), Some(holding)).await
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
    let flow = announce_ack(w, session, &entry.complete, holding).await?;
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
    w: &mut Worker,
    session: &Session,
    complete: &TestComplete,
    holding: Option<Holding>,
) -> Result<Flow> {
    let uuid = complete.uuid.as_str();
    // A request moved to the held queue and reclaimed meanwhile is being run again elsewhere.
    let released = match &holding {
        Some(Holding::Held { .. }) => {
            Some(hold::release(&session.confirm, &w.opts.id, uuid).await?)
        }
        _ => None,
    };
    let marker = matches!(
        w.opts
            .store
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
            if !publish_completion(w, session, complete).await {
                return Ok(Flow::Reconnect);
            }
        }
    }
    match holding {
        Some(h @ Holding::Delivery(_)) => {
            if !life::acknowledge(w, session, h, uuid, "the request").await? {
                return Ok(Flow::Reconnect);
            }
        }
        // Released above, or none (a spooled result: its request comes back and is known).
        Some(Holding::Held { .. }) | None => {}
    }
    Ok(Flow::Continue)
}

/// Publish the completion (confirmed), then set the `announced/<uuid>` marker.
async fn publish_completion(w: &Worker, session: &Session, complete: &TestComplete) -> bool {
    let Ok(body) = serde_json::to_vec(complete) else {
        return false;
    };
    let props = publish::persistent().with_content_type("application/json".into());
    if let Err(e) = publish::publish_confirmed(
        &session.confirm,
        names::TESTCOMPLETE_EXCHANGE,
        "",
        &body,
        props,
        false,
    )
    .await
    {
        tracing::warn!(
            "{}: cannot announce the completion yet ({e}); it waits in the spool",
            complete.uuid
        );
        return false;
    }
    let meta = ObjectMeta {
        content_type: Some("text/plain"),
        content_encoding: None,
    };
    if let Err(e) = w
        .opts
        .store
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
