//! The worker: consume every queue it can serve, one request at a time, run it with the real
//! `autopkgtest`, store the results, announce them, and only then acknowledge the request.
//!
//! Start with [`life::handle`]: one request's life, top to bottom (receive, validate,
//! recognise a redelivery, run, watch, classify, retry, pack, store, announce, acknowledge),
//! each step a small function. The modules, in that order:
//!
//! - [`validate`]: is this a request this worker accepts (format rules from `protocol`);
//! - [`attempt`]: run and watch one attempt ([`runner`] starts and kills the process tree);
//!   [`deathwatch`] makes sure no runner outlives a worker that is killed outright;
//! - [`classify`]: autopkgtest-cloud's retry rules;
//! - [`results`]: pack the output into the three objects, file to file;
//! - [`deliver`]: store (`crate::store::run`), announce, acknowledge, with the spool while
//!   the store or the broker is away;
//! - [`decide`]: every decision above as a plain function, unit-tested without a broker;
//! - [`control`]: the one handler of operators' control messages, idle or running;
//! - [`hold`]: the held queue that keeps long tests clear of the consumer timeout, and
//!   [`peers`], which requeues the held requests of workers gone silent;
//! - [`presence`]: heartbeats, and the listener that feeds [`control`].
//!
//! This file is the session loop around it: connect, declare, deliver the spool, requeue what
//! this worker held, consume, and reconnect with backoff.

pub mod attempt;
pub mod classify;
pub mod control;
pub mod deathwatch;
pub mod debci;
pub mod decide;
pub mod deliver;
pub mod hold;
pub mod job;
pub mod life;
pub mod peers;
pub mod policy;
pub mod poll;
pub mod presence;
pub mod results;
pub mod runner;
pub mod take;
pub mod validate;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{Notify, mpsc, watch};

use crate::broker::{Backoff, BrokerError, Session, topology};
use crate::config::QueueConfig;
use crate::protocol::QueueName;
use crate::protocol::messages::{JobInfo, WorkerState};
use crate::store::{Spool, Store};
use presence::Incoming;

/// Everything a worker needs, resolved from configuration and flags.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub id: String,
    pub host: String,
    pub arch: String,
    pub releases: Vec<String>,
    pub contexts: Vec<String>,
    pub queues: Vec<QueueName>,
    /// debci's queues this worker serves besides autopkgtest-cloud's ([`debci`]).
    pub debci: debci::DebciOptions,
    pub broker_url: String,
    pub queue_cfg: QueueConfig,
    pub store: Store,
    pub spool: Spool,
    pub runner: runner::RunnerConfig,
    pub policy: policy::Policy,
    pub heartbeat_interval: Duration,
    pub status_interval: Duration,
    pub lease: Duration,
    /// Held requests of a worker silent this long are requeued by this one.
    pub reclaim_after: Duration,
    pub attempts: u32,
    /// Requests in a row ending in a testbed failure before the worker stops taking any
    /// (real testbeds only; 0: never).
    pub testbed_failure_limit: u32,
    pub retry_delay: (Duration, Duration),
}

impl WorkerOptions {
    /// Every request queue this worker consumes: autopkgtest-cloud's, then debci's.
    pub fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.queues.iter().map(ToString::to_string).collect();
        names.extend(self.debci.queues.iter().cloned());
        names
    }
}

/// What the heartbeat reports; shared between the job loop and the heartbeat task.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: WorkerState,
    pub job: Option<JobInfo>,
    pub done: u64,
    pub failed: u64,
    pub tmpfailed: u64,
    pub rejected: u64,
    /// Set when the testbed failed too often in a row: the last error.
    pub testbed_broken: Option<String>,
}

pub type Shared = Arc<Mutex<Status>>;

/// What the loop does after handling something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The broker connection is gone: reconnect, then carry on.
    Reconnect,
    /// Leave with this process exit code.
    Exit(i32),
}

impl Flow {
    /// This flow, then `next`: whichever stops more (leaving, then reconnecting, then going on).
    #[must_use]
    pub fn and(self, next: Flow) -> Flow {
        match (self, next) {
            (Flow::Exit(code), _) | (_, Flow::Exit(code)) => Flow::Exit(code),
            (Flow::Reconnect, _) | (_, Flow::Reconnect) => Flow::Reconnect,
            _ => Flow::Continue,
        }
    }
}

