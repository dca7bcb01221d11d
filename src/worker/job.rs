//! What a job is while the worker has it: the request, where it came from, where the request
//! is held, and what an attempt produced.

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use tempfile::TempDir;

use crate::protocol::debci::DebciRequest;
use crate::protocol::{ExitCode, QueueName, Request};

/// Where the request is while its test runs.
pub enum Holding {
    /// Still unacknowledged on the consume channel (the normal case).
    Delivery(Box<Delivery>),
    /// Moved to `adtop.held.<id>` past the lease (see [`super::hold`]).
    Held { source_queue: String },
}

/// What the job is: the request plus where it came from.
pub struct Job {
    pub req: Request,
    /// The body exactly as it came (what a requeue or a rejection sends on).
    pub body: Vec<u8>,
    /// The body as the results index records it ([`super::validate::index_body`]).
    pub index_body: String,
    pub priority: Option<u8>,
    pub queue: JobQueue,
    pub uuid: String,
    pub received: DateTime<Utc>,
    /// A request of debci's dialect ([`super::debci`]): run with its options, and its result
    /// also published to debci's results queue.
    pub debci: Option<DebciRequest>,
}

/// Where a job came from: the queue's name (what a requeue or a hold sends it back to) and
/// the release and architecture it runs for. For autopkgtest-cloud's queues both come from
/// the name; for debci's, the suite is in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQueue {
    pub name: String,
    pub release: String,
    pub arch: String,
}

impl From<&QueueName> for JobQueue {
    fn from(q: &QueueName) -> Self {
        Self {
            name: q.to_string(),
            release: q.release.clone(),
            arch: q.arch.clone(),
        }
    }
}

impl std::fmt::Display for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// One attempt's result.
pub struct Attempt {
    pub code: ExitCode,
    /// Removed when the attempt is dropped; autopkgtest's output is in [`Attempt::out`].
    pub dir: TempDir,
    pub started: DateTime<Utc>,
    pub duration: u64,
    /// The live log, capped (the stored log is autopkgtest's own file).
    pub log: String,
    pub watchdog: bool,
}

impl Attempt {
    pub fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }
}
