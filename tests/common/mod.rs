//! Shared harness for tests against the real RabbitMQ and the real autopkgtest.
//!
//! Every harness uses its own release name (so its own queues), store, spool and worker ids,
//! and deletes its queues when dropped, so tests run in parallel without seeing each other.
#![allow(dead_code)]

pub mod britney;
pub mod silent;
pub mod swift;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use adtop::broker::listen::Listener as Consumer;
use adtop::protocol::messages::TestComplete;
use adtop::protocol::names;
use futures::StreamExt;
use lapin::options::QueueDeleteOptions;
use lapin::{Channel, Connection, ConnectionProperties};

pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const ARCH: &str = "amd64";

/// autopkgtest with the `null` server installs packages through apt/dpkg on this host: runs
/// must not overlap within a test binary.
pub static AUTOPKGTEST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest a test's clean-up waits for one broker operation.
const BROKER_WAIT: Duration = Duration::from_secs(10);

pub async fn lock_autopkgtest() -> tokio::sync::MutexGuard<'static, ()> {
    AUTOPKGTEST.lock().await
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packages")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_adtop")
}

pub struct Harness {
    /// The broker (or the cluster's nodes, comma-separated) every process of the harness uses.
    pub broker: String,
    pub release: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub workers: Vec<(String, Child)>,
    pub conn: Connection,
    pub ch: Channel,
    extra_queues: Vec<String>,
    /// Set by tests whose workers never run autopkgtest, so cleanup does not wait for others'.
    pub no_autopkgtest: bool,
    /// Another store than the harness's file store (e.g. the test Swift).
    pub store_override: Option<String>,
    /// Environment for every adtop process the harness starts (e.g. Swift credentials).
    pub env: Vec<(String, String)>,
}

impl Harness {
    /// `name`: lower-case letters only; a random suffix makes the release unique.
    pub async fn new(name: &str, config: &str) -> Self {
        Self::new_on(BROKER, BROKER, name, config).await
    }

    /// A harness on another broker: `nodes` (comma-separated URLs) is what its adtop processes
    /// get as ADTOP_BROKER, `own` is where the test's own connection goes.
    pub async fn new_on(nodes: &str, own: &str, name: &str, config: &str) -> Self {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let release = format!("{name}{suffix}");
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("config.toml");
        let base = "[worker]\nheartbeat_interval = 1\nstatus_interval = 1\nretry_delay_min = 0\nretry_delay_max = 0\n";
        let text = if config.contains("[worker]") {
            config.replacen("[worker]\n", base, 1)
        } else {
            format!("{base}{config}")
        };
        std::fs::write(&config_path, text).expect("write config");
        let conn = Connection::connect(own, ConnectionProperties::default())
            .await
            .expect("RabbitMQ at 127.0.0.1:5672 (run ./scripts/test.sh, which starts it)");
        let ch = conn.create_channel().await.expect("channel");
        let env = if nodes == BROKER {
            Vec::new()
        } else {
            vec![("ADTOP_BROKER".to_string(), nodes.to_string())]
        };
        Self {
            broker: nodes.to_string(),
            release,
            dir,
            config: config_path,
            workers: Vec::new(),
            conn,
            ch,
            extra_queues: Vec::new(),
            no_autopkgtest: false,
            store_override: None,
            env,
        }
    }

