//! Taking requests in the order they were queued while someone reads the queue.
//!
//! A reader (the console, `adtop submit`'s duplicate check: [`crate::controller::backlog`])
//! takes a queue's messages and gives them back; a worker served meanwhile would get the first
//! *unread* message and run it ahead of older ones. So the worker asks whether a reading is in
//! progress ([`backlog::reading`], one declare, one round trip per job) before it runs what it
//! was handed:
//!
//! - consuming ([`Gate::admit`]): after the delivery. While a reading is in progress, the
//!   delivery is given back at once, with the worker's consumers cancelled first: a classic
//!   queue puts it back in its place, the reader is handed it (it reads until it has as many
//!   as were queued when it began), and so a duplicate check sees it too. The worker waits
//!   until the reading is over ([`Gate::wait_free`]), consumes again and takes the next
//!   delivery: the true head, since the reader gives everything back in place.
//! - polling (`basic.get`, quorum queues: [`Gate::wait_free`]): before the get. The reader waits
//!   [`backlog::SETTLE`] after taking the lock before it takes anything, so a get right after a
//!   free lock still gets the head; quorum queues put a returned message at the front, so giving
//!   back one taken before the reading began would misplace it.
//!
//! The wait is bounded ([`MAX_WAIT`]: a reading never holds a queue that long), so a stuck
//! reader delays a worker, never stops it: past it, the queue's requests run until the lock is
//! seen free again. The redelivered flag of what comes back changes
//! nothing ([`super::decide::on_receive`] decides by the stored result).

use std::sync::Arc;
use std::time::Duration;

use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::BasicNackOptions;
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};

use crate::broker::{BrokerError, Session};
use crate::controller::backlog;

/// Longest a worker waits for a reading to end before it runs what it has anyway.
pub const MAX_WAIT: Duration = Duration::from_secs(65);
/// How often a waiting worker looks at the lock again.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// A worker's view of the read locks: a channel of its own for the declares, so that a refused
/// one (an older adtop's exclusive lock queue) never closes the channel requests come on.
pub struct Gate {
    session: Arc<Session>,
    ch: tokio::sync::Mutex<Option<Channel>>,
    warned: std::sync::atomic::AtomicBool,
    /// Queues whose reading outlasted [`MAX_WAIT`]: their requests run, read or not, until
    /// the lock is seen free again.
    stuck: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Gate {
    pub fn new(session: Arc<Session>) -> Arc<Self> {
        Arc::new(Self {
            session,
            ch: tokio::sync::Mutex::new(None),
            warned: std::sync::atomic::AtomicBool::new(false),
            stuck: std::sync::Mutex::default(),
        })
    }

    /// Is `queue` being read? A lock that cannot be looked at (no configure permission on
    /// `adtop.reading.*`, say) counts as free, with one warning: the order may then suffer,
    /// the work never stops.
    pub async fn reading(&self, queue: &str) -> bool {
        let mut slot = self.ch.lock().await;
        if slot.as_ref().is_none_or(|c| !c.status().connected()) {
            match self.session.channel().await {
                Ok(c) => *slot = Some(c),
                Err(_) => return false,
            }
        }
        let Some(ch) = slot.as_ref() else {
            return false;
        };
        match backlog::reading(ch, queue).await {
            Ok(false) => {
                self.stuck_now(queue, false);
                false
            }
            Ok(true) => true,
            Err(e) => {
                *slot = None;
                // An older adtop's exclusive lock queue, held: a reading is in progress.
                if locked(&e) {
                    return true;
                }
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        "cannot look at the read lock of {queue} ({e}); requests may be taken out of order while a console or `adtop submit` reads a queue"
                    );
                }
                false
            }
        }
    }

    /// Wait until `queue` is not being read (at most [`MAX_WAIT`]).
    pub async fn wait_free(&self, queue: &str) -> Waited {
        let until = tokio::time::Instant::now() + MAX_WAIT;
        let mut waited = Waited::No;
        while self.reading(queue).await {
            if tokio::time::Instant::now() >= until {
                tracing::warn!(
                    "{queue} has been read for over {} s; taking requests anyway",
                    MAX_WAIT.as_secs()
                );
                self.stuck_now(queue, true);
                return Waited::GaveUp;
            }
            waited = Waited::Yes;
            tokio::time::sleep(LOOK_EVERY).await;
        }
        waited
    }

    /// A delivery from a consumer: run it, or (its queue is being read) give it back at once
    /// ([`give_back`]). Holding it until the reading ends would hide it from the reader: a
    /// duplicate check would miss a queued request.
    pub async fn admit(&self, d: Delivery) -> Admit {
        let queue = d.routing_key.to_string();
        if self.reading(&queue).await && !self.is_stuck(&queue) {
            tracing::debug!("handed a request of {queue} while the queue was read; giving it back");
            return Admit::GiveBack(Box::new(d), queue);
        }
        Admit::Run(Box::new(d))
    }
}

impl Gate {
    fn stuck_now(&self, queue: &str, stuck: bool) {
        if let Ok(mut s) = self.stuck.lock() {
            if stuck {
                s.insert(queue.to_string());
            } else {
                s.remove(queue);
            }
        }
    }

    fn is_stuck(&self, queue: &str) -> bool {
        self.stuck.lock().is_ok_and(|s| s.contains(queue))
    }
}

/// What to do with a delivery ([`Gate::admit`]).
pub enum Admit {
    Run(Box<Delivery>),
    /// Give it back with [`give_back`], wait until the queue is not read ([`Gate::wait_free`])
    /// and take the next delivery.
    GiveBack(Box<Delivery>, String),
}

/// Give back a delivery handed over during a reading. The worker's consumers must be cancelled
/// first: a nack frees the prefetch slot, and the broker may fill it with the next message
/// before it has put the nacked one back in its place; consuming again once the reading is
/// over gets the true head.
pub async fn give_back(d: &Delivery) {
    let back = d
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
    if let Err(e) = back {
        // The channel is gone, and the broker requeues the delivery with it.
        tracing::debug!("give back a request taken during a read: {e}");
    }
}

/// What [`Gate::wait_free`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The queue was not being read.
    No,
    /// It was, and the reading is over.
    Yes,
    /// It still is after [`MAX_WAIT`].
    GaveUp,
}

fn locked(e: &BrokerError) -> bool {
    match e {
        BrokerError::Amqp { source, .. } => matches!(
            source.kind(),
            lapin::ErrorKind::ProtocolError(p)
                if matches!(p.kind(), AMQPErrorKind::Soft(AMQPSoftError::RESOURCELOCKED))
        ),
        _ => false,
    }
}
