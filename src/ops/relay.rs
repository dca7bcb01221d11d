//! Live news relayed once a second by the elected reader ([`super::shared`]) for every console:
//! the workers' heartbeats, batched, and the depths of the queues the consoles have on screen.
//!
//! Measured at Ubuntu's size (docs/PERFORMANCE.md, "Production-size scene"): 200 workers send
//! 40 heartbeats a second, and every console subscribed to the fanout made the broker deliver
//! each one to it; every console also declared the ~44 queues on its screen passively once a
//! second. With the relay the broker delivers each heartbeat once (to the reader), declares
//! each queue on anybody's screen once a second, and sends each console two messages a second.
//!
//! A console that hears no relay for [`FRESH_FOR`] (no reader yet, or it just went away)
//! subscribes to the heartbeats and declares its queues itself, as it did before, so nothing
//! depends on the relay but the broker's load. Anyone who can publish can send a batch: sizes,
//! counts and names are bounded before anything reaches the model.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::Channel;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::broker::{Session, publish, topology};
use crate::protocol::names;

/// Routing keys on the snapshot exchange; no request queue is called this.
pub const HEARTBEATS_KEY: &str = "adtop.heartbeats";
pub const DEPTHS_KEY: &str = "adtop.depths";
/// The reader publishes both this often, empty or not (an empty batch says it is there).
pub const RELAY_EVERY: Duration = Duration::from_secs(1);
/// A relay heard less than this long ago is trusted; after it the console listens itself.
pub const FRESH_FOR: Duration = Duration::from_millis(2500);
/// Largest batch taken from the wire (gzip), and once decompressed.
pub const MAX_WIRE: usize = 4 << 20;
pub const MAX_JSON: u64 = 32 << 20;
/// Most heartbeats in one batch, and largest heartbeat relayed (a real one is a few KiB).
pub const MAX_HEARTBEATS: usize = 5000;
pub const MAX_HEARTBEAT_BYTES: usize = 256 << 10;
/// Most queues the reader declares for everyone, and the most one depths message carries.
pub const MAX_DEPTHS: usize = 1000;
/// A watch older than this is dropped (consoles repeat theirs every [`WATCH_EVERY`]).
pub const WATCH_TTL: Duration = Duration::from_secs(10);
pub const WATCH_EVERY: Duration = Duration::from_secs(3);
/// Before the queue names in a message to the reader: these are on my screen.
pub const WATCH: char = '=';
/// An age beyond this is taken as this (a batch covers one second).
const MAX_AGE_MS: u32 = 10_000;

/// A batch as sent: each heartbeat's body as it came (JSON, embedded as it is, not as a string
/// to escape and unescape: that was a tenth of what leading cost), and how long before the
/// batch was sent it arrived.
#[derive(Serialize)]
struct HeartbeatsOut<'a> {
    heartbeats: Vec<(u32, &'a RawValue)>,
}

/// A batch as received, borrowed from the decompressed text. A body that is a JSON string is
/// the form before 2026-12-04, taken too.
#[derive(Deserialize)]
struct HeartbeatsIn<'a> {
    #[serde(borrow)]
    heartbeats: Vec<(u32, &'a RawValue)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DepthsWire {
    /// (queue, ready, consumers) by passive declare.
    depths: Vec<(String, u64, u32)>,
}

/// What the relay brought, for the console's feed.
#[derive(Debug)]
pub enum Relayed {
    /// Heartbeat bodies, unparsed (the feed parses them as it parses its own), with their age.
    Heartbeats(Vec<(Duration, Vec<u8>)>),
    /// (queue, ready, consumers).
    Depths(Vec<(String, u64, u32)>),
}

/// The batch on the wire. A body that is not JSON is left out: no console could read it.
pub fn encode_heartbeats(batch: &[(Instant, Vec<u8>)], now: Instant) -> Vec<u8> {
    let wire = HeartbeatsOut {
        heartbeats: batch
            .iter()
            .filter_map(|(at, b)| {
                let body = serde_json::from_slice::<&RawValue>(b).ok()?;
                let age = now.saturating_duration_since(*at).as_millis();
                Some((
                    u32::try_from(age).unwrap_or(MAX_AGE_MS).min(MAX_AGE_MS),
                    body,
                ))
            })
            .collect(),
    };
    super::shared::gzip_json(&wire)
}

