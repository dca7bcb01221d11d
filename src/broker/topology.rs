//! Declaring queues and exchanges exactly as the deployment does.

use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ErrorKind, ExchangeKind};

use super::BrokerError;
use crate::config::{QueueConfig, QueueType};
use crate::protocol::names;

/// Arguments for a request queue, from configuration.
pub fn request_queue_args(cfg: &QueueConfig) -> FieldTable {
    let mut args = FieldTable::default();
    if let Some(p) = cfg.max_priority {
        args.insert("x-max-priority".into(), AMQPValue::LongInt(i32::from(p)));
    }
    if cfg.queue_type == Some(QueueType::Quorum) {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    args
}

fn is_precondition_failed(e: &lapin::Error) -> Option<String> {
    match e.kind() {
        ErrorKind::ProtocolError(amqp)
            if matches!(
                amqp.kind(),
                AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
            ) =>
        {
            Some(amqp.get_message().to_string())
        }
        _ => None,
    }
}

/// How debci declares its request queues: durable, `x-max-priority` 10. A queue that exists
/// otherwise is a [`crate::broker::BrokerError::Mismatch`] naming it.
pub fn debci_queue_config() -> QueueConfig {
    QueueConfig {
        max_priority: Some(crate::protocol::debci::MAX_PRIORITY),
        ..QueueConfig::default()
    }
}

/// Declare a durable request queue. A mismatch with how it already exists becomes
/// [`BrokerError::Mismatch`] (the channel is closed by the broker in that case).
pub async fn declare_request_queue(
    ch: &Channel,
    name: &str,
    cfg: &QueueConfig,
) -> Result<(u32, u32), BrokerError> {
    let q = ch
        .queue_declare(
            name.into(),
            QueueDeclareOptions::durable(),
            request_queue_args(cfg),
        )
        .await
        .map_err(|e| match is_precondition_failed(&e) {
            Some(message) => BrokerError::Mismatch {
                queue: name.to_string(),
                message,
            },
            None => BrokerError::Amqp {
                what: format!("declare queue {name}"),
                source: e,
            },
        })?;
    Ok((q.message_count(), q.consumer_count()))
}

/// A durable queue with no arguments (debci's `debci_results`). One that exists otherwise is
/// [`BrokerError::Conflict`].
pub async fn declare_plain_queue(ch: &Channel, name: &str) -> Result<(), BrokerError> {
    declare_durable(ch, name).await.map(drop)
}

/// Declare a durable queue without arguments; returns its message count.
async fn declare_durable(ch: &Channel, name: &str) -> Result<u32, BrokerError> {
    let q = ch
        .queue_declare(
            name.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| match is_precondition_failed(&e) {
            Some(message) => BrokerError::Conflict {
                queue: name.to_string(),
                message,
            },
            None => BrokerError::Amqp {
                what: format!("declare queue {name}"),
                source: e,
            },
        })?;
    Ok(q.message_count())
}

/// Live (message count, consumer count) of an existing queue, or None if it does not exist.
/// A failed passive declare closes the channel, so callers use a channel of its own for this.
pub async fn peek_counts(ch: &Channel, name: &str) -> Result<Option<(u32, u32)>, BrokerError> {
    let opts = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    match ch
        .queue_declare(name.into(), opts, FieldTable::default())
        .await
    {
        Ok(q) => Ok(Some((q.message_count(), q.consumer_count()))),
        Err(e) if matches!(e.kind(), ErrorKind::ProtocolError(a) if matches!(a.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))) => {
            Ok(None)
        }
        Err(e) => Err(BrokerError::Amqp {
            what: format!("inspect queue {name}"),
            source: e,
        }),
    }
}

/// The exchanges and queues every part relies on. Idempotent.
pub async fn declare_common(ch: &Channel) -> Result<(), BrokerError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let transient = ExchangeDeclareOptions::default();
    for (name, kind, opts) in [
        (names::TESTSTATUS_EXCHANGE, ExchangeKind::Fanout, transient),
        (names::TESTCOMPLETE_EXCHANGE, ExchangeKind::Fanout, durable),
        (names::HEARTBEAT_EXCHANGE, ExchangeKind::Fanout, transient),
        (names::CONTROL_EXCHANGE, ExchangeKind::Topic, durable),
        (names::LOG_EXCHANGE, ExchangeKind::Topic, transient),
        (names::AUDIT_EXCHANGE, ExchangeKind::Fanout, durable),
    ] {
        ch.exchange_declare(name.into(), kind, opts, FieldTable::default())
            .await
            .map_err(BrokerError::amqp(format!("declare exchange {name}")))?;
    }
    ch.queue_declare(
        names::REJECTED_QUEUE.into(),
        QueueDeclareOptions::durable(),
        FieldTable::default(),
    )
    .await
    .map_err(BrokerError::amqp(format!(
        "declare queue {}",
        names::REJECTED_QUEUE
    )))?;
    Ok(())
}

/// A durable queue of one service's own, bound to a fanout `exchange`: messages published while
/// the service is away wait in it (autopkgtest-cloud's db-writer has `complete-listener-<fqdn>`).
/// Returns the messages waiting in it. A queue of that name declared otherwise is
/// [`BrokerError::Conflict`], which will not fix itself.
pub async fn durable_subscription(
    ch: &Channel,
    queue: &str,
    exchange: &str,
) -> Result<u32, BrokerError> {
    let waiting = declare_durable(ch, queue).await?;
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        "".into(),
        Default::default(),
        FieldTable::default(),
    )
    .await
    .map_err(BrokerError::amqp(format!("bind {queue} to {exchange}")))?;
    Ok(waiting)
}
