//! A worker's presence on the broker: heartbeats on `adtop.heartbeat` (also when idle), and the
//! control messages operators send on `adtop.control`.

use std::sync::Arc;

use futures::StreamExt;
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use tokio::sync::{Notify, mpsc, watch};

use super::{Shared, Worker, WorkerOptions};
use crate::broker::{BrokerError, Session, publish, topology};
use crate::protocol::messages::{Control, ControlAction, ControlReply, Heartbeat, WorkerState};
use crate::protocol::names;

/// A control message and where to send the answer.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub control: Control,
    pub reply_to: Option<String>,
}

pub fn heartbeat(opts: &WorkerOptions, shared: &Shared) -> Heartbeat {
    let s = shared.lock().map(|s| s.clone()).ok();
    let (state, job, done, failed, tmpfailed, rejected) = match s {
        Some(s) => (s.state, s.job, s.done, s.failed, s.tmpfailed, s.rejected),
        None => (WorkerState::Stopping, None, 0, 0, 0, 0),
    };
    Heartbeat {
        id: opts.id.clone(),
        host: opts.host.clone(),
        pid: std::process::id(),
        arch: opts.arch.clone(),
        releases: opts.releases.clone(),
        contexts: opts.contexts.clone(),
        queues: opts.queues.iter().map(ToString::to_string).collect(),
        state,
        job,
        done,
        failed,
        tmpfailed,
        rejected,
        version: env!("CARGO_PKG_VERSION").to_string(),
        sent: chrono::Utc::now(),
        interval: opts.heartbeat_interval.as_secs().max(1),
    }
}

/// Every `heartbeat_interval`, or at once when woken (state change, ping).
pub async fn heartbeat_loop(
    opts: WorkerOptions,
    shared: Shared,
    fast: watch::Receiver<Option<Channel>>,
    wake: Arc<Notify>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(opts.heartbeat_interval) => {}
            _ = wake.notified() => {}
        }
        // The worker is gone (an embedded worker was stopped): so are its heartbeats.
        if fast.has_changed().is_err() {
            break;
        }
        let ch = fast.borrow().clone();
        if let Some(ch) = ch
            && let Ok(body) = serde_json::to_vec(&heartbeat(&opts, &shared))
        {
            let _ = publish::publish_fast(&ch, names::HEARTBEAT_EXCHANGE, "", &body).await;
        }
    }
}

/// Bind a private queue to this worker's control keys and forward what arrives.
pub async fn listen_control(
    session: &Session,
    id: &str,
    tx: mpsc::Sender<Incoming>,
) -> Result<(), BrokerError> {
    let ch = session.channel().await?;
    let key = names::control_key(id);
    let q =
        topology::private_queue(&ch, names::CONTROL_EXCHANGE, &[&key, names::CONTROL_ALL]).await?;
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "control".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BrokerError::amqp("consume control"))?;
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let _ = d.ack(BasicAckOptions::default()).await;
            match serde_json::from_slice::<Control>(&d.data) {
                Ok(control) => {
                    let reply_to = d.properties.reply_to().as_ref().map(|s| s.to_string());
                    if tx.send(Incoming { control, reply_to }).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::warn!("ignoring malformed control message: {e}"),
            }
        }
        drop(ch);
    });
    Ok(())
}

/// Answer a control message to its `reply_to`, if it has one.
pub async fn reply(
    w: &Worker,
    session: &Session,
    m: &Incoming,
    ok: bool,
    message: impl Into<String>,
) {
    let message = message.into();
    tracing::info!(
        "control {:?} from {}: {message}",
        m.control.action,
        crate::protocol::sanitize::line(&m.control.operator)
    );
    if let Some(to) = &m.reply_to {
        let r = ControlReply {
            worker: w.opts.id.clone(),
            ok,
            message,
        };
        if let Ok(body) = serde_json::to_vec(&r) {
            let _ = publish::publish_fast(&session.fast, "", to, &body).await;
        }
    }
}

/// What an idle worker must change after a control message.
pub enum Change {
    None,
    Pause,
    Resume,
}

pub async fn idle_control(w: &mut Worker, session: &Session, m: Incoming) -> Change {
    match m.control.action {
        ControlAction::Ping => {
            w.wake_heartbeat.notify_one();
            reply(w, session, &m, true, "pong").await;
            Change::None
        }
        ControlAction::Drain => {
            w.paused = true;
            reply(w, session, &m, true, "drained: taking no new jobs").await;
            Change::Pause
        }
        ControlAction::Resume => {
            w.paused = false;
            reply(w, session, &m, true, "resumed: taking jobs").await;
            Change::Resume
        }
        ControlAction::Stop | ControlAction::Replay => {
            let uuid = m.control.uuid.clone().unwrap_or_default();
            reply(w, session, &m, false, format!("not running {uuid}")).await;
            Change::None
        }
    }
}
