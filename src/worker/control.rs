//! The one handler of control messages (stop, drain, resume, ping, replay), whether the worker
//! is idle or running a job: the rule is [`decide::control`]; this applies it and answers.

use super::Worker;
use super::decide::{self, Effect};
use super::presence::Incoming;
use crate::broker::{Session, publish};
use crate::protocol::messages::{ControlReply, WorkerState};
use crate::protocol::sanitize::{self, REASON_MAX, cap};

/// Apply a control message; `running` is the uuid of the running job, if any. Stop and replay
/// are carried out by the caller (they act on the running job), which then answers; every
/// other message is answered here.
pub async fn handle(
    w: &mut Worker,
    session: &Session,
    m: &Incoming,
    running: Option<&str>,
) -> Effect {
    let c = &m.control;
    let (effect, ok, message) = decide::control(c.action, c.uuid.as_deref(), c.then, running);
    match effect {
        Effect::Pause => {
            w.paused = true;
            w.set_state(if running.is_some() {
                WorkerState::Draining
            } else {
                WorkerState::Paused
            });
        }
        Effect::Resume => {
            // An operator who resumes a worker stopped by a broken testbed says it is fixed.
            w.streak = Default::default();
            if let Ok(mut s) = w.shared.lock() {
                s.testbed_broken = None;
            }
            w.paused = false;
            w.set_state(if running.is_some() {
                WorkerState::Running
            } else {
                WorkerState::Idle
            });
        }
        // A ping's heartbeat was woken on arrival (`presence::listen_control`).
        Effect::None => {}
        Effect::Stop(_) | Effect::Replay => return effect,
    }
    reply(w, session, m, ok, message).await;
    effect
}

/// Answer a control message to its `reply_to`, if it has one.
pub async fn reply(
    w: &Worker,
    session: &Session,
    m: &Incoming,
    ok: bool,
    message: impl Into<String>,
) {
    let message = cap(&message.into(), REASON_MAX);
    tracing::info!(
        "control {:?} from {}: {}",
        m.control.action,
        sanitize::line(&cap(&m.control.operator, 128)),
        sanitize::line(&message)
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
