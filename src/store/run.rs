//! Writing one finished run into the store, in autopkgtest-cloud's layout, from the files the
//! worker packed on disk (`log.gz`, `artifacts.tar.gz`, `readable-by`, `result.tar`): each is
//! streamed from its file, none is read into memory.
//!
//! Order: the by-uuid pointer is looked at first (a uuid already naming another request's
//! result is refused, never replaced), then the run is named, the objects go up with
//! `result.tar` last (a reader that finds `result.tar` finds the whole run), then the index
//! entries (by time, by package) and the by-uuid pointer, then everything is made durable.

use std::path::Path;

use super::spool::SpoolEntry;
use super::{ObjectMeta, Store, StoreError};
use crate::protocol::layout;
use crate::protocol::messages::IndexEntry;
use crate::protocol::names::INDEX_CONTAINER;
use crate::protocol::sanitize::{REASON_MAX, cap};

/// How many later seconds a run id may move to when its name is taken (two results of one
/// package with the same body stored in the same second).
const NAME_TRIES: i64 = 30;

/// What the store already holds under `by-uuid/<uuid>`.
#[derive(Debug, Clone, PartialEq)]
pub enum ByUuid {
    Nothing,
    /// The result of the request with this index body.
    Stored(Box<IndexEntry>),
}

/// Read `by-uuid/<uuid>`: `Err(Unreadable)` when it is there but does not parse.
pub async fn by_uuid(store: &Store, uuid: &str) -> Result<ByUuid, StoreError> {
    let key = layout::uuid_key(uuid);
    match store.get(INDEX_CONTAINER, &key).await? {
        None => Ok(ByUuid::Nothing),
        Some(data) => parse_index(&key, &data).map(|e| ByUuid::Stored(Box::new(e))),
    }
}

/// An index entry, or a clear error naming its key (the detail is cut: it may quote the data).
pub fn parse_index(key: &str, data: &[u8]) -> Result<IndexEntry, StoreError> {
    serde_json::from_slice(data).map_err(|e| StoreError::Unreadable {
        key: format!("{INDEX_CONTAINER}/{key}"),
        detail: cap(&e.to_string(), REASON_MAX / 2),
    })
}

/// Store the run whose packed files are in `dir`, durably. On success `entry` records its run
/// directory and `stored`. If `by-uuid` already holds the same request's result (an earlier
/// run of this very request that was stored but not acknowledged), nothing is uploaded again
/// and `entry` points at that result.
pub async fn put_run(entry: &mut SpoolEntry, dir: &Path, store: &Store) -> Result<(), StoreError> {
    if entry.stored {
        return Ok(());
    }
    write_run(entry, dir, store).await?;
    // One flush for the whole result, before it is announced and acknowledged. Also when the
    // result was found already there: a worker killed before its own flush leaves it in the
    // page cache only, readable but not yet durable.
    store.sync().await?;
    entry.stored = true;
    Ok(())
}

/// [`put_run`] without the flush: every object, index entry and the by-uuid pointer written
/// (or found: this request's result already there), not yet durable. `entry` records the run
/// directory; `stored` stays as it was. The caller flushes ([`Store::sync`]) before anything is
/// announced or acknowledged; the worker overlaps that flush with its next request.
pub async fn write_run(
    entry: &mut SpoolEntry,
    dir: &Path,
    store: &Store,
) -> Result<(), StoreError> {
    match by_uuid(store, &entry.uuid).await? {
        ByUuid::Stored(e) if e.body == entry.index.body => {
            entry.run_dir = e.swift_dir.clone();
            entry.index = *e;
            entry.complete.swift_dir = entry.run_dir.clone();
            entry.complete.container = entry.index.container.clone();
            entry.complete.exitcode = entry.index.exitcode;
            entry.complete.duration = entry.index.duration;
            return Ok(());
        }
        ByUuid::Stored(e) => {
            return Err(StoreError::UuidTaken {
                uuid: entry.uuid.clone(),
                existing: cap(&format!("{}/{}", e.container, e.swift_dir), 300),
            });
        }
        ByUuid::Nothing => {}
    }
    store
        .ensure_container(&entry.container, &entry.access)
        .await?;
    let run_dir = free_run_dir(entry, store).await?;
    entry.run_dir = run_dir.clone();
    entry.index.swift_dir = run_dir.clone();
    entry.complete.swift_dir = run_dir.clone();

    let put = |name: &str| {
        let key = format!("{run_dir}/{name}");
        let path = dir.join(name);
        let container = entry.container.clone();
        let meta = object_meta(name);
        async move { store.put_file(&container, &key, &path, meta).await }
    };
    // Independent objects go up together; result.tar only once they are all in.
    let (last, first): (Vec<&String>, Vec<&String>) = entry
        .files
        .iter()
        .partition(|n| n.as_str() == layout::RESULT_OBJECT);
    futures::future::try_join_all(first.into_iter().map(|n| put(n))).await?;
    for n in last {
        put(n).await?;
    }

    let json = serde_json::to_vec(&entry.index).map_err(|e| StoreError::Io {
        path: "index entry".into(),
        source: std::io::Error::other(e),
    })?;
    let meta = ObjectMeta {
        content_type: Some("application/json"),
        content_encoding: None,
    };
    let index_key = layout::index_key(entry.index.finished, &entry.uuid);
    let uuid_key = layout::uuid_key(&entry.uuid);
    let package_key = layout::package_key(&entry.index.package, entry.index.finished, &entry.uuid);
    futures::future::try_join3(
        store.put(INDEX_CONTAINER, &index_key, json.clone(), meta),
        store.put(INDEX_CONTAINER, &package_key, json.clone(), meta),
        store.put(INDEX_CONTAINER, &uuid_key, json, meta),
    )
    .await?;
    Ok(())
}

