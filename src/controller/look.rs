//! Looking at what is queued and running without changing it. The controller needs it to
//! refuse duplicates; [`crate::ops`] builds the console's and the scripting commands' views on
//! it (ops depends on the controller, never the reverse).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::broker::{BrokerError, Session, publish, topology};
use crate::protocol::messages::{Control, ControlAction, Heartbeat};
use crate::protocol::names;

/// One queued message as browsed: its body and priority.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub body: Vec<u8>,
    pub priority: Option<u8>,
}

/// Messages `offset..offset+limit` of `queue`, and its total depth, read without changing the
/// queue or the order workers take it in ([`super::backlog`]).
pub async fn browse(
    session: &Session,
    queue: &str,
    offset: usize,
    limit: usize,
) -> Result<(u64, Vec<Queued>), BrokerError> {
    let b = super::backlog::read(session, queue, offset.saturating_add(limit)).await?;
    Ok((
        b.total,
        b.messages.into_iter().skip(offset).take(limit).collect(),
    ))
}

/// A heartbeat and when this process received it (its own clock: see `ops::rules`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Seen {
    #[serde(flatten)]
    pub heartbeat: Heartbeat,
    pub received: DateTime<Utc>,
}

/// Every worker that answers a ping within `wait`, by id (latest heartbeat wins).
pub async fn workers(
    session: &Session,
    wait: Duration,
    operator: &str,
) -> Result<Vec<Seen>, BrokerError> {
    let ch = session.channel().await?;
    let mut consumer = topology::listen(&ch, names::HEARTBEAT_EXCHANGE, "").await?;
    ping(session, operator).await?;
    let mut by_id: BTreeMap<String, Seen> = BTreeMap::new();
    let until = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, consumer.next()).await {
        if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&d.data) {
            let received = Utc::now();
            by_id.insert(
                hb.id.clone(),
                Seen {
                    heartbeat: hb,
                    received,
                },
            );
        }
    }
    let _ = ch.close(200, "done".into()).await;
    Ok(by_id.into_values().collect())
}

/// Ask every worker for a heartbeat now.
pub async fn ping(session: &Session, operator: &str) -> Result<(), BrokerError> {
    let c = Control {
        action: ControlAction::Ping,
        uuid: None,
        then: None,
        operator: operator.to_string(),
    };
    let body = serde_json::to_vec(&c).unwrap_or_default();
    publish::publish_fast(
        &session.fast,
        names::CONTROL_EXCHANGE,
        names::CONTROL_ALL,
        &body,
    )
    .await
}