/// A heartbeat batch from the wire, or why not.
pub fn decode_heartbeats(data: &[u8]) -> Result<Vec<(Duration, Vec<u8>)>, String> {
    if data.len() > MAX_WIRE {
        return Err(format!(
            "heartbeat batch of {} bytes (cap {MAX_WIRE})",
            data.len()
        ));
    }
    let json = super::read::gunzip_capped(data, MAX_JSON).map_err(|e| format!("{e:#}"))?;
    if json.cut_at.is_some() {
        return Err("heartbeat batch larger than its cap once decompressed".into());
    }
    let w: HeartbeatsIn =
        serde_json::from_str(&json.text).map_err(|e| format!("bad heartbeat batch: {e}"))?;
    Ok(w.heartbeats
        .into_iter()
        .filter_map(|(age, raw)| {
            let body = match raw.get() {
                quoted if quoted.starts_with('"') => serde_json::from_str::<String>(quoted).ok()?,
                body => body.to_owned(),
            };
            (body.len() <= MAX_HEARTBEAT_BYTES).then_some((age, body))
        })
        .take(MAX_HEARTBEATS)
        .map(|(age, b)| {
            (
                Duration::from_millis(age.min(MAX_AGE_MS).into()),
                b.into_bytes(),
            )
        })
        .collect())
}

pub fn encode_depths(depths: Vec<(String, u64, u32)>) -> Vec<u8> {
    serde_json::to_vec(&DepthsWire { depths }).unwrap_or_default()
}

/// A depths message from the wire, or why not: only queues the Queues view shows are taken.
pub fn decode_depths(data: &[u8]) -> Result<Vec<(String, u64, u32)>, String> {
    // 1,000 names of at most 255 bytes, and their counts.
    if data.len() > 512 << 10 {
        return Err(format!("depths message of {} bytes", data.len()));
    }
    let w: DepthsWire =
        serde_json::from_slice(data).map_err(|e| format!("bad depths message: {e}"))?;
    Ok(w.depths
        .into_iter()
        .filter(|(q, _, _)| super::listing::shown(q))
        .take(MAX_DEPTHS)
        .map(|(q, ready, consumers)| (q, ready.min(u64::from(u32::MAX)), consumers))
        .collect())
}

/// The watch message a console sends the reader: the queues it has on screen.
pub fn watch_message(queues: &[String]) -> Vec<u8> {
    let mut s = String::from(WATCH);
    s.push_str(&queues.join("\n"));
    s.into_bytes()
}

/// The queue names of a watch message (after [`WATCH`]), the valid ones only.
pub fn watched(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .filter(|q| super::listing::shown(q))
        .take(super::feed::MAX_LIVE + 1)
}

/// A console's receiving end: the feed takes what arrives; the freshness says whether to rely
/// on it.
#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Relayed>,
    heartbeats_at: Arc<Mutex<Option<Instant>>>,
    depths_at: Arc<Mutex<Option<Instant>>>,
}

pub fn inbox() -> (Inbox, mpsc::Receiver<Relayed>) {
    let (tx, rx) = mpsc::channel(16);
    (
        Inbox {
            tx,
            heartbeats_at: Arc::default(),
            depths_at: Arc::default(),
        },
        rx,
    )
}

impl Inbox {
    /// Hand on what arrived. A feed that is behind loses a batch rather than piling them up:
    /// heartbeats and depths are news, and the next one comes within a second.
    pub fn offer(&self, r: Relayed) {
        let at = match &r {
            Relayed::Heartbeats(_) => &self.heartbeats_at,
            Relayed::Depths(_) => &self.depths_at,
        };
        if let Ok(mut a) = at.lock() {
            *a = Some(Instant::now());
        }
        let _ = self.tx.try_send(r);
    }

    pub fn heartbeats_fresh(&self) -> bool {
        fresh(&self.heartbeats_at)
    }

    pub fn depths_fresh(&self) -> bool {
        fresh(&self.depths_at)
    }
}

