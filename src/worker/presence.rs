//! A worker's presence on the broker: heartbeats on `adtop.heartbeat` (also when idle), and the
//! listener that forwards the control messages operators send on `adtop.control` to the job
//! loop (which answers them in [`super::control`]).

use std::sync::Arc;

use futures::StreamExt;
use lapin::Channel;
use tokio::sync::{Notify, mpsc, watch};

use super::{Shared, WorkerOptions};
use crate::broker::{BrokerError, Session, publish};
use crate::protocol::messages::{Control, ControlAction, Heartbeat, WorkerState};
use crate::protocol::names;

/// A control message and where to send the answer.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub control: Control,
    pub reply_to: Option<String>,
}

pub fn heartbeat(opts: &WorkerOptions, shared: &Shared) -> Heartbeat {
    let s = shared.lock().map(|s| s.clone()).ok();
    let (state, job, done, failed, tmpfailed, rejected, testbed_broken) = match s {
        Some(s) => (
            s.state,
            s.job,
            s.done,
            s.failed,
            s.tmpfailed,
            s.rejected,
            s.testbed_broken,
        ),
        None => (WorkerState::Stopping, None, 0, 0, 0, 0, None),
    };
    Heartbeat {
        id: opts.id.clone(),
        host: opts.host.clone(),
        pid: std::process::id(),
        arch: opts.arch.clone(),
        releases: opts.releases.clone(),
        contexts: opts.contexts.clone(),
        queues: opts.queue_names(),
        state,
        job,
        done,
        failed,
        tmpfailed,
        rejected,
        version: env!("CARGO_PKG_VERSION").to_string(),
        sent: chrono::Utc::now(),
        interval: opts.heartbeat_interval.as_secs().max(1),
        testbed_broken,
    }
}

/// State changes within this long of a heartbeat go out together in the next one: a worker
/// doing a hundred short jobs a second would otherwise send two or three heartbeats per job,
/// which no console can show and the broker pays for.
const CHANGES_GAP: std::time::Duration = std::time::Duration::from_millis(100);

/// Every `heartbeat_interval`, or when woken (state change, ping), at most one per
/// [`CHANGES_GAP`]; the last change is always sent.
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
        // A wake meanwhile leaves its permit: the heartbeat after the gap carries it.
        tokio::time::sleep(CHANGES_GAP).await;
    }
}

/// Bind a private queue to this worker's control keys and forward what arrives. A ping wakes
/// the heartbeat here, not in the worker's loop: the answer must not wait for a loop that is
/// busy (giving back a request while its queue is read, say), since `adtop submit` waits for
/// every worker's answer.
pub async fn listen_control(
    session: &Session,
    id: &str,
    tx: mpsc::Sender<Incoming>,
    wake: Arc<Notify>,
) -> Result<(), BrokerError> {
    let ch = session.channel().await?;
    let key = names::control_key(id);
    let mut consumer = crate::broker::listen::listen_keys(
        &ch,
        names::CONTROL_EXCHANGE,
        &[&key, names::CONTROL_ALL],
    )
    .await?;
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            match serde_json::from_slice::<Control>(&d.data) {
                Ok(control) => {
                    if control.action == ControlAction::Ping {
                        wake.notify_one();
                    }
                    let reply_to = d.properties.reply_to().as_ref().map(|s| s.to_string());
                    if tx.send(Incoming { control, reply_to }).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::warn!(
                    "ignoring malformed control message: {}",
                    crate::protocol::sanitize::line(&crate::protocol::sanitize::cap(
                        &e.to_string(),
                        crate::protocol::sanitize::REASON_MAX
                    ))
                ),
            }
        }
        drop(ch);
    });
    Ok(())
}
