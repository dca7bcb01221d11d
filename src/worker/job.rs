//! What a job is while the worker has it: the request, where it came from, where the request
//! is held, and what an attempt produced.

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use tempfile::TempDir;

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
    pub queue: QueueName,
    pub uuid: String,
    pub received: DateTime<Utc>,
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
