//! Key maps as data: TOML layers of `{ on = "<key>", run = "<action>", desc = "..." }`.
//!
//! `keymaps/default.toml` is complete. `vim.toml`, `emacs.toml` and the user's
//! `$XDG_CONFIG_HOME/adtop/keymap.toml` are overlays in the same format: an entry replaces what
//! its key did in that layer, and nothing else (`run = "noop"` unbinds a key). The same tables
//! drive key handling, the footer hints and `?` help, so they cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use toml::Spanned;

use super::action::Action;

pub const DEFAULT: &str = include_str!("../../keymaps/default.toml");
pub const VIM: &str = include_str!("../../keymaps/vim.toml");
pub const EMACS: &str = include_str!("../../keymaps/emacs.toml");

/// Where a key means something. Views look in their own layer, then in `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Global,
    Queues,
    Requests,
    Workers,
    Running,
    Results,
    Log,
    Audit,
    Rejected,
    Detail,
    Help,
    Dialog,
    Prompt,
}

impl Layer {
    pub const ALL: [Layer; 13] = [
        Layer::Global,
        Layer::Queues,
        Layer::Requests,
        Layer::Workers,
        Layer::Running,
        Layer::Results,
        Layer::Log,
        Layer::Audit,
        Layer::Rejected,
        Layer::Detail,
        Layer::Help,
        Layer::Dialog,
        Layer::Prompt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Global => "global",
            Layer::Queues => "queues",
            Layer::Requests => "requests",
            Layer::Workers => "workers",
            Layer::Running => "running",
            Layer::Results => "results",
            Layer::Log => "log",
            Layer::Audit => "audit",
            Layer::Rejected => "rejected",
            Layer::Detail => "detail",
            Layer::Help => "help",
            Layer::Dialog => "dialog",
            Layer::Prompt => "prompt",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// A key with its modifiers, normalised so that `G` and shift+g compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(_) | KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                code
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            c => c,
        };
        Self { code, mods }
    }

    pub fn from_event(ev: &KeyEvent) -> Self {
        Self::new(ev.code, ev.modifiers)
    }

    /// Parse `q`, `G`, `<C-c>`, `<Enter>`, `<S-Tab>`, `<A-x>`, `<F1>`, `<Space>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(Self::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        let inner = s
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .ok_or_else(|| {
                format!("`{s}` is not a key: write one character or <Name>, e.g. <C-c>")
            })?;
        let mut mods = KeyModifiers::NONE;
        let mut rest = inner;
        while let Some((m, r)) = rest
            .split_once('-')
            .filter(|(m, r)| m.len() == 1 && !r.is_empty())
        {
            mods |= match m {
                "C" | "c" => KeyModifiers::CONTROL,
                "A" | "a" | "M" | "m" => KeyModifiers::ALT,
                "S" | "s" => KeyModifiers::SHIFT,
                _ => return Err(format!("unknown modifier `{m}` in `{s}` (use C, A or S)")),
            };
            rest = r;
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "cr" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "backspace" | "bs" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "delete" | "del" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "lt" => KeyCode::Char('<'),
            "gt" => KeyCode::Char('>'),
            f if f.starts_with('f') && f.len() > 1 => match f[1..].parse::<u8>() {
                Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                _ => return Err(format!("unknown key `{s}`")),
            },
            _ => {
                let mut cs = rest.chars();
                match (cs.next(), cs.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("unknown key `{s}`")),
                }
            }
        };
        Ok(Self::new(code, mods))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.mods.is_empty() => return write!(f, "{c}"),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Up => "Up".into(),
            KeyCode::Down => "Down".into(),
            KeyCode::Left => "Left".into(),
            KeyCode::Right => "Right".into(),
            KeyCode::PageUp => "PageUp".into(),
            KeyCode::PageDown => "PageDown".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Delete => "Delete".into(),
            KeyCode::Insert => "Insert".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        f.write_str("<")?;
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("C-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("A-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("S-")?;
        }
        write!(f, "{name}>")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub key: Key,
    pub action: Action,
    pub desc: String,
}

/// A key map file went wrong: which file, which line, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: `{key}`: {message}")]
pub struct KeymapError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerSpec {
    #[serde(default)]
    keys: Vec<EntrySpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    on: Spanned<String>,
    run: Spanned<String>,
    desc: Option<String>,
}

/// Bindings per layer; later entries win.
#[derive(Debug, Clone, Default)]
pub struct KeyMap {
    layers: BTreeMap<Layer, Vec<Binding>>,
}

