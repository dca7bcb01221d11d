//! Throwaway testbeds for `autopkgtest-virt-unshare`: `adtop testbed build|list|update` and the
//! lookup `adtop worker --testbed RELEASE` makes.
//!
//! A testbed is a rootfs tarball built by mmdebstrap ([`build`]); the [`registry`] in the
//! testbed directory records where each is and when it was built. autopkgtest unpacks the
//! tarball into a fresh directory for every test (inside a user namespace, no daemon needed),
//! so the test's dependencies are installed there and gone afterwards. [`broken`] judges when
//! a testbed, not a package, failed.

pub mod broken;
pub mod build;
pub mod registry;

use std::path::{Path, PathBuf};

use chrono::Utc;
use thiserror::Error;

pub use build::Spec;
pub use registry::{Entry, Registry};

#[derive(Debug, Error)]
pub enum TestbedError {
    #[error("testbed I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "testbed registry {path} is damaged ({reason}); delete it and build the testbeds again"
    )]
    Registry { path: PathBuf, reason: String },
    #[error("invalid {what} {value:?}: letters, digits and . - _ + only, at most 64")]
    BadName { what: &'static str, value: String },
    #[error("{tool} is not installed: {hint}")]
    MissingTool {
        tool: &'static str,
        hint: &'static str,
    },
    #[error("mmdebstrap failed building {release} (exit status {status}); its last lines:\n{tail}")]
    BuildFailed {
        release: String,
        status: i32,
        tail: String,
    },
    #[error(
        "no testbed for {release}/{arch} in {dir}: build it with `adtop testbed build {release} --arch {arch}` (see `adtop testbed list`)"
    )]
    Missing {
        release: String,
        arch: String,
        dir: PathBuf,
    },
    #[error(
        "the testbed tarball {path} for {release}/{arch} is gone: rebuild it with `adtop testbed update {release} --arch {arch}`"
    )]
    TarballGone {
        release: String,
        arch: String,
        path: PathBuf,
    },
    #[error(
        "no subordinate id range for {user} in {file}: autopkgtest-virt-unshare needs one; add a line like `{user}:100000:65536` to /etc/subuid and /etc/subgid"
    )]
    NoSubids { user: String, file: &'static str },
    #[error("no testbed named {0}")]
    NotRegistered(String),
}

impl TestbedError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The testbed a worker runs on, found and checked.
#[derive(Debug, Clone)]
pub struct Found {
    pub entry: Entry,
    /// Past the configured age: the worker starts, and says so.
    pub too_old: bool,
}

/// Find the testbed for `release`/`arch` in `dir`: an error that says how to build it when
/// it is missing; `too_old` when it was built more than `max_age_secs` ago.
pub fn find(
    dir: &Path,
    release: &str,
    arch: &str,
    max_age_secs: u64,
) -> Result<Found, TestbedError> {
    let reg = Registry::load(dir)?;
    let entry = reg
        .find(release, arch)
        .cloned()
        .ok_or_else(|| TestbedError::Missing {
            release: release.into(),
            arch: arch.into(),
            dir: dir.to_path_buf(),
        })?;
    if !entry.path.is_file() {
        return Err(TestbedError::TarballGone {
            release: release.into(),
            arch: arch.into(),
            path: entry.path,
        });
    }
    let too_old = entry.age_secs(Utc::now()) > max_age_secs;
    Ok(Found { entry, too_old })
}

/// The autopkgtest arguments after `--` for a testbed.
pub fn virt_args(entry: &Entry) -> Vec<String> {
    vec![
        "unshare".into(),
        "--tarball".into(),
        entry.path.display().to_string(),
    ]
}

/// `unshare --map-auto` needs a subordinate id range for the user running the worker (root
/// too); without one every test fails with exit code 16.
pub fn check_subids() -> Result<(), TestbedError> {
    let user = crate::config::account_name();
    let uid = nix::unistd::getuid().to_string();
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let listed = text.lines().any(|l| {
            let who = l.split(':').next().unwrap_or("");
            who == user || who == uid
        });
        if !listed {
            return Err(TestbedError::NoSubids { user, file });
        }
    }
    Ok(())
}
