//! The scripting commands: the console's views and actions as plain text or `--json`.
//! Untrusted text goes through `sanitize` before it is printed.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use futures::StreamExt;

use super::read::Seen;
use super::rules::{self, Health, HungReason, Verb};
use super::{Context, act, read};
use crate::broker::{Session, topology};
use crate::protocol::messages::{AfterStop, ControlAction, IndexEntry, LogChunk};
use crate::protocol::sanitize::{inert, line};
use crate::protocol::{QueueName, layout, names, queue};

const WAIT: Duration = Duration::from_millis(1500);

/// `println!` that returns the write error instead of panicking: `adtop results | head -3`
/// closes the pipe, and the command then ends quietly ([`is_broken_pipe`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` with the same error handling as [`out!`], flushed (a live log is followed).
macro_rules! out_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        write!(o, $($arg)*)?;
        o.flush()?
    }};
}

/// Whether `e` is the reader of our standard output having gone away (a closed pipe): not an
/// error worth a message, the output is simply not wanted any more.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(super) async fn session(ctx: &Context, what: &str) -> Result<Session> {
    Ok(Session::open(&ctx.broker_url, &format!("adtop {what}")).await?)
}

pub(super) fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    out!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

#[derive(serde::Serialize)]
struct QueueLine {
    name: String,
    /// `autopkgtest-cloud` or `debci`: whose wire format the queue carries (none for adtop's).
    #[serde(skip_serializing_if = "Option::is_none")]
    dialect: Option<&'static str>,
    /// `x-max-priority` as declared (debci's queues: 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    max_priority: Option<u8>,
    ready: u64,
    unacked: u64,
    consumers: u64,
    publish_rate: f64,
    deliver_rate: f64,
    no_consumer: bool,
    /// `classic` or `quorum`; where it lives (a quorum queue: its leader), and its replicas
    /// with `*` after those that are down. Unknown without the management API.
    #[serde(rename = "type")]
    kind: Option<String>,
    node: Option<String>,
    replicas: Vec<String>,
}

fn dialect(name: &str) -> Option<&'static str> {
    if crate::protocol::debci::DebciQueue::parse(name).is_ok() {
        Some("debci")
    } else if QueueName::parse(name).is_ok() {
        Some("autopkgtest-cloud")
    } else {
        None
    }
}

