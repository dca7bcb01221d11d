//! Reads: workers (from heartbeats), queued requests (browsed, order kept), results and the
//! audit trail (from the store's time-ordered index), stored logs.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lapin::options::BasicGetOptions;

use crate::broker::{BrokerError, Session, publish, topology};
use crate::console::model::RequestRow;
use crate::protocol::messages::{AuditRecord, Control, ControlAction, Heartbeat, IndexEntry};
use crate::protocol::request::SUBMIT_TIME_FORMAT;
use crate::protocol::{Request, layout, names};
use crate::store::Store;

/// Every worker that answers a ping within `wait`, by id (latest heartbeat wins).
pub async fn workers(
    session: &Session,
    wait: Duration,
    operator: &str,
) -> Result<Vec<Heartbeat>, BrokerError> {
    let ch = session.channel().await?;
    let mut consumer = topology::listen(&ch, names::HEARTBEAT_EXCHANGE, "").await?;
    ping(session, operator).await?;
    let mut by_id: BTreeMap<String, Heartbeat> = BTreeMap::new();
    let until = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, consumer.next()).await {
        if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&d.data) {
            by_id.insert(hb.id.clone(), hb);
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

/// One queued message as the console shows it.
pub fn request_row(body: &[u8], priority: Option<u8>) -> RequestRow {
    let text = String::from_utf8_lossy(body).to_string();
    match Request::parse(body) {
        Ok(r) => RequestRow {
            package: r.package.clone(),
            triggers: r.params.triggers.clone(),
            requester: r.params.requester.clone().unwrap_or_default(),
            submit_time: r
                .params
                .submit_time
                .as_deref()
                .and_then(|t| DateTime::parse_from_str(t, SUBMIT_TIME_FORMAT).ok())
                .map(|t| t.with_timezone(&Utc)),
            priority,
            uuid: r.params.uuid.clone(),
            body: text,
        },
        // Shown (inert) so an operator can see and cancel junk; a worker will reject it.
        Err(e) => RequestRow {
            package: format!("<invalid: {}>", e.code()),
            triggers: Vec::new(),
            requester: String::new(),
            submit_time: None,
            priority,
            uuid: None,
            body: text,
        },
    }
}

/// Rows `offset..offset+limit` of `queue`, and its total depth. Messages are got without
/// acknowledgement and the channel is closed, which returns each to its place in the queue:
/// nothing is lost and the order workers see is kept (autopkgtest-cloud browses the same way).
pub async fn browse(
    session: &Session,
    queue: &str,
    offset: usize,
    limit: usize,
) -> Result<(u64, Vec<RequestRow>), BrokerError> {
    let ch = session.channel().await?;
    let mut rows = Vec::new();
    let mut total = 0u64;
    let mut seen = 0usize;
    while seen < offset + limit {
        let Some(msg) = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .map_err(BrokerError::amqp(format!("browse {queue}")))?
        else {
            break;
        };
        total = u64::from(msg.message_count) + seen as u64 + 1;
        if seen >= offset {
            rows.push(request_row(
                &msg.delivery.data,
                *msg.delivery.properties.priority(),
            ));
        }
        seen += 1;
    }
    let _ = ch.close(200, "browsed".into()).await;
    Ok((total, rows))
}

/// The newest results, newest first, reading the index a day at a time back to `days` days.
pub async fn recent_results(store: &Store, days: i64, limit: usize) -> Result<Vec<IndexEntry>> {
    let mut out = Vec::new();
    let today = Utc::now().date_naive();
    for back in 0..days {
        let day = today - chrono::Duration::days(back);
        let prefix = format!("{}/", day.format("%Y%m%d"));
        let mut names = store
            .list(names::INDEX_CONTAINER, &prefix, None)
            .await
            .context("list the results index")?;
        names.reverse();
        for name in names {
            if out.len() >= limit {
                return Ok(out);
            }
            if let Some(data) = store.get(names::INDEX_CONTAINER, &name).await?
                && let Ok(e) = serde_json::from_slice::<IndexEntry>(&data)
            {
                out.push(e);
            }
        }
    }
    Ok(out)
}

pub async fn find_result(store: &Store, uuid: &str) -> Result<Option<IndexEntry>> {
    crate::store::check_name(uuid).map_err(|e| anyhow::anyhow!("invalid uuid: {e}"))?;
    match store
        .get(names::INDEX_CONTAINER, &layout::uuid_key(uuid))
        .await?
    {
        Some(data) => Ok(Some(
            serde_json::from_slice(&data).context("corrupt index entry")?,
        )),
        None => Ok(None),
    }
}

/// The stored `log.gz` of a result, decompressed (not yet sanitised).
pub async fn stored_log(store: &Store, container: &str, swift_dir: &str) -> Result<String> {
    if container.starts_with(layout::PRIVATE_PREFIX) {
        anyhow::bail!(
            "a private run: its log is readable only by its swiftuser, in {}",
            crate::protocol::sanitize::line(container)
        );
    }
    let gz = store
        .get(container, &format!("{swift_dir}/{}", layout::LOG_OBJECT))
        .await?
        .with_context(|| format!("no log.gz in {container}/{swift_dir}"))?;
    let mut text = String::new();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw)
        .context("log.gz is not gzip")?;
    text.push_str(&String::from_utf8_lossy(&raw));
    Ok(text)
}

/// The newest audit records, newest first.
pub async fn recent_audit(store: &Store, days: i64, limit: usize) -> Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    let today = Utc::now().date_naive();
    for back in 0..days {
        let prefix = format!(
            "{}/",
            (today - chrono::Duration::days(back)).format("%Y%m%d")
        );
        let mut names = store.list(names::AUDIT_CONTAINER, &prefix, None).await?;
        names.reverse();
        for name in names.into_iter().take(limit.saturating_sub(out.len())) {
            if let Some(data) = store.get(names::AUDIT_CONTAINER, &name).await?
                && let Ok(r) = serde_json::from_slice::<AuditRecord>(&data)
            {
                out.push(r);
            }
        }
    }
    Ok(out)
}
