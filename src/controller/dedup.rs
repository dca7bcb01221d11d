//! Knowing whether a request is already queued or running.
//!
//! Queued: the target queue is browsed with `basic.get` on a private channel and every message
//! is left unacknowledged; closing the channel puts them all back where they were (as
//! autopkgtest-cloud does when it publishes queue contents). Running: a `ping` on
//! `adtop.control` makes every worker send a heartbeat at once, and heartbeats name the
//! identity of the job they run.

use std::collections::HashSet;
use std::time::Duration;

use super::look;
use crate::broker::{BrokerError, Session};
use crate::protocol::Request;

/// Browse at most this many messages per queue.
pub const BROWSE_CAP: usize = 20_000;

/// Identities of the requests queued in `queue` (browsed without changing the queue).
pub async fn queued(session: &Session, queue: &str) -> Result<HashSet<String>, BrokerError> {
    let (_, rows) = look::browse(session, queue, 0, BROWSE_CAP).await?;
    Ok(rows
        .iter()
        .filter_map(|r| Request::parse(&r.body).ok())
        .map(|r| r.identity())
        .collect())
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