/// SIGTERM: finish the current job, exit 0; a second SIGTERM: stop it, requeue, exit.
/// SIGHUP: finish, exit 10 (autopkgtest-cloud's "restart me"). A worker embedded in the console
/// takes no process signals (they are the console's); it is stopped through `stop` instead,
/// which acts like the second SIGTERM.
pub struct Signals {
    term: Option<Signal>,
    hup: Option<Signal>,
    stop: Option<watch::Receiver<bool>>,
    /// Exit code to leave with once the current job is done.
    pub leaving: Option<i32>,
}

async fn os_signal(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn stop_asked(rx: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = rx
        && rx.wait_for(|stop| *stop).await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

impl Signals {
    fn process() -> Result<Self> {
        Ok(Self {
            term: Some(signal(SignalKind::terminate()).context("install SIGTERM handler")?),
            hup: Some(signal(SignalKind::hangup()).context("install SIGHUP handler")?),
            stop: None,
            leaving: None,
        })
    }

    fn embedded(stop: watch::Receiver<bool>) -> Self {
        Self {
            term: None,
            hup: None,
            stop: Some(stop),
            leaving: None,
        }
    }

    /// Wait for the next signal; returns true when it asks to stop *now* (second SIGTERM).
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = os_signal(&mut self.term) => {
                let urgent = self.leaving.is_some();
                self.leaving = Some(0);
                tracing::info!("SIGTERM: {}", if urgent { "stopping the running test, requeueing it" } else { "finishing the current job, then exiting (SIGTERM again to stop now)" });
                urgent
            }
            _ = os_signal(&mut self.hup) => {
                tracing::info!("SIGHUP: finishing the current job, then exiting with 10 to be restarted");
                self.leaving.get_or_insert(10);
                false
            }
            _ = stop_asked(&mut self.stop) => {
                tracing::info!("stop: stopping the running test, requeueing it");
                self.leaving = Some(0);
                self.stop = None;
                true
            }
        }
    }
}

/// The running worker: its options, shared status and the channels of its helpers.
pub struct Worker {
    pub opts: WorkerOptions,
    pub shared: Shared,
    pub wake_heartbeat: Arc<Notify>,
    pub fast: watch::Sender<Option<Channel>>,
    pub incoming: mpsc::Receiver<Incoming>,
    incoming_tx: mpsc::Sender<Incoming>,
    pub signals: Signals,
    /// Taking no new jobs (drained by an operator, or a broken testbed).
    pub paused: bool,
    /// Consecutive testbed failures ([`crate::testbed::broken`]).
    pub streak: crate::testbed::broken::Streak,
    seen: peers::Seen,
    /// The last result, while its flush, announcement and acknowledgement run beside the next
    /// request ([`deliver::Pending`]).
    pub pending: Option<deliver::Pending>,
}

impl Worker {
    pub fn new(opts: WorkerOptions) -> Result<Self> {
        Ok(Self::with_signals(opts, Signals::process()?))
    }

    /// A worker inside another program (the console): `stop` set to true ends it like a second
    /// SIGTERM (the running test is stopped and its request requeued).
    pub fn embedded(opts: WorkerOptions, stop: watch::Receiver<bool>) -> Self {
        Self::with_signals(opts, Signals::embedded(stop))
    }

    fn with_signals(opts: WorkerOptions, signals: Signals) -> Self {
        let shared = Arc::new(Mutex::new(Status {
            state: WorkerState::Reconnecting,
            job: None,
            done: 0,
            failed: 0,
            tmpfailed: 0,
            rejected: 0,
            testbed_broken: None,
        }));
        let (fast, _) = watch::channel(None);
        let (incoming_tx, incoming) = mpsc::channel(64);
        Self {
            opts,
            shared,
            wake_heartbeat: Arc::new(Notify::new()),
            fast,
            incoming,
            incoming_tx,
            signals,
            paused: false,
            streak: crate::testbed::broken::Streak::default(),
            seen: peers::Seen::default(),
            pending: None,
        }
    }

