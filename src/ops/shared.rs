//! One reading of a queue per interval for the whole deployment, however many consoles look.
//!
//! Consoles elect a reader through the queue [`names::READER_QUEUE`], declared with
//! `x-single-active-consumer`: every console consumes from it and the broker delivers to one of
//! them only, the reader, and hands over to another consumer at once when that one goes. No
//! console polls for the post (an exclusive queue that all but one fail to declare every two
//! seconds cost the broker a channel and a mnesia transaction per try). Every console says hello
//! there every [`HELLO_EVERY`] and sends its wants (the queue it reads, the queues on its
//! screen): the one that receives them is the reader. It reads each wanted queue at most once per interval and
//! publishes the snapshot on the direct exchange [`names::SNAPSHOT_EXCHANGE`] with the queue's
//! name as routing key, so a console receives only the queue it looks at (a fanout would send
//! every snapshot to every console). A console that hears nothing within [`WAIT`] reads for
//! itself, so a reading is never lost to the scheme.
//!
//! Anyone who can publish can send a snapshot: its size is bounded before and after
//! decompression, its queue name checked and its message count capped.
//!
//! The reader also lists every queue's figures once per interval for everyone
//! ([`super::listing`]), on the same exchange under [`listing::STATS_KEY`], and relays the
//! heartbeats and the depths of the queues on screen ([`super::relay`]).
//!
//! `adtop relay` ([`serve_relay`]) is a reader that is no console: its hello is
//! [`SERVICE_HELLO`], and a console that receives one while it leads steps down and queues up
//! again behind it, so that with the service running no console does the work for the others.
//! The service leads only while consoles say hello: with none open it only says its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, ExchangeKind};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::listing::{self, STATS_EVERY, STATS_KEY};
use super::reading::{READ_EVERY, Snapshot, read_now};
use super::relay::{self, DEPTHS_KEY, HEARTBEATS_KEY, Relayed};
use crate::broker::management::QueueInfo;
use crate::broker::{Session, publish};
use crate::controller::backlog::{Backlog, READ_CAP};
use crate::controller::look::Queued;
use crate::protocol::names;

/// How soon a console whose subscription to the reader queue failed tries again.
pub const ELECT_EVERY: Duration = Duration::from_secs(2);
/// The reader leads while hellos and wants arrive; none for this long and it stops its work for
/// others.
const LEAD_FOR: Duration = Duration::from_secs(10);
/// Every consumer of the reader queue says hello this often, so that the active one learns it
/// is the reader within this long of being made so (the broker does not tell it).
const HELLO_EVERY: Duration = Duration::from_secs(1);
/// The hello: no queue is called this.
const HELLO: &[u8] = b"!";
/// The relay service's hello: a console that leads and hears it steps down.
const SERVICE_HELLO: &[u8] = b"!!";
/// A console steps down at most this often: anyone who can publish can send the service's
/// hello, and each new leader starts its work afresh.
const STEP_DOWN_EVERY: Duration = Duration::from_secs(60);
/// How long a console waits for the reader's snapshot before reading itself.
pub const WAIT: Duration = Duration::from_secs(4);
/// Largest snapshot message taken from the wire (gzip), and largest once decompressed.
pub const MAX_WIRE: usize = 32 << 20;
pub const MAX_JSON: u64 = 256 << 20;
/// Most queues the reader reads for others at once.
const MAX_WANTED: usize = 64;
/// A want older than this is dropped (consoles repeat theirs every [`WANT_EVERY`]).
const WANT_TTL: Duration = Duration::from_secs(15);
pub const WANT_EVERY: Duration = Duration::from_secs(3);
/// Before a queue name in a want: send the latest snapshot now (the console has none).
const NEED: char = '?';
/// Most encoded snapshots the reader keeps to answer such a want.
const CACHED: usize = 8;

#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    queue: String,
    total: u64,
    complete: bool,
    messages: Vec<WireMessage>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireMessage {
    b: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<u8>,
    /// The uuid a worker knows it by (for a debci request it is not in the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    /// adtop's headers (a rejected request's reason, source queue, worker, time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    h: Vec<(String, String)>,
}

/// What the shared reader reads: request queues, and `adtop.rejected` for the Rejected view.
pub fn readable(queue: &str) -> bool {
    crate::protocol::queue::is_request_queue(queue) || queue == names::REJECTED_QUEUE
}

