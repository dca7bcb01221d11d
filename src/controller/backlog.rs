//! Reading a queue's whole ready backlog without changing the order workers take it in.
//!
//! Browsing with `basic.get` and giving each message back disturbs a queue a worker consumes:
//! while the reader holds the first messages, a worker that asks gets the next unread one, and
//! runs it ahead of older ones. Two things keep the order:
//!
//! - The reader subscribes with a consumer priority above any worker's and no prefetch limit,
//!   so the broker hands it every ready message and a worker asking meanwhile mostly gets
//!   nothing (RabbitMQ serves lower-priority consumers only while the higher ones are blocked,
//!   and credit flow blocks the reader now and then: not never).
//! - So the read holds a broker-wide lock ([`ReadLock`]) that adtop's worker looks at
//!   ([`reading`], one declare) after every delivery: a worker handed a message while a read
//!   is in progress gives it back at once, so that the reader sees it too, waits until the
//!   read is over, and takes the next delivery, the true head ([`crate::worker::take`]). Only
//!   adtop's worker cooperates; a foreign consumer (autopkgtest-cloud's own worker) is kept
//!   off by the priority alone, and what it takes during a read is counted
//!   ([`Scanned::taken`]), not seen.
//!
//! The reader stops its subscription first, then gives everything back with one
//! `basic.nack(multiple, requeue)`: a classic queue puts requeued messages back where they
//! were, so the next worker takes the true head. Nothing is acknowledged, so nothing can be
//! lost; a reader that dies mid-read gives everything back when its channel closes, and frees
//! the lock with its connection. The messages come back marked redelivered, which the worker
//! ignores (`worker::decide` decides by the stored result, never the flag).

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};

use super::look::Queued;
use crate::broker::{BrokerError, Session, topology};

/// Most messages one read holds.
pub const READ_CAP: usize = 200_000;
/// Most body bytes one read holds.
pub const READ_BYTES_CAP: usize = 256 << 20;
/// Consumer priority of a reader: above any worker (workers consume at the default, 0).
pub const READER_PRIORITY: i32 = 100;
/// A read that gets nothing new for this long asks whether anything is left (the queue may
/// have shrunk between the count and the subscription).
const STALL: Duration = Duration::from_millis(20);
/// A read that has fewer than were counted, with nothing left ready, waits this long for what
/// a worker was handed meanwhile and gives back ([`crate::worker::take`]: one declare, the
/// cancels, a nack; milliseconds) before it counts the rest as taken.
pub const RETURNS: Duration = Duration::from_millis(500);
/// A read never holds a queue longer than this.
pub const MAX_HOLD: Duration = Duration::from_secs(60);

/// A queue's ready messages, in queue order, as read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backlog {
    /// Ready messages when the read began (live count).
    pub total: u64,
    pub messages: Vec<Queued>,
    /// False when the read stopped at a cap or the time limit before the end of the queue
    /// (fewer messages than `total` because workers took some meanwhile is still complete).
    pub complete: bool,
    /// As [`Scanned::taken`].
    pub taken: u64,
}

/// Read every ready message of `queue` (at most `cap`) and give them all back in place.
pub async fn read(session: &Session, queue: &str, cap: usize) -> Result<Backlog, BrokerError> {
    let mut messages = Vec::new();
    let seen = scan(session, queue, cap, |d| {
        messages.push(Queued {
            priority: *d.properties.priority(),
            uuid: super::look::queued_uuid(queue, &d.data, &d.properties),
            headers: super::look::adtop_headers(&d.properties),
            body: d.data,
        });
    })
    .await?;
    Ok(Backlog {
        total: seen.total,
        messages,
        complete: seen.complete,
        taken: seen.taken,
    })
}

/// What a [`scan`] saw of the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Ready messages when the read began (live count).
    pub total: u64,
    /// Messages handed to the visitor.
    pub read: usize,
    /// As [`Backlog::complete`].
    pub complete: bool,
    /// Counted when the read began but never handed to it: taken meanwhile by a consumer that
    /// keeps what it takes (running it, or not adtop's worker), so not seen. Zero when cut short.
    pub taken: u64,
    pub spent: Spent,
}

/// Where the time of one read went (benches/dedup.rs prints it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// Taking the lock (with its [`SETTLE`]) and releasing it (with its [`GRACE`]).
    pub lock: Duration,
    /// From the first message asked for until everything is given back, the visitor's work
    /// included (it runs as deliveries come in).
    pub read: Duration,
}

