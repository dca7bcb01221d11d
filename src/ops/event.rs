//! What the console takes in: the events the feed ([`super::feed`]) reads from the broker and
//! the store, and the plain data they carry. Defined here, below the console, so that the feed
//! and the scripting commands never import the console; the console re-exports them.

use chrono::{DateTime, Utc};

use crate::protocol::messages::{AuditRecord, Heartbeat, IndexEntry, LogChunk, TestStatus};

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
    /// What `adtop.rejected` holds (asked by `Fetch::Requests` for that queue), oldest first;
    /// `total` is its depth.
    Rejected {
        total: u64,
        rows: Vec<super::rejected::Rejected>,
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
    /// A stored log, whole or up to the reader's cap (the reader gunzips it). `cut_at` is the
    /// cap in bytes when the log was longer than that and the rest was not read.
    LogText {
        uuid: String,
        text: String,
        cut_at: Option<u64>,
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
    /// The broker's nodes (management API): a cluster's, or the one.
    Nodes {
        nodes: Vec<NodeStat>,
        received: DateTime<Utc>,
    },
    /// `/api/overview`: the node whose management API answered, and the cluster's name (raw).
    BrokerNode {
        node: String,
        cluster: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Broker,
    Store,
    /// RabbitMQ's management API: queue lists, depths of what is off screen, nodes.
    Management,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Never connected yet.
    Connecting,
    Connected,
    /// Lost, retrying with backoff since `since`.
    Reconnecting {
        since: DateTime<Utc>,
        attempt: u32,
    },
    /// Given up for now (or not configured); `reason` says why.
    Down {
        since: DateTime<Utc>,
        reason: String,
    },
}

/// One broker node as the management API reports it (raw name: sanitise before drawing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStat {
    pub name: String,
    pub running: bool,
}

/// One queue as the management API (or a passive declare) reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStat {
    pub name: String,
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u32,
    /// Messages per second.
    pub publish_rate: f64,
    pub deliver_rate: f64,
    /// `x-max-priority` the queue was declared with (debci's queues: 10).
    pub max_priority: Option<u8>,
    /// The head message's AMQP `timestamp`, when the management API reports it.
    pub head_timestamp: Option<DateTime<Utc>>,
}

/// One queued request, as read from the queue (raw strings: sanitise before drawing).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow {
    pub package: String,
    pub triggers: Vec<String>,
    pub requester: String,
    pub submit_time: Option<DateTime<Utc>>,
    pub priority: Option<u8>,
    pub uuid: Option<String>,
    /// The message body as queued, so that a cancel can match it exactly.
    pub body: String,
}
