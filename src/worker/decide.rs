//! The worker's decisions, apart from lapin and the store: each takes what the worker saw
//! (plain values) and says what to do. The job's steps in [`super::life`] call these and only
//! carry out the answer, so the rules are unit-tested here, with time paused where time
//! matters (lease, deadline, retry and store waits).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::classify::{self, Verdict};
use crate::broker::Backoff;
use crate::protocol::ExitCode;
use crate::protocol::messages::{AfterStop, ControlAction};
use crate::protocol::sanitize::{REASON_MAX, cap};
use crate::store::StoreError;
use crate::store::run::ByUuid;

/// Why a request goes to `adtop.rejected`: a stable code for `x-adtop-reason-code` and a
/// reason for people, both capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: &'static str, reason: impl AsRef<str>) -> Self {
        Self {
            code,
            reason: cap(reason.as_ref(), REASON_MAX),
        }
    }
}

impl From<&crate::protocol::RejectReason> for Rejection {
    fn from(r: &crate::protocol::RejectReason) -> Self {
        Self::new(r.code(), r.to_string())
    }
}

// ----- redelivery -----

/// What to do with a delivery, given what the spool and the store already hold for its uuid.
#[derive(Debug, Clone, PartialEq)]
pub enum Receive {
    /// A request not seen before: run it.
    Run,
    /// This very request's result waits in this worker's spool: deliver that, run nothing.
    FinishSpooled,
    /// This very request's result is stored: make sure it is announced, acknowledge.
    AnnounceStored,
    /// Its uuid names something else, or cannot be read: refuse it with the reason.
    Reject(Rejection),
}

/// A delivery is "already done" only when it is the same request (the same body as the one
/// stored), never because of its uuid or the redelivered flag alone. `body` is the request as
/// the index records it; `spooled` the body of a spool entry of the same uuid; `stored` what
/// `by-uuid/<uuid>` holds. A store that cannot be asked now means "run": the check is made
/// again when the result is stored, and a uuid taken meanwhile is refused then.
pub fn on_receive(
    uuid: &str,
    body: &str,
    spooled: Option<&str>,
    stored: &Result<ByUuid, StoreError>,
) -> Receive {
    match spooled {
        Some(b) if b == body => return Receive::FinishSpooled,
        Some(_) => {
            return Receive::Reject(Rejection::new(
                "uuid-reused",
                format!(
                    "uuid {uuid} already names another request whose result waits in this worker's spool; a request must carry a uuid of its own"
                ),
            ));
        }
        None => {}
    }
    match stored {
        Ok(ByUuid::Nothing) => Receive::Run,
        Ok(ByUuid::Stored(e)) if e.body == body => Receive::AnnounceStored,
        Ok(ByUuid::Stored(e)) => Receive::Reject(Rejection::new(
            "uuid-reused",
            format!(
                "uuid {uuid} already names another request's result ({} {} in {}/{}); a request must carry a uuid of its own",
                e.package, e.finished, e.container, e.swift_dir
            ),
        )),
        Err(e @ StoreError::Unreadable { .. }) => Receive::Reject(Rejection::new(
            "index-unreadable",
            format!("cannot tell whether {uuid} already ran: {e}"),
        )),
        Err(e) if e.is_permanent() => Receive::Reject(Rejection::new(
            "store-refused",
            format!("cannot tell whether {uuid} already ran: {e}"),
        )),
        Err(_) => Receive::Run,
    }
}

// ----- retry -----

/// After one attempt: run it again after a delay, or this is the final exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Retry { why: &'static str, delay: Duration },
    Final(ExitCode),
}

/// autopkgtest-cloud's retry rule ([`classify::judge`]) with the worker's limits: attempt `n`
/// of `attempts`; a watchdog kill is never retried; after the last attempt a real failure
/// stays one only if every attempt was one. `jitter` in `0..=1` spreads the delay over
/// `retry_delay`.
pub fn after_attempt(
    codes: &[ExitCode],
    has_version: bool,
    log: &str,
    watchdog: bool,
    attempts: u32,
    retry_delay: (Duration, Duration),
    jitter: f64,
) -> AfterAttempt {
    let Some(&code) = codes.last() else {
        return AfterAttempt::Final(ExitCode::UNEXPECTED);
    };
    if watchdog {
        return AfterAttempt::Final(code);
    }
    match classify::judge(code, has_version, log) {
        Verdict::Final => AfterAttempt::Final(code),
        Verdict::Retry(why) if (codes.len() as u64) < u64::from(attempts.max(1)) => {
            let (min, max) = retry_delay;
            let span = max.saturating_sub(min);
            AfterAttempt::Retry {
                why,
                delay: min + span.mul_f64(jitter.clamp(0.0, 1.0)),
            }
        }
        Verdict::Retry(_) => AfterAttempt::Final(classify::exhausted(codes)),
    }
}

