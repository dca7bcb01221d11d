//! One request's life, top to bottom. [`handle`] is the whole story; each step is a small
//! function below it or in the module it names:
//!
//! 1. receive and validate ([`super::validate`]), refusing into `adtop.rejected` with a reason;
//! 2. recognise a redelivery of a request already done ([`decide::on_receive`]);
//! 3. run and watch one attempt ([`attempt::run`]: lease, deadline, control, signals);
//! 4. classify it and retry ([`decide::after_attempt`]);
//! 5. pack, store, announce, acknowledge ([`deliver`]), waiting in the spool while the store or
//!    the broker is away.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};

use super::attempt::{self, End};
use super::decide::{self, AfterAttempt, Receive, Rejection};
use super::job::{Attempt, Holding, Job, JobQueue};
use super::{Flow, Worker, control, debci, deliver, hold, validate};
use crate::broker::{Session, publish};
use crate::protocol::messages::{AfterStop, RetryWait};
use crate::protocol::names;
use crate::protocol::sanitize::{self, cap};
use crate::store::run;

/// The consume channel and its consumers: cancelled when the request moves to the held queue.
pub type Intake<'a> = (&'a Channel, &'a mut Vec<lapin::Consumer>);

/// Handle one delivery from receipt to acknowledgement.
pub async fn handle(
    w: &mut Worker,
    session: &Arc<Session>,
    intake: Intake<'_>,
    d: Delivery,
) -> Result<Flow> {
    let consume = intake.0.clone();
    let job = match receive(w, &d) {
        Ok(job) => job,
        Err(why) => {
            let queue = d.routing_key.to_string();
            let body = d.data.clone();
            return reject(
                w,
                session,
                Holding::Delivery(Box::new(d)),
                &queue,
                &body,
                &why,
            )
            .await;
        }
    };
    let holding = Holding::Delivery(Box::new(d));
    match recognise(w, &job).await {
        Receive::Run => {}
        Receive::FinishSpooled => return deliver::finish_spooled(w, session, &job, holding).await,
        Receive::AnnounceStored => {
            return deliver::announce_stored(w, session, &job, holding).await;
        }
        Receive::Reject(why) => {
            return reject(w, session, holding, &job.queue.to_string(), &job.body, &why).await;
        }
    }
    tracing::info!(
        "{}: {} on {} ({})",
        job.uuid,
        sanitize::line(&job.req.package),
        job.queue,
        sanitize::line(&cap(&job.req.params.triggers_joined(), 512))
    );
    let flow = match run_with_retries(w, session, intake, &job, holding).await? {
        Ran::Result(holding, attempt, attempts) => {
            let failure = testbed_failure(w, &attempt);
            let flow =
                deliver::deliver(w, session, &consume, &job, holding, attempt, attempts).await;
            note_testbed(w, failure);
            flow
        }
        Ran::Stopped(flow) => Ok(flow),
    };
    clear_job(w);
    flow
}

/// On a real testbed: did the testbed, not the package, fail (exit 16 and no test ran)?
fn testbed_failure(w: &Worker, a: &Attempt) -> Option<String> {
    if w.opts.runner.null_testbed() {
        return None;
    }
    let summary = std::fs::read(a.out().join("summary")).unwrap_or_default();
    let summary = String::from_utf8_lossy(summary.get(..64 * 1024).unwrap_or(&summary));
    crate::testbed::broken::testbed_failure(a.code, &summary, &a.log)
}

/// After the result is delivered: a testbed failing `testbed_failure_limit` requests in a
/// row stops the worker taking more (it would turn its whole queue into tmpfails) until an
/// operator resumes it; the heartbeat says why.
fn note_testbed(w: &mut Worker, failure: Option<String>) {
    if !w.streak.record(failure, w.opts.testbed_failure_limit) {
        return;
    }
    let why = w.streak.last_error.clone().unwrap_or_default();
    tracing::error!(
        "testbed broken: {} requests in a row ended in a testbed failure (last: {why}); taking no more requests until an operator fixes the testbed and runs `adtop resume {}`",
        w.streak.count,
        w.opts.id
    );
    w.paused = true;
    if let Ok(mut s) = w.shared.lock() {
        s.testbed_broken = Some(why);
    }
    w.wake_heartbeat.notify_one();
}

