//! `adtop.rejected`: the requests workers refused, with why, and an operator's two answers:
//! resubmit the request (fixed) to the queue it came from, or discard it.
//!
//! The queue is read like any other ([`crate::controller::backlog`]: order kept, nothing
//! lost). One message is named by its [`id`], a hash of its source queue, rejection time and
//! body: stable across reads, and two rejections of the same body are told apart by their
//! time. Resubmitting publishes (confirmed) first and removes the message after, so a failure
//! of either step loses nothing: at worst the request is queued and still listed here.

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use sha1::{Digest, Sha1};

use super::{Context, act};
use crate::broker::{BrokerError, Session, publish, topology};
use crate::controller::look::{self, Queued};
use crate::protocol::debci::{self, DebciQueue, DebciRequest};
use crate::protocol::sanitize::cap;
use crate::protocol::{Request, names, queue};

/// Most rejected requests one read lists.
pub const LIST_CAP: usize = 10_000;

/// One rejected request as its headers and body tell it (raw strings: sanitise before showing).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejected {
    pub id: String,
    /// When the worker refused it; `None` when the header is missing or not RFC 3339.
    pub rejected_at: Option<DateTime<Utc>>,
    pub source_queue: String,
    pub worker: String,
    pub reason_code: String,
    pub reason: String,
    pub package: String,
    pub body: String,
}

