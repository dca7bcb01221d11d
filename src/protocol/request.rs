//! The request body: `<srcpkg>\n<JSON params>`, or a bare package name meaning `{}`.
//!
//! Parsing is also validation: a body that passes [`Request::parse`] is safe to hand to
//! `autopkgtest` as arguments (never through a shell) and to use in store paths.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use thiserror::Error;

/// Largest body accepted. autopkgtest-cloud's bodies are well under 4 KiB; a long trigger
/// list for a big transition stays far below this.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest single string value.
const MAX_STRING: usize = 4096;
/// Most entries in one list (triggers, ppas, env).
const MAX_LIST: usize = 512;

static PACKAGE: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9.+-]+$"));
static VERSION: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9.+:~-]+$"));
// autopkgtest-cloud's own pattern, kept verbatim for compatibility: ` -=` is a range.
static ENV: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z][a-zA-Z0-9_]+=[a-zA-Z0-9.:~/ -=]*$"));
static GIT_URL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^https?://[a-zA-Z0-9._/~+-]+(#[a-zA-Z0-9._/-]+)?$"));
static GIT_BRANCH: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9._/-]+$"));
// `[user:token@]lpuser/ppa[:fingerprint]`, as autopkgtest-cloud's worker splits it; the
// credentials make the run private.
static PPA: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^([A-Za-z0-9._+-]+:[A-Za-z0-9._+~-]+@)?[a-z0-9][a-z0-9+.-]*/[a-z0-9][a-z0-9+._-]*(:[0-9A-Fa-f]{8,40})?$",
    )
});
static SWIFTUSER: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$"));
static TESTNAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9][a-zA-Z0-9_.+:-]*$"));
static UUID: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,63}$"));

#[allow(clippy::panic)]
fn re(pattern: &str) -> Regex {
    // The patterns are literals above; a typo is a programming error caught by the unit tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in regex {pattern}: {e}"))
}

/// Format of `submit-time`, as autopkgtest-cloud writes it.
pub const SUBMIT_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%z";

/// `submit-time` as real clients write it: britney formats `datetime.utcnow()` with `%z`, which
/// gives no offset (`2026-12-01 22:15:03`); the web app may add one. Without one it is UTC.
pub fn parse_submit_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let s = s.trim();
    DateTime::parse_from_str(s, SUBMIT_TIME_FORMAT)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        })
}

/// Why a body was refused. `code()` is stable and goes into the `x-adtop-reason-code` header.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RejectReason {
    #[error("request body is {0} bytes, over the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("request body is not valid UTF-8 (at byte {0})")]
    BadUtf8(usize),
    #[error("request body is empty: expected '<package>' or '<package>\\n<JSON>'")]
    Empty,
    #[error(
        "invalid source package name {pkg:?}: expected ^[a-z0-9][a-z0-9.+-]+$ (lower case, starts with a letter or digit)",
        pkg = shown(.0)
    )]
    BadPackage(String),
    #[error("parameters are not valid JSON: {}", shown(.0))]
    BadJson(String),
    #[error("parameters must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("unknown parameter {key:?}; known: {known}", key = shown(.0), known = KNOWN_KEYS.join(", "))]
    UnknownKey(String),
    #[error("parameter {:?} must be {expected}", shown(key))]
    WrongType { key: String, expected: &'static str },
    #[error("invalid value in {:?}: {:?} ({why})", shown(key), shown(value))]
    BadValue {
        key: String,
        value: String,
        why: &'static str,
    },
    #[error(
        "a private PPA makes this a private run, but no \"swiftuser\" says who may read its results: add \"swiftuser\""
    )]
    PrivateWithoutReader,
}

/// What of a requester's text a reason quotes: enough to find it, never a whole body.
fn shown(s: &str) -> String {
    super::sanitize::cap(s, 200)
}

impl RejectReason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too-large",
            Self::BadUtf8(_) => "bad-utf8",
            Self::Empty => "empty",
            Self::BadPackage(_) => "bad-package",
            Self::BadJson(_) => "bad-json",
            Self::NotAnObject(_) => "not-an-object",
            Self::UnknownKey(_) => "unknown-key",
            Self::WrongType { .. } => "wrong-type",
            Self::BadValue { .. } => "bad-value",
            Self::PrivateWithoutReader => "private-without-swiftuser",
        }
    }
}

