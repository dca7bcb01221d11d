//! One request's life up to its result: receive, validate, run (watched), retry.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tempfile::TempDir;

use super::presence::{self, Incoming};
use super::{Flow, Worker, classify, deliver, hold, runner};
use crate::broker::{Session, publish};
use crate::protocol::messages::{
    AfterStop, ControlAction, JobInfo, LogChunk, PRIVATE_LOGTAIL, PRIVATE_PACKAGE, StatusExtra,
    TestStatus, WorkerState,
};
use crate::protocol::{ExitCode, QueueName, RejectReason, Request, names};

/// Where the request is while its test runs.
pub enum Holding {
    /// Still unacknowledged on the consume channel (the normal case).
    Delivery(Box<Delivery>),
    /// Moved to `adtop.held.<id>` past the lease (see [`hold`]).
    Held { source_queue: String },
}

/// What the job is: the request plus where it came from.
pub struct Job {
    pub req: Request,
    pub body: Vec<u8>,
    pub priority: Option<u8>,
    pub queue: QueueName,
    pub uuid: String,
    pub received: DateTime<Utc>,
}

/// One attempt's result.
pub struct Attempt {
    pub code: ExitCode,
    /// Removed when the attempt is dropped; autopkgtest's output is in [`Attempt::out`].
    pub dir: TempDir,
    pub started: DateTime<Utc>,
    pub duration: u64,
    pub log: String,
    pub watchdog: bool,
}

impl Attempt {
    pub fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }
}

enum End {
    Done(Attempt),
    Stopped {
        then: AfterStop,
        incoming: Incoming,
    },
    /// Second SIGTERM: requeue and leave.
    Urgent,
}

/// Handle one delivery from start to acknowledgement.
pub async fn handle(
    w: &mut Worker,
    session: &Session,
    consume: &Channel,
    consumers: &mut Vec<lapin::Consumer>,
    d: Delivery,
) -> Result<Flow> {
    let queue = d.routing_key.to_string();
    let parsed = Request::parse(&d.data).and_then(|r| {
        QueueName::parse(&queue)
            .map(|q| (r, q))
            .map_err(|_| RejectReason::BadValue {
                key: "queue".into(),
                value: queue.clone(),
                why: "not a request queue",
            })
    });
    // Accepted by the format, not run yet: refuse rather than test the archive's source instead.
    let parsed = parsed.and_then(|(r, q)| {
        let p = &r.params;
        let unsupported = [
            ("test-git", &p.test_git),
            ("build-git", &p.build_git),
            ("test-bzr", &p.test_bzr),
        ]
        .into_iter()
        .find_map(|(key, v)| v.clone().map(|v| (key, v)));
        match unsupported {
            Some((key, value)) => Err(RejectReason::BadValue {
                key: key.into(),
                value,
                why: "not supported by this worker yet",
            }),
            None => Ok((r, q)),
        }
    });
    let (req, qn) = match parsed {
        Ok(ok) => ok,
        Err(reason) => return reject(w, session, d, &queue, &reason).await,
    };
    let uuid = req
        .params
        .uuid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if d.redelivered && deliver::already_done(w, &uuid).await {
        tracing::info!(
            "{uuid} was already completed before a broker or worker failure; acknowledging the redelivery"
        );
        if deliver::announce_stored(w, session, &uuid).await? == Flow::Reconnect {
            return Ok(Flow::Reconnect);
        }
        d.ack(BasicAckOptions::default())
            .await
            .context("acknowledge a finished redelivery")?;
        return Ok(Flow::Continue);
    }
    let job = Job {
        priority: *d.properties.priority(),
        body: d.data.clone(),
        req,
        queue: qn,
        uuid,
        received: Utc::now(),
    };
    let mut holding = Holding::Delivery(Box::new(d));
    tracing::info!(
        "{}: {} on {} ({})",
        job.uuid,
        job.req.package,
        job.queue,
        job.req.params.triggers_joined()
    );

    let mut codes = Vec::new();
    let attempts = w.opts.attempts.max(1);
    let final_attempt = loop {
        let n = codes.len() as u32 + 1;
        let end = if w
            .opts
            .policy
            .never_run(&job.req.package, &job.queue.arch, &job.queue.release)
        {
            End::Done(denied(&job)?)
        } else {
            run_once(w, session, (consume, consumers), &job, &mut holding, n).await?
        };
        match end {
            End::Done(a) => {
                codes.push(a.code);
                let has_version = a.out().join("testpkg-version").is_file();
                match classify::judge(a.code, has_version, &a.log) {
                    classify::Verdict::Retry(why) if n < attempts && !a.watchdog => {
                        let (min, max) = w.opts.retry_delay;
                        let span = max.saturating_sub(min).as_millis() as u64;
                        let jitter = if span == 0 {
                            0
                        } else {
                            (uuid::Uuid::new_v4().as_u128() % u128::from(span)) as u64
                        };
                        let delay = min + Duration::from_millis(jitter);
                        tracing::info!(
                            "{}: attempt {n} ended with {} ({why}); retrying in {}s",
                            job.uuid,
                            a.code.0,
                            delay.as_secs()
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            urgent = w.signals.next() => if urgent { return requeue_and_leave(w, session, &job, holding).await },
                        }
                    }
                    classify::Verdict::Retry(_) if !a.watchdog => {
                        let code = classify::exhausted(&codes);
                        break Attempt { code, ..a };
                    }
                    _ => break a,
                }
            }
            End::Stopped { then, incoming } => {
                finish_stopped(w, session, &job, holding, then).await?;
                let verb = if then == AfterStop::Requeue {
                    "stopped and requeued"
                } else {
                    "stopped and cancelled"
                };
                presence::reply(w, session, &incoming, true, format!("{} {verb}", job.uuid)).await;
                clear_job(w);
                return Ok(Flow::Continue);
            }
            End::Urgent => return requeue_and_leave(w, session, &job, holding).await,
        }
    };
    let flow =
        deliver::finish(w, session, &job, holding, final_attempt, codes.len() as u32).await?;
    clear_job(w);
    Ok(flow)
}

