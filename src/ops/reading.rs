//! The console's queue reader: a task of its own, beside the feed's data loop, so that reading
//! a deep queue never delays heartbeats, depths or keys. It reads the queue the operator looks
//! at once per [`READ_EVERY`] into a snapshot ([`crate::controller::backlog`]: order kept,
//! nothing lost) and cuts every page from that snapshot, so any page, the last of 50,000 too,
//! is answered at once. Several consoles share one reading through [`super::shared`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::event::ModelEvent;
use super::read::queued_row;
use super::rejected::Rejected;
use super::shared;
use crate::broker::{BrokerError, Session};
use crate::controller::backlog::{self, Backlog};
use crate::protocol::names;

/// How often the queue on screen is read again.
pub const READ_EVERY: Duration = Duration::from_secs(10);

/// What the console looks at: `(queue, offset, limit)` of the Requests view, or nothing.
pub type Wanted = Option<(String, usize, usize)>;

/// One queue's snapshot and when it was read.
pub struct Snapshot {
    pub queue: String,
    pub read_at: Instant,
    pub backlog: Backlog,
}

/// Serve pages of what `wanted` names until the session ends or `wanted` closes.
pub async fn serve(
    session: Arc<Session>,
    names: shared::Names,
    mut wanted: watch::Receiver<Wanted>,
    events: mpsc::Sender<ModelEvent>,
    shares: shared::Shares,
) {
    let mut shared = shared::Reading::start_relaying(session.clone(), names, shares).await;
    let mut snap: Option<Snapshot> = None;
    let mut answered: Wanted = None;
    loop {
        let want = wanted.borrow_and_update().clone();
        let Some((queue, offset, limit)) = want.clone() else {
            snap = None;
            answered = None;
            shared.want(None);
            if wanted.changed().await.is_err() {
                return;
            }
            continue;
        };
        shared.want(Some(&queue));
        // The reader's snapshots arrive once per interval: take each one as it comes.
        if let Some(s) = shared.take_fresh(&queue, READ_EVERY) {
            snap = Some(s);
            answered = None;
        }
        let stale = snap
            .as_ref()
            .is_none_or(|s| s.queue != queue || s.read_at.elapsed() >= READ_EVERY + shared::WAIT);
        if stale {
            match shared.snapshot(&queue, READ_EVERY).await {
                Ok(s) => {
                    snap = Some(s);
                    answered = None;
                }
                Err(e) => {
                    tracing::warn!("read {queue}: {e}");
                    snap = None;
                    // No adtop.rejected yet: nothing was ever rejected, which the view says.
                    if queue == names::REJECTED_QUEUE
                        && matches!(
                            e.downcast_ref::<BrokerError>(),
                            Some(BrokerError::NoQueue { .. })
                        )
                        && answered != want
                    {
                        let _ = events
                            .send(ModelEvent::Rejected {
                                total: 0,
                                rows: Vec::new(),
                            })
                            .await;
                        answered = want.clone();
                    }
                }
            }
        }
        if let Some(s) = snap.as_ref().filter(|s| s.queue == queue)
            && answered != want
        {
            let page = s.backlog.messages.iter().skip(offset).take(limit);
            let total = s.backlog.total.max(s.backlog.messages.len() as u64);
            let event = if queue == names::REJECTED_QUEUE {
                ModelEvent::Rejected {
                    total,
                    rows: page.map(Rejected::from_queued).collect(),
                }
            } else {
                ModelEvent::Requests {
                    queue: queue.clone(),
                    offset,
                    total,
                    rows: page.map(|m| queued_row(&queue, m)).collect(),
                }
            };
            let _ = events.send(event).await;
            answered = want;
        }
        let next = snap
            .as_ref()
            .map_or(Instant::now() + Duration::from_secs(1), |s| {
                s.read_at + READ_EVERY + shared::WAIT
            });
        tokio::select! {
            c = wanted.changed() => if c.is_err() { return },
            _ = tokio::time::sleep_until(next) => {}
            _ = shared.arrived() => {}
        }
    }
}

/// Read `queue` here and now (the elected reader does this for everyone).
pub async fn read_now(session: &Session, queue: &str) -> anyhow::Result<Snapshot> {
    let backlog = backlog::read(session, queue, backlog::READ_CAP).await?;
    Ok(Snapshot {
        queue: queue.to_string(),
        read_at: Instant::now(),
        backlog,
    })
}
