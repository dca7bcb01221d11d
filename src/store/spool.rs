//! The local spool, where a finished result waits while the store or the broker is away.
//!
//! The worker packs every result into a staging directory here ([`Spool::staging`]), on the
//! same filesystem, and stores it from there. Only when storing or announcing fails does the
//! staging directory become a spool entry ([`Spool::add`], an atomic rename: nothing is
//! copied), which leaves once it is in the store and announced. A crash or an outage in
//! between loses nothing: the request stays unacknowledged, and a restarted worker delivers
//! its spool first.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{Access, Store, StoreError};
use crate::protocol::messages::{IndexEntry, TestComplete};

/// What a spooled result is and how far it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub uuid: String,
    pub container: String,
    /// Who may read the container: public, or one Swift user for a private run.
    #[serde(default)]
    pub access: Access,
    /// The run's directory; named by [`super::run::put_run`] when the result is stored,
    /// empty before.
    pub run_dir: String,
    /// `sha1(body)[:5]`, the run id's suffix.
    #[serde(default)]
    pub hash5: String,
    /// Every object is in the store under `run_dir`; a retry only announces.
    #[serde(default)]
    pub stored: bool,
    pub index: IndexEntry,
    pub complete: TestComplete,
    /// Files of the run directory (`log.gz`, `artifacts.tar.gz`, `result.tar`, ...).
    pub files: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

const ENTRY: &str = "entry.json";

impl Spool {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create spool directory {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_dir(&self, uuid: &str) -> PathBuf {
        self.dir.join(uuid)
    }

    /// A fresh directory to pack a result into, inside the spool (so that [`Spool::add`] is a
    /// rename); removed when dropped unless added. Skipped by [`Spool::pending`].
    pub fn staging(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .context("spool: staging directory")
    }

    /// Make a staging directory with its packed files a spool entry: write the description,
    /// then rename the directory into place.
    pub fn add(&self, entry: &SpoolEntry, staging: tempfile::TempDir) -> Result<()> {
        std::fs::write(
            staging.path().join(ENTRY),
            serde_json::to_vec_pretty(entry)?,
        )
        .context("spool: write entry")?;
        let dest = self.entry_dir(&entry.uuid);
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .with_context(|| format!("spool: replace {}", dest.display()))?;
        }
        let kept = staging.keep();
        std::fs::rename(&kept, &dest)
            .with_context(|| format!("spool: move into {}", dest.display()))?;
        Ok(())
    }

    /// Entries still waiting, oldest first.
    pub fn pending(&self) -> Result<Vec<SpoolEntry>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)
            .with_context(|| format!("spool: read {}", self.dir.display()))?
        {
            let path = e?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            match std::fs::read(path.join(ENTRY))
                .map_err(anyhow::Error::from)
                .and_then(|d| Ok(serde_json::from_slice::<SpoolEntry>(&d)?))
            {
                Ok(entry) => out.push(entry),
                Err(e) => {
                    tracing::warn!("spool: skipping unreadable entry {}: {e:#}", path.display())
                }
            }
        }
        out.sort_by_key(|e| e.index.finished);
        Ok(out)
    }

    /// Store a spooled result (see [`super::run::put_run`]), unless that was done already;
    /// the entry on disk then records its run directory.
    pub async fn store(&self, entry: &mut SpoolEntry, store: &Store) -> Result<(), StoreError> {
        if entry.stored {
            return Ok(());
        }
        let dir = self.entry_dir(&entry.uuid);
        super::run::put_run(entry, &dir, store).await?;
        self.rewrite(entry).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::other(format!("{e:#}")),
        })
    }

    /// Replace the entry's description, keeping its files.
    fn rewrite(&self, entry: &SpoolEntry) -> Result<()> {
        let dir = self.entry_dir(&entry.uuid);
        let tmp = dir.join(".entry.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(entry)?).context("spool: write entry")?;
        std::fs::rename(&tmp, dir.join(ENTRY)).context("spool: replace entry")?;
        Ok(())
    }

    pub fn remove(&self, uuid: &str) -> Result<()> {
        let dir = self.entry_dir(uuid);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("spool: remove {}", dir.display())),
        }
    }
}

/// Key of the marker that says a result's completion was announced.
pub fn announced_key(uuid: &str) -> String {
    format!("announced/{uuid}")
}