/// Every parameter key autopkgtest-cloud's request format defines.
pub const KNOWN_KEYS: &[&str] = &[
    "all-proposed",
    "build-git",
    "env",
    "ppas",
    "readable-by",
    "requester",
    "submit-time",
    "swiftuser",
    "test-bzr",
    "test-git",
    "testname",
    "triggers",
    "uuid",
];

/// Keys that describe *who* and *when*, not *what*: two requests differing only in these
/// are the same test (see [`Request::identity`]).
const NON_IDENTITY_KEYS: &[&str] = &["uuid", "submit-time", "requester", "readable-by"];

/// Validated request parameters. Fields carry the wire names in their serde attributes so the
/// JSON written back is byte-compatible (sorted keys, absent when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ppas: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "test-git", default, skip_serializing_if = "Option::is_none")]
    pub test_git: Option<String>,
    #[serde(rename = "build-git", default, skip_serializing_if = "Option::is_none")]
    pub build_git: Option<String>,
    #[serde(rename = "test-bzr", default, skip_serializing_if = "Option::is_none")]
    pub test_bzr: Option<String>,
    #[serde(
        rename = "all-proposed",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub all_proposed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swiftuser: Option<String>,
    #[serde(
        rename = "readable-by",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub readable_by: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(
        rename = "submit-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub submit_time: Option<String>,
}

impl Params {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `all-proposed` given as 1, "1" or true.
    pub fn all_proposed(&self) -> bool {
        matches!(&self.all_proposed, Some(Value::Bool(true)))
            || matches!(&self.all_proposed, Some(Value::Number(n)) if n.as_u64() == Some(1))
            || matches!(&self.all_proposed, Some(Value::String(s)) if s == "1")
    }

    /// `env` of `testcomplete.fanout`: `key=value` of `all-proposed` and `testname`, comma-joined,
    /// with values written as Python's `str()` would (autopkgtest-cloud formats them so).
    pub fn completion_env(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.all_proposed {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Bool(true) => "True".into(),
                Value::Bool(false) => "False".into(),
                other => other.to_string(),
            };
            parts.push(format!("all-proposed={v}"));
        }
        if let Some(t) = &self.testname {
            parts.push(format!("testname={t}"));
        }
        parts.join(",")
    }

    /// A private run (autopkgtest-cloud's rule): `swiftuser` given, or any PPA with credentials.
    /// Its results go to `private-<container>`, readable only by that Swift user.
    pub fn private(&self) -> bool {
        self.swiftuser.is_some() || self.ppas.iter().any(|p| ppa_credentials(p).is_some())
    }

    /// The request as it may be shown or kept where others read: PPA credentials blanked.
    pub fn redacted(&self) -> Self {
        let mut p = self.clone();
        for ppa in &mut p.ppas {
            if let Some((_, rest)) = ppa.rsplit_once('@') {
                *ppa = format!("***@{rest}");
            }
        }
        p
    }

    /// Triggers joined by spaces, as `testcomplete.fanout` carries them.
    pub fn triggers_joined(&self) -> String {
        self.triggers.join(" ")
    }
}

/// A parsed, validated test request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub package: String,
    pub params: Params,
}