    pub fn queue(&self) -> String {
        format!("debci-{}-{ARCH}", self.release)
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn store_url(&self) -> String {
        self.store_override
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.store().display()))
    }

    pub fn worker_id(&self, n: &str) -> String {
        format!("{}-{n}", self.release)
    }

    /// Start a worker serving this harness's release, running fixtures from the source dir.
    pub fn start_worker(&mut self, n: &str, extra: &[&str]) -> u32 {
        let id = self.worker_id(n);
        let log = std::fs::File::create(self.dir.path().join(format!("worker-{n}.log")))
            .expect("log file");
        let mut cmd = Command::new(bin());
        cmd.args([
            "--config",
            &self.config.display().to_string(),
            "--store",
            &self.store_url(),
            "worker",
            "--arch",
            ARCH,
        ])
        .args(["--release", &self.release, "--id", &id])
        .args([
            "--spool",
            &self
                .dir
                .path()
                .join(format!("spool-{n}"))
                .display()
                .to_string(),
        ])
        .args(["--source-dir", &fixtures().display().to_string()])
        .args(extra)
        .env("RUST_LOG", "adtop=debug,warn")
        .envs(self.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log);
        let child = cmd.spawn().expect("start worker");
        let pid = child.id();
        self.workers.push((id, child));
        pid
    }

    pub fn worker_log(&self, n: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("worker-{n}.log"))).unwrap_or_default()
    }

    pub fn adtop(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args([
                "--config",
                &self.config.display().to_string(),
                "--store",
                &self.store_url(),
            ])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run adtop")
    }

    /// `adtop submit PKG --release <ours> --arch amd64 ARGS…`, whatever it says.
    pub fn submit_output(&self, pkg: &str, args: &[&str]) -> Output {
        let mut all = vec!["submit", pkg, "--release", &self.release, "--arch", ARCH];
        all.extend_from_slice(args);
        self.adtop(&all)
    }

    /// `adtop submit PKG --release <ours> --arch amd64 ARGS…` with a short `--dedup-wait`; returns the uuid.
    pub fn submit(&self, pkg: &str, args: &[&str]) -> String {
        let mut all = vec!["--dedup-wait", "300"];
        all.extend_from_slice(args);
        let out = self.submit_output(pkg, &all);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "submit failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.split('\t').next().expect("uuid").trim().to_string()
    }

    /// A consumer of every completion announced from now on.
    pub async fn completions(&self) -> Consumer {
        self.listen(names::TESTCOMPLETE_EXCHANGE, "").await
    }

    pub async fn listen(&self, exchange: &str, key: &str) -> Consumer {
        adtop::broker::listen::listen(&self.ch, exchange, key)
            .await
            .expect("listen")
    }

    pub async fn declare_common(&self) {
        adtop::broker::topology::declare_common(&self.ch)
            .await
            .expect("declare");
    }

    pub fn track_queue(&mut self, q: &str) {
        self.extra_queues.push(q.to_string());
    }

    /// Close the test's connection; dropping the harness stops the workers and deletes the queues.
    pub async fn cleanup(mut self) {
        self.stop_workers();
        let mut queues = vec![self.queue()];
        queues.extend(self.workers.iter().map(|(id, _)| names::held_queue(id)));
        queues.append(&mut self.extra_queues);
        // Bounded: a cluster's queue without a leader may never answer, and a test must end.
        for q in queues {
            let _ = tokio::time::timeout(
                BROKER_WAIT,
                self.ch
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default()),
            )
            .await;
        }
        self.workers.clear();
        let _ = tokio::time::timeout(BROKER_WAIT, self.conn.close(200, "done".into())).await;
    }

    pub fn stop_workers(&mut self) {
        for (_, child) in &mut self.workers {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
        }
    }

    pub fn dump_logs(&self) {
        for (id, _) in &self.workers {
            let n = id.rsplit('-').next().unwrap_or("");
            eprintln!("----- worker {id} -----\n{}", self.worker_log(n));
        }
    }
}

impl Drop for Harness {
    /// On a failed test too: stop the workers and delete the queues, on a connection of its own
    /// (the test's runtime may be unwinding).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        self.stop_workers();
        let mut queues = vec![self.queue()];
        queues.extend(self.workers.iter().map(|(id, _)| names::held_queue(id)));
        queues.append(&mut self.extra_queues);
        delete_queues_now(&self.broker, queues);
    }
}

