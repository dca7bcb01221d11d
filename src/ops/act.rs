//! Actions: retry, cancel, stop, drain, resume. Each is written to the audit trail (broker
//! fanout for live consoles, store for history) with its outcome.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use futures::StreamExt;
use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicGetOptions};

use super::Context;
use super::rules::Verb;
use crate::broker::{BrokerError, Session, publish, topology};
use crate::controller::submit::stamp;
use crate::controller::{backlog, look};
use crate::protocol::debci::{self, DebciQueue, DebciRequest};
use crate::protocol::messages::{
    AfterStop, AuditRecord, Control, ControlAction, ControlReply, IndexEntry,
};
use crate::protocol::{Request, layout, names};
use crate::store::ObjectMeta;

/// Resubmit exactly what ran, with a new uuid and submit-time. Returns the new uuid.
pub async fn retry(ctx: &Context, session: &Session, entry: &IndexEntry) -> Result<String> {
    if DebciQueue::is_debci(&entry.queue) {
        return retry_debci(session, entry).await;
    }
    if entry.private {
        anyhow::bail!(
            "a private run cannot be retried from here: the index keeps no PPA credentials; ask its requester to submit it again"
        );
    }
    let old = Request::parse(entry.body.as_bytes())
        .map_err(|e| anyhow::anyhow!("the stored request is invalid: {e}"))?;
    let mut params = old.params.clone();
    params.uuid = None;
    params.submit_time = None;
    let req = Request::new(&old.package, stamp(params)).map_err(|e| anyhow::anyhow!("{e}"))?;
    topology::declare_request_queue(&session.confirm, &entry.queue, &ctx.queue_cfg).await?;
    publish::publish_confirmed(
        &session.confirm,
        "",
        &entry.queue,
        req.body().as_bytes(),
        publish::persistent(),
        true,
    )
    .await?;
    Ok(req.params.uuid.unwrap_or_default())
}

/// A debci request runs again under the same run id (debci's collector replaces that job's
/// result), with a new uuid in [`names::H_UUID`] so that workers do not take it for the run
/// already done, at debci's default priority.
async fn retry_debci(session: &Session, entry: &IndexEntry) -> Result<String> {
    let r = DebciRequest::parse(entry.body.as_bytes())
        .map_err(|e| anyhow::anyhow!("the stored debci request is invalid: {e}"))?;
    let uuid = uuid::Uuid::new_v4().to_string();
    topology::declare_request_queue(
        &session.confirm,
        &entry.queue,
        &topology::debci_queue_config(),
    )
    .await?;
    let props = publish::with_headers(publish::persistent(), &[(names::H_UUID, uuid.clone())])
        .with_priority(debci::DEFAULT_PRIORITY);
    publish::publish_confirmed(
        &session.confirm,
        "",
        &entry.queue,
        r.body().as_bytes(),
        props,
        true,
    )
    .await?;
    Ok(uuid)
}

/// Remove one queued request, matched by uuid (or by exact body when it has none). The rest
/// of the queue goes back untouched, in order.
///
/// Looking through a queue holds its messages unacknowledged until the channel closes, and
/// another scan meanwhile sees them gone. Scans of this process wait for each other
/// ([`look::scan_lock`]); another process's (another console browsing the same queue) is
/// over within moments, so a request not found is looked for again, [`CANCEL_SCANS`] times.
pub async fn cancel(session: &Session, queue: &str, uuid: Option<&str>, body: &str) -> Result<()> {
    let found = remove_one(session, queue, |data, props| match uuid {
        Some(u) => look::queued_uuid(queue, data, props).as_deref() == Some(u),
        None => data == body.as_bytes(),
    })
    .await?;
    if !found {
        bail!("not in {queue} any more (a worker took it, or it was cancelled)");
    }
    Ok(())
}

/// How many times a cancel looks through the queue before saying the request is not there.
pub const CANCEL_SCANS: u32 = 3;

