//! The Rejected view's actions: open it, edit a rejected request and resubmit it, discard.
//!
//! Resubmitting edits the body in the one-line edit prompt (a body `PACKAGE\n{JSON}` shows as
//! `PACKAGE {JSON}`; JSON does not care about the newline), checks it exactly as a worker
//! would ([`crate::ops::rejected::check`]) and only then asks; a body still invalid keeps the
//! prompt open with the reason. Both actions go through the confirm dialog and the executor,
//! which writes the audit record; read-only refuses them before any of this.

use super::action::Action;
use super::app::{App, Mode};
use super::dialog::ConfirmDialog;
use super::model::Level;
use super::op::{Fetch, OpRequest, Outbound};
use super::prompt::{Prompt, PromptKind};
use super::view::{Cursor, View};
use crate::protocol::debci::DebciQueue;
use crate::protocol::names;

/// The rejected request being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct Editing {
    pub id: String,
    pub queue: String,
    pub target: String,
}

/// The body as one line for the prompt: autopkgtest-cloud's newline becomes a space (debci's
/// bodies are one line already).
pub fn to_line(queue: &str, body: &str) -> String {
    if DebciQueue::is_debci(queue) {
        body.trim_end_matches('\n').to_string()
    } else {
        body.trim_end_matches('\n').replace(['\n', '\r'], " ")
    }
}

/// The prompt's line as a body again: the first space after the package name is its newline.
pub fn from_line(queue: &str, line: &str) -> String {
    let line = line.trim();
    if DebciQueue::is_debci(queue) {
        return line.to_string();
    }
    match line.split_once(' ') {
        Some((pkg, rest)) => format!("{pkg}\n{}", rest.trim_start()),
        None => line.to_string(),
    }
}

impl App {
    /// Show the Rejected view and have `adtop.rejected` read for it.
    pub fn open_rejected(&mut self) -> Vec<Outbound> {
        let mut out = Vec::new();
        if self.view != View::Rejected {
            out.extend(self.leave_for(View::Rejected));
            self.cursors[View::Rejected] = Cursor::default();
        }
        out.push(fetch_rejected(self.model.thresholds.requests_cap));
        out
    }

    /// `e` on a rejected request: open its body in the edit prompt.
    pub(super) fn start_edit(&mut self) -> Result<(), String> {
        if self.view != View::Rejected {
            return Err("resubmit works in the Rejected view".into());
        }
        if self.targets(View::Rejected).len() > 1 {
            return Err("resubmit takes one request at a time: clear the marks (Esc)".into());
        }
        let r = self
            .selected(View::Rejected)
            .and_then(|i| self.model.rejected.as_ref()?.rows.get(i))
            .ok_or("nothing to resubmit: select a rejected request")?;
        self.editing = Some(Editing {
            id: r.id.clone(),
            queue: r.source_queue.clone(),
            target: r.target(),
        });
        let text = to_line(&r.source_queue, &r.body);
        self.mode = Mode::Prompt(Prompt::new(PromptKind::Edit, text));
        Ok(())
    }

    /// Enter in the edit prompt: check the body as a worker would, then ask.
    pub(super) fn submit_edit(&mut self, mut p: Prompt) {
        let Some(e) = self.editing.clone() else {
            return;
        };
        let body = from_line(&e.queue, &p.input);
        if let Err(why) = crate::ops::rejected::check(&e.queue, body.as_bytes()) {
            p.error = Some(format!("still invalid, not resubmitted: {why}"));
            self.mode = Mode::Prompt(p);
            return;
        }
        self.editing = None;
        self.mode = Mode::Confirm(ConfirmDialog::new(
            Action::Resubmit,
            vec![OpRequest::Resubmit {
                id: e.id,
                target: e.target,
                body,
            }],
        ));
    }

    /// Esc in the edit prompt.
    pub(super) fn cancel_edit(&mut self) {
        if self.editing.take().is_some() {
            self.model
                .set_status(Level::Info, "kept: nothing was resubmitted");
        }
    }

    /// The discard requests for the marked rows, or the selected one.
    pub(super) fn discard_ops(&self) -> Vec<OpRequest> {
        let Some(p) = &self.model.rejected else {
            return Vec::new();
        };
        self.targets(View::Rejected)
            .into_iter()
            .filter_map(|i| p.rows.get(i))
            .map(|r| OpRequest::Discard {
                id: r.id.clone(),
                target: r.target(),
            })
            .collect()
    }
}