/// Delete `queues` on a connection and runtime of their own, waiting until done: usable from a
/// `Drop` while the test's runtime unwinds.
pub fn delete_queues_now(broker: &str, queues: Vec<String>) {
    let nodes: Vec<String> = adtop::broker::nodes::split(broker)
        .map(str::to_string)
        .collect();
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        // The timeout is made inside the runtime: it needs the runtime's timer.
        rt.block_on(async {
            let _ = tokio::time::timeout(BROKER_WAIT * 3, async {
                let mut conn = None;
                for node in &nodes {
                    if let Ok(c) = Connection::connect(node, ConnectionProperties::default()).await
                    {
                        conn = Some(c);
                        break;
                    }
                }
                let Some(conn) = conn else {
                    return;
                };
                if let Ok(ch) = conn.create_channel().await {
                    for q in queues {
                        let _ = ch
                            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                            .await;
                    }
                }
                let _ = conn.close(200, "".into()).await;
            })
            .await;
        });
    })
    .join();
}

/// Queues a test made without a [`Harness`], deleted when it ends, passed or failed.
pub struct Doomed {
    pub queues: Vec<String>,
}

impl Doomed {
    pub fn new(queues: &[&str]) -> Self {
        Self {
            queues: queues.iter().map(|q| q.to_string()).collect(),
        }
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        delete_queues_now(BROKER, std::mem::take(&mut self.queues));
    }
}

/// Wait for the completion of `uuid`, skipping others.
pub async fn wait_completion(c: &mut Consumer, uuid: &str, timeout: Duration) -> TestComplete {
    wait_completion_delivery(c, uuid, timeout).await.0
}

/// [`wait_completion`], with the delivery it came in (its headers).
pub async fn wait_completion_delivery(
    c: &mut Consumer,
    uuid: &str,
    timeout: Duration,
) -> (TestComplete, lapin::message::Delivery) {
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let d = tokio::time::timeout_at(until, c.next())
            .await
            .unwrap_or_else(|_| panic!("no completion for {uuid} within {timeout:?}"))
            .expect("consumer open")
            .expect("delivery");
        let m: TestComplete = serde_json::from_slice(&d.data).expect("completion JSON");
        if m.uuid == uuid {
            return (m, d);
        }
    }
}

/// Count further completions of `uuid` during `window`.
pub async fn count_completions(c: &mut Consumer, uuid: &str, window: Duration) -> usize {
    let until = tokio::time::Instant::now() + window;
    let mut n = 0;
    while let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, c.next()).await {
        if serde_json::from_slice::<TestComplete>(&d.data)
            .map(|m| m.uuid == uuid)
            .unwrap_or(false)
        {
            n += 1;
        }
    }
    n
}

/// Wait until `f` is true, polling.
/// For a test that needs RabbitMQ's management API: a panic that says how to get it.
pub async fn need_management() {
    let m = adtop::broker::management::Management::new("http://127.0.0.1:15672", BROKER)
        .expect("management URL");
    if let Err(e) = m.overview().await {
        panic!(
            "this test needs RabbitMQ's management API on 127.0.0.1:15672 ({e}): rabbitmq-plugins enable rabbitmq_management (./scripts/test.sh does it)"
        );
    }
}

pub async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + timeout;
    while !f() {
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Read a result's files from the file store.
pub fn result_files(store: &Path, c: &TestComplete) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = store.join(&c.container).join(&c.swift_dir);
    let tar = std::fs::read(dir.join("result.tar")).expect("result.tar");
    adtop::worker::results::tar_members(&tar)
        .expect("tar")
        .into_iter()
        .collect()
}

pub fn log_text(store: &Path, c: &TestComplete) -> String {
    let gz =
        std::fs::read(store.join(&c.container).join(&c.swift_dir).join("log.gz")).expect("log.gz");
    let mut s = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut s)
        .expect("gunzip");
    s
}

