//! Configuration: built-in defaults < `$XDG_CONFIG_HOME/adtop/config.toml` (or `--config FILE`)
//! < `ADTOP_*` environment variables < flags. Environment and flags are merged by clap
//! (`#[arg(env = ...)]`), so this module only layers the file under them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub const DEFAULT_BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_MANAGEMENT: &str = "http://127.0.0.1:15672";

/// The whole file. Every section is optional; unknown keys are an error naming the key.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// AMQP URL of the broker (`amqp://` or `amqps://`).
    pub broker: Option<String>,
    /// The nodes of a broker cluster, tried in turn (instead of `broker`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<String>,
    /// RabbitMQ management API base URL; credentials default to the broker's.
    pub management: Option<String>,
    /// Result store: `file:///abs/path` or `swift+https://…` (see `docs/configuration.md`).
    pub store: Option<String>,
    pub swift: SwiftConfig,
    pub queues: QueueConfig,
    pub worker: WorkerConfig,
    pub debci: DebciConfig,
    pub console: ConsoleConfig,
    pub testbed: TestbedConfig,
}

/// Testbeds built by `adtop testbed build` (mmdebstrap tarballs for autopkgtest's `unshare`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestbedConfig {
    /// Where tarballs and their registry live [default: `$XDG_DATA_HOME/adtop/testbeds`].
    pub dir: Option<PathBuf>,
    /// A worker warns when its testbed is older than this many hours (debci and
    /// autopkgtest-cloud rebuild theirs daily).
    pub max_age_hours: u64,
    /// Mirror for `adtop testbed build` when `--mirror` is not given [default: mmdebstrap's,
    /// deb.debian.org].
    pub mirror: Option<String>,
    /// Packages every testbed gets besides build-essential and debhelper.
    pub include: Vec<String>,
}

impl Default for TestbedConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_age_hours: 48,
            mirror: None,
            include: Vec::new(),
        }
    }
}

impl TestbedConfig {
    pub fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| data_dir().join("testbeds"))
    }
}

/// A debci deployment's queues (see `docs/debci.md`): what a worker serves in debci's dialect
/// besides (or instead of) autopkgtest-cloud's `[worker] releases`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DebciConfig {
    /// Backends whose `debci-tests-<arch>-<backend>` queue a worker serves (`lxc`, `qemu`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
    /// Request queues by name (debci's `debci_amqp_queue`), besides those of `backends`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    /// debci's `debci_amqp_results_queue` [default: `debci_results`].
    pub results_queue: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwiftConfig {
    /// `tempauth` (v1.0) or `keystone` (v3).
    pub auth: Option<String>,
    pub auth_url: Option<String>,
    pub user: Option<String>,
    /// Key or password. Prefer `ADTOP_SWIFT_KEY` in the environment over the file.
    pub key: Option<String>,
    pub project: Option<String>,
    pub domain: Option<String>,
    /// `X-Container-Read` of public result containers [default: `.rlistings,.r:*`, so that
    /// britney lists and reads them anonymously]; `""` leaves containers private to the account.
    pub public_read: Option<String>,
}