fn clear_job(w: &Worker) {
    if let Ok(mut s) = w.shared.lock() {
        s.job = None;
    }
    w.wake_heartbeat.notify_one();
}

/// `never_run` lists give code 99 without running anything.
fn denied(job: &Job) -> Result<Attempt> {
    let dir = tempfile::Builder::new()
        .prefix("adtop-job-")
        .tempdir()
        .context("temporary output directory")?;
    let log = format!(
        "This package is marked to never run (adtop: {} is on this worker's never_run list; exit code 99). To get the entry removed, contact the operators of this deployment.\n",
        job.req.package
    );
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).context("output directory")?;
    std::fs::write(out.join("log"), &log).context("write log")?;
    // britney's hints match on "blacklisted" (autopkgtest-cloud's wording).
    std::fs::write(
        out.join("testpkg-version"),
        format!("{} blacklisted\n", job.req.package),
    )
    .context("write testpkg-version")?;
    Ok(Attempt {
        code: ExitCode::DENIED,
        dir,
        started: Utc::now(),
        duration: 0,
        log,
        watchdog: false,
    })
}

/// A request the worker cannot accept goes to `adtop.rejected` with the reason, then is acked.
async fn reject(
    w: &mut Worker,
    session: &Session,
    d: Delivery,
    queue: &str,
    reason: &RejectReason,
) -> Result<Flow> {
    tracing::warn!(
        "rejecting a request from {queue}: {}",
        crate::protocol::sanitize::line(&reason.to_string())
    );
    let props = publish::with_headers(
        publish::persistent(),
        &[
            (names::H_REASON, reason.to_string()),
            (names::H_REASON_CODE, reason.code().to_string()),
            (names::H_SOURCE_QUEUE, queue.to_string()),
            (names::H_WORKER, w.opts.id.clone()),
            (names::H_REJECTED_AT, Utc::now().to_rfc3339()),
        ],
    );
    if let Err(e) = publish::publish_confirmed(
        &session.confirm,
        "",
        names::REJECTED_QUEUE,
        &d.data,
        props,
        true,
    )
    .await
    {
        // Not recorded, so not dropped: the broker delivers it again after we reconnect.
        tracing::warn!("could not record the rejection ({e}); leaving the request unacknowledged");
        return Ok(Flow::Reconnect);
    }
    d.ack(BasicAckOptions::default())
        .await
        .context("acknowledge a rejected request")?;
    if let Ok(mut s) = w.shared.lock() {
        s.rejected += 1;
    }
    Ok(Flow::Continue)
}

