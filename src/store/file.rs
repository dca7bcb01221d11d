//! The local directory store: `<root>/<container>/<object name>`, written atomically.

use std::path::{Path, PathBuf};

use super::{Listing, StoreError};

#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FileStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, container: &str, name: &str) -> PathBuf {
        self.root.join(container).join(name)
    }

    /// Write to a temporary file beside the target, then rename: a reader never sees half an
    /// object. Durability comes from [`FileStore::sync`], once per result rather than per object.
    pub async fn put(&self, container: &str, name: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(container, name);
        blocking(move || -> Result<(), StoreError> {
            let dir = path.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
            std::io::Write::write_all(&mut tmp, &data).map_err(io(&path))?;
            tmp.persist(&path).map_err(|e| StoreError::Io {
                path: path.display().to_string(),
                source: e.error,
            })?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Io {
            path: "<blocking task>".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// Put the file at `from` into place, the same atomic way as [`FileStore::put`]: by a hard
    /// link when `from` is on the store's filesystem (the worker packs into its spool, usually
    /// there), so that the object's bytes are written, and flushed by [`FileStore::sync`], once;
    /// otherwise by a streaming copy. `from` must not change afterwards (packed files never do).
    pub async fn put_file(
        &self,
        container: &str,
        name: &str,
        from: &Path,
    ) -> Result<(), StoreError> {
        let path = self.path(container, name);
        let from = from.to_path_buf();
        blocking(move || -> Result<(), StoreError> {
            let dir = path.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            if link_into_place(&from, &path, dir).is_ok() {
                return Ok(());
            }
            let mut src = std::fs::File::open(&from).map_err(io(&from))?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
            std::io::copy(&mut src, &mut tmp).map_err(io(&path))?;
            tmp.persist(&path).map_err(|e| StoreError::Io {
                path: path.display().to_string(),
                source: e.error,
            })?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Io {
            path: "<blocking task>".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// The root exists (or can be made) and takes a file.
    pub async fn check(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        blocking(move || -> Result<(), StoreError> {
            std::fs::create_dir_all(&root).map_err(io(&root))?;
            tempfile::NamedTempFile::new_in(&root)
                .map(drop)
                .map_err(io(&root))
        })
        .await
        .map_err(|e| StoreError::Io {
            path: "<blocking task>".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// The root is a directory, or does not exist yet under a directory that does (a store no
    /// worker has written to). Anything else (`/proc/nonexistent/store`) is an error.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        let meta = tokio::fs::metadata(&root).await;
        let checked = match meta {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match root.parent().map(tokio::fs::metadata) {
                    Some(p) => match p.await {
                        Ok(m) if m.is_dir() => return Ok(()),
                        Ok(_) => std::io::Error::new(
                            std::io::ErrorKind::NotADirectory,
                            "its parent is not a directory",
                        ),
                        Err(_) => std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no such directory, nor its parent (check --store)",
                        ),
                    },
                    None => e,
                }
            }
            Err(e) => e,
        };
        Err(StoreError::Io {
            path: root.display().to_string(),
            source: checked,
        })
    }

    /// Flush the store's filesystem (`syncfs`): one call makes every object written so far durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        // On the blocking pool, not in place: it waits for everything dirty on the filesystem.
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            test_flush_delay();
            let dir = std::fs::File::open(&root).map_err(io(&root))?;
            nix::unistd::syncfs(&dir).map_err(|e| StoreError::Io {
                path: root.display().to_string(),
                source: e.into(),
            })
        })
        .await
        .map_err(|e| StoreError::Io {
            path: "<blocking task>".into(),
            source: std::io::Error::other(e),
        })?
    }

    /// At most `limit` bytes of the object.
    pub async fn get(
        &self,
        container: &str,
        name: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(container, name);
        let read = {
            let path = path.clone();
            blocking(move || {
                use std::io::Read as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                // Not blocking on open, and only a regular file is read: a FIFO or a device put
                // under an object's name would hold this thread for ever.
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(nix::libc::O_NONBLOCK)
                    .open(path)?;
                if !f.metadata()?.is_file() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not a regular file",
                    ));
                }
                let mut data = Vec::new();
                f.take(limit).read_to_end(&mut data).map(|_| data)
            })
            .await
        };
        match read.and_then(|r| r) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    pub async fn list(
        &self,
        container: &str,
        prefix: &str,
        delimiter: Option<char>,
        cap: usize,
    ) -> Result<Listing, StoreError> {
        let base = self.root.join(container);
        let what = format!("the listing of {container} under {prefix:?}");
        let prefix = prefix.to_string();
        // On the blocking pool, not in place: a walk of a large container takes a while.
        tokio::task::spawn_blocking(move || walk(&base, &prefix, delimiter, cap, what))
            .await
            .map_err(|e| StoreError::Io {
                path: "<blocking task>".into(),
                source: std::io::Error::other(e),
            })?
    }
}

/// Swift's listing over directories: only those the prefix can match are walked, and with a
/// delimiter a directory whose path holds it past the prefix is one name, not walked (the
/// per-package index lists packages, not every result ever stored), so the walk and its memory
/// follow the answer rather than the container.
fn walk(
    base: &Path,
    prefix: &str,
    delimiter: Option<char>,
    cap: usize,
    what: String,
) -> Result<Listing, StoreError> {
    let start = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![base.join(start)];
    while let Some(dir) = stack.pop() {
        for entry in entries(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type().map_err(io(&path))?;
            let Some(rel) = path.strip_prefix(base).ok().and_then(|r| r.to_str()) else {
                continue;
            };
            let name = if ft.is_dir() {
                let rel = format!("{rel}/");
                if !rel.starts_with(prefix) && !prefix.starts_with(&rel) {
                    continue;
                }
                match cut_at(&rel, prefix, delimiter) {
                    Some(name) if holds_a_file(&path)? => name,
                    Some(_) => continue,
                    None => {
                        stack.push(path);
                        continue;
                    }
                }
            } else if ft.is_file() && rel.starts_with(prefix) && !is_temporary(&entry) {
                cut_at(rel, prefix, delimiter).unwrap_or_else(|| rel.to_string())
            } else {
                continue;
            };
            names.insert(name);
            if names.len() > cap {
                return Err(StoreError::TooLong { what, cap });
            }
        }
    }
    Ok(names.into_iter().collect())
}

/// `name` cut after the first `delimiter` past `prefix`, if it has one there.
fn cut_at(name: &str, prefix: &str, delimiter: Option<char>) -> Option<String> {
    let d = delimiter?;
    let i = name.get(prefix.len()..)?.find(d)?;
    name.get(..prefix.len() + i + d.len_utf8())
        .map(str::to_string)
}

/// A directory's entries, read as they are walked; a directory that is gone has none.
fn entries(
    dir: &Path,
) -> Result<impl Iterator<Item = Result<std::fs::DirEntry, StoreError>>, StoreError> {
    let read = match std::fs::read_dir(dir) {
        Ok(e) => Some(e),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(StoreError::Io {
                path: dir.display().to_string(),
                source: e,
            });
        }
    };
    Ok(read.into_iter().flatten().map(|e| e.map_err(io(dir))))
}

/// A file being written (`put`'s temporary name) is not listed.
fn is_temporary(entry: &std::fs::DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with(".tmp")
}

/// Does the tree under `dir` hold an object (as Swift lists a prefix only if it does)?
fn holds_a_file(dir: &Path) -> Result<bool, StoreError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in entries(&d)? {
            let entry = entry?;
            let ft = entry.file_type().map_err(io(&entry.path()))?;
            if ft.is_file() && !is_temporary(&entry) {
                return Ok(true);
            }
            if ft.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(false)
}

/// Tests only (debug builds): `ADTOP_TEST_FLUSH_DELAY_MS` makes every flush that long, so that
/// a test can look at, or kill, a worker while a result is written but not yet durable.
#[cfg(debug_assertions)]
fn test_flush_delay() {
    static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    let delay = DELAY.get_or_init(|| {
        std::env::var("ADTOP_TEST_FLUSH_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
    });
    if let Some(d) = delay {
        std::thread::sleep(*d);
    }
}

#[cfg(not(debug_assertions))]
fn test_flush_delay() {}

/// Run a short filesystem job off the async code's way: with `block_in_place` on a
/// multi-threaded runtime (the worker's job loop runs on the runtime's own thread, where that
/// is a plain call: no handoff to the blocking pool and back, which costs more than a small
/// object's few syscalls), on the blocking pool otherwise. `Err` only if the job panicked.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => Ok(tokio::task::block_in_place(f)),
        Ok(_) => tokio::task::spawn_blocking(f)
            .await
            .map_err(std::io::Error::other),
        Err(_) => Ok(f()),
    }
}