/// How request queues are declared. A queue declared again with other arguments is a channel
/// error in RabbitMQ, so these must match what the deployment already has.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `x-max-priority` (1-255); unset means no priority, as autopkgtest-cloud declares them.
    pub max_priority: Option<u8>,
    /// `classic` (default) or `quorum`.
    #[serde(rename = "type")]
    pub queue_type: Option<QueueType>,
    /// What `adtop queues declare` declares: the deployment's releases, architectures and
    /// contexts (not arguments of any queue).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    #[default]
    Classic,
    Quorum,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    pub id: Option<String>,
    pub arch: Option<String>,
    pub releases: Vec<String>,
    pub contexts: Vec<String>,
    /// Virtualisation server and its arguments, after autopkgtest's `--`.
    pub virt: Option<String>,
    pub source_dir: Option<PathBuf>,
    pub runner: Option<PathBuf>,
    /// Extra arguments for every autopkgtest run (e.g. `--apt-default-release=…`).
    pub extra_args: Vec<String>,
    /// Commands run in the testbed before the test, each passed as `--setup-commands` (as
    /// autopkgtest-cloud's `setup_command`s; e.g. an apt proxy or `apt-get update`).
    pub setup_commands: Vec<String>,
    /// Where finished results wait until they are stored and announced.
    pub spool: Option<PathBuf>,
    /// Run every request in the testbed built for this release (`adtop testbed build`), with
    /// autopkgtest's `unshare` server; instead of `virt`.
    pub testbed: Option<String>,
    /// After this many requests in a row end in a testbed failure with no test run, the
    /// worker takes no more until an operator resumes it (`adtop resume WORKER`); 0: never.
    pub testbed_failure_limit: u32,
    /// The pocket triggers are pinned from on a real testbed (`--apt-pocket=POCKET=src:…`):
    /// `proposed` as on Ubuntu; Debian stable releases have `proposed-updates`.
    pub proposed_pocket: String,
    pub heartbeat_interval: u64,
    pub status_interval: u64,
    /// Seconds a request may stay unacknowledged before it is moved to the worker's held queue;
    /// keep it under the broker's `consumer_timeout` (30 min in Debian's configuration).
    pub lease: u64,
    /// A held queue whose worker sent no heartbeat for this long is requeued by another worker
    /// that heard from it before (see `worker/reclaim.rs`).
    pub reclaim_after: u64,
    pub timeouts: Timeouts,
    /// Attempts per request, counting the first (autopkgtest-cloud: 3).
    pub attempts: u32,
    pub retry_delay_min: u64,
    pub retry_delay_max: u64,
    /// Files with one `pkg/arch/release` glob per line.
    pub long_tests: Option<PathBuf>,
    pub big_packages: Option<PathBuf>,
    pub never_run: Option<PathBuf>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: None,
            arch: None,
            releases: Vec::new(),
            contexts: Vec::new(),
            virt: None,
            source_dir: None,
            runner: None,
            extra_args: Vec::new(),
            setup_commands: Vec::new(),
            spool: None,
            testbed: None,
            testbed_failure_limit: 3,
            proposed_pocket: "proposed".into(),
            heartbeat_interval: 5,
            status_interval: 10,
            lease: 25 * 60,
            reclaim_after: 5 * 60,
            timeouts: Timeouts::default(),
            attempts: 3,
            retry_delay_min: 30,
            retry_delay_max: 300,
            long_tests: None,
            big_packages: None,
            never_run: None,
        }
    }
}

/// autopkgtest's timeouts in seconds, as autopkgtest-cloud sets them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub short: u64,
    pub install: u64,
    pub test: u64,
    pub copy: u64,
    pub build: u64,
    /// The watchdog's limit for a whole job; unset = derived from the others.
    pub deadline: Option<u64>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            short: 300,
            install: 3000,
            test: 10000,
            copy: 900,
            build: 20000,
            deadline: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub operator: Option<String>,
    /// A running job silent for this many seconds is flagged as hung.
    pub silent_threshold: u64,
    pub keymap: Option<String>,
    pub theme: Option<String>,
    pub read_only: bool,
    /// Request queues to watch when the management API is unreachable.
    pub queues: Vec<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            operator: None,
            silent_threshold: 30 * 60,
            keymap: None,
            theme: None,
            read_only: false,
            queues: Vec::new(),
        }
    }
}

/// `$XDG_CONFIG_HOME/adtop/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("adtop").join("config.toml"))
}

/// `$XDG_DATA_HOME/adtop`, the home of the default store and spool.
pub fn data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("/var/lib"))
        .join("adtop")
}

