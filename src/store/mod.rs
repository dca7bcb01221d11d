//! The result store: a local directory (the default) or OpenStack Swift, behind one type;
//! [`run`] writes one finished run into it; the [`spool`] keeps a result on local disk only
//! when the store (or the broker) is away, until it is stored and announced.
//!
//! Objects go up from files ([`Store::put_file`]): a result of any size is streamed, never
//! held in memory.

pub mod file;
pub mod run;
pub mod spool;

pub mod swift;

use thiserror::Error;

pub use file::FileStore;
pub use spool::Spool;

pub use swift::SwiftStore;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "invalid store URL {0:?}: expected file:///absolute/path or swift+https://host/auth/v1.0 (or /v3 for Keystone)"
    )]
    BadUrl(String),
    #[error("invalid object name {0:?}: no empty, '.' or '..' parts and no control characters")]
    BadName(String),
    #[error("store I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Swift {what}: {detail}")]
    Swift { what: String, detail: String },
    #[error(
        "Swift refused the credentials of user {user} ({status}): check swift.user and the key"
    )]
    Credentials { user: String, status: u16 },
    /// Swift answered with an HTTP status: see [`StoreError::is_permanent`].
    #[error("Swift {what}: answered {status}")]
    Status { what: String, status: u16 },
    /// `by-uuid/<uuid>` names another request's result: this one must not replace it.
    #[error(
        "uuid {uuid} already names another request's result ({existing}); a request must carry a uuid of its own"
    )]
    UuidTaken { uuid: String, existing: String },
    /// An object adtop wrote (an index entry) does not parse: corrupt, or from a newer adtop.
    #[error("unreadable {key}: {detail}")]
    Unreadable { key: String, detail: String },
    /// A listing past [`LIST_CAP`] names: adtop writes far fewer under any prefix it lists.
    #[error(
        "{what} holds more than {cap} names, more than adtop ever writes there; not listed further (move out what another program put there)"
    )]
    TooLong { what: String, cap: usize },
}

impl StoreError {
    /// An error that waiting will not fix, as opposed to a store that is away: wrong
    /// credentials, a name the store cannot take, an object too large, any 4xx answer except
    /// an expired token (401, re-authenticated), a timeout (408), a conflict (409) and
    /// throttling (429), and a by-uuid pointer owned by another request or unreadable.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Credentials { .. }
            | Self::BadName(_)
            | Self::BadUrl(_)
            | Self::UuidTaken { .. }
            | Self::Unreadable { .. }
            | Self::TooLong { .. } => true,
            Self::Status { status, .. } => {
                (400..500).contains(status) && !matches!(status, 401 | 404 | 408 | 409 | 429)
            }
            // A name the filesystem cannot take; everything else (a full disk, a missing or
            // blocked directory) may be fixed by an operator while the result waits.
            Self::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(nix::libc::ENAMETOOLONG))
            }
            Self::Swift { .. } => false,
        }
    }
}

/// Content metadata of an object (Swift sets these as headers; the file store ignores them).
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectMeta {
    pub content_type: Option<&'static str>,
    pub content_encoding: Option<&'static str>,
}

/// Read access to a result container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone may list and read (britney and the web pages read anonymously).
    #[default]
    Public,
    /// Only this Swift user.
    Private(String),
}

/// One entry of a listing: an object, or with a delimiter a common prefix ending in it.
pub type Listing = Vec<String>;

/// What [`Store::get`] reads of an object at most, plus one byte. Index entries, pointers and
/// audit records are a few KiB (a request body is at most 64 KiB); a larger object is cut, so it
/// fails to parse as one (every caller skips it or names it corrupt) instead of filling memory.
pub const OBJECT_CAP: u64 = 1 << 20;

/// Most names one [`Store::list`] collects: a day of the results index at Ubuntu's size is
/// tens of thousands; past this a listing is an error ([`StoreError::TooLong`]), not memory
/// that grows with whatever else a container holds.
pub const LIST_CAP: usize = 250_000;

