//! Debian debci's wire format (debci 3.6), beside autopkgtest-cloud's: request queues, request
//! bodies and the result tarball, as `debci enqueue`, `debci-worker` and `debci collector` send
//! and read them (`/usr/lib/ruby/vendor_ruby/debci/{amqp,job,collector}.rb`,
//! `/usr/share/debci/bin/debci-{worker,test}`). No I/O.
//!
//! - queue `debci-tests-<arch>-<backend>`, durable, `x-max-priority` 10; requests are published
//!   on the default exchange, persistent, with a priority (5 unless asked otherwise);
//! - body, one line: `<pkg> <suite> run-id:<id>[ trigger:<CGI-escaped>][ pin-packages:<suite>=
//!   <pkgs>]…[ extra-apt-source:<base64>]…[ signing-key:<base64>]…`;
//! - result: a gzip'd tar of `autopkgtest-incoming/<suite>/<arch>/<prefix>/<pkg>/<run_id>/`,
//!   published persistent to the durable queue `debci_results` (no arguments).
//!
//! debci's own worker is lenient where adtop is strict: it acknowledges a bad package name with
//! no result, only warns on an unknown parameter, and never acknowledges a bad run id. Here
//! each of those is a [`DebciReject`] with a reason, for `adtop.rejected`.

use std::fmt;
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use regex::Regex;
use sha1::{Digest, Sha1};
use thiserror::Error;

use super::layout;
use super::sanitize::cap;

/// debci's results queue (`debci_amqp_results_queue`).
pub const RESULTS_QUEUE: &str = "debci_results";
/// `x-max-priority` of every debci request queue (`Debci::AMQP.get_queue`).
pub const MAX_PRIORITY: u8 = 10;
/// `debci enqueue`'s default priority.
pub const DEFAULT_PRIORITY: u8 = 5;
/// Prefix of request queue names.
pub const QUEUE_PREFIX: &str = "debci-tests-";
/// Top directory of the result tarball (debci's `autopkgtest-incoming`).
pub const INCOMING_DIR: &str = "autopkgtest-incoming";
/// Largest body accepted: a few signing keys fit; debci's own are well under 16 KiB.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest decoded trigger or apt source line.
const MAX_TEXT: usize = 4096;
/// Longest decoded signing key.
const MAX_KEY: usize = 32 * 1024;
/// Most repeated parameters of one kind (pins, sources, keys).
const MAX_REPEAT: usize = 16;

static PACKAGE: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9.+-]+$"));
static BINARY: LazyLock<Regex> = LazyLock::new(|| re(r"^(src:)?[a-z0-9][a-z0-9.+-]*$"));
static SUITE: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9._+-]{0,63}$"));
// debci-test accepts YYYYMMDD_HHMMSS or digits (the database id); empty is refused here.
static RUN_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^([0-9]{1,19}|[0-9]{8}_[0-9]{6})$"));
static ARCH: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9_]{0,31}$"));
// Backends are names (lxc, qemu, null, fake); debci-worker appends platform tags as `_tag`.
static BACKEND: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9._+-]{0,63}$"));

#[allow(clippy::panic)]
fn re(pattern: &str) -> Regex {
    // The patterns are literals above; a typo is a programming error caught by the unit tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in regex {pattern}: {e}"))
}

/// What Ruby's `CGI.escape` leaves alone: letters, digits, `_ . - ~`; a space becomes `+`.
const CGI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b' ');

/// A debci request queue, `debci-tests-<arch>-<backend>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DebciQueue {
    pub arch: String,
    pub backend: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DebciQueueError {
    #[error("invalid architecture {0:?}: use lower-case letters, digits or '_'")]
    BadArch(String),
    #[error(
        "invalid debci backend {0:?}: use lower-case letters, digits, '.', '+', '_' or '-' (e.g. lxc, qemu, null)"
    )]
    BadBackend(String),
    #[error("{0:?} is not a debci request queue: expected debci-tests-<arch>-<backend>")]
    NotADebciQueue(String),
}

impl DebciQueue {
    pub fn new(arch: &str, backend: &str) -> Result<Self, DebciQueueError> {
        if !ARCH.is_match(arch) {
            return Err(DebciQueueError::BadArch(cap(arch, 100)));
        }
        if !BACKEND.is_match(backend) {
            return Err(DebciQueueError::BadBackend(cap(backend, 100)));
        }
        Ok(Self {
            arch: arch.to_string(),
            backend: backend.to_string(),
        })
    }