impl Config {
    /// Load `explicit` (which must exist), else the default path if it exists, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match default_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(Self::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "invalid configuration file {}: {}\n(see docs/configuration.md for every key and its allowed values)",
                path.display(),
                describe_toml_error(&e, text)
            )
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        if self.queues.max_priority == Some(0) {
            bail!(
                "invalid configuration file {}: key queues.max_priority: must be 1-255 or absent",
                path.display()
            );
        }
        if self.queues.queue_type == Some(QueueType::Quorum) && self.queues.max_priority.is_some() {
            bail!(
                "invalid configuration file {}: keys queues.type = \"quorum\" and queues.max_priority: RabbitMQ's quorum queues have no priorities; drop one of them",
                path.display()
            );
        }
        if self.worker.heartbeat_interval == 0 {
            bail!(
                "invalid configuration file {}: key worker.heartbeat_interval: must be at least 1 second",
                path.display()
            );
        }
        if self.worker.attempts == 0 {
            bail!(
                "invalid configuration file {}: key worker.attempts: must be at least 1",
                path.display()
            );
        }
        if let Some(a) = &self.swift.auth
            && !matches!(a.as_str(), "tempauth" | "keystone")
        {
            bail!(
                "invalid configuration file {}: key swift.auth: {a:?} is not one of \"tempauth\", \"keystone\"",
                path.display()
            );
        }
        Ok(())
    }
}

/// `line N, column M: message`, without the source snippet toml's own message quotes: that line
/// may hold a key or a password. String values inside the message are hidden for the same reason.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    static STRING_VALUE: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"string "(?:[^"\\]|\\.)*""#).ok());
    // The pattern is a literal (the unit tests compile it); were it ever refused, no message
    // text is shown rather than one that may hold a secret.
    let message = match STRING_VALUE.as_ref() {
        Some(re) => re
            .replace_all(e.message().trim_end(), "a string (value not shown)")
            .to_string(),
        None => "invalid value (message not shown)".to_string(),
    };
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_never_show_secrets() {
        for text in [
            "[swift]\nkey = \"s3cret-key\"\nbogus = 1\n",
            "[swift]\nkey = \"s3cret-key\n",
            "[swift]\nkey = \"s3cret-key\" extra\n",
            "[queues]\nmax_priority = \"s3cret-key\"\n",
            "broker = \"amqp://u:s3cret-key@h/\"\n[swift\n",
        ] {
            let e = Config::parse(text, Path::new("c.toml")).expect_err(text);
            let msg = format!("{e:#}");
            assert!(!msg.contains("s3cret"), "{msg}");
            assert!(msg.contains("line "), "{msg}");
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("x.toml")).expect("empty is fine");
        assert_eq!(c.worker.attempts, 3);
        assert_eq!(c.worker.timeouts.test, 10000);
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = Config::parse("[worker]\nbogus = 1\n", Path::new("/etc/adtop.toml"))
            .expect_err("unknown key");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("/etc/adtop.toml") && msg.contains("bogus") && msg.contains("line 2"),
            "{msg}"
        );
        let e = Config::parse("[queues]\ntype = \"stream\"\n", Path::new("c.toml"))
            .expect_err("bad enum");
        assert!(format!("{e:#}").contains("classic"), "{e:#}");
        let e = Config::parse("[worker]\nattempts = 0\n", Path::new("c.toml")).expect_err("zero");
        assert!(format!("{e:#}").contains("worker.attempts"));
    }
}

/// Who runs adtop, for the audit trail: `$USER`, else `$LOGNAME`, else the account of the
/// process's uid (a cron job or `env -i` has neither variable), else `uid-<n>`.
pub fn account_name() -> String {
    account_name_from(|v| std::env::var(v).ok())
}

fn account_name_from(var: impl Fn(&str) -> Option<String>) -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| var(v))
        .find(|s| !s.trim().is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| format!("uid-{}", nix::unistd::getuid()))
}

#[cfg(test)]
mod account_tests {
    use super::account_name_from;

    #[test]
    fn the_account_name_comes_from_the_uid_without_user_or_logname() {
        let uid = nix::unistd::getuid();
        let expected = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| format!("uid-{uid}"), |u| u.name);
        assert_eq!(account_name_from(|_| None), expected);
        assert_eq!(account_name_from(|_| Some(" ".into())), expected);
        assert_eq!(
            account_name_from(|v| (v == "LOGNAME").then(|| "alice".into())),
            "alice"
        );
        assert_ne!(expected, "operator");
    }
}
