//! What the console knows: plain data built from model events, drawn by the views.
//!
//! Nothing here does I/O or reads the wall clock: time comes in with [`ModelEvent::Tick`] and
//! the events' `received` stamps, so a model built by hand renders the same every time.

mod conn;
mod log;
mod nodes;
mod queues;
mod results;
mod running;
mod workers;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub use conn::{ConnState, Connection, Service};
pub use log::{LogBuffer, LogSource};
pub use nodes::NodeHealth;
pub use queues::{QueueRow, QueueStat, RequestPage, RequestRow};
pub use results::{ClassFilter, ResultFilter, Results};
pub use running::{HungReason, RunningJob};
pub use workers::{Health, WorkerRow};

use super::event::ModelEvent;
pub use crate::ops::rejected::Rejected;
use crate::protocol::messages::AuditRecord;

/// How long a worker that announced leaving stays in the Workers view.
pub const STOPPED_SHOWN_SECS: i64 = 10 * 60;

/// Limits that decide health and hung-ness, and how much the model keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// A worker is stale after this many missed heartbeat intervals.
    pub stale_intervals: u32,
    /// ... and lost after this many.
    pub lost_intervals: u32,
    /// A running job silent this long is hung (seconds).
    pub silent_secs: u64,
    /// Requests kept for one queue (one page).
    pub requests_cap: usize,
    /// Results kept, newest first.
    pub results_cap: usize,
    /// Audit records kept.
    pub audit_cap: usize,
    /// Workers and running jobs kept: anyone can publish heartbeats and statuses with new
    /// ids, so past this the longest-silent ones are forgotten.
    pub workers_cap: usize,
    pub running_cap: usize,
    /// Log lines and bytes kept (oldest dropped first).
    pub log_max_lines: usize,
    pub log_max_bytes: usize,
    /// Depth samples per queue for the sparkline, and seconds between samples.
    pub history_len: usize,
    pub history_every_secs: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            stale_intervals: crate::ops::rules::STALE_INTERVALS,
            lost_intervals: crate::ops::rules::LOST_INTERVALS,
            silent_secs: crate::ops::rules::SILENT_SECS,
            requests_cap: 1000,
            results_cap: 5000,
            audit_cap: 1000,
            workers_cap: 5000,
            running_cap: 5000,
            log_max_lines: 100_000,
            log_max_bytes: 16 << 20,
            history_len: 60,
            history_every_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Error,
}

/// The status line: the latest thing worth telling the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusMsg {
    pub level: Level,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub now: DateTime<Utc>,
    pub thresholds: Thresholds,
    pub queues: Vec<QueueRow>,
    /// The requests of the queue the Requests view shows.
    pub requests: Option<RequestPage>,
    /// What `adtop.rejected` holds, as last read (the Rejected view); `None` until read.
    pub rejected: Option<RejectedPage>,
    pub workers: Vec<WorkerRow>,
    pub running: Vec<RunningJob>,
    pub results: Results,
    pub log: Option<LogBuffer>,
    /// Newest last.
    pub audit: Vec<AuditRecord>,
    pub broker: Connection,
    /// The broker's nodes with since when each is up or down.
    pub nodes: Vec<NodeHealth>,
    /// The node whose management API answers, and the cluster's name (sanitised, capped).
    pub broker_node: Option<(String, String)>,
    pub store: Connection,
    pub management: Connection,
    pub status: Option<StatusMsg>,
    /// Ops sent and not answered yet: id → what was asked.
    pub pending: HashMap<u64, String>,
    /// Ops confirmed together (a bulk action): op id → the batch, reported as one line.
    pub batch_of: HashMap<u64, u64>,
    pub batches: HashMap<u64, Batch>,
    pub embedded_worker: Option<bool>,
}