impl Request {
    pub fn new(package: &str, params: Params) -> Result<Self, RejectReason> {
        check_package(package)?;
        let value =
            serde_json::to_value(&params).map_err(|e| RejectReason::BadJson(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(RejectReason::NotAnObject("non-object"));
        };
        let params = validate_params(&map)?;
        Ok(Self {
            package: package.to_string(),
            params,
        })
    }

    /// Parse and validate a body exactly as a worker receives it.
    pub fn parse(body: &[u8]) -> Result<Self, RejectReason> {
        if body.len() > MAX_BODY {
            return Err(RejectReason::TooLarge(body.len()));
        }
        let text = std::str::from_utf8(body).map_err(|e| RejectReason::BadUtf8(e.valid_up_to()))?;
        let (package, json) = match text.split_once('\n') {
            Some((p, j)) => (p, j.trim()),
            None => (text, ""),
        };
        let package = package.trim_end_matches('\r');
        if package.is_empty() && json.is_empty() {
            return Err(RejectReason::Empty);
        }
        check_package(package)?;
        let params = if json.is_empty() {
            Params::default()
        } else {
            let value: Value =
                serde_json::from_str(json).map_err(|e| RejectReason::BadJson(e.to_string()))?;
            match value {
                Value::Object(map) => validate_params(&map)?,
                other => return Err(RejectReason::NotAnObject(json_type(&other))),
            }
        };
        Ok(Self {
            package: package.to_string(),
            params,
        })
    }

    /// The wire body: `<pkg>\n<JSON with sorted keys>`, or the bare name when there are no params.
    pub fn body(&self) -> String {
        if self.params.is_empty() {
            return self.package.clone();
        }
        // serde_json's Map is a BTreeMap (no preserve_order), so keys come out sorted.
        let json = serde_json::to_value(&self.params)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| "{}".into());
        format!("{}\n{}", self.package, json)
    }

    /// What makes two requests "the same test": package plus every parameter except who asked
    /// and when. `submit` refuses a request whose identity is already queued or running.
    pub fn identity(&self) -> String {
        let mut map: BTreeMap<String, Value> = match serde_json::to_value(&self.params) {
            Ok(Value::Object(m)) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        for k in NON_IDENTITY_KEYS {
            map.remove(*k);
        }
        let json = serde_json::to_string(&map).unwrap_or_default();
        format!("{}\n{}", self.package, json)
    }

    /// First five hex digits of sha1(body), the suffix of the result directory.
    pub fn body_hash5(body: &[u8]) -> String {
        let digest = Sha1::digest(body);
        hex::encode(digest)[..5].to_string()
    }
}

/// `user:token` of a private PPA `user:token@lpuser/ppa[:fingerprint]`.
pub fn ppa_credentials(ppa: &str) -> Option<&str> {
    ppa.rsplit_once('@').map(|(creds, _)| creds)
}

/// `lpuser/ppa` of a PPA spec, without credentials or fingerprint.
pub fn ppa_name(ppa: &str) -> &str {
    let rest = ppa.rsplit_once('@').map_or(ppa, |(_, r)| r);
    rest.split(':').next().unwrap_or(rest)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_package(p: &str) -> Result<(), RejectReason> {
    if p.len() <= 128 && PACKAGE.is_match(p) {
        Ok(())
    } else {
        Err(RejectReason::BadPackage(p.to_string()))
    }
}

fn bad(key: &str, value: &str, why: &'static str) -> RejectReason {
    RejectReason::BadValue {
        key: key.to_string(),
        value: value.chars().take(200).collect(),
        why,
    }
}

fn string<'a>(key: &str, v: &'a Value) -> Result<&'a str, RejectReason> {
    let s = v.as_str().ok_or_else(|| RejectReason::WrongType {
        key: key.to_string(),
        expected: "a string",
    })?;
    if s.len() > MAX_STRING {
        return Err(bad(key, s, "too long"));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(key, s, "control characters are not allowed"));
    }
    Ok(s)
}

fn string_list(key: &str, v: &Value) -> Result<Vec<String>, RejectReason> {
    let items = v.as_array().ok_or_else(|| RejectReason::WrongType {
        key: key.to_string(),
        expected: "a list of strings",
    })?;
    if items.len() > MAX_LIST {
        return Err(bad(
            key,
            &format!("{} entries", items.len()),
            "too many entries",
        ));
    }
    items
        .iter()
        .map(|i| string(key, i).map(str::to_string))
        .collect()
}

fn matching(key: &str, s: &str, re: &Regex, why: &'static str) -> Result<(), RejectReason> {
    if re.is_match(s) {
        Ok(())
    } else {
        Err(bad(key, s, why))
    }
}