fn fresh(at: &Mutex<Option<Instant>>) -> bool {
    at.lock()
        .ok()
        .and_then(|a| *a)
        .is_some_and(|a| a.elapsed() < FRESH_FOR)
}

/// The queues consoles have on screen, as their watch messages said, and when.
pub type Watched = Arc<Mutex<HashMap<String, Instant>>>;

pub fn note_watch(watched: &Watched, text: &str) {
    let Ok(mut w) = watched.lock() else { return };
    for q in self::watched(text) {
        if w.contains_key(q) || w.len() < MAX_DEPTHS {
            w.insert(q.to_string(), Instant::now());
        }
    }
}

/// Run `job` on a channel of its own (a channel error ends only that channel) until the session
/// ends, again a second after each failure.
async fn on_own_channel<F, Fut>(session: Arc<Session>, job: F)
where
    F: Fn(Arc<Session>, Channel) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    while session.alive() {
        if let Ok(ch) = session.channel().await {
            if let Err(e) = job(session.clone(), ch.clone()).await {
                tracing::debug!("relay: {e:#}");
            }
            let _ = ch.close(200, "relay done".into()).await;
        }
        tokio::time::sleep(RELAY_EVERY).await;
    }
}

/// The reader: once per [`RELAY_EVERY`], the heartbeats that arrived since the last batch.
pub async fn relay_heartbeats(session: Arc<Session>, exchange: String) {
    on_own_channel(session, |s, ch| {
        relay_heartbeats_on(s, ch, exchange.clone())
    })
    .await
}

async fn relay_heartbeats_on(
    session: Arc<Session>,
    ch: Channel,
    exchange: String,
) -> anyhow::Result<()> {
    // The heartbeat fanout is transient: after a broker restart it exists once declared.
    ch.exchange_declare(
        names::HEARTBEAT_EXCHANGE.into(),
        lapin::ExchangeKind::Fanout,
        Default::default(),
        Default::default(),
    )
    .await?;
    let queue = heartbeat_queue(&ch).await?;
    let mut tick = super::beat::Beat::every(RELAY_EVERY);
    loop {
        tick.tick().await;
        let batch = take_heartbeats(&ch, &queue).await?;
        let body = encode_heartbeats(&batch, Instant::now());
        publish::publish_fast(&ch, &exchange, HEARTBEATS_KEY, &body).await?;
        if !session.alive() {
            return Ok(());
        }
    }
}

/// The reader's own queue on the heartbeat fanout, where heartbeats wait between batches:
/// exclusive (it goes with the connection) but not auto-delete (it outlives each burst's
/// consumer), at most [`MAX_HEARTBEATS`] long and half of [`MAX_JSON`] in bytes (a flood of
/// large bodies is bounded in the broker and in each burst), oldest dropped first, and gone after
/// [`WATCH_TTL`] without a burst (a relay task that failed and started again on a new channel
/// leaves no queue filling behind it).
async fn heartbeat_queue(ch: &Channel) -> anyhow::Result<String> {
    let opts = lapin::options::QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-max-length".into(),
        lapin::types::AMQPValue::LongLongInt(MAX_HEARTBEATS as i64),
    );
    args.insert(
        "x-max-length-bytes".into(),
        lapin::types::AMQPValue::LongLongInt((MAX_JSON / 2) as i64),
    );
    args.insert(
        "x-overflow".into(),
        lapin::types::AMQPValue::LongString("drop-head".into()),
    );
    args.insert(
        "x-expires".into(),
        lapin::types::AMQPValue::LongLongInt(WATCH_TTL.as_millis() as i64),
    );
    let q = ch.queue_declare("".into(), opts, args).await?;
    let name = q.name().to_string();
    ch.queue_bind(
        name.as_str().into(),
        names::HEARTBEAT_EXCHANGE.into(),
        "".into(),
        Default::default(),
        Default::default(),
    )
    .await?;
    Ok(name)
}