/// Put the request back where it came from.
pub async fn requeue(w: &Worker, session: &Session, job: &Job, holding: Holding) -> Result<()> {
    match holding {
        Holding::Delivery(d) => {
            d.nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .context("requeue request")?;
        }
        Holding::Held { source_queue } => {
            let mut props = publish::persistent();
            if let Some(p) = job.priority {
                props = props.with_priority(p);
            }
            publish::publish_confirmed(&session.confirm, "", &source_queue, &job.body, props, true)
                .await?;
            hold::release(&session.confirm, &w.opts.id, &job.uuid).await?;
        }
    }
    Ok(())
}

async fn finish_stopped(
    w: &Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
    then: AfterStop,
) -> Result<()> {
    publish_status(w, session, job, false, 0, "", 0).await;
    match then {
        AfterStop::Requeue => requeue(w, session, job, holding).await,
        AfterStop::Cancel => match holding {
            Holding::Delivery(d) => d
                .ack(BasicAckOptions::default())
                .await
                .map(drop)
                .context("acknowledge cancelled request"),
            Holding::Held { .. } => hold::release(&session.confirm, &w.opts.id, &job.uuid)
                .await
                .map(drop)
                .map_err(Into::into),
        },
    }
}

async fn requeue_and_leave(
    w: &Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
) -> Result<Flow> {
    publish_status(w, session, job, false, 0, "", 0).await;
    requeue(w, session, job, holding).await?;
    clear_job(w);
    Ok(Flow::Exit(0))
}

/// autopkgtest-cloud's logtail: the first 5 lines, a separator, then about the last 2000 bytes.
pub fn logtail(log: &str) -> String {
    let head: Vec<&str> = log.lines().take(5).collect();
    if log.len() <= 2000 + head.iter().map(|l| l.len() + 1).sum::<usize>() {
        return log.to_string();
    }
    let mut start = log.len() - 2000;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    format!("{}\n\n...\n\n{}", head.join("\n"), &log[start..])
}

async fn publish_status(
    w: &Worker,
    session: &Session,
    job: &Job,
    running: bool,
    duration: u64,
    log: &str,
    silent: u64,
) {
    // A private run says only that it runs, as autopkgtest-cloud's worker does.
    let private = job.req.params.private();
    let status = TestStatus {
        release: job.queue.release.clone(),
        architecture: job.queue.arch.clone(),
        package: if private {
            PRIVATE_PACKAGE.into()
        } else {
            job.req.package.clone()
        },
        running,
        params: if private {
            serde_json::json!({})
        } else {
            serde_json::to_value(&job.req.params).unwrap_or_default()
        },
        duration,
        logtail: if private {
            PRIVATE_LOGTAIL.into()
        } else {
            logtail(log)
        },
        uuid: job.uuid.clone(),
        adtop: Some(StatusExtra {
            worker: w.opts.id.clone(),
            queue: job.queue.to_string(),
            timeout: w
                .opts
                .policy
                .timeouts(&job.req.package, &job.queue.arch, &job.queue.release)
                .deadline,
            silent,
        }),
    };
    if let Ok(body) = serde_json::to_vec(&status) {
        let _ = publish::publish_fast(&session.fast, names::TESTSTATUS_EXCHANGE, "", &body).await;
    }
}

async fn publish_log(w: &Worker, session: &Session, job: &Job, offset: u64, data: &str, eof: bool) {
    // `adtop.log` is readable by anyone on the broker: a private run's log stays in its container.
    let uuid = job.uuid.as_str();
    let data = if job.req.params.private() && !data.is_empty() {
        ""
    } else {
        data
    };
    let chunk = LogChunk {
        uuid: uuid.to_string(),
        worker: w.opts.id.clone(),
        offset,
        data: data.to_string(),
        eof,
    };
    if let Ok(body) = serde_json::to_vec(&chunk) {
        let _ = publish::publish_fast(&session.fast, names::LOG_EXCHANGE, uuid, &body).await;
    }
}

/// The live log kept for replays and the logtail is capped; the stored log is autopkgtest's own.
const LIVE_LOG_CAP: usize = 8 * 1024 * 1024;

