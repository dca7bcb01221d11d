//! Knowing whether a request is already queued or running.
//!
//! Queued: the target queue's whole ready backlog is read once per batch without reordering it
//! ([`super::backlog`]); the submitter keeps the identities and adds each one it publishes.
//! A queue deeper than [`backlog::READ_CAP`] is checked only that far, and the submitter says so. Running: a `ping` on
//! `adtop.control` makes every worker send a heartbeat at once, and heartbeats name the
//! identity of the job they run.

use std::collections::HashSet;
use std::time::Duration;

use super::{backlog, look};
use crate::broker::{BrokerError, Session};
use crate::protocol::Request;

/// What is queued in one queue, as far as it was read.
#[derive(Debug, Clone, Default)]
pub struct Queued {
    pub identities: HashSet<String>,
    /// Set when the read stopped before the end: how many of how many were checked.
    pub unchecked: Option<String>,
}

/// Identities of the requests queued in `queue` (read without changing the queue).
pub async fn queued(session: &Session, queue: &str) -> Result<Queued, BrokerError> {
    let b = backlog::read(session, queue, backlog::READ_CAP).await?;
    let unchecked = (!b.complete).then(|| {
        format!(
            "duplicates checked against the first {} of {} requests queued on {queue} only",
            b.messages.len(),
            b.total
        )
    });
    Ok(Queued {
        identities: b
            .messages
            .iter()
            .filter_map(|m| Request::parse(&m.body).ok())
            .map(|r| r.identity())
            .collect(),
        unchecked,
    })
}

/// (queue, identity) of every job running now, from the heartbeats that answer a ping.
pub async fn running(
    session: &Session,
    wait: Duration,
) -> Result<HashSet<(String, String)>, BrokerError> {
    let workers = look::workers(session, wait, "adtop submit").await?;
    Ok(workers
        .into_iter()
        .filter_map(|w| w.heartbeat.job.map(|j| (j.queue, j.identity)))
        .collect())
}
