//! The judgements the console and the scripting commands both make, each defined once here:
//! a worker's health, when a running job counts as hung, which results a class filter keeps,
//! the verbs of operator actions, and the labels of worker states.
//!
//! ## Whose clock
//!
//! Every age is measured on the observer's clock, from when the observer received the message,
//! never from a time stamp the worker wrote. A worker's clock can be off by minutes (a testbed
//! host without NTP, a VM resumed from suspend); judged by its `sent` stamp, a healthy worker
//! whose clock lags would show as lost and its job as hung, and one whose clock runs ahead
//! would never be. What a worker's stamps are good for is differences on its own clock: its job
//! started `sent - started` seconds before it sent the heartbeat, which [`observed`] moves onto
//! the observer's clock.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::protocol::exitcode::Class;
use crate::protocol::messages::{AfterStop, IndexEntry, RetryWait, WorkerState};

/// A worker is stale after this many heartbeat intervals without one...
pub const STALE_INTERVALS: u32 = 3;
/// ...and lost (presumed dead; its job counts as hung) after this many.
pub const LOST_INTERVALS: u32 = 10;
/// A running job silent this long (seconds) is hung, unless configured otherwise
/// (`[console] silent_threshold`).
pub const SILENT_SECS: u64 = 30 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Ok,
    /// Announced leaving (its last heartbeat said it was stopping) and went silent: not lost.
    Stopped,
    /// Missed a few heartbeats.
    Stale,
    /// Missed many: presumed dead; its job counts as hung.
    Lost,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Stopped => "stopped",
            Health::Stale => "stale",
            Health::Lost => "lost",
        }
    }
}

/// Seconds from `received` (the observer's clock when the heartbeat arrived) to `now` (the
/// same clock), never negative.
pub fn heartbeat_age(received: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    now.signed_duration_since(received).num_seconds().max(0)
}

/// Health from the age of the last heartbeat (see [`heartbeat_age`]) and the interval the
/// worker announced in it.
pub fn health(age_secs: i64, interval: u64, stale_intervals: u32, lost_intervals: u32) -> Health {
    let interval = i64::try_from(interval.max(1)).unwrap_or(i64::MAX);
    if age_secs > interval.saturating_mul(i64::from(lost_intervals)) {
        Health::Lost
    } else if age_secs > interval.saturating_mul(i64::from(stale_intervals)) {
        Health::Stale
    } else {
        Health::Ok
    }
}

/// A worker whose last heartbeat announced it was stopping and that went silent since has
/// stopped: it left cleanly, it is not lost.
pub fn after_leaving(stopping: bool, h: Health) -> Health {
    if stopping && h != Health::Ok {
        Health::Stopped
    } else {
        h
    }
}

/// A worker's time stamp `at` moved onto the observer's clock: as long before `received` as it
/// was before `sent` on the worker's clock. A difference too large to represent gives
/// `received`.
pub fn observed(at: DateTime<Utc>, sent: DateTime<Utc>, received: DateTime<Utc>) -> DateTime<Utc> {
    received
        .checked_sub_signed(sent.signed_duration_since(at))
        .unwrap_or(received)
}

/// `received` less `secs` seconds (a duration a message reports), saturating.
pub fn before(received: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|d| received.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A request queue is starved when messages wait in it and nobody consumes it: no worker
/// serves it. The console marks it, `adtop queues` says `! no worker serves this queue`.
pub fn starved(ready: u64, consumers: u64) -> bool {
    ready > 0 && consumers == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HungReason {
    /// Its worker's heartbeats stopped.
    WorkerLost,
    /// Past its deadline.
    Timeout,
    /// No output for longer than the threshold.
    Silent,
}

impl HungReason {
    pub fn label(self) -> &'static str {
        match self {
            HungReason::WorkerLost => "HUNG: worker lost",
            HungReason::Timeout => "HUNG: past timeout",
            HungReason::Silent => "HUNG: silent",
        }
    }

    /// For scripts: `worker-lost`, `timeout`, `silent`.
    pub fn code(self) -> &'static str {
        match self {
            HungReason::WorkerLost => "worker-lost",
            HungReason::Timeout => "timeout",
            HungReason::Silent => "silent",
        }
    }
}

/// Why a running job counts as hung, if it does: its worker is lost, or it has run past its
/// deadline (`timeout`, seconds), or it has written nothing for more than `silent_limit`
/// seconds. Unknown values (`None`) never make a job hung.
pub fn hung(
    elapsed_secs: i64,
    timeout: Option<u64>,
    silence_secs: Option<i64>,
    silent_limit: u64,
    worker_lost: bool,
) -> Option<HungReason> {
    let over = |secs: i64, limit: u64| u64::try_from(secs).is_ok_and(|s| s > limit);
    if worker_lost {
        Some(HungReason::WorkerLost)
    } else if timeout.is_some_and(|t| over(elapsed_secs, t)) {
        Some(HungReason::Timeout)
    } else if silence_secs.is_some_and(|s| over(s, silent_limit)) {
        Some(HungReason::Silent)
    } else {
        None
    }
}