    /// Architectures have no `-`, so the first `-` after the prefix ends the architecture.
    pub fn parse(name: &str) -> Result<Self, DebciQueueError> {
        let bad = || DebciQueueError::NotADebciQueue(cap(name, 200));
        let rest = name.strip_prefix(QUEUE_PREFIX).ok_or_else(bad)?;
        let (arch, backend) = rest.split_once('-').ok_or_else(bad)?;
        Self::new(arch, backend).map_err(|_| bad())
    }

    /// Could `name` be a debci request queue? (`debci-tests-…`; autopkgtest-cloud has no
    /// release called `tests`.)
    pub fn is_debci(name: &str) -> bool {
        name.starts_with(QUEUE_PREFIX)
    }
}

impl fmt::Display for DebciQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{QUEUE_PREFIX}{}-{}", self.arch, self.backend)
    }
}

/// `pin-packages:<suite>=<pkg>,src:<src>,…`: those packages from that suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub suite: String,
    pub packages: Vec<String>,
}

impl Pin {
    /// The value as autopkgtest's `--pin-packages` and debci's body spell it.
    pub fn spec(&self) -> String {
        format!("{}={}", self.suite, self.packages.join(","))
    }
}

/// A parsed, validated debci request. Text fields are decoded (the trigger unescaped, apt
/// sources and keys from base64); [`DebciRequest::body`] encodes them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebciRequest {
    pub package: String,
    pub suite: String,
    pub run_id: String,
    pub trigger: Option<String>,
    pub pins: Vec<Pin>,
    /// sources.list lines (`deb …`), for `--add-apt-source`.
    pub extra_apt_sources: Vec<String>,
    /// ASCII-armoured OpenPGP keys, copied to `/etc/apt/trusted.gpg.d/` in the testbed.
    pub signing_keys: Vec<String>,
}

/// Why a debci body was refused. `code()` is stable (`x-adtop-reason-code`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DebciReject {
    #[error("request body is {0} bytes, over the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("request body is not valid UTF-8 (at byte {0})")]
    BadUtf8(usize),
    #[error("request body is empty: expected '<package> <suite> run-id:<id> [parameters]'")]
    Empty,
    #[error("a debci request is one line; this body has control characters or several lines")]
    NotOneLine,
    #[error(
        "invalid source package name {:?}: expected ^[a-z0-9][a-z0-9.+-]+$ (lower case, starts with a letter or digit)",
        shown(.0)
    )]
    BadPackage(String),
    #[error("missing suite: expected '<package> <suite> run-id:<id>'")]
    MissingSuite,
    #[error("invalid suite {:?}: expected lower-case letters, digits, '.', '+', '_' or '-'", shown(.0))]
    BadSuite(String),
    #[error(
        "missing run-id: debci's collector matches a result to its job by run id, so a request without one can never be recorded"
    )]
    MissingRunId,
    #[error("invalid run-id {:?}: expected digits (debci's job id) or YYYYMMDD_HHMMSS", shown(.0))]
    BadRunId(String),
    #[error(
        "unknown parameter {:?}; known: run-id, trigger, pin-packages, extra-apt-source, signing-key",
        shown(.0)
    )]
    UnknownKey(String),
    #[error("parameter {0} given more than once")]
    Duplicate(&'static str),
    #[error("invalid {key} {:?}: {why}", shown(value))]
    BadValue {
        key: &'static str,
        value: String,
        why: &'static str,
    },
}

/// What of a requester's text a reason quotes: enough to find it, never a whole body.
fn shown(s: &str) -> String {
    cap(s, 200)
}

impl DebciReject {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too-large",
            Self::BadUtf8(_) => "bad-utf8",
            Self::Empty => "empty",
            Self::NotOneLine => "not-one-line",
            Self::BadPackage(_) => "bad-package",
            Self::MissingSuite => "missing-suite",
            Self::BadSuite(_) => "bad-suite",
            Self::MissingRunId => "missing-run-id",
            Self::BadRunId(_) => "bad-run-id",
            Self::UnknownKey(_) => "unknown-key",
            Self::Duplicate(_) => "duplicate-key",
            Self::BadValue { .. } => "bad-value",
        }
    }
}

