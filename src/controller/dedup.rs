//! Knowing whether a request is already queued or running.
//!
//! Queued: the target queue's whole ready backlog is read once per batch without reordering it
//! ([`super::backlog`]); the submitter keeps the identities and adds each one it publishes.
//! The check is exact at any depth up to [`backlog::READ_CAP`] messages, also while adtop's
//! workers consume (they give back what they are handed during the read); past a cap, or when
//! another consumer kept some during the read, the submitter says on stderr how many of how
//! many it did not check. Running: a `ping` on
//! `adtop.control` makes every worker send a heartbeat at once, and heartbeats name the
//! identity of the job they run; the management API's count of the workers bound to
//! `adtop.control` ends the wait as soon as all have answered.

use std::collections::HashSet;
use std::time::Duration;

use super::{backlog, look};
use crate::broker::management::Management;
use crate::broker::{BrokerError, Session};
use crate::protocol::{Request, names};

/// What is queued in one queue, as far as it was read.
#[derive(Debug, Clone, Default)]
pub struct Queued {
    pub identities: HashSet<String>,
    /// Set when the read stopped before the end: how many of how many were checked.
    pub unchecked: Option<String>,
    /// Where the time went (benches/dedup.rs).
    pub spent: Spent,
}

/// Where the time of one check went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// Taking and releasing the queue's read lock ([`backlog::Spent::lock`]).
    pub lock: Duration,
    /// Reading the queue ([`backlog::Spent::read`]).
    pub read: Duration,
    /// Parsing bodies and computing identities: within [`Spent::read`] (done as deliveries
    /// come in), not after it.
    pub identities: Duration,
}

/// Identities of the requests queued in `queue` (read without changing the queue).
pub async fn queued(session: &Session, queue: &str) -> Result<Queued, BrokerError> {
    queued_up_to(session, queue, backlog::READ_CAP).await
}

/// [`queued`], reading at most `cap` messages.
pub async fn queued_up_to(
    session: &Session,
    queue: &str,
    cap: usize,
) -> Result<Queued, BrokerError> {
    let mut identities = HashSet::new();
    let mut computing = Duration::ZERO;
    // Each body is parsed once, as it arrives, and dropped: only its identity is kept.
    let b = backlog::scan(session, queue, cap, |d| {
        let t = std::time::Instant::now();
        if let Ok(r) = Request::parse(&d.data) {
            identities.insert(r.identity());
        }
        computing += t.elapsed();
    })
    .await?;
    let unchecked = if !b.complete {
        let read = b.read as u64;
        Some(format!(
            "duplicate check incomplete on {queue}: read the first {read} of {} queued requests (a read stops at {} messages, {} MiB or {} s); the other {} were not checked for duplicates",
            b.total,
            backlog::READ_CAP.min(cap),
            backlog::READ_BYTES_CAP >> 20,
            backlog::MAX_HOLD.as_secs(),
            b.total.saturating_sub(read)
        ))
    } else if b.taken > 0 {
        // adtop's workers give back what they are handed during a read; a consumer that kept
        // one is another program's worker (or one that could not look at the read lock).
        Some(format!(
            "duplicate check incomplete on {queue}: {} of the {} queued requests were taken during the read by a consumer that kept them (not adtop's worker, or one running it now) and were not checked as queued",
            b.taken, b.total
        ))
    } else {
        None
    };
    Ok(Queued {
        identities,
        unchecked,
        spent: Spent {
            lock: b.spent.lock,
            read: b.spent.read,
            identities: computing,
        },
    })
}

/// (queue, identity) of every job running now, from the heartbeats that answer a ping: done
/// when every worker bound to `adtop.control` has answered, if the management API (the same
/// broker's: it must know the queue the answers come to) says how many there are, else after
/// `wait`.
pub async fn running(
    session: &Session,
    wait: Duration,
    management: Option<&Management>,
) -> Result<HashSet<(String, String)>, BrokerError> {
    let expected = |listener: String| async move {
        let m = management?;
        // Only the API of the broker the answers come through may say how many to wait for
        // (the default API is the local one, whatever the broker URL): it knows our queue.
        let counted = match m.has_queue(&listener).await {
            Ok(true) => m.bound(names::CONTROL_EXCHANGE, names::CONTROL_ALL).await,
            Ok(false) => {
                tracing::debug!(
                    "the management API {} is another broker's; waiting for the workers' answers",
                    m.base()
                );
                return None;
            }
            Err(e) => Err(e),
        };
        match counted {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::debug!("cannot count the workers, waiting for their answers: {e}");
                None
            }
        }
    };
    let workers = look::workers_expecting(session, wait, "adtop submit", expected).await?;
    Ok(workers
        .into_iter()
        .filter_map(|w| w.heartbeat.job.map(|j| (j.queue, j.identity)))
        .collect())
}