/// Run one attempt under the watchdog, publishing status, log and heartbeats, obeying control.
async fn run_once(
    w: &mut Worker,
    session: &Session,
    intake: (&Channel, &mut Vec<lapin::Consumer>),
    job: &Job,
    holding: &mut Holding,
    attempt: u32,
) -> Result<End> {
    let t = w
        .opts
        .policy
        .timeouts(&job.req.package, &job.queue.arch, &job.queue.release);
    let dir = tempfile::Builder::new()
        .prefix("adtop-job-")
        .tempdir()
        .context("temporary output directory")?;
    let out = dir.path().join("out");
    let args = runner::args(&w.opts.runner, &job.req, &out, &t);
    let started = Utc::now();
    let clock = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(t.deadline);
    let lease_at = tokio::time::Instant::now() + w.opts.lease;
    {
        let private = job.req.params.private();
        let info = JobInfo {
            uuid: job.uuid.clone(),
            package: if private {
                PRIVATE_PACKAGE.into()
            } else {
                job.req.package.clone()
            },
            release: job.queue.release.clone(),
            arch: job.queue.arch.clone(),
            queue: job.queue.to_string(),
            triggers: if private {
                Vec::new()
            } else {
                job.req.params.triggers.clone()
            },
            requester: job.req.params.requester.clone().unwrap_or_default(),
            identity: if private {
                Request {
                    package: job.req.package.clone(),
                    params: job.req.params.redacted(),
                }
                .identity()
            } else {
                job.req.identity()
            },
            started,
            timeout: t.deadline,
            last_output: started,
            attempt,
            private,
        };
        if let Ok(mut s) = w.shared.lock() {
            s.job = Some(info);
            if s.state != WorkerState::Draining {
                s.state = WorkerState::Running;
            }
        }
        w.wake_heartbeat.notify_one();
    }
    let mut live = String::new();
    let mut offset = 0u64;
    let mut last_output = Instant::now();
    let mut status_tick = tokio::time::interval(w.opts.status_interval);
    status_tick.tick().await;
    let mut running = match runner::spawn(&w.opts.runner.program, &args) {
        Ok(r) => r,
        Err(e) => {
            // Recorded as an infrastructure error, so the request is not bounced forever.
            let log = format!("adtop: {e:#}\n");
            std::fs::create_dir_all(&out).context("output directory")?;
            std::fs::write(out.join("log"), &log).context("write log")?;
            tracing::error!("{}: {e:#}", job.uuid);
            return Ok(End::Done(Attempt {
                code: ExitCode::UNEXPECTED,
                dir,
                started,
                duration: 0,
                log,
                watchdog: false,
            }));
        }
    };
    let mut output = std::mem::replace(&mut running.output, tokio::sync::mpsc::channel(1).1);
    let mut output_open = true;
    let mut watchdog = false;
    let mut stopped: Option<(AfterStop, Incoming)> = None;
    let mut urgent = false;

    let code = loop {
        tokio::select! {
            chunk = output.recv(), if output_open => match chunk {
                Some(text) => {
                    last_output = Instant::now();
                    publish_log(w, session, job, offset, &text, false).await;
                    offset += text.len() as u64;
                    if live.len() < LIVE_LOG_CAP {
                        live.push_str(&text);
                    }
                }
                None => output_open = false,
            },
            code = running.wait() => break code,
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!("{}: past its deadline of {}s; killing its process tree", job.uuid, t.deadline);
                watchdog = true;
                running.kill_tree(Duration::from_secs(5)).await;
                break None;
            }
            _ = tokio::time::sleep_until(lease_at), if matches!(holding, Holding::Delivery(_)) => {
                if let Err(e) = move_to_held(w, session, (intake.0, &mut *intake.1), job, holding).await {
                    tracing::warn!("{}: could not move the request to the held queue: {e:#}", job.uuid);
                }
            }
            _ = status_tick.tick() => {
                let silent = last_output.elapsed().as_secs();
                publish_status(w, session, job, true, clock.elapsed().as_secs(), &live, silent).await;
                if let Ok(mut s) = w.shared.lock()
                    && let Some(j) = s.job.as_mut()
                {
                    j.last_output = Utc::now() - chrono::Duration::seconds(silent as i64);
                }
            }
            m = w.incoming.recv() => if let Some(m) = m {
                match m.control.action {
                    ControlAction::Stop if m.control.uuid.as_deref().is_none_or(|u| u == job.uuid) => {
                        let then = m.control.then.unwrap_or(AfterStop::Requeue);
                        running.kill_tree(Duration::from_secs(5)).await;
                        stopped = Some((then, m));
                        break None;
                    }
                    ControlAction::Replay => {
                        publish_log(w, session, job, 0, &live, false).await;
                        presence::reply(w, session, &m, true, "replayed").await;
                    }
                    ControlAction::Drain => {
                        w.paused = true;
                        w.set_state(WorkerState::Draining);
                        presence::reply(w, session, &m, true, "draining: finishing the current job, then taking no new ones").await;
                    }
                    ControlAction::Resume => {
                        w.paused = false;
                        w.set_state(WorkerState::Running);
                        presence::reply(w, session, &m, true, "resumed").await;
                    }
                    ControlAction::Ping => {
                        w.wake_heartbeat.notify_one();
                        presence::reply(w, session, &m, true, "pong").await;
                    }
                    ControlAction::Stop => {
                        let asked = m.control.uuid.clone().unwrap_or_default();
                        presence::reply(w, session, &m, false, format!("not running {asked} (running {})", job.uuid)).await;
                    }
                }
            },
            now = w.signals.next() => if now {
                running.kill_tree(Duration::from_secs(5)).await;
                urgent = true;
                break None;
            },
        }
    };
    // Collect what the runner wrote just before it exited.
    while output_open {
        match tokio::time::timeout(Duration::from_millis(200), output.recv()).await {
            Ok(Some(text)) => {
                publish_log(w, session, job, offset, &text, false).await;
                offset += text.len() as u64;
                if live.len() < LIVE_LOG_CAP {
                    live.push_str(&text);
                }
            }
            _ => output_open = false,
        }
    }
    publish_log(w, session, job, offset, "", true).await;
    if urgent {
        return Ok(End::Urgent);
    }
    if let Some((then, incoming)) = stopped {
        return Ok(End::Stopped { then, incoming });
    }
    publish_status(w, session, job, false, clock.elapsed().as_secs(), &live, 0).await;

    std::fs::create_dir_all(&out).context("output directory")?;
    let log_path = out.join("log");
    if !log_path.is_file() {
        std::fs::write(&log_path, &live).context("write log")?;
    }
    let code = if watchdog {
        let note = format!(
            "\nadtop: watchdog: the job passed its deadline of {}s and its process tree was killed (recorded as a timeout, exit code 20)\n",
            t.deadline
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_path)
            .context("append to log")?;
        std::io::Write::write_all(&mut f, note.as_bytes()).context("append to log")?;
        live.push_str(&note);
        ExitCode::UNEXPECTED
    } else {
        ExitCode(code.unwrap_or(ExitCode::UNEXPECTED.0))
    };
    Ok(End::Done(Attempt {
        code,
        dir,
        started,
        duration: clock.elapsed().as_secs(),
        log: live,
        watchdog,
    }))
}

