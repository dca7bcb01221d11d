//! The local spool: a finished result is written here first, atomically, and leaves only
//! once it is in the store and announced. A crash or an outage in between loses nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{Access, ObjectMeta, Store};
use crate::protocol::layout;
use crate::protocol::messages::{IndexEntry, TestComplete};
use crate::protocol::names::INDEX_CONTAINER;

/// What a spooled result is and how far it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub uuid: String,
    pub container: String,
    /// Who may read the container: public, or one Swift user for a private run.
    #[serde(default)]
    pub access: Access,
    /// The run's directory; named by [`upload`] when the result is stored, empty before.
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

    /// Upload the run's files, then the index entry and the by-uuid pointer, unless that was
    /// done already; the entry on disk then records its run directory.
    pub async fn store(&self, entry: &mut SpoolEntry, store: &Store) -> Result<()> {
        if entry.stored {
            return Ok(());
        }
        let dir = self.entry_dir(&entry.uuid);
        let names = entry.files.clone();
        let mut files = Vec::new();
        for name in &names {
            let data = tokio::fs::read(dir.join(name))
                .await
                .with_context(|| format!("spool: read {name}"))?;
            files.push((name.as_str(), data));
        }
        upload(entry, &files, store).await?;
        self.rewrite(entry)
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

/// How many later seconds a run id may move to when its name is taken (two results of one
/// package with the same body stored in the same second).
const NAME_TRIES: i64 = 30;

/// Name the run now (autopkgtest-cloud takes the run id when the result is stored), upload its
/// objects with `result.tar` last (a reader that finds `result.tar` finds the whole run), then
/// the index entry and by-uuid pointer, then make it all durable. A failed attempt leaves at
/// most objects without `result.tar`, which readers skip; the next attempt names a new run.
pub async fn upload(
    entry: &mut SpoolEntry,
    files: &[(&str, Vec<u8>)],
    store: &Store,
) -> Result<()> {
    store
        .ensure_container(&entry.container, &entry.access)
        .await
        .with_context(|| format!("create container {}", entry.container))?;
    let (release, arch, package) = (
        entry.index.release.clone(),
        entry.index.arch.clone(),
        entry.index.package.clone(),
    );
    let mut at = chrono::Utc::now();
    let mut run_dir = layout::run_dir(&release, &arch, &package, at, &entry.hash5);
    for _ in 0..NAME_TRIES {
        let taken = store
            .list(&entry.container, &format!("{run_dir}/"), Some('/'))
            .await
            .with_context(|| format!("list {}/{run_dir}", entry.container))?;
        if taken.is_empty() {
            break;
        }
        at += chrono::Duration::seconds(1);
        run_dir = layout::run_dir(&release, &arch, &package, at, &entry.hash5);
    }
    entry.run_dir = run_dir.clone();
    entry.index.swift_dir = run_dir.clone();
    entry.complete.swift_dir = run_dir.clone();

    let put = |name: &str, data: Vec<u8>| {
        let key = format!("{run_dir}/{name}");
        let meta = object_meta(name);
        let container = entry.container.clone();
        async move {
            store
                .put(&container, &key, data, meta)
                .await
                .with_context(|| format!("store {container}/{key}"))
        }
    };
    let (last, first): (Vec<_>, Vec<_>) =
        files.iter().partition(|(n, _)| *n == layout::RESULT_OBJECT);
    // Independent objects go up together; result.tar only once they are all in.
    futures::future::try_join_all(first.into_iter().map(|(n, d)| put(n, d.clone()))).await?;
    for (n, d) in last {
        put(n, d.clone()).await?;
    }

    let json = serde_json::to_vec(&entry.index)?;
    let meta = ObjectMeta {
        content_type: Some("application/json"),
        content_encoding: None,
    };
    let index_key = layout::index_key(entry.index.finished, &entry.uuid);
    let uuid_key = layout::uuid_key(&entry.uuid);
    futures::future::try_join(
        store.put(INDEX_CONTAINER, &index_key, json.clone(), meta),
        store.put(INDEX_CONTAINER, &uuid_key, json, meta),
    )
    .await?;
    // One flush for the whole result, before it is announced and acknowledged.
    store.sync().await?;
    entry.stored = true;
    Ok(())
}

fn object_meta(name: &str) -> ObjectMeta {
    match name {
        layout::LOG_OBJECT => ObjectMeta {
            content_type: Some("text/plain; charset=UTF-8"),
            content_encoding: Some("gzip"),
        },
        layout::RESULT_OBJECT => ObjectMeta {
            content_type: Some("application/x-tar"),
            content_encoding: None,
        },
        layout::READABLE_BY_OBJECT => ObjectMeta {
            content_type: Some("text/plain"),
            content_encoding: None,
        },
        _ => ObjectMeta {
            content_type: Some("application/octet-stream"),
            content_encoding: None,
        },
    }
}