pub async fn queues(ctx: &Context, json: bool) -> Result<u8> {
    // Without the management API the list holds only the configured queues: say so, and exit 1
    // so that a script does not take a partial table for the whole deployment.
    let mut partial = 0;
    let lines: Vec<QueueLine> = match ctx.management.queues().await {
        Ok(qs) => qs
            .into_iter()
            .filter(|q| {
                queue::is_request_queue(&q.name)
                    || q.name == names::REJECTED_QUEUE
                    || q.name.starts_with(names::HELD_QUEUE_PREFIX)
            })
            .map(|q| QueueLine {
                dialect: dialect(&q.name),
                max_priority: q.max_priority(),
                publish_rate: q.publish_rate(),
                deliver_rate: q.deliver_rate(),
                no_consumer: rules::starved(q.messages_ready, q.consumers)
                    && queue::is_request_queue(&q.name),
                replicas: q
                    .members
                    .iter()
                    .map(|m| {
                        if q.online.contains(m) {
                            m.clone()
                        } else {
                            format!("{m}*")
                        }
                    })
                    .collect(),
                node: q.leader.or(q.node),
                kind: q.kind,
                name: q.name,
                ready: q.messages_ready,
                unacked: q.messages_unacknowledged,
                consumers: q.consumers,
            })
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!(
                "adtop: {e}; showing only the queues named in [console] queues (exit status 1: the list is incomplete)"
            );
            partial = 1;
            let s = session(ctx, "queues").await?;
            let mut out = Vec::new();
            for name in &ctx.fallback_queues {
                let ch = s.channel().await?;
                if let Some((ready, consumers)) = topology::peek_counts(&ch, name).await? {
                    out.push(QueueLine {
                        dialect: dialect(name),
                        max_priority: None,
                        name: name.clone(),
                        ready: ready.into(),
                        unacked: 0,
                        consumers: consumers.into(),
                        publish_rate: 0.0,
                        deliver_rate: 0.0,
                        no_consumer: rules::starved(ready.into(), consumers.into()),
                        kind: None,
                        node: None,
                        replicas: Vec::new(),
                    });
                }
            }
            s.close().await;
            out
        }
    };
    let lines = live_counts(ctx, lines).await;
    if json {
        return print_json(&lines).map(|_| partial);
    }
    out!(
        "{:<40} {:>7} {:>7} {:>9} {:>7} {:>9} {:>4}  {:<7} NODE (REPLICAS, * = down)",
        "QUEUE",
        "READY",
        "UNACKED",
        "CONSUMERS",
        "PUB/s",
        "DELIVER/s",
        "PRIO",
        "TYPE"
    );
    for q in &lines {
        let replicas = if q.replicas.is_empty() {
            String::new()
        } else {
            format!(" ({})", q.replicas.join(" "))
        };
        out!(
            "{:<40} {:>7} {:>7} {:>9} {:>7.1} {:>9.1} {:>4}  {:<7} {}{}{}",
            line(&q.name),
            q.ready,
            q.unacked,
            q.consumers,
            q.publish_rate,
            q.deliver_rate,
            q.max_priority
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            line(q.kind.as_deref().unwrap_or("?")),
            line(q.node.as_deref().unwrap_or("?")),
            line(&replicas),
            if q.no_consumer {
                "  ! no worker serves this queue"
            } else {
                ""
            }
        );
    }
    Ok(partial)
}

/// The management API's counts lag by its statistics interval (5 s by default); a passive
/// declare answers with the live ready count and consumers in about a millisecond.
async fn live_counts(ctx: &Context, mut lines: Vec<QueueLine>) -> Vec<QueueLine> {
    let Ok(s) = session(ctx, "queues").await else {
        return lines;
    };
    let Ok(mut ch) = s.channel().await else {
        return lines;
    };
    for q in &mut lines {
        match topology::peek_counts(&ch, &q.name).await {
            Ok(Some((ready, consumers))) => {
                q.ready = ready.into();
                q.consumers = consumers.into();
                q.no_consumer =
                    rules::starved(q.ready, q.consumers) && queue::is_request_queue(&q.name);
            }
            _ => match s.channel().await {
                Ok(c) => ch = c,
                Err(_) => break,
            },
        }
    }
    s.close().await;
    lines
}

#[derive(serde::Serialize)]
struct Declared {
    queue: String,
    messages: u32,
    consumers: u32,
    /// `declared`, `would declare` (dry run) or the broker's refusal.
    outcome: String,
    ok: bool,
}

/// `adtop queues declare`: every request queue, declared exactly as the workers declare it.
pub async fn declare_queues(
    broker_url: &str,
    cfg: &crate::config::QueueConfig,
    queues: &[QueueName],
    dry_run: bool,
    json: bool,
) -> Result<u8> {
    let mut out = Vec::new();
    let s = if dry_run {
        None
    } else {
        Some(Session::open(broker_url, "adtop queues declare").await?)
    };
    for q in queues {
        let name = q.to_string();
        let Some(s) = &s else {
            out.push(Declared {
                queue: name,
                messages: 0,
                consumers: 0,
                outcome: "would declare".into(),
                ok: true,
            });
            continue;
        };
        // A refused declare closes its channel: one channel per queue keeps the rest going.
        let ch = s.channel().await?;
        match topology::declare_request_queue(&ch, &name, cfg).await {
            Ok((messages, consumers)) => out.push(Declared {
                queue: name,
                messages,
                consumers,
                outcome: "declared".into(),
                ok: true,
            }),
            Err(e) => out.push(Declared {
                queue: name,
                messages: 0,
                consumers: 0,
                outcome: e.to_string(),
                ok: false,
            }),
        }
        let _ = ch.close(200, "declared".into()).await;
    }
    if let Some(s) = s {
        s.close().await;
    }
    let failed = out.iter().filter(|d| !d.ok).count();
    if json {
        print_json(&out)?;
    } else {
        out!(
            "{:<40} {:>8} {:>9}  OUTCOME",
            "QUEUE",
            "MESSAGES",
            "CONSUMERS"
        );
        for d in &out {
            out!(
                "{:<40} {:>8} {:>9}  {}",
                d.queue,
                d.messages,
                d.consumers,
                line(&d.outcome)
            );
        }
        if failed > 0 {
            eprintln!(
                "adtop: {failed} of {} queues exist with other arguments; set [queues] max_priority and type to what the deployment has (docs/configuration.md)",
                out.len()
            );
        }
    }
    Ok(u8::from(failed > 0))
}

