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

    /// Messages wait and nobody can take them.
    pub fn starved(&self) -> bool {
        crate::ops::rules::starved(self.ready, u64::from(self.consumers))
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
    for s in stats {
        let mut row = old
            .remove(&s.name)
            .unwrap_or_else(|| QueueRow::new(s.name.clone()));
        row.ready = s.ready;
        row.unacked = s.unacked;
        row.consumers = s.consumers;
        row.publish_rate = s.publish_rate;
        row.deliver_rate = s.deliver_rate;
        row.max_priority = s.max_priority;
        row.head_timestamp = s.head_timestamp;
        row.sample(at, t);
        rows.push(row);
    }
    true
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
}
