//! Watching the other workers: requeueing the held requests of one that went silent
//! ([`super::hold::requeue_held`]).
//!
//! Every worker listens to the others' heartbeats. When one it has heard from stays silent for
//! `reclaim_after`, it moves that worker's held requests back to their queues. Several may try
//! at once: each held message is got by one of them only. A worker that died before this one
//! ever heard from it is left to its own restart or to `adtop requeue-held`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::hold;
use crate::broker::{BrokerError, Session, topology};
use crate::protocol::messages::Heartbeat;
use crate::protocol::names;
use crate::store::Store;

/// Last time each other worker was heard from; kept across reconnects.
pub type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// Longest worker id remembered: a held queue's name must fit the broker's 255 bytes.
const ID_MAX: usize = 200;
/// Most workers remembered: past it the longest-silent is forgotten (any publisher may send
/// heartbeats under new ids).
const SEEN_MAX: usize = 10_000;
/// Most silent workers looked at per tick: the rest on the next.
const CHECKS_PER_TICK: usize = 100;
/// Longest wait for the broker's answer about one worker's held queue.
const PEEK_WAIT: Duration = Duration::from_secs(5);

/// Note `id` heard at `at`; when [`SEEN_MAX`] are known, the longest-silent half is forgotten
/// (at once, so that a flood of new ids costs no walk of the map per heartbeat).
fn remember(seen: &mut HashMap<String, Instant>, id: String, at: Instant) {
    if seen.len() >= SEEN_MAX && !seen.contains_key(&id) {
        let mut times: Vec<Instant> = seen.values().copied().collect();
        let half = times.len() / 2;
        let (_, cutoff, _) = times.select_nth_unstable(half);
        let cutoff = *cutoff;
        seen.retain(|_, t| *t > cutoff);
    }
    seen.insert(id, at);
}

/// Listen to heartbeats and requeue silent workers' held requests, until the session's
/// connection drops.
pub async fn watch_silent(
    session: Arc<Session>,
    me: String,
    seen: Seen,
    after: Duration,
    store: Store,
) -> Result<(), BrokerError> {
    let listen = session.channel().await?;
    let mut heartbeats =
        crate::broker::listen::listen(&listen, names::HEARTBEAT_EXCHANGE, "").await?;
    let confirm = session.confirm.clone();
    let get = session.channel().await?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval((after / 2).max(Duration::from_secs(1)));
        loop {
            tokio::select! {
                d = heartbeats.next() => match d {
                    Some(Ok(d)) => {
                        if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&d.data)
                            && hb.id != me
                            && hb.id.len() <= ID_MAX
                            && let Ok(mut s) = seen.lock()
                        {
                            remember(&mut s, hb.id, Instant::now());
                        }
                    }
                    _ => break,
                },
                _ = tick.tick() => {
                    let silent: Vec<String> = seen
                        .lock()
                        .map(|s| s.iter().filter(|(_, t)| t.elapsed() > after).map(|(id, _)| id.clone()).take(CHECKS_PER_TICK).collect())
                        .unwrap_or_default();
                    for id in silent {
                        // Look before taking: a worker that held nothing has no held queue,
                        // and declaring one for it would leave an empty durable queue behind.
                        let Ok(peek) = session.channel().await else { break };
                        let held = tokio::time::timeout(
                            PEEK_WAIT,
                            topology::peek_counts(&peek, &names::held_queue(&id)),
                        )
                        .await;
                        let _ = tokio::time::timeout(PEEK_WAIT, peek.close(200, "".into())).await;
                        let Ok(held) = held else {
                            // The broker is slow to answer: looked at again next time.
                            continue;
                        };
                        if !matches!(held, Ok(Some((n, _))) if n > 0) {
                            if let Ok(mut s) = seen.lock() {
                                s.remove(&id);
                            }
                            continue;
                        }
                        match hold::requeue_held(&confirm, &get, &id, Some(&store)).await {
                            Ok(n) => {
                                if n > 0 {
                                    tracing::warn!("worker {id} silent for over {}s: requeued {n} request(s) it held", after.as_secs());
                                }
                                if let Ok(mut s) = seen.lock() {
                                    s.remove(&id);
                                }
                            }
                            Err(e) => {
                                tracing::warn!("reclaiming {id}'s held requests: {e}");
                                break;
                            }
                        }
                    }
                }
            }
        }
        drop(listen);
        drop(session);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Heartbeats under ever new ids keep the map at its bound, forgetting the longest silent.
    #[test]
    fn new_ids_without_end_keep_the_map_bounded() {
        let mut seen = HashMap::new();
        let t0 = Instant::now();
        for i in 0..SEEN_MAX + 10 {
            remember(
                &mut seen,
                format!("w{i}"),
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert!(
            seen.len() <= SEEN_MAX && seen.len() > SEEN_MAX / 2,
            "{}",
            seen.len()
        );
        assert!(!seen.contains_key("w0") && seen.contains_key(&format!("w{}", SEEN_MAX + 9)));
        let n = seen.len();
        remember(
            &mut seen,
            format!("w{}", SEEN_MAX + 9),
            t0 + Duration::from_secs(3600),
        );
        assert_eq!(seen.len(), n, "a known id replaces its own time");
    }
}