/// Name the run now (autopkgtest-cloud takes the run id when the result is stored), moving a
/// second later while the name is taken.
async fn free_run_dir(entry: &SpoolEntry, store: &Store) -> Result<String, StoreError> {
    let (release, arch, package) = (
        &entry.index.release,
        &entry.index.arch,
        &entry.index.package,
    );
    let mut at = chrono::Utc::now();
    let mut run_dir = layout::run_dir(release, arch, package, at, &entry.hash5);
    for _ in 0..NAME_TRIES {
        let taken = store
            .list(&entry.container, &format!("{run_dir}/"), Some('/'))
            .await?;
        if taken.is_empty() {
            break;
        }
        at += chrono::Duration::seconds(1);
        run_dir = layout::run_dir(release, arch, package, at, &entry.hash5);
    }
    Ok(run_dir)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::TestComplete;
    use crate::store::{Access, FileStore};

    fn entry(uuid: &str, body: &str) -> SpoolEntry {
        let index = IndexEntry {
            uuid: uuid.into(),
            package: "hello".into(),
            release: "noble".into(),
            arch: "amd64".into(),
            queue: "debci-noble-amd64".into(),
            exitcode: 0,
            class: crate::protocol::Class::Pass,
            container: "autopkgtest-noble".into(),
            swift_dir: String::new(),
            duration: 1,
            finished: chrono::Utc::now(),
            worker: "w".into(),
            triggers: vec![],
            requester: String::new(),
            testpkg_version: "hello 1".into(),
            body: body.into(),
            private: false,
        };
        let complete: TestComplete = serde_json::from_value(serde_json::json!({
            "architecture": "amd64", "container": "autopkgtest-noble", "duration": 1,
            "exitcode": 0, "package": "hello", "testpkg_version": "1", "release": "noble",
            "requester": "", "swift_dir": "", "triggers": "", "env": "", "uuid": uuid
        }))
        .expect("completion");
        SpoolEntry {
            uuid: uuid.into(),
            container: "autopkgtest-noble".into(),
            access: Access::Public,
            run_dir: String::new(),
            hash5: "abcde".into(),
            stored: false,
            index,
            complete,
            files: vec!["log.gz".into(), "result.tar".into()],
        }
    }

    #[tokio::test]
    async fn a_uuid_belongs_to_one_request() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::File(FileStore::new(root.path().to_path_buf()));
        let files = tempfile::tempdir().expect("tempdir");
        std::fs::write(files.path().join("log.gz"), b"log").expect("write");
        std::fs::write(files.path().join("result.tar"), b"tar").expect("write");

        let mut first = entry("u1", "hello\n{\"uuid\": \"u1\"}");
        put_run(&mut first, files.path(), &store)
            .await
            .expect("stored");
        assert!(first.stored && !first.run_dir.is_empty());
        let pointer = std::fs::read(root.path().join("adtop-index/by-uuid/u1")).expect("by-uuid");

        // Another request under the same uuid: refused, permanently; the pointer is untouched.
        let mut other = entry("u1", "other\n{\"uuid\": \"u1\"}");
        let e = put_run(&mut other, files.path(), &store)
            .await
            .expect_err("uuid taken");
        assert!(
            matches!(e, StoreError::UuidTaken { .. }) && e.is_permanent(),
            "{e}"
        );
        assert_eq!(
            std::fs::read(root.path().join("adtop-index/by-uuid/u1")).expect("by-uuid"),
            pointer
        );

        // The same request again: the stored run is reused, nothing is uploaded twice.
        let mut again = entry("u1", "hello\n{\"uuid\": \"u1\"}");
        put_run(&mut again, files.path(), &store)
            .await
            .expect("known");
        assert_eq!(again.run_dir, first.run_dir);
        assert_eq!(again.complete.swift_dir, first.run_dir);
        let runs = store
            .list("autopkgtest-noble", "noble/amd64/h/hello/", Some('@'))
            .await
            .expect("list");
        assert_eq!(runs.len(), 1, "{runs:?}");

        // An unreadable pointer is a clear, permanent error for that uuid.
        std::fs::write(root.path().join("adtop-index/by-uuid/u2"), b"{not json").expect("write");
        let e = by_uuid(&store, "u2").await.expect_err("unreadable");
        assert!(
            e.is_permanent() && e.to_string().contains("by-uuid/u2"),
            "{e}"
        );
    }
}
