//! The inputs the model takes from the broker and store readers and from the action executors.

use chrono::{DateTime, Utc};

use crate::protocol::messages::{AuditRecord, Heartbeat, IndexEntry, LogChunk, TestStatus};

use super::model::{ConnState, QueueStat, RequestRow, Service};

/// One thing that happened outside the console. Readers stamp `received` with their clock, so
/// the model never reads the wall clock itself (tests and screenshots stay deterministic).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    /// The console's clock moved (the terminal loop sends this once a second).
    Tick(DateTime<Utc>),
    Heartbeat {
        heartbeat: Box<Heartbeat>,
        received: DateTime<Utc>,
    },
    /// A full list of queues (management API): queues not named are dropped.
    QueueStats {
        queues: Vec<QueueStat>,
        received: DateTime<Utc>,
    },
    /// A live count for one queue (passive declare), between full lists.
    QueueDepth {
        name: String,
        ready: u64,
        consumers: u32,
        received: DateTime<Utc>,
    },
    /// A page of a queue's requests, as asked by `Fetch::Requests`; `total` is the queue depth.
    Requests {
        queue: String,
        offset: usize,
        total: u64,
        rows: Vec<RequestRow>,
    },
    Status {
        status: Box<TestStatus>,
        received: DateTime<Utc>,
    },
    Result(Box<IndexEntry>),
    LogChunk {
        chunk: LogChunk,
        received: DateTime<Utc>,
    },
    /// A stored log, whole (the reader gunzips it).
    LogText {
        uuid: String,
        text: String,
    },
    /// The log could not be read.
    LogError {
        uuid: String,
        message: String,
    },
    Audit(AuditRecord),
    Connection {
        service: Service,
        state: ConnState,
        endpoint: Option<String>,
    },
    /// The answer to `Outbound::Op { id, .. }`.
    OpOutcome {
        id: u64,
        ok: bool,
        message: String,
    },
    /// The embedded worker started or stopped.
    EmbeddedWorker {
        running: bool,
    },
}
