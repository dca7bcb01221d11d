//! Which rows a view shows, in which order, and what identifies each: shared by the key
//! handler (selection, marks, targets) and the drawing, so both see the same list.

use regex::Regex;

use super::app::App;
use super::view::View;

/// A `/` filter: the text typed and the compiled regex.
#[derive(Debug, Clone)]
pub struct Filter {
    pub text: String,
    pub re: Regex,
}

impl Filter {
    /// Case-insensitive unless the text has an upper-case letter (smart case).
    pub fn new(text: &str) -> Result<Self, String> {
        let insensitive = !text.chars().any(char::is_uppercase);
        regex::RegexBuilder::new(text)
            .case_insensitive(insensitive)
            .size_limit(1 << 20)
            .build()
            .map(|re| Self {
                text: text.to_string(),
                re,
            })
            .map_err(|e| {
                format!(
                    "bad regex: {}",
                    e.to_string().lines().last().unwrap_or("invalid")
                )
            })
    }
}

impl App {
    /// The queues on screen, for live depths: the Queues view's visible rows (`height` rows
    /// from the first one drawn) or the queue whose requests are open.
    pub fn queues_on_screen(&self, height: usize) -> Vec<String> {
        match self.view {
            View::Queues => {
                let first = self.cursors[View::Queues].offset.get();
                self.rows(View::Queues)
                    .into_iter()
                    .skip(first)
                    .take(height)
                    .filter_map(|i| self.model.queues.get(i).map(|q| q.name.clone()))
                    .collect()
            }
            View::Requests => self
                .model
                .requests
                .as_ref()
                .map(|p| vec![p.queue.clone()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Indices into the view's collection, filtered and sorted as shown.
    pub fn rows(&self, view: View) -> Vec<usize> {
        let mut rows = self.rows_unsorted(view);
        self.sort_rows(view, &mut rows);
        rows
    }

    /// The view's rows in its own order (queues by name, hung jobs first, newest results
    /// first), before the operator's sort.
    fn rows_unsorted(&self, view: View) -> Vec<usize> {
        let m = &self.model;
        let filter = self.filters[view].as_ref();
        let keep = |text: &dyn Fn() -> String| filter.is_none_or(|f| f.re.is_match(&text()));
        match view {
            View::Queues => {
                let mut shown: Vec<_> = m
                    .queues
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| keep(&|| q.name.clone()))
                    .collect();
                shown.sort_by(|(_, a), (_, b)| a.name.cmp(&b.name));
                shown.into_iter().map(|(i, _)| i).collect()
            }
            View::Requests => match &m.requests {
                Some(p) => p
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        keep(&|| format!("{} {} {}", r.package, r.triggers.join(" "), r.requester))
                    })
                    .map(|(i, _)| i)
                    .collect(),
                None => Vec::new(),
            },
            View::Workers => m
                .workers
                .iter()
                .enumerate()
                .filter(|(_, w)| {
                    let h = &w.heartbeat;
                    keep(&|| {
                        let job = h.job.as_ref().map_or("", |j| j.package.as_str());
                        format!(
                            "{} {} {} {} {:?} {}",
                            h.id,
                            h.host,
                            h.arch,
                            h.releases.join(" "),
                            h.state,
                            job
                        )
                    })
                })
                .map(|(i, _)| i)
                .collect(),
            View::Running => {
                let mut shown: Vec<_> = m
                    .running
                    .iter()
                    .enumerate()
                    .filter(|(_, j)| {
                        keep(&|| {
                            format!(
                                "{} {} {} {} {}",
                                j.package,
                                j.release,
                                j.arch,
                                j.worker.as_deref().unwrap_or(""),
                                j.triggers.join(" ")
                            )
                        })
                    })
                    .collect();
                // Hung first, then longest running.
                shown.sort_by_key(|&(i, j)| (m.hung(j).is_none(), j.started, i));
                shown.into_iter().map(|(i, _)| i).collect()
            }
            View::Results => {
                let rf = &self.result_filter;
                m.results
                    .entries()
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| rf.matches(e))
                    .filter(|(_, e)| {
                        keep(&|| {
                            format!(
                                "{} {} {} {} {} {}",
                                e.package,
                                e.release,
                                e.arch,
                                e.worker,
                                e.triggers.join(" "),
                                e.requester
                            )
                        })
                    })
                    .map(|(i, _)| i)
                    .collect()
            }
            View::Audit => m
                .audit
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, a)| {
                    keep(&|| {
                        format!(
                            "{} {} {} {} {}",
                            a.operator, a.host, a.action, a.target, a.outcome
                        )
                    })
                })
                .map(|(i, _)| i)
                .collect(),
            View::Rejected => match &m.rejected {
                Some(p) => p
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        keep(&|| {
                            format!(
                                "{} {} {} {} {}",
                                r.package, r.source_queue, r.worker, r.reason_code, r.reason
                            )
                        })
                    })
                    .map(|(i, _)| i)
                    .collect(),
                None => Vec::new(),
            },
            View::Log => Vec::new(),
        }
    }

    /// What identifies row `i` of a view, for marks.
    pub fn row_key(&self, view: View, i: usize) -> Option<String> {
        let m = &self.model;
        match view {
            View::Queues => m.queues.get(i).map(|q| q.name.clone()),
            View::Requests => m
                .requests
                .as_ref()?
                .rows
                .get(i)
                .map(|r| r.uuid.clone().unwrap_or_else(|| r.body.clone())),
            View::Workers => m.workers.get(i).map(|w| w.heartbeat.id.clone()),
            View::Running => m.running.get(i).map(|j| j.uuid.clone()),
            View::Results => m.results.entries().get(i).map(|e| e.uuid.clone()),
            View::Audit => m.audit.get(i).map(|a| a.id.clone()),
            View::Rejected => m.rejected.as_ref()?.rows.get(i).map(|r| r.id.clone()),
            View::Log => None,
        }
    }

    /// Keep the selection of `view` on the item it was on: rows added, removed or re-sorted
    /// above it must not move Enter or an action onto another queue or result. An item that
    /// has gone leaves the selection where it was (clamped), on whatever is there now.
    pub fn keep_selection(&mut self, view: View) {
        let rows = self.rows(view);
        if let Some(key) = self.cursors[view].key() {
            let at = rows
                .iter()
                .position(|&i| self.row_key(view, i).as_deref() == Some(key));
            match at {
                Some(pos) => self.cursors[view].follow(pos),
                None => self.cursors[view].pin(None),
            }
        }
        self.cursors[view].clamp(rows.len());
        if self.cursors[view].key().is_none() {
            let key = rows
                .get(self.cursors[view].selected())
                .and_then(|&i| self.row_key(view, i));
            self.cursors[view].pin(key);
        }
    }

    /// The collection index of the selected row, if any.
    pub fn selected(&self, view: View) -> Option<usize> {
        // The list may have shrunk under the cursor: the last row is then the one shown selected.
        let rows = self.rows(view);
        let sel = self.cursors[view]
            .selected()
            .min(rows.len().saturating_sub(1));
        rows.get(sel).copied()
    }

    pub fn is_marked(&self, view: View, i: usize) -> bool {
        let marks = &self.marks[view];
        !marks.is_empty() && self.row_key(view, i).is_some_and(|k| marks.contains(&k))
    }

    /// What an action acts on: every marked row of the view (shown or not), else the selection.
    pub fn targets(&self, view: View) -> Vec<usize> {
        let marks = &self.marks[view];
        if marks.is_empty() {
            return self.selected(view).into_iter().collect();
        }
        let len = match view {
            View::Queues => self.model.queues.len(),
            View::Requests => self.model.requests.as_ref().map_or(0, |p| p.rows.len()),
            View::Workers => self.model.workers.len(),
            View::Running => self.model.running.len(),
            View::Results => self.model.results.len(),
            View::Audit => self.model.audit.len(),
            View::Rejected => self.model.rejected.as_ref().map_or(0, |p| p.rows.len()),
            View::Log => 0,
        };
        (0..len).filter(|&i| self.is_marked(view, i)).collect()
    }
}