/// Read every ready message of `queue` (at most `cap`) as [`read`] does, handing each delivery
/// to `visit` as it comes in (in queue order) instead of keeping it: a caller that needs a
/// little of each message (the duplicate check: identities) works while the broker is still
/// delivering, and holds no bodies.
pub async fn scan<F>(
    session: &Session,
    queue: &str,
    cap: usize,
    visit: F,
) -> Result<Scanned, BrokerError>
where
    F: FnMut(lapin::message::Delivery),
{
    // Two readers at once would each get part of the queue, and one would see the other's
    // give-back out of order: one read at a time per process, and per queue across the broker.
    let _local = LOCAL.lock().await;
    let t = std::time::Instant::now();
    let lock = ReadLock::take(session, queue).await?;
    let mut spent = Spent {
        lock: t.elapsed(),
        ..Spent::default()
    };
    let t = std::time::Instant::now();
    let ch = session.channel().await?;
    let r = read_on(&ch, queue, cap.min(READ_CAP), visit).await;
    // Closing the channel requeues whatever is still held (the in-flight tail), in place; its
    // close-ok comes after the give-back, so the lock is released only after that.
    let _ = ch.close(200, "read".into()).await;
    spent.read = t.elapsed();
    let t = std::time::Instant::now();
    lock.release().await;
    spent.lock += t.elapsed();
    r.map(|(total, read, complete)| Scanned {
        total,
        read,
        complete,
        taken: if complete {
            total.saturating_sub(read as u64)
        } else {
            0
        },
        spent,
    })
}

static LOCAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Name of the queue whose consumer is a queue's read lock: `adtop.reading.<queue>`.
pub fn lock_name(queue: &str) -> String {
    format!("{LOCK_PREFIX}{queue}")
}

pub const LOCK_PREFIX: &str = "adtop.reading.";

/// A lock queue nobody uses (no consumer, no declare) for this long is deleted by the broker.
pub const LOCK_EXPIRES_MS: i32 = 60_000;
/// Between taking the lock and the first message taken: a worker that polls (`basic.get`)
/// looks at the lock before it asks, and what it gets within this time is still the true head.
pub const SETTLE: Duration = Duration::from_millis(100);
/// Between the give-back and releasing the lock: a worker that was handed a message just
/// before the give-back still sees the lock when it looks (one round trip after the delivery).
pub const GRACE: Duration = Duration::from_millis(200);

/// The lock queue's arguments: the same on every declare, the reader's and every worker's (a
/// declare with other arguments fails and closes its channel).
pub fn lock_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongInt(LOCK_EXPIRES_MS));
    args
}

/// Is `queue` being read now? One non-passive declare of its lock queue (created when missing,
/// so this never fails for a queue nobody reads) and its consumer count: the reader holds the
/// lock by consuming the lock queue with an exclusive consumer. This is what a worker asks
/// before it runs (or polls for) a request ([`crate::worker::take`]).
pub async fn reading(ch: &lapin::Channel, queue: &str) -> Result<bool, BrokerError> {
    let q = ch
        .queue_declare(
            lock_name(queue).as_str().into(),
            QueueDeclareOptions::default(),
            lock_args(),
        )
        .await
        .map_err(BrokerError::amqp(format!(
            "look at the read lock of {queue}"
        )))?;
    Ok(q.consumer_count() > 0)
}

/// A queue's broker-wide read lock, held while its messages are taken and given back: an
/// exclusive consumer on the non-exclusive lock queue (the broker refuses a second exclusive
/// consumer; anyone can declare the queue and count its consumers without closing a channel).
/// A reader that dies frees it with its connection.
pub struct ReadLock {
    ch: Option<lapin::Channel>,
    /// Kept: lapin cancels a consumer when its handle is dropped, which would free the lock.
    _consumer: lapin::Consumer,
}

impl Drop for ReadLock {
    /// Dropped unreleased (an error path): free the lock now, without the grace.
    fn drop(&mut self) {
        if let (Some(ch), Ok(rt)) = (self.ch.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = ch.close(200, "read".into()).await;
            });
        }
    }
}

