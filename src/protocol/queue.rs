//! Request queue names: `debci-<release>-<arch>` and `debci-<context>-<release>-<arch>`.

use std::fmt;

use thiserror::Error;

/// Contexts autopkgtest-cloud knows; any other lower-case tag is a platform tag (`qemu`, ...).
pub const KNOWN_CONTEXTS: &[&str] = &["huge", "ppa", "upstream"];

/// A request queue, decomposed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueName {
    pub context: Option<String>,
    pub release: String,
    pub arch: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueueNameError {
    #[error(
        "invalid {what} {value:?}: use lower-case letters, digits, '.', '+' or '_', starting with a letter or digit (no '-')"
    )]
    BadPart { what: &'static str, value: String },
    #[error(
        "{0:?} is not a request queue name: expected debci-<release>-<arch> or debci-<context>-<release>-<arch>"
    )]
    NotARequestQueue(String),
}

fn valid_part(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '+' | '_'))
}

fn check(what: &'static str, value: &str) -> Result<(), QueueNameError> {
    if valid_part(value) {
        Ok(())
    } else {
        Err(QueueNameError::BadPart {
            what,
            value: value.to_string(),
        })
    }
}

impl QueueName {
    pub fn new(release: &str, arch: &str, context: Option<&str>) -> Result<Self, QueueNameError> {
        check("release", release)?;
        check("architecture", arch)?;
        if let Some(c) = context {
            check("context", c)?;
        }
        Ok(Self {
            context: context.map(str::to_string),
            release: release.to_string(),
            arch: arch.to_string(),
        })
    }

    pub fn parse(name: &str) -> Result<Self, QueueNameError> {
        let bad = || QueueNameError::NotARequestQueue(name.to_string());
        // debci's `debci-tests-<arch>-<backend>` would read as context `tests`: it is not ours.
        if super::debci::DebciQueue::is_debci(name) {
            return Err(bad());
        }
        let rest = name.strip_prefix("debci-").ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('-').collect();
        match parts.as_slice() {
            [release, arch] => Self::new(release, arch, None).map_err(|_| bad()),
            [context, release, arch] => Self::new(release, arch, Some(context)).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// Every queue a worker of `arch` serving `releases` x (`contexts` plus the plain queue) consumes.
    pub fn all_for(
        arch: &str,
        releases: &[String],
        contexts: &[String],
    ) -> Result<Vec<Self>, QueueNameError> {
        let mut out = Vec::new();
        for release in releases {
            out.push(Self::new(release, arch, None)?);
            for context in contexts {
                out.push(Self::new(release, arch, Some(context))?);
            }
        }
        Ok(out)
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(c) => write!(f, "debci-{c}-{}-{}", self.release, self.arch),
            None => write!(f, "debci-{}-{}", self.release, self.arch),
        }
    }
}

/// Is `name` a request queue of either dialect (autopkgtest-cloud's or debci's)?
pub fn is_request_queue(name: &str) -> bool {
    QueueName::parse(name).is_ok() || super::debci::DebciQueue::parse(name).is_ok()
}

/// adtop's own queues an operator looks at beside the request queues: `adtop.rejected` (what
/// workers refused) and `adtop.held.<worker>` (requests of long tests). No worker consumes
/// them, so no consumer is no alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideQueue {
    Rejected,
    Held,
}

impl SideQueue {
    pub fn of(name: &str) -> Option<Self> {
        if name == super::names::REJECTED_QUEUE {
            Some(Self::Rejected)
        } else if name.starts_with(super::names::HELD_QUEUE_PREFIX) {
            Some(Self::Held)
        } else {
            None
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Held => "held",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [
            "debci-noble-amd64",
            "debci-huge-noble-amd64",
            "debci-qemu-unstable-arm64",
        ] {
            assert_eq!(
                QueueName::parse(n).map(|q| q.to_string()),
                Ok(n.to_string())
            );
        }
        let q = QueueName::parse("debci-ppa-jammy-s390x").expect("valid");
        assert_eq!(q.context.as_deref(), Some("ppa"));
        assert_eq!(q.release, "jammy");
    }

    #[test]
    fn rejects_non_request_queues() {
        for n in [
            "adtop.rejected",
            "debci-",
            "debci-a-b-c-d",
            "debci-../x-amd64",
            "debci-Noble-amd64",
            "debci-tests-amd64-lxc",
        ] {
            assert!(QueueName::parse(n).is_err(), "{n}");
        }
        assert!(QueueName::new("noble", "amd 64", None).is_err());
        assert!(is_request_queue("debci-tests-amd64-lxc"));
        assert!(is_request_queue("debci-noble-amd64"));
        assert!(!is_request_queue("adtop.rejected"));
    }

    #[test]
    fn all_for_covers_contexts() {
        let qs = QueueName::all_for("amd64", &["noble".into()], &["huge".into()]).expect("valid");
        let names: Vec<String> = qs.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["debci-noble-amd64", "debci-huge-noble-amd64"]);
    }
}