/// Encode a snapshot for the wire: gzipped JSON.
pub fn encode(queue: &str, b: &Backlog) -> Vec<u8> {
    let wire = Wire {
        queue: queue.to_string(),
        total: b.total,
        complete: b.complete,
        messages: b
            .messages
            .iter()
            .map(|m| WireMessage {
                b: String::from_utf8_lossy(&m.body).into_owned(),
                p: m.priority,
                u: m.uuid.clone(),
                h: m.headers.clone(),
            })
            .collect(),
    };
    gzip_json(&wire)
}

/// `value` as gzipped JSON. Serialised first and compressed in one write: serde's many small
/// writes straight into the encoder cost more than the compression itself.
pub fn gzip_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    use std::io::Write as _;
    let json = serde_json::to_vec(value).unwrap_or_default();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(&json);
    e.finish().unwrap_or_default()
}

/// Decode a snapshot from the wire, for `key` (the routing key it came with), or say why not.
pub fn decode(key: &str, data: &[u8]) -> Result<(String, Backlog), String> {
    if data.len() > MAX_WIRE {
        return Err(format!("snapshot of {} bytes (cap {MAX_WIRE})", data.len()));
    }
    let json = super::read::gunzip_capped(data, MAX_JSON).map_err(|e| format!("{e:#}"))?;
    if json.cut_at.is_some() {
        return Err("snapshot larger than its cap once decompressed".into());
    }
    let mut w: Wire = serde_json::from_str(&json.text).map_err(|e| format!("bad snapshot: {e}"))?;
    if w.queue != key || !readable(&w.queue) {
        return Err("snapshot names another or an invalid queue".into());
    }
    w.messages.truncate(READ_CAP);
    let messages: Vec<Queued> = w
        .messages
        .into_iter()
        .map(|m| Queued {
            body: m.b.into_bytes(),
            priority: m.p,
            // Shown only, and capped like every other wire string.
            uuid: m.u.map(|u| crate::protocol::sanitize::cap(&u, 64)),
            headers: m
                .h
                .into_iter()
                .take(8)
                .map(|(k, v)| {
                    let cap = |x: &str| {
                        crate::protocol::sanitize::cap(x, crate::protocol::sanitize::REASON_MAX)
                    };
                    (cap(&k), cap(&v))
                })
                .collect(),
        })
        .collect();
    let complete = w.complete && messages.len() as u64 >= w.total;
    Ok((
        w.queue,
        Backlog {
            total: w.total.min(u64::from(u32::MAX)),
            messages,
            complete,
            taken: 0,
        },
    ))
}

/// The reader queue and the snapshot exchange one group of consoles shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub reader: String,
    pub exchange: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            reader: names::READER_QUEUE.into(),
            exchange: names::SNAPSHOT_EXCHANGE.into(),
        }
    }
}

/// A console's side of the shared reading.
pub struct Reading {
    session: Arc<Session>,
    names: Names,
    ch: Option<Channel>,
    sub: Option<String>,
    bound: Option<String>,
    latest: Arc<Mutex<Option<Snapshot>>>,
    arrived: Arc<Notify>,
    last_want: Option<(String, Instant)>,
    leads: Leads,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a reader shares beside snapshots, and where a console takes it in.
#[derive(Clone, Default)]
pub struct Shares {
    pub listing: Option<listing::Share>,
    pub relay: Option<relay::Inbox>,
}

/// Whether this side leads now, for whoever wants to know (tests, the service's log).
pub type Leads = Arc<std::sync::atomic::AtomicBool>;

fn set_leads(leads: &Leads, now: bool) {
    leads.store(now, std::sync::atomic::Ordering::Relaxed);
}

impl Drop for Reading {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Reading {
    /// Subscribe to snapshots and start trying to be the reader. Without a usable channel the
    /// console still reads for itself.
    pub async fn start(session: Arc<Session>) -> Self {
        Self::start_with(session, Names::default()).await
    }

    /// As [`Reading::start`], on other names (tests keep their readers apart this way).
    pub async fn start_with(session: Arc<Session>, names: Names) -> Self {
        Self::start_sharing(session, names, None).await
    }

    /// As [`Reading::start_sharing`], with the relay's heartbeats and depths taken in too.
    pub async fn start_relaying(session: Arc<Session>, names: Names, shares: Shares) -> Self {
        Self::start_shares(session, names, shares).await
    }