/// Send a control message to one worker and wait for its answer.
pub async fn control(
    h: &Harness,
    worker_id: &str,
    c: adtop::protocol::messages::Control,
) -> adtop::protocol::messages::ControlReply {
    let reply_key = format!("reply-{}", uuid::Uuid::new_v4());
    let mut replies = adtop::broker::listen::listen(&h.ch, "amq.direct", &reply_key)
        .await
        .expect("reply queue");
    let props = lapin::BasicProperties::default().with_reply_to(replies.queue());
    let body = serde_json::to_vec(&c).expect("json");
    h.ch.basic_publish(
        names::CONTROL_EXCHANGE.into(),
        names::control_key(worker_id).as_str().into(),
        Default::default(),
        &body,
        props,
    )
    .await
    .expect("publish control");
    let d = tokio::time::timeout(Duration::from_secs(15), replies.next())
        .await
        .expect("control reply in time")
        .expect("consumer open")
        .expect("delivery");
    serde_json::from_slice(&d.data).expect("reply JSON")
}

/// Publish a raw body to this harness's request queue, as a misbehaving client would.
pub async fn publish_raw(h: &Harness, body: &[u8]) {
    h.ch.basic_publish(
        "".into(),
        h.queue().as_str().into(),
        Default::default(),
        body,
        lapin::BasicProperties::default().with_delivery_mode(2),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm");
}

pub async fn depth(h: &Harness, queue: &str) -> (u32, u32) {
    let ch = h.conn.create_channel().await.expect("channel");
    let r = adtop::broker::topology::peek_counts(&ch, queue)
        .await
        .expect("peek")
        .unwrap_or((0, 0));
    let _ = ch.close(200, "".into()).await;
    r
}

/// Wait until `queue`'s (ready, consumers) satisfy `ok`, polling; returns them.
pub async fn wait_depth(
    h: &Harness,
    queue: &str,
    what: &str,
    ok: impl Fn((u32, u32)) -> bool,
) -> (u32, u32) {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = depth(h, queue).await;
        if ok(d) {
            return d;
        }
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for {what} on {queue}: (ready, consumers) = {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait for a heartbeat of worker `id` sent after this call (on a queue bound now).
pub async fn wait_heartbeat(h: &Harness, id: &str, timeout: Duration) {
    let mut c = h.listen(names::HEARTBEAT_EXCHANGE, "").await;
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let d = tokio::time::timeout_at(until, c.next())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat from {id} within {timeout:?}"))
            .expect("consumer open")
            .expect("delivery");
        if serde_json::from_slice::<adtop::protocol::messages::Heartbeat>(&d.data)
            .is_ok_and(|hb| hb.id == id)
        {
            return;
        }
    }
}

/// Run `rabbitmqctl` (RabbitMQ's own tool, installed with it) on the local broker; fails the
/// test with its error.
pub fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl (installed with rabbitmq-server; ./scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A completion the worker marked as possibly announced before (`x-adtop-repeat`).
pub fn is_repeat(d: &lapin::message::Delivery) -> bool {
    d.properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(names::H_REPEAT))
        .is_some_and(|v| matches!(v, lapin::types::AMQPValue::Boolean(true)))
}

pub async fn wait_log(h: &Harness, worker: &str, needle: &str, timeout: Duration) {
    eventually(
        &format!("{needle:?} in worker {worker}'s log"),
        timeout,
        || h.worker_log(worker).contains(needle),
    )
    .await;
}

/// Follow a job's live log on `adtop.log` until `needle` shows up.
pub async fn wait_live(h: &Harness, uuid: &str, needle: &str, timeout: Duration) -> String {
    let mut c = h.listen(names::LOG_EXCHANGE, uuid).await;
    let mut text = String::new();
    let until = tokio::time::Instant::now() + timeout;
    while !text.contains(needle) {
        let d = tokio::time::timeout_at(until, c.next())
            .await
            .unwrap_or_else(|_| {
                panic!("{needle:?} not in the live log of {uuid} within {timeout:?}; got {text:?}")
            })
            .expect("consumer open")
            .expect("delivery");
        let chunk: adtop::protocol::messages::LogChunk =
            serde_json::from_slice(&d.data).expect("log chunk JSON");
        text.push_str(&chunk.data);
    }
    text
}
