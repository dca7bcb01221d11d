//! `adtop results-db`: completions from `testcomplete.fanout` into the live database, and every
//! `publish_every` a published copy, locally and in the store, when anything changed.
//!
//! A completion is acknowledged only after its outcome is committed, so a crash or a lost
//! connection redelivers it, and the redelivery is "already recorded". A body that is not a
//! completion is logged and acknowledged: it will never become one, and keeping it would stop the
//! queue (autopkgtest-cloud's writer crash-loops on such a message).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use super::{DbError, Recorded, ResultsDb, publish};
use crate::broker::{self, Backoff, BrokerError, Session, topology};
use crate::protocol::messages::TestComplete;
use crate::protocol::{names, sanitize};
use crate::store::{ObjectMeta, Store};

/// Completions delivered ahead of the one being written: enough to keep sqlite busy across
/// broker round trips, few enough that a restart re-reads little. Each is acked after its own
/// commit, so the bound is also how many a crash redelivers.
pub const PREFETCH: u16 = 32;
/// A completion is a few hundred bytes; anything this large is not one, and is not parsed.
pub const MAX_BODY: usize = 1 << 20;
/// How long a stop waits for a publish under way (an upload to a slow store).
const PUBLISH_GRACE: Duration = Duration::from_secs(60);
/// How much of a parse error (which may quote the hostile body) reaches the log.
const MAX_REASON: usize = 200;

/// Everything the service needs, resolved from flags and configuration.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub broker_url: String,
    /// The live database.
    pub db: PathBuf,
    /// The local published copy; its checksum goes to `<output>.sha256`.
    pub output: PathBuf,
    /// The durable queue bound to `testcomplete.fanout`.
    pub queue: String,
    pub publish_every: Duration,
    pub store: Store,
}

/// What ends the service: SIGTERM or SIGINT for the command, a watch for tests and embedding.
/// Once asked, every later [`Stop::wait`] returns at once.
pub struct Stop {
    term: Option<Signal>,
    int: Option<Signal>,
    rx: Option<watch::Receiver<bool>>,
    asked: bool,
}

async fn os_signal(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn stop_asked(rx: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = rx
        && rx.wait_for(|stop| *stop).await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

impl Stop {
    pub fn signals() -> Result<Self> {
        Ok(Self {
            term: Some(signal(SignalKind::terminate()).context("install SIGTERM handler")?),
            int: Some(signal(SignalKind::interrupt()).context("install SIGINT handler")?),
            rx: None,
            asked: false,
        })
    }

    /// Stop when `rx` turns true.
    pub fn watch(rx: watch::Receiver<bool>) -> Self {
        Self {
            term: None,
            int: None,
            rx: Some(rx),
            asked: false,
        }
    }

    /// Wait until asked to stop. Cancel-safe: used in `select!` beside the work.
    pub async fn wait(&mut self) {
        if self.asked {
            return;
        }
        tokio::select! {
            _ = os_signal(&mut self.term) => tracing::info!("SIGTERM: finishing the current completion, then exiting"),
            _ = os_signal(&mut self.int) => tracing::info!("interrupted: finishing the current completion, then exiting"),
            _ = stop_asked(&mut self.rx) => {}
        }
        self.asked = true;
    }
}

type Shared = Arc<Mutex<ResultsDb>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Reconnect,
    Stop,
}

/// Run until `stop`. Errors are the ones that will not fix themselves: the database cannot be
/// opened, the queue exists with other arguments, bad options.
pub async fn serve(opts: ServeOptions, mut stop: Stop) -> Result<()> {
    check_queue_name(&opts.queue)?;
    if super::same_file(&opts.db, &opts.output) {
        bail!(
            "--output {} is the live database: give the published copy another path",
            opts.output.display()
        );
    }
    let db = ResultsDb::open(&opts.db)?;
    tracing::info!(
        "results database {}; publishing {} and {}/{}/{} every {}s",
        opts.db.display(),
        opts.output.display(),
        opts.store.describe(),
        names::RESULTS_DB_CONTAINER,
        names::RESULTS_DB_OBJECT,
        opts.publish_every.as_secs()
    );
    let db: Shared = Arc::new(Mutex::new(db));
    // Dirty from the start: the first publish happens at once, so a restarted service publishes
    // what it recorded after its last publish before it stopped.
    let dirty = Arc::new(AtomicBool::new(true));
    let (stopping, stopped) = watch::channel(false);
    let mut publisher = tokio::spawn(publish_loop(
        db.clone(),
        dirty.clone(),
        opts.output.clone(),
        opts.store.clone(),
        opts.publish_every,
        stopped,
    ));
    let result = consume(&opts, &db, &dirty, &mut stop).await;
    // A publish under way finishes: stopped between its two uploads, it would leave the store
    // with a database and the checksum of another until the next start. No new one begins;
    // the next start publishes anyway.
    let _ = stopping.send(true);
    if tokio::time::timeout(PUBLISH_GRACE, &mut publisher)
        .await
        .is_err()
    {
        tracing::warn!(
            "the publish under way did not finish within {}s; leaving it",
            PUBLISH_GRACE.as_secs()
        );
        publisher.abort();
    }
    result
}

/// Queue names the broker would refuse or misread: empty asks for a server-named queue (which
/// would vanish with the connection), `amq.` is reserved.
fn check_queue_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 255
        || name.starts_with("amq.")
        || name.chars().any(char::is_control)
    {
        bail!(
            "invalid queue name {:?}: 1 to 255 bytes, no control characters, not starting with amq. (reserved by RabbitMQ)",
            sanitize::line(name)
        );
    }
    Ok(())
}

