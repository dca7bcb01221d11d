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
    let mut heartbeats = topology::listen(&listen, names::HEARTBEAT_EXCHANGE, "").await?;
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
                            && let Ok(mut s) = seen.lock()
                        {
                            s.insert(hb.id, Instant::now());
                        }
                    }
                    _ => break,
                },
                _ = tick.tick() => {
                    let silent: Vec<String> = seen
                        .lock()
                        .map(|s| s.iter().filter(|(_, t)| t.elapsed() > after).map(|(id, _)| id.clone()).collect())
                        .unwrap_or_default();
                    for id in silent {
                        // Look before taking: a worker that held nothing has no held queue,
                        // and declaring one for it would leave an empty durable queue behind.
                        let Ok(peek) = session.channel().await else { break };
                        let held = topology::peek_counts(&peek, &names::held_queue(&id)).await;
                        let _ = peek.close(200, "".into()).await;
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