/// [`rules::health`] of a heartbeat received at `w.received`, judged at `now` (both on this
/// process's clock).
pub fn health(w: &Seen, now: chrono::DateTime<Utc>) -> Health {
    rules::after_leaving(
        w.heartbeat.state == crate::protocol::messages::WorkerState::Stopping,
        rules::health(
            rules::heartbeat_age(w.received, now),
            w.heartbeat.interval,
            rules::STALE_INTERVALS,
            rules::LOST_INTERVALS,
        ),
    )
}

#[derive(serde::Serialize)]
struct WorkerLine<'a> {
    #[serde(flatten)]
    seen: &'a Seen,
    health: &'static str,
}

pub async fn workers(ctx: &Context, json: bool) -> Result<u8> {
    let s = session(ctx, "workers").await?;
    let ws = read::workers(&s, WAIT, &ctx.operator).await?;
    s.close().await;
    let now = Utc::now();
    if json {
        let lines: Vec<WorkerLine> = ws
            .iter()
            .map(|w| WorkerLine {
                seen: w,
                health: health(w, now).label(),
            })
            .collect();
        return print_json(&lines).map(|_| 0);
    }
    out!(
        "{:<28} {:<16} {:<7} {:<12} {:<7} {:>5} {:>6}  JOB",
        "WORKER",
        "HOST",
        "ARCH",
        "STATE",
        "HEALTH",
        "DONE",
        "FAILED"
    );
    for seen in &ws {
        let w = &seen.heartbeat;
        let job = w
            .job
            .as_ref()
            .map(|j| {
                let retry = j
                    .retry
                    .as_ref()
                    .map(|r| {
                        let r = rules::retry_observed(r, w.sent, seen.received);
                        format!(" ({})", rules::retry_label(&r, now))
                    })
                    .unwrap_or_default();
                format!("{} {} {}/{}{retry}", j.uuid, j.package, j.release, j.arch)
            })
            .unwrap_or_default();
        out!(
            "{:<28} {:<16} {:<7} {:<12} {:<7} {:>5} {:>6}  {}",
            line(&w.id),
            line(&w.host),
            line(&w.arch),
            rules::worker_state(w),
            health(seen, now).label(),
            w.done,
            w.failed,
            line(&job)
        );
        if let Some(why) = &w.testbed_broken {
            println!(
                "  {}: {} (fix the testbed, then `adtop resume {}`)",
                rules::TESTBED_BROKEN,
                line(why),
                line(&w.id)
            );
        }
    }
    Ok(0)
}

#[derive(serde::Serialize)]
struct RunningLine {
    uuid: String,
    package: String,
    release: String,
    arch: String,
    worker: String,
    elapsed: i64,
    timeout: u64,
    silent: i64,
    hung: bool,
    /// `worker-lost`, `timeout` or `silent` when hung.
    #[serde(skip_serializing_if = "Option::is_none")]
    hung_reason: Option<&'static str>,
    /// Present while the job waits between attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry: Option<RetryLine>,
}