/// The reconnect loop (lapin's own recovery is not relied on, as everywhere in adtop).
async fn consume(
    opts: &ServeOptions,
    db: &Shared,
    dirty: &AtomicBool,
    stop: &mut Stop,
) -> Result<()> {
    let mut backoff = Backoff::default();
    loop {
        let opened = tokio::select! {
            biased;
            _ = stop.wait() => return Ok(()),
            s = Session::open(&opts.broker_url, "adtop results-db") => s,
        };
        match opened {
            Ok(session) => {
                backoff.reset();
                tracing::info!("connected to {}", broker::redact(&opts.broker_url));
                let flow = listen(opts, db, dirty, stop, &session).await;
                session.close().await;
                match flow {
                    Ok(Flow::Stop) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(BrokerError::Conflict { .. }) = e.downcast_ref::<BrokerError>()
                        {
                            return Err(e);
                        }
                        if e.downcast_ref::<Fatal>().is_some() {
                            return Err(e);
                        }
                        tracing::warn!("broker session ended: {e:#}");
                    }
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
        let delay = backoff.next_delay();
        tracing::info!("reconnecting in {:.1}s", delay.as_secs_f64());
        tokio::select! {
            biased;
            _ = stop.wait() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// The database is unusable in this process (its lock was poisoned by a panic): stop, so the
/// service manager restarts it, instead of failing every completion forever.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Fatal(String);

/// One broker session: declare and bind the queue, consume until the connection drops.
async fn listen(
    opts: &ServeOptions,
    db: &Shared,
    dirty: &AtomicBool,
    stop: &mut Stop,
    session: &Session,
) -> Result<Flow> {
    let ch = session.channel().await?;
    ch.basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .map_err(BrokerError::amqp("set prefetch"))?;
    // The exchange itself is declared by Session::open, durable, exactly as the workers do.
    let waiting =
        topology::durable_subscription(&ch, &opts.queue, names::TESTCOMPLETE_EXCHANGE).await?;
    let mut consumer = ch
        .basic_consume(
            opts.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BrokerError::amqp(format!("consume {}", opts.queue)))?;
    tracing::info!(
        "consuming {} on {} ({waiting} completion(s) waiting)",
        opts.queue,
        names::TESTCOMPLETE_EXCHANGE
    );
    let mut health = tokio::time::interval(Duration::from_secs(1));
    let mut retry = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            _ = stop.wait() => return Ok(Flow::Stop),
            d = consumer.next() => match d {
                Some(Ok(d)) => {
                    if handle(db, dirty, d, &mut retry, stop).await? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("consuming completions")),
                None => return Ok(Flow::Reconnect),
            },
            _ = health.tick() => {
                if !session.alive() {
                    tracing::warn!("lost the broker connection; reconnecting");
                    return Ok(Flow::Reconnect);
                }
            }
        }
    }
}

/// One delivery. Acked once its outcome is committed, or at once if it is not a completion; a
/// database failure (disk full, a lock held elsewhere) puts it back in the queue and pauses,
/// backing off, so nothing is lost and nothing spins.
async fn handle(
    db: &Shared,
    dirty: &AtomicBool,
    d: Delivery,
    retry: &mut Backoff,
    stop: &mut Stop,
) -> Result<Flow> {
    match parse(&d.data) {
        Err(reason) => tracing::warn!(
            "ignoring a message on {} that is not a completion: {reason}",
            names::TESTCOMPLETE_EXCHANGE
        ),
        Ok(m) => {
            let label = describe(&m);
            match record(db, m).await? {
                Ok(Recorded::Inserted) => {
                    dirty.store(true, Ordering::SeqCst);
                    tracing::debug!("{label}: recorded");
                }
                Ok(Recorded::AlreadyRecorded) => {
                    tracing::info!("{label}: already recorded, skipping");
                }
                Ok(Recorded::Ignored(why)) => tracing::debug!("{label}: ignored: {why}"),
                Err(e) => {
                    let delay = retry.next_delay();
                    tracing::warn!(
                        "{label}: cannot record it ({e}); it goes back to the queue, next try in {:.0}s",
                        delay.as_secs_f64()
                    );
                    d.nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
                    .map_err(BrokerError::amqp("requeue completion"))?;
                    tokio::select! {
                        biased;
                        _ = stop.wait() => return Ok(Flow::Stop),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    return Ok(Flow::Continue);
                }
            }
            retry.reset();
        }
    }
    d.ack(BasicAckOptions::default())
        .await
        .map_err(BrokerError::amqp("acknowledge completion"))?;
    Ok(Flow::Continue)
}

/// A body as a completion, or why not (sanitised and short: it may be anyone's bytes).
fn parse(body: &[u8]) -> Result<TestComplete, String> {
    if body.len() > MAX_BODY {
        return Err(format!(
            "{} bytes, over the {MAX_BODY}-byte limit",
            body.len()
        ));
    }
    serde_json::from_slice(body).map_err(|e| clip(&e.to_string(), MAX_REASON))
}

/// At most `max` characters of `s`, made safe for a terminal.
fn clip(s: &str, max: usize) -> String {
    let mut out = sanitize::line(&s.chars().take(max).collect::<String>());
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// `package release/arch run_id` for the log, each part clipped and sanitised.
fn describe(m: &TestComplete) -> String {
    let run_id = m.swift_dir.rsplit('/').next().unwrap_or("");
    format!(
        "{} {}/{} {}",
        clip(&m.package, 80),
        clip(&m.release, 40),
        clip(&m.architecture, 40),
        clip(run_id, 40)
    )
}

/// Run `f` on the database off the async threads (sqlite blocks). The outer error is [`Fatal`].
async fn with_db<T: Send + 'static>(
    db: &Shared,
    f: impl FnOnce(&mut ResultsDb) -> T + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = db.lock().map_err(|_| {
            Fatal("the results database was left in an unknown state by a panic".into())
        })?;
        Ok(f(&mut guard))
    })
    .await
    .map_err(|e| Fatal(format!("results database task: {e}")))?
}

async fn record(db: &Shared, m: TestComplete) -> Result<Result<Recorded, DbError>> {
    with_db(db, move |db| db.record(&m)).await
}

/// Publish when something changed since the last publish, at most every `every`, until
/// `stopped`. A failed publish is retried at the next tick.
async fn publish_loop(
    db: Shared,
    dirty: Arc<AtomicBool>,
    output: PathBuf,
    store: Store,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    // tokio's interval panics on zero.
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        if !dirty.swap(false, Ordering::SeqCst) {
            continue;
        }
        match publish_once(&db, &output, &store).await {
            Ok(sha) => tracing::info!("published the results database (sha256 {sha})"),
            Err(e) => {
                dirty.store(true, Ordering::SeqCst);
                tracing::warn!("publishing the results database failed, retrying later: {e:#}");
            }
        }
    }
}

/// Snapshot to `output`, then upload the copy and its checksum to the store. Returns the sha256.
pub async fn publish_once(
    db: &Arc<Mutex<ResultsDb>>,
    output: &Path,
    store: &Store,
) -> Result<String> {
    let out = output.to_path_buf();
    with_db(db, move |db| db.snapshot(&out)).await??;
    let data = tokio::fs::read(output)
        .await
        .with_context(|| format!("read the published copy {}", output.display()))?;
    // The checksum of exactly the bytes uploaded, whatever happened to the file meanwhile.
    let sha = publish::sha256_hex(&data);
    let db_meta = ObjectMeta {
        content_type: Some("application/vnd.sqlite3"),
        content_encoding: None,
    };
    let sum_meta = ObjectMeta {
        content_type: Some("text/plain"),
        content_encoding: None,
    };
    // britney downloads ADT_DB_URL without credentials: the container is public.
    store
        .ensure_container(names::RESULTS_DB_CONTAINER, &crate::store::Access::Public)
        .await
        .context("create the results database's container")?;
    // The database first, then its checksum. A reader downloads the database, then the
    // .sha256, and retries on a mismatch. Each object is replaced whole, so the pair in the
    // store disagrees only between these two PUTs, the second of which is 64 bytes: a reader
    // rarely sees a mismatch, and never takes a new checksum for an old database for long.
    // The other order would leave them disagreeing for the whole upload of the database.
    store
        .put(
            names::RESULTS_DB_CONTAINER,
            names::RESULTS_DB_OBJECT,
            data,
            db_meta,
        )
        .await
        .context("upload the results database")?;
    store
        .put(
            names::RESULTS_DB_CONTAINER,
            names::RESULTS_DB_SHA256_OBJECT,
            sha.clone().into_bytes(),
            sum_meta,
        )
        .await
        .context("upload the results database's checksum")?;
    store.sync().await.context("sync the store")?;
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_completions_give_short_safe_reasons() {
        let hostile = format!("{{\"package\": \"\x1b]52;c;{}\"", "A".repeat(10_000));
        let reason = parse(hostile.as_bytes()).expect_err("not a completion");
        assert!(reason.chars().count() <= MAX_REASON * 8 + 1, "{reason}");
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
        let reason = parse(&vec![b' '; MAX_BODY + 1]).expect_err("too large");
        assert!(reason.contains("limit"), "{reason}");
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"[]").is_err());
    }

    #[test]
    fn queue_names() {
        assert!(check_queue_name(names::RESULTS_DB_QUEUE).is_ok());
        for bad in ["", "amq.x", "a\nb"] {
            assert!(check_queue_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_queue_name(&"q".repeat(256)).is_err());
    }

    #[test]
    fn labels_are_clipped_and_inert() {
        let m = super::super::tests::complete("p\x1b[2J", "noble", "n/a/p/p/run1");
        let l = describe(&m);
        assert!(!l.chars().any(char::is_control), "{l:?}");
        assert!(l.ends_with("run1"), "{l}");
    }
}
