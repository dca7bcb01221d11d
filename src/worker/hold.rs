//! Surviving RabbitMQ's consumer acknowledgement timeout (`consumer_timeout`, 30 min in Debian).
//!
//! A request is normally held unacknowledged while its test runs, so that a dead worker's
//! request is delivered again by the broker. A test longer than the broker's consumer timeout
//! would get the channel closed under it, so past `lease` seconds the worker copies the request
//! into its own durable queue `adtop.held.<worker-id>` (publisher-confirmed), then acknowledges
//! the original. Nobody consumes a held queue, so no timeout applies. When the job ends the
//! worker takes the copy out ([`release`]); if it dies, it requeues its held requests when it
//! starts again ([`requeue_held`]), other workers do when its heartbeats stop
//! ([`super::peers`]), and `adtop requeue-held <worker>` does it by hand. A held request whose
//! very result is already in the store is dropped instead of requeued.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use crate::broker::{BrokerError, publish};
use crate::config::{QueueConfig, QueueType};
use crate::protocol::names;

/// Is this very request's result stored (the same body under `by-uuid/<uuid>`)?
async fn already_stored(store: &crate::store::Store, uuid: &str, body: &[u8]) -> bool {
    let Ok(crate::store::run::ByUuid::Stored(e)) = crate::store::run::by_uuid(store, uuid).await
    else {
        return false;
    };
    match crate::protocol::Request::parse(body) {
        Ok(req) => super::validate::index_body(&req, body) == e.body,
        Err(_) => false,
    }
}

pub(crate) fn header(props: &BasicProperties, key: &str) -> Option<String> {
    props
        .headers()
        .as_ref()
        .and_then(|h| match h.inner().get(key) {
            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
            Some(AMQPValue::ShortString(s)) => Some(s.to_string()),
            _ => None,
        })
}

/// Held queues are declared like the request queues (classic or quorum): a classic held queue
/// on a dead node of a cluster would keep its requests, and the worker, stuck until it returns.
/// Set once from the configuration, so that every process declares them the same way.
static HELD_TYPE: std::sync::OnceLock<QueueType> = std::sync::OnceLock::new();

pub fn configure(cfg: &QueueConfig) {
    let _ = HELD_TYPE.set(cfg.queue_type.unwrap_or_default());
}

fn held_args() -> FieldTable {
    let mut args = FieldTable::default();
    if HELD_TYPE.get() == Some(&QueueType::Quorum) {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    args
}

async fn declare(ch: &Channel, worker_id: &str) -> Result<String, BrokerError> {
    let q = names::held_queue(worker_id);
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions::durable(),
        held_args(),
    )
    .await
    .map_err(BrokerError::amqp(format!("declare {q}")))?;
    Ok(q)
}

/// Copy a request into the worker's held queue. The caller acknowledges the original after.
pub async fn hold(
    confirm: &Channel,
    worker_id: &str,
    source_queue: &str,
    uuid: &str,
    body: &[u8],
    priority: Option<u8>,
) -> Result<(), BrokerError> {
    let q = declare(confirm, worker_id).await?;
    let mut props = publish::with_headers(
        publish::persistent(),
        &[
            (names::H_SOURCE_QUEUE, source_queue.to_string()),
            (names::H_WORKER, worker_id.to_string()),
            (names::H_UUID, uuid.to_string()),
        ],
    );
    if let Some(p) = priority {
        props = props.with_priority(p);
    }
    publish::publish_confirmed(confirm, "", &q, body, props, true).await
}

/// Take the held copy of `uuid` out. `false` means it was no longer there (reclaimed).
pub async fn release(ch: &Channel, worker_id: &str, uuid: &str) -> Result<bool, BrokerError> {
    let q = declare(ch, worker_id).await?;
    let mut others = Vec::new();
    let mut found = false;
    while let Some(msg) = ch
        .basic_get(q.as_str().into(), BasicGetOptions::default())
        .await
        .map_err(BrokerError::amqp(format!("get from {q}")))?
    {
        if header(&msg.delivery.properties, "x-adtop-uuid").as_deref() == Some(uuid) {
            msg.delivery
                .ack(BasicAckOptions::default())
                .await
                .map_err(BrokerError::amqp("ack held"))?;
            found = true;
            break;
        }
        others.push(msg.delivery);
    }
    for d in others {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .map_err(BrokerError::amqp("return held"))?;
    }
    Ok(found)
}

/// The former name of [`requeue_held`], kept for callers outside the worker (`adtop
/// requeue-held` in `main.rs`).
pub use requeue_held as reclaim;

/// Move every held request of `worker_id` back to the queue it came from. Returns how many.
/// A held request whose very result is already stored (same body in `by-uuid`) is dropped
/// instead. Safe to race: each message is got by one requeuer only.
pub async fn requeue_held(
    confirm: &Channel,
    get: &Channel,
    worker_id: &str,
    store: Option<&crate::store::Store>,
) -> Result<usize, BrokerError> {
    let q = declare(get, worker_id).await?;
    let mut n = 0;
    while let Some(msg) = get
        .basic_get(q.as_str().into(), BasicGetOptions::default())
        .await
        .map_err(BrokerError::amqp(format!("get from {q}")))?
    {
        let d = msg.delivery;
        let Some(source) = header(&d.properties, names::H_SOURCE_QUEUE) else {
            tracing::warn!(
                "held message without {} header; leaving it in {q}",
                names::H_SOURCE_QUEUE
            );
            d.nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .map_err(BrokerError::amqp("return held"))?;
            break;
        };
        if let (Some(store), Some(uuid)) = (store, header(&d.properties, names::H_UUID))
            && already_stored(store, &uuid, &d.data).await
        {
            tracing::info!(
                "held request {uuid} already has a stored result; dropping it instead of requeueing"
            );
            d.ack(BasicAckOptions::default())
                .await
                .map_err(BrokerError::amqp("ack held"))?;
            continue;
        }
        // The uuid goes along: a debci body has none of its own (see [`names::H_UUID`]).
        let mut props = match header(&d.properties, names::H_UUID) {
            Some(uuid) => publish::with_headers(publish::persistent(), &[(names::H_UUID, uuid)]),
            None => publish::persistent(),
        };
        if let Some(p) = d.properties.priority() {
            props = props.with_priority(*p);
        }
        publish::publish_confirmed(confirm, "", &source, &d.data, props, true).await?;
        d.ack(BasicAckOptions::default())
            .await
            .map_err(BrokerError::amqp("ack held"))?;
        n += 1;
    }
    Ok(n)
}
