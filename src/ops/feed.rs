//! The console's link to the world: reads the broker and the store into `ModelEvent`s, and
//! carries out the console's `Outbound` requests. It never gives up: a lost broker or store is
//! shown as such and retried with backoff, while the console stays up.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::listen::Listener;
use chrono::Utc;
use futures::StreamExt;
use lapin::Channel;
use tokio::sync::{mpsc, watch};

use super::beat::Beat;
use super::event::{ConnState, ModelEvent, QueueStat, Service};
use super::op::{Fetch, OpRequest, Outbound};
use super::relay::{self, Relayed};
use super::rules::Verb;
use super::{Context, act, follow, listing, read, reading, shared};
use crate::broker::{Backoff, Session, topology};
use crate::protocol::messages::{
    AuditRecord, ControlAction, Heartbeat, LogChunk, TestComplete, TestStatus,
};
use crate::protocol::{names, queue};

/// Starts and stops the embedded worker on the console's behalf.
pub trait EmbeddedWorker: Send {
    fn start(&mut self) -> Result<String, String>;
    fn stop(&mut self) -> Result<String, String>;
}

/// Live depths (passive declare) of the queues on screen, this often.
const DEPTH_EVERY: Duration = Duration::from_secs(1);
/// Without the management API, the queues heartbeats name are declared passively this often.
const FALLBACK_EVERY: Duration = Duration::from_secs(5);
/// Most queues read live at once: what fits on a screen.
pub const MAX_LIVE: usize = 100;

/// Most queues watched by passive declare. Heartbeats name queues, and anyone who can publish
/// to `adtop.heartbeat` can name any: only request-queue names are taken, up to this many.
pub const MAX_WATCHED_QUEUES: usize = 5000;

pub use super::follow::{HISTORY_DAYS, HISTORY_RESULTS};

/// Most results of a package's history (`:package`) the console reads, newest first.
pub const HISTORY_PACKAGE: usize = 1000;

struct Feed {
    ctx: Context,
    events: mpsc::Sender<ModelEvent>,
    queues: BTreeSet<String>,
    /// Each worker's queue list as last learnt from its heartbeat (a hash): see [`Feed::learn`].
    named: std::collections::HashMap<String, u64>,
    /// Live (ready, consumers) from the last passive declare of a queue on screen: the
    /// management API lags behind, so its figures must not overwrite these.
    live: std::collections::HashMap<String, (u64, u32)>,
    /// The queues on screen (`Fetch::Watch`).
    on_screen: Vec<String>,
    /// The Requests view's page, for the reader task ([`reading`]).
    requests: watch::Sender<reading::Wanted>,
    /// The management API, and the listing the elected reader shares.
    listing: listing::Share,
    /// When the shared listing last applied arrived, and when this console last listed itself.
    listing_seen: Option<tokio::time::Instant>,
    listing_asked: Option<tokio::time::Instant>,
    /// The management API answered its last call.
    management_up: bool,
    /// Since when it has not (kept across calls: the header shows the true outage length).
    management_down_since: Option<chrono::DateTime<Utc>>,
    log: Option<(String, Option<String>)>,
    /// Lookups of announced results running now, at most [`LOOKUPS`].
    lookups: Arc<tokio::sync::Semaphore>,
}

/// Longest the depths of the queues on screen are waited for, all of them, each second.
const DEPTHS_WAIT: Duration = Duration::from_secs(2);

/// Most results looked up at once as they are announced. Past it an announcement is not looked
/// up: the index, listed every 2 s, brings the result all the same (a flood of announcements
/// must not become as many tasks and store connections).
const LOOKUPS: usize = 16;