impl Model {
    pub fn new(now: DateTime<Utc>, thresholds: Thresholds) -> Self {
        Self {
            now,
            results: Results::new(thresholds.results_cap),
            thresholds,
            queues: Vec::new(),
            requests: None,
            rejected: None,
            workers: Vec::new(),
            running: Vec::new(),
            log: None,
            audit: Vec::new(),
            broker: Connection::new(Service::Broker),
            nodes: Vec::new(),
            broker_node: None,
            store: Connection::new(Service::Store),
            management: Connection::new(Service::Management),
            status: None,
            pending: HashMap::new(),
            batch_of: HashMap::new(),
            batches: HashMap::new(),
            embedded_worker: None,
        }
    }

    /// Apply one event; true when anything the views draw may have changed.
    pub fn apply(&mut self, event: ModelEvent) -> bool {
        match event {
            ModelEvent::Tick(now) => {
                let changed = now.timestamp() != self.now.timestamp();
                self.now = now;
                // A worker that left cleanly is shown as stopped for a while, then forgotten.
                let t = self.thresholds.clone();
                let before = self.workers.len();
                self.workers.retain(|w| {
                    w.health(now, &t) != Health::Stopped || w.age_secs(now) < STOPPED_SHOWN_SECS
                });
                changed || self.workers.len() != before
            }
            ModelEvent::Heartbeat {
                heartbeat,
                received,
            } => {
                self.broker.saw_data(received);
                running::apply_heartbeat(&mut self.running, &heartbeat, received);
                running::cap(&mut self.running, self.thresholds.running_cap);
                let changed = workers::apply_heartbeat(
                    &mut self.workers,
                    *heartbeat,
                    received,
                    &self.thresholds,
                );
                workers::cap(&mut self.workers, self.thresholds.workers_cap);
                changed
            }
            ModelEvent::QueueStats { queues, received } => {
                self.broker.saw_data(received);
                queues::apply_stats(&mut self.queues, queues, received, &self.thresholds)
            }
            ModelEvent::QueueDepth {
                name,
                ready,
                consumers,
                received,
            } => {
                self.broker.saw_data(received);
                queues::apply_depth(
                    &mut self.queues,
                    &name,
                    ready,
                    consumers,
                    received,
                    &self.thresholds,
                )
            }
            ModelEvent::Requests {
                queue,
                offset,
                total,
                mut rows,
            } => {
                // A late answer about a queue the operator has left is stale.
                if self.requests.as_ref().is_some_and(|p| p.queue != queue) {
                    return false;
                }
                rows.truncate(self.thresholds.requests_cap);
                let asked = self.requests.as_ref().map_or(offset, |p| p.asked);
                self.requests = Some(RequestPage {
                    queue,
                    offset,
                    total,
                    rows,
                    asked,
                });
                true
            }
            ModelEvent::Rejected { total, mut rows } => {
                rows.truncate(self.thresholds.requests_cap);
                self.rejected = Some(RejectedPage { total, rows });
                true
            }
            ModelEvent::Status { status, received } => {
                self.broker.saw_data(received);
                let changed = running::apply_status(&mut self.running, &status, received);
                running::cap(&mut self.running, self.thresholds.running_cap);
                changed
            }
            ModelEvent::Result(entry) => {
                self.store.saw_data(self.now);
                self.running.retain(|j| j.uuid != entry.uuid);
                self.results.insert(*entry);
                true
            }
            ModelEvent::LogChunk { chunk, received } => {
                self.broker.saw_data(received);
                match &mut self.log {
                    Some(log) if log.uuid == chunk.uuid => {
                        log.append_chunk(&chunk);
                        true
                    }
                    _ => false,
                }
            }
            ModelEvent::LogText { uuid, text, cut_at } => {
                self.store.saw_data(self.now);
                match &mut self.log {
                    Some(log) if log.uuid == uuid => {
                        log.set_text(&text);
                        log.cut_at = cut_at;
                        true
                    }
                    _ => false,
                }
            }
            ModelEvent::LogError { uuid, message } => {
                let shown = self.log.as_ref().is_some_and(|l| l.uuid == uuid);
                if shown {
                    if let Some(log) = &mut self.log {
                        log.error = Some(message.clone());
                    }
                    self.set_status(Level::Error, format!("log: {message}"));
                }
                shown
            }
            ModelEvent::BrokerNode { node, cluster } => {
                let named = nodes::named(&node, &cluster);
                let changed = self.broker_node != named;
                self.broker_node = named;
                changed
            }
            ModelEvent::Nodes { nodes, received } => {
                let before = self.nodes.clone();
                nodes::update(&mut self.nodes, nodes, received);
                self.nodes != before
            }
            ModelEvent::Audit(record) => {
                if !self.audit.iter().any(|r| r.id == record.id) {
                    let at = self.audit.partition_point(|r| r.at <= record.at);
                    self.audit.insert(at, record);
                    if self.audit.len() > self.thresholds.audit_cap {
                        let excess = self.audit.len() - self.thresholds.audit_cap;
                        self.audit.drain(..excess);
                    }
                }
                true
            }
            ModelEvent::Connection {
                service,
                state,
                endpoint,
            } => {
                let conn = match service {
                    Service::Broker => &mut self.broker,
                    Service::Store => &mut self.store,
                    Service::Management => &mut self.management,
                };
                conn.set(state, endpoint, self.now)
            }
            ModelEvent::OpOutcome { id, ok, message } => {
                let what = self.pending.remove(&id).unwrap_or_default();
                if let Some(b) = self.batch_of.remove(&id)
                    && let Some(batch) = self.batches.get_mut(&b)
                {
                    batch.answer(ok, &what, &message);
                    let (level, text) = batch.summary();
                    if batch.answered() == batch.total {
                        self.batches.remove(&b);
                    }
                    self.set_status(level, text);
                    return true;
                }
                let text = if what.is_empty() {
                    message
                } else {
                    format!("{what}: {message}")
                };
                self.set_status(if ok { Level::Ok } else { Level::Error }, text);
                true
            }
            ModelEvent::EmbeddedWorker { running } => {
                self.embedded_worker = Some(running);
                true
            }
        }
    }

