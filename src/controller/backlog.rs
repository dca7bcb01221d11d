//! Reading a queue's whole ready backlog without changing the order workers take it in.
//!
//! Browsing with `basic.get` and giving each message back disturbs a queue a worker consumes:
//! while the reader holds the first messages, a worker that asks gets the next unread one, and
//! runs it ahead of older ones. Here the reader subscribes with a consumer priority above any
//! worker's and no prefetch limit, so the broker hands it every ready message and a worker
//! asking meanwhile gets nothing (RabbitMQ serves lower-priority consumers only while the
//! higher ones are blocked). Not quite never: RabbitMQ's credit flow blocks the reader for a
//! moment every couple of hundred deliveries, and a free worker is served then (measured in
//! docs/PERFORMANCE.md); reads are kept rare and shared for that reason. The reader stops its
//! subscription first, then gives everything back with one `basic.nack(multiple, requeue)`:
//! a classic queue puts requeued messages back where they were, so the next worker takes the
//! true head. Nothing is acknowledged, so nothing can be lost; a reader that dies mid-read
//! gives everything back when its channel closes. The messages come back marked redelivered,
//! which the worker ignores (`worker::decide` decides by the stored result, never the flag).

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};

use super::look::Queued;
use crate::broker::{BrokerError, Session, topology};

/// Most messages one read holds.
pub const READ_CAP: usize = 200_000;
/// Most body bytes one read holds.
pub const READ_BYTES_CAP: usize = 256 << 20;
/// Consumer priority of a reader: above any worker (workers consume at the default, 0).
pub const READER_PRIORITY: i32 = 100;
/// A read that gets nothing new for this long has everything there is (the queue may have
/// shrunk between the count and the subscription).
const IDLE: Duration = Duration::from_millis(300);
/// A read never holds a queue longer than this.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// A queue's ready messages, in queue order, as read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backlog {
    /// Ready messages when the read began (live count).
    pub total: u64,
    pub messages: Vec<Queued>,
    /// False when the read stopped at a cap or the time limit before the end of the queue.
    pub complete: bool,
}

/// Read every ready message of `queue` (at most `cap`) and give them all back in place.
pub async fn read(session: &Session, queue: &str, cap: usize) -> Result<Backlog, BrokerError> {
    // Two readers at once would each get part of the queue, and one would see the other's
    // give-back out of order: one read at a time per process, and per queue across the broker.
    let _local = LOCAL.lock().await;
    let lock = lock(session, queue).await?;
    let ch = session.channel().await?;
    let r = read_on(&ch, queue, cap.min(READ_CAP)).await;
    // Closing the channel requeues whatever is still held (the in-flight tail), in place.
    let _ = ch.close(200, "read".into()).await;
    let _ = lock
        .queue_delete(lock_name(queue).as_str().into(), Default::default())
        .await;
    let _ = lock.close(200, "read".into()).await;
    r
}

static LOCAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn lock_name(queue: &str) -> String {
    format!("{LOCK_PREFIX}{queue}")
}

/// Name of the exclusive queue that holds a queue's read lock on the broker.
pub const LOCK_PREFIX: &str = "adtop.reading.";

/// Take `queue`'s read lock: an exclusive queue only one connection can declare (the broker
/// drops it when that connection ends, so a reader that dies frees it).
async fn lock(session: &Session, queue: &str) -> Result<lapin::Channel, BrokerError> {
    let until = tokio::time::Instant::now() + MAX_HOLD;
    loop {
        let ch = session.channel().await?;
        let opts = lapin::options::QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        match ch
            .queue_declare(
                lock_name(queue).as_str().into(),
                opts,
                FieldTable::default(),
            )
            .await
        {
            Ok(_) => return Ok(ch),
            Err(e) if tokio::time::Instant::now() >= until => {
                return Err(BrokerError::Amqp {
                    what: format!("wait for another reader of {queue}"),
                    source: e,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        if !session.alive() {
            return Err(BrokerError::Lost {
                what: format!("read {queue}"),
            });
        }
    }
}

async fn read_on(ch: &lapin::Channel, queue: &str, cap: usize) -> Result<Backlog, BrokerError> {
    let Some((ready, _)) = topology::peek_counts(ch, queue).await? else {
        return Err(BrokerError::NoQueue {
            queue: queue.to_string(),
        });
    };
    let total = u64::from(ready);
    let want = usize::try_from(ready).unwrap_or(usize::MAX).min(cap);
    let mut out = Backlog {
        total,
        messages: Vec::with_capacity(want.min(65_536)),
        complete: true,
    };
    if want == 0 {
        out.complete = ready == 0;
        return Ok(out);
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
    while out.messages.len() < want {
        let idle = tokio::time::Instant::now() + IDLE;
        match tokio::time::timeout_at(idle.min(until), consumer.next()).await {
            Ok(Some(Ok(d))) => {
                last_tag = Some(d.delivery_tag);
                bytes = bytes.saturating_add(d.data.len());
                out.messages.push(Queued {
                    priority: *d.properties.priority(),
                    uuid: super::look::queued_uuid(queue, &d.data, &d.properties),
                    headers: super::look::adtop_headers(&d.properties),
                    body: d.data,
                });
                if bytes >= READ_BYTES_CAP {
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
            Err(_) => break,
        }
    }
    out.complete = out.messages.len() as u64 >= total;
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
    Ok(out)
}
