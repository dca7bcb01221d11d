//! Listening to a fanout (heartbeats, status, completions, audit, live logs, replies) with a
//! bound on what waits: anyone may publish there, as fast as the broker takes it.
//!
//! A consumer without acknowledgements is sent everything at once, and lapin keeps what this
//! process has not taken yet in memory, without limit: a flood, or a console busy drawing, grew
//! it. So a listener's queue holds at most [`MAX_WAITING`] messages and [`MAX_WAITING_BYTES`]
//! (the broker drops the oldest past that), the broker hands this process at most [`PREFETCH`]
//! unacknowledged at a time, and what is taken is acknowledged as it is taken, several at once.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::ShortString;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel, Consumer};

use super::BrokerError;

/// Most messages a listener's queue holds for it; past that the oldest go.
pub const MAX_WAITING: i64 = 10_000;
/// Most bytes of bodies a listener's queue holds for it.
pub const MAX_WAITING_BYTES: i64 = 64 << 20;
/// Most messages on their way to this process, unacknowledged, per listener.
pub const PREFETCH: u16 = 64;

/// A server-named, exclusive, auto-delete queue bound to `exchange` with `key`, bounded as the
/// module says, and its consumer: for messages that are only news while fresh.
pub async fn listen(ch: &Channel, exchange: &str, key: &str) -> Result<Listener, BrokerError> {
    listen_keys(ch, exchange, &[key]).await
}

/// As [`listen`], bound with each of `keys`.
pub async fn listen_keys(
    ch: &Channel,
    exchange: &str,
    keys: &[&str],
) -> Result<Listener, BrokerError> {
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(MAX_WAITING));
    args.insert(
        "x-max-length-bytes".into(),
        AMQPValue::LongLongInt(MAX_WAITING_BYTES),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("drop-head".into()),
    );
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("".into(), opts, args)
        .await
        .map_err(BrokerError::amqp("declare private queue"))?;
    let name = q.name().to_string();
    for key in keys {
        ch.queue_bind(
            name.as_str().into(),
            exchange.into(),
            (*key).into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BrokerError::amqp(format!("bind to {exchange}")))?;
    }
    consume(ch, &name).await
}

/// Consume `queue` as a [`Listener`]: at most [`PREFETCH`] in this process at once, whatever
/// the queue holds (a queue declared elsewhere, whose arguments are not ours to bound).
pub async fn consume(ch: &Channel, queue: &str) -> Result<Listener, BrokerError> {
    // The prefetch is taken by consumers started after it: set for this one, then unset, so
    // that a reader consuming on the same channel later is not held to it.
    let qos = |n| ch.basic_qos(n, BasicQosOptions { global: false });
    qos(PREFETCH)
        .await
        .map_err(BrokerError::amqp("set a listener's prefetch"))?;
    let consumer = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BrokerError::amqp(format!("consume {queue}")));
    qos(0)
        .await
        .map_err(BrokerError::amqp("unset a listener's prefetch"))?;
    Ok(Listener::new(consumer?))
}

/// The deliveries of one [`listen`] queue, acknowledged as they are taken.
pub struct Listener {
    consumer: Consumer,
    /// To the task that acknowledges, one by one: a `multiple` ack would also cover other
    /// consumers' deliveries on the channel, whose own acks the broker would then refuse,
    /// closing it. Never more than [`PREFETCH`] wait here: the broker sends no more until acked.
    acks: tokio::sync::mpsc::UnboundedSender<Acker>,
}

impl Listener {
    fn new(consumer: Consumer) -> Self {
        let (acks, mut rx) = tokio::sync::mpsc::unbounded_channel::<Acker>();
        // Ends when the listener is dropped (the sender with it).
        tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                // A channel gone takes its unacknowledged deliveries with it.
                let _ = a.ack(BasicAckOptions::default()).await;
            }
        });
        Self { consumer, acks }
    }

    /// The queue's name (a reply-to address).
    pub fn queue(&self) -> ShortString {
        self.consumer.queue()
    }

    /// The consumer tag (to cancel it).
    pub fn tag(&self) -> ShortString {
        self.consumer.tag()
    }
}

impl Stream for Listener {
    type Item = lapin::Result<Delivery>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.consumer).poll_next(cx);
        if let Poll::Ready(Some(Ok(d))) = &next {
            let _ = this.acks.send(d.acker.clone());
        }
        next
    }
}