/// A job waiting between attempts runs nothing: silence and the last attempt's deadline say
/// nothing about it, so only a lost worker makes it hung.
pub fn hung_unless_waiting(hung: Option<HungReason>, waiting: bool) -> Option<HungReason> {
    hung.filter(|h| !waiting || *h == HungReason::WorkerLost)
}

/// A heartbeat's retry wait with its time moved onto the observer's clock (see [`observed`]).
pub fn retry_observed(r: &RetryWait, sent: DateTime<Utc>, received: DateTime<Utc>) -> RetryWait {
    RetryWait {
        at: observed(r.at, sent, received),
        ..r.clone()
    }
}

/// `retry 2 of 3 in 94s`: what the console and `adtop running` show for a job between attempts.
pub fn retry_label(r: &RetryWait, now: DateTime<Utc>) -> String {
    let secs = r.at.signed_duration_since(now).num_seconds().max(0);
    format!("retry {} of {} in {secs}s", r.attempt, r.attempts)
}

/// Which classes of result a filter keeps. "Failures" are real failures only
/// ([`Class::is_failure`]): a tmpfail is the testbed's fault, not the package's, and has its own
/// filter. The console's `f`/`t` keys and `adtop results --failures/--tmpfails` both use this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassFilter {
    #[default]
    All,
    Failures,
    Tmpfails,
}

impl ClassFilter {
    pub fn keeps(self, class: Class) -> bool {
        match self {
            ClassFilter::All => true,
            ClassFilter::Failures => class.is_failure(),
            ClassFilter::Tmpfails => class == Class::Tmpfail,
        }
    }
}

/// What a results listing shows: a class, and exact release, arch and source package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFilter {
    pub class: ClassFilter,
    pub release: Option<String>,
    pub arch: Option<String>,
    /// Source package: a name, `lib*` (a prefix) or `*gtk*` (a substring).
    pub package: Option<String>,
}

/// A `--package`/`:package` pattern as the per-package index reads it: `lib*` is a prefix,
/// `*gtk*` a substring, anything else an exact name.
pub fn package_pattern(p: &str) -> (&str, super::history::PackageMatch) {
    use super::history::PackageMatch;
    match (p.strip_prefix('*'), p.strip_suffix('*')) {
        (Some(rest), _) => (rest.trim_end_matches('*'), PackageMatch::Substring),
        (None, Some(head)) => (head, PackageMatch::Prefix),
        (None, None) => (p, PackageMatch::Exact),
    }
}

fn package_matches(pattern: &str, name: &str) -> bool {
    use super::history::PackageMatch;
    match package_pattern(pattern) {
        (p, PackageMatch::Exact) => p == name,
        (p, PackageMatch::Prefix) => name.starts_with(p),
        (p, PackageMatch::Substring) => name.contains(p),
    }
}

impl ResultFilter {
    pub fn matches(&self, e: &IndexEntry) -> bool {
        self.class.keeps(e.class)
            && self.release.as_ref().is_none_or(|r| *r == e.release)
            && self.arch.as_ref().is_none_or(|a| *a == e.arch)
            && self
                .package
                .as_ref()
                .is_none_or(|p| package_matches(p, &e.package))
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// For a title, e.g. `failures release=noble`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.class {
            ClassFilter::All => {}
            ClassFilter::Failures => parts.push("failures".to_string()),
            ClassFilter::Tmpfails => parts.push("tmpfails".to_string()),
        }
        for (k, v) in [
            ("release", &self.release),
            ("arch", &self.arch),
            ("package", &self.package),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join(" ")
    }
}

/// An operator action, as status lines and the audit trail name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Retry,
    Cancel,
    StopRequeue,
    StopCancel,
    Drain,
    Resume,
    StartWorker,
    StopWorker,
    Resubmit,
    Discard,
}

