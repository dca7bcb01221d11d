//! The local spool: a finished result is written here first, atomically, and leaves only
//! once it is in the store and announced. A crash or an outage in between loses nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{ObjectMeta, Store};
use crate::protocol::layout;
use crate::protocol::messages::{IndexEntry, TestComplete};
use crate::protocol::names::INDEX_CONTAINER;

/// What a spooled result is and how far it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub uuid: String,
    pub container: String,
    pub run_dir: String,
    pub index: IndexEntry,
    pub complete: TestComplete,
    /// Files of the run directory (`log.gz`, `result.tar`, `artifacts.tar.gz`).
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

    /// Write the entry and its files to a temporary directory, then rename it into place.
    pub fn add(&self, entry: &SpoolEntry, files: &[(&str, Vec<u8>)]) -> Result<()> {
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .context("spool: temporary directory")?;
        for (name, data) in files {
            std::fs::write(tmp.path().join(name), data)
                .with_context(|| format!("spool: write {name}"))?;
        }
        std::fs::write(tmp.path().join(ENTRY), serde_json::to_vec_pretty(entry)?)
            .context("spool: write entry")?;
        let dest = self.entry_dir(&entry.uuid);
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .with_context(|| format!("spool: replace {}", dest.display()))?;
        }
        let kept = tmp.keep();
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

    /// Upload the run's files, then the index entry and the by-uuid pointer. Idempotent.
    pub async fn store(&self, entry: &SpoolEntry, store: &Store) -> Result<()> {
        let dir = self.entry_dir(&entry.uuid);
        let mut files = Vec::new();
        for name in &entry.files {
            let data = tokio::fs::read(dir.join(name))
                .await
                .with_context(|| format!("spool: read {name}"))?;
            files.push((name.as_str(), data));
        }
        upload(entry, &files, store).await
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

/// Upload a result's files, then its index entry and by-uuid pointer, then make it all durable.
/// Idempotent, so a retry after a partial failure is safe.
pub async fn upload(entry: &SpoolEntry, files: &[(&str, Vec<u8>)], store: &Store) -> Result<()> {
    for (name, data) in files {
        let meta = match *name {
            layout::LOG_OBJECT => ObjectMeta {
                content_type: Some("text/plain; charset=UTF-8"),
                content_encoding: Some("gzip"),
            },
            layout::RESULT_OBJECT => ObjectMeta {
                content_type: Some("application/x-tar"),
                content_encoding: None,
            },
            _ => ObjectMeta {
                content_type: Some("application/octet-stream"),
                content_encoding: None,
            },
        };
        store
            .put(
                &entry.container,
                &format!("{}/{name}", entry.run_dir),
                data.clone(),
                meta,
            )
            .await
            .with_context(|| format!("store {}/{}/{name}", entry.container, entry.run_dir))?;
    }
    let json = serde_json::to_vec(&entry.index)?;
    let meta = ObjectMeta {
        content_type: Some("application/json"),
        content_encoding: None,
    };
    store
        .put(
            INDEX_CONTAINER,
            &layout::index_key(entry.index.finished, &entry.uuid),
            json.clone(),
            meta,
        )
        .await?;
    store
        .put(INDEX_CONTAINER, &layout::uuid_key(&entry.uuid), json, meta)
        .await?;
    // One flush for the whole result, before it is announced and acknowledged.
    store.sync().await?;
    Ok(())
}