/// What waits in `queue`, in one burst: subscribe, cancel at once, take what came before the
/// cancel's answer (the broker hands a new consumer everything queued before it handles the
/// cancel; anything later waits for the next burst). Heartbeats taken one by one as they came,
/// 40 a second at Ubuntu's size, woke lapin's I/O thread and this task 40 times a second, which
/// was most of what leading cost a console (docs/PERFORMANCE.md).
async fn take_heartbeats(ch: &Channel, queue: &str) -> anyhow::Result<Vec<(Instant, Vec<u8>)>> {
    let opts = lapin::options::BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut hb = ch
        .basic_consume(queue.into(), "".into(), opts, Default::default())
        .await?;
    ch.basic_cancel(hb.tag(), Default::default()).await?;
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    let now = Instant::now();
    // The stream ends with the cancel's answer; bounded in case the broker never sends it.
    while let Ok(Some(d)) = tokio::time::timeout(RELAY_EVERY, hb.next()).await {
        let d = d?;
        // A flood past the caps loses heartbeats, never memory.
        if d.data.len() <= MAX_HEARTBEAT_BYTES
            && batch.len() < MAX_HEARTBEATS
            && bytes + d.data.len() <= (MAX_JSON as usize) / 2
        {
            bytes += d.data.len();
            // Age 0: it waited at most a second here, well inside a heartbeat interval.
            batch.push((now, d.data));
        }
    }
    Ok(batch)
}

/// The reader: once per [`RELAY_EVERY`], the live depth of every queue on some console's screen.
pub async fn share_depths(session: Arc<Session>, exchange: String, watched: Watched) {
    on_own_channel(session, |s, ch| {
        share_depths_on(s, ch, exchange.clone(), watched.clone())
    })
    .await
}

async fn share_depths_on(
    session: Arc<Session>,
    ch: Channel,
    exchange: String,
    watched: Watched,
) -> anyhow::Result<()> {
    let mut tick = super::beat::Beat::every(RELAY_EVERY);
    let mut peek = session.channel().await?;
    // Queues found missing, left out for a while: a missing queue closes the channel and fails
    // every declare pipelined behind it, and consoles keep naming it until their listing drops it.
    let mut gone: HashMap<String, Instant> = HashMap::new();
    loop {
        tick.tick().await;
        gone.retain(|_, at| at.elapsed() < WATCH_TTL);
        let queues: Vec<String> = match watched.lock() {
            Ok(mut w) => {
                w.retain(|_, at| at.elapsed() < WATCH_TTL);
                w.keys()
                    .filter(|q| !gone.contains_key(*q))
                    .cloned()
                    .collect()
            }
            Err(_) => anyhow::bail!("watched set poisoned"),
        };
        let deadline = Instant::now() + RELAY_EVERY;
        let mut depths = Vec::with_capacity(queues.len());
        let mut pending = queues.as_slice();
        while !pending.is_empty() && Instant::now() < deadline {
            let (answered, outcome) =
                declare_all(&peek, pending, deadline, &mut depths, &mut gone).await;
            pending = pending.get(answered..).unwrap_or_default();
            match outcome {
                Declared::All => break,
                // The rest again on a fresh channel, within the same second.
                Declared::Closed => {}
                Declared::Failed(e) => {
                    close_quickly(&peek).await;
                    return Err(e.into());
                }
            }
            close_quickly(&peek).await;
            peek = session.channel().await?;
        }
        publish::publish_fast(&ch, &exchange, DEPTHS_KEY, &encode_depths(depths)).await?;
    }
}

/// How a round of pipelined declares ended.
enum Declared {
    All,
    /// A queue was missing (its channel is closed now) or did not answer in time: it is left
    /// out for a while, and what was behind it is to be asked again.
    Closed,
    Failed(crate::broker::BrokerError),
}

