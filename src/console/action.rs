//! Everything a key can do, as one enum: the key map, the handler and the help all name these.

use std::fmt;
use std::str::FromStr;

macro_rules! actions {
    ($($variant:ident = $name:literal, $desc:literal;)*) => {
        /// One thing a key can do. Parsed from and shown as its kebab-case name in key map files.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in the order the help lists them.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The name used in key map files (`run = "stop-requeue"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// What the help says when the key map gives no `desc`.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Action::$variant => $desc,)*
                }
            }
        }

        impl FromStr for Action {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Action::$variant),)*
                    _ => Err(UnknownAction(s.to_string())),
                }
            }
        }
    };
}

actions! {
    Noop = "noop", "Do nothing (unbinds a key)";
    Up = "up", "Move up";
    Down = "down", "Move down";
    PageUp = "page-up", "Page up";
    PageDown = "page-down", "Page down";
    Top = "top", "Go to the first row";
    Bottom = "bottom", "Go to the last row";
    Left = "left", "Scroll left";
    Right = "right", "Scroll right";
    ViewQueues = "view-queues", "Queues";
    ViewRequests = "view-requests", "Requests of the selected queue";
    ViewWorkers = "view-workers", "Workers";
    ViewRunning = "view-running", "Running jobs";
    ViewResults = "view-results", "Results";
    ViewLog = "view-log", "Log";
    ViewAudit = "view-audit", "Audit trail";
    ViewRejected = "view-rejected", "Rejected requests";
    NextView = "next-view", "Next view";
    PrevView = "prev-view", "Previous view";
    Open = "open", "Open the selected row";
    Describe = "describe", "Details of the selected row (request JSON, timings)";
    CopyUuid = "copy-uuid", "Copy the row's uuid to the clipboard (OSC 52)";
    Pager = "pager", "Open the log in $PAGER (made inert)";
    Back = "back", "Back / clear filter / clear marks";
    Filter = "filter", "Filter rows (regex)";
    Command = "command", "Command line";
    Help = "help", "Help";
    Quit = "quit", "Quit";
    Redraw = "redraw", "Redraw the whole screen";
    Mark = "mark", "Mark / unmark the row";
    MarkAll = "mark-all", "Mark every shown row";
    ClearMarks = "clear-marks", "Clear marks";
    SortNext = "sort-next", "Sort by the next column";
    SortPrev = "sort-prev", "Sort by the previous column";
    SortReverse = "sort-reverse", "Reverse the sort order";
    NextPage = "next-page", "Next page of requests";
    PrevPage = "prev-page", "Previous page of requests";
    ShowFailures = "show-failures", "Only failures";
    ShowTmpfails = "show-tmpfails", "Only tmpfails";
    ShowAll = "show-all", "All results (clear result filters)";
    Follow = "follow", "Follow the log on/off";
    Wrap = "wrap", "Wrap lines on/off";
    Search = "search", "Search the log (regex)";
    SearchNext = "search-next", "Next match";
    SearchPrev = "search-prev", "Previous match";
    JumpSummary = "jump-summary", "Jump to the summary";
    JumpFailure = "jump-first-failure", "Jump to the first failing test";
    SaveLog = "save-log", "Save the log to a file";
    Retry = "retry", "Retry the result(s)";
    Cancel = "cancel", "Cancel the queued request(s)";
    StopRequeue = "stop-requeue", "Stop the job(s), requeue";
    StopCancel = "stop-cancel", "Stop the job(s), cancel";
    Drain = "drain", "Drain the worker(s)";
    Resume = "resume", "Resume the worker(s)";
    Resubmit = "resubmit", "Edit the rejected request, then queue it again";
    Discard = "discard", "Discard the rejected request(s)";
    StartWorker = "start-worker", "Start the embedded worker";
    StopWorker = "stop-worker", "Stop the embedded worker";
    DialogToggle = "dialog-toggle", "Move focus between Cancel and Confirm";
    DialogAccept = "dialog-accept", "Press the focused button";
    DialogCancel = "dialog-cancel", "Cancel";
    PromptSubmit = "prompt-submit", "Submit";
    PromptCancel = "prompt-cancel", "Cancel";
    PromptComplete = "prompt-complete", "Complete";
    PromptBackspace = "prompt-backspace", "Delete a character";
    PromptClear = "prompt-clear", "Delete the whole line";
    PromptDeleteWord = "prompt-delete-word", "Delete the word before the cursor";
}

impl Action {
    /// Changes something outside the console: refused in read-only mode, hidden from its help.
    pub fn is_operator(self) -> bool {
        matches!(
            self,
            Action::Retry
                | Action::Cancel
                | Action::StopRequeue
                | Action::StopCancel
                | Action::Drain
                | Action::Resume
                | Action::Resubmit
                | Action::Discard
                | Action::StartWorker
                | Action::StopWorker
        )
    }

    /// Asks before it acts.
    /// Every operator action asks first, starting the embedded worker too (it takes real
    /// requests from the shared queues as soon as it runs).
    pub fn needs_confirm(self) -> bool {
        self.is_operator()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`")]
pub struct UnknownAction(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>(), Ok(*a));
        }
        assert!("explode".parse::<Action>().is_err());
    }
}
