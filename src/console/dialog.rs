//! The confirm path's state: what was asked, which button has focus, what was typed.
//!
//! Every dangerous action becomes a `ConfirmDialog` first (gitui's ConfirmAction); only its
//! accepted form reaches the executors (ConfirmedAction). Focus starts on Cancel. More than one
//! target needs the count typed in, so that a stray Enter never acts on many rows.

use super::action::Action;
use super::op::OpRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Cancel,
    Confirm,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmDialog {
    pub action: Action,
    pub ops: Vec<OpRequest>,
    pub focus: Focus,
    /// What must be typed (the number of targets), for bulk actions.
    pub expected: Option<String>,
    pub typed: String,
    pub error: Option<String>,
}

/// What pressing a button came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Still open (e.g. the typed text was wrong).
    Open,
    Cancelled,
    Confirmed(Vec<OpRequest>),
}

impl ConfirmDialog {
    pub fn new(action: Action, ops: Vec<OpRequest>) -> Self {
        let expected = (ops.len() > 1).then(|| ops.len().to_string());
        Self {
            action,
            ops,
            focus: Focus::Cancel,
            expected,
            typed: String::new(),
            error: None,
        }
    }

    pub fn toggle(&mut self) {
        self.focus = match self.focus {
            Focus::Cancel => Focus::Confirm,
            Focus::Confirm => Focus::Cancel,
        };
    }

    pub fn type_char(&mut self, c: char) {
        if self.expected.is_some() && self.typed.len() < 16 {
            self.typed.push(c);
            self.error = None;
        }
    }

    pub fn backspace(&mut self) {
        self.typed.pop();
    }

    /// Enter: the focused button, unless a bulk confirmation is typed in full.
    pub fn accept(&mut self) -> Answer {
        match &self.expected {
            Some(expected) if self.typed.trim() == expected => {
                Answer::Confirmed(std::mem::take(&mut self.ops))
            }
            Some(expected) => {
                if self.focus == Focus::Cancel && self.typed.is_empty() {
                    Answer::Cancelled
                } else {
                    self.error = Some(format!("type {expected} to confirm, or Esc"));
                    Answer::Open
                }
            }
            None => match self.focus {
                Focus::Cancel => Answer::Cancelled,
                Focus::Confirm => Answer::Confirmed(std::mem::take(&mut self.ops)),
            },
        }
    }

    /// The button that acts, named for what it does (`Cancel request`, never `Confirm`, so
    /// that "cancel" cannot mean both "do not" and "remove the request").
    pub fn act_label(&self) -> String {
        let n = self.ops.len();
        let plural = if n == 1 { "" } else { "s" };
        match self.action {
            Action::Retry => format!("Retry {n}"),
            Action::Cancel => format!("Cancel request{plural}"),
            Action::StopRequeue => "Stop and requeue".into(),
            Action::StopCancel => "Stop and cancel".into(),
            Action::Drain => format!("Drain worker{plural}"),
            Action::Resume => format!("Resume worker{plural}"),
            Action::StopWorker => "Stop worker".into(),
            Action::StartWorker => "Start worker".into(),
            Action::Quit => "Quit".into(),
            Action::Resubmit => "Resubmit".into(),
            Action::Discard => format!("Discard request{plural}"),
            _ => "Run".into(),
        }
    }

    /// What else happens, said under the question.
    pub fn warning(&self) -> Option<&'static str> {
        match self.action {
            Action::StopWorker => Some("A test it is running is aborted and its request requeued."),
            Action::StartWorker => Some("It takes requests from the queues it serves at once."),
            Action::Quit => {
                Some("The embedded worker stops: a test it runs is aborted and requeued.")
            }
            Action::StopRequeue => Some("The test is aborted; its request goes back to its queue."),
            Action::StopCancel => Some("The test is aborted and its request removed for good."),
            Action::Resubmit => {
                Some("It goes back to the queue it came from and leaves adtop.rejected.")
            }
            Action::Discard => Some("It is removed from adtop.rejected for good."),
            _ => None,
        }
    }

    /// `Stop, requeue 3 jobs?`
    pub fn question(&self) -> String {
        let n = self.ops.len();
        let noun = match self.action {
            Action::Retry => "result",
            Action::Cancel => "queued request",
            Action::StopRequeue | Action::StopCancel => "running job",
            Action::Drain | Action::Resume => "worker",
            Action::Resubmit | Action::Discard => "rejected request",
            _ => "target",
        };
        let verb = match self.action {
            Action::Retry => "Retry",
            Action::Cancel => "Cancel",
            Action::StopRequeue => "Stop and requeue",
            Action::StopCancel => "Stop and cancel",
            Action::Drain => "Drain",
            Action::Resume => "Resume",
            Action::StopWorker => "Stop",
            Action::Resubmit => "Resubmit",
            Action::Discard => "Discard",
            _ => "Run",
        };
        if self.action == Action::StopWorker {
            return "Stop the embedded worker?".into();
        }
        if self.action == Action::StartWorker {
            return "Start the embedded worker?".into();
        }
        if self.action == Action::Quit {
            return "Quit adtop?".into();
        }
        format!("{verb} {n} {noun}{}?", if n == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(w: &str) -> OpRequest {
        OpRequest::Drain { worker: w.into() }
    }

    #[test]
    fn focus_starts_on_cancel_so_enter_cancels() {
        let mut d = ConfirmDialog::new(Action::Drain, vec![drain("a")]);
        assert_eq!(d.focus, Focus::Cancel);
        assert_eq!(d.accept(), Answer::Cancelled);
        let mut d = ConfirmDialog::new(Action::Drain, vec![drain("a")]);
        d.toggle();
        assert_eq!(d.accept(), Answer::Confirmed(vec![drain("a")]));
    }

    #[test]
    fn bulk_needs_the_count_typed() {
        let mut d = ConfirmDialog::new(Action::Drain, vec![drain("a"), drain("b"), drain("c")]);
        assert_eq!(d.expected.as_deref(), Some("3"));
        d.toggle();
        assert_eq!(
            d.accept(),
            Answer::Open,
            "Confirm focused but nothing typed"
        );
        d.type_char('2');
        assert_eq!(d.accept(), Answer::Open);
        assert!(d.error.is_some());
        d.backspace();
        d.type_char('3');
        assert_eq!(
            d.accept(),
            Answer::Confirmed(vec![drain("a"), drain("b"), drain("c")])
        );
    }
}