/// The id of a rejected message: 12 hex digits of sha1(source queue, rejection time, body).
pub fn id(source_queue: &str, rejected_at: &str, body: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(source_queue.as_bytes());
    h.update([0]);
    h.update(rejected_at.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], key: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// The package a body names: parsed in either dialect, else its first word (a request too
/// malformed to parse is what this queue is for).
fn package(body: &[u8]) -> String {
    if let Ok(r) = Request::parse(body) {
        return r.package;
    }
    if let Ok(r) = DebciRequest::parse(body) {
        return r.package;
    }
    let text = String::from_utf8_lossy(body.get(..256).unwrap_or(body)).into_owned();
    cap(text.split_whitespace().next().unwrap_or(""), 64)
}

impl Rejected {
    pub fn from_queued(m: &Queued) -> Self {
        let h = &m.headers;
        let at = header(h, names::H_REJECTED_AT);
        let source_queue = header(h, names::H_SOURCE_QUEUE).to_string();
        Self {
            id: id(&source_queue, at, &m.body),
            rejected_at: DateTime::parse_from_rfc3339(at)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            worker: header(h, names::H_WORKER).to_string(),
            reason_code: header(h, names::H_REASON_CODE).to_string(),
            reason: header(h, names::H_REASON).to_string(),
            package: package(&m.body),
            body: String::from_utf8_lossy(&m.body).into_owned(),
            source_queue,
        }
    }

    /// `hello (3f2a…) from debci-noble-amd64`: what a dialog and the audit trail name.
    pub fn target(&self) -> String {
        format!(
            "{} ({}) from {}",
            self.package,
            self.id,
            if self.source_queue.is_empty() {
                "?"
            } else {
                &self.source_queue
            }
        )
    }
}

/// The id of a message as delivered (for removing exactly that one).
fn id_of(body: &[u8], props: &BasicProperties) -> String {
    let h = look::adtop_headers(props);
    id(
        header(&h, names::H_SOURCE_QUEUE),
        header(&h, names::H_REJECTED_AT),
        body,
    )
}

/// Every rejected request (up to [`LIST_CAP`]), oldest first, and how many there are. No
/// `adtop.rejected` yet means nothing was ever rejected.
pub async fn list(session: &Session) -> Result<(u64, Vec<Rejected>)> {
    match look::browse(session, names::REJECTED_QUEUE, 0, LIST_CAP).await {
        Ok((total, msgs)) => Ok((total, msgs.iter().map(Rejected::from_queued).collect())),
        Err(BrokerError::NoQueue { .. }) => Ok((0, Vec::new())),
        Err(e) => Err(e.into()),
    }
}

/// The rejected request `id`, or a clear error.
pub async fn find(session: &Session, id: &str) -> Result<Rejected> {
    let (_, all) = list(session).await?;
    all.into_iter().find(|r| r.id == id).with_context(|| {
        format!(
            "no rejected request {} in {} (resubmitted or discarded already? `adtop rejected` lists them)",
            crate::protocol::sanitize::line(id),
            names::REJECTED_QUEUE
        )
    })
}

/// Is `body` a request a worker serving `source_queue` accepts? The worker's own validation
/// ([`crate::worker::validate`], or debci's parser for debci's queues).
pub fn check(source_queue: &str, body: &[u8]) -> Result<(), String> {
    if !queue::is_request_queue(source_queue) {
        return Err(format!(
            "its source queue {:?} is not a request queue; submit it by hand with `adtop submit`",
            cap(source_queue, 100)
        ));
    }
    if DebciQueue::is_debci(source_queue) {
        return DebciRequest::parse(body)
            .map(|_| ())
            .map_err(|e| format!("{} ({})", e, e.code()));
    }
    crate::worker::validate::validate(source_queue, body)
        .map(|_| ())
        .map_err(|r| format!("{} ({})", r.reason, r.code))
}

/// Queue `body` (or, without one, the request as it was rejected) on its source queue again,
/// then take that one message out of `adtop.rejected`.
pub async fn resubmit(
    ctx: &Context,
    session: &Session,
    id: &str,
    fixed: Option<&[u8]>,
) -> Result<String> {
    let r = find(session, id).await?;
    let body = fixed.unwrap_or(r.body.as_bytes());
    if let Err(why) = check(&r.source_queue, body) {
        bail!(
            "not resubmitted, the request is still invalid: {why}; it stays in {}",
            names::REJECTED_QUEUE
        );
    }
    let q = &r.source_queue;
    let (cfg, props) = if DebciQueue::is_debci(q) {
        (
            topology::debci_queue_config(),
            publish::persistent().with_priority(debci::DEFAULT_PRIORITY),
        )
    } else {
        (ctx.queue_cfg.clone(), publish::persistent())
    };
    topology::declare_request_queue(&session.confirm, q, &cfg).await?;
    publish::publish_confirmed(&session.confirm, "", q, body, props, true)
        .await
        .with_context(|| {
            format!(
                "not resubmitted: {q} did not take it; it stays in {}",
                names::REJECTED_QUEUE
            )
        })?;
    let uuid = Request::parse(body)
        .ok()
        .and_then(|r| r.params.uuid)
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    match remove(session, id).await {
        Ok(true) => Ok(format!(
            "resubmitted {}{uuid} to {q}; removed from {}",
            r.package,
            names::REJECTED_QUEUE
        )),
        Ok(false) => Ok(format!(
            "resubmitted {}{uuid} to {q}; it had already left {}",
            r.package,
            names::REJECTED_QUEUE
        )),
        Err(e) => Err(anyhow!(
            "resubmitted {}{uuid} to {q}, but it is still in {} ({e:#}): discard it with `adtop rejected discard {id}`",
            r.package,
            names::REJECTED_QUEUE
        )),
    }
}

/// Drop the rejected request `id` for good.
pub async fn discard(session: &Session, id: &str) -> Result<String> {
    if remove(session, id).await? {
        Ok(format!("discarded {id} from {}", names::REJECTED_QUEUE))
    } else {
        bail!(
            "no rejected request {} in {} (resubmitted or discarded already?)",
            crate::protocol::sanitize::line(id),
            names::REJECTED_QUEUE
        )
    }
}

async fn remove(session: &Session, id: &str) -> Result<bool> {
    act::remove_one(session, names::REJECTED_QUEUE, |body, props| {
        id_of(body, props) == id
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(body: &str, headers: &[(&str, &str)]) -> Queued {
        Queued {
            body: body.as_bytes().to_vec(),
            priority: None,
            uuid: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_rejection_reads_from_its_headers_with_a_stable_id() {
        let at = "2026-01-02T03:04:05.123456+00:00";
        let m = queued(
            "hello\n{not json",
            &[
                (names::H_REASON, "invalid JSON"),
                (names::H_REASON_CODE, "bad-json"),
                (names::H_SOURCE_QUEUE, "debci-noble-amd64"),
                (names::H_WORKER, "w1"),
                (names::H_REJECTED_AT, at),
            ],
        );
        let r = Rejected::from_queued(&m);
        assert_eq!(r.package, "hello");
        assert_eq!(
            (r.reason_code.as_str(), r.worker.as_str()),
            ("bad-json", "w1")
        );
        assert!(r.rejected_at.is_some());
        assert_eq!(r.id.len(), 12);
        assert_eq!(r.id, Rejected::from_queued(&m).id);
        // The same body rejected at another time is another message.
        let mut later = m.clone();
        later.headers[4].1 = "2026-01-02T03:04:06+00:00".into();
        assert_ne!(Rejected::from_queued(&later).id, r.id);
        // No headers at all (anyone can publish here): still listed, nothing invented.
        let bare = Rejected::from_queued(&queued("\u{1b}[2Jx y", &[]));
        assert_eq!(bare.rejected_at, None);
        assert_eq!(bare.package, "\u{1b}[2Jx");
        assert!(bare.target().contains("from ?"));
    }

    #[test]
    fn resubmitted_requests_are_checked_as_the_worker_checks_them() {
        assert!(check("debci-noble-amd64", b"hello\n{\"triggers\": [\"hello/1\"]}").is_ok());
        let e = check("debci-noble-amd64", b"hello\n{not json").unwrap_err();
        assert!(e.contains("bad-json") || e.contains("json"), "{e}");
        assert!(check("adtop.reader", b"hello").is_err());
        assert!(check("debci-tests-amd64-lxc", b"hello unstable run-id:42").is_ok());
        assert!(check("debci-tests-amd64-lxc", b"hello unstable").is_err());
    }
}