    pub fn set_status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(StatusMsg {
            level,
            text: text.into(),
            at: self.now,
        });
    }

    /// Judged at [`Model::judged_at`]: while the console itself has lost the broker, silence
    /// from the workers is its own outage, not theirs.
    pub fn health(&self, worker: &WorkerRow) -> Health {
        worker.health(self.judged_at(), &self.thresholds)
    }

    /// Now, or when the console's own broker connection went away, if it is away: health and
    /// silence are not judged on time the console could not hear anything.
    pub fn judged_at(&self) -> DateTime<Utc> {
        match &self.broker.state {
            ConnState::Reconnecting { since, .. } | ConnState::Down { since, .. } => {
                (*since).min(self.now)
            }
            _ => self.now,
        }
    }

    pub fn worker(&self, id: &str) -> Option<&WorkerRow> {
        self.workers.iter().find(|w| w.heartbeat.id == id)
    }

    /// Why a job counts as hung, if it does.
    pub fn hung(&self, job: &RunningJob) -> Option<HungReason> {
        let lost = job
            .worker
            .as_deref()
            .and_then(|w| self.worker(w))
            .is_some_and(|w| self.health(w) == Health::Lost);
        job.hung(self.judged_at(), self.thresholds.silent_secs, lost)
    }

    pub fn hung_count(&self) -> usize {
        self.running
            .iter()
            .filter(|j| self.hung(j).is_some())
            .count()
    }

    pub fn lost_count(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| self.health(w) == Health::Lost)
            .count()
    }

    /// Open a log buffer for a job; the caller asks the readers for its content.
    pub fn open_log(&mut self, source: LogSource) {
        if self.log.as_ref().is_some_and(|l| l.source == source) {
            return;
        }
        self.log = Some(LogBuffer::new(
            source,
            self.thresholds.log_max_lines,
            self.thresholds.log_max_bytes,
        ));
    }

    /// A rough count of the bytes the model holds, for the benchmark.
    pub fn approx_bytes(&self) -> usize {
        let s = |x: &String| x.capacity();
        let v = |x: &Vec<String>| x.iter().map(String::capacity).sum::<usize>() + x.capacity() * 24;
        let mut n = std::mem::size_of::<Self>();
        n += self
            .queues
            .iter()
            .map(|q| std::mem::size_of::<QueueRow>() + s(&q.name) + q.history.len() * 8)
            .sum::<usize>();
        if let Some(p) = &self.requests {
            n += p
                .rows
                .iter()
                .map(|r| {
                    std::mem::size_of::<RequestRow>()
                        + s(&r.package)
                        + v(&r.triggers)
                        + s(&r.requester)
                        + s(&r.body)
                        + r.uuid.as_ref().map_or(0, String::capacity)
                })
                .sum::<usize>();
        }
        n += self
            .workers
            .iter()
            .map(|w| {
                let h = &w.heartbeat;
                std::mem::size_of::<WorkerRow>()
                    + s(&h.id)
                    + s(&h.host)
                    + v(&h.releases)
                    + v(&h.queues)
                    + v(&h.contexts)
                    + 256
            })
            .sum::<usize>();
        n += self
            .running
            .iter()
            .map(|j| std::mem::size_of::<RunningJob>() + j.logtail.capacity() + 256)
            .sum::<usize>();
        n += self.results.len()
            * (std::mem::size_of::<crate::protocol::messages::IndexEntry>() + 384);
        n += self.log.as_ref().map_or(0, LogBuffer::bytes);
        n
    }
}