    /// As [`Reading::start_with`], and with `stats` the queue listing is shared too: received
    /// into it, and published for everyone while this console is the reader.
    pub async fn start_sharing(
        session: Arc<Session>,
        names: Names,
        stats: Option<listing::Share>,
    ) -> Self {
        let shares = Shares {
            listing: stats,
            relay: None,
        };
        Self::start_shares(session, names, shares).await
    }

    async fn start_shares(session: Arc<Session>, names: Names, shares: Shares) -> Self {
        let mut r = Self {
            session: session.clone(),
            names: names.clone(),
            ch: None,
            sub: None,
            bound: None,
            latest: Arc::default(),
            arrived: Arc::default(),
            last_want: None,
            leads: Leads::default(),
            tasks: Vec::new(),
        };
        match subscribe(&session, &names, &shares).await {
            Ok((ch, sub, consumer)) => {
                r.ch = Some(ch);
                r.sub = Some(sub);
                let (latest, arrived) = (r.latest.clone(), r.arrived.clone());
                r.tasks.push(tokio::spawn(receive(
                    consumer,
                    latest,
                    arrived,
                    shares.clone(),
                )));
            }
            Err(e) => tracing::warn!("shared reading unavailable: {e:#}"),
        }
        r.tasks.push(tokio::spawn(elect(
            session,
            names,
            shares.listing.clone(),
            Role::Console,
            r.leads.clone(),
        )));
        r
    }

