//! Ordering rows by a column of their view (`>` `<` `S`, `:sort COL`), in any table view.

use std::cmp::Ordering;

use super::app::App;
use super::columns::ColId;
use super::view::View;

/// `Some` first where values exist: an unknown age or time sorts below every known one.
fn opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    a.cmp(&b)
}

impl App {
    /// Sort the view's rows (already in the view's own order) by its chosen column; equal
    /// rows keep their own order, so sorting twice shows the same list.
    pub(super) fn sort_rows(&self, view: View, rows: &mut [usize]) {
        let sort = self.sorts[view];
        let Some(col) = sort.column else {
            if sort.descending {
                rows.reverse();
            }
            return;
        };
        let dir = |o: Ordering| if sort.descending { o.reverse() } else { o };
        if view == View::Queues && col == ColId::Oldest {
            // Each queue's oldest once, not per comparison (it may scan a page of requests).
            let m = &self.model;
            let ages: Vec<_> = m
                .queues
                .iter()
                .map(|q| m.oldest(q).map(|t| m.now - t))
                .collect();
            rows.sort_by(|&a, &b| {
                dir(opt(
                    ages.get(a).copied().flatten(),
                    ages.get(b).copied().flatten(),
                ))
            });
            return;
        }
        rows.sort_by(|&a, &b| dir(self.compare(view, col, a, b)));
    }

