//! What the operator does with one row that stays on this machine: its detail view, copying its
//! uuid (OSC 52), reading its log in `$PAGER`, saving the raw log to a file.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;

use super::action::Action;
use super::app::{App, Mode};
use super::detail::Detail;
use super::model::Level;
use super::prompt::{Prompt, PromptKind};
use super::view::View;
use crate::protocol::sanitize;

/// A uuid is short: anything longer from the wire is cut before it reaches the clipboard.
const UUID_MAX: usize = 128;

/// `ESC ] 52 ; c ; <base64> BEL`: asks the terminal (or tmux with `set-clipboard on`) to put
/// `text` in the clipboard. Base64 keeps whatever `text` holds inert on the way.
pub fn osc52(text: &str) -> Vec<u8> {
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(text)
            .as_bytes(),
    );
    out.push(0x07);
    out
}

/// Keep what is safe in a file name: letters, digits, `.`, `+`, `-`, `_`.
fn file_part(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
        .take(64)
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

impl App {
    /// `d`: the detail view of the selected row.
    pub(super) fn describe(&mut self) {
        let view = self.view;
        let opened = self
            .selected(view)
            .and_then(|i| Detail::open(self, view, i));
        match opened {
            Some(d) => self.mode = Mode::Detail(d),
            None if view == View::Log => {
                self.status(Level::Info, "the log has no rows: Esc, then d on a row")
            }
            None => self.status(Level::Info, "nothing selected to describe"),
        }
    }

    /// Keys while the detail view is open.
    pub(super) fn detail_action(&mut self, action: Action, page: usize) {
        let Mode::Detail(d) = &mut self.mode else {
            return;
        };
        let max = d.max_scroll.get();
        let at = d.scroll.min(max);
        match action {
            Action::Up => d.scroll = at.saturating_sub(1),
            Action::Down => d.scroll = at.saturating_add(1).min(max),
            Action::PageUp => d.scroll = at.saturating_sub(page),
            Action::PageDown => d.scroll = at.saturating_add(page).min(max),
            Action::Top => d.scroll = 0,
            Action::Bottom => d.scroll = max,
            Action::Back | Action::Describe | Action::Quit => self.mode = Mode::Normal,
            Action::CopyUuid => self.copy_uuid(),
            _ => {}
        }
    }

    /// The uuid of what the operator looks at: the open detail, the log, or the selected row.
    fn selected_uuid(&self) -> Option<String> {
        if let Mode::Detail(d) = &self.mode {
            return d.uuid.clone();
        }
        let m = &self.model;
        let view = self.view;
        if view == View::Log {
            return m.log.as_ref().map(|l| l.uuid.clone());
        }
        let i = self.selected(view)?;
        match view {
            View::Requests => m.requests.as_ref()?.rows.get(i)?.uuid.clone(),
            View::Workers => m
                .workers
                .get(i)?
                .heartbeat
                .job
                .as_ref()
                .map(|j| j.uuid.clone()),
            View::Running => m.running.get(i).map(|j| j.uuid.clone()),
            View::Results => m.results.entries().get(i).map(|e| e.uuid.clone()),
            View::Queues | View::Audit | View::Rejected | View::Log => None,
        }
    }

    /// `y`: the uuid to the clipboard; the terminal loop sends it (see [`osc52`]).
    pub(super) fn copy_uuid(&mut self) {
        match self.selected_uuid().filter(|u| !u.is_empty()) {
            Some(u) => {
                let u = sanitize::cap(&sanitize::line(&u), UUID_MAX);
                self.status(Level::Ok, format!("copied uuid {u}"));
                self.clipboard = Some(u);
            }
            None => self.status(Level::Info, "no uuid in this row"),
        }
    }

    /// `v` in the log: the log (made inert) in `$PAGER`.
    pub(super) fn page_log(&mut self) {
        match &self.model.log {
            Some(log) if log.loaded => {
                self.pager = Some(log.text());
            }
            Some(_) => self.status(Level::Info, "no log text yet"),
            None => self.status(Level::Error, "no log open"),
        }
    }

    /// The file a log is saved to unless the operator says otherwise: `./<package>-<uuid>.log`.
    fn default_log_path(&self) -> Option<PathBuf> {
        let log = self.model.log.as_ref()?;
        let m = &self.model;
        let package = m
            .running
            .iter()
            .find(|j| j.uuid == log.uuid)
            .map(|j| j.package.clone())
            .or_else(|| {
                m.results
                    .entries()
                    .iter()
                    .find(|e| e.uuid == log.uuid)
                    .map(|e| e.package.clone())
            })
            .unwrap_or_default();
        let (package, uuid) = (file_part(&package), file_part(&log.uuid));
        let name = match (package.is_empty(), uuid.is_empty()) {
            (false, false) => format!("{package}-{uuid}.log"),
            (true, false) => format!("{uuid}.log"),
            (false, true) => format!("{package}.log"),
            (true, true) => "adtop.log".into(),
        };
        Some(self.log_dir.join(name))
    }

    /// `Ctrl-S` in the log: ask where, with a default.
    pub(super) fn ask_save_log(&mut self) {
        match self.default_log_path() {
            Some(p) => {
                self.mode = Mode::Prompt(Prompt::new(PromptKind::SavePath, p.display().to_string()))
            }
            None => self.status(Level::Error, "no log open"),
        }
    }

    /// Write the raw log to `path`: never over an existing file, and all or nothing (a temporary
    /// file in the same directory, renamed into place only if nothing is there).
    pub(super) fn save_log_to(&mut self, input: &str) -> Result<(), String> {
        let Some(log) = &self.model.log else {
            return Err("no log open".into());
        };
        let input = input.trim();
        if input.is_empty() {
            return Err("give a file name".into());
        }
        let path = match input.strip_prefix("~/") {
            Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
            None => PathBuf::from(input),
        };
        let shown = path.display().to_string();
        let exists = format!("{shown} exists: not overwritten (give another name)");
        if path.symlink_metadata().is_ok() {
            return Err(exists);
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let text = log.raw_text();
        let dropped = log.raw_dropped;
        let mut tmp = tempfile::Builder::new()
            .prefix(".adtop-save-")
            .tempfile_in(&dir)
            .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        tmp.write_all(text.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| format!("cannot write {shown}: {e}"))?;
        tmp.persist_noclobber(&path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                exists.clone()
            } else {
                format!("cannot save {shown}: {}", e.error)
            }
        })?;
        let note = if dropped > 0 {
            format!(" (its first {dropped} bytes were no longer held)")
        } else {
            String::new()
        };
        self.status(
            Level::Ok,
            format!("saved {} bytes of raw log to {shown}{note}", text.len()),
        );
        Ok(())
    }
}
