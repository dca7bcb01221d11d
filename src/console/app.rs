//! The console's state apart from drawing: the model plus what the operator is looking at,
//! and the one place keys become actions and confirmed actions become requests.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use regex::Regex;

use super::action::Action;
use super::columns::{self, ColId, Sort};
use super::config::ConsoleConfig;
use super::dialog::{Answer, ConfirmDialog};
use super::event::ModelEvent;
use super::keymap::{Key, KeyMap, Layer};
use super::model::{ClassFilter, Level, LogSource, Model, ResultFilter};
use super::op::{Fetch, OpRequest, Outbound};
use super::prompt::{Command, Prompt, PromptKind, parse_command};
use super::rows::Filter;
use super::theme::Theme;
use super::view::{Cursor, PerView, View};
use super::zone::Zone;
use crate::protocol::messages::AfterStop;

/// What has the keyboard.
#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    Help {
        scroll: usize,
    },
    Prompt(Prompt),
    Confirm(ConfirmDialog),
    /// The detail view of one row (`d`).
    Detail(super::detail::Detail),
}

/// The log viewer's own state.
#[derive(Debug, Clone)]
pub struct LogView {
    /// First line shown (absolute index) when not following.
    pub top: usize,
    pub follow: bool,
    pub wrap: bool,
    pub hscroll: usize,
    pub search: Option<Filter>,
    /// The line a jump or search landed on.
    pub focus: Option<usize>,
    /// The first line drawn last time (following moves it), so scrolling starts from there.
    pub shown_top: Cell<usize>,
}

impl Default for LogView {
    fn default() -> Self {
        Self {
            top: 0,
            follow: true,
            wrap: false,
            hscroll: 0,
            search: None,
            focus: None,
            shown_top: Cell::new(0),
        }
    }
}

pub struct App {
    pub model: Model,
    pub view: View,
    history: Vec<View>,
    pub cursors: PerView<Cursor>,
    pub filters: PerView<Option<Filter>>,
    pub marks: PerView<BTreeSet<String>>,
    /// Each view's sort column and direction (Queues by name to start with).
    pub sorts: PerView<Sort>,
    /// The operator's time zone, for every time on screen.
    pub zone: Zone,
    pub result_filter: ResultFilter,
    pub logview: LogView,
    pub mode: Mode,
    pub keymap: KeyMap,
    pub theme: Theme,
    pub operator: String,
    pub read_only: bool,
    pub embedded_worker: bool,
    pub log_dir: PathBuf,
    pub quit: bool,
    /// The operator asked for a full redraw (the terminal loop clears the screen once).
    pub redraw: bool,
    /// Rows in the body at the last draw, for paging.
    pub page: Cell<usize>,
    /// The rejected request the edit prompt is open for.
    pub editing: Option<super::rejected::Editing>,
    /// Text for the operator's clipboard: the terminal loop writes it as OSC 52, then clears it.
    pub clipboard: Option<String>,
    /// Text for `$PAGER`: the terminal loop leaves the screen, runs the pager, comes back.
    pub pager: Option<String>,
    next_op: u64,
}

impl App {
    pub fn new(model: Model, keymap: KeyMap, theme: Theme, config: &ConsoleConfig) -> Self {
        Self {
            model,
            view: View::Queues,
            history: Vec::new(),
            cursors: Default::default(),
            filters: Default::default(),
            marks: Default::default(),
            sorts: {
                let mut s: PerView<Sort> = Default::default();
                s[View::Queues] = Sort::by(ColId::Queue, false);
                s
            },
            zone: config.zone,
            result_filter: ResultFilter::default(),
            logview: LogView::default(),
            mode: Mode::Normal,
            keymap,
            theme,
            operator: config.operator.clone(),
            read_only: config.read_only,
            embedded_worker: config.embedded_worker,
            log_dir: config.log_dir.clone(),
            quit: false,
            redraw: false,
            page: Cell::new(20),
            editing: None,
            clipboard: None,
            pager: None,
            next_op: 1,
        }
    }