/// Link `from` to a temporary name beside `path`, make it private like a copied object (mode
/// 0600, as `tempfile` creates them), then rename it over `path`. Fails across filesystems
/// (`EXDEV`) or where hard links are not allowed; the caller copies then.
fn link_into_place(from: &Path, path: &Path, dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.join(format!(".tmp-link-{}", uuid::Uuid::new_v4().simple()));
    std::fs::hard_link(from, &tmp)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, path));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FileStore::new(dir.path().to_path_buf());
        s.put("c", "a/b@/log.gz", b"x".to_vec()).await.expect("put");
        s.put("c", "a/c@/log.gz", b"y".to_vec()).await.expect("put");
        assert_eq!(
            s.get("c", "a/b@/log.gz", 1 << 20).await.expect("get"),
            Some(b"x".to_vec())
        );
        assert_eq!(s.get("c", "nope", 1 << 20).await.expect("get"), None);
        assert_eq!(
            s.list("c", "a/", Some('@'), 10).await.expect("list"),
            ["a/b@", "a/c@"]
        );
        assert_eq!(
            s.list("missing", "", None, 10).await.expect("list"),
            Vec::<String>::new()
        );
    }

    /// The walk gives what Swift's listing gives: prefixes that end inside a name, both
    /// delimiters adtop lists with, no empty directory and no file being written.
    #[tokio::test]
    async fn a_listing_with_a_delimiter_is_swifts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FileStore::new(dir.path().to_path_buf());
        for name in [
            "by-package/hello/20261208_000000_u1",
            "by-package/hello/20261208_000001_u2",
            "by-package/hellox/20261208_000000_u3",
            "by-package/bash/20261208_000000_u4",
            "noble/amd64/h/hello/20261208_000000_u1@/log.gz",
            "noble/amd64/h/hello/20261208_000000_u1@/artifacts.tar.gz",
            "noble/amd64/h/hello/20261208_000001_u2@/log.gz",
            "noble/amd64/h/hello/x@y",
        ] {
            s.put("c", name, b"x".to_vec()).await.expect("put");
        }
        std::fs::create_dir_all(dir.path().join("c/by-package/empty/sub")).expect("mkdir");
        std::fs::write(dir.path().join("c/by-package/bash/.tmp-1"), b"x").expect("tmp");
        let list = |prefix: &'static str, d: Option<char>| {
            let s = s.clone();
            async move { s.list("c", prefix, d, 100).await.expect("list") }
        };
        assert_eq!(
            list("by-package/", Some('/')).await,
            [
                "by-package/bash/",
                "by-package/hello/",
                "by-package/hellox/"
            ]
        );
        assert_eq!(
            list("by-package/hell", Some('/')).await,
            ["by-package/hello/", "by-package/hellox/"]
        );
        assert_eq!(
            list("by-package/hello/", None).await,
            [
                "by-package/hello/20261208_000000_u1",
                "by-package/hello/20261208_000001_u2"
            ]
        );
        assert_eq!(
            list("noble/amd64/h/hello/", Some('@')).await,
            [
                "noble/amd64/h/hello/20261208_000000_u1@",
                "noble/amd64/h/hello/20261208_000001_u2@",
                "noble/amd64/h/hello/x@"
            ]
        );
        assert_eq!(list("by-package/bash/", None).await.len(), 1);
        assert_eq!(list("nothing/", Some('/')).await, Vec::<String>::new());
    }

    /// A FIFO under an object's name is an error, not a read that never returns.
    #[tokio::test]
    async fn a_fifo_in_the_store_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FileStore::new(dir.path().to_path_buf());
        std::fs::create_dir_all(dir.path().join("c/by-uuid")).expect("mkdir");
        nix::unistd::mkfifo(
            &dir.path().join("c/by-uuid/u"),
            nix::sys::stat::Mode::S_IRWXU,
        )
        .expect("mkfifo");
        let e = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            s.get("c", "by-uuid/u", 10),
        )
        .await
        .expect("no hang")
        .unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    /// A prefix holding more than the cap is an error that says so, not a listing that grows
    /// with whatever else was put in the container.
    #[tokio::test]
    async fn a_listing_past_its_cap_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FileStore::new(dir.path().to_path_buf());
        for n in 0..4 {
            s.put("c", &format!("d/{n}"), b"x".to_vec())
                .await
                .expect("put");
        }
        assert_eq!(s.list("c", "d/", None, 4).await.expect("list").len(), 4);
        let e = s.list("c", "d/", None, 3).await.unwrap_err();
        assert!(
            matches!(e, StoreError::TooLong { cap: 3, .. })
                && e.to_string().contains("the listing of c under \"d/\"")
                && e.to_string().contains("more than 3 names"),
            "{e}"
        );
    }
}