#[derive(serde::Serialize)]
struct RetryLine {
    /// The attempt that starts next, of `attempts`, in `in_secs` seconds.
    attempt: u32,
    attempts: u32,
    in_secs: i64,
    #[serde(skip)]
    label: String,
}

pub async fn running(ctx: &Context, json: bool, silent_threshold: u64) -> Result<u8> {
    let s = session(ctx, "running").await?;
    let ws = read::workers(&s, WAIT, &ctx.operator).await?;
    s.close().await;
    let now = Utc::now();
    let lines: Vec<RunningLine> = ws
        .iter()
        .filter_map(|seen| {
            let w = &seen.heartbeat;
            let j = w.job.as_ref()?;
            // The worker's stamps on this clock, as the console judges them (ops::rules).
            let started = rules::observed(j.started, w.sent, seen.received);
            let last_output = rules::observed(j.last_output, w.sent, seen.received);
            let elapsed = now.signed_duration_since(started).num_seconds().max(0);
            let silent = now.signed_duration_since(last_output).num_seconds().max(0);
            let retry = j
                .retry
                .as_ref()
                .map(|r| rules::retry_observed(r, w.sent, seen.received));
            let hung = rules::hung_unless_waiting(
                rules::hung(
                    elapsed,
                    Some(j.timeout),
                    Some(silent),
                    silent_threshold,
                    health(seen, now) == Health::Lost,
                ),
                retry.is_some(),
            );
            Some(RunningLine {
                uuid: j.uuid.clone(),
                package: j.package.clone(),
                release: j.release.clone(),
                arch: j.arch.clone(),
                worker: w.id.clone(),
                elapsed,
                timeout: j.timeout,
                silent,
                hung: hung.is_some(),
                hung_reason: hung.map(HungReason::code),
                retry: retry.map(|r| RetryLine {
                    attempt: r.attempt,
                    attempts: r.attempts,
                    in_secs: r.at.signed_duration_since(now).num_seconds().max(0),
                    label: rules::retry_label(&r, now),
                }),
            })
        })
        .collect();
    if json {
        return print_json(&lines).map(|_| 0);
    }
    out!(
        "{:<36} {:<24} {:<20} {:<28} {:>14} {:>7}",
        "UUID",
        "PACKAGE",
        "RELEASE/ARCH",
        "WORKER",
        "ELAPSED/LIMIT",
        "SILENT"
    );
    for r in &lines {
        out!(
            "{:<36} {:<24} {:<20} {:<28} {:>14} {:>6}s{}",
            line(&r.uuid),
            line(&r.package),
            line(&format!("{}/{}", r.release, r.arch)),
            line(&r.worker),
            format!("{}s/{}s", r.elapsed, r.timeout),
            r.silent,
            match (&r.retry, r.hung_reason) {
                (_, Some(c)) => format!("  HUNG ({c})"),
                (Some(retry), None) => format!("  {}", retry.label),
                (None, None) => String::new(),
            }
        );
    }
    Ok(0)
}

/// A store that cannot be read is an error, not an empty listing: say which and why.
async fn readable_store(ctx: &Context) -> Result<()> {
    ctx.store
        .probe()
        .await
        .map_err(|e| anyhow::anyhow!("the result store cannot be read: {}", line(&e.to_string())))
}