// ----- store failures -----

/// After a failed attempt to store a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNext {
    /// The store is away: keep the result in the spool, try again after this long.
    Wait(Duration),
    /// Waiting will not help: refuse the request with the reason, go on.
    Reject(Rejection),
}

pub fn on_store_error(e: &StoreError, backoff: &mut Backoff) -> StoreNext {
    if e.is_permanent() {
        let code = match e {
            StoreError::UuidTaken { .. } => "uuid-reused",
            StoreError::Unreadable { .. } => "index-unreadable",
            _ => "store-refused",
        };
        StoreNext::Reject(Rejection::new(
            code,
            format!("the result store refused the result: {e}"),
        ))
    } else {
        StoreNext::Wait(backoff.next_delay())
    }
}

/// Wait `delay`, unless `leave` (a signal, a stop) comes first: then `false`, and the worker
/// leaves the result in the spool and exits; it is stored when the worker starts again.
pub async fn wait_unless(delay: Duration, leave: impl Future<Output = ()>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = leave => false,
    }
}

// ----- announce -----

/// Whether to publish a stored result's completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    Publish,
    /// The `announced/<uuid>` marker says it was: never twice.
    AlreadyAnnounced,
    /// Its held copy was reclaimed and runs elsewhere: that run announces.
    RunsElsewhere,
}

/// `held_released`: `None` when the request was never moved to the held queue, otherwise
/// whether this worker still found and took its held copy out.
pub fn announce(marker: bool, held_released: Option<bool>) -> Announce {
    if held_released == Some(false) {
        Announce::RunsElsewhere
    } else if marker {
        Announce::AlreadyAnnounced
    } else {
        Announce::Publish
    }
}

// ----- lease and deadline -----

/// `now + d`, or about thirty years from now for a `d` (from a configuration) too large.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 86_400)))
        .unwrap_or(now)
}

/// What rang while a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// Past the job's deadline: kill its process tree, record a timeout.
    Deadline,
    /// Past the lease: move the request to the held queue (the broker's consumer timeout).
    Lease,
}

/// The two clocks of a running job, from when it started.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub deadline: Instant,
    pub lease: Instant,
}

impl Clocks {
    pub fn start(deadline: Duration, lease: Duration) -> Self {
        let now = Instant::now();
        Self {
            deadline: later(now, deadline),
            lease: later(now, lease),
        }
    }

    /// Moving the request to the held queue failed: try again after `retry`, not at once.
    pub fn snooze_lease(&mut self, retry: Duration) {
        self.lease = later(Instant::now(), retry);
    }

    /// The next alarm; the lease only while the request is still a delivery (`held` false).
    /// The deadline wins when both are due.
    pub async fn next(&self, held: bool) -> Alarm {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(self.deadline) => Alarm::Deadline,
            _ = tokio::time::sleep_until(self.lease), if !held => Alarm::Lease,
        }
    }
}

// ----- control -----

/// What a control message changes, besides its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Take no new jobs (the running one finishes).
    Pause,
    Resume,
    /// Stop the running job; its request is requeued or cancelled. Replied to once done.
    Stop(AfterStop),
    /// Publish the running job's log from offset 0, then reply.
    Replay,
}