pub async fn serve(
    ctx: Context,
    events: mpsc::Sender<ModelEvent>,
    mut out: mpsc::UnboundedReceiver<Outbound>,
    mut embedded: Option<Box<dyn EmbeddedWorker>>,
) {
    let mut feed = Feed {
        queues: ctx.fallback_queues.iter().cloned().collect(),
        named: Default::default(),
        listing: listing::Share::new(ctx.management.clone()),
        listing_seen: None,
        listing_asked: None,
        ctx,
        events,
        requests: watch::channel(None).0,
        on_screen: Vec::new(),
        management_up: true,
        management_down_since: None,
        log: None,
        live: Default::default(),
        lookups: Arc::new(tokio::sync::Semaphore::new(LOOKUPS)),
    };
    let _follow = Abort(tokio::spawn(follow::serve(
        feed.ctx.store.clone(),
        feed.events.clone(),
    )));
    let endpoint = Some(crate::broker::redact(&feed.ctx.broker_url));
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut attempt = 0u32;
    let mut lost_since = None;
    loop {
        match Session::open(&feed.ctx.broker_url, "adtop console").await {
            Ok(session) => {
                attempt = 0;
                lost_since = None;
                backoff.reset();
                feed.send(ModelEvent::Connection {
                    service: Service::Broker,
                    state: ConnState::Connected,
                    endpoint: Some(crate::broker::nodes::describe(
                        &feed.ctx.broker_url,
                        &session.node,
                    )),
                })
                .await;
                let session = Arc::new(session);
                if let Err(e) = feed.connected(&session, &mut out, &mut embedded).await {
                    tracing::warn!("console broker session ended: {e:#}");
                }
                session.close().await;
            }
            Err(e) => tracing::warn!("{e}"),
        }
        attempt += 1;
        let since = *lost_since.get_or_insert_with(Utc::now);
        feed.send(ModelEvent::Connection {
            service: Service::Broker,
            state: ConnState::Reconnecting { since, attempt },
            endpoint: endpoint.clone(),
        })
        .await;
        // Keep serving what needs no broker (stored logs, the embedded worker) while waiting.
        let until = tokio::time::Instant::now() + backoff.next_delay();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                o = out.recv() => match o {
                    Some(o) => feed.offline(o, &mut embedded).await,
                    None => return,
                },
            }
        }
    }
}

/// Ends a task when dropped.
struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the broker's node list is asked for: a cluster's node loss is on screen within a
/// second or two; a single broker's one node needs no watching beyond the connection.
const NODES_EVERY_CLUSTER: Duration = Duration::from_secs(1);
const NODES_EVERY: Duration = Duration::from_secs(15);