/// Remove the first message of `queue` that `matches` accepts, looking [`CANCEL_SCANS`] times
/// (see [`cancel`]); false when none was found.
pub async fn remove_one(
    session: &Session,
    queue: &str,
    matches: impl Fn(&[u8], &BasicProperties) -> bool,
) -> Result<bool> {
    for scan in 1..=CANCEL_SCANS {
        if remove_first(session, queue, &matches).await? {
            return Ok(true);
        }
        if scan < CANCEL_SCANS {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(false)
}

/// Look through `queue` once and remove the first message `matches` accepts; true when one
/// was. Every other message goes back to its place when the scan's channel closes.
async fn remove_first(
    session: &Session,
    queue: &str,
    matches: impl Fn(&[u8], &BasicProperties) -> bool,
) -> Result<bool> {
    let _scan = look::scan_lock().await;
    // Under the queue's read lock, so that adtop's workers keep taking requests in order while
    // the scan holds the first ones (`controller::backlog`).
    let lock = backlog::ReadLock::take(session, queue).await?;
    let ch = session.channel().await?;
    let mut found = false;
    loop {
        let got = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .map_err(BrokerError::amqp(format!("browse {queue}")));
        let msg = match got {
            Ok(Some(msg)) => msg,
            Ok(None) => break,
            Err(e) => {
                let _ = ch.close(200, "cancel failed".into()).await;
                return Err(e.into());
            }
        };
        if matches(&msg.delivery.data, &msg.delivery.properties) {
            let acked = msg
                .delivery
                .ack(BasicAckOptions::default())
                .await
                .map_err(BrokerError::amqp("remove request"));
            if let Err(e) = acked {
                let _ = ch.close(200, "cancel failed".into()).await;
                return Err(e.into());
            }
            found = true;
            break;
        }
    }
    // Closing returns every other message to its place; done before the next scan may start.
    let _ = ch.close(200, "cancelled".into()).await;
    lock.release().await;
    Ok(found)
}

/// Send a control message to one worker and wait for its answer.
pub async fn control(
    session: &Session,
    worker: &str,
    c: &Control,
    wait: Duration,
) -> Result<ControlReply> {
    let ch = session.channel().await?;
    let reply_key = format!("adtop-reply-{}", uuid::Uuid::new_v4());
    let mut replies = crate::broker::listen::listen(&ch, "amq.direct", &reply_key).await?;
    let body = serde_json::to_vec(c)?;
    let props = BasicProperties::default().with_reply_to(replies.queue());
    publish::publish_confirmed(
        &session.confirm,
        names::CONTROL_EXCHANGE,
        &names::control_key(worker),
        &body,
        props,
        true,
    )
    .await
    .with_context(|| format!("no worker {worker} is listening"))?;
    let reply = tokio::time::timeout(wait, replies.next()).await;
    let _ = ch.close(200, "done".into()).await;
    match reply {
        Ok(Some(Ok(d))) => Ok(serde_json::from_slice(&d.data).context("malformed reply")?),
        _ => bail!("worker {worker} did not answer within {}s", wait.as_secs()),
    }
}

/// [`control`], with the worker's refusal as the error.
pub async fn command(
    session: &Session,
    worker: &str,
    c: &Control,
    wait: Duration,
) -> Result<String> {
    let r = control(session, worker, c, wait).await?;
    if r.ok {
        Ok(r.message)
    } else {
        Err(anyhow::anyhow!(r.message))
    }
}

pub fn stop_msg(uuid: &str, then: AfterStop, operator: &str) -> Control {
    Control {
        action: ControlAction::Stop,
        uuid: Some(uuid.to_string()),
        then: Some(then),
        operator: operator.to_string(),
    }
}

pub fn simple_msg(action: ControlAction, operator: &str) -> Control {
    Control {
        action,
        uuid: None,
        then: None,
        operator: operator.to_string(),
    }
}

/// Record an action: live on `adtop.audit`, durable in the store. Failing to record is
/// reported but does not undo the action.
pub async fn audit(
    ctx: &Context,
    session: Option<&Session>,
    action: Verb,
    target: &str,
    outcome: &Result<String>,
) -> AuditRecord {
    let at = chrono::Utc::now();
    let rec = AuditRecord {
        id: uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(12)
            .collect(),
        at,
        operator: ctx.operator.clone(),
        host: ctx.host.clone(),
        action: action.to_string(),
        target: target.to_string(),
        // A worker's reply is part of it: cut, so that no record outgrows what a reader reads.
        outcome: crate::protocol::sanitize::cap(
            &match outcome {
                Ok(m) => m.clone(),
                Err(e) => format!("{e:#}"),
            },
            crate::protocol::sanitize::REASON_MAX,
        ),
        ok: outcome.is_ok(),
    };
    if let Ok(body) = serde_json::to_vec(&rec) {
        if let Some(s) = session {
            let _ = publish::publish_confirmed(
                &s.confirm,
                names::AUDIT_EXCHANGE,
                "",
                &body,
                publish::persistent(),
                false,
            )
            .await;
        }
        let meta = ObjectMeta {
            content_type: Some("application/json"),
            content_encoding: None,
        };
        if let Err(e) = ctx
            .store
            .put(
                names::AUDIT_CONTAINER,
                &layout::audit_key(at, &rec.id),
                body,
                meta,
            )
            .await
        {
            tracing::warn!("could not store the audit record: {e}");
        }
    }
    rec
}