fn check_trigger(t: &str) -> Result<(), RejectReason> {
    let ok = t
        .split_once('/')
        .is_some_and(|(src, ver)| PACKAGE.is_match(src) && VERSION.is_match(ver));
    if ok {
        Ok(())
    } else {
        Err(bad("triggers", t, "expected <source>/<version>"))
    }
}

fn check_git(key: &str, s: &str) -> Result<(), RejectReason> {
    let mut parts = s.split(' ');
    let url = parts.next().unwrap_or_default();
    matching(key, url, &GIT_URL, "expected an http(s) git URL")?;
    match (parts.next(), parts.next()) {
        (None, _) => Ok(()),
        (Some(branch), None) => matching(key, branch, &GIT_BRANCH, "bad branch name"),
        _ => Err(bad(key, s, "expected 'URL [branch]'")),
    }
}

fn validate_params(map: &Map<String, Value>) -> Result<Params, RejectReason> {
    let mut p = Params::default();
    for (key, v) in map {
        match key.as_str() {
            "triggers" => {
                p.triggers = string_list(key, v)?;
                p.triggers.iter().try_for_each(|t| check_trigger(t))?;
            }
            "ppas" => {
                p.ppas = string_list(key, v)?;
                for s in &p.ppas {
                    // Never echo a private PPA's token back in a rejection reason.
                    if !PPA.is_match(s) {
                        let shown = ppa_credentials(s).map_or(s.clone(), |_| {
                            format!("***@{}", s.rsplit_once('@').map_or("", |(_, r)| r))
                        });
                        return Err(bad(
                            key,
                            &shown,
                            "expected [user:token@]<lpuser>/<ppa>[:fingerprint]",
                        ));
                    }
                }
            }
            "env" => {
                p.env = string_list(key, v)?;
                for s in &p.env {
                    matching(key, s, &ENV, "expected VAR=value")?;
                }
            }
            "test-git" => {
                let s = string(key, v)?;
                check_git(key, s)?;
                p.test_git = Some(s.to_string());
            }
            "build-git" => {
                let s = string(key, v)?;
                check_git(key, s)?;
                p.build_git = Some(s.to_string());
            }
            "test-bzr" => {
                let s = string(key, v)?;
                matching(key, s, &GIT_URL, "expected an http(s) URL")?;
                p.test_bzr = Some(s.to_string());
            }
            "all-proposed" => {
                let ok = matches!(v, Value::Bool(_))
                    || v.as_u64().is_some_and(|n| n <= 1)
                    || matches!(v.as_str(), Some("0" | "1"));
                if !ok {
                    return Err(RejectReason::WrongType {
                        key: key.clone(),
                        expected: "1, \"1\" or true",
                    });
                }
                p.all_proposed = Some(v.clone());
            }
            "testname" => {
                let s = string(key, v)?;
                matching(
                    key,
                    s,
                    &TESTNAME,
                    "expected a test name from debian/tests/control",
                )?;
                p.testname = Some(s.to_string());
            }
            "swiftuser" => {
                let s = string(key, v)?;
                matching(key, s, &SWIFTUSER, "expected a Swift user name")?;
                p.swiftuser = Some(s.to_string());
            }
            "requester" => p.requester = Some(string(key, v)?.to_string()),
            "readable-by" => {
                // autopkgtest-cloud accepts one user name or a list of them.
                if v.is_string() {
                    string(key, v)?;
                } else {
                    string_list(key, v)?;
                }
                p.readable_by = Some(v.clone());
            }
            "uuid" => {
                let s = string(key, v)?;
                matching(key, s, &UUID, "expected a uuid")?;
                p.uuid = Some(s.to_string());
            }
            "submit-time" => {
                let s = string(key, v)?;
                if parse_submit_time(s).is_none() {
                    return Err(bad(
                        key,
                        s,
                        "expected %Y-%m-%d %H:%M:%S, optionally with a +HHMM offset",
                    ));
                }
                p.submit_time = Some(s.to_string());
            }
            other => return Err(RejectReason::UnknownKey(other.chars().take(100).collect())),
        }
    }
    if p.ppas.iter().any(|s| ppa_credentials(s).is_some()) && p.swiftuser.is_none() {
        return Err(RejectReason::PrivateWithoutReader);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Request, RejectReason> {
        Request::parse(s.as_bytes())
    }

    #[test]
    fn bare_name_means_no_params() {
        let r = parse("hello").expect("valid");
        assert_eq!(r.package, "hello");
        assert!(r.params.is_empty());
        assert_eq!(r.body(), "hello");
    }

    #[test]
    fn full_request_round_trips_with_sorted_keys() {
        let body = "glibc\n{\"env\": [\"FOO=bar\"], \"triggers\": [\"glibc/2.39-0ubuntu8\"], \"requester\": \"britney\", \"ppas\": [\"user/ppa\"], \"submit-time\": \"2024-05-01 10:11:12+0000\", \"all-proposed\": \"1\", \"test-git\": \"https://salsa.debian.org/x/y.git main\"}";
        let r = parse(body).expect("valid");
        assert_eq!(r.params.triggers, ["glibc/2.39-0ubuntu8"]);
        assert!(r.params.all_proposed());
        let out = r.body();
        let json = out.split_once('\n').expect("has params").1;
        let keys: Vec<&str> = json
            .match_indices("\":")
            .map(|(i, _)| {
                let start = json[..i].rfind('"').unwrap_or(0);
                &json[start + 1..i]
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(parse(&out).expect("re-parses"), r);
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xff\xfe", "bad-utf8"),
            (b"", "empty"),
            (b"--help", "bad-package"),
            (b"../../etc", "bad-package"),
            (b"Hello", "bad-package"),
            (b"a;rm -rf /", "bad-package"),
            (b"hello\n{", "bad-json"),
            (b"hello\n[1]", "not-an-object"),
            (b"hello\n{\"bogus\": 1}", "unknown-key"),
            (b"hello\n{\"triggers\": \"x/1\"}", "wrong-type"),
            (b"hello\n{\"triggers\": [1]}", "wrong-type"),
            (b"hello\n{\"triggers\": [\"x\"]}", "bad-value"),
            (b"hello\n{\"env\": [\"1X=y\"]}", "bad-value"),
            (b"hello\n{\"ppas\": [\"../x\"]}", "bad-value"),
            (b"hello\n{\"test-git\": \"file:///etc\"}", "bad-value"),
            (b"hello\n{\"requester\": \"a\\u001b[2Jb\"}", "bad-value"),
            (b"hello\n{\"submit-time\": \"yesterday\"}", "bad-value"),
        ];
        for (body, code) in cases {
            let err = Request::parse(body).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(
                err.code(),
                *code,
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
        }
        let huge = vec![b'a'; 10 * 1024 * 1024];
        assert_eq!(
            Request::parse(&huge).map_err(|e| e.code()),
            Err("too-large")
        );
    }

    #[test]
    fn reasons_quote_at_most_a_little_of_the_request() {
        let long_name = format!("A{}", "x".repeat(65_000));
        let long_key = format!("hello\n{{\"{}\": 1}}", "k".repeat(65_000));
        let long_value = format!(
            "hello\n{{\"requester\": \"{}\\u001b\"}}",
            "v".repeat(65_000)
        );
        for body in [long_name, long_key, long_value] {
            let err = Request::parse(body.as_bytes()).expect_err("refused");
            let text = err.to_string();
            assert!(text.len() < 1024, "{} bytes: {}", text.len(), &text[..100]);
        }
    }

    #[test]
    fn accepts_what_real_clients_send() {
        // britney2-ubuntu: datetime.utcnow() formatted with %z, so no offset at all.
        let britney =
            "hello\n{\"submit-time\": \"2026-12-01 22:15:03\", \"triggers\": [\"hello/1.0-1\"]}";
        let r = parse(britney).expect("britney's own request");
        let t = parse_submit_time(r.params.submit_time.as_deref().unwrap_or_default());
        assert_eq!(
            t.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-01T22:15:03+00:00")
        );
        assert!(parse("hello\n{\"submit-time\": \"2026-12-01 22:15:03+0100\"}").is_ok());
        // The web app: ppas, all-proposed "1", readable-by as a list.
        let web = "hello\n{\"all-proposed\": \"1\", \"ppas\": [\"me/fix:ABCDEF0123456789\"], \"readable-by\": [\"a\", \"b\"], \"requester\": \"someone\", \"triggers\": [\"hello/1.0-1\"], \"uuid\": \"6f3c1f0e-0d9e-4e63-9b44-2f3b1c1a0e11\"}";
        assert!(parse(web).is_ok());
        // Lower-case fingerprints are the same key.
        assert!(parse("hello\n{\"ppas\": [\"me/fix:abcdef0123456789\"]}").is_ok());
    }

    #[test]
    fn private_runs_need_a_reader_and_never_echo_tokens() {
        let no_reader =
            parse("hello\n{\"ppas\": [\"bot:s3cret@me/embargo\"]}").expect_err("private");
        assert_eq!(no_reader.code(), "private-without-swiftuser");
        let r =
            parse("hello\n{\"ppas\": [\"bot:s3cret@me/embargo\"], \"swiftuser\": \"sec-team\"}")
                .expect("private with reader");
        assert!(r.params.private());
        assert_eq!(r.params.redacted().ppas, ["***@me/embargo"]);
        assert_eq!(ppa_name(&r.params.ppas[0]), "me/embargo");
        let bad = parse("hello\n{\"ppas\": [\"bot:s3cret@../x\"]}").expect_err("bad ppa");
        assert!(!bad.to_string().contains("s3cret"), "{bad}");
        assert!(
            parse("hello\n{\"swiftuser\": \"x\"}")
                .expect("swiftuser")
                .params
                .private()
        );
    }

    #[test]
    fn completion_env_as_autopkgtest_cloud_joins_it() {
        let r = parse("hello\n{\"all-proposed\": \"1\", \"testname\": \"smoke\"}").expect("valid");
        assert_eq!(r.params.completion_env(), "all-proposed=1,testname=smoke");
        assert_eq!(parse("hello").expect("bare").params.completion_env(), "");
        let r = parse("hello\n{\"all-proposed\": 1}").expect("number");
        assert_eq!(r.params.completion_env(), "all-proposed=1");
    }

    #[test]
    fn identity_ignores_who_and_when() {
        let a =
            parse("hello\n{\"triggers\": [\"hello/1\"], \"uuid\": \"a\", \"requester\": \"x\"}");
        let b = parse("hello\n{\"triggers\": [\"hello/1\"], \"uuid\": \"b\"}");
        let c = parse("hello\n{\"triggers\": [\"hello/2\"]}");
        let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
        assert_eq!(a.identity(), b.identity());
        assert_ne!(a.identity(), c.identity());
    }

    #[test]
    fn hash5_is_sha1_prefix() {
        // sha1("hello") = aaf4c61d...
        assert_eq!(Request::body_hash5(b"hello"), "aaf4c");
    }

    proptest! {
        #[test]
        fn parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Request::parse(&body);
        }

        #[test]
        fn accepted_requests_round_trip(
            pkg in "[a-z0-9][a-z0-9.+-]{1,30}",
            triggers in proptest::collection::vec("[a-z0-9][a-z0-9.+-]{1,10}/[a-zA-Z0-9.+:~-]{1,10}", 0..4),
            env in proptest::collection::vec("[A-Z][A-Z0-9_]{1,8}=[a-z0-9./]{0,8}", 0..3),
        ) {
            let params = Params { triggers, env, ..Params::default() };
            let r = Request::new(&pkg, params).expect("generated valid");
            prop_assert_eq!(Request::parse(r.body().as_bytes()).expect("round trip"), r);
        }

        #[test]
        fn accepted_text_is_free_of_controls(s in "\\PC*") {
            let body = format!("pkg\n{{\"requester\": {}}}", serde_json::Value::String(s));
            if let Ok(r) = Request::parse(body.as_bytes()) {
                prop_assert!(!r.params.requester.unwrap_or_default().chars().any(char::is_control));
            }
        }
    }
}
