//! The registry of built testbeds: one JSON file in the testbed directory naming, for each
//! release and architecture, the tarball's path, when it was built and how (so that `update`
//! rebuilds it the same way). Written to a temporary file and renamed, so a reader never sees
//! half of it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TestbedError;

/// The registry's file name inside the testbed directory.
pub const FILE: &str = "testbeds.json";

/// One built testbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub release: String,
    pub arch: String,
    /// The rootfs tarball `autopkgtest-virt-unshare --tarball` unpacks for every test.
    pub path: PathBuf,
    /// When the build that made the current tarball finished.
    pub built: DateTime<Utc>,
    /// The mirror given to mmdebstrap, if any (else its default, deb.debian.org).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Packages installed besides `build-essential` and `debhelper`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Tarball size in bytes, when it was built.
    #[serde(default)]
    pub size: u64,
}

impl Entry {
    /// Seconds since it was built (0 for a clock that went backwards).
    pub fn age_secs(&self, now: DateTime<Utc>) -> u64 {
        u64::try_from((now - self.built).num_seconds()).unwrap_or(0)
    }
}

/// All testbeds of one directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub testbeds: Vec<Entry>,
}

impl Registry {
    /// The registry of `dir`; an empty one when the directory or file does not exist yet.
    pub fn load(dir: &Path) -> Result<Self, TestbedError> {
        let path = dir.join(FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(TestbedError::io(&path, e)),
        };
        // A registry is a few entries; anything large is not ours.
        if text.len() > 1 << 20 {
            return Err(TestbedError::Registry {
                path,
                reason: "larger than 1 MiB".into(),
            });
        }
        serde_json::from_slice(&text).map_err(|e| TestbedError::Registry {
            path,
            reason: e.to_string(),
        })
    }

    /// Write it to `dir` atomically (temporary file in the same directory, then rename).
    pub fn save(&self, dir: &Path) -> Result<(), TestbedError> {
        std::fs::create_dir_all(dir).map_err(|e| TestbedError::io(dir, e))?;
        let path = dir.join(FILE);
        let body = serde_json::to_vec_pretty(self).map_err(|e| TestbedError::Registry {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".testbeds-")
            .tempfile_in(dir)
            .map_err(|e| TestbedError::io(dir, e))?;
        std::io::Write::write_all(&mut tmp, &body).map_err(|e| TestbedError::io(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| TestbedError::io(&path, e.error))?;
        Ok(())
    }

    pub fn find(&self, release: &str, arch: &str) -> Option<&Entry> {
        self.testbeds
            .iter()
            .find(|e| e.release == release && e.arch == arch)
    }

    /// Add `entry`, replacing the one of the same release and architecture.
    pub fn upsert(&mut self, entry: Entry) {
        self.testbeds
            .retain(|e| !(e.release == entry.release && e.arch == entry.arch));
        self.testbeds.push(entry);
        self.testbeds
            .sort_by(|a, b| (&a.release, &a.arch).cmp(&(&b.release, &b.arch)));
    }
}

/// An age as operators read it: `45s`, `12m`, `5h`, `3d`.
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(release: &str, built: DateTime<Utc>) -> Entry {
        Entry {
            release: release.into(),
            arch: "amd64".into(),
            path: PathBuf::from(format!("/tb/{release}-amd64.tar.gz")),
            built,
            mirror: None,
            include: vec![],
            size: 1,
        }
    }

    #[test]
    fn save_load_upsert_and_ages() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            Registry::load(dir.path()).expect("empty"),
            Registry::default()
        );
        let now = Utc::now();
        let mut r = Registry::default();
        r.upsert(entry("trixie", now));
        r.upsert(entry("bookworm", now - chrono::TimeDelta::days(3)));
        r.upsert(entry("trixie", now - chrono::TimeDelta::hours(2)));
        assert_eq!(r.testbeds.len(), 2);
        r.save(dir.path()).expect("save");
        let back = Registry::load(dir.path()).expect("load");
        assert_eq!(back, r);
        assert_eq!(back.testbeds[0].release, "bookworm");
        let t = back.find("trixie", "amd64").expect("trixie");
        assert_eq!(age(t.age_secs(now)), "2h");
        assert_eq!(age(back.testbeds[0].age_secs(now)), "3d");
        assert!(back.find("trixie", "arm64").is_none());
    }

    #[test]
    fn a_damaged_registry_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), b"{not json").expect("write");
        let e = Registry::load(dir.path()).expect_err("damaged");
        assert!(e.to_string().contains(FILE), "{e}");
    }
}
