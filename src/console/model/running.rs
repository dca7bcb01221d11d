//! Running jobs, merged from heartbeats' `job` and `teststatus.fanout` messages, and when they
//! count as hung.

use chrono::{DateTime, Duration, Utc};

use crate::ops::rules;
use crate::protocol::messages::{Heartbeat, RetryWait, TestStatus};

#[derive(Debug, Clone, PartialEq)]
pub struct RunningJob {
    pub uuid: String,
    pub package: String,
    pub release: String,
    pub arch: String,
    pub worker: Option<String>,
    pub queue: Option<String>,
    pub triggers: Vec<String>,
    pub requester: String,
    pub started: DateTime<Utc>,
    /// The job's deadline, seconds after `started`.
    pub timeout: Option<u64>,
    pub last_output: Option<DateTime<Utc>>,
    /// The last `logtail` of a status message (raw).
    pub logtail: String,
    pub updated: DateTime<Utc>,
    /// The attempt running (1-based), from the worker's heartbeat.
    pub attempt: Option<u32>,
    /// Between attempts: the next one, on the console's clock.
    pub retry: Option<RetryWait>,
    /// The request's parameters as the status message carries them (raw, capped).
    pub params: Option<serde_json::Value>,
}

/// Parameters bigger than this (serialised) are not kept: the detail view says so.
pub const PARAMS_MAX: usize = 64 * 1024;

pub use crate::ops::rules::HungReason;

impl RunningJob {
    pub fn elapsed_secs(&self, now: DateTime<Utc>) -> i64 {
        (now - self.started).num_seconds().max(0)
    }

    pub fn silence_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_output.map(|t| (now - t).num_seconds().max(0))
    }

    /// [`rules::hung`], on the console's clock.
    pub fn hung(
        &self,
        now: DateTime<Utc>,
        silent_limit: u64,
        worker_lost: bool,
    ) -> Option<HungReason> {
        rules::hung_unless_waiting(
            rules::hung(
                self.elapsed_secs(now),
                self.timeout,
                self.silence_secs(now),
                silent_limit,
                worker_lost,
            ),
            self.retry.is_some(),
        )
    }
}

pub(super) fn apply_heartbeat(jobs: &mut Vec<RunningJob>, hb: &Heartbeat, received: DateTime<Utc>) {
    let current = hb.job.as_ref().map(|j| j.uuid.as_str());
    // A job this worker no longer reports has ended (its result arrives separately).
    jobs.retain(|j| {
        j.worker.as_deref() != Some(hb.id.as_str()) || Some(j.uuid.as_str()) == current
    });
    let Some(info) = &hb.job else { return };
    // The worker's stamps, moved onto the console's clock (ops::rules: whose clock).
    let started = rules::observed(info.started, hb.sent, received);
    let last_output = rules::observed(info.last_output, hb.sent, received);
    let job = match jobs.iter_mut().find(|j| j.uuid == info.uuid) {
        Some(j) => j,
        None => {
            jobs.push(RunningJob {
                uuid: info.uuid.clone(),
                package: String::new(),
                release: String::new(),
                arch: String::new(),
                worker: None,
                queue: None,
                triggers: Vec::new(),
                requester: String::new(),
                started,
                timeout: None,
                last_output: None,
                logtail: String::new(),
                updated: received,
                attempt: None,
                retry: None,
                params: None,
            });
            match jobs.last_mut() {
                Some(j) => j,
                None => return,
            }
        }
    };
    job.package.clone_from(&info.package);
    job.release.clone_from(&info.release);
    job.arch.clone_from(&info.arch);
    job.worker = Some(hb.id.clone());
    job.queue = Some(info.queue.clone());
    job.triggers.clone_from(&info.triggers);
    job.requester.clone_from(&info.requester);
    job.started = started;
    job.timeout = Some(info.timeout);
    job.attempt = Some(info.attempt);
    job.retry = info
        .retry
        .as_ref()
        .map(|r| rules::retry_observed(r, hb.sent, received));
    if job.last_output.is_none_or(|t| t < last_output) {
        job.last_output = Some(last_output);
    }
    job.updated = received;
}

pub(super) fn apply_status(
    jobs: &mut Vec<RunningJob>,
    st: &TestStatus,
    received: DateTime<Utc>,
) -> bool {
    if !st.running {
        let before = jobs.len();
        jobs.retain(|j| j.uuid != st.uuid);
        return jobs.len() != before;
    }
    let started = secs_before(received, st.duration);
    let idx = match jobs.iter().position(|j| j.uuid == st.uuid) {
        Some(i) => i,
        None => {
            jobs.push(RunningJob {
                uuid: st.uuid.clone(),
                package: st.package.clone(),
                release: st.release.clone(),
                arch: st.architecture.clone(),
                worker: None,
                queue: None,
                triggers: triggers_of(&st.params),
                requester: st
                    .params
                    .get("requester")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                started,
                timeout: None,
                last_output: None,
                logtail: String::new(),
                updated: received,
                attempt: None,
                retry: None,
                params: None,
            });
            jobs.len() - 1
        }
    };
    let Some(job) = jobs.get_mut(idx) else {
        return false;
    };
    job.logtail.clone_from(&st.logtail);
    job.updated = received;
    // A new attempt's status: it runs again.
    job.retry = None;
    if st.params.to_string().len() <= PARAMS_MAX {
        job.params = Some(st.params.clone());
    }
    if let Some(extra) = &st.adtop {
        job.worker = Some(extra.worker.clone());
        job.queue = Some(extra.queue.clone());
        job.timeout = Some(extra.timeout);
        let last = secs_before(received, extra.silent);
        if job.last_output.is_none_or(|t| t < last) {
            job.last_output = Some(last);
        }
    }
    true
}

