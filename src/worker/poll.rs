//! Taking requests one at a time by polling, for quorum queues.
//!
//! A worker takes one request at a time across all its queues. On classic queues that is a
//! consumer per queue under one channel-wide (`global`) prefetch of 1; quorum queues refuse
//! global prefetch (NOT_IMPLEMENTED), and a prefetch of 1 per consumer would let the worker hold
//! one request per queue while it runs another. So on quorum queues it asks for exactly one
//! request when it is free: `basic.get` on each of its queues in a shuffled order, then a short
//! wait when all are empty (what autopkgtest-cloud's successor does too). Before each get it
//! waits for a reading of that queue to end ([`super::take`]), so that a get never takes the
//! first unread message of a queue someone is reading.

use std::sync::Arc;
use std::time::Duration;

use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicGetOptions, BasicNackOptions};
use tokio::sync::oneshot;

use super::take::Gate;

/// How long a free worker waits before asking its empty queues again.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Ask for the next request in a task of its own, so that the worker's loop can wait for it
/// beside control messages and signals without ever dropping a fetched request: a request
/// fetched after the asker stopped waiting goes straight back to its queue.
pub fn next(
    ch: Channel,
    mut queues: Vec<String>,
    gate: Arc<Gate>,
) -> oneshot::Receiver<lapin::Result<Delivery>> {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let seed = uuid::Uuid::new_v4().as_u128();
        if !queues.is_empty() {
            let len = queues.len();
            queues.rotate_left(usize::try_from(seed % len as u128).unwrap_or(0));
        }
        loop {
            for q in &queues {
                gate.wait_free(q).await;
                match ch
                    .basic_get(q.as_str().into(), BasicGetOptions::default())
                    .await
                {
                    Ok(Some(m)) => {
                        if let Err(Ok(d)) = tx.send(Ok(m.delivery)) {
                            let _ = d
                                .nack(BasicNackOptions {
                                    requeue: true,
                                    ..Default::default()
                                })
                                .await;
                        }
                        return;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(IDLE_POLL).await;
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}