pub async fn results(
    ctx: &Context,
    json: bool,
    filter: &rules::ResultFilter,
    days: i64,
    limit: usize,
    history: Option<&super::history::Query>,
) -> Result<u8> {
    readable_store(ctx).await?;
    let all = match history {
        Some(q) => q.read(&ctx.store, filter, limit).await?,
        None => read::recent_results(&ctx.store, days, limit, |e| filter.matches(e)).await?,
    };
    let rows: Vec<&IndexEntry> = all.iter().collect();
    if json {
        return print_json(&rows).map(|_| 0);
    }
    out!(
        "{:<20} {:<36} {:<24} {:<20} {:>4} {:<8} {:>6}",
        "FINISHED",
        "UUID",
        "PACKAGE",
        "RELEASE/ARCH",
        "CODE",
        "CLASS",
        "SECS"
    );
    for e in rows {
        out!(
            "{:<20} {:<36} {:<24} {:<20} {:>4} {:<8} {:>6}",
            e.finished.format("%Y-%m-%d %H:%M:%S"),
            line(&e.uuid),
            if e.private {
                format!("{} (private)", line(&e.package))
            } else {
                line(&e.package)
            },
            line(&format!("{}/{}", e.release, e.arch)),
            e.exitcode,
            e.class.label(),
            e.duration
        );
    }
    Ok(0)
}

/// Print a stored log, at most `cap` bytes of it; a cut log ends with a line that says so.
async fn print_stored(ctx: &Context, e: &IndexEntry, cap: u64) -> Result<u8> {
    let log = read::stored_log(&ctx.store, &e.container, &e.swift_dir, cap).await?;
    out_part!("{}", inert(&log.text, true));
    if let Some(notice) = log.cut_notice() {
        let whole = format!("{}/{}/{}", e.container, e.swift_dir, layout::LOG_OBJECT);
        out!("\n[adtop: {notice}; the whole log is {}]", line(&whole));
        eprintln!(
            "adtop: {notice} (--max-mib raises the cap); the whole log is {}",
            line(&whole)
        );
    }
    Ok(0)
}

pub async fn logs(ctx: &Context, uuid: &str, follow: bool, cap: u64) -> Result<u8> {
    // Following a running job's live log needs no store.
    if !follow {
        readable_store(ctx).await?;
    }
    let stored = read::find_result(&ctx.store, uuid).await?;
    if let Some(e) = &stored
        && e.private
    {
        bail!(
            "{} is a private run: its log is readable only by its swiftuser, in {}",
            line(uuid),
            line(&e.container)
        );
    }
    if !follow && let Some(e) = &stored {
        return print_stored(ctx, e, cap).await;
    }
    let s = session(ctx, "logs").await?;
    let ws = read::workers(&s, WAIT, &ctx.operator).await?;
    let Some(worker) = runs_on(&ws, uuid) else {
        s.close().await;
        if let Some(e) = read::find_result(&ctx.store, uuid).await? {
            return print_stored(ctx, &e, cap).await;
        }
        bail!("{} is neither running nor stored", line(uuid));
    };
    let ch = s.channel().await?;
    let mut chunks = crate::broker::listen::listen(&ch, names::LOG_EXCHANGE, uuid).await?;
    let mut replay = act::simple_msg(ControlAction::Replay, &ctx.operator);
    replay.uuid = Some(uuid.to_string());
    act::control(&s, &worker.id, &replay, Duration::from_secs(10)).await?;
    let mut printed = 0u64;
    loop {
        let d = match tokio::time::timeout(LOG_QUIET, chunks.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(_) => bail!(
                "lost the broker while following the log of {}; run `adtop logs -f {}` again",
                line(uuid),
                line(uuid)
            ),
            // Quiet: a test may be silent that long, or its worker gone before the log's end
            // was sent (it is not kept for anyone who missed it).
            Err(_) => {
                if runs_on(&read::workers(&s, WAIT, &ctx.operator).await?, uuid).is_some() {
                    continue;
                }
                s.close().await;
                bail!(
                    "{} no longer runs and the end of its live log never came; `adtop logs {}` prints the stored log once it is stored",
                    line(uuid),
                    line(uuid)
                );
            }
        };
        let Ok(c) = serde_json::from_slice::<LogChunk>(&d.data) else {
            continue;
        };
        let end = c.offset.saturating_add(c.data.len() as u64);
        if end > printed {
            if c.offset > printed {
                out!("\n[adtop: {} bytes of log missed]", c.offset - printed);
                out_part!("{}", inert(&c.data, true));
            } else {
                let mut skip = usize::try_from(printed - c.offset).unwrap_or(usize::MAX);
                while skip < c.data.len() && !c.data.is_char_boundary(skip) {
                    skip += 1;
                }
                out_part!("{}", inert(c.data.get(skip..).unwrap_or_default(), true));
            }
            printed = end;
        }
        if c.eof {
            break;
        }
    }
    s.close().await;
    Ok(0)
}