impl Verb {
    pub fn stop(then: AfterStop) -> Self {
        match then {
            AfterStop::Requeue => Verb::StopRequeue,
            AfterStop::Cancel => Verb::StopCancel,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Retry => "retry",
            Verb::Cancel => "cancel",
            Verb::StopRequeue => "stop-requeue",
            Verb::StopCancel => "stop-cancel",
            Verb::Drain => "drain",
            Verb::Resume => "resume",
            Verb::StartWorker => "start-worker",
            Verb::StopWorker => "stop-worker",
            Verb::Resubmit => "resubmit",
            Verb::Discard => "discard",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the console and `adtop workers` show as a worker's state: `testbed broken` when its
/// testbed stopped it, else the wire name of its state.
pub fn worker_state(h: &crate::protocol::messages::Heartbeat) -> &'static str {
    if h.testbed_broken.is_some() {
        TESTBED_BROKEN
    } else {
        state_label(h.state)
    }
}

pub const TESTBED_BROKEN: &str = "testbed broken";

/// A worker state as the console and `adtop workers` show it (the wire name).
pub fn state_label(st: WorkerState) -> &'static str {
    match st {
        WorkerState::Idle => "idle",
        WorkerState::Running => "running",
        WorkerState::Draining => "draining",
        WorkerState::Paused => "paused",
        WorkerState::Stopping => "stopping",
        WorkerState::Reconnecting => "reconnecting",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap()
    }

    #[test]
    fn health_counts_intervals_on_the_observers_clock() {
        assert_eq!(health(30, 10, 3, 10), Health::Ok);
        assert_eq!(health(31, 10, 3, 10), Health::Stale);
        assert_eq!(health(100, 10, 3, 10), Health::Stale);
        assert_eq!(health(101, 10, 3, 10), Health::Lost);
        assert_eq!(health(11, 10, 1, 2), Health::Stale);
        assert_eq!(health(21, 10, 1, 2), Health::Lost);
        // An interval of 0 counts as 1; a huge one does not overflow.
        assert_eq!(health(4, 0, 3, 10), Health::Stale);
        assert_eq!(health(i64::MAX, u64::MAX, 3, 10), Health::Ok);
        // The age is from receipt: a heartbeat received just now is fresh whatever it says.
        assert_eq!(heartbeat_age(t(0), t(5)), 5);
        assert_eq!(heartbeat_age(t(5), t(0)), 0);
    }

    #[test]
    fn worker_stamps_are_moved_onto_the_observers_clock() {
        // The worker's clock is an hour behind: its job started 60 s before it sent.
        let sent = t(-3600);
        let started = t(-3660);
        assert_eq!(observed(started, sent, t(0)), t(-60));
        // A hostile stamp far in the past or future does not overflow.
        assert_eq!(
            observed(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, t(0)),
            t(0)
        );
        assert_eq!(before(t(0), 60), t(-60));
        assert_eq!(before(t(0), u64::MAX), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn starved_is_ready_messages_and_no_consumer() {
        assert!(starved(1, 0));
        assert!(!starved(0, 0));
        assert!(!starved(5, 1));
    }

    #[test]
    fn hung_when_worker_lost_past_timeout_or_silent() {
        assert_eq!(hung(600, Some(1000), Some(60), 1800, false), None);
        assert_eq!(
            hung(1001, Some(1000), Some(60), 1800, false),
            Some(HungReason::Timeout)
        );
        assert_eq!(
            hung(600, Some(1000), Some(121), 120, false),
            Some(HungReason::Silent)
        );
        assert_eq!(
            hung(0, None, None, 1800, true),
            Some(HungReason::WorkerLost)
        );
        assert_eq!(hung(i64::MAX, None, None, 1800, false), None);
        assert_eq!(hung(-5, Some(0), Some(-5), 0, false), None);
    }

    #[test]
    fn failures_are_real_failures_and_tmpfails_apart() {
        let keeps = |f: ClassFilter| {
            [
                Class::Pass,
                Class::Neutral,
                Class::Fail,
                Class::Tmpfail,
                Class::Denied,
            ]
            .into_iter()
            .filter(|c| f.keeps(*c))
            .collect::<Vec<_>>()
        };
        assert_eq!(keeps(ClassFilter::Failures), [Class::Fail]);
        assert_eq!(keeps(ClassFilter::Tmpfails), [Class::Tmpfail]);
        assert_eq!(keeps(ClassFilter::All).len(), 5);
    }

    #[test]
    fn verbs_and_labels() {
        assert_eq!(Verb::stop(AfterStop::Requeue).to_string(), "stop-requeue");
        assert_eq!(Verb::stop(AfterStop::Cancel).as_str(), "stop-cancel");
        for st in [
            WorkerState::Idle,
            WorkerState::Running,
            WorkerState::Draining,
            WorkerState::Paused,
            WorkerState::Stopping,
            WorkerState::Reconnecting,
        ] {
            // The label is the wire name.
            let wire = serde_json::to_value(st).unwrap();
            assert_eq!(wire.as_str(), Some(state_label(st)));
        }
    }
}
