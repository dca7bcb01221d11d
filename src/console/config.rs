//! What the console is started with. The caller (main) fills it from flags and files.

use std::path::PathBuf;

use super::keymap::KeyMap;
use super::model::Thresholds;
use super::theme::Theme;

#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Who confirms actions (goes into every `Outbound::Op` and so into the audit trail).
    pub operator: String,
    /// `--read-only`: operator actions are refused and hidden.
    pub read_only: bool,
    /// `default`, `vim`, `emacs`, or a path to a key map file.
    pub keymap: String,
    /// `dark`, `light`, `high-contrast`, `colour-blind`, a user theme name, or a path.
    pub theme: String,
    /// `NO_COLOR` was set (any value).
    pub no_color: bool,
    /// `$XDG_CONFIG_HOME/adtop`, where the user's `keymap.toml` and `themes/` live.
    pub config_dir: Option<PathBuf>,
    pub thresholds: Thresholds,
    /// An embedded worker can be started and stopped from the console (`adtop --worker`).
    pub embedded_worker: bool,
    /// Where "save log" writes.
    pub log_dir: PathBuf,
    /// The zone times are shown in (the operator's `TZ` unless a test fixes it).
    pub zone: super::zone::Zone,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            operator: crate::config::account_name(),
            read_only: false,
            keymap: "default".into(),
            theme: "dark".into(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            config_dir: dirs::config_dir().map(|d| d.join("adtop")),
            thresholds: Thresholds::default(),
            embedded_worker: false,
            log_dir: PathBuf::from("."),
            zone: super::zone::Zone::Local,
        }
    }
}

impl ConsoleConfig {
    /// The key map and theme, with warnings for whatever could not be loaded (shown in the
    /// status line; the console still starts with the defaults).
    pub fn load_ui(&self) -> (KeyMap, Theme, Vec<String>) {
        let (keymap, mut warnings) = KeyMap::load(&self.keymap, self.config_dir.as_deref());
        let (theme, w) = Theme::load(&self.theme, self.config_dir.as_deref(), self.no_color);
        warnings.extend(w);
        (keymap, theme, warnings)
    }
}