#[derive(Debug, Clone)]
pub enum Store {
    File(FileStore),
    Swift(SwiftStore),
}

impl Store {
    /// `file:///abs/path` or `swift+http(s)://…` with credentials from [`crate::config::SwiftConfig`].
    pub fn open(url: &str, swift: &crate::config::SwiftConfig) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8_lossy()
                .to_string();
            return Ok(Self::File(FileStore::new(decoded.into())));
        }
        if url.starts_with("swift+http://") || url.starts_with("swift+https://") {
            return SwiftStore::new(&url["swift+".len()..], swift).map(Self::Swift);
        }
        Err(StoreError::BadUrl(url.to_string()))
    }

    /// For headers and messages: no secrets.
    pub fn describe(&self) -> String {
        match self {
            Self::File(f) => format!("file://{}", f.root().display()),
            Self::Swift(s) => s.describe(),
        }
    }

    pub async fn put(
        &self,
        container: &str,
        name: &str,
        data: Vec<u8>,
        meta: ObjectMeta,
    ) -> Result<(), StoreError> {
        check_name(container)?;
        check_name(name)?;
        match self {
            Self::File(f) => f.put(container, name, data).await,
            Self::Swift(s) => s.put(container, name, data, meta).await,
        }
    }

    /// Store the file at `path` as an object, streaming it: the file store copies it, Swift
    /// sends it as the request body. Memory use does not grow with the file's size.
    pub async fn put_file(
        &self,
        container: &str,
        name: &str,
        path: &std::path::Path,
        meta: ObjectMeta,
    ) -> Result<(), StoreError> {
        check_name(container)?;
        check_container(container)?;
        check_name(name)?;
        match self {
            Self::File(f) => f.put_file(container, name, path).await,
            Self::Swift(s) => s.put_file(container, name, path, meta).await,
        }
    }

    /// Create a result container with its read ACL (Swift), once per process. On an existing
    /// container this sets the ACL too, so containers made before it was configured heal.
    pub async fn ensure_container(
        &self,
        container: &str,
        access: &Access,
    ) -> Result<(), StoreError> {
        check_name(container)?;
        check_container(container)?;
        match self {
            Self::File(_) => Ok(()),
            Self::Swift(s) => s.ensure_container(container, access).await,
        }
    }

    /// Can results be written? Checked when a worker starts, before it takes any request: a
    /// wrong key or an unwritable directory is found then, not after a test has run.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self {
            Self::File(f) => f.check().await,
            Self::Swift(s) => s.check().await,
        }
    }

    /// Can results be read? A cheap, read-only check the console makes every few seconds: the
    /// file store's directory exists (or, fresh, could: its parent does), Swift answers.
    pub async fn probe(&self) -> Result<(), StoreError> {
        match self {
            Self::File(f) => f.probe().await,
            Self::Swift(s) => s.check().await,
        }
    }

    /// Does [`Store::sync`] do anything? The file store's flush does; Swift's PUTs are durable
    /// when they answer.
    pub fn flushes(&self) -> bool {
        matches!(self, Self::File(_))
    }

    /// Make everything written so far durable (Swift: every PUT already is).
    pub async fn sync(&self) -> Result<(), StoreError> {
        match self {
            Self::File(f) => f.sync().await,
            Self::Swift(_) => Ok(()),
        }
    }

    /// An index entry, pointer or audit record: at most [`OBJECT_CAP`] + 1 bytes of it.
    pub async fn get(&self, container: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_capped(container, name, OBJECT_CAP).await
    }

    /// At most `cap` + 1 bytes of an object (more than `cap`: the object is larger than that),
    /// so that no object, however large, corrupt or hostile, fills memory.
    pub async fn get_capped(
        &self,
        container: &str,
        name: &str,
        cap: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        check_name(container)?;
        check_name(name)?;
        let limit = cap.saturating_add(1);
        match self {
            Self::File(f) => f.get(container, name, limit).await,
            Self::Swift(s) => s.get(container, name, limit).await,
        }
    }

    /// Names under `prefix`, sorted; with `delimiter`, names are cut after its first occurrence
    /// past the prefix and deduplicated (Swift's semantics), e.g. runs with `@`. At most
    /// [`LIST_CAP`] names.
    pub async fn list(
        &self,
        container: &str,
        prefix: &str,
        delimiter: Option<char>,
    ) -> Result<Listing, StoreError> {
        check_name(container)?;
        match self {
            Self::File(f) => f.list(container, prefix, delimiter, LIST_CAP).await,
            Self::Swift(s) => s.list(container, prefix, delimiter, LIST_CAP).await,
        }
    }
}