/// `adtop.rejected` as the Rejected view shows it: its depth and its oldest requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedPage {
    pub total: u64,
    pub rows: Vec<Rejected>,
}

/// A bulk action's outcomes as they come in: `cancel: 3 of 9 done, 6 failed: why`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub verb: String,
    pub total: usize,
    pub done: usize,
    /// What failed and why (raw: sanitised when drawn), in the order the answers came.
    pub failed: Vec<(String, String)>,
}

impl Batch {
    pub fn new(verb: impl Into<String>, total: usize) -> Self {
        Self {
            verb: verb.into(),
            total,
            done: 0,
            failed: Vec::new(),
        }
    }

    pub fn answered(&self) -> usize {
        self.done + self.failed.len()
    }

    fn answer(&mut self, ok: bool, what: &str, message: &str) {
        if ok {
            self.done += 1;
        } else {
            self.failed.push((what.to_string(), message.to_string()));
        }
    }

    /// The status line: progress while answers come, then the tally and why the failures
    /// failed (each distinct reason once, with how many it hit).
    pub fn summary(&self) -> (Level, String) {
        let waiting = self.total.saturating_sub(self.answered());
        let mut text = format!("{}: {} of {} done", self.verb, self.done, self.total);
        if !self.failed.is_empty() {
            let mut reasons: Vec<(&str, usize)> = Vec::new();
            for (_, why) in &self.failed {
                match reasons.iter_mut().find(|(r, _)| *r == why.as_str()) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((why.as_str(), 1)),
                }
            }
            let why = reasons
                .iter()
                .map(|(r, n)| {
                    if *n > 1 {
                        format!("{r} (x{n})")
                    } else {
                        (*r).to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            text.push_str(&format!(", {} failed: {why}", self.failed.len()));
        }
        if waiting > 0 {
            text.push_str(&format!(", {waiting} waiting"));
        }
        let level = if !self.failed.is_empty() {
            Level::Error
        } else if waiting > 0 {
            Level::Info
        } else {
            Level::Ok
        };
        (level, text)
    }
}
