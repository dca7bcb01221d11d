//! Workers, from their heartbeats, and their health judged by heartbeat age.

use chrono::{DateTime, Utc};

use super::Thresholds;
use crate::ops::rules;
use crate::protocol::messages::Heartbeat;

pub use crate::ops::rules::Health;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub heartbeat: Heartbeat,
    /// When the console received it (the worker's own clock may be off).
    pub received: DateTime<Utc>,
}

impl WorkerRow {
    pub fn age_secs(&self, now: DateTime<Utc>) -> i64 {
        rules::heartbeat_age(self.received, now)
    }

    /// [`rules::health`], on the console's clock; a worker that announced leaving is stopped.
    pub fn health(&self, now: DateTime<Utc>, t: &Thresholds) -> Health {
        rules::after_leaving(
            self.heartbeat.state == crate::protocol::messages::WorkerState::Stopping,
            rules::health(
                self.age_secs(now),
                self.heartbeat.interval,
                t.stale_intervals,
                t.lost_intervals,
            ),
        )
    }
}

/// Take a heartbeat; true when anything drawn changed. A worker's routine heartbeat (200
/// workers send 40 a second) changes only its `sent` stamp and its age, which the one-second
/// tick redraws anyway: it costs no frame of its own. A new worker, a changed state, job or
/// counter, or a worker coming back from stale or lost does.
pub(super) fn apply_heartbeat(
    rows: &mut Vec<WorkerRow>,
    mut hb: Heartbeat,
    received: DateTime<Utc>,
    t: &Thresholds,
) -> bool {
    match rows.iter_mut().find(|w| w.heartbeat.id == hb.id) {
        Some(row) => {
            if row.received > received {
                return false;
            }
            let healthy = row.health(received, t) == Health::Ok;
            // Compared without its `sent` stamp, and without a copy.
            let sent = std::mem::replace(&mut hb.sent, row.heartbeat.sent);
            let same = row.heartbeat == hb;
            hb.sent = sent;
            row.heartbeat = hb;
            row.received = received;
            return !same || !healthy;
        }
        None => {
            let at = rows.partition_point(|w| w.heartbeat.id < hb.id);
            rows.insert(
                at,
                WorkerRow {
                    heartbeat: hb,
                    received,
                },
            );
        }
    }
    true
}

/// Forget the longest-silent workers beyond `max`, keeping the rest sorted by id.
pub(super) fn cap(rows: &mut Vec<WorkerRow>, max: usize) {
    if rows.len() > max {
        let mut by_age: Vec<_> = rows.iter().map(|w| w.received).collect();
        by_age.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&cutoff) = by_age.get(max) {
            // Ties at the cutoff may keep a few less than `max`: never more.
            rows.retain(|w| w.received > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::demo;

    /// 200 workers' routine heartbeats are 40 a second: only news costs a frame.
    #[test]
    fn a_routine_heartbeat_costs_no_frame() {
        let t = Thresholds::default();
        let now = demo::now();
        let at = |s| now + chrono::Duration::seconds(s);
        let mut rows = Vec::new();
        let hb = |sent| demo::heartbeat("w1", "amd64", None, sent);
        assert!(apply_heartbeat(&mut rows, hb(now), now, &t), "a new worker");
        assert!(
            !apply_heartbeat(&mut rows, hb(at(5)), at(5), &t),
            "the same again"
        );
        let mut busy = hb(at(10));
        busy.state = crate::protocol::messages::WorkerState::Draining;
        assert!(
            apply_heartbeat(&mut rows, busy.clone(), at(10), &t),
            "a new state"
        );
        busy.sent = at(500);
        assert!(
            apply_heartbeat(&mut rows, busy, at(500), &t),
            "back from lost"
        );
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn health_follows_heartbeat_age() {
        let now = demo::now();
        let t = Thresholds::default();
        let mut w = WorkerRow {
            heartbeat: demo::heartbeat("w1", "amd64", None, now),
            received: now,
        };
        w.heartbeat.interval = 10;
        assert_eq!(
            w.health(now + chrono::Duration::seconds(30), &t),
            Health::Ok
        );
        assert_eq!(
            w.health(now + chrono::Duration::seconds(31), &t),
            Health::Stale
        );
        assert_eq!(
            w.health(now + chrono::Duration::seconds(100), &t),
            Health::Stale
        );
        assert_eq!(
            w.health(now + chrono::Duration::seconds(101), &t),
            Health::Lost
        );
        let strict = Thresholds {
            stale_intervals: 1,
            lost_intervals: 2,
            ..t
        };
        assert_eq!(
            w.health(now + chrono::Duration::seconds(11), &strict),
            Health::Stale
        );
        assert_eq!(
            w.health(now + chrono::Duration::seconds(21), &strict),
            Health::Lost
        );
    }
}