fn bad(key: &'static str, value: &str, why: &'static str) -> DebciReject {
    DebciReject::BadValue {
        key,
        value: cap(value, 200),
        why,
    }
}

/// Text that is safe in a log line, a file and an argument: no control characters.
fn clean(key: &'static str, s: &str) -> Result<(), DebciReject> {
    if s.len() > MAX_TEXT {
        return Err(bad(key, s, "too long"));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(key, s, "control characters are not allowed"));
    }
    Ok(())
}

/// `CGI.escape`: what `debci enqueue` does to a trigger.
pub fn escape(s: &str) -> String {
    utf8_percent_encode(s, CGI).to_string().replace(' ', "+")
}

/// `CGI.unescape`: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn unescape(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn decode_b64(key: &'static str, v: &str, max: usize) -> Result<String, DebciReject> {
    if v.len() > max.saturating_mul(4) / 3 + 4 {
        return Err(bad(key, v, "too long"));
    }
    let bytes = B64.decode(v).map_err(|_| bad(key, v, "not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| bad(key, v, "does not decode to UTF-8 text"))
}

fn parse_pin(v: &str) -> Result<Pin, DebciReject> {
    let why = "expected <suite>=<package>[,src:<source>…]";
    let (suite, pkgs) = v
        .split_once('=')
        .ok_or_else(|| bad("pin-packages", v, why))?;
    if !SUITE.is_match(suite) {
        return Err(bad("pin-packages", v, "invalid suite"));
    }
    let packages: Vec<String> = pkgs.split(',').map(str::to_string).collect();
    if packages.is_empty()
        || packages.len() > 512
        || !packages
            .iter()
            .all(|p| p.len() <= 128 && BINARY.is_match(p))
    {
        return Err(bad("pin-packages", v, why));
    }
    Ok(Pin {
        suite: suite.to_string(),
        packages,
    })
}

fn parse_source(v: &str) -> Result<String, DebciReject> {
    let line = decode_b64("extra-apt-source", v, MAX_TEXT)?;
    let line = line.trim_end_matches('\n').to_string();
    clean("extra-apt-source", &line).map_err(|_| {
        bad(
            "extra-apt-source",
            v,
            "the decoded line has control characters or is too long",
        )
    })?;
    let mut words = line.split_whitespace();
    let ok = matches!(words.next(), Some("deb" | "deb-src"))
        && words.next().is_some_and(|w| {
            w.starts_with("http://") || w.starts_with("https://") || w.starts_with('[')
        })
        && words.next().is_some();
    if !ok {
        return Err(bad(
            "extra-apt-source",
            &line,
            "expected a sources.list line: deb [options] http(s)://URL SUITE [COMPONENT…]",
        ));
    }
    Ok(line)
}

fn parse_key(v: &str) -> Result<String, DebciReject> {
    let key = decode_b64("signing-key", v, MAX_KEY)?;
    let armoured = key
        .trim_start()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        && key.contains("-----END PGP PUBLIC KEY BLOCK-----");
    let printable = key
        .chars()
        .all(|c| c == '\n' || c == '\r' || !c.is_control());
    if !armoured || !printable {
        return Err(bad(
            "signing-key",
            v,
            "expected an ASCII-armoured OpenPGP public key (debci copies it to /etc/apt/trusted.gpg.d/*.asc)",
        ));
    }
    Ok(key)
}

fn once<T>(slot: &mut Option<T>, key: &'static str, v: T) -> Result<(), DebciReject> {
    if slot.is_some() {
        return Err(DebciReject::Duplicate(key));
    }
    *slot = Some(v);
    Ok(())
}

fn push<T>(list: &mut Vec<T>, key: &'static str, v: T) -> Result<(), DebciReject> {
    if list.len() >= MAX_REPEAT {
        return Err(bad(key, "", "given too many times"));
    }
    list.push(v);
    Ok(())
}

impl DebciRequest {
    /// Parse and validate a body exactly as a worker receives it.
    pub fn parse(body: &[u8]) -> Result<Self, DebciReject> {
        if body.len() > MAX_BODY {
            return Err(DebciReject::TooLarge(body.len()));
        }
        let text = std::str::from_utf8(body).map_err(|e| DebciReject::BadUtf8(e.valid_up_to()))?;
        // One trailing newline is what `echo` adds; debci-worker reads the first line only.
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err(DebciReject::NotOneLine);
        }
        let mut words = text.split([' ', '\t']).filter(|w| !w.is_empty());
        let package = words.next().ok_or(DebciReject::Empty)?;
        if package.len() > 128 || !PACKAGE.is_match(package) {
            return Err(DebciReject::BadPackage(package.to_string()));
        }
        let suite = words.next().ok_or(DebciReject::MissingSuite)?;
        if suite.contains(':') {
            return Err(DebciReject::MissingSuite);
        }
        if !SUITE.is_match(suite) {
            return Err(DebciReject::BadSuite(suite.to_string()));
        }
        let mut run_id = None;
        let mut trigger = None;
        let (mut pins, mut sources, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        for word in words {
            let (key, value) = word.split_once(':').unwrap_or((word, ""));
            match key {
                "run-id" => {
                    if !RUN_ID.is_match(value) {
                        return Err(DebciReject::BadRunId(value.to_string()));
                    }
                    once(&mut run_id, "run-id", value.to_string())?;
                }
                "trigger" => {
                    let t = unescape(value)
                        .ok_or_else(|| bad("trigger", value, "does not decode to UTF-8"))?;
                    clean("trigger", &t)?;
                    once(&mut trigger, "trigger", t)?;
                }
                "pin-packages" => push(&mut pins, "pin-packages", parse_pin(value)?)?,
                "extra-apt-source" => {
                    push(&mut sources, "extra-apt-source", parse_source(value)?)?;
                }
                "signing-key" => push(&mut keys, "signing-key", parse_key(value)?)?,
                _ => return Err(DebciReject::UnknownKey(word.to_string())),
            }
        }
        Ok(Self {
            package: package.to_string(),
            suite: suite.to_string(),
            run_id: run_id.ok_or(DebciReject::MissingRunId)?,
            trigger: trigger.filter(|t| !t.is_empty()),
            pins,
            extra_apt_sources: sources,
            signing_keys: keys,
        })
    }

    /// The wire body, one line, in the order `Debci::Job#enqueue_parameters` writes it.
    pub fn body(&self) -> String {
        let mut parts = vec![
            self.package.clone(),
            self.suite.clone(),
            format!("run-id:{}", self.run_id),
        ];
        if let Some(t) = &self.trigger {
            parts.push(format!("trigger:{}", escape(t)));
        }
        for p in &self.pins {
            parts.push(format!("pin-packages:{}", p.spec()));
        }
        for s in &self.extra_apt_sources {
            parts.push(format!("extra-apt-source:{}", B64.encode(s)));
        }
        for k in &self.signing_keys {
            parts.push(format!("signing-key:{}", B64.encode(k)));
        }
        parts.join(" ")
    }

    /// The trigger split into words, as adtop's views and index list triggers.
    pub fn triggers(&self) -> Vec<String> {
        self.trigger
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// Where the result goes in the tarball, without a trailing slash:
    /// `autopkgtest-incoming/<suite>/<arch>/<prefix>/<pkg>/<run_id>`.
    pub fn result_dir(&self, arch: &str) -> String {
        format!(
            "{INCOMING_DIR}/{}/{arch}/{}/{}/{}",
            self.suite,
            layout::prefix(&self.package),
            self.package,
            self.run_id
        )
    }
}

/// Files of the result directory, as debci's worker leaves them: `exitcode`, `duration` and
/// `log.gz` are what the collector needs; `worker`, `testpkg-version` and `trigger` it reads
/// when present; autopkgtest's own files (`summary`, `testinfo.json`, `testbed-packages`, …)
/// go along. `*-stdout`/`*-stderr` are dropped (debci-test removes them: they are in `log`).
pub const REQUIRED_FILES: &[&str] = &["exitcode", "duration", "log.gz"];

/// Is this output file one that debci's worker leaves out of its result?
pub fn dropped(name: &str) -> bool {
    name.ends_with("-stdout") || name.ends_with("-stderr") || name == "log"
}

/// A uuid-shaped name for a debci job: the same queue and body give the same one, so a
/// redelivery is recognised as the job already done, not run twice.
pub fn derived_uuid(queue: &str, body: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(queue.as_bytes());
    h.update(b"\n");
    h.update(body);
    let x = hex::encode(h.finalize());
    let p = |a: usize, b: usize| x.get(a..b).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        p(0, 8),
        p(8, 12),
        p(12, 16),
        p(16, 20),
        p(20, 32)
    )
}

/// debci's statuses for an exit code (`Debci::Job.status`).
pub fn status(exit_code: i32) -> &'static str {
    match exit_code {
        0 | 2 => "pass",
        4 | 6 | 12 | 14 => "fail",
        8 => "neutral",
        _ => "tmpfail",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";

    fn parse(s: &str) -> Result<DebciRequest, DebciReject> {
        DebciRequest::parse(s.as_bytes())
    }

    #[test]
    fn queue_names_round_trip() {
        let q = DebciQueue::parse("debci-tests-amd64-lxc").expect("valid");
        assert_eq!((q.arch.as_str(), q.backend.as_str()), ("amd64", "lxc"));
        assert_eq!(q.to_string(), "debci-tests-amd64-lxc");
        let tagged = DebciQueue::parse("debci-tests-arm64-qemu_isolation-machine").expect("tag");
        assert_eq!(tagged.backend, "qemu_isolation-machine");
        for bad in [
            "debci-tests-amd64",
            "debci-unstable-amd64",
            "debci-tests--lxc",
            "debci-tests-AMD64-lxc",
            "debci-tests-amd64-",
            "debci-tests-amd64-../x",
        ] {
            assert!(DebciQueue::parse(bad).is_err(), "{bad}");
        }
        assert!(DebciQueue::is_debci("debci-tests-amd64-lxc"));
        assert!(!DebciQueue::is_debci("debci-noble-amd64"));
    }

    #[test]
    fn what_debci_enqueue_sends() {
        // Captured from `debci enqueue -t 'hello/1.0 foo/2+x' -p experimental=src:hello hello`.
        let body = "hello unstable run-id:1 trigger:hello%2F1.0+foo%2F2%2Bx pin-packages:experimental=src:hello";
        let r = parse(body).expect("debci's own body");
        assert_eq!(r.package, "hello");
        assert_eq!(r.suite, "unstable");
        assert_eq!(r.run_id, "1");
        assert_eq!(r.trigger.as_deref(), Some("hello/1.0 foo/2+x"));
        assert_eq!(r.triggers(), ["hello/1.0", "foo/2+x"]);
        assert_eq!(r.pins[0].spec(), "experimental=src:hello");
        assert_eq!(r.body(), body);
        assert_eq!(
            r.result_dir("amd64"),
            "autopkgtest-incoming/unstable/amd64/h/hello/1"
        );
        let lib = parse("libfoo unstable run-id:20261202_101112").expect("date run id");
        assert_eq!(
            lib.result_dir("arm64"),
            "autopkgtest-incoming/unstable/arm64/libf/libfoo/20261202_101112"
        );
        assert_eq!(lib.body(), "libfoo unstable run-id:20261202_101112");
    }

    #[test]
    fn apt_sources_and_keys_round_trip() {
        let src =
            "deb [signed-by=/etc/apt/trusted.gpg.d/1.asc] http://deb.example.org/ unstable main";
        let body = format!(
            "hello unstable run-id:7 extra-apt-source:{} signing-key:{}",
            B64.encode(src),
            B64.encode(KEY)
        );
        let r = parse(&body).expect("valid");
        assert_eq!(r.extra_apt_sources, [src]);
        assert_eq!(r.signing_keys, [KEY]);
        assert_eq!(r.body(), body);
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let b = |s: &str| B64.encode(s);
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("   ".into(), "empty"),
            ("hello".into(), "missing-suite"),
            ("hello run-id:1".into(), "missing-suite"),
            ("hello unstable".into(), "missing-run-id"),
            ("hello unstable run-id:".into(), "bad-run-id"),
            ("hello unstable run-id:abc".into(), "bad-run-id"),
            ("hello unstable run-id:1;rm".into(), "bad-run-id"),
            ("hello unstable run-id:../../x".into(), "bad-run-id"),
            ("hello unstable run-id:1 run-id:2".into(), "duplicate-key"),
            ("../etc unstable run-id:1".into(), "bad-package"),
            (".. unstable run-id:1".into(), "bad-package"),
            ("-rf unstable run-id:1".into(), "bad-package"),
            ("Hello unstable run-id:1".into(), "bad-package"),
            ("he$llo unstable run-id:1".into(), "bad-package"),
            ("hello ../x run-id:1".into(), "bad-suite"),
            ("hello unstable run-id:1 bogus:1".into(), "unknown-key"),
            ("hello unstable run-id:1 trigger:%ff".into(), "bad-value"),
            (
                "hello unstable run-id:1 trigger:a%1b%5B2J".into(),
                "bad-value",
            ),
            ("hello unstable run-id:1\nother".into(), "not-one-line"),
            (
                "hello unstable run-id:1 pin-packages:exp".into(),
                "bad-value",
            ),
            (
                "hello unstable run-id:1 pin-packages:exp=a;b".into(),
                "bad-value",
            ),
            (
                "hello unstable run-id:1 extra-apt-source:!!".into(),
                "bad-value",
            ),
            (
                format!("hello unstable run-id:1 extra-apt-source:{}", b("rm -rf /")),
                "bad-value",
            ),
            (
                format!(
                    "hello unstable run-id:1 extra-apt-source:{}",
                    b("deb http://x/ u main\ndeb http://y/ u main")
                ),
                "bad-value",
            ),
            (
                format!("hello unstable run-id:1 signing-key:{}", b("not a key")),
                "bad-value",
            ),
        ];
        for (body, code) in cases {
            let err = parse(&body).expect_err(&body);
            assert_eq!(err.code(), code, "{body:?}: {err}");
        }
        assert_eq!(
            DebciRequest::parse(b"\xff unstable run-id:1").map_err(|e| e.code()),
            Err("bad-utf8")
        );
        let huge = vec![b'a'; MAX_BODY + 1];
        assert_eq!(
            DebciRequest::parse(&huge).map_err(|e| e.code()),
            Err("too-large")
        );
        // One trailing newline, as `echo` adds, is fine.
        assert!(parse("hello unstable run-id:1\n").is_ok());
    }

    #[test]
    fn reasons_quote_little() {
        let long = format!("A{} unstable run-id:1", "x".repeat(60_000));
        let err = parse(&long).expect_err("bad name");
        assert!(err.to_string().len() < 1024);
        let long_id = format!("hello unstable run-id:{}", "1x".repeat(30_000));
        assert!(parse(&long_id).expect_err("bad id").to_string().len() < 1024);
    }

    #[test]
    fn escape_matches_cgi() {
        assert_eq!(escape("hello/1.0 foo/2+x"), "hello%2F1.0+foo%2F2%2Bx");
        assert_eq!(escape("a_b.c-d~e*"), "a_b.c-d~e%2A");
        assert_eq!(unescape("a+b%2Bc").as_deref(), Some("a b+c"));
    }

    #[test]
    fn statuses_as_debci_names_them() {
        assert_eq!(status(0), "pass");
        assert_eq!(status(2), "pass");
        assert_eq!(status(4), "fail");
        assert_eq!(status(14), "fail");
        assert_eq!(status(8), "neutral");
        assert_eq!(status(16), "tmpfail");
        assert_eq!(status(20), "tmpfail");
    }

    proptest! {
        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = DebciRequest::parse(&body);
        }

        #[test]
        fn accepted_requests_round_trip(
            pkg in "[a-z0-9][a-z0-9.+-]{1,30}",
            suite in "[a-z][a-z0-9-]{0,15}",
            id in "[0-9]{1,9}",
            trigger in proptest::option::of("[ -~]{1,40}"),
        ) {
            let r = DebciRequest {
                package: pkg,
                suite,
                run_id: id,
                trigger: trigger.filter(|t| !t.trim().is_empty()),
                pins: Vec::new(),
                extra_apt_sources: Vec::new(),
                signing_keys: Vec::new(),
            };
            prop_assert_eq!(DebciRequest::parse(r.body().as_bytes()).expect("round trip"), r);
        }
    }
}
