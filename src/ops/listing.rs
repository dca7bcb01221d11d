//! One management-API queue listing per interval for the whole deployment.
//!
//! Listing 500 queues costs the broker about 45 ms of CPU (measured, see docs/PERFORMANCE.md):
//! five consoles asking every [`STATS_EVERY`] each were most of what five consoles cost it. The
//! elected reader ([`super::shared`]) lists once per interval and publishes the listing on the
//! snapshot exchange under [`STATS_KEY`]; every console takes each one as it arrives and asks the
//! API itself only when none is fresh ([`Share::next`]: no reader yet, or its call failed; then
//! each console sees the failure for itself and shows it).
//!
//! Anyone who can publish can send a listing: its size is bounded before and after
//! decompression, its length capped, and its counts capped before the console adds them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::broker::management::{Management, QueueInfo};
use crate::protocol::queue;

/// Every queue's figures from the management API, this often: also how soon a new queue is
/// listed. The broker refreshes those figures every `collect_statistics_interval` (5 s by
/// default), so listing more often shows nothing newer; the listing was still the broker's
/// largest cost of a console at 3 s (docs/PERFORMANCE.md). What is on screen is live anyway.
pub const STATS_EVERY: Duration = Duration::from_secs(5);
/// How often the reader's listing carries consumers, rates and head timestamps; the listings
/// between carry counts only, and the rest from the last full one ([`carry_over`]).
pub const FULL_EVERY: Duration = Duration::from_secs(30);
/// A shared listing older than this is not used: the console asks the API itself.
pub const FRESH_FOR: Duration = Duration::from_secs(7);
/// How often a console looks for a newly arrived shared listing.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Routing key of the listing on the snapshot exchange; no request queue is called this, so it
/// cannot be taken for a queue's snapshot.
pub const STATS_KEY: &str = "adtop.queue-stats";
/// Largest listing taken from the wire (gzip), and once decompressed (5,000 queues: ~1 MiB).
pub const MAX_WIRE: usize = 4 << 20;
pub const MAX_JSON: u64 = 16 << 20;
/// Most queues a listing carries (as many as the feed watches).
pub const MAX_QUEUES: usize = 5000;
/// Counts above this are taken as this (no deployment queues four billion requests).
const MAX_COUNT: u64 = u32::MAX as u64;

/// Fill what a counts-only listing lacks from the last full one, queue by queue; a queue new
/// since then keeps none (0 consumers, no rates) until the next full listing.
pub fn carry_over(queues: &mut [QueueInfo], full: &std::collections::HashMap<String, QueueInfo>) {
    for q in queues {
        let Some(f) = full.get(&q.name) else { continue };
        q.consumers = f.consumers;
        q.message_stats.clone_from(&f.message_stats);
        // An emptied queue has no head to be old.
        q.head_message_timestamp = f.head_message_timestamp.filter(|_| q.messages_ready > 0);
        if q.leader.is_none() {
            q.leader.clone_from(&f.leader);
        }
        if q.members.is_empty() {
            q.members.clone_from(&f.members);
        }
        if q.online.is_empty() {
            q.online.clone_from(&f.online);
        }
    }
}

/// A listing and when it arrived.
type Received = (Instant, Vec<QueueInfo>);

/// The management API, and the latest shared listing received.
#[derive(Clone)]
pub struct Share {
    pub management: Management,
    latest: Arc<Mutex<Option<Received>>>,
}

impl Share {
    pub fn new(management: Management) -> Self {
        Self {
            management,
            latest: Arc::default(),
        }
    }

    /// Keep a listing that arrived.
    pub fn offer(&self, queues: Vec<QueueInfo>) {
        if let Ok(mut l) = self.latest.lock() {
            *l = Some((Instant::now(), queues));
        }
    }

    /// When the latest listing arrived.
    pub fn received_at(&self) -> Option<Instant> {
        self.latest.lock().ok()?.as_ref().map(|(at, _)| *at)
    }

    /// The latest listing, if it arrived less than [`FRESH_FOR`] ago.
    pub fn fresh(&self) -> Option<Vec<QueueInfo>> {
        let l = self.latest.lock().ok()?;
        l.as_ref()
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, q)| q.clone())
    }

    /// What a console does on each [`CHECK_EVERY`]: take a listing that arrived since `seen`
    /// (at once, so that a new queue shows as soon as the reader lists it), wait while the one it
    /// has is fresh, else list for itself once per [`STATS_EVERY`] (`own`: its last own call).
    pub fn next(&self, seen: Option<Instant>, own: Option<Instant>) -> Next {
        let Ok(l) = self.latest.lock() else {
            return Next::Wait;
        };
        match l.as_ref() {
            Some((at, _)) if at.elapsed() >= FRESH_FOR => {}
            Some((at, q)) if seen.is_none_or(|s| *at > s) => return Next::Take(*at, q.clone()),
            Some(_) => return Next::Wait,
            None => {}
        }
        if own.is_some_and(|t| t.elapsed() < STATS_EVERY) {
            Next::Wait
        } else {
            Next::Ask
        }
    }
}

/// See [`Share::next`].
#[derive(Debug)]
pub enum Next {
    /// A shared listing, and when it arrived.
    Take(Instant, Vec<QueueInfo>),
    /// Nothing to do yet.
    Wait,
    /// No fresh shared listing: ask the management API.
    Ask,
}

/// What the Queues view lists: request queues and, marked, adtop's rejected and held queues.
pub fn shown(name: &str) -> bool {
    queue::is_request_queue(name) || queue::SideQueue::of(name).is_some()
}