impl KeyMap {
    /// Parse a file and lay it over `self`.
    pub fn overlay(&mut self, text: &str, file: &str) -> Result<(), KeymapError> {
        let parsed: BTreeMap<String, Spanned<LayerSpec>> = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            KeymapError {
                file: file.into(),
                line,
                key: key_on_line(text, line),
                message: e.message().trim().into(),
            }
        })?;
        let mut staged: Vec<(Layer, Vec<Binding>)> = Vec::new();
        for (name, spec) in parsed {
            let line = line_of(text, spec.span().start);
            let layer = Layer::parse(&name).ok_or_else(|| KeymapError {
                file: file.into(),
                line,
                key: name.clone(),
                message: format!(
                    "unknown layer (known: {})",
                    Layer::ALL.map(Layer::name).join(", ")
                ),
            })?;
            let mut bindings = Vec::new();
            for e in spec.into_inner().keys {
                let err = |span: std::ops::Range<usize>, message: String| KeymapError {
                    file: file.into(),
                    line: line_of(text, span.start),
                    key: e.on.get_ref().clone(),
                    message,
                };
                let key = Key::parse(e.on.get_ref()).map_err(|m| err(e.on.span(), m))?;
                let action: Action = e
                    .run
                    .get_ref()
                    .parse()
                    .map_err(|m: super::action::UnknownAction| err(e.run.span(), m.to_string()))?;
                let desc = e.desc.unwrap_or_else(|| action.describe().to_string());
                bindings.push(Binding { key, action, desc });
            }
            staged.push((layer, bindings));
        }
        for (layer, bindings) in staged {
            let held = self.layers.entry(layer).or_default();
            for b in bindings {
                held.retain(|h| h.key != b.key);
                if b.action != Action::Noop {
                    held.push(b);
                }
            }
        }
        Ok(())
    }

    /// The built-in map named `default`, `vim` or `emacs`.
    pub fn builtin(name: &str) -> Option<Result<Self, KeymapError>> {
        let overlay = match name {
            "default" => None,
            "vim" => Some(VIM),
            "emacs" => Some(EMACS),
            _ => return None,
        };
        let mut map = Self::default();
        Some(map.overlay(DEFAULT, "keymaps/default.toml").and_then(|()| {
            match overlay {
                Some(text) => map
                    .overlay(text, &format!("keymaps/{name}.toml"))
                    .map(|()| map),
                None => Ok(map),
            }
        }))
    }

    /// The key map the console starts with: the built-in default, then `choice` (a built-in
    /// name or a file), then the user's `keymap.toml` in `config_dir`. Anything that fails is
    /// skipped and reported as a warning; the console always gets a working map.
    pub fn load(choice: &str, config_dir: Option<&Path>) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut map = match Self::builtin("default") {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                warnings.push(e.to_string());
                Self::default()
            }
            None => Self::default(),
        };
        match Self::builtin(choice) {
            Some(Ok(m)) => map = m,
            Some(Err(e)) => warnings.push(e.to_string()),
            None => match std::fs::read_to_string(choice) {
                Ok(text) => {
                    if let Err(e) = map.overlay(&text, choice) {
                        warnings.push(e.to_string());
                        map = Self::builtin("default")
                            .and_then(Result::ok)
                            .unwrap_or_default();
                    }
                }
                Err(e) => warnings.push(format!("{choice}: {e}")),
            },
        }
        if let Some(dir) = config_dir {
            let path = dir.join("keymap.toml");
            if let Ok(text) = std::fs::read_to_string(&path) {
                let before = map.clone();
                if let Err(e) = map.overlay(&text, &path.display().to_string()) {
                    warnings.push(e.to_string());
                    map = before;
                }
            }
        }
        (map, warnings)
    }

    pub fn bindings(&self, layer: Layer) -> &[Binding] {
        self.layers.get(&layer).map_or(&[], Vec::as_slice)
    }

    /// What `key` does in `layer` alone.
    pub fn get(&self, layer: Layer, key: Key) -> Option<Action> {
        self.bindings(layer)
            .iter()
            .rev()
            .find(|b| b.key == key)
            .map(|b| b.action)
    }

    /// What `key` does in `layer`, falling back to the global layer.
    pub fn lookup(&self, layer: Layer, key: Key) -> Option<Action> {
        self.get(layer, key).or_else(|| {
            if layer == Layer::Global {
                None
            } else {
                self.get(Layer::Global, key)
            }
        })
    }

    /// The keys bound to `action` in `layer` (not the global fallback).
    pub fn keys_for(&self, layer: Layer, action: Action) -> Vec<Key> {
        self.bindings(layer)
            .iter()
            .filter(|b| b.action == action)
            .map(|b| b.key)
            .collect()
    }

    /// One line per action of a layer: keys joined, and the description. `read_only` hides
    /// operator actions, so help never offers what would be refused.
    pub fn help(&self, layer: Layer, read_only: bool) -> Vec<(String, String)> {
        self.entries(layer, read_only)
            .into_iter()
            .map(|(_, keys, desc)| (keys, desc))
            .collect()
    }

    /// [`Self::help`] with the action of each line.
    pub fn entries(&self, layer: Layer, read_only: bool) -> Vec<(Action, String, String)> {
        let mut out: Vec<(Action, Vec<String>, String)> = Vec::new();
        for b in self.bindings(layer) {
            if read_only && b.action.is_operator() {
                continue;
            }
            // A key later rebound in this layer is not shown under its old action.
            if self.get(layer, b.key) != Some(b.action) {
                continue;
            }
            match out.iter_mut().find(|(a, _, _)| *a == b.action) {
                Some((_, keys, _)) => keys.push(b.key.to_string()),
                None => out.push((b.action, vec![b.key.to_string()], b.desc.clone())),
            }
        }
        out.into_iter()
            .map(|(a, keys, desc)| (a, keys.join(" "), desc))
            .collect()
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// The key an erroneous line is about: its `on = "..."`, else its `name =`, else the line.
pub(super) fn key_on_line(text: &str, line: usize) -> String {
    let l = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .trim();
    if let Some(rest) = l.split("on =").nth(1).or_else(|| l.split("on=").nth(1))
        && let Some(v) = rest
            .trim()
            .strip_prefix('"')
            .and_then(|r| r.split('"').next())
    {
        return v.to_string();
    }
    match l.split_once('=') {
        Some((k, _)) => k.trim().trim_start_matches('{').trim().to_string(),
        None => l.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::parse(s).expect("key")
    }

    #[test]
    fn builtin_maps_load() {
        for name in ["default", "vim", "emacs"] {
            let map = KeyMap::builtin(name).expect("known").expect("parses");
            assert_eq!(
                map.lookup(Layer::Queues, k("?")),
                Some(Action::Help),
                "{name}"
            );
        }
    }

    #[test]
    fn every_action_has_a_default_key() {
        let map = KeyMap::builtin("default").expect("known").expect("parses");
        for a in Action::ALL.iter().filter(|a| **a != Action::Noop) {
            let bound = Layer::ALL
                .iter()
                .any(|l| map.bindings(*l).iter().any(|b| b.action == *a));
            assert!(bound, "{a} has no key in default.toml");
        }
    }

    #[test]
    fn keys_parse_and_print() {
        assert_eq!(k("G"), Key::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
        assert_eq!(
            k("<C-c>"),
            Key::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
        );
        assert_eq!(
            k("<S-Tab>"),
            Key::new(KeyCode::BackTab, KeyModifiers::SHIFT)
        );
        assert_eq!(k("<Space>").to_string(), "<Space>");
        assert_eq!(k("<C-c>").to_string(), "<C-c>");
        assert_eq!(k("<F5>").to_string(), "<F5>");
        assert_eq!(k("<").to_string(), "<");
        assert!(Key::parse("<Nope>").is_err());
        assert!(Key::parse("ab").is_err());
        assert!(Key::parse("<X-a>").is_err());
    }

    #[test]
    fn user_overlay_changes_only_what_it_names() {
        let mut map = KeyMap::builtin("default").expect("known").expect("parses");
        let before_down = map.lookup(Layer::Queues, k("<Down>"));
        map.overlay(
            "[running]\nkeys = [\n  { on = \"s\", run = \"noop\" },\n  { on = \"K\", run = \"stop-requeue\", desc = \"Kill and requeue\" },\n]\n",
            "user.toml",
        )
        .expect("overlay");
        assert_eq!(map.get(Layer::Running, k("s")), None);
        assert_eq!(map.get(Layer::Running, k("K")), Some(Action::StopRequeue));
        assert_eq!(map.lookup(Layer::Queues, k("<Down>")), before_down);
        assert!(
            map.help(Layer::Running, false)
                .iter()
                .any(|(keys, d)| keys == "K" && d == "Kill and requeue")
        );
        assert!(
            map.help(Layer::Running, true)
                .iter()
                .all(|(_, d)| d != "Kill and requeue")
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let mut map = KeyMap::default();
        let e = map
            .overlay(
                "[queues]\nkeys = [\n  { on = \"x\", run = \"explode\" },\n]\n",
                "my.toml",
            )
            .expect_err("unknown action");
        assert_eq!(
            (e.file.as_str(), e.line, e.key.as_str()),
            ("my.toml", 3, "x")
        );
        assert!(
            e.to_string()
                .starts_with("my.toml:3: `x`: unknown action `explode`"),
            "{e}"
        );

        let e = map
            .overlay(
                "[queues]\nkeys = [\n\n  { on = \"<Hyper-x>\", run = \"quit\" },\n]\n",
                "my.toml",
            )
            .expect_err("bad key");
        assert_eq!((e.line, e.key.as_str()), (4, "<Hyper-x>"));

        let e = map
            .overlay("[queuez]\nkeys = []\n", "my.toml")
            .expect_err("bad layer");
        assert_eq!(e.key, "queuez");

        let e = map
            .overlay(
                "[queues]\nkeys = [ { on = \"x\", run = \"quit\", colour = 1 } ]\n",
                "f.toml",
            )
            .expect_err("bad field");
        assert_eq!((e.line, e.key.as_str()), (2, "x"));

        let e = map.overlay("[queues\n", "f.toml").expect_err("syntax");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn a_bad_user_file_leaves_the_defaults_and_warns() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("keymap.toml"),
            "[log]\nkeys = [ { on = \"F\", run = \"nope\" } ]\n",
        )
        .expect("write");
        let (map, warnings) = KeyMap::load("default", Some(dir.path()));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("keymap.toml:2: `F`: unknown action `nope`"),
            "{warnings:?}"
        );
        assert_eq!(map.get(Layer::Log, k("f")), Some(Action::Follow));
    }
}
