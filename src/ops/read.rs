//! Reads: workers (from heartbeats), queued requests (browsed, order kept), results and the
//! audit trail (from the store's time-ordered index), stored logs (capped: [`LOG_READ_CAP`]).

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};

use super::event::RequestRow;
use crate::broker::{BrokerError, Session};
use crate::controller::look;
use crate::protocol::debci::{DebciQueue, DebciRequest};
use crate::protocol::messages::{AuditRecord, IndexEntry};
use crate::protocol::request::SUBMIT_TIME_FORMAT;
use crate::protocol::{Request, layout, names};
use crate::store::Store;

pub use crate::controller::look::{Seen, ping, workers};

/// One queued message as the console shows it.
pub fn request_row(body: &[u8], priority: Option<u8>) -> RequestRow {
    let text = String::from_utf8_lossy(body).to_string();
    match Request::parse(body) {
        Ok(r) => RequestRow {
            package: r.package.clone(),
            triggers: r.params.triggers.clone(),
            requester: r.params.requester.clone().unwrap_or_default(),
            submit_time: r
                .params
                .submit_time
                .as_deref()
                .and_then(|t| DateTime::parse_from_str(t, SUBMIT_TIME_FORMAT).ok())
                .map(|t| t.with_timezone(&Utc)),
            priority,
            uuid: r.params.uuid.clone(),
            body: text,
        },
        // Shown (inert) so an operator can see and cancel junk; a worker will reject it.
        Err(e) => RequestRow {
            package: format!("<invalid: {}>", e.code()),
            triggers: Vec::new(),
            requester: String::new(),
            submit_time: None,
            priority,
            uuid: None,
            body: text,
        },
    }
}

/// One browsed message of `queue`, read in its queue's dialect.
pub fn queued_row(queue: &str, m: &look::Queued) -> RequestRow {
    if !DebciQueue::is_debci(queue) {
        return request_row(&m.body, m.priority);
    }
    let text = String::from_utf8_lossy(&m.body).to_string();
    match DebciRequest::parse(&m.body) {
        Ok(r) => RequestRow {
            package: r.package.clone(),
            triggers: r.triggers(),
            requester: String::new(),
            submit_time: None,
            priority: m.priority,
            uuid: m.uuid.clone(),
            body: text,
        },
        Err(e) => RequestRow {
            package: format!("<invalid: {}>", e.code()),
            triggers: Vec::new(),
            requester: String::new(),
            submit_time: None,
            priority: m.priority,
            // Cancelled by its exact body; a worker will reject it.
            uuid: None,
            body: text,
        },
    }
}

/// Rows `offset..offset+limit` of `queue` as the console shows them, and its total depth,
/// browsed without changing the queue ([`look::browse`]).
pub async fn browse(
    session: &Session,
    queue: &str,
    offset: usize,
    limit: usize,
) -> Result<(u64, Vec<RequestRow>), BrokerError> {
    let (total, msgs) = look::browse(session, queue, offset, limit).await?;
    Ok((total, msgs.iter().map(|m| queued_row(queue, m)).collect()))
}

/// The newest `limit` results that `keep` accepts, newest first, reading the index a day at a
/// time back to `days` days and stopping as soon as it has them (one GET per entry read).
pub async fn recent_results(
    store: &Store,
    days: i64,
    limit: usize,
    keep: impl Fn(&IndexEntry) -> bool,
) -> Result<Vec<IndexEntry>> {
    let mut out = Vec::new();
    let today = Utc::now().date_naive();
    for back in 0..days {
        let day = today - chrono::Duration::days(back);
        let prefix = format!("{}/", day.format("%Y%m%d"));
        let mut names = store
            .list(names::INDEX_CONTAINER, &prefix, None)
            .await
            .context("list the results index")?;
        names.reverse();
        for name in names {
            if out.len() >= limit {
                return Ok(out);
            }
            if let Some(data) = store.get(names::INDEX_CONTAINER, &name).await?
                && let Ok(e) = serde_json::from_slice::<IndexEntry>(&data)
                && keep(&e)
            {
                out.push(e);
            }
        }
    }
    Ok(out)
}

pub async fn find_result(store: &Store, uuid: &str) -> Result<Option<IndexEntry>> {
    crate::store::check_name(uuid).map_err(|e| anyhow::anyhow!("invalid uuid: {e}"))?;
    match store
        .get(names::INDEX_CONTAINER, &layout::uuid_key(uuid))
        .await?
    {
        Some(data) => Ok(Some(
            serde_json::from_slice(&data).context("corrupt index entry")?,
        )),
        None => Ok(None),
    }
}

/// How much of a stored log is read, decompressed: what the console's log view holds
/// (`Thresholds::log_max_bytes`), and the default of `adtop logs --max-mib`. A `log.gz` is
/// small on the wire and can be anything once inflated (10 MB of gzipped zeros are 10 GB);
/// the rest past the cap is not decompressed at all.
pub const LOG_READ_CAP: u64 = 16 << 20;

/// A stored log as read: its text (not yet sanitised), and the cap when it was longer.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLog {
    pub text: String,
    /// `Some(cap)` when the log was cut at `cap` bytes.
    pub cut_at: Option<u64>,
}

impl StoredLog {
    /// The line to show after a cut log, e.g. `log cut at 16 MiB`.
    pub fn cut_notice(&self) -> Option<String> {
        self.cut_at.map(cut_notice)
    }
}