/// The one rule for every control message, idle or running: (effect, ok, reply).
pub fn control(
    action: ControlAction,
    uuid: Option<&str>,
    then: Option<AfterStop>,
    running: Option<&str>,
) -> (Effect, bool, String) {
    let asked = cap(uuid.unwrap_or_default(), 128);
    match (action, running) {
        (ControlAction::Ping, Some(r)) => (Effect::None, true, format!("pong (running {r})")),
        (ControlAction::Ping, None) => (Effect::None, true, "pong (idle)".into()),
        (ControlAction::Drain, Some(_)) => (
            Effect::Pause,
            true,
            "draining: finishing the current job, then taking no new ones".into(),
        ),
        (ControlAction::Drain, None) => (Effect::Pause, true, "drained: taking no new jobs".into()),
        (ControlAction::Resume, _) => (Effect::Resume, true, "resumed: taking jobs".into()),
        (ControlAction::Stop, Some(r)) if uuid.is_none_or(|u| u == r) => (
            Effect::Stop(then.unwrap_or(AfterStop::Requeue)),
            true,
            String::new(),
        ),
        (ControlAction::Replay, Some(r)) if uuid.is_none_or(|u| u == r) => {
            (Effect::Replay, true, "replayed".into())
        }
        (ControlAction::Stop | ControlAction::Replay, Some(r)) => (
            Effect::None,
            false,
            format!("not running {asked} (running {r})"),
        ),
        (ControlAction::Stop | ControlAction::Replay, None) => {
            (Effect::None, false, format!("not running {asked} (idle)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::IndexEntry;

    fn entry(body: &str) -> IndexEntry {
        IndexEntry {
            uuid: "u1".into(),
            package: "hello".into(),
            release: "noble".into(),
            arch: "amd64".into(),
            queue: "debci-noble-amd64".into(),
            exitcode: 0,
            class: crate::protocol::Class::Pass,
            container: "autopkgtest-noble".into(),
            swift_dir: "noble/amd64/h/hello/20240101_000000_abcde@".into(),
            duration: 1,
            finished: chrono::Utc::now(),
            worker: "w".into(),
            triggers: vec![],
            requester: String::new(),
            testpkg_version: "hello 1".into(),
            body: body.into(),
            private: false,
        }
    }

    #[test]
    fn redelivery_is_recognised_by_the_body_not_the_uuid() {
        let body = "hello\n{\"uuid\": \"u1\"}";
        let stored = Ok(ByUuid::Stored(Box::new(entry(body))));
        assert_eq!(
            on_receive("u1", body, None, &stored),
            Receive::AnnounceStored
        );
        // Another request with the same uuid: refused, never dropped, never run over the other.
        let other = on_receive("u1", "other\n{\"uuid\": \"u1\"}", None, &stored);
        assert!(
            matches!(&other, Receive::Reject(r) if r.code == "uuid-reused" && r.reason.contains("another request")),
            "{other:?}"
        );
        // Nothing stored: a fresh request runs, whatever the redelivered flag says.
        assert_eq!(
            on_receive("u1", body, None, &Ok(ByUuid::Nothing)),
            Receive::Run
        );
        assert_eq!(
            on_receive("u1", body, Some(body), &Ok(ByUuid::Nothing)),
            Receive::FinishSpooled
        );
        assert!(matches!(
            on_receive("u1", body, Some("x"), &Ok(ByUuid::Nothing)),
            Receive::Reject(_)
        ));
    }

    #[test]
    fn an_unreadable_index_entry_rejects_that_request_only() {
        let bad = Err(StoreError::Unreadable {
            key: "adtop-index/by-uuid/u1".into(),
            detail: "expected value at line 1".into(),
        });
        let r = on_receive("u1", "hello", None, &bad);
        assert!(
            matches!(&r, Receive::Reject(r) if r.code == "index-unreadable" && r.reason.contains("by-uuid/u1")),
            "{r:?}"
        );
        // A store that is merely away does not stop the request: it runs.
        let away = Err(StoreError::Swift {
            what: "download".into(),
            detail: "connection refused".into(),
        });
        assert_eq!(on_receive("u1", "hello", None, &away), Receive::Run);
    }

    #[test]
    fn retries_follow_the_rules_and_the_limits() {
        let d = (Duration::from_secs(10), Duration::from_secs(20));
        let tmp = [ExitCode::TMPFAIL];
        assert_eq!(
            after_attempt(&tmp, true, "boom", false, 3, d, 0.5),
            AfterAttempt::Retry {
                why: "testbed failure",
                delay: Duration::from_secs(15)
            }
        );
        // The watchdog's kill is final; so is the last attempt.
        assert_eq!(
            after_attempt(&tmp, true, "", true, 3, d, 0.0),
            AfterAttempt::Final(ExitCode::TMPFAIL)
        );
        let three = [ExitCode(4), ExitCode(4), ExitCode(4)];
        assert_eq!(
            after_attempt(&three, false, "", false, 3, d, 0.0),
            AfterAttempt::Final(ExitCode::FAIL)
        );
        assert_eq!(
            after_attempt(&[ExitCode::PASS], true, "", false, 3, d, 0.0),
            AfterAttempt::Final(ExitCode::PASS)
        );
        assert_eq!(
            after_attempt(&[], true, "", false, 3, d, 0.0),
            AfterAttempt::Final(ExitCode::UNEXPECTED)
        );
    }

    #[test]
    fn permanent_store_errors_reject_transient_ones_wait_longer_each_time() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let away = StoreError::Status {
            what: "upload".into(),
            status: 503,
        };
        let StoreNext::Wait(first) = on_store_error(&away, &mut b) else {
            panic!("503 waits");
        };
        let StoreNext::Wait(second) = on_store_error(&away, &mut b) else {
            panic!("503 waits");
        };
        assert!(second > first);
        let too_large = StoreError::Status {
            what: "upload".into(),
            status: 413,
        };
        match on_store_error(&too_large, &mut b) {
            StoreNext::Reject(r) => {
                assert_eq!(r.code, "store-refused");
                assert!(r.reason.contains("413"), "{}", r.reason);
            }
            other => panic!("413 is permanent: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_during_the_store_wait_leaves_promptly() {
        let t0 = Instant::now();
        let waited = wait_unless(
            Duration::from_secs(60),
            tokio::time::sleep(Duration::from_secs(2)),
        )
        .await;
        assert!(!waited);
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        let t0 = Instant::now();
        assert!(wait_unless(Duration::from_secs(5), std::future::pending()).await);
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_rings_before_the_deadline_and_only_until_held() {
        let t0 = Instant::now();
        let c = Clocks::start(Duration::from_secs(100), Duration::from_secs(30));
        assert_eq!(c.next(false).await, Alarm::Lease);
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
        // Held: the lease no longer rings; the deadline does, at its time.
        assert_eq!(c.next(true).await, Alarm::Deadline);
        assert_eq!(t0.elapsed(), Duration::from_secs(100));
        // A failed move to the held queue tries again later, not in a busy loop.
        let mut c = Clocks::start(Duration::from_secs(100), Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(c.next(false).await, Alarm::Lease);
        c.snooze_lease(Duration::from_secs(10));
        assert_eq!(c.next(false).await, Alarm::Lease);
        assert_eq!(t0.elapsed(), Duration::from_secs(11));
        // A deadline too large for the clock does not overflow.
        let _ = Clocks::start(Duration::MAX, Duration::MAX);
        // Both due: the deadline wins.
        let c = Clocks::start(Duration::from_secs(5), Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(c.next(false).await, Alarm::Deadline);
    }

    #[test]
    fn announce_once_and_never_for_a_request_running_elsewhere() {
        assert_eq!(announce(false, None), Announce::Publish);
        assert_eq!(announce(true, None), Announce::AlreadyAnnounced);
        assert_eq!(announce(false, Some(true)), Announce::Publish);
        assert_eq!(announce(false, Some(false)), Announce::RunsElsewhere);
        assert_eq!(announce(true, Some(false)), Announce::RunsElsewhere);
    }

    #[test]
    fn one_control_rule_idle_or_running() {
        let (e, ok, msg) = control(ControlAction::Stop, Some("u1"), None, Some("u1"));
        assert_eq!((e, ok), (Effect::Stop(AfterStop::Requeue), true));
        assert!(msg.is_empty());
        let (e, ok, msg) = control(ControlAction::Stop, Some("u2"), None, Some("u1"));
        assert_eq!((e, ok), (Effect::None, false));
        assert_eq!(msg, "not running u2 (running u1)");
        let (_, ok, msg) = control(ControlAction::Stop, Some("u2"), None, None);
        assert!(!ok && msg == "not running u2 (idle)");
        assert_eq!(
            control(ControlAction::Drain, None, None, None).0,
            Effect::Pause
        );
        assert_eq!(
            control(ControlAction::Drain, None, None, Some("u1")).0,
            Effect::Pause
        );
        assert_eq!(
            control(ControlAction::Replay, None, None, Some("u1")).0,
            Effect::Replay
        );
        assert!(!control(ControlAction::Replay, None, None, None).1);
        // A hostile uuid in a reply is cut.
        let long = "x".repeat(70_000);
        assert!(
            control(ControlAction::Stop, Some(&long), None, None)
                .2
                .len()
                < 300
        );
    }
}