/// Declare `queues` passively, all in flight at once: one write and a few reads instead of a
/// round trip (and its thread hand-offs) per queue; the broker answers in order. Returns how
/// many were dealt with (answered, or left out) and how the round ended.
async fn declare_all(
    peek: &Channel,
    queues: &[String],
    deadline: Instant,
    depths: &mut Vec<(String, u64, u32)>,
    gone: &mut HashMap<String, Instant>,
) -> (usize, Declared) {
    let mut answers: futures::stream::FuturesOrdered<_> = queues
        .iter()
        .map(|q| topology::peek_counts(peek, q))
        .collect();
    for (i, q) in queues.iter().enumerate() {
        match tokio::time::timeout_at(deadline, answers.next()).await {
            Ok(Some(Ok(Some((ready, consumers))))) => {
                depths.push((q.clone(), u64::from(ready), consumers))
            }
            // Missing (what is behind it fails with the channel), or too slow to wait for (a
            // quorum queue without a leader, say): left out, the rest asked again.
            Ok(Some(Ok(None))) | Err(_) => {
                gone.insert(q.clone(), Instant::now());
                return (i + 1, Declared::Closed);
            }
            Ok(Some(Err(e))) => return (i, Declared::Failed(e)),
            Ok(None) => return (i, Declared::All),
        }
    }
    (queues.len(), Declared::All)
}

/// Close a channel without waiting on a broker that does not answer.
async fn close_quickly(ch: &Channel) {
    let _ = tokio::time::timeout(RELAY_EVERY, ch.close(200, "relay done".into())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_batch_round_trips_with_its_ages() {
        let now = Instant::now();
        let batch = vec![
            (now - Duration::from_millis(700), b"{\"id\":\"a\"}".to_vec()),
            (now, b"{\"id\":\"b\"}".to_vec()),
            // Not JSON: no console could read it, so it is not sent.
            (now, b"{\"id\":".to_vec()),
            (
                now,
                "{\"id\":\"\\u001b[2J \u{e9}\\\"\"}".as_bytes().to_vec(),
            ),
        ];
        let back = decode_heartbeats(&encode_heartbeats(&batch, now)).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0].1, b"{\"id\":\"a\"}");
        assert!(back[0].0 >= Duration::from_millis(690) && back[0].0 <= Duration::from_millis(710));
        assert_eq!(back[1].0, Duration::ZERO);
        // Escapes and UTF-8 come through byte for byte.
        assert_eq!(back[2].1, batch[3].1);
    }

    #[test]
    fn hostile_batches_are_refused_or_bounded() {
        assert!(decode_heartbeats(b"junk").is_err());
        assert!(decode_heartbeats(&vec![0u8; MAX_WIRE + 1]).is_err());
        // Too many, too large, too old: capped.
        // (In the form before 2026-12-04, bodies as strings, which is still taken.)
        let big = "x".repeat(MAX_HEARTBEAT_BYTES + 1);
        let mut hb: Vec<(u32, String)> = vec![(u32::MAX, "{}".into()); MAX_HEARTBEATS + 10];
        hb.insert(0, (0, big));
        let data = super::super::shared::gzip_json(&serde_json::json!({ "heartbeats": hb }));
        let back = decode_heartbeats(&data).unwrap();
        assert_eq!(back.len(), MAX_HEARTBEATS);
        assert!(
            back.iter()
                .all(|(age, b)| b == b"{}" && age.as_millis() == 10_000)
        );
        // Depths: only queues the console shows, counts capped, junk refused.
        let d = encode_depths(vec![
            ("debci-noble-amd64".into(), u64::MAX, 2),
            ("\u{1b}[2J".into(), 1, 1),
            ("amq.gen-x".into(), 1, 1),
        ]);
        assert_eq!(
            decode_depths(&d).unwrap(),
            vec![("debci-noble-amd64".to_string(), u64::from(u32::MAX), 2)]
        );
        assert!(decode_depths(b"{").is_err());
        assert!(decode_depths(&vec![b' '; 600 << 10]).is_err());
    }

    #[test]
    fn watch_messages_carry_valid_names_only() {
        let m = watch_message(&["debci-noble-amd64".into(), "debci-jammy-arm64".into()]);
        let text = std::str::from_utf8(&m).unwrap();
        let rest = text.strip_prefix(WATCH).unwrap();
        assert_eq!(
            watched(rest).collect::<Vec<_>>(),
            ["debci-noble-amd64", "debci-jammy-arm64"]
        );
        assert_eq!(watched("\u{1b}[2J\nnope").count(), 0);
        let w: Watched = Arc::default();
        note_watch(&w, rest);
        assert_eq!(w.lock().unwrap().len(), 2);
    }
}