    /// Whether this console is the reader now.
    pub fn leads(&self) -> bool {
        self.leads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Say which queue this console looks at (bind to its snapshots, tell the reader).
    pub fn want(&mut self, queue: Option<&str>) {
        self.send_want(queue, false);
    }

    /// `need`: this console has no snapshot of it: the reader sends its latest at once.
    fn send_want(&mut self, queue: Option<&str>, need: bool) {
        let due = need
            || match (&self.last_want, queue) {
                (_, None) => false,
                (Some((q, at)), Some(n)) => q != n || at.elapsed() >= WANT_EVERY,
                (None, Some(_)) => true,
            };
        if queue.is_none() {
            self.last_want = None;
        }
        if !due {
            return;
        }
        let Some(queue) = queue else { return };
        self.last_want = Some((queue.to_string(), Instant::now()));
        let body = if need {
            format!("{NEED}{queue}")
        } else {
            queue.to_string()
        };
        let (session, to) = (self.session.clone(), self.names.reader.clone());
        tokio::spawn(async move {
            let _ = publish::publish_fast(&session.fast, "", &to, body.as_bytes()).await;
        });
    }

    async fn bind(&mut self, queue: &str) {
        if self.bound.as_deref() == Some(queue) {
            return;
        }
        let (Some(ch), Some(sub)) = (&self.ch, &self.sub) else {
            return;
        };
        if let Some(old) = self.bound.take() {
            let _ = ch
                .queue_unbind(
                    sub.as_str().into(),
                    self.names.exchange.as_str().into(),
                    old.as_str().into(),
                    FieldTable::default(),
                )
                .await;
        }
        if ch
            .queue_bind(
                sub.as_str().into(),
                self.names.exchange.as_str().into(),
                queue.into(),
                Default::default(),
                FieldTable::default(),
            )
            .await
            .is_ok()
        {
            self.bound = Some(queue.to_string());
        }
    }

    /// Resolves when a snapshot arrives from the reader.
    pub async fn arrived(&self) {
        self.arrived.notified().await
    }

    /// A snapshot of `queue` no older than `max_age`: the shared one, else one read here.
    pub async fn snapshot(&mut self, queue: &str, max_age: Duration) -> anyhow::Result<Snapshot> {
        self.bind(queue).await;
        let until = Instant::now() + WAIT;
        if self.ch.is_some() {
            self.send_want(Some(queue), true);
            loop {
                if let Some(s) = self.take_fresh(queue, max_age) {
                    return Ok(s);
                }
                if tokio::time::timeout_at(until, self.arrived.notified())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        // Nobody answered (no reader yet, or it died): read for ourselves.
        read_now(&self.session, queue).await
    }

    /// The snapshot of `queue` that arrived less than `max_age` ago, once.
    pub fn take_fresh(&self, queue: &str, max_age: Duration) -> Option<Snapshot> {
        let mut l = self.latest.lock().ok()?;
        if l.as_ref()
            .is_some_and(|s| s.queue == queue && s.read_at.elapsed() < max_age)
        {
            return l.take();
        }
        None
    }
}

async fn subscribe(
    session: &Session,
    names: &Names,
    shares: &Shares,
) -> anyhow::Result<(Channel, String, crate::broker::listen::Listener)> {
    let ch = session.channel().await?;
    declare_exchange(&ch, names).await?;
    let mut keys = Vec::new();
    if shares.listing.is_some() {
        keys.push(STATS_KEY);
    }
    if shares.relay.is_some() {
        keys.extend([HEARTBEATS_KEY, DEPTHS_KEY]);
    }
    let consumer = crate::broker::listen::listen_keys(&ch, &names.exchange, &keys).await?;
    let sub = consumer.queue().to_string();
    Ok((ch, sub, consumer))
}

async fn declare_exchange(ch: &Channel, names: &Names) -> anyhow::Result<()> {
    ch.exchange_declare(
        names.exchange.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await?;
    Ok(())
}

async fn receive(
    mut consumer: crate::broker::listen::Listener,
    latest: Arc<Mutex<Option<Snapshot>>>,
    arrived: Arc<Notify>,
    shares: Shares,
) {
    while let Some(Ok(d)) = consumer.next().await {
        let key = d.routing_key.to_string();
        if key == HEARTBEATS_KEY || key == DEPTHS_KEY {
            // A second's news: small, decoded in place.
            if let Some(inbox) = &shares.relay {
                let decoded = if key == DEPTHS_KEY {
                    relay::decode_depths(&d.data).map(Relayed::Depths)
                } else {
                    relay::decode_heartbeats(&d.data).map(Relayed::Heartbeats)
                };
                match decoded {
                    Ok(r) => inbox.offer(r),
                    Err(why) => tracing::debug!("relay ignored: {why}"),
                }
            }
            continue;
        }
        if key == STATS_KEY {
            if let Some(share) = &shares.listing
                && let Ok(decoded) =
                    tokio::task::spawn_blocking(move || listing::decode(&d.data)).await
            {
                match decoded {
                    Ok(queues) => share.offer(queues),
                    Err(why) => tracing::debug!("queue listing ignored: {why}"),
                }
            }
            continue;
        }
        // Decoding 50,000 requests takes a while: off the runtime's threads.
        let decoded = tokio::task::spawn_blocking(move || decode(&key, &d.data)).await;
        match decoded {
            Ok(Ok((queue, backlog))) => {
                if let Ok(mut l) = latest.lock() {
                    *l = Some(Snapshot {
                        queue,
                        read_at: Instant::now(),
                        backlog,
                    });
                }
                arrived.notify_one();
            }
            Ok(Err(why)) => tracing::debug!("snapshot ignored: {why}"),
            Err(_) => {}
        }
    }
}

/// How one side leads: its role, where it says whether it leads, when it last stepped down.
struct Lead<'a> {
    role: Role,
    leads: &'a Leads,
    stepped_down: &'a mut Option<Instant>,
}

/// Who takes part in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Leads when made the active consumer; steps down for the service.
    Console,
    /// `adtop relay`: never steps down, and leads only while consoles say hello.
    Service,
}

/// Consume from the reader queue for as long as the session lasts; whenever the broker makes this
/// consumer the active one, wants arrive and this side leads ([`lead`]).
async fn elect(
    session: Arc<Session>,
    names: Names,
    stats: Option<listing::Share>,
    role: Role,
    leads: Leads,
) {
    let mut stepped_down: Option<Instant> = None;
    loop {
        if let Ok(ch) = session.channel().await {
            let how = Lead {
                role,
                leads: &leads,
                stepped_down: &mut stepped_down,
            };
            match lead(&session, &ch, &names, stats.as_ref(), how).await {
                Ok(()) => tracing::debug!("shared reader: stepped down for the relay service"),
                Err(e) => tracing::debug!("shared reader: {e:#}"),
            }
            set_leads(&leads, false);
            let _ = ch.close(200, "reader done".into()).await;
        }
        if !session.alive() {
            return;
        }
        tokio::time::sleep(ELECT_EVERY).await;
    }
}

/// `adtop relay`: take part in the election as the service, over `session`, until it ends
/// (the caller reconnects). `leads` says whether it leads now.
pub async fn serve_relay(session: Arc<Session>, names: Names, stats: listing::Share, leads: Leads) {
    elect(session, names, Some(stats), Role::Service, leads).await
}

/// The reader queue's arguments: one active consumer at a time.
fn reader_args() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(
        "x-single-active-consumer".into(),
        lapin::types::AMQPValue::Boolean(true),
    );
    t
}

/// What the reader does for everyone while it leads, beside reading: the listing, the relay.
struct Leading(Vec<tokio::task::JoinHandle<()>>);

impl Leading {
    fn start(
        session: &Arc<Session>,
        ch: &Channel,
        names: &Names,
        stats: Option<&listing::Share>,
        watched: &relay::Watched,
    ) -> Self {
        let x = names.exchange.clone();
        let mut tasks = vec![
            tokio::spawn(relay::relay_heartbeats(session.clone(), x.clone())),
            tokio::spawn(relay::share_depths(
                session.clone(),
                x.clone(),
                watched.clone(),
            )),
        ];
        if let Some(s) = stats {
            tasks.push(tokio::spawn(publish_listings(ch.clone(), x, s.clone())));
        }
        Self(tasks)
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The elected reader's listing of every queue, once per [`STATS_EVERY`] for all consoles. A
/// failed call publishes nothing: the consoles then ask themselves and show the failure.
///
/// Counts are listed every time, consumers, rates and head timestamps once per
/// [`listing::FULL_EVERY`] and carried over in between: the full listing was most of what the
/// consoles cost the broker. What a console has on screen is live anyway (declared each second).
async fn publish_listings(ch: Channel, exchange: String, share: listing::Share) {
    let mut tick = super::beat::Beat::every(STATS_EVERY);
    let mut full: Option<(Instant, HashMap<String, QueueInfo>)> = None;
    loop {
        tick.tick().await;
        let due = full
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= listing::FULL_EVERY);
        let asked = Instant::now();
        let listed = if due {
            share.management.queues().await
        } else {
            share.management.queue_totals().await
        };
        match listed {
            Ok(mut queues) => {
                if due {
                    let by_name = queues.iter().map(|q| (q.name.clone(), q.clone()));
                    full = Some((asked, by_name.collect()));
                } else if let Some((_, last)) = &full {
                    listing::carry_over(&mut queues, last);
                }
                let body = tokio::task::spawn_blocking(move || listing::encode(&queues))
                    .await
                    .unwrap_or_default();
                if publish::publish_fast(&ch, &exchange, STATS_KEY, &body)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => tracing::debug!("shared queue listing: {e}"),
        }
    }
}

/// The elected reader: read each wanted queue at most once per [`READ_EVERY`], publish it; and
/// while wants arrive, list and relay for everyone. Returns `Ok` when a console steps down for
/// the relay service.
async fn lead(
    session: &Arc<Session>,
    ch: &Channel,
    names: &Names,
    stats: Option<&listing::Share>,
    how: Lead<'_>,
) -> anyhow::Result<()> {
    let Lead {
        role,
        leads,
        stepped_down,
    } = how;
    declare_exchange(ch, names).await?;
    let opts = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    ch.queue_declare(names.reader.as_str().into(), opts, reader_args())
        .await?;
    let mut wants = crate::broker::listen::consume(ch, &names.reader).await?;
    let mut wanted: HashMap<String, Instant> = HashMap::new();
    let mut read: HashMap<String, Instant> = HashMap::new();
    let mut cache: HashMap<String, (Instant, Vec<u8>)> = HashMap::new();
    let watched: relay::Watched = Arc::default();
    let mut leading: Option<(Leading, Instant)> = None;
    let mut hello = Instant::now() - HELLO_EVERY;
    let mut tick = super::beat::Beat::every(Duration::from_millis(250));
    loop {
        tokio::select! {
            w = wants.next() => match w {
                Some(Ok(d)) => {
                    if d.data == SERVICE_HELLO {
                        match role {
                            // Queue up again behind the service (the broker makes the next
                            // consumer in line active; a console ahead of it steps down too).
                            Role::Console
                                if stepped_down.is_none_or(|t| t.elapsed() >= STEP_DOWN_EVERY) =>
                            {
                                *stepped_down = Some(Instant::now());
                                return Ok(());
                            }
                            // A console that stepped down a moment ago stays (the hello may be
                            // forged); a service's own hello (or another's) is not a console's.
                            Role::Console | Role::Service => continue,
                        }
                    }
                    match &mut leading {
                        Some((_, last)) => *last = Instant::now(),
                        None => {
                            let l = Leading::start(session, ch, names, stats, &watched);
                            leading = Some((l, Instant::now()));
                            set_leads(leads, true);
                        }
                    }
                    let Ok(text) = std::str::from_utf8(&d.data) else { continue };
                    if let Some(w) = text.strip_prefix(relay::WATCH) {
                        relay::note_watch(&watched, w);
                        continue;
                    }
                    let (need, q) = match text.strip_prefix(NEED) {
                        Some(q) => (true, q),
                        None => (false, text),
                    };
                    if readable(q)
                        && (wanted.contains_key(q) || wanted.len() < MAX_WANTED)
                    {
                        wanted.insert(q.to_string(), Instant::now());
                        if need && let Some((_, body)) = cache.get(q) {
                            publish::publish_fast(ch, &names.exchange, q, body).await?;
                        }
                    }
                }
                _ => anyhow::bail!("lost the reader queue"),
            },
            _ = tick.tick() => {
                if hello.elapsed() >= HELLO_EVERY {
                    hello = Instant::now();
                    let hello = if role == Role::Service { SERVICE_HELLO } else { HELLO };
                    publish::publish_fast(ch, "", &names.reader, hello).await?;
                }
                if leading.as_ref().is_some_and(|(_, last)| last.elapsed() >= LEAD_FOR) {
                    leading = None;
                    set_leads(leads, false);
                }
                wanted.retain(|_, at| at.elapsed() < WANT_TTL);
                read.retain(|q, _| wanted.contains_key(q));
                cache.retain(|q, (at, _)| wanted.contains_key(q) && at.elapsed() < READ_EVERY);
                let due: Vec<String> = wanted
                    .keys()
                    .filter(|q| read.get(*q).is_none_or(|at| at.elapsed() >= READ_EVERY))
                    .cloned()
                    .collect();
                for q in due {
                    read.insert(q.clone(), Instant::now());
                    match read_now(session, &q).await {
                        Ok(s) => {
                            let body = tokio::task::spawn_blocking(move || encode(&s.queue, &s.backlog))
                                .await
                                .unwrap_or_default();
                            publish::publish_fast(ch, &names.exchange, &q, &body).await?;
                            if cache.len() < CACHED || cache.contains_key(&q) {
                                cache.insert(q, (Instant::now(), body));
                            }
                        }
                        Err(e) => tracing::debug!("read {q}: {e:#}"),
                    }
                }
            }
        }
        if !session.alive() {
            anyhow::bail!("lost the broker connection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(n: usize) -> Backlog {
        Backlog {
            total: n as u64,
            messages: (0..n)
                .map(|i| Queued {
                    body: format!("pkg{i}\n{{}}").into_bytes(),
                    priority: None,
                    uuid: None,
                    headers: Vec::new(),
                })
                .collect(),
            complete: true,
            taken: 0,
        }
    }

    #[test]
    fn a_snapshot_round_trips() {
        let b = backlog(3);
        let (q, back) = decode("debci-noble-amd64", &encode("debci-noble-amd64", &b)).unwrap();
        assert_eq!(q, "debci-noble-amd64");
        assert_eq!(back, b);
    }

    #[test]
    fn hostile_snapshots_are_refused_or_bounded() {
        let b = backlog(2);
        // Sent under another queue's key, or naming no request queue.
        assert!(decode("debci-jammy-amd64", &encode("debci-noble-amd64", &b)).is_err());
        assert!(decode("\u{1b}[2J", &encode("\u{1b}[2J", &b)).is_err());
        // Not gzip, gzip of junk, too large on the wire.
        assert!(decode("debci-noble-amd64", b"junk").is_err());
        assert!(decode("debci-noble-amd64", &vec![0u8; MAX_WIRE + 1]).is_err());
        // A gzip bomb: far larger than its cap once decompressed.
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![b' '; 1 << 20];
        for _ in 0..300 {
            e.write_all(&block).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < MAX_WIRE);
        assert!(decode("debci-noble-amd64", &bomb).is_err());
        // A total that claims more than was sent is not complete.
        let mut lying = backlog(2);
        lying.total = u64::MAX;
        let (_, back) = decode("debci-noble-amd64", &encode("debci-noble-amd64", &lying)).unwrap();
        assert!(!back.complete);
        assert_eq!(back.total, u64::from(u32::MAX));
    }
}
