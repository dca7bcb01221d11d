//! Knowing whether a request is already queued or running.
//!
//! Queued: the target queue is browsed with `basic.get` on a private channel and every message
//! is left unacknowledged; closing the channel puts them all back where they were (as
//! autopkgtest-cloud does when it publishes queue contents). Running: a `ping` on
//! `adtop.control` makes every worker send a heartbeat at once, and heartbeats name the
//! identity of the job they run.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicGetOptions};
use lapin::types::FieldTable;

use crate::broker::{BrokerError, Session, publish, topology};
use crate::protocol::Request;
use crate::protocol::messages::{Control, ControlAction, Heartbeat};
use crate::protocol::names;

/// Browse at most this many messages per queue.
pub const BROWSE_CAP: usize = 20_000;

/// Identities of the requests queued in `queue`.
pub async fn queued(session: &Session, queue: &str) -> Result<HashSet<String>, BrokerError> {
    let ch = session.channel().await?;
    let mut out = HashSet::new();
    for _ in 0..BROWSE_CAP {
        let Some(msg) = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .map_err(BrokerError::amqp(format!("browse {queue}")))?
        else {
            break;
        };
        if let Ok(r) = Request::parse(&msg.delivery.data) {
            out.insert(r.identity());
        }
    }
    // Closing the channel returns every browsed message to the queue, unacknowledged.
    let _ = ch.close(200, "browsed".into()).await;
    Ok(out)
}

/// (queue, identity) of every job running now, from the heartbeats that answer a ping.
pub async fn running(
    session: &Session,
    wait: Duration,
) -> Result<HashSet<(String, String)>, BrokerError> {
    let ch = session.channel().await?;
    let q = topology::private_queue(&ch, names::HEARTBEAT_EXCHANGE, &[""]).await?;
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "dedup".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(BrokerError::amqp("listen for heartbeats"))?;
    let ping = Control {
        action: ControlAction::Ping,
        uuid: None,
        then: None,
        operator: "adtop submit".into(),
    };
    let body = serde_json::to_vec(&ping).unwrap_or_default();
    publish::publish_fast(
        &session.fast,
        names::CONTROL_EXCHANGE,
        names::CONTROL_ALL,
        &body,
    )
    .await?;
    let mut out = HashSet::new();
    let until = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, consumer.next()).await {
        if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&d.data)
            && let Some(job) = hb.job
        {
            out.insert((job.queue, job.identity));
        }
    }
    let _ = ch.close(200, "done".into()).await;
    Ok(out)
}
