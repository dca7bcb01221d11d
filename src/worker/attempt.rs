//! Run and watch one attempt: start the runner in its own process group, stream its output to
//! `adtop.log` and its status to `teststatus.fanout`, move the request to the held queue past
//! the lease, kill the tree past the deadline, and obey control messages and signals.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use lapin::Channel;
use lapin::options::BasicAckOptions;

use super::control;
use super::decide::{Alarm, Clocks, Effect};
use super::job::{Attempt, Holding, Job};
use super::presence::Incoming;
use super::{Worker, debci, hold, runner};
use crate::broker::{Session, publish};
use crate::protocol::messages::{
    AfterStop, JobInfo, LogChunk, PRIVATE_LOGTAIL, PRIVATE_PACKAGE, StatusExtra, TestStatus,
    WorkerState,
};
use crate::protocol::{ExitCode, Request, names};

/// How an attempt ended.
pub enum End {
    Done(Attempt),
    /// An operator stopped it; the request is requeued or cancelled, then `incoming` answered.
    Stopped {
        then: AfterStop,
        incoming: Incoming,
    },
    /// Second SIGTERM (or an embedded worker's stop): requeue and leave.
    Urgent,
}

/// autopkgtest-cloud's logtail: the first 5 lines, a separator, then about the last 2000 bytes.
/// A head line is cut at [`HEAD_LINE_MAX`]: a test whose first line is megabytes long would
/// otherwise send all of it with every status, to every console.
pub fn logtail(log: &str) -> String {
    let head: Vec<String> = log
        .lines()
        .take(5)
        .map(|l| crate::protocol::sanitize::cap(l, HEAD_LINE_MAX))
        .collect();
    if log.len() <= 2000 + head.iter().map(|l| l.len() + 1).sum::<usize>() {
        return log.to_string();
    }
    let mut start = log.len().saturating_sub(2000);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    format!(
        "{}\n\n...\n\n{}",
        head.join("\n"),
        log.get(start..).unwrap_or_default()
    )
}

/// Longest head line of a [`logtail`].
pub const HEAD_LINE_MAX: usize = 1000;

pub(super) async fn publish_status(
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
pub async fn run(
    w: &mut Worker,
    session: &Session,
    intake: (&Channel, &mut Vec<lapin::Consumer>),
    job: &Job,
    holding: &mut Holding,
    attempt: u32,
) -> Result<End> {
    if w.opts
        .policy
        .never_run(&job.req.package, &job.queue.arch, &job.queue.release)
    {
        return denied(job).map(End::Done);
    }
    let t = w
        .opts
        .policy
        .timeouts(&job.req.package, &job.queue.arch, &job.queue.release);
    let dir = tempfile::Builder::new()
        .prefix("adtop-job-")
        .tempdir()
        .context("temporary output directory")?;
    let out = dir.path().join("out");
    let args = match &job.debci {
        Some(r) => debci::args(&w.opts.runner, r, &out, &t, &dir.path().join("keys"))?,
        None => runner::args(&w.opts.runner, &job.req, &out, &t),
    };
    let started = Utc::now();
    let clock = Instant::now();
    let mut clocks = Clocks::start(Duration::from_secs(t.deadline), w.opts.lease);
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
            retry: None,
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
            alarm = clocks.next(matches!(holding, Holding::Held { .. })) => match alarm {
                Alarm::Deadline => {
                    tracing::warn!("{}: past its deadline of {}s; killing its process tree", job.uuid, t.deadline);
                    watchdog = true;
                    running.kill_tree(Duration::from_secs(5)).await;
                    break None;
                }
                Alarm::Lease => {
                    if let Err(e) = move_to_held(w, session, (intake.0, &mut *intake.1), job, holding).await {
                        tracing::warn!("{}: could not move the request to the held queue: {e:#}; trying again in a minute", job.uuid);
                        clocks.snooze_lease(Duration::from_secs(60));
                    }
                }
            },
            _ = status_tick.tick() => {
                let silent = last_output.elapsed().as_secs();
                publish_status(w, session, job, true, clock.elapsed().as_secs(), &live, silent).await;
                if let Ok(mut s) = w.shared.lock()
                    && let Some(j) = s.job.as_mut()
                {
                    let ago = chrono::TimeDelta::try_seconds(i64::try_from(silent).unwrap_or(0)).unwrap_or_default();
                    j.last_output = Utc::now().checked_sub_signed(ago).unwrap_or(j.last_output);
                }
            }
            m = w.incoming.recv() => if let Some(m) = m {
                match control::handle(w, session, &m, Some(&job.uuid)).await {
                    Effect::Stop(then) => {
                        running.kill_tree(Duration::from_secs(5)).await;
                        stopped = Some((then, m));
                        break None;
                    }
                    Effect::Replay => {
                        publish_log(w, session, job, 0, &live, false).await;
                        control::reply(w, session, &m, true, "replayed").await;
                    }
                    Effect::None | Effect::Pause | Effect::Resume => {}
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
        // One enormous first line: its start, cut, then the last 2000 bytes.
        let t = logtail(&format!("{}\nend\n", "x".repeat(1 << 20)));
        assert!(t.len() < 2 * HEAD_LINE_MAX + 2100, "{}", t.len());
        assert!(t.ends_with("x\nend\n") && t.contains("more bytes)"));
    }
}
