//! Themes as files: a style per role, laid over a built-in base; `NO_COLOR` turns colours into
//! modifiers so that every signal is still visible.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

pub const DARK: &str = include_str!("../../themes/dark.toml");
pub const LIGHT: &str = include_str!("../../themes/light.toml");
pub const HIGH_CONTRAST: &str = include_str!("../../themes/high-contrast.toml");
pub const COLOUR_BLIND: &str = include_str!("../../themes/colour-blind.toml");

macro_rules! roles {
    ($($role:ident = $name:literal;)*) => {
        /// What a piece of the screen means; a theme gives each a style.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Role { $($role,)* }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$role,)*];
            pub fn name(self) -> &'static str {
                match self { $(Role::$role => $name,)* }
            }
        }
    };
}

roles! {
    Base = "base";
    Border = "border";
    Title = "title";
    Header = "header";
    HeaderAlert = "header_alert";
    Tab = "tab";
    TabActive = "tab_active";
    TableHeader = "table_header";
    Selected = "selected";
    Marked = "marked";
    Alert = "alert";
    Warn = "warn";
    Ok = "ok";
    Pass = "pass";
    Fail = "fail";
    Tmpfail = "tmpfail";
    Neutral = "neutral";
    Dim = "dim";
    Gauge = "gauge";
    GaugeHung = "gauge_hung";
    Spark = "spark";
    Dialog = "dialog";
    DialogButton = "dialog_button";
    DialogFocus = "dialog_focus";
    StatusInfo = "status_info";
    StatusOk = "status_ok";
    StatusError = "status_error";
    Prompt = "prompt";
    Match = "match";
    LogFocus = "log_focus";
    Key = "key";
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: Vec<Style>,
    /// Colours are off (`NO_COLOR`): views must not rely on colour alone.
    pub mono: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: `{key}`: {message}")]
pub struct ThemeError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    inherit: Option<Spanned<String>>,
    #[serde(default)]
    styles: BTreeMap<String, Spanned<StyleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

impl Theme {
    pub fn style(&self, role: Role) -> Style {
        self.styles.get(role as usize).copied().unwrap_or_default()
    }

    fn blank(name: &str) -> Self {
        Self {
            name: name.into(),
            styles: vec![Style::default(); Role::ALL.len()],
            mono: false,
        }
    }

    pub const BUILTIN: [&'static str; 4] = ["dark", "light", "high-contrast", "colour-blind"];

    fn builtin_text(name: &str) -> Option<&'static str> {
        match name {
            "dark" => Some(DARK),
            "light" => Some(LIGHT),
            "high-contrast" => Some(HIGH_CONTRAST),
            "colour-blind" | "color-blind" | "colour-blind-safe" | "color-blind-safe" => {
                Some(COLOUR_BLIND)
            }
            _ => None,
        }
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Result<Self, ThemeError>> {
        let text = Self::builtin_text(name)?;
        Some(Self::parse(name, text, &format!("themes/{name}.toml")))
    }

    /// Parse a theme file. Roles it does not name come from `inherit` (a built-in name), else
    /// from `dark`.
    pub fn parse(name: &str, text: &str, file: &str) -> Result<Self, ThemeError> {
        let err = |line: usize, key: String, message: String| ThemeError {
            file: file.into(),
            line,
            key,
            message,
        };
        let parsed: ThemeFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            err(
                line,
                super::keymap::key_on_line(text, line),
                e.message().trim().into(),
            )
        })?;
        let mut theme = match &parsed.inherit {
            Some(base) if base.get_ref() != name => {
                let line = line_of(text, base.span().start);
                let base_text = Self::builtin_text(base.get_ref()).ok_or_else(|| {
                    err(
                        line,
                        "inherit".into(),
                        format!("no built-in theme `{}`", base.get_ref()),
                    )
                })?;
                Self::parse(
                    base.get_ref(),
                    base_text,
                    &format!("themes/{}.toml", base.get_ref()),
                )?
            }
            _ if name != "dark" => Self::parse("dark", DARK, "themes/dark.toml")?,
            _ => Self::blank("dark"),
        };
        theme.name = name.into();
        for (role_name, spec) in parsed.styles {
            let line = line_of(text, spec.span().start);
            let role = Role::ALL
                .iter()
                .copied()
                .find(|r| r.name() == role_name)
                .ok_or_else(|| {
                    err(
                        line,
                        role_name.clone(),
                        format!(
                            "unknown role (known: {})",
                            Role::ALL
                                .iter()
                                .map(|r| r.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            let spec = spec.into_inner();
            let colour = |c: &Option<Spanned<String>>| -> Result<Option<Color>, ThemeError> {
                match c {
                    None => Ok(None),
                    Some(s) => Color::from_str(s.get_ref()).map(Some).map_err(|_| {
                        err(
                            line_of(text, s.span().start),
                            role_name.clone(),
                            format!(
                                "`{}` is not a colour (a name like `red`, `#rrggbb` or 0-255)",
                                s.get_ref()
                            ),
                        )
                    }),
                }
            };
            let mut style = Style::default();
            if let Some(fg) = colour(&spec.fg)? {
                style = style.fg(fg);
            }
            if let Some(bg) = colour(&spec.bg)? {
                style = style.bg(bg);
            }
            for (on, m) in [
                (spec.bold, Modifier::BOLD),
                (spec.dim, Modifier::DIM),
                (spec.italic, Modifier::ITALIC),
                (spec.underline, Modifier::UNDERLINED),
                (spec.reversed, Modifier::REVERSED),
            ] {
                if on {
                    style = style.add_modifier(m);
                }
            }
            if let Some(slot) = theme.styles.get_mut(role as usize) {
                *slot = style;
            }
        }
        Ok(theme)
    }

    /// The theme the console starts with: a built-in name, or a file in
    /// `config_dir/themes/<name>.toml`, or a path; `no_color` strips colours. Failures fall
    /// back to `dark` and come back as warnings.
    pub fn load(name: &str, config_dir: Option<&Path>, no_color: bool) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let fallback = || {
            Self::builtin("dark")
                .and_then(Result::ok)
                .unwrap_or_else(|| Self::blank("dark"))
        };
        let result = if let Some(r) = Self::builtin(name) {
            r
        } else {
            let candidates = [
                config_dir.map(|d| d.join("themes").join(format!("{name}.toml"))),
                Some(Path::new(name).to_path_buf()),
            ];
            match candidates.into_iter().flatten().find(|p| p.is_file()) {
                Some(path) => match std::fs::read_to_string(&path) {
                    Ok(text) => Self::parse(name, &text, &path.display().to_string()),
                    Err(e) => Err(ThemeError {
                        file: path.display().to_string(),
                        line: 0,
                        key: name.into(),
                        message: e.to_string(),
                    }),
                },
                None => Err(ThemeError {
                    file: format!("themes/{name}.toml"),
                    line: 0,
                    key: name.into(),
                    message: format!("no such theme (built in: {})", Self::BUILTIN.join(", ")),
                }),
            }
        };
        let theme = match result {
            Ok(t) => t,
            Err(e) => {
                warnings.push(e.to_string());
                fallback()
            }
        };
        (
            if no_color {
                theme.without_colour()
            } else {
                theme
            },
            warnings,
        )
    }

    /// No colours; meaning carried by bold, underline and reverse video instead.
    pub fn without_colour(mut self) -> Self {
        for (s, role) in self.styles.iter_mut().zip(Role::ALL) {
            let kept = s.add_modifier - Modifier::DIM;
            *s = Style::default().add_modifier(kept);
            let extra = match role {
                Role::Selected | Role::TabActive | Role::DialogFocus | Role::LogFocus => {
                    Modifier::REVERSED
                }
                Role::Alert
                | Role::HeaderAlert
                | Role::GaugeHung
                | Role::Fail
                | Role::StatusError => Modifier::BOLD | Modifier::UNDERLINED,
                Role::Marked | Role::Title | Role::Key => Modifier::BOLD,
                Role::Match => Modifier::REVERSED | Modifier::UNDERLINED,
                Role::TableHeader => Modifier::UNDERLINED,
                Role::Warn | Role::Tmpfail => Modifier::ITALIC,
                _ => Modifier::empty(),
            };
            *s = s.add_modifier(extra);
        }
        self.mono = true;
        self
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_name_every_role() {
        for name in Theme::BUILTIN {
            let t = Theme::builtin(name).expect("known").expect("parses");
            assert_ne!(t.style(Role::Selected), Style::default(), "{name}");
            assert_ne!(t.style(Role::Alert), Style::default(), "{name}");
        }
    }

    #[test]
    fn no_color_keeps_signals_as_modifiers() {
        let (t, w) = Theme::load("dark", None, true);
        assert!(w.is_empty());
        for r in Role::ALL {
            let s = t.style(*r);
            assert_eq!((s.fg, s.bg), (None, None), "{}", r.name());
        }
        assert!(
            t.style(Role::Selected)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert!(t.style(Role::Alert).add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = Theme::parse(
            "x",
            "[styles]\nbase = { fg = \"white\" }\nalert = { fg = \"blurple\" }\n",
            "x.toml",
        )
        .expect_err("bad colour");
        assert_eq!(
            (e.file.as_str(), e.line, e.key.as_str()),
            ("x.toml", 3, "alert")
        );
        let e = Theme::parse("x", "[styles]\n\nshiny = { bold = true }\n", "x.toml")
            .expect_err("bad role");
        assert_eq!((e.line, e.key.as_str()), (3, "shiny"));
        let e = Theme::parse(
            "x",
            "[styles]\nbase = { fg = \"red\", blink = true }\n",
            "x.toml",
        )
        .expect_err("bad field");
        assert_eq!((e.line, e.key.as_str()), (2, "base"));
        let e = Theme::parse("x", "inherit = \"sepia\"\n", "x.toml").expect_err("bad base");
        assert_eq!((e.line, e.key.as_str()), (1, "inherit"));
    }

    #[test]
    fn user_theme_from_config_dir_or_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("themes")).expect("mkdir");
        std::fs::write(
            dir.path().join("themes/mine.toml"),
            "inherit = \"light\"\n[styles]\nalert = { fg = \"#ff00ff\", bold = true }\n",
        )
        .expect("write");
        let (t, w) = Theme::load("mine", Some(dir.path()), false);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.style(Role::Alert).fg, Some(Color::Rgb(255, 0, 255)));
        std::fs::write(
            dir.path().join("themes/broken.toml"),
            "[styles]\nalert = { fg = 3.5 }\n",
        )
        .expect("write");
        let (t, w) = Theme::load("broken", Some(dir.path()), false);
        assert_eq!(t.name, "dark");
        assert!(w[0].contains("broken.toml:2: `alert`"), "{w:?}");
    }
}