/// Steps 1 and 2 of the life: read the delivery into a job, or say why not. A delivery from
/// one of debci's queues is read in debci's dialect ([`debci::receive`]).
fn receive(w: &Worker, d: &Delivery) -> Result<Job, Rejection> {
    if let Some(job) = debci::receive(&w.opts, d) {
        return job;
    }
    let (req, queue) = validate::validate(d.routing_key.as_str(), &d.data)?;
    let uuid = req
        .params
        .uuid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Ok(Job {
        index_body: validate::index_body(&req, &d.data),
        body: d.data.clone(),
        priority: *d.properties.priority(),
        req,
        queue: JobQueue::from(&queue),
        uuid,
        received: Utc::now(),
        debci: None,
    })
}

/// Step 2: has this very request been done already? Asked of every delivery that carries a
/// uuid, redelivered or not: a browsed queue marks every message redelivered, and a fresh
/// request may reuse an old uuid.
async fn recognise(w: &Worker, job: &Job) -> Receive {
    if job.req.params.uuid.is_none() {
        return Receive::Run;
    }
    let spooled = w
        .opts
        .spool
        .pending()
        .ok()
        .and_then(|p| p.into_iter().find(|e| e.uuid == job.uuid))
        .map(|e| e.index.body);
    let stored = run::by_uuid(&w.opts.store, &job.uuid).await;
    let decision = decide::on_receive(&job.uuid, &job.index_body, spooled.as_deref(), &stored);
    if decision != Receive::Run {
        tracing::info!("{}: {decision:?}", job.uuid);
    }
    decision
}

/// How steps 3 and 4 ended.
enum Ran {
    /// The final attempt, and how many there were.
    Result(Holding, Attempt, u32),
    /// Stopped by an operator or a signal; the request was requeued or cancelled.
    Stopped(Flow),
}

