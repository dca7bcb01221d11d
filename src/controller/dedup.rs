//! Knowing whether a request is already queued or running.
//!
//! Queued: the target queue is browsed with `basic.get` on a private channel and every message
//! is left unacknowledged; closing the channel puts them all back where they were (as
//! autopkgtest-cloud does when it publishes queue contents). Running: a `ping` on
//! `adtop.control` makes every worker send a heartbeat at once, and heartbeats name the
//! identity of the job they run.

use std::collections::HashSet;
use std::time::Duration;

use lapin::options::BasicGetOptions;

use crate::broker::{BrokerError, Session};
use crate::protocol::Request;

/// Browse at most this many messages per queue.
pub const BROWSE_CAP: usize = 20_000;

/// Identities of the requests queued in `queue`.
pub async fn queued(session: &Session, queue: &str) -> Result<HashSet<String>, BrokerError> {
    let ch = session.channel().await?;
    let mut out = HashSet::new();
    for _ in 0..BROWSE_CAP {
        let Some(msg) = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .map_err(BrokerError::amqp(format!("browse {queue}")))?
        else {
            break;
        };
        if let Ok(r) = Request::parse(&msg.delivery.data) {
            out.insert(r.identity());
        }
    }
    // Closing the channel returns every browsed message to the queue, unacknowledged.
    let _ = ch.close(200, "browsed".into()).await;
    Ok(out)
}

/// (queue, identity) of every job running now, from the heartbeats that answer a ping.
pub async fn running(
    session: &Session,
    wait: Duration,
) -> Result<HashSet<(String, String)>, BrokerError> {
    let workers = crate::ops::read::workers(session, wait, "adtop submit").await?;
    Ok(workers
        .into_iter()
        .filter_map(|hb| hb.job.map(|j| (j.queue, j.identity)))
        .collect())
}
