//! Queues (depths, consumers, rates, depth history) and one page of a queue's requests.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::Thresholds;

pub use crate::ops::event::{QueueStat, RequestRow};

#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub name: String,
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u32,
    pub publish_rate: f64,
    pub deliver_rate: f64,
    /// `x-max-priority` of the queue, when it has one.
    pub max_priority: Option<u8>,
    /// The timestamp of the message at the head of the queue, when the management API
    /// reports one (classic queues whose messages carry the AMQP `timestamp` property).
    pub head_timestamp: Option<DateTime<Utc>>,
    /// Depth (ready + unacked) samples, oldest first.
    pub history: VecDeque<u64>,
    pub sampled: Option<DateTime<Utc>>,
}

impl QueueRow {
    /// A queue seen for the first time: no figures yet.
    pub fn new(name: String) -> Self {
        Self {
            name,
            ready: 0,
            unacked: 0,
            consumers: 0,
            publish_rate: 0.0,
            deliver_rate: 0.0,
            max_priority: None,
            head_timestamp: None,
            history: VecDeque::new(),
            sampled: None,
        }
    }

    pub fn depth(&self) -> u64 {
        self.ready + self.unacked
    }

    /// What a listing sets, compared to tell whether it changed anything drawn.
    fn figures(&self) -> (u64, u64, u32, f64, f64, Option<u8>) {
        (
            self.ready,
            self.unacked,
            self.consumers,
            self.publish_rate,
            self.deliver_rate,
            self.max_priority,
        )
    }

    /// Messages wait and nobody can take them (adtop's own queues have no consumers by design).
    pub fn starved(&self) -> bool {
        self.side().is_none() && crate::ops::rules::starved(self.ready, u64::from(self.consumers))
    }

    /// `adtop.rejected` or a held queue, shown marked among the request queues.
    pub fn side(&self) -> Option<crate::protocol::queue::SideQueue> {
        crate::protocol::queue::SideQueue::of(&self.name)
    }

    fn sample(&mut self, at: DateTime<Utc>, t: &Thresholds) {
        let depth = self.depth();
        match self.sampled {
            Some(last) if (at - last).num_seconds() < t.history_every_secs => {
                if let Some(v) = self.history.back_mut() {
                    *v = depth;
                }
            }
            _ => {
                self.history.push_back(depth);
                self.sampled = Some(at);
                while self.history.len() > t.history_len {
                    self.history.pop_front();
                }
            }
        }
    }
}

pub(super) fn apply_stats(
    rows: &mut Vec<QueueRow>,
    stats: Vec<QueueStat>,
    at: DateTime<Utc>,
    t: &Thresholds,
) -> bool {
    let mut old: HashMap<String, QueueRow> = rows.drain(..).map(|r| (r.name.clone(), r)).collect();
    // A listing that changes no figure and no sparkline costs no frame (500 queues every
    // few seconds, mostly unchanged).
    let mut changed = false;
    for s in stats {
        let mut row = old.remove(&s.name).unwrap_or_else(|| {
            changed = true;
            QueueRow::new(s.name.clone())
        });
        let before = row.figures();
        row.ready = s.ready;
        row.unacked = s.unacked;
        row.consumers = s.consumers;
        row.publish_rate = s.publish_rate;
        row.deliver_rate = s.deliver_rate;
        row.max_priority = s.max_priority;
        changed |= row.figures() != before;
        let sparkline = (row.history.len(), row.history.back().copied());
        row.head_timestamp = s.head_timestamp;
        row.sample(at, t);
        changed |= sparkline != (row.history.len(), row.history.back().copied());
        rows.push(row);
    }
    changed || !old.is_empty()
}

/// More queues than any deployment has (Ubuntu's runs about 500).
pub const QUEUES_CAP: usize = 5000;

/// A live count. A queue not listed yet gets a row: without the management API, the queues
/// that workers' heartbeats name are known only this way.
pub(super) fn apply_depth(
    rows: &mut Vec<QueueRow>,
    name: &str,
    ready: u64,
    consumers: u32,
    at: DateTime<Utc>,
    t: &Thresholds,
) -> bool {
    if !rows.iter().any(|r| r.name == name) {
        if rows.len() >= QUEUES_CAP {
            return false;
        }
        rows.push(QueueRow::new(crate::protocol::sanitize::cap(name, 255)));
    }
    let Some(row) = rows.iter_mut().find(|r| r.name == name) else {
        return false;
    };
    let changed = row.ready != ready || row.consumers != consumers;
    row.ready = ready;
    row.consumers = consumers;
    row.sample(at, t);
    changed
}

impl super::Model {
    /// When the oldest request of `q` was queued, as far as the console knows: the oldest
    /// submit time among the requests read from the head of the queue (the Requests view),
    /// else the management API's `head_message_timestamp`. `None`: not known.
    pub fn oldest(&self, q: &QueueRow) -> Option<DateTime<Utc>> {
        let read = self
            .requests
            .as_ref()
            .filter(|p| p.queue == q.name && p.offset == 0)
            .and_then(|p| p.rows.iter().filter_map(|r| r.submit_time).min());
        read.or(q.head_timestamp)
    }
}

/// The requests of one queue: `rows` starts at `offset` of `total`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPage {
    pub queue: String,
    pub offset: usize,
    pub total: u64,
    pub rows: Vec<RequestRow>,
    /// The offset last asked for. Pages pressed ahead count on from it, not from the page on
    /// screen, whose answer may not be in yet: 20 presses of `]` are page 21, not page 2.
    pub asked: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing of 500 unchanged queues every few seconds costs no frame; a changed figure or
    /// a new sparkline sample does.
    #[test]
    fn an_unchanged_listing_costs_no_frame() {
        let t = Thresholds::default();
        let now = crate::console::demo::now();
        let stat = |ready| QueueStat {
            name: "debci-noble-amd64".into(),
            ready,
            unacked: 0,
            consumers: 1,
            publish_rate: 0.0,
            deliver_rate: 0.0,
            max_priority: None,
            head_timestamp: None,
        };
        let mut rows = Vec::new();
        assert!(
            apply_stats(&mut rows, vec![stat(3)], now, &t),
            "a new queue"
        );
        let soon = now + chrono::Duration::seconds(1);
        assert!(
            !apply_stats(&mut rows, vec![stat(3)], soon, &t),
            "nothing new"
        );
        assert!(
            apply_stats(&mut rows, vec![stat(4)], soon, &t),
            "a new depth"
        );
        let later = now + chrono::Duration::seconds(t.history_every_secs);
        assert!(
            apply_stats(&mut rows, vec![stat(4)], later, &t),
            "a new sample"
        );
        assert!(
            apply_stats(&mut rows, Vec::new(), later, &t),
            "the queue went"
        );
    }
}