async fn move_to_held(
    w: &Worker,
    session: &Session,
    intake: (&Channel, &mut Vec<lapin::Consumer>),
    job: &Job,
    holding: &mut Holding,
) -> Result<()> {
    // Acknowledging the original frees the prefetch slot: stop consuming first, or the broker
    // would hand this busy worker a second request to sit on (the loop consumes again after).
    super::cancel(intake.0, intake.1).await;
    let source_queue = job.queue.to_string();
    hold::hold(
        &session.confirm,
        &w.opts.id,
        &source_queue,
        &job.uuid,
        &job.body,
        job.priority,
    )
    .await?;
    let previous = std::mem::replace(holding, Holding::Held { source_queue });
    if let Holding::Delivery(d) = previous {
        d.ack(BasicAckOptions::default())
            .await
            .context("acknowledge the original after holding it")?;
    }
    tracing::info!(
        "{}: running longer than the lease; request moved to {}",
        job.uuid,
        names::held_queue(&w.opts.id)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logtail_keeps_head_and_tail() {
        let log: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let t = logtail(&log);
        assert!(t.starts_with("line 0\nline 1\nline 2\nline 3\nline 4\n\n...\n\n"));
        assert!(t.ends_with("line 1999\n"));
        assert!(t.len() < 2100);
        assert_eq!(logtail("short\n"), "short\n");
    }
}