/// The node list, in a task of its own so that a slow management API never holds up the feed.
async fn poll_nodes(
    management: crate::broker::management::Management,
    events: mpsc::Sender<ModelEvent>,
    every: Duration,
) {
    let mut tick = Beat::every(every);
    // The node's name changes only when another node's API answers: asked now and then.
    let mut overview_due = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if tokio::time::Instant::now() >= overview_due {
            match management.overview().await {
                Ok(o) => {
                    overview_due = tokio::time::Instant::now() + NODES_EVERY;
                    let e = ModelEvent::BrokerNode {
                        node: o.node,
                        cluster: o.cluster_name,
                    };
                    if events.send(e).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!("management API overview: {e}"),
            }
        }
        match management.nodes().await {
            Ok(nodes) => {
                let nodes = nodes
                    .into_iter()
                    .map(|n| crate::ops::event::NodeStat {
                        name: n.name,
                        running: n.running,
                    })
                    .collect();
                let e = ModelEvent::Nodes {
                    nodes,
                    received: Utc::now(),
                };
                if events.send(e).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!("management API nodes: {e}"),
        }
    }
}

impl Feed {
    async fn send(&self, e: ModelEvent) {
        let _ = self.events.send(e).await;
    }

    /// One broker session: listen, poll, and act until the connection drops.
    async fn connected(
        &mut self,
        session: &Arc<Session>,
        out: &mut mpsc::UnboundedReceiver<Outbound>,
        embedded: &mut Option<Box<dyn EmbeddedWorker>>,
    ) -> anyhow::Result<()> {
        let ch = session.channel().await?;
        // Heartbeats come relayed by the reader once a second while it relays; the fanout is
        // listened to directly only while no relay is heard (`relay::FRESH_FOR`).
        let mut heartbeats =
            Some(crate::broker::listen::listen(&ch, names::HEARTBEAT_EXCHANGE, "").await?);
        let (relay, mut relayed) = relay::inbox();
        let mut told: Option<(Vec<String>, tokio::time::Instant)> = None;
        let mut streams = futures::stream::select_all([
            crate::broker::listen::listen(&ch, names::TESTSTATUS_EXCHANGE, "").await?,
            crate::broker::listen::listen(&ch, names::TESTCOMPLETE_EXCHANGE, "").await?,
            crate::broker::listen::listen(&ch, names::AUDIT_EXCHANGE, "").await?,
        ]);
        read::ping(session, &self.ctx.operator).await?;
        let mut log_consumer: Option<(Channel, Listener)> = None;
        if let Some((uuid, worker)) = self.log.clone() {
            log_consumer = self
                .open_live_log(session, &uuid, worker.as_deref())
                .await
                .ok();
        }
        let _reader = Abort(tokio::spawn(reading::serve(
            session.clone(),
            shared::Names::default(),
            self.requests.subscribe(),
            self.events.clone(),
            shared::Shares {
                listing: Some(self.listing.clone()),
                relay: Some(relay.clone()),
            },
        )));
        let _nodes = Abort(tokio::spawn(poll_nodes(
            self.ctx.management.clone(),
            self.events.clone(),
            if crate::broker::nodes::split(&self.ctx.broker_url)
                .nth(1)
                .is_some()
            {
                NODES_EVERY_CLUSTER
            } else {
                NODES_EVERY
            },
        )));
        let mut depth = Beat::every(DEPTH_EVERY);
        let mut stats = Beat::every(listing::CHECK_EVERY);
        let mut fallback = Beat::every(FALLBACK_EVERY);
        let mut peek = session.channel().await?;
        loop {
            tokio::select! {
                d = streams.next() => match d {
                    Some(Ok(d)) => self.on_message(&d.exchange.to_string(), &d.data).await,
                    _ => anyhow::bail!("lost the broker connection"),
                },
                d = next_delivery(&mut heartbeats) => match d {
                    Some(Ok(d)) => self.on_message(names::HEARTBEAT_EXCHANGE, &d.data).await,
                    _ => anyhow::bail!("lost the broker connection"),
                },
                Some(r) = relayed.recv() => self.on_relayed(r).await,
                c = next_log(&mut log_consumer) => {
                    if let Some(chunk) = c {
                        self.send(ModelEvent::LogChunk { chunk, received: Utc::now() }).await;
                    } else {
                        log_consumer = None;
                    }
                }
                o = out.recv() => match o {
                    Some(Outbound::Fetch(Fetch::Log { uuid, worker, location })) => {
                        log_consumer = None;
                        self.log = Some((uuid.clone(), worker.clone()));
                        match location {
                            Some((container, dir)) => self.stored_log(&uuid, &container, &dir),
                            None => match self.open_live_log(session, &uuid, worker.as_deref()).await {
                                Ok(c) => log_consumer = Some(c),
                                Err(e) => self.send(ModelEvent::LogError { uuid, message: format!("{e:#}") }).await,
                            },
                        }
                    }
                    Some(Outbound::Fetch(Fetch::CloseLog)) => {
                        self.log = None;
                        log_consumer = None;
                    }
                    Some(Outbound::Fetch(f @ (Fetch::Requests { .. } | Fetch::StopRequests | Fetch::Watch { .. } | Fetch::History { .. }))) => {
                        self.fetch(f);
                    }
                    Some(Outbound::Op { id, operator, op }) => self.op(session, embedded, id, operator, op).await,
                    None => return Ok(()),
                },
                _ = depth.tick() => {
                    if !session.alive() {
                        anyhow::bail!("lost the broker connection");
                    }
                    let live = self.live_queues();
                    tell_reader(session, &live, &mut told);
                    match (relay.heartbeats_fresh(), heartbeats.take()) {
                        (true, Some(c)) => {
                            // The private queue goes with its only consumer.
                            let _ = ch.basic_cancel(c.tag(), Default::default()).await;
                        }
                        (false, None) => {
                            heartbeats = Some(crate::broker::listen::listen(&ch, names::HEARTBEAT_EXCHANGE, "").await?);
                        }
                        (_, c) => heartbeats = c,
                    }
                    if !relay.depths_fresh() {
                        peek = self.poll_depths(session, peek, live).await?;
                    }
                }
                _ = stats.tick() => self.poll_stats().await,
                _ = fallback.tick(), if !self.management_up => {
                    let all: Vec<String> = self.queues.iter().cloned().collect();
                    peek = self.poll_depths(session, peek, all).await?;
                }
            }
        }
    }

    /// Learn the queues a heartbeat names. A worker names the same ones each time, so a list
    /// already learnt from it is not walked again: 40 heartbeats a second naming 100 queues
    /// each were a few percent of an idle console.
    fn learn(&mut self, hb: &Heartbeat) {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hb.queues.hash(&mut h);
        let h = h.finish();
        if self.named.get(&hb.id) == Some(&h) {
            return;
        }
        // Bounded whatever ids arrive: forgetting only costs a walk.
        if self.named.len() >= MAX_WATCHED_QUEUES {
            self.named.clear();
        }
        self.named.insert(hb.id.clone(), h);
        watch(&mut self.queues, &hb.queues);
    }

    /// What the reader relayed: heartbeats as if they had come here, depths of our queues.
    async fn on_relayed(&mut self, r: Relayed) {
        match r {
            Relayed::Heartbeats(batch) => {
                let now = Utc::now();
                for (age, body) in batch {
                    if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&body) {
                        self.learn(&hb);
                        let received = now
                            - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::zero());
                        self.send(ModelEvent::Heartbeat {
                            heartbeat: Box::new(hb),
                            received,
                        })
                        .await;
                    }
                }
            }
            Relayed::Depths(depths) => {
                let received = Utc::now();
                let live = self.live_queues();
                for (name, ready, consumers) in depths {
                    if !live.contains(&name) {
                        continue;
                    }
                    self.live.insert(name.clone(), (ready, consumers));
                    self.send(ModelEvent::QueueDepth {
                        name,
                        ready,
                        consumers,
                        received,
                    })
                    .await;
                }
            }
        }
    }

    async fn on_message(&mut self, exchange: &str, data: &[u8]) {
        // Every message here is held in the model (a worker's, a job's, an audit line), up to
        // thousands of them: none larger than any honest one may be (the relay's bound).
        if data.len() > relay::MAX_HEARTBEAT_BYTES {
            return;
        }
        let received = Utc::now();
        match exchange {
            names::HEARTBEAT_EXCHANGE => {
                if let Ok(hb) = serde_json::from_slice::<Heartbeat>(data) {
                    self.learn(&hb);
                    self.send(ModelEvent::Heartbeat {
                        heartbeat: Box::new(hb),
                        received,
                    })
                    .await;
                }
            }
            names::TESTSTATUS_EXCHANGE => {
                if let Ok(s) = serde_json::from_slice::<TestStatus>(data) {
                    self.send(ModelEvent::Status {
                        status: Box::new(s),
                        received,
                    })
                    .await;
                }
            }
            names::TESTCOMPLETE_EXCHANGE => {
                if let Ok(c) = serde_json::from_slice::<TestComplete>(data)
                    && let Ok(permit) = self.lookups.clone().try_acquire_owned()
                {
                    // The index entry is written before the announcement; read it for the full record.
                    let (store, events) = (self.ctx.store.clone(), self.events.clone());
                    tokio::spawn(async move {
                        if let Ok(Some(e)) = read::find_result(&store, &c.uuid).await {
                            let _ = events.send(ModelEvent::Result(Box::new(e))).await;
                        }
                        drop(permit);
                    });
                }
            }
            names::AUDIT_EXCHANGE => {
                if let Ok(r) = serde_json::from_slice::<AuditRecord>(data) {
                    self.send(ModelEvent::Audit(r)).await;
                }
            }
            _ => {}
        }
    }

    /// The Requests view's page and the queues on screen, as the console says.
    fn fetch(&mut self, f: Fetch) {
        match f {
            Fetch::Requests {
                queue,
                offset,
                limit,
            } => {
                self.requests.send_replace(Some((queue, offset, limit)));
            }
            Fetch::StopRequests => {
                self.requests.send_replace(None);
            }
            Fetch::Watch { mut queues } => {
                queues.retain(|q| super::listing::shown(q));
                queues.truncate(MAX_LIVE);
                // Figures of queues left off screen come from the management API again.
                self.live.retain(|q, _| queues.contains(q));
                self.on_screen = queues;
            }
            Fetch::History { package } => {
                let (store, events) = (self.ctx.store.clone(), self.events.clone());
                tokio::spawn(async move {
                    let (p, how) = super::rules::package_pattern(&package);
                    let read = super::history::package_history(
                        &store,
                        p,
                        how,
                        None,
                        0,
                        HISTORY_PACKAGE,
                        |_| true,
                    )
                    .await;
                    match read {
                        Ok((rows, _)) => {
                            for e in rows {
                                if events.send(ModelEvent::Result(Box::new(e))).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => tracing::warn!("history of {package}: {e:#}"),
                    }
                });
            }
            Fetch::Log { .. } | Fetch::CloseLog => {}
        }
    }

    /// What is read live: the queues on screen and the one whose requests are open.
    fn live_queues(&self) -> Vec<String> {
        let mut q = self.on_screen.clone();
        if let Some((r, _, _)) = self.requests.borrow().as_ref()
            && !q.contains(r)
        {
            q.push(r.clone());
        }
        q
    }

    /// Live counts by passive declare (the management API lags by its statistics interval).
    async fn poll_depths(
        &mut self,
        session: &Session,
        mut ch: Channel,
        names: Vec<String>,
    ) -> anyhow::Result<Channel> {
        let received = Utc::now();
        let deadline = tokio::time::Instant::now() + DEPTHS_WAIT;
        for name in names {
            let Ok(answer) =
                tokio::time::timeout_at(deadline, topology::peek_counts(&ch, &name)).await
            else {
                // A queue the broker is slow to answer for (a quorum queue without a leader)
                // must not stop heartbeats and keys: the rest waits for the next poll, asked on
                // a channel of its own (the late answer comes on this one).
                tracing::debug!("no depth of {name} within {} s", DEPTHS_WAIT.as_secs());
                let late = std::mem::replace(&mut ch, session.channel().await?);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(DEPTHS_WAIT, late.close(200, "slow".into())).await;
                });
                break;
            };
            match answer {
                Ok(Some((ready, consumers))) => {
                    self.live.insert(name.clone(), (ready.into(), consumers));
                    self.send(ModelEvent::QueueDepth {
                        name,
                        ready: ready.into(),
                        consumers,
                        received,
                    })
                    .await;
                }
                Ok(None) => {
                    // A missing queue closes the channel: forget it and open another.
                    self.queues.remove(&name);
                    self.named.clear();
                    self.live.remove(&name);
                    ch = session.channel().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ch)
    }

    async fn poll_stats(&mut self) {
        let result = match self.listing.next(self.listing_seen, self.listing_asked) {
            listing::Next::Take(at, qs) => {
                self.listing_seen = Some(at);
                Ok(qs)
            }
            listing::Next::Wait => return,
            listing::Next::Ask => {
                self.listing_asked = Some(tokio::time::Instant::now());
                self.ctx.management.queues().await
            }
        };
        match result {
            Ok(qs) => {
                if self.management_down_since.take().is_some() || !self.management_up {
                    self.send(ModelEvent::Connection {
                        service: Service::Management,
                        state: ConnState::Connected,
                        endpoint: Some(self.ctx.management.base().to_string()),
                    })
                    .await;
                }
                self.management_up = true;
                let queues: Vec<QueueStat> = super::listing::bound(qs)
                    .iter()
                    .map(|q| QueueStat {
                        name: q.name.clone(),
                        ready: self.live.get(&q.name).map_or(q.messages_ready, |l| l.0),
                        unacked: q.messages_unacknowledged,
                        consumers: self
                            .live
                            .get(&q.name)
                            .map_or(u32::try_from(q.consumers).unwrap_or(u32::MAX), |l| l.1),
                        publish_rate: q.publish_rate(),
                        deliver_rate: q.deliver_rate(),
                        max_priority: q.max_priority(),
                        head_timestamp: q.head_timestamp(),
                    })
                    .collect();
                watch(
                    &mut self.queues,
                    &queues.iter().map(|q| q.name.clone()).collect::<Vec<_>>(),
                );
                self.send(ModelEvent::QueueStats {
                    queues,
                    received: Utc::now(),
                })
                .await;
            }
            Err(e) => {
                self.management_up = false;
                tracing::debug!("management API: {e}");
                let since = *self.management_down_since.get_or_insert_with(Utc::now);
                self.send(ModelEvent::Connection {
                    service: Service::Management,
                    state: ConnState::Down {
                        since,
                        reason: crate::protocol::sanitize::cap(&e.to_string(), 120),
                    },
                    endpoint: Some(self.ctx.management.base().to_string()),
                })
                .await;
            }
        }
    }

    fn stored_log(&self, uuid: &str, container: &str, dir: &str) {
        let (store, events, uuid, container, dir) = (
            self.ctx.store.clone(),
            self.events.clone(),
            uuid.to_string(),
            container.to_string(),
            dir.to_string(),
        );
        tokio::spawn(async move {
            let e = match read::stored_log(&store, &container, &dir, read::LOG_READ_CAP).await {
                Ok(log) => ModelEvent::LogText {
                    uuid,
                    text: log.text,
                    cut_at: log.cut_at,
                },
                Err(e) => ModelEvent::LogError {
                    uuid,
                    message: format!("{e:#}"),
                },
            };
            let _ = events.send(e).await;
        });
    }

    /// Follow a running job's log: bind first, then ask its worker to replay from offset 0.
    async fn open_live_log(
        &self,
        session: &Session,
        uuid: &str,
        worker: Option<&str>,
    ) -> anyhow::Result<(Channel, Listener)> {
        let ch = session.channel().await?;
        let c = crate::broker::listen::listen(&ch, names::LOG_EXCHANGE, uuid).await?;
        if let Some(w) = worker {
            let mut m = act::simple_msg(ControlAction::Replay, &self.ctx.operator);
            m.uuid = Some(uuid.to_string());
            let body = serde_json::to_vec(&m)?;
            crate::broker::publish::publish_fast(
                &session.fast,
                names::CONTROL_EXCHANGE,
                &names::control_key(w),
                &body,
            )
            .await?;
        }
        Ok((ch, c))
    }

    async fn op(
        &self,
        session: &Arc<Session>,
        embedded: &mut Option<Box<dyn EmbeddedWorker>>,
        id: u64,
        operator: String,
        op: OpRequest,
    ) {
        let verb = op.verb();
        let target = op.target();
        let mut ctx = self.ctx.clone();
        ctx.operator = operator;
        match op {
            OpRequest::StartEmbeddedWorker | OpRequest::StopEmbeddedWorker => {
                let r = embedded_op(embedded, &op);
                self.finish(
                    &ctx,
                    Some(session.clone()),
                    id,
                    verb,
                    target,
                    r.map_err(anyhow::Error::msg),
                )
                .await;
            }
            other => {
                let (session, this) = (session.clone(), Feed::handle(&self.events, &ctx));
                tokio::spawn(async move {
                    let r = execute(&ctx, &session, other).await;
                    this.finish(&ctx, Some(session), id, verb, target, r).await;
                });
            }
        }
    }

    fn handle(events: &mpsc::Sender<ModelEvent>, ctx: &Context) -> Feed {
        Feed {
            ctx: ctx.clone(),
            events: events.clone(),
            queues: BTreeSet::new(),
            named: Default::default(),
            requests: watch::channel(None).0,
            listing: listing::Share::new(ctx.management.clone()),
            listing_seen: None,
            listing_asked: None,
            on_screen: Vec::new(),
            management_up: true,
            management_down_since: None,
            log: None,
            live: Default::default(),
            lookups: Arc::new(tokio::sync::Semaphore::new(LOOKUPS)),
        }
    }

    async fn finish(
        &self,
        ctx: &Context,
        session: Option<Arc<Session>>,
        id: u64,
        verb: Verb,
        target: String,
        r: anyhow::Result<String>,
    ) {
        let rec = act::audit(ctx, session.as_deref(), verb, &target, &r).await;
        if session.is_none() {
            self.send(ModelEvent::Audit(rec.clone())).await;
        }
        self.send(ModelEvent::OpOutcome {
            id,
            ok: rec.ok,
            message: rec.outcome,
        })
        .await;
        if matches!(verb, Verb::StartWorker | Verb::StopWorker) {
            self.send(ModelEvent::EmbeddedWorker {
                running: verb == Verb::StartWorker && r.is_ok(),
            })
            .await;
        }
    }

    /// Without a broker: stored logs and the embedded worker still work; actions are refused.
    async fn offline(&mut self, o: Outbound, embedded: &mut Option<Box<dyn EmbeddedWorker>>) {
        match o {
            Outbound::Fetch(Fetch::Log {
                uuid,
                worker,
                location,
            }) => {
                self.log = Some((uuid.clone(), worker));
                match location {
                    Some((c, d)) => self.stored_log(&uuid, &c, &d),
                    None => {
                        self.send(ModelEvent::LogError {
                            uuid,
                            message:
                                "the broker is unreachable; the live log resumes when it is back"
                                    .into(),
                        })
                        .await
                    }
                }
            }
            Outbound::Fetch(Fetch::CloseLog) => self.log = None,
            Outbound::Fetch(f) => self.fetch(f),
            Outbound::Op { id, operator, op } => {
                let mut ctx = self.ctx.clone();
                ctx.operator = operator;
                let (verb, target) = (op.verb(), op.target());
                let r = match op {
                    OpRequest::StartEmbeddedWorker | OpRequest::StopEmbeddedWorker => {
                        embedded_op(embedded, &op).map_err(anyhow::Error::msg)
                    }
                    _ => Err(anyhow::anyhow!(
                        "the broker is unreachable; nothing was done"
                    )),
                };
                self.finish(&ctx, None, id, verb, target, r).await;
            }
        }
    }
}

/// Add the request queues among `names` to those watched, up to [`MAX_WATCHED_QUEUES`].
fn watch(watched: &mut BTreeSet<String>, names: &[String]) {
    for n in names {
        if watched.len() >= MAX_WATCHED_QUEUES {
            break;
        }
        if !watched.contains(n) && queue::is_request_queue(n) {
            watched.insert(n.clone());
        }
    }
}

fn embedded_op(
    embedded: &mut Option<Box<dyn EmbeddedWorker>>,
    op: &OpRequest,
) -> Result<String, String> {
    match (embedded.as_mut(), op) {
        (None, _) => {
            Err("no embedded worker: start the console with --worker and the worker's flags".into())
        }
        (Some(w), OpRequest::StartEmbeddedWorker) => w.start(),
        (Some(w), _) => w.stop(),
    }
}

/// The queues on screen, told to the reader when they change and every `relay::WATCH_EVERY`,
/// so that it declares them for everyone.
fn tell_reader(
    session: &Arc<Session>,
    live: &[String],
    told: &mut Option<(Vec<String>, tokio::time::Instant)>,
) {
    if told
        .as_ref()
        .is_some_and(|(q, at)| q == live && at.elapsed() < relay::WATCH_EVERY)
    {
        return;
    }
    *told = Some((live.to_vec(), tokio::time::Instant::now()));
    let (session, body) = (session.clone(), relay::watch_message(live));
    tokio::spawn(async move {
        let _ = crate::broker::publish::publish_fast(&session.fast, "", names::READER_QUEUE, &body)
            .await;
    });
}

async fn next_delivery(
    c: &mut Option<Listener>,
) -> Option<lapin::Result<lapin::message::Delivery>> {
    match c {
        Some(c) => c.next().await,
        None => std::future::pending().await,
    }
}

async fn next_log(c: &mut Option<(Channel, Listener)>) -> Option<LogChunk> {
    match c {
        Some((_, consumer)) => loop {
            match consumer.next().await {
                Some(Ok(d)) => {
                    if let Ok(chunk) = serde_json::from_slice::<LogChunk>(&d.data) {
                        return Some(chunk);
                    }
                }
                _ => return None,
            }
        },
        None => std::future::pending().await,
    }
}

async fn execute(ctx: &Context, session: &Session, op: OpRequest) -> anyhow::Result<String> {
    let wait = Duration::from_secs(30);
    let simple = |action| act::simple_msg(action, &ctx.operator);
    match op {
        OpRequest::Retry { entry } => act::retry(ctx, session, &entry)
            .await
            .map(|u| format!("queued again as {u}")),
        OpRequest::Cancel { queue, uuid, body } => {
            act::cancel(session, &queue, uuid.as_deref(), &body)
                .await
                .map(|_| "removed from the queue".into())
        }
        OpRequest::Stop { worker, uuid, then } => {
            act::command(
                session,
                &worker,
                &act::stop_msg(&uuid, then, &ctx.operator),
                wait,
            )
            .await
        }
        OpRequest::Drain { worker } => {
            act::command(session, &worker, &simple(ControlAction::Drain), wait).await
        }
        OpRequest::Resume { worker } => {
            act::command(session, &worker, &simple(ControlAction::Resume), wait).await
        }
        OpRequest::Resubmit { id, body, .. } => {
            super::rejected::resubmit(ctx, session, &id, Some(body.as_bytes())).await
        }
        OpRequest::Discard { id, .. } => super::rejected::discard(session, &id).await,
        OpRequest::StartEmbeddedWorker | OpRequest::StopEmbeddedWorker => {
            Err(anyhow::anyhow!("handled by the console"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_request_queues_are_watched_and_only_so_many() {
        let mut w = BTreeSet::new();
        watch(
            &mut w,
            &[
                "debci-noble-amd64".into(),
                "\u{1b}[2J".into(),
                "x".repeat(100_000),
            ],
        );
        assert_eq!(w.len(), 1);
        let many: Vec<String> = (0..MAX_WATCHED_QUEUES + 10)
            .map(|i| format!("debci-r{i}-amd64"))
            .collect();
        watch(&mut w, &many);
        assert_eq!(w.len(), MAX_WATCHED_QUEUES);
    }
}