    /// Rows `a` and `b` (indices into the view's collection) by column `col`, ascending.
    fn compare(&self, view: View, col: ColId, a: usize, b: usize) -> Ordering {
        let m = &self.model;
        let now = m.now;
        match view {
            View::Queues => {
                let (Some(x), Some(y)) = (m.queues.get(a), m.queues.get(b)) else {
                    return Ordering::Equal;
                };
                match col {
                    ColId::Ready => x.ready.cmp(&y.ready),
                    ColId::Unacked => x.unacked.cmp(&y.unacked),
                    ColId::Consumers => x.consumers.cmp(&y.consumers),
                    // The oldest request first when descending: ages, not times.
                    ColId::Oldest => {
                        opt(m.oldest(x).map(|t| now - t), m.oldest(y).map(|t| now - t))
                    }
                    ColId::PublishRate => x.publish_rate.total_cmp(&y.publish_rate),
                    ColId::DeliverRate => x.deliver_rate.total_cmp(&y.deliver_rate),
                    ColId::Depth => x.depth().cmp(&y.depth()),
                    ColId::Priority => x.max_priority.cmp(&y.max_priority),
                    ColId::Alert => x.starved().cmp(&y.starved()),
                    _ => x.name.cmp(&y.name),
                }
            }
            View::Requests => {
                let Some(p) = &m.requests else {
                    return Ordering::Equal;
                };
                let (Some(x), Some(y)) = (p.rows.get(a), p.rows.get(b)) else {
                    return Ordering::Equal;
                };
                match col {
                    ColId::Package => x.package.cmp(&y.package),
                    ColId::Triggers => x.triggers.cmp(&y.triggers),
                    ColId::Requester => x.requester.cmp(&y.requester),
                    ColId::Submitted => opt(x.submit_time, y.submit_time),
                    ColId::Age => opt(
                        x.submit_time.map(|t| now - t),
                        y.submit_time.map(|t| now - t),
                    ),
                    ColId::Priority => x.priority.cmp(&y.priority),
                    ColId::Uuid => x.uuid.cmp(&y.uuid),
                    _ => a.cmp(&b),
                }
            }
            View::Workers => {
                let (Some(x), Some(y)) = (m.workers.get(a), m.workers.get(b)) else {
                    return Ordering::Equal;
                };
                let (h, k) = (&x.heartbeat, &y.heartbeat);
                let job = |hb: &crate::protocol::messages::Heartbeat| {
                    hb.job.as_ref().map(|j| j.package.clone())
                };
                match col {
                    ColId::Health => (m.health(x) as u8, x.age_secs(now))
                        .cmp(&(m.health(y) as u8, y.age_secs(now))),
                    ColId::Host => h.host.cmp(&k.host),
                    ColId::Arch => h.arch.cmp(&k.arch),
                    ColId::Releases => h.releases.cmp(&k.releases),
                    ColId::State => {
                        crate::ops::rules::worker_state(h).cmp(crate::ops::rules::worker_state(k))
                    }
                    ColId::Job => job(h).cmp(&job(k)),
                    ColId::Done => h.done.cmp(&k.done),
                    ColId::Failed => h.failed.cmp(&k.failed),
                    ColId::Tmpfailed => h.tmpfailed.cmp(&k.tmpfailed),
                    ColId::Version => h.version.cmp(&k.version),
                    _ => h.id.cmp(&k.id),
                }
            }
            View::Running => {
                let (Some(x), Some(y)) = (m.running.get(a), m.running.get(b)) else {
                    return Ordering::Equal;
                };
                // Share of the timeout used, in thousandths (no timeout: unknown).
                let used = |j: &super::model::RunningJob| {
                    j.timeout
                        .filter(|t| *t > 0)
                        .map(|t| j.elapsed_secs(now).saturating_mul(1000) / t as i64)
                };
                match col {
                    ColId::Package => x.package.cmp(&y.package),
                    ColId::ReleaseArch => (&x.release, &x.arch).cmp(&(&y.release, &y.arch)),
                    ColId::Worker => x.worker.cmp(&y.worker),
                    ColId::Elapsed => x.elapsed_secs(now).cmp(&y.elapsed_secs(now)),
                    ColId::OfTimeout => opt(used(x), used(y)),
                    ColId::Silent => opt(x.silence_secs(now), y.silence_secs(now)),
                    ColId::State => {
                        let label = |j: &super::model::RunningJob| {
                            m.hung(j).map_or("running", |h| h.label())
                        };
                        label(x).cmp(label(y))
                    }
                    ColId::Uuid => x.uuid.cmp(&y.uuid),
                    _ => Ordering::Equal,
                }
            }
            View::Results => {
                let r = m.results.entries();
                let (Some(x), Some(y)) = (r.get(a), r.get(b)) else {
                    return Ordering::Equal;
                };
                match col {
                    ColId::Finished => x.finished.cmp(&y.finished),
                    ColId::Package => x.package.cmp(&y.package),
                    ColId::Version => x.testpkg_version.cmp(&y.testpkg_version),
                    ColId::Release => x.release.cmp(&y.release),
                    ColId::Arch => x.arch.cmp(&y.arch),
                    ColId::Result => (x.class, x.exitcode).cmp(&(y.class, y.exitcode)),
                    ColId::Took => x.duration.cmp(&y.duration),
                    ColId::Worker => x.worker.cmp(&y.worker),
                    ColId::Triggers => x.triggers.cmp(&y.triggers),
                    ColId::Uuid => x.uuid.cmp(&y.uuid),
                    _ => Ordering::Equal,
                }
            }
            View::Audit => {
                let (Some(x), Some(y)) = (m.audit.get(a), m.audit.get(b)) else {
                    return Ordering::Equal;
                };
                match col {
                    ColId::At => x.at.cmp(&y.at),
                    ColId::Operator => x.operator.cmp(&y.operator),
                    ColId::Host => x.host.cmp(&y.host),
                    ColId::Action => x.action.cmp(&y.action),
                    ColId::Target => x.target.cmp(&y.target),
                    ColId::Ok => x.ok.cmp(&y.ok),
                    ColId::Outcome => x.outcome.cmp(&y.outcome),
                    _ => Ordering::Equal,
                }
            }
            View::Rejected => {
                let Some(p) = &m.rejected else {
                    return Ordering::Equal;
                };
                let (Some(x), Some(y)) = (p.rows.get(a), p.rows.get(b)) else {
                    return Ordering::Equal;
                };
                match col {
                    ColId::At => opt(x.rejected_at, y.rejected_at),
                    ColId::Queue => x.source_queue.cmp(&y.source_queue),
                    ColId::Worker => x.worker.cmp(&y.worker),
                    ColId::Code => x.reason_code.cmp(&y.reason_code),
                    ColId::Package => x.package.cmp(&y.package),
                    ColId::Reason => x.reason.cmp(&y.reason),
                    _ => Ordering::Equal,
                }
            }
            View::Log => Ordering::Equal,
        }
    }
}