/// The heartbeat of the worker that runs `uuid`, if one does.
fn runs_on<'a>(
    ws: &'a [read::Seen],
    uuid: &str,
) -> Option<&'a crate::protocol::messages::Heartbeat> {
    ws.iter()
        .map(|w| &w.heartbeat)
        .find(|w| w.job.as_ref().is_some_and(|j| j.uuid == uuid))
}

/// A followed log quiet this long: is its job still running?
const LOG_QUIET: Duration = Duration::from_secs(30);

pub(super) async fn report(
    ctx: &Context,
    s: &Session,
    action: Verb,
    target: &str,
    outcome: Result<String>,
) -> Result<u8> {
    let rec = act::audit(ctx, Some(s), action, target, &outcome).await;
    s.close().await;
    match outcome {
        Ok(m) => {
            out!("{}", line(&m));
            Ok(0)
        }
        Err(_) => {
            eprintln!("adtop: {action} {}: {}", line(target), line(&rec.outcome));
            Ok(1)
        }
    }
}

pub async fn retry(ctx: &Context, uuid: &str) -> Result<u8> {
    readable_store(ctx).await?;
    let e = read::find_result(&ctx.store, uuid)
        .await?
        .with_context(|| format!("no stored result {}", line(uuid)))?;
    let s = session(ctx, "retry").await?;
    let outcome = act::retry(ctx, &s, &e)
        .await
        .map(|new| format!("{new}\t{}\t{}", e.package, e.queue));
    report(
        ctx,
        &s,
        Verb::Retry,
        &format!("{} {}/{} ({uuid})", e.package, e.release, e.arch),
        outcome,
    )
    .await
}

pub async fn cancel(ctx: &Context, queue: &str, uuid: &str) -> Result<u8> {
    if !crate::protocol::queue::is_request_queue(queue) {
        QueueName::parse(queue)?;
    }
    let s = session(ctx, "cancel").await?;
    let outcome = act::cancel(&s, queue, Some(uuid), "")
        .await
        .map(|_| format!("cancelled {uuid} in {queue}"));
    report(
        ctx,
        &s,
        Verb::Cancel,
        &format!("{uuid} in {queue}"),
        outcome,
    )
    .await
}

pub async fn stop(ctx: &Context, uuid: &str, then: AfterStop) -> Result<u8> {
    let s = session(ctx, "stop").await?;
    let ws = read::workers(&s, WAIT, &ctx.operator).await?;
    let Some(w) = ws
        .iter()
        .map(|w| &w.heartbeat)
        .find(|w| w.job.as_ref().is_some_and(|j| j.uuid == uuid))
    else {
        s.close().await;
        bail!("no worker is running {}", line(uuid));
    };
    let outcome = act::command(
        &s,
        &w.id,
        &act::stop_msg(uuid, then, &ctx.operator),
        Duration::from_secs(30),
    )
    .await;
    report(
        ctx,
        &s,
        Verb::stop(then),
        &format!("{uuid} on {}", w.id),
        outcome,
    )
    .await
}

pub async fn drain_or_resume(ctx: &Context, worker: &str, action: ControlAction) -> Result<u8> {
    let s = session(ctx, "control").await?;
    let outcome = act::command(
        &s,
        worker,
        &act::simple_msg(action, &ctx.operator),
        Duration::from_secs(10),
    )
    .await;
    let verb = if action == ControlAction::Drain {
        Verb::Drain
    } else {
        Verb::Resume
    };
    report(ctx, &s, verb, worker, outcome).await
}