/// Read `adtop.rejected` through the same reader as a queue's requests.
pub fn fetch_rejected(limit: usize) -> Outbound {
    Outbound::Fetch(Fetch::Requests {
        queue: names::REJECTED_QUEUE.into(),
        offset: 0,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::demo;
    use crate::console::event::ModelEvent;
    use crate::controller::look::Queued;
    use crate::ops::rejected::Rejected;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn a_body_edits_on_one_line_and_comes_back_whole() {
        let q = "debci-noble-amd64";
        let body = "hello\n{\"triggers\": [\"hello/1\"]}";
        assert_eq!(to_line(q, body), "hello {\"triggers\": [\"hello/1\"]}");
        assert_eq!(from_line(q, &to_line(q, body)), body);
        assert_eq!(from_line(q, " hello "), "hello");
        let d = "debci-tests-amd64-lxc";
        assert_eq!(
            from_line(d, &to_line(d, "hello unstable\n")),
            "hello unstable"
        );
    }

    fn rejected(body: &str) -> Rejected {
        let h = |k: &str, v: &str| (k.to_string(), v.to_string());
        Rejected::from_queued(&Queued {
            body: body.as_bytes().to_vec(),
            priority: None,
            uuid: None,
            headers: vec![
                h(
                    names::H_REASON,
                    "invalid JSON parameters: \u{1b}[2Jkey must be a string",
                ),
                h(names::H_REASON_CODE, "bad-json"),
                h(names::H_SOURCE_QUEUE, "debci-noble-amd64"),
                h(names::H_WORKER, "ci1-amd64"),
                h(names::H_REJECTED_AT, "2026-01-31T09:12:44+00:00"),
            ],
        })
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn code(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn screen(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(140, 30)).expect("terminal");
        t.draw(|f| crate::console::views::draw(f, app))
            .expect("draw");
        t.backend().to_string()
    }

    fn app_with(rows: Vec<Rejected>) -> App {
        let mut app = demo::app("dark");
        app.model.rejected = None;
        let out = app.handle_key(key('8'));
        assert_eq!(out, vec![fetch_rejected(app.model.thresholds.requests_cap)]);
        assert!(screen(&app).contains("reading adtop.rejected"));
        app.apply(ModelEvent::Rejected {
            total: rows.len() as u64,
            rows,
        });
        app
    }

    #[test]
    fn the_view_shows_why_and_resubmit_checks_before_it_asks() {
        let mut app = app_with(vec![rejected("hello\n{not json")]);
        let s = screen(&app);
        for word in [
            "2026-01-31 09:12:44",
            "debci-noble-amd64",
            "ci1-amd64",
            "bad-json",
            "hello",
        ] {
            assert!(s.contains(word), "{word} missing:\n{s}");
        }
        assert!(!s.contains('\u{1b}'), "inert");

        // `e` opens the body on one line; still invalid: the prompt stays, with why.
        assert!(app.handle_key(key('e')).is_empty());
        let Mode::Prompt(p) = &app.mode else {
            panic!("no edit prompt: {:?}", app.mode)
        };
        assert_eq!(p.input, "hello {not json");
        assert!(app.handle_key(code(KeyCode::Enter)).is_empty());
        let Mode::Prompt(p) = &app.mode else {
            panic!("the prompt closed on an invalid body")
        };
        assert!(
            p.error.as_deref().is_some_and(|e| e.contains("bad-json")),
            "{p:?}"
        );
        assert!(screen(&app).contains("still invalid"));

        // Fixed: asks, with the verb on the button, and sends only once confirmed.
        app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        for c in "hello {}".chars() {
            app.handle_key(key(c));
        }
        assert!(app.handle_key(code(KeyCode::Enter)).is_empty());
        let s = screen(&app);
        assert!(s.contains("[ Resubmit ]") && s.contains("[ Keep ]"), "{s}");
        app.handle_key(code(KeyCode::Tab));
        let out = app.handle_key(code(KeyCode::Enter));
        let [
            Outbound::Op {
                op: OpRequest::Resubmit { id, body, .. },
                ..
            },
        ] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(body, "hello\n{}");
        assert_eq!(id.len(), 12);
    }

    #[test]
    fn snapshot_rejected() {
        let mut app = demo::app("dark");
        app.handle_key(key('8'));
        insta::assert_snapshot!(screen(&app));
    }

    #[test]
    fn discard_asks_and_read_only_refuses_both() {
        let mut app = app_with(vec![rejected("a\n{"), rejected("b\n{")]);
        app.handle_key(key(' '));
        app.handle_key(key(' '));
        app.handle_key(key('x'));
        let s = screen(&app);
        assert!(
            s.contains("Discard 2 rejected requests?") && s.contains("[ Discard requests ]"),
            "{s}"
        );
        app.handle_key(code(KeyCode::Esc));
        assert!(app.handle_key(key('e')).is_empty(), "one at a time");
        assert!(matches!(app.mode, Mode::Normal));

        app.read_only = true;
        for k in ['e', 'x'] {
            assert!(app.handle_key(key(k)).is_empty());
            assert!(matches!(app.mode, Mode::Normal), "{k}");
            assert!(
                app.model
                    .status
                    .as_ref()
                    .is_some_and(|s| s.text.contains("read-only"))
            );
        }
    }

    #[test]
    fn adtop_queues_are_marked_and_never_starved() {
        let mut app = demo::app("dark");
        let stat = |name: &str| crate::console::model::QueueStat {
            name: name.into(),
            ready: 3,
            unacked: 0,
            consumers: 0,
            publish_rate: 0.0,
            deliver_rate: 0.0,
            max_priority: None,
            head_timestamp: None,
        };
        let mut queues: Vec<_> = app.model.queues.iter().map(|q| stat(&q.name)).collect();
        queues.push(stat(names::REJECTED_QUEUE));
        queues.push(stat(&names::held_queue("ci1-amd64")));
        let now = app.model.now;
        app.apply(ModelEvent::QueueStats {
            queues,
            received: now,
        });
        let s = screen(&app);
        let line = |q: &str| {
            s.lines()
                .find(|l| l.contains(q))
                .unwrap_or_default()
                .to_string()
        };
        assert!(line("adtop.rejected").contains("·rejected"), "{s}");
        assert!(line("adtop.held.ci1-amd64").contains("·held"), "{s}");
        assert!(!line("adtop.rejected").contains("NO CONSUMER"), "{s}");
        assert!(s.contains("[+2 rejected/held]"), "{s}");
    }
}