/// Encode the request queues of a listing for the wire: gzipped JSON, the API's own shape.
pub fn encode(queues: &[QueueInfo]) -> Vec<u8> {
    let mine: Vec<&QueueInfo> = queues
        .iter()
        .filter(|q| shown(&q.name))
        .take(MAX_QUEUES)
        .collect();
    super::shared::gzip_json(&mine)
}

/// Decode a listing from the wire, or say why not.
pub fn decode(data: &[u8]) -> Result<Vec<QueueInfo>, String> {
    if data.len() > MAX_WIRE {
        return Err(format!("listing of {} bytes (cap {MAX_WIRE})", data.len()));
    }
    let json = super::read::gunzip_capped(data, MAX_JSON).map_err(|e| format!("{e:#}"))?;
    if json.cut_at.is_some() {
        return Err("listing larger than its cap once decompressed".into());
    }
    let qs: Vec<QueueInfo> =
        serde_json::from_str(&json.text).map_err(|e| format!("bad listing: {e}"))?;
    Ok(bound(qs))
}

/// What the Queues view takes of a listing, from the wire or the management API: the queues it
/// shows, at most [`MAX_QUEUES`], counts and lists cut to what is shown (anyone who may declare
/// a queue adds to a listing).
pub fn bound(mut qs: Vec<QueueInfo>) -> Vec<QueueInfo> {
    qs.retain(|q| shown(&q.name));
    qs.truncate(MAX_QUEUES);
    for q in &mut qs {
        for n in [
            &mut q.messages,
            &mut q.messages_ready,
            &mut q.messages_unacknowledged,
            &mut q.consumers,
        ] {
            *n = (*n).min(MAX_COUNT);
        }
        // Shown only; kept short like every other wire string.
        q.members.truncate(16);
        q.online.truncate(16);
    }
    qs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, ready: u64) -> QueueInfo {
        QueueInfo {
            name: name.into(),
            messages_ready: ready,
            consumers: 2,
            ..Default::default()
        }
    }

    #[test]
    fn a_counts_only_listing_keeps_consumers_and_rates_from_the_last_full_one() {
        let mut full = info("debci-noble-amd64", 1);
        full.message_stats = Some(Default::default());
        full.head_message_timestamp = Some(7);
        let last = [(full.name.clone(), full)].into_iter().collect();
        let mut now = vec![
            QueueInfo {
                name: "debci-noble-amd64".into(),
                messages_ready: 5,
                ..Default::default()
            },
            QueueInfo {
                name: "debci-new-amd64".into(),
                messages_ready: 1,
                ..Default::default()
            },
        ];
        carry_over(&mut now, &last);
        assert_eq!(
            (
                now[0].messages_ready,
                now[0].consumers,
                now[0].head_message_timestamp
            ),
            (5, 2, Some(7))
        );
        assert!(now[0].message_stats.is_some());
        assert_eq!(
            (now[1].consumers, now[1].message_stats.is_none()),
            (0, true)
        );
    }

    /// Each new listing is taken once, at once; while one is fresh nothing is asked; without one
    /// the console asks itself, once per interval.
    #[tokio::test(start_paused = true)]
    async fn a_console_takes_each_listing_once_and_asks_only_without_one() {
        let mgmt = Management::new("http://127.0.0.1:1", "amqp://127.0.0.1:1/%2f").expect("valid");
        let s = Share::new(mgmt);
        assert!(matches!(s.next(None, None), Next::Ask));
        let asked = Instant::now();
        assert!(matches!(s.next(None, Some(asked)), Next::Wait));
        s.offer(vec![info("debci-noble-amd64", 1)]);
        let Next::Take(at, q) = s.next(None, Some(asked)) else {
            panic!("the new listing is taken");
        };
        assert_eq!(q.len(), 1);
        assert!(matches!(s.next(Some(at), Some(asked)), Next::Wait));
        tokio::time::advance(FRESH_FOR).await;
        assert!(matches!(s.next(Some(at), Some(asked)), Next::Ask));
    }

    #[test]
    fn a_listing_round_trips_with_request_queues_only() {
        let qs = vec![info("debci-noble-amd64", 3), info("adtop.reader", 1)];
        let back = decode(&encode(&qs)).expect("decodes");
        assert_eq!(back, vec![info("debci-noble-amd64", 3)]);
    }

    #[test]
    fn hostile_listings_are_refused_or_bounded() {
        assert!(decode(b"junk").is_err());
        assert!(decode(&vec![0u8; MAX_WIRE + 1]).is_err());
        // Counts that would overflow a sum, names that are no request queue, too many queues.
        let mut qs = vec![info("debci-noble-amd64", u64::MAX), info("\u{1b}[2J", 1)];
        qs[0].messages_unacknowledged = u64::MAX;
        qs.extend((0..MAX_QUEUES + 5).map(|i| info(&format!("debci-r{i}-amd64"), 1)));
        // Encoded by hand: `encode` itself would already drop and cut them.
        use std::io::Write as _;
        let json = serde_json::to_vec(&qs).expect("serialises");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&json).expect("gzip");
        let back = decode(&e.finish().expect("gzip")).expect("decodes");
        assert_eq!(back.len(), MAX_QUEUES);
        assert!(back.iter().all(|q| queue::is_request_queue(&q.name)));
        assert!(back[0].messages_ready + back[0].messages_unacknowledged > 0);
        // A gzip bomb.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![b' '; 1 << 20];
        for _ in 0..20 {
            e.write_all(&block).expect("gzip");
        }
        assert!(decode(&e.finish().expect("gzip")).is_err());
    }
}