    /// Apply a model event; true when a redraw is due.
    pub fn apply(&mut self, event: ModelEvent) -> bool {
        self.model.apply(event)
    }

    /// The layer keys are looked up in right now.
    pub fn layer(&self) -> Layer {
        match &self.mode {
            Mode::Normal => self.view.layer(),
            Mode::Help { .. } => Layer::Help,
            Mode::Prompt(_) => Layer::Prompt,
            Mode::Confirm(_) => Layer::Dialog,
            Mode::Detail(_) => Layer::Detail,
        }
    }

    /// One key press. Returns what must go out (fetches, confirmed operations).
    pub fn handle_key(&mut self, ev: KeyEvent) -> Vec<Outbound> {
        let key = Key::from_event(&ev);
        let printable = match ev.code {
            KeyCode::Char(c)
                if !ev
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(c)
            }
            _ => None,
        };
        match &mut self.mode {
            Mode::Confirm(d) => {
                if let (Some(c), Some(_)) = (printable, &d.expected) {
                    d.type_char(c);
                    return Vec::new();
                }
                if d.expected.is_some()
                    && self.keymap.get(Layer::Prompt, key) == Some(Action::PromptBackspace)
                {
                    d.backspace();
                    return Vec::new();
                }
                match self.keymap.get(Layer::Dialog, key) {
                    Some(a) => self.dispatch(a),
                    None => Vec::new(),
                }
            }
            Mode::Prompt(p) => match self.keymap.get(Layer::Prompt, key) {
                Some(a) => self.dispatch(a),
                None => {
                    if let Some(c) = printable {
                        p.push(c);
                    }
                    Vec::new()
                }
            },
            Mode::Help { .. } => match self.keymap.get(Layer::Help, key) {
                Some(a) => self.dispatch(a),
                None => Vec::new(),
            },
            Mode::Detail(_) => match self.keymap.get(Layer::Detail, key) {
                Some(a) => self.dispatch(a),
                None => Vec::new(),
            },
            Mode::Normal => match self.keymap.lookup(self.view.layer(), key) {
                Some(a) => self.dispatch(a),
                None => Vec::new(),
            },
        }
    }

    pub(super) fn status(&mut self, level: Level, text: impl Into<String>) {
        self.model.set_status(level, text);
    }

    fn rows_len(&self) -> usize {
        self.rows(self.view).len()
    }

    /// Do what an action means in the current mode and view.
    pub fn dispatch(&mut self, action: Action) -> Vec<Outbound> {
        self.keep_selection(self.view);
        let out = self.dispatch_here(action);
        self.keep_selection(self.view);
        out
    }

    fn dispatch_here(&mut self, action: Action) -> Vec<Outbound> {
        let mut out = Vec::new();
        let page = self.page.get().max(1) as isize;
        match (&mut self.mode, action) {
            (Mode::Help { scroll }, Action::Up) => *scroll = scroll.saturating_sub(1),
            (Mode::Help { scroll }, Action::Down) => *scroll += 1,
            (Mode::Help { scroll }, Action::PageUp) => {
                *scroll = scroll.saturating_sub(page as usize)
            }
            (Mode::Help { scroll }, Action::PageDown) => *scroll += page as usize,
            (Mode::Help { .. }, Action::Back | Action::Help | Action::Quit) => {
                self.mode = Mode::Normal
            }
            (Mode::Help { .. }, _) => {}

            (Mode::Detail(_), a) => self.detail_action(a, page as usize),

            (Mode::Prompt(p), Action::PromptBackspace) => p.backspace(),
            (Mode::Prompt(p), Action::PromptClear) => p.clear(),
            (Mode::Prompt(p), Action::PromptDeleteWord) => p.delete_word(),
            (Mode::Prompt(p), Action::PromptComplete) => p.complete(),
            (Mode::Prompt(_), Action::PromptCancel) => {
                self.mode = Mode::Normal;
                self.cancel_edit();
            }
            (Mode::Prompt(_), Action::PromptSubmit) => {
                if let Mode::Prompt(p) = std::mem::replace(&mut self.mode, Mode::Normal) {
                    out = self.submit_prompt(p);
                }
            }
            (Mode::Prompt(_), _) => {}

            (Mode::Confirm(d), Action::DialogToggle) => d.toggle(),
            (Mode::Confirm(_), Action::DialogCancel) => {
                self.mode = Mode::Normal;
                self.status(Level::Info, "kept: nothing was done");
            }
            (Mode::Confirm(d), Action::DialogAccept) => match (d.action, d.accept()) {
                (_, Answer::Open) => {}
                (_, Answer::Cancelled) => {
                    self.mode = Mode::Normal;
                    self.status(Level::Info, "kept: nothing was done");
                }
                (Action::Quit, Answer::Confirmed(ops)) => {
                    self.mode = Mode::Normal;
                    out = self.confirmed(ops);
                    self.quit = true;
                }
                (_, Answer::Confirmed(ops)) => {
                    self.mode = Mode::Normal;
                    out = self.confirmed(ops);
                }
            },
            (Mode::Confirm(_), _) => {}

            (Mode::Normal, a) => out = self.normal(a, page),
        }
        out
    }

    fn normal(&mut self, action: Action, page: isize) -> Vec<Outbound> {
        let view = self.view;
        if view == View::Log
            && let Some(out) = self.log_action(action, page)
        {
            return out;
        }
        let len = self.rows_len();
        let cur = &mut self.cursors[view];
        match action {
            Action::Noop => {}
            Action::Up => cur.move_by(-1, len),
            Action::Down => cur.move_by(1, len),
            Action::PageUp => cur.move_by(-page, len),
            Action::PageDown => cur.move_by(page, len),
            Action::Top => cur.select(0),
            Action::Bottom => cur.select(len.saturating_sub(1)),
            Action::Left | Action::Right => {}
            Action::ViewQueues => return self.go(View::Queues),
            Action::ViewRequests => return self.open_requests(None),
            Action::ViewWorkers => return self.go(View::Workers),
            Action::ViewRunning => return self.go(View::Running),
            Action::ViewResults => return self.go(View::Results),
            Action::ViewLog => return self.go(View::Log),
            Action::ViewAudit => return self.go(View::Audit),
            Action::ViewRejected => return self.go(View::Rejected),
            Action::NextView => return self.go(view.step(true)),
            Action::PrevView => return self.go(view.step(false)),
            Action::Open => return self.open(),
            Action::Describe => self.describe(),
            Action::CopyUuid => self.copy_uuid(),
            Action::Back => return self.back(),
            Action::Filter => {
                let text = self.filters[view]
                    .as_ref()
                    .map_or(String::new(), |f| f.text.clone());
                self.mode = Mode::Prompt(Prompt::new(PromptKind::Filter, text));
            }
            Action::Search if view == View::Log => {
                self.mode = Mode::Prompt(Prompt::new(PromptKind::Search, ""))
            }
            Action::Search => {
                let text = self.filters[view]
                    .as_ref()
                    .map_or(String::new(), |f| f.text.clone());
                self.mode = Mode::Prompt(Prompt::new(PromptKind::Filter, text));
            }
            Action::Command => self.mode = Mode::Prompt(Prompt::new(PromptKind::Command, "")),
            Action::Help => self.mode = Mode::Help { scroll: 0 },
            // With the embedded worker running, quitting stops it (and aborts its test): ask.
            Action::Quit if self.embedded_worker && self.model.embedded_worker == Some(true) => {
                self.mode = Mode::Confirm(ConfirmDialog::new(
                    Action::Quit,
                    vec![OpRequest::StopEmbeddedWorker],
                ));
            }
            Action::Quit => self.quit = true,
            Action::Redraw => self.redraw = true,
            Action::Mark => {
                if let Some(i) = self.selected(view) {
                    if let Some(key) = self.row_key(view, i) {
                        let marks = &mut self.marks[view];
                        if !marks.remove(&key) {
                            marks.insert(key);
                        }
                    }
                    self.cursors[view].move_by(1, len);
                }
            }
            Action::MarkAll => {
                let keys: Vec<String> = self
                    .rows(view)
                    .into_iter()
                    .filter_map(|i| self.row_key(view, i))
                    .collect();
                self.marks[view].extend(keys);
            }
            Action::ClearMarks => self.marks[view].clear(),
            Action::SortNext | Action::SortPrev | Action::SortReverse if view != View::Log => {
                let s = &mut self.sorts[view];
                *s = match action {
                    // A view still in its own order shows that order reversed.
                    Action::SortReverse => Sort {
                        descending: !s.descending,
                        ..*s
                    },
                    a => s.step(view, a == Action::SortNext),
                };
            }
            Action::NextPage | Action::PrevPage if view == View::Requests => {
                let cap = self.model.thresholds.requests_cap;
                if let Some(p) = self.model.requests.as_mut() {
                    let offset = if action == Action::NextPage {
                        if (p.asked + cap) as u64 >= p.total {
                            return Vec::new();
                        }
                        p.asked + cap
                    } else {
                        p.asked.saturating_sub(cap)
                    };
                    p.asked = offset;
                    self.cursors[view].select(0);
                    return vec![Outbound::Fetch(Fetch::Requests {
                        queue: p.queue.clone(),
                        offset,
                        limit: cap,
                    })];
                }
            }
            Action::ShowFailures | Action::ShowTmpfails | Action::ShowAll => {
                let class = match action {
                    Action::ShowFailures => ClassFilter::Failures,
                    Action::ShowTmpfails => ClassFilter::Tmpfails,
                    _ => ClassFilter::All,
                };
                if action == Action::ShowAll {
                    self.result_filter = ResultFilter::default();
                } else if self.result_filter.class == class {
                    self.result_filter.class = ClassFilter::All;
                } else {
                    self.result_filter.class = class;
                }
                self.cursors[View::Results].select(0);
                if view != View::Results {
                    return self.go(View::Results);
                }
            }
            a if a.is_operator() => return self.request_op(a),
            _ => {}
        }
        Vec::new()
    }

    /// Keys of the log viewer; `None` when the action is not the viewer's own.
    fn log_action(&mut self, action: Action, page: isize) -> Option<Vec<Outbound>> {
        let (first, end) = match &self.model.log {
            Some(l) => (l.first(), l.end()),
            None => (0, 0),
        };
        let lv = &mut self.logview;
        let last_top = end.saturating_sub(page as usize).max(first);
        let from = if lv.follow {
            lv.shown_top.get()
        } else {
            lv.top
        };
        let scroll = |lv: &mut LogView, to: isize| {
            lv.top = (to.max(first as isize) as usize).min(last_top);
            lv.follow = lv.top >= last_top && to >= from as isize;
        };
        match action {
            Action::Up => scroll(lv, from as isize - 1),
            Action::Down => scroll(lv, from as isize + 1),
            Action::PageUp => scroll(lv, from as isize - page),
            Action::PageDown => scroll(lv, from as isize + page),
            Action::Top => scroll(lv, first as isize),
            Action::Bottom => {
                lv.follow = true;
            }
            Action::Left => lv.hscroll = lv.hscroll.saturating_sub(8),
            Action::Right if !lv.wrap => lv.hscroll += 8,
            Action::Follow => {
                lv.follow = !lv.follow;
                if !lv.follow {
                    lv.top = lv.shown_top.get();
                }
                let on = lv.follow;
                self.status(Level::Info, if on { "follow on" } else { "follow off" });
            }
            Action::Wrap => {
                lv.wrap = !lv.wrap;
                lv.hscroll = 0;
            }
            Action::Filter => {
                self.mode = Mode::Prompt(Prompt::new(PromptKind::Search, ""));
            }
            Action::SearchNext | Action::SearchPrev => {
                let Some(re) = lv.search.as_ref().map(|f| f.re.clone()) else {
                    self.status(Level::Info, "no search: press / first");
                    return Some(Vec::new());
                };
                self.search_step(&re, action == Action::SearchNext);
            }
            Action::JumpSummary | Action::JumpFailure => {
                let target = self.model.log.as_ref().and_then(|l| {
                    if action == Action::JumpSummary {
                        l.summary_line()
                    } else {
                        l.first_failure()
                    }
                });
                match target {
                    Some(i) => self.jump_to(i),
                    None => self.status(
                        Level::Info,
                        if action == Action::JumpSummary {
                            "no summary in this log (yet)"
                        } else {
                            "no failing test in this log"
                        },
                    ),
                }
            }
            Action::SaveLog => self.ask_save_log(),
            Action::Pager => self.page_log(),
            _ => return None,
        }
        Some(Vec::new())
    }

    fn jump_to(&mut self, line: usize) {
        let lv = &mut self.logview;
        lv.follow = false;
        lv.focus = Some(line);
        lv.top = line.saturating_sub(2);
    }

    fn search_step(&mut self, re: &Regex, forward: bool) {
        let Some(log) = &self.model.log else { return };
        let lv = &self.logview;
        let here = lv.focus.unwrap_or(if lv.follow {
            lv.shown_top.get()
        } else {
            lv.top
        });
        let found = if forward {
            log.find(re, here + 1, true)
                .or_else(|| log.find(re, log.first(), true))
        } else {
            log.find(re, here, false)
                .or_else(|| log.find(re, log.end(), false))
        };
        match found {
            Some(i) => self.jump_to(i),
            None => self.status(Level::Info, "no match"),
        }
    }

    fn go(&mut self, view: View) -> Vec<Outbound> {
        if view == View::Requests && self.view != View::Requests {
            return self.open_requests(None);
        }
        if view == View::Rejected && self.view != View::Rejected {
            return self.open_rejected();
        }
        self.leave_for(view)
    }

    /// Move to `view`, remembering where from.
    pub(super) fn leave_for(&mut self, view: View) -> Vec<Outbound> {
        let mut out = Vec::new();
        if view != self.view {
            out.extend(self.leaving(view));
            self.history.push(self.view);
            if self.history.len() > 32 {
                self.history.remove(0);
            }
            self.view = view;
        }
        out
    }

    /// Readers stop what only the view being left needed (the queue reader serves the
    /// Requests and the Rejected view).
    fn leaving(&self, to: View) -> Option<Outbound> {
        let reads = |v| matches!(v, View::Requests | View::Rejected);
        (reads(self.view) && to != self.view).then_some(Outbound::Fetch(Fetch::StopRequests))
    }

    /// Back in a view that reads a queue: read it again.
    fn entering(&self) -> Option<Outbound> {
        let cap = self.model.thresholds.requests_cap;
        match self.view {
            View::Requests => self.model.requests.as_ref().map(|p| {
                Outbound::Fetch(Fetch::Requests {
                    queue: p.queue.clone(),
                    offset: p.offset,
                    limit: cap,
                })
            }),
            View::Rejected => Some(super::rejected::fetch_rejected(cap)),
            _ => None,
        }
    }

    fn open_requests(&mut self, queue: Option<String>) -> Vec<Outbound> {
        let queue = queue
            .or_else(|| {
                (self.view == View::Queues)
                    .then(|| self.selected(View::Queues))
                    .flatten()
                    .and_then(|i| self.model.queues.get(i))
                    .map(|q| q.name.clone())
            })
            .or_else(|| self.model.requests.as_ref().map(|p| p.queue.clone()));
        let Some(queue) = queue else {
            // Nothing chosen yet: the view itself says how to choose one.
            if self.view != View::Requests {
                self.history.push(self.view);
                self.view = View::Requests;
            }
            return Vec::new();
        };
        let fresh = self
            .model
            .requests
            .as_ref()
            .is_none_or(|p| p.queue != queue);
        if self.view != View::Requests {
            self.history.push(self.view);
            self.view = View::Requests;
        }
        if fresh {
            self.model.requests = Some(super::model::RequestPage {
                queue: queue.clone(),
                offset: 0,
                total: 0,
                rows: Vec::new(),
                asked: 0,
            });
            self.cursors[View::Requests] = Cursor::default();
            self.marks[View::Requests].clear();
        }
        if let Some(p) = self.model.requests.as_mut() {
            p.asked = 0;
        }
        vec![Outbound::Fetch(Fetch::Requests {
            queue,
            offset: 0,
            limit: self.model.thresholds.requests_cap,
        })]
    }

    fn open(&mut self) -> Vec<Outbound> {
        let view = self.view;
        let Some(i) = self.selected(view) else {
            return Vec::new();
        };
        let (source, fetch) = match view {
            View::Queues => return self.open_requests(None),
            View::Running => {
                let Some(j) = self.model.running.get(i) else {
                    return Vec::new();
                };
                (
                    LogSource::Live {
                        uuid: j.uuid.clone(),
                        worker: j.worker.clone(),
                    },
                    Fetch::Log {
                        uuid: j.uuid.clone(),
                        worker: j.worker.clone(),
                        location: None,
                    },
                )
            }
            View::Workers => {
                let Some(w) = self.model.workers.get(i).map(|w| &w.heartbeat) else {
                    return Vec::new();
                };
                let Some(job) = &w.job else {
                    self.status(Level::Info, "this worker runs no job");
                    return Vec::new();
                };
                (
                    LogSource::Live {
                        uuid: job.uuid.clone(),
                        worker: Some(w.id.clone()),
                    },
                    Fetch::Log {
                        uuid: job.uuid.clone(),
                        worker: Some(w.id.clone()),
                        location: None,
                    },
                )
            }
            View::Results => {
                let Some(e) = self.model.results.entries().get(i) else {
                    return Vec::new();
                };
                (
                    LogSource::Stored {
                        uuid: e.uuid.clone(),
                        container: e.container.clone(),
                        swift_dir: e.swift_dir.clone(),
                    },
                    Fetch::Log {
                        uuid: e.uuid.clone(),
                        worker: None,
                        location: Some((e.container.clone(), e.swift_dir.clone())),
                    },
                )
            }
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        let same = self.model.log.as_ref().is_some_and(|l| l.source == source);
        if !same {
            if self.model.log.is_some() {
                out.push(Outbound::Fetch(Fetch::CloseLog));
            }
            self.model.open_log(source);
            self.logview = LogView {
                wrap: self.logview.wrap,
                ..LogView::default()
            };
            out.push(Outbound::Fetch(fetch));
        }
        out.extend(self.go(View::Log));
        out
    }

    fn back(&mut self) -> Vec<Outbound> {
        let i = self.view;
        if self.view == View::Log && self.logview.search.is_some() {
            self.logview.search = None;
            self.logview.focus = None;
        } else if self.filters[i].is_some() {
            self.filters[i] = None;
        } else if !self.marks[i].is_empty() {
            self.marks[i].clear();
        } else if let Some(prev) = self.history.pop() {
            let mut out: Vec<Outbound> = self.leaving(prev).into_iter().collect();
            self.view = prev;
            out.extend(self.entering());
            return out;
        }
        Vec::new()
    }

    fn submit_prompt(&mut self, p: Prompt) -> Vec<Outbound> {
        match p.kind {
            PromptKind::Filter => {
                let i = self.view;
                if p.input.is_empty() {
                    self.filters[i] = None;
                    return Vec::new();
                }
                match Filter::new(&p.input) {
                    Ok(f) => {
                        self.filters[i] = Some(f);
                        self.cursors[i].select(0);
                    }
                    Err(e) => self.reopen(p, e),
                }
            }
            PromptKind::Search => {
                if p.input.is_empty() {
                    self.logview.search = None;
                    return Vec::new();
                }
                match Filter::new(&p.input) {
                    Ok(f) => {
                        let re = f.re.clone();
                        self.logview.search = Some(f);
                        self.logview.focus = None;
                        self.search_step(&re, true);
                    }
                    Err(e) => self.reopen(p, e),
                }
            }
            PromptKind::Edit => self.submit_edit(p),
            PromptKind::SavePath => {
                if let Err(e) = self.save_log_to(&p.input) {
                    self.reopen(p, e);
                }
            }
            PromptKind::Command => match parse_command(&p.input) {
                Ok(c) => return self.command(c),
                Err(e) => self.reopen(p, e),
            },
        }
        Vec::new()
    }

    /// Keep the prompt open with its text and show what was wrong.
    fn reopen(&mut self, mut p: Prompt, error: String) {
        p.error = Some(error);
        self.mode = Mode::Prompt(p);
    }

    fn command(&mut self, c: Command) -> Vec<Outbound> {
        match c {
            Command::Quit => self.quit = true,
            Command::Help => self.mode = Mode::Help { scroll: 0 },
            Command::Go(View::Requests, q) => return self.open_requests(q),
            Command::Go(View::Log, Some(uuid)) => {
                if let Some(i) = self.model.running.iter().position(|j| j.uuid == uuid) {
                    self.go(View::Running);
                    if let Some(pos) = self.rows(View::Running).iter().position(|&r| r == i) {
                        self.cursors[View::Running].select(pos);
                    }
                    return self.open();
                }
                if let Some(i) = self
                    .model
                    .results
                    .entries()
                    .iter()
                    .position(|e| e.uuid == uuid)
                {
                    self.result_filter = ResultFilter::default();
                    self.filters[View::Results] = None;
                    self.go(View::Results);
                    self.cursors[View::Results].select(i);
                    return self.open();
                }
                self.status(
                    Level::Error,
                    "no running job or recent result with that uuid",
                );
            }
            Command::Go(v, _) => return self.go(v),
            Command::Filter(text) => {
                let p = Prompt::new(PromptKind::Filter, text);
                return self.submit_prompt(p);
            }
            Command::ResultField { field, value } => {
                let slot = match field {
                    "release" => &mut self.result_filter.release,
                    "arch" => &mut self.result_filter.arch,
                    _ => &mut self.result_filter.package,
                };
                // A package's whole history, not only what was loaded at start.
                let history = (field == "package")
                    .then(|| value.clone())
                    .flatten()
                    .map(|package| Outbound::Fetch(Fetch::History { package }));
                if field == "package" {
                    let room = if value.is_some() {
                        crate::ops::feed::HISTORY_PACKAGE
                    } else {
                        0
                    };
                    self.model.results.make_room(room);
                }
                *slot = value;
                self.cursors[View::Results].select(0);
                let mut out: Vec<Outbound> = history.into_iter().collect();
                out.extend(self.go(View::Results));
                return out;
            }
            Command::Sort(col) => {
                // The Log view has no columns: `:sort` there sorts the Queues view, as before.
                let view = if self.view == View::Log {
                    View::Queues
                } else {
                    self.view
                };
                match columns::find(view, &col) {
                    Some(c) => {
                        let first = columns::of(view)
                            .iter()
                            .find(|x| x.id == c)
                            .is_some_and(|x| x.desc_first);
                        self.sorts[view] = Sort::by(c, first);
                        return self.go(view);
                    }
                    None => self.status(
                        Level::Error,
                        format!(
                            "no column `{col}` in {} ({})",
                            view.title(),
                            columns::names(view)
                        ),
                    ),
                }
            }
            Command::Run(a) => return self.dispatch(a),
        }
        Vec::new()
    }

    /// The start of the confirm path: build the requests, then ask (or refuse).
    fn request_op(&mut self, action: Action) -> Vec<Outbound> {
        if self.read_only {
            self.status(
                Level::Error,
                format!("read-only: {} refused", action.name()),
            );
            return Vec::new();
        }
        if action == Action::Resubmit {
            if let Err(why) = self.start_edit() {
                self.status(Level::Info, why);
            }
            return Vec::new();
        }
        let ops = match self.ops_for(action) {
            Ok(ops) => ops,
            Err(why) => {
                self.status(Level::Info, why);
                return Vec::new();
            }
        };
        if action.needs_confirm() {
            self.mode = Mode::Confirm(ConfirmDialog::new(action, ops));
            Vec::new()
        } else {
            self.confirmed(ops)
        }
    }

    fn ops_for(&self, action: Action) -> Result<Vec<OpRequest>, String> {
        let m = &self.model;
        let need = |view: View, what: &str| -> Result<Vec<usize>, String> {
            if self.view != view {
                return Err(format!("{} works in the {} view", action.name(), what));
            }
            let t = self.targets(view);
            if t.is_empty() {
                Err(format!("nothing to {}: select or mark rows", action.name()))
            } else {
                Ok(t)
            }
        };
        let ops: Vec<OpRequest> = match action {
            Action::Retry => need(View::Results, "Results")?
                .into_iter()
                .filter_map(|i| m.results.entries().get(i))
                .map(|e| OpRequest::Retry {
                    entry: Box::new(e.clone()),
                })
                .collect(),
            Action::Cancel => {
                let p = m.requests.as_ref().ok_or("no queue open")?;
                need(View::Requests, "Requests")?
                    .into_iter()
                    .filter_map(|i| p.rows.get(i))
                    .map(|r| OpRequest::Cancel {
                        queue: p.queue.clone(),
                        uuid: r.uuid.clone(),
                        body: r.body.clone(),
                    })
                    .collect()
            }
            Action::StopRequeue | Action::StopCancel => {
                let then = if action == Action::StopRequeue {
                    AfterStop::Requeue
                } else {
                    AfterStop::Cancel
                };
                let idx = need(View::Running, "Running")?;
                let ops: Vec<OpRequest> = idx
                    .into_iter()
                    .filter_map(|i| m.running.get(i))
                    .filter_map(|j| {
                        j.worker.as_ref().map(|w| OpRequest::Stop {
                            worker: w.clone(),
                            uuid: j.uuid.clone(),
                            then,
                        })
                    })
                    .collect();
                if ops.is_empty() {
                    return Err("the worker of that job is not known yet".into());
                }
                ops
            }
            Action::Drain | Action::Resume => need(View::Workers, "Workers")?
                .into_iter()
                .filter_map(|i| m.workers.get(i))
                .map(|w| {
                    let worker = w.heartbeat.id.clone();
                    if action == Action::Drain {
                        OpRequest::Drain { worker }
                    } else {
                        OpRequest::Resume { worker }
                    }
                })
                .collect(),
            Action::Discard => {
                need(View::Rejected, "Rejected")?;
                self.discard_ops()
            }
            Action::StartWorker | Action::StopWorker => {
                if !self.embedded_worker {
                    return Err("no embedded worker: start adtop with --worker".into());
                }
                vec![if action == Action::StartWorker {
                    OpRequest::StartEmbeddedWorker
                } else {
                    OpRequest::StopEmbeddedWorker
                }]
            }
            _ => Vec::new(),
        };
        Ok(ops)
    }

    /// The end of the confirm path: the only place operations leave the console.
    fn confirmed(&mut self, ops: Vec<OpRequest>) -> Vec<Outbound> {
        if self.read_only {
            self.status(Level::Error, "read-only: refused");
            return Vec::new();
        }
        let n = ops.len();
        let verb = ops.first().map_or("", |op| op.verb().as_str());
        let batch = (n > 1).then(|| {
            let b = self.next_op;
            self.model
                .batches
                .insert(b, crate::console::model::Batch::new(verb, n));
            b
        });
        let mut out = Vec::with_capacity(n);
        for op in ops {
            self.next_op += 1;
            let id = self.next_op;
            if let Some(b) = batch {
                self.model.batch_of.insert(id, b);
            }
            self.model
                .pending
                .insert(id, format!("{} {}", op.verb(), op.target()));
            out.push(Outbound::Op {
                id,
                operator: self.operator.clone(),
                op,
            });
        }
        self.marks[self.view].clear();
        self.status(
            Level::Info,
            format!("{verb}: sent {n} request{}", if n == 1 { "" } else { "s" }),
        );
        out
    }
}
