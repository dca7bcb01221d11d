//! What the console asks of the outside world: confirmed operator actions and data it wants.
//!
//! The console never acts itself. A confirmed action leaves as an [`OpRequest`] with an id; the
//! executor ([`super::feed`]) answers with [`super::event::ModelEvent::OpOutcome`] carrying the
//! same id, and is the place that writes the audit record.

use super::rules::Verb;
use crate::protocol::messages::{AfterStop, IndexEntry};

/// A confirmed operator action, one per target row.
#[derive(Debug, Clone, PartialEq)]
pub enum OpRequest {
    /// Resubmit exactly what ran (`entry.body`) to `entry.queue`.
    Retry {
        entry: Box<IndexEntry>,
    },
    /// Remove a queued request. `uuid` when the request carries one; `body` always, to match on.
    Cancel {
        queue: String,
        uuid: Option<String>,
        body: String,
    },
    /// Stop a running job on `worker`, then requeue or cancel its request.
    Stop {
        worker: String,
        uuid: String,
        then: AfterStop,
    },
    Drain {
        worker: String,
    },
    Resume {
        worker: String,
    },
    StartEmbeddedWorker,
    StopEmbeddedWorker,
    /// Queue a rejected request (`body`, as the operator fixed it) on its source queue again,
    /// then remove it from `adtop.rejected` ([`super::rejected::resubmit`]).
    Resubmit {
        id: String,
        target: String,
        body: String,
    },
    /// Remove a rejected request for good.
    Discard {
        id: String,
        target: String,
    },
}

impl OpRequest {
    /// What it does, for status lines and audit records (the same verbs the scripting
    /// commands write).
    pub fn verb(&self) -> Verb {
        match self {
            OpRequest::Retry { .. } => Verb::Retry,
            OpRequest::Cancel { .. } => Verb::Cancel,
            OpRequest::Stop { then, .. } => Verb::stop(*then),
            OpRequest::Drain { .. } => Verb::Drain,
            OpRequest::Resume { .. } => Verb::Resume,
            OpRequest::StartEmbeddedWorker => Verb::StartWorker,
            OpRequest::StopEmbeddedWorker => Verb::StopWorker,
            OpRequest::Resubmit { .. } => Verb::Resubmit,
            OpRequest::Discard { .. } => Verb::Discard,
        }
    }

    /// What it acts on, for the dialog and the audit trail (raw: sanitise before drawing).
    pub fn target(&self) -> String {
        match self {
            OpRequest::Retry { entry } => {
                format!(
                    "{} {}/{}{} ({})",
                    entry.package,
                    entry.release,
                    entry.arch,
                    triggers(&entry.triggers),
                    entry.uuid
                )
            }
            OpRequest::Cancel { queue, uuid, body } => {
                let (pkg, trig) = match crate::protocol::Request::parse(body.as_bytes()) {
                    Ok(r) => (r.package.clone(), triggers(&r.params.triggers)),
                    Err(_) => (
                        body.lines().next().unwrap_or_default().to_string(),
                        String::new(),
                    ),
                };
                match uuid {
                    Some(u) => format!("{pkg}{trig} ({u}) in {queue}"),
                    None => format!("{pkg}{trig} (no uuid) in {queue}"),
                }
            }
            OpRequest::Stop { worker, uuid, .. } => format!("{uuid} on {worker}"),
            OpRequest::Drain { worker } | OpRequest::Resume { worker } => worker.clone(),
            OpRequest::StartEmbeddedWorker | OpRequest::StopEmbeddedWorker => {
                "embedded worker".into()
            }
            OpRequest::Resubmit { target, .. } | OpRequest::Discard { target, .. } => {
                target.clone()
            }
        }
    }
}

/// ` [hello/2.10-3, glibc/2.40-1]`, or nothing without triggers.
fn triggers(t: &[String]) -> String {
    if t.is_empty() {
        String::new()
    } else {
        format!(" [{}]", t.join(", "))
    }
}

/// Data the console wants read for it. The readers answer with model events.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// One page of a queue's requests, read without losing or reordering messages;
    /// answered by `ModelEvent::Requests` (for `adtop.rejected`: `ModelEvent::Rejected`).
    Requests {
        queue: String,
        offset: usize,
        limit: usize,
    },
    /// Nobody looks at requests any more: stop reading them.
    StopRequests,
    /// The queues on screen (visible rows, the open Requests view): their depths are read
    /// live (about once a second); the others come from the management API every few seconds.
    Watch { queues: Vec<String> },
    /// A job's log: the live tail while it runs (`LogChunk`s, asking the worker for a replay
    /// first), else the stored `log.gz` (`LogText`). `location` is `(container, swift_dir)` of
    /// a finished result.
    Log {
        uuid: String,
        worker: Option<String>,
        location: Option<(String, String)>,
    },
    /// The log view was left: stop the live tail.
    CloseLog,
    /// A package's history beyond the results loaded at start (`:package P`, `P*`, `*P*`),
    /// from the per-package index; answered by `ModelEvent::Result`s.
    History { package: String },
}

/// Everything the console sends out, on one channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// `id` comes back in `ModelEvent::OpOutcome`. `operator` is who confirmed it.
    Op {
        id: u64,
        operator: String,
        op: OpRequest,
    },
    Fetch(Fetch),
}