/// Forget the least recently updated jobs beyond `max`.
pub(super) fn cap(jobs: &mut Vec<RunningJob>, max: usize) {
    if jobs.len() > max {
        jobs.sort_by_key(|j| std::cmp::Reverse(j.updated));
        jobs.truncate(max);
    }
}

/// `secs` seconds before `t`, for durations a worker reports: any `u64` (a buggy or hostile
/// worker may send `1e16`) gives a time, at worst the earliest one chrono has.
pub(crate) fn secs_before(t: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn triggers_of(params: &serde_json::Value) -> Vec<String> {
    params
        .get("triggers")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::demo;

    fn job(now: DateTime<Utc>) -> RunningJob {
        RunningJob {
            uuid: "u".into(),
            package: "glibc".into(),
            release: "noble".into(),
            arch: "amd64".into(),
            worker: Some("w".into()),
            queue: None,
            triggers: vec![],
            requester: String::new(),
            started: now - Duration::seconds(600),
            timeout: Some(1000),
            last_output: Some(now - Duration::seconds(60)),
            logtail: String::new(),
            updated: now,
            attempt: Some(1),
            retry: None,
            params: None,
        }
    }

    #[test]
    fn hung_when_past_timeout_silent_or_worker_lost() {
        let now = demo::now();
        let j = job(now);
        assert_eq!(j.hung(now, 1800, false), None);
        assert_eq!(
            j.hung(now + Duration::seconds(401), 1800, false),
            Some(HungReason::Timeout)
        );
        assert_eq!(
            j.hung(now + Duration::seconds(100), 120, false),
            Some(HungReason::Silent)
        );
        assert_eq!(j.hung(now, 1800, true), Some(HungReason::WorkerLost));
        let no_limits = RunningJob {
            timeout: None,
            last_output: None,
            ..j
        };
        assert_eq!(no_limits.hung(now + Duration::days(9), 1800, false), None);
    }

    #[test]
    fn absurd_durations_from_the_wire_do_not_overflow() {
        let now = demo::now();
        for secs in [0, 1, 1e14 as u64, 1e16 as u64, i64::MAX as u64, u64::MAX] {
            let t = secs_before(now, secs);
            assert!(t <= now);
            let j = RunningJob {
                started: t,
                last_output: Some(t),
                ..job(now)
            };
            assert!(j.elapsed_secs(now) >= 0);
            let _ = j.hung(now, u64::MAX, false);
        }
    }

    #[test]
    fn a_job_between_attempts_is_never_hung_and_says_when_it_runs_again() {
        let now = demo::now();
        let mut info = demo::job_info("u", "glibc", now - Duration::seconds(900), 800);
        info.retry = Some(RetryWait {
            attempt: 2,
            attempts: 3,
            at: now + Duration::seconds(94),
        });
        // The worker's clock is 60 s ahead of the console's: its stamps are moved back.
        let hb = demo::heartbeat("w", "amd64", Some(info), now + Duration::seconds(60));
        let mut jobs = Vec::new();
        apply_heartbeat(&mut jobs, &hb, now);
        let j = &jobs[0];
        let r = j.retry.as_ref().expect("retry wait");
        assert_eq!(rules::retry_label(r, now), "retry 2 of 3 in 34s");
        assert_eq!(j.hung(now + Duration::seconds(30), 60, false), None);
        assert_eq!(j.hung(now, 60, true), Some(HungReason::WorkerLost));
        // The next attempt's heartbeat has no retry: judged again.
        let mut info = demo::job_info("u", "glibc", now, 800);
        info.last_output = now - Duration::seconds(600);
        apply_heartbeat(
            &mut jobs,
            &demo::heartbeat("w", "amd64", Some(info), now),
            now,
        );
        assert_eq!(jobs[0].retry, None);
        assert_eq!(jobs[0].hung(now, 30, false), Some(HungReason::Silent));
    }

    #[test]
    fn heartbeat_without_job_ends_the_workers_job() {
        let now = demo::now();
        let mut jobs = vec![job(now)];
        let hb = demo::heartbeat("w", "amd64", None, now);
        apply_heartbeat(&mut jobs, &hb, now);
        assert!(jobs.is_empty());
    }
}