/// `log cut at N MiB` (or KiB / bytes for a small cap), said the same way everywhere.
pub fn cut_notice(cap: u64) -> String {
    if cap >= 1 << 20 && cap.is_multiple_of(1 << 20) {
        format!("log cut at {} MiB", cap >> 20)
    } else if cap >= 1 << 10 && cap.is_multiple_of(1 << 10) {
        format!("log cut at {} KiB", cap >> 10)
    } else {
        format!("log cut at {cap} bytes")
    }
}

/// Decompress at most `cap` bytes of `gz`. Never holds more than `cap` + 1 bytes of output.
pub fn gunzip_capped(gz: &[u8], cap: u64) -> Result<StoredLog> {
    use std::io::Read as _;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(cap.saturating_add(1))
        .read_to_end(&mut raw)
        .context("log.gz is not gzip")?;
    let cut = raw.len() as u64 > cap;
    if cut {
        raw.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    let mut text = String::from_utf8_lossy(&raw).into_owned();
    // A cut can split a character: drop its remains rather than show a replacement mark.
    if cut && text.ends_with('\u{FFFD}') {
        text.pop();
    }
    Ok(StoredLog {
        text,
        cut_at: cut.then_some(cap),
    })
}

/// The stored `log.gz` of a result, decompressed up to `cap` bytes (not yet sanitised).
pub async fn stored_log(
    store: &Store,
    container: &str,
    swift_dir: &str,
    cap: u64,
) -> Result<StoredLog> {
    if container.starts_with(layout::PRIVATE_PREFIX) {
        anyhow::bail!(
            "a private run: its log is readable only by its swiftuser, in {}",
            crate::protocol::sanitize::line(container)
        );
    }
    let gz = store
        .get_capped(
            container,
            &format!("{swift_dir}/{}", layout::LOG_OBJECT),
            gz_cap(cap),
        )
        .await?
        .with_context(|| format!("no log.gz in {container}/{swift_dir}"))?;
    gunzip_capped(&gz, cap)
}

/// How much of a log.gz is enough for its first `cap` bytes: deflate never grows text by more
/// than a few bytes per 64 KiB block, plus the gzip header. A log.gz of 5 GiB is not read whole
/// to show its first 16 MiB.
fn gz_cap(cap: u64) -> u64 {
    cap.saturating_add(cap / 1024).saturating_add(64 << 10)
}

/// The newest audit records, newest first.
pub async fn recent_audit(store: &Store, days: i64, limit: usize) -> Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    let today = Utc::now().date_naive();
    for back in 0..days {
        let prefix = format!(
            "{}/",
            (today - chrono::Duration::days(back)).format("%Y%m%d")
        );
        let mut names = store.list(names::AUDIT_CONTAINER, &prefix, None).await?;
        names.reverse();
        for name in names.into_iter().take(limit.saturating_sub(out.len())) {
            if let Some(data) = store.get(names::AUDIT_CONTAINER, &name).await?
                && let Ok(r) = serde_json::from_slice::<AuditRecord>(&data)
            {
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_is_cut_at_the_cap() {
        // 1 GiB of zeros, about 1 MiB gzipped: read 64 KiB of it and no more.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            e.write_all(&block).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        let log = gunzip_capped(&bomb, 64 << 10).unwrap();
        assert_eq!(log.text.len(), 64 << 10);
        assert_eq!(log.cut_at, Some(64 << 10));
        assert_eq!(log.cut_notice().as_deref(), Some("log cut at 64 KiB"));
        assert_eq!(cut_notice(LOG_READ_CAP), "log cut at 16 MiB");
    }

    #[test]
    fn a_log_within_the_cap_is_whole_and_a_cut_character_dropped() {
        let log = gunzip_capped(&gzip(b"line 1\nline 2\n"), 14).unwrap();
        assert_eq!(log.text, "line 1\nline 2\n");
        assert_eq!(log.cut_at, None);
        assert_eq!(log.cut_notice(), None);
        // "é" is two bytes; a cap between them drops the half.
        let log = gunzip_capped(&gzip("abé".as_bytes()), 3).unwrap();
        assert_eq!(log.text, "ab");
        assert_eq!(log.cut_at, Some(3));
        assert!(gunzip_capped(b"not gzip", 100).is_err());
    }

    /// A log.gz far larger than what is shown is read only as far as the cap needs, even when
    /// it hardly compresses (the worst case for how much gzip is enough), and shown cut.
    #[tokio::test]
    async fn a_large_log_gz_is_read_only_as_far_as_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("file://{}/store", dir.path().display()),
            &Default::default(),
        )
        .unwrap();
        // 4 MiB of printable noise: its gzip is most of that size.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let text: Vec<u8> = (0..4 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b' ' + (x % 95) as u8
            })
            .collect();
        let gz = gzip(&text);
        let cap: u64 = 1 << 20;
        assert!(
            gz.len() as u64 > 3 * gz_cap(cap),
            "{} bytes of gzip",
            gz.len()
        );
        let meta = crate::store::ObjectMeta::default();
        store
            .put("autopkgtest-noble", "run@/log.gz", gz, meta)
            .await
            .unwrap();
        let log = stored_log(&store, "autopkgtest-noble", "run@", cap)
            .await
            .unwrap();
        assert_eq!(log.text.as_bytes(), &text[..cap as usize]);
        assert_eq!(log.cut_at, Some(cap));
        // Index entries and the like: the store's own cap.
        store
            .put(names::INDEX_CONTAINER, "junk", vec![b'{'; 3 << 20], meta)
            .await
            .unwrap();
        let junk = store.get(names::INDEX_CONTAINER, "junk").await.unwrap();
        assert_eq!(
            junk.map(|j| j.len() as u64),
            Some(crate::store::OBJECT_CAP + 1)
        );
    }
}
