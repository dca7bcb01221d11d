//! Looking at what is queued and running without changing it. The controller needs it to
//! refuse duplicates; [`crate::ops`] builds the console's and the scripting commands' views on
//! it (ops depends on the controller, never the reverse).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::broker::{BrokerError, Session, publish};
use lapin::types::AMQPValue;

use crate::protocol::debci::{DebciQueue, DebciRequest, derived_uuid};
use crate::protocol::messages::{Control, ControlAction, Heartbeat};
use crate::protocol::{Request, names};

/// One queued message as browsed: its body, priority and uuid (see [`queued_uuid`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub body: Vec<u8>,
    pub priority: Option<u8>,
    pub uuid: Option<String>,
    /// adtop's own string headers ([`adtop_headers`]): why a rejected request was refused.
    pub headers: Vec<(String, String)>,
}

/// Most adtop headers kept of one message, and most bytes of each value: anyone who can
/// publish can set headers.
const HEADERS_MAX: usize = 8;

/// The `x-adtop-*` string headers of a message (not [`names::H_UUID`], which is in
/// [`Queued::uuid`]), capped; none on a plain request, so a deep queue costs nothing more.
pub fn adtop_headers(props: &lapin::BasicProperties) -> Vec<(String, String)> {
    let Some(h) = props.headers().as_ref() else {
        return Vec::new();
    };
    h.inner()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-adtop-") && k.as_str() != names::H_UUID)
        .filter_map(|(k, v)| {
            let v = match v {
                AMQPValue::LongString(s) => s.to_string(),
                AMQPValue::ShortString(s) => s.to_string(),
                _ => return None,
            };
            Some((
                k.to_string(),
                crate::protocol::sanitize::cap(&v, crate::protocol::sanitize::REASON_MAX),
            ))
        })
        .take(HEADERS_MAX)
        .collect()
}

/// The uuid a worker will know a queued message by: an autopkgtest-cloud body's own `uuid`; for
/// a debci queue, the [`names::H_UUID`] header, else the one derived from queue and body.
pub fn queued_uuid(queue: &str, body: &[u8], props: &lapin::BasicProperties) -> Option<String> {
    if DebciQueue::is_debci(queue) || DebciRequest::parse(body).is_ok() {
        let header = props
            .headers()
            .as_ref()
            .and_then(|h| match h.inner().get(names::H_UUID) {
                Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                _ => None,
            });
        return Some(header.unwrap_or_else(|| derived_uuid(queue, body)));
    }
    Request::parse(body).ok().and_then(|r| r.params.uuid)
}

/// Held by anything in this process that gets messages without acknowledging them to look
/// through a queue (browsing, cancelling). While one such scan holds messages, another sees
/// them gone: the console's bulk cancel raced its own scans and found none of its targets.
static SCAN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Wait until no other scan of this process holds messages unacknowledged.
pub async fn scan_lock() -> tokio::sync::MutexGuard<'static, ()> {
    SCAN.lock().await
}

/// Messages `offset..offset+limit` of `queue`, and its total depth, read without changing the
/// queue or the order workers take it in ([`super::backlog`]).
pub async fn browse(
    session: &Session,
    queue: &str,
    offset: usize,
    limit: usize,
) -> Result<(u64, Vec<Queued>), BrokerError> {
    let _scan = scan_lock().await;
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
    workers_expecting(session, wait, operator, |_| std::future::pending()).await
}

/// [`workers`], done as soon as as many workers have answered as `expected` says there are
/// (when it says: it runs meanwhile, and `None` means unknown): `wait` is then only the
/// longest a run waits for a worker that does not answer. `expected` is handed the name of
/// the queue the answers come to, by which it can tell that it asks the same broker.
pub async fn workers_expecting<F>(
    session: &Session,
    wait: Duration,
    operator: &str,
    expected: impl FnOnce(String) -> F,
) -> Result<Vec<Seen>, BrokerError>
where
    F: std::future::Future<Output = Option<usize>>,
{
    let ch = session.channel().await?;
    let mut consumer = crate::broker::listen::listen(&ch, names::HEARTBEAT_EXCHANGE, "").await?;
    let expected = expected(consumer.queue().to_string());
    ping(session, operator).await?;
    let mut by_id: BTreeMap<String, Seen> = BTreeMap::new();
    let until = tokio::time::Instant::now() + wait;
    let mut expected = std::pin::pin!(expected);
    let (mut counting, mut expect) = (true, None);
    loop {
        if expect.is_some_and(|n| by_id.len() >= n) {
            break;
        }
        tokio::select! {
            d = tokio::time::timeout_at(until, consumer.next()) => {
                let Ok(Some(Ok(d))) = d else { break };
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
            n = &mut expected, if counting => {
                counting = false;
                expect = n;
            }
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