    /// Quorum queues refuse a channel-wide prefetch: there the worker polls (`poll.rs`).
    pub fn polling(&self) -> bool {
        self.opts.queue_cfg.queue_type == Some(crate::config::QueueType::Quorum)
    }

    pub fn set_state(&self, state: WorkerState) {
        if let Ok(mut s) = self.shared.lock() {
            s.state = state;
        }
        self.wake_heartbeat.notify_one();
    }

    /// Run until told to stop. Returns the process exit code.
    pub async fn run(mut self) -> Result<i32> {
        self.check_store().await?;
        tokio::spawn(presence::heartbeat_loop(
            self.opts.clone(),
            self.shared.clone(),
            self.fast.subscribe(),
            self.wake_heartbeat.clone(),
        ));
        let mut backoff = Backoff::default();
        loop {
            if let Some(code) = self.signals.leaving {
                return Ok(code);
            }
            self.set_state(WorkerState::Reconnecting);
            let name = format!("adtop worker {}", self.opts.id);
            let session = match Session::open(&self.opts.broker_url, &name).await {
                Ok(s) => Arc::new(s),
                // Wrong credentials or vhost: found before any request is taken, not retried.
                Err(e) if e.is_permanent() => {
                    self.set_state(WorkerState::Stopping);
                    return Err(anyhow::Error::new(e).context(
                        "the broker refused this worker; it takes no requests until its broker URL, user and password are right",
                    ));
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!("{e}; retrying in {:.1}s", delay.as_secs_f64());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.signals.next() => {}
                    }
                    continue;
                }
            };
            backoff.reset();
            tracing::info!(
                "connected to {}",
                crate::broker::nodes::describe(&self.opts.broker_url, &session.node)
            );
            let flow = match self.serve(&session).await {
                Ok(flow) => flow,
                Err(e) => {
                    // A queue declared with other arguments will not fix itself: stop loudly.
                    if let Some(BrokerError::Mismatch { .. } | BrokerError::Conflict { .. }) =
                        e.downcast_ref::<BrokerError>()
                    {
                        return Err(e);
                    }
                    tracing::warn!("broker session ended: {e:#}");
                    Flow::Reconnect
                }
            };
            self.fast.send_replace(None);
            match flow {
                Flow::Exit(code) => {
                    self.set_state(WorkerState::Stopping);
                    // Say goodbye, so that consoles show this worker stopped, not lost.
                    if let Ok(body) =
                        serde_json::to_vec(&presence::heartbeat(&self.opts, &self.shared))
                    {
                        let _ = crate::broker::publish::publish_fast(
                            &session.fast,
                            crate::protocol::names::HEARTBEAT_EXCHANGE,
                            "",
                            &body,
                        )
                        .await;
                    }
                    session.close().await;
                    return Ok(code);
                }
                Flow::Continue | Flow::Reconnect => {
                    session.close().await;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    /// Can results be written? A wrong store key or an unwritable directory stops the worker
    /// before it takes any request; a store that is merely away does not (results wait in
    /// the spool). The error names the store and its user, never the key.
    async fn check_store(&self) -> Result<()> {
        match self.opts.store.check().await {
            Ok(()) => Ok(()),
            Err(e) if e.is_permanent() => Err(anyhow::Error::new(e).context(format!(
                "the result store {} is not usable; the worker takes no requests until it is (check the store URL, user and key)",
                self.opts.store.describe()
            ))),
            Err(e) => {
                tracing::warn!(
                    "the result store {} is not reachable now ({e}); results will wait in the spool until it is",
                    self.opts.store.describe()
                );
                Ok(())
            }
        }
    }

    /// One broker session: declare, recover, consume until the connection drops. Whatever
    /// ends it, the result whose flush was still running is finished with first (announced
    /// and acknowledged, or spooled when the broker is gone).
    async fn serve(&mut self, session: &Arc<Session>) -> Result<Flow> {
        let served = self.serve_requests(session).await;
        let settled = deliver::settle(self, session).await;
        match (served, settled) {
            (Ok(flow), Ok(last)) => Ok(flow.and(last)),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            (Err(e), Err(also)) => {
                tracing::warn!("finishing the last result: {also:#}");
                Err(e)
            }
        }
    }

    async fn serve_requests(&mut self, session: &Arc<Session>) -> Result<Flow> {
        for q in &self.opts.queues {
            topology::declare_request_queue(&session.confirm, &q.to_string(), &self.opts.queue_cfg)
                .await?;
        }
        if !self.opts.debci.queues.is_empty() {
            for q in &self.opts.debci.queues {
                topology::declare_request_queue(
                    &session.confirm,
                    q,
                    &topology::debci_queue_config(),
                )
                .await?;
            }
            // As debci's worker does before it consumes (`amqp-declare-queue --durable`).
            topology::declare_plain_queue(&session.confirm, &self.opts.debci.results_queue).await?;
        }
        presence::listen_control(
            session,
            &self.opts.id,
            self.incoming_tx.clone(),
            self.wake_heartbeat.clone(),
        )
        .await?;
        self.fast.send_replace(Some(session.fast.clone()));

        peers::watch_silent(
            session.clone(),
            self.opts.id.clone(),
            self.seen.clone(),
            self.opts.reclaim_after,
            self.opts.store.clone(),
        )
        .await?;
        // Spool first: a result finished before a crash makes its held copy obsolete.
        match deliver::flush_spool(self, session).await? {
            Flow::Continue => {}
            other => return Ok(other),
        }
        let get = session.channel().await?;
        let n = hold::requeue_held(
            &session.confirm,
            &get,
            &self.opts.id,
            Some(&self.opts.store),
        )
        .await?;
        if n > 0 {
            tracing::info!("requeued {n} request(s) this worker held when it last stopped");
        }
        let _ = get.close(200, "done".into()).await;

        let consume = session.channel().await?;
        let polling = self.polling();
        let queue_names: Vec<String> = self.opts.queues.iter().map(|q| q.to_string()).collect();
        let mut asked: Option<
            tokio::sync::oneshot::Receiver<lapin::Result<lapin::message::Delivery>>,
        > = None;
        if !polling {
            consume
                .basic_qos(1, BasicQosOptions { global: true })
                .await
                .map_err(BrokerError::amqp("set prefetch"))?;
        }
        let mut consumers = if self.paused || polling {
            Vec::new()
        } else {
            self.consume(&consume).await?
        };
        self.set_state(if self.paused {
            WorkerState::Paused
        } else {
            WorkerState::Idle
        });
        // Readings of a queue (consoles, duplicate checks) must not change the order jobs are
        // taken in: every delivery is admitted by the read lock first (`take.rs`).
        let gate = take::Gate::new(session.clone());
        let mut health = tokio::time::interval(Duration::from_secs(1));
        loop {
            let consuming = !consumers.is_empty();
            if polling && !self.paused && asked.is_none() {
                asked = Some(poll::next(
                    consume.clone(),
                    queue_names.clone(),
                    gate.clone(),
                ));
            }
            if self.paused {
                asked = None;
            }
            let mut deliveries = futures::stream::select_all(consumers.iter_mut());
            let next = tokio::select! {
                d = deliveries.next(), if consuming => match d {
                    // Handed over while the queue is read: give it back, take the next one.
                    Some(Ok(d)) => match gate.admit(d).await {
                        take::Admit::Run(d) => Next::Delivery(Some(Ok(*d))),
                        take::Admit::GiveBack(d, queue) => Next::GiveBack(d, queue),
                    },
                    d => Next::Delivery(d),
                },
                d = async {
                    match asked.as_mut() {
                        Some(rx) => rx.await,
                        None => std::future::pending().await,
                    }
                }, if asked.is_some() => {
                    asked = None;
                    match d {
                        Ok(d) => Next::Delivery(Some(d)),
                        // The poller ended without an answer: its channel is gone.
                        Err(_) => Next::Delivery(None),
                    }
                }
                m = self.incoming.recv() => Next::Incoming(m),
                _ = self.signals.next() => Next::Signal,
                _ = health.tick() => Next::Tick,
                done = async {
                    match self.pending.as_mut() {
                        Some(p) => p.done().await,
                        None => std::future::pending().await,
                    }
                }, if self.pending.is_some() => Next::Settled(done),
            };
            drop(deliveries);
            match next {
                Next::Settled(done) => {
                    let uuid = self
                        .pending
                        .take()
                        .map(|p| p.uuid().to_string())
                        .unwrap_or_default();
                    match deliver::settled(self, session, &uuid, done).await? {
                        Flow::Continue => {}
                        other => return Ok(other),
                    }
                }
                Next::Delivery(Some(Ok(delivery))) => {
                    let flow =
                        life::handle(self, session, (&consume, &mut consumers), delivery).await?;
                    if self.signals.leaving.is_some() && flow == Flow::Continue {
                        return Ok(Flow::Exit(self.signals.leaving.unwrap_or(0)));
                    }
                    match flow {
                        Flow::Continue => {}
                        other => return Ok(other),
                    }
                    if self.paused {
                        cancel(&consume, &mut consumers).await;
                        self.set_state(WorkerState::Paused);
                    } else {
                        if consumers.is_empty() && !polling {
                            consumers = self.consume(&consume).await?;
                        }
                        self.set_state(WorkerState::Idle);
                    }
                }
                Next::GiveBack(d, queue) => {
                    cancel(&consume, &mut consumers).await;
                    take::give_back(&d).await;
                    gate.wait_free(&queue).await;
                    if !self.paused {
                        consumers = self.consume(&consume).await?;
                    }
                }
                Next::Delivery(Some(Err(e))) => {
                    return Err(anyhow::Error::new(e).context("consuming requests"));
                }
                Next::Delivery(None) => return Ok(Flow::Reconnect),
                Next::Incoming(Some(m)) => match control::handle(self, session, &m, None).await {
                    decide::Effect::Pause => cancel(&consume, &mut consumers).await,
                    decide::Effect::Resume if consumers.is_empty() && !polling => {
                        consumers = self.consume(&consume).await?;
                    }
                    _ => {}
                },
                Next::Incoming(None) => return Ok(Flow::Exit(0)),
                Next::Signal => return Ok(Flow::Exit(self.signals.leaving.unwrap_or(0))),
                Next::Tick => {
                    if !session.alive() {
                        tracing::warn!("lost the broker connection; reconnecting");
                        return Ok(Flow::Reconnect);
                    }
                }
            }
        }
    }

    /// Consume every queue, in a per-worker shuffled order so that no queue is always first.
    async fn consume(&self, ch: &Channel) -> Result<Vec<Consumer>> {
        let mut queues = self.opts.queue_names();
        let seed = uuid::Uuid::new_v4().as_u128();
        if !queues.is_empty() {
            let len = queues.len();
            queues.rotate_left(usize::try_from(seed % len as u128).unwrap_or(0));
        }
        let mut out = Vec::new();
        for name in queues {
            let tag = format!("{}:{name}", self.opts.id);
            let c = ch
                .basic_consume(
                    name.as_str().into(),
                    tag.as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(BrokerError::amqp(format!("consume {name}")))?;
            out.push(c);
        }
        Ok(out)
    }
}

// One value per loop turn, moved straight into its handler: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Next {
    Delivery(Option<lapin::Result<lapin::message::Delivery>>),
    /// Handed over while its queue (named) was read: give it back ([`take::give_back`]).
    GiveBack(Box<lapin::message::Delivery>, String),
    Incoming(Option<Incoming>),
    Signal,
    Tick,
    /// The last result's flush, announcement and acknowledgement are done ([`deliver::settled`]).
    Settled(std::result::Result<deliver::Finished, tokio::task::JoinError>),
}

/// Stop consuming; a request already delivered but not yet started goes back to its queue.
pub(crate) async fn cancel(ch: &Channel, consumers: &mut Vec<Consumer>) {
    use futures::FutureExt;
    for mut c in consumers.drain(..) {
        let _ = ch
            .basic_cancel(c.tag(), BasicCancelOptions::default())
            .await;
        while let Some(Some(Ok(d))) = c.next().now_or_never() {
            let _ = d
                .nack(lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await;
        }
    }
}
