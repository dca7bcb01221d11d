//! The one-line prompts: `/` filter, log search, and the `:` command line with completion.

use super::action::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    Search,
    Command,
    /// A rejected request's body, edited before it is resubmitted (see `console::rejected`).
    Edit,
    /// Where to save the log (a path, prefilled with a default).
    SavePath,
}

impl PromptKind {
    pub fn sigil(self) -> &'static str {
        match self {
            PromptKind::Filter => "/",
            PromptKind::Search => "search /",
            PromptKind::Command => ":",
            PromptKind::Edit => "resubmit> ",
            PromptKind::SavePath => "save raw log to: ",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    /// Candidates the last completion found, shown under the prompt.
    pub candidates: Vec<String>,
    pub error: Option<String>,
}

impl Prompt {
    pub fn new(kind: PromptKind, input: impl Into<String>) -> Self {
        Self {
            kind,
            input: input.into(),
            candidates: Vec::new(),
            error: None,
        }
    }

    pub fn push(&mut self, c: char) {
        let max = if self.kind == PromptKind::Edit {
            EDIT_MAX
        } else {
            512
        };
        if self.input.len() < max {
            self.input.push(c);
        }
        self.error = None;
    }

    pub fn backspace(&mut self) {
        self.input.pop();
        self.error = None;
    }

    pub fn clear(&mut self) {
        self.input.clear();
        self.error = None;
    }

    /// Ctrl-W as in a shell: the spaces before the cursor, then the word.
    pub fn delete_word(&mut self) {
        let kept = self.input.trim_end().len();
        self.input.truncate(kept);
        let start = self
            .input
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        self.input.truncate(start);
        self.error = None;
    }

    /// Complete the command word: the only match, or the longest common prefix.
    pub fn complete(&mut self) {
        if self.kind != PromptKind::Command || self.input.contains(' ') {
            return;
        }
        let found: Vec<&str> = command_names()
            .filter(|c| c.starts_with(self.input.as_str()))
            .collect();
        match found.as_slice() {
            [] => self.error = Some(format!("no command starts with `{}`", self.input)),
            [one] => {
                self.input = format!("{one}{}", if takes_argument(one) { " " } else { "" });
                self.candidates.clear();
            }
            many @ [first, ..] => {
                let common = first
                    .char_indices()
                    .filter_map(|(i, c)| first.get(..i + c.len_utf8()))
                    .take_while(|p| many.iter().all(|m| m.starts_with(p)))
                    .last()
                    .unwrap_or("");
                if common.len() > self.input.len() {
                    self.input = common.to_string();
                }
                self.candidates = many.iter().map(|s| s.to_string()).collect();
            }
        }
    }
}

/// Longest request body the edit prompt takes (a worker refuses far smaller ones).
pub const EDIT_MAX: usize = 64 << 10;

/// What a `:` command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    Help,
    Go(super::view::View, Option<String>),
    Filter(String),
    ResultField {
        field: &'static str,
        value: Option<String>,
    },
    Sort(String),
    Run(Action),
}

const VIEW_COMMANDS: [&str; 8] = [
    "queues", "requests", "workers", "running", "results", "log", "audit", "rejected",
];
const OTHER_COMMANDS: [&str; 11] = [
    "q", "quit", "help", "filter", "release", "arch", "package", "failures", "tmpfails", "all",
    "sort",
];

fn takes_argument(c: &str) -> bool {
    matches!(
        c,
        "requests" | "log" | "filter" | "release" | "arch" | "package" | "sort"
    )
}

/// Every word the command line knows: views, settings, and every action by its key map name.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    VIEW_COMMANDS
        .into_iter()
        .chain(OTHER_COMMANDS)
        .chain(Action::ALL.iter().filter(|a| !matches!(a.name(), n if n.starts_with("prompt-") || n.starts_with("dialog-") || n == "noop")).map(|a| a.name()))
}

pub fn parse_command(line: &str) -> Result<Command, String> {
    use super::view::View;
    let line = line.trim();
    let (word, arg) = match line.split_once(char::is_whitespace) {
        Some((w, a)) => (w, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    let view = |v| Ok(Command::Go(v, arg.clone()));
    match word {
        "q" | "q!" | "quit" | "qa" => Ok(Command::Quit),
        "help" | "h" => Ok(Command::Help),
        "queues" | "qu" => view(View::Queues),
        "requests" | "req" => view(View::Requests),
        "workers" | "w" => view(View::Workers),
        "running" | "run" | "r" => view(View::Running),
        "results" | "res" => view(View::Results),
        "log" | "logs" => view(View::Log),
        "audit" => view(View::Audit),
        "rejected" | "rej" => view(View::Rejected),
        "filter" => Ok(Command::Filter(arg.unwrap_or_default())),
        "release" | "arch" | "package" => Ok(Command::ResultField {
            field: match word {
                "release" => "release",
                "arch" => "arch",
                _ => "package",
            },
            value: arg,
        }),
        "failures" => Ok(Command::Run(Action::ShowFailures)),
        "tmpfails" => Ok(Command::Run(Action::ShowTmpfails)),
        "all" => Ok(Command::Run(Action::ShowAll)),
        "sort" => Ok(Command::Sort(arg.unwrap_or_default())),
        "" => Err("empty command".into()),
        other => match other.parse::<Action>() {
            Ok(a) => Ok(Command::Run(a)),
            Err(_) => Err(format!("unknown command `{other}` (Tab completes)")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::view::View;

    #[test]
    fn commands_parse() {
        assert_eq!(parse_command("q"), Ok(Command::Quit));
        assert_eq!(
            parse_command(" workers "),
            Ok(Command::Go(View::Workers, None))
        );
        assert_eq!(
            parse_command("requests debci-noble-amd64"),
            Ok(Command::Go(
                View::Requests,
                Some("debci-noble-amd64".into())
            ))
        );
        assert_eq!(
            parse_command("release noble"),
            Ok(Command::ResultField {
                field: "release",
                value: Some("noble".into())
            })
        );
        assert_eq!(
            parse_command("stop-requeue"),
            Ok(Command::Run(Action::StopRequeue))
        );
        assert!(parse_command("frobnicate").is_err());
    }

    #[test]
    fn completion_extends_and_lists() {
        let mut p = Prompt::new(PromptKind::Command, "wo");
        p.complete();
        assert_eq!(p.input, "workers");
        let mut p = Prompt::new(PromptKind::Command, "re");
        p.complete();
        assert!(
            p.candidates.contains(&"requests".to_string())
                && p.candidates.contains(&"results".to_string())
        );
        let mut p = Prompt::new(PromptKind::Command, "rel");
        p.complete();
        assert_eq!(p.input, "release ");
        let mut p = Prompt::new(PromptKind::Command, "zz");
        p.complete();
        assert!(p.error.is_some());
    }
}