impl ReadLock {
    /// Wait (up to the longest a read holds a queue) for the lock, then [`SETTLE`].
    pub async fn take(session: &Session, queue: &str) -> Result<Self, BrokerError> {
        let until = tokio::time::Instant::now() + MAX_HOLD;
        loop {
            let ch = session.channel().await?;
            let tried = async {
                reading(&ch, queue).await?;
                ch.basic_consume(
                    lock_name(queue).as_str().into(),
                    "".into(),
                    BasicConsumeOptions {
                        exclusive: true,
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(BrokerError::amqp(format!("lock {queue} for reading")))
            }
            .await;
            match tried {
                Ok(consumer) => {
                    tokio::time::sleep(SETTLE).await;
                    return Ok(Self {
                        ch: Some(ch),
                        _consumer: consumer,
                    });
                }
                // Refused (another reader holds it): the broker closed the channel.
                Err(e) if tokio::time::Instant::now() >= until => {
                    let _ = ch.close(200, "lock".into()).await;
                    return Err(BrokerError::Lost {
                        what: format!("wait for another reader of {queue} ({e})"),
                    });
                }
                Err(_) => {
                    let _ = ch.close(200, "lock".into()).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            if !session.alive() {
                return Err(BrokerError::Lost {
                    what: format!("read {queue}"),
                });
            }
        }
    }

    /// Release after [`GRACE`] (the caller has given everything back).
    pub async fn release(mut self) {
        tokio::time::sleep(GRACE).await;
        if let Some(ch) = self.ch.take() {
            let _ = ch.close(200, "read".into()).await;
        }
    }
}

/// (ready when the read began, messages visited, complete).
async fn read_on<F>(
    ch: &lapin::Channel,
    queue: &str,
    cap: usize,
    mut visit: F,
) -> Result<(u64, usize, bool), BrokerError>
where
    F: FnMut(lapin::message::Delivery),
{
    let Some((ready, _)) = topology::peek_counts(ch, queue).await? else {
        return Err(BrokerError::NoQueue {
            queue: queue.to_string(),
        });
    };
    let total = u64::from(ready);
    let want = usize::try_from(ready).unwrap_or(usize::MAX).min(cap);
    if want == 0 {
        return Ok((total, 0, ready == 0));
    }
    ch.basic_qos(0, BasicQosOptions { global: false })
        .await
        .map_err(BrokerError::amqp(format!("read {queue}")))?;
    let mut args = FieldTable::default();
    args.insert("x-priority".into(), AMQPValue::LongInt(READER_PRIORITY));
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            args,
        )
        .await
        .map_err(BrokerError::amqp(format!("read {queue}")))?;
    let tag = consumer.tag().to_string();
    let until = tokio::time::Instant::now() + MAX_HOLD;
    let mut bytes = 0usize;
    let mut last_tag = None;
    let mut read = 0usize;
    // When the read first found nothing ready with fewer read than counted.
    let mut short_since: Option<tokio::time::Instant> = None;
    // Cut short by a cap or the time limit (not by the end of the queue).
    let mut cut = ready as usize > want;
    let mut take = |d: lapin::message::Delivery, read: &mut usize| {
        last_tag = Some(d.delivery_tag);
        bytes = bytes.saturating_add(d.data.len());
        *read += 1;
        visit(d);
        bytes >= READ_BYTES_CAP
    };
    // Until nothing is ready, not only until as many as were counted: a request a worker held at
    // the count (handed to it just before, so not counted) and gives back during the read
    // stands ahead of the tail again, and reading only `want` left the last one unread (seen in
    // tests/scale.rs under load). What arrives past the count is read too, up to the cap.
    // Past the count, nothing more is waited for (a queue britney keeps filling would hold the
    // lock until the cap): only what is already handed to us, unless the queue still shows more.
    let mut more_ready = false;
    while read < cap {
        let now = tokio::time::Instant::now();
        let deadline = if read < want || more_ready {
            (now + STALL).min(until)
        } else {
            now
        };
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                if take(d, &mut read) {
                    cut = read < want;
                    break;
                }
            }
            Ok(Some(Err(e))) => {
                return Err(BrokerError::Amqp {
                    what: format!("read {queue}"),
                    source: e,
                });
            }
            Ok(None) => break,
            Err(_) if tokio::time::Instant::now() >= until => {
                cut = true;
                break;
            }
            // Nothing for a moment: fewer are left than were counted (a worker took some, or
            // was handed some and is giving them back), or the broker is slow. Nothing ready
            // any more means everything there is was handed to our channel (or to a worker
            // giving it back: [`RETURNS`]), but not that it reached us: the channel process
            // answers the count (a call to the queue) ahead of deliveries already waiting in
            // its mailbox, so the count can overtake thousands of them (a read of 50,000
            // stopped at 22,450 this way). One more round trip on this channel is answered
            // only after those deliveries (same sender, same priority: in order), and lapin
            // hands a delivery to the consumer before it resolves a later reply: after it,
            // everything handed to us is in the consumer.
            Err(_) => {
                let ready = topology::peek_counts(ch, queue).await?.map(|(r, _)| r);
                more_ready = ready.is_some_and(|r| r > 0);
                if ready == Some(0) {
                    ch.basic_qos(0, BasicQosOptions { global: false })
                        .await
                        .map_err(BrokerError::amqp(format!("read {queue}")))?;
                    use futures::FutureExt;
                    let mut full = false;
                    while read < cap {
                        match consumer.next().now_or_never() {
                            Some(Some(Ok(d))) => {
                                if take(d, &mut read) {
                                    cut = read < want;
                                    full = true;
                                    break;
                                }
                            }
                            _ => break,
                        }
                    }
                    let now = tokio::time::Instant::now();
                    if full || read >= want || now - *short_since.get_or_insert(now) >= RETURNS {
                        break;
                    }
                }
            }
        }
    }
    // The cap reached past the count: more came than were counted, and more may be there.
    cut |= read >= cap && read > want;
    // Stop the subscription first, so that what is given back is not delivered to us again.
    ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
        .await
        .map_err(BrokerError::amqp(format!("read {queue}")))?;
    if let Some(t) = last_tag {
        ch.basic_nack(
            t,
            BasicNackOptions {
                multiple: true,
                requeue: true,
            },
        )
        .await
        .map_err(BrokerError::amqp(format!("give back {queue}")))?;
    }
    Ok((total, read, !cut))
}