/// Steps 3 and 4: run, watch, classify, and run again while the rules say so.
async fn run_with_retries(
    w: &mut Worker,
    session: &Session,
    intake: Intake<'_>,
    job: &Job,
    mut holding: Holding,
) -> Result<Ran> {
    let (consume, consumers) = intake;
    let mut codes = Vec::new();
    loop {
        let n = u32::try_from(codes.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let a = match attempt::run(w, session, (consume, &mut *consumers), job, &mut holding, n)
            .await?
        {
            End::Done(a) => a,
            End::Stopped { then, incoming } => {
                stopped(w, session, job, holding, then).await?;
                let verb = match then {
                    AfterStop::Requeue => "stopped and requeued",
                    AfterStop::Cancel => "stopped and cancelled",
                };
                control::reply(w, session, &incoming, true, format!("{} {verb}", job.uuid)).await;
                return Ok(Ran::Stopped(Flow::Continue));
            }
            End::Urgent => {
                return requeue_and_leave(w, session, job, holding)
                    .await
                    .map(Ran::Stopped);
            }
        };
        codes.push(a.code);
        let has_version = a.out().join("testpkg-version").is_file();
        let jitter = f64::from(uuid::Uuid::new_v4().as_u128() as u16) / f64::from(u16::MAX);
        let next = decide::after_attempt(
            &codes,
            has_version,
            &a.log,
            a.watchdog,
            w.opts.attempts,
            w.opts.retry_delay,
            jitter,
        );
        match next {
            AfterAttempt::Final(code) => {
                let attempts = u32::try_from(codes.len()).unwrap_or(u32::MAX);
                return Ok(Ran::Result(holding, Attempt { code, ..a }, attempts));
            }
            AfterAttempt::Retry { why, delay } => {
                tracing::info!(
                    "{}: attempt {n} ended with {} ({why}); retrying in {}s",
                    job.uuid,
                    a.code.0,
                    delay.as_secs()
                );
                drop(a);
                // Say so in the heartbeat: readers show "retry N of M in 94s", not a silent job.
                if let Ok(mut s) = w.shared.lock()
                    && let Some(j) = s.job.as_mut()
                {
                    let wait = chrono::TimeDelta::from_std(delay).unwrap_or_default();
                    j.retry = Some(RetryWait {
                        attempt: n.saturating_add(1),
                        attempts: w.opts.attempts,
                        at: Utc::now().checked_add_signed(wait).unwrap_or_else(Utc::now),
                    });
                }
                w.wake_heartbeat.notify_one();
                // A SIGTERM ends the wait and the next attempt starts at once; a second one
                // (or a stop of an embedded worker) requeues the request.
                let mut urgent = false;
                decide::wait_unless(delay, async {
                    urgent = w.signals.next().await;
                })
                .await;
                if urgent {
                    return requeue_and_leave(w, session, job, holding)
                        .await
                        .map(Ran::Stopped);
                }
            }
        }
    }
}

pub(super) fn clear_job(w: &Worker) {
    if let Ok(mut s) = w.shared.lock() {
        s.job = None;
    }
    w.wake_heartbeat.notify_one();
}

/// A request the worker cannot accept goes to `adtop.rejected` with the reason (every header
/// capped), then is acknowledged (or its held copy released).
pub async fn reject(
    w: &mut Worker,
    session: &Session,
    holding: Holding,
    queue: &str,
    body: &[u8],
    why: &Rejection,
) -> Result<Flow> {
    tracing::warn!(
        "rejecting a request from {}: {}",
        sanitize::line(&cap(queue, 300)),
        sanitize::line(&why.reason)
    );
    let props = publish::with_headers(
        publish::persistent(),
        &[
            (names::H_REASON, cap(&why.reason, sanitize::REASON_MAX)),
            (names::H_REASON_CODE, why.code.to_string()),
            (names::H_SOURCE_QUEUE, cap(queue, 300)),
            (names::H_WORKER, cap(&w.opts.id, 300)),
            (names::H_REJECTED_AT, Utc::now().to_rfc3339()),
        ],
    );
    if let Err(e) = publish::publish_confirmed(
        &session.confirm,
        "",
        names::REJECTED_QUEUE,
        body,
        props,
        true,
    )
    .await
    {
        // Not recorded, so not dropped: the broker delivers it again after we reconnect.
        tracing::warn!("could not record the rejection ({e}); leaving the request unacknowledged");
        return Ok(Flow::Reconnect);
    }
    if let Ok(mut s) = w.shared.lock() {
        s.rejected += 1;
    }
    if acknowledge(&w.opts.id, session, holding, "", "a rejected request").await? {
        Ok(Flow::Continue)
    } else {
        Ok(Flow::Reconnect)
    }
}

/// The request is done with: acknowledge its delivery, or take its held copy out. `false`
/// when the acknowledgement could not be sent (the connection dropped): the broker delivers
/// it again, and [`recognise`] knows it then.
pub async fn acknowledge(
    id: &str,
    session: &Session,
    holding: Holding,
    uuid: &str,
    what: &str,
) -> Result<bool> {
    match holding {
        Holding::Delivery(d) => match d.ack(BasicAckOptions::default()).await {
            Ok(_) => Ok(true),
            Err(e) => {
                tracing::warn!(
                    "{uuid}: acknowledging {what} failed ({e}); the redelivery will be recognised"
                );
                Ok(false)
            }
        },
        Holding::Held { .. } => {
            hold::release(&session.confirm, id, uuid).await?;
            Ok(true)
        }
    }
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
            let mut props =
                publish::with_headers(publish::persistent(), &[(names::H_UUID, job.uuid.clone())]);
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

/// An operator stopped the job: requeue or cancel its request.
async fn stopped(
    w: &Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
    then: AfterStop,
) -> Result<()> {
    attempt::publish_status(w, session, job, false, 0, "", 0).await;
    match then {
        AfterStop::Requeue => requeue(w, session, job, holding).await,
        AfterStop::Cancel => {
            acknowledge(
                &w.opts.id,
                session,
                holding,
                &job.uuid,
                "a cancelled request",
            )
            .await?;
            Ok(())
        }
    }
}

async fn requeue_and_leave(
    w: &Worker,
    session: &Session,
    job: &Job,
    holding: Holding,
) -> Result<Flow> {
    attempt::publish_status(w, session, job, false, 0, "", 0).await;
    requeue(w, session, job, holding).await?;
    clear_job(w);
    Ok(Flow::Exit(w.signals.leaving.unwrap_or(0)))
}

/// How long the worker waits for a store that is away before trying again, at most.
pub const STORE_RETRY_MAX: Duration = Duration::from_secs(60);