/// Object names come from validated requests, but the store checks again: nothing may escape
/// its root, whatever a caller passes.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 1024
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(())
    } else {
        // The name goes into messages and rejection reasons: cut, not echoed whole.
        Err(StoreError::BadName(crate::protocol::sanitize::cap(
            name,
            crate::protocol::sanitize::REASON_MAX / 4,
        )))
    }
}

/// Swift's limit on a container name (256 bytes); a longer one is refused here, permanently,
/// instead of by a 400 after every object was tried.
pub const CONTAINER_MAX: usize = 256;

fn check_container(container: &str) -> Result<(), StoreError> {
    if container.len() > CONTAINER_MAX || container.contains('/') {
        return Err(StoreError::BadName(crate::protocol::sanitize::cap(
            container,
            crate::protocol::sanitize::REASON_MAX / 4,
        )));
    }
    Ok(())
}

/// Apply Swift's prefix/delimiter semantics to a sorted list of names.
pub fn apply_delimiter(mut names: Vec<String>, prefix: &str, delimiter: Option<char>) -> Listing {
    names.retain(|n| n.starts_with(prefix));
    if let Some(d) = delimiter {
        for n in &mut names {
            if let Some(i) = n.get(prefix.len()..).and_then(|rest| rest.find(d)) {
                n.truncate(prefix.len() + i + d.len_utf8());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        for bad in ["", "../x", "a/../b", "/abs", "a//b", "a/./b", "x\ny"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("noble/amd64/h/hello/20240101_000000_abcde@/log.gz").is_ok());
    }

    #[test]
    fn delimiter_like_swift() {
        let names = vec![
            "a/x@/log.gz".to_string(),
            "a/x@/result.tar".into(),
            "a/y@/log.gz".into(),
            "b/z".into(),
        ];
        assert_eq!(apply_delimiter(names, "a/", Some('@')), ["a/x@", "a/y@"]);
    }

    #[test]
    fn permanent_and_transient_errors() {
        let status = |status| StoreError::Status {
            what: "upload".into(),
            status,
        };
        for s in [400, 403, 411, 413, 422] {
            assert!(status(s).is_permanent(), "{s}");
        }
        for s in [401, 404, 408, 409, 429, 500, 503] {
            assert!(!status(s).is_permanent(), "{s}");
        }
        let io = |errno| StoreError::Io {
            path: "x".into(),
            source: std::io::Error::from_raw_os_error(errno),
        };
        assert!(io(nix::libc::ENAMETOOLONG).is_permanent());
        assert!(!io(nix::libc::ENOSPC).is_permanent());
        assert!(!io(nix::libc::ENOTDIR).is_permanent());
        assert!(check_container(&"c".repeat(CONTAINER_MAX + 1)).is_err());
        let long = check_name(&"\n".repeat(70_000)).expect_err("control characters");
        assert!(
            long.to_string().len() < 1024,
            "the name is cut in the error"
        );
    }

    #[test]
    fn store_urls() {
        let cfg = crate::config::SwiftConfig::default();
        assert!(matches!(
            Store::open("file:///tmp/x", &cfg),
            Ok(Store::File(_))
        ));
        assert!(Store::open("file://relative", &cfg).is_err());
        assert!(Store::open("s3://bucket", &cfg).is_err());
    }
}
