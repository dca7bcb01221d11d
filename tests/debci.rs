//! adtop against the real debci (Debian's `debci`, `debci-worker`, `debci-collector` 3.6):
//! `debci enqueue` → `adtop worker --dialect debci` → `debci collector` → debci's database, and
//! `adtop submit --dialect debci` → debci's own `debci worker` → its collector. Each test has
//! its own debci configuration directory, data directory (sqlite database), backend name and
//! results queue, so tests run in parallel with each other and with the other suites.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use adtop::protocol::debci::{DebciRequest, derived_uuid};
use adtop::protocol::names;
use common::*;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::AMQPValue;

const RUN: Duration = Duration::from_secs(120);

/// One private debci installation: configuration, data and database under a temporary dir.
struct Debci {
    dir: tempfile::TempDir,
    backend: String,
    results: String,
    children: Vec<Child>,
}

impl Debci {
    fn new(h: &mut Harness) -> Self {
        assert!(
            Path::new("/usr/share/debci/bin/debci-worker").exists(),
            "debci is not installed: apt-get install -y --no-install-recommends debci debci-worker debci-collector (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = format!("t{}", &h.release);
        let results = format!("debci_results_{}", h.release);
        std::fs::create_dir_all(dir.path().join("conf")).expect("conf");
        std::fs::create_dir_all(dir.path().join("data")).expect("data");
        std::fs::write(
            dir.path().join("conf/debci.conf"),
            format!(
                "debci_data_basedir={}\ndebci_amqp_server=amqp://guest:guest@127.0.0.1\ndebci_amqp_results_queue={results}\ndebci_arch={ARCH}\ndebci_backend={backend}\ndebci_suite=unstable\ndebci_quiet=true\n",
                dir.path().join("data").display()
            ),
        )
        .expect("debci.conf");
        h.track_queue(&format!("debci-tests-{ARCH}-{backend}"));
        h.track_queue(&results);
        let d = Self {
            dir,
            backend,
            results,
            children: Vec::new(),
        };
        d.run(&["migrate"]);
        d
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    fn queue(&self) -> String {
        format!("debci-tests-{ARCH}-{}", self.backend)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("debci");
        c.args(args)
            .env("debci_config_dir", self.conf())
            .current_dir(self.dir.path());
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run debci");
        assert!(
            out.status.success(),
            "debci {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// A long-running debci program, in its own process group (killed on drop).
    fn spawn(&mut self, args: &[&str], env: &[(&str, &str)]) {
        let log =
            std::fs::File::create(self.dir.path().join(format!("{}.log", args[0]))).expect("log");
        let child = self
            .cmd(args)
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start debci");
        self.children.push(child);
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn sql(&self, query: &str) -> String {
        let out = Command::new("sqlite3")
            .arg(self.dir.path().join("data/debci.sqlite3"))
            .arg(query)
            .output()
            .expect("sqlite3");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn newest_run_id(&self, pkg: &str) -> String {
        self.sql(&format!(
            "select max(jobs.run_id) from jobs join packages on packages.id = jobs.package_id where packages.name = '{pkg}'"
        ))
    }

    /// Wait until the collector recorded a status for `run_id`; returns `status|version`.
    async fn recorded(&self, run_id: &str) -> String {
        let q = format!(
            "select status || '|' || version from jobs where run_id = {run_id} and status is not null"
        );
        let until = std::time::Instant::now() + RUN;
        loop {
            let s = self.sql(&q);
            if !s.is_empty() {
                return s;
            }
            assert!(
                std::time::Instant::now() < until,
                "debci's collector recorded nothing for run {run_id}; collector log:\n{}",
                self.log("collector")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The log of a recorded job, as debci keeps it (`data/autopkgtest/.../log.gz`).
    fn stored_log(&self, pkg: &str, run_id: &str) -> String {
        let p = self.dir.path().join(format!(
            "data/autopkgtest/unstable/{ARCH}/{}/{pkg}/{run_id}/log.gz",
            &pkg[..1]
        ));
        let gz = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut s)
            .expect("gunzip");
        s
    }

    /// A job in debci's database without enqueueing it (as debci's web UI creates one).
    fn create_job(&self, pkg: &str, trigger: &str) -> String {
        let script = "require 'debci/job'; u = Debci::User.find_or_create_by!(username: 'adtop-test'); p = Debci::Package.find_or_create_by!(name: ARGV[0]); puts Debci::Job.create!(package: p, suite: 'unstable', arch: ARGV[2], requestor: u, trigger: ARGV[1]).id";
        let out = Command::new("ruby")
            .args(["-e", script, pkg, trigger, ARCH])
            .env("debci_config_dir", self.conf())
            .current_dir(self.dir.path())
            .stderr(Stdio::inherit())
            .output()
            .expect("ruby");
        assert!(out.status.success(), "create a debci job");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Debci {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
    }
}

fn worker_args<'a>(d: &'a Debci, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--dialect",
        "debci",
        "--dialect",
        "autopkgtest-cloud",
        "--backend",
        &d.backend,
        "--debci-results-queue",
        &d.results,
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn debci_enqueue_runs_on_adtop_and_its_collector_records_pass_and_fail() {
    let _lock = lock_autopkgtest().await;
    let mut h = Harness::new("debcia", "").await;
    let mut d = Debci::new(&mut h);
    let mut done = h.completions().await;
    // One worker serving both dialects' queues for its architecture.
    h.start_worker("w", &worker_args(&d, &[]));
    wait_log(&h, "w", "connected", RUN).await;
    d.spawn(&["collector"], &[]);

    d.run(&["enqueue", "--trigger", "fx-pass/1.0 other/2+b1", "fx-pass"]);
    let pass_id = d.newest_run_id("fx-pass");
    d.run(&["enqueue", "fx-fail"]);
    let fail_id = d.newest_run_id("fx-fail");

    let pass = d.recorded(&pass_id).await;
    assert!(pass.starts_with("pass|"), "fx-pass recorded as {pass}");
    let fail = d.recorded(&fail_id).await;
    assert!(fail.starts_with("fail|"), "fx-fail recorded as {fail}");
    assert_eq!(pass, "pass|1.0", "version from testpkg-version");
    let worker = d.sql(&format!(
        "select workers.name from jobs join workers on workers.id = jobs.worker_id where run_id = {pass_id}"
    ));
    assert_eq!(worker, h.worker_id("w"));
    let log = d.stored_log("fx-pass", &pass_id);
    assert!(log.contains("fx-pass"), "debci's stored log: {log}");

    // adtop's own names too: a completion, the store, `adtop logs` and `adtop results`.
    let body = DebciRequest::parse(
        format!("fx-pass unstable run-id:{pass_id} trigger:fx-pass%2F1.0+other%2F2%2Bb1")
            .as_bytes(),
    )
    .expect("body");
    let uuid = derived_uuid(&d.queue(), body.body().as_bytes());
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!((c.exitcode, c.release.as_str()), (0, "unstable"));
    assert_eq!(c.triggers, "fx-pass/1.0 other/2+b1");
    let logs = h.adtop(&["logs", &uuid]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("fx-pass"),
        "adtop logs: {}",
        String::from_utf8_lossy(&logs.stderr)
    );
    let results = h.adtop(&["results", "--json"]);
    let text = String::from_utf8_lossy(&results.stdout);
    assert!(text.contains(&uuid) && text.contains(&d.queue()), "{text}");

    // `adtop retry` runs the same debci job again under a new uuid; the collector records it
    // again under the same run id.
    let before = d.sql(&format!(
        "select updated_at from jobs where run_id = {pass_id}"
    ));
    let out = h.adtop(&["retry", &uuid]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "retry: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = stdout.split_whitespace().next().expect("uuid").to_string();
    assert_ne!(new, uuid);
    let again = wait_completion(&mut done, &new, RUN).await;
    assert_eq!(again.exitcode, 0);
    let until = std::time::Instant::now() + RUN;
    while d.sql(&format!(
        "select updated_at from jobs where run_id = {pass_id}"
    )) == before
    {
        assert!(
            std::time::Instant::now() < until,
            "the collector did not record the retry; its log:\n{}",
            d.log("collector")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(d.recorded(&pass_id).await.starts_with("pass|"));
    h.cleanup().await;
}

#[tokio::test]
async fn adtop_submit_runs_on_debcis_own_worker_and_collector() {
    let mut h = Harness::new("debcib", "").await;
    let mut d = Debci::new(&mut h);
    h.no_autopkgtest = true;
    let queue = format!("debci-tests-{ARCH}-fake{}", h.release);
    h.track_queue(&queue);
    let run_id = d.create_job("fx-pass", "fx-pass/2.0");
    let out = h.adtop(&[
        "submit",
        "--dialect",
        "debci",
        "fx-pass",
        "--release",
        "unstable",
        "--arch",
        ARCH,
        "--debci-queue",
        &queue,
        "--run-id",
        &run_id,
        "--trigger",
        "fx-pass/2.0",
        "--priority",
        "7",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "submit: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&queue), "{stdout}");
    assert_eq!(depth(&h, &queue).await.0, 1);
    // debci's own worker with its fake backend, on that queue (debci_amqp_queue).
    d.spawn(
        &["worker", "--backend", "fake"],
        &[("debci_amqp_queue", &queue), ("DEBCI_FAKE_RESULT", "pass")],
    );
    d.spawn(&["collector"], &[]);
    let rec = d.recorded(&run_id).await;
    assert!(
        rec.starts_with("pass|"),
        "{rec}; worker log:\n{}",
        d.log("worker")
    );
    assert_eq!(
        d.sql(&format!("select trigger from jobs where run_id = {run_id}")),
        "fx-pass/2.0"
    );
    assert!(d.stored_log("fx-pass", &run_id).contains("Passed"));
    // A bad priority or a missing run id is refused before anything is sent.
    let bad = h.adtop(&[
        "submit",
        "--dialect",
        "debci",
        "fx-pass",
        "--release",
        "unstable",
        "--arch",
        ARCH,
        "--debci-queue",
        &queue,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--run-id"));
    h.cleanup().await;
}

const RECORDING_RUNNER: &str = r#"#!/bin/sh
# A stand-in for autopkgtest: records its command line in the log, passes.
for a; do case "$a" in --output-dir=*) out="${a#--output-dir=}" ;; esac; done
mkdir -p "$out"
echo "fx-pass 1.0" > "$out/testpkg-version"
for a; do echo "arg: $a"; done | tee "$out/log"
"#;

/// Every message in `adtop.rejected` from `queue`: (body, reason code, reason). Others' go back.
async fn rejected_from(h: &Harness, queue: &str) -> Vec<(Vec<u8>, String, String)> {
    let mut ours = Vec::new();
    let mut others = Vec::new();
    while let Some(m) =
        h.ch.basic_get(names::REJECTED_QUEUE.into(), BasicGetOptions::default())
            .await
            .expect("get")
    {
        let headers = m.delivery.properties.headers().clone().unwrap_or_default();
        let get = |k: &str| match headers.inner().get(k) {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            _ => String::new(),
        };
        if get(names::H_SOURCE_QUEUE) == queue {
            ours.push((
                m.delivery.data.clone(),
                get(names::H_REASON_CODE),
                get(names::H_REASON),
            ));
            m.delivery
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        } else {
            others.push(m.delivery);
        }
    }
    for d in others {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .expect("nack");
    }
    ours
}

async fn publish_priority(h: &Harness, queue: &str, body: &[u8], priority: u8) {
    h.ch.basic_publish(
        "".into(),
        queue.into(),
        Default::default(),
        body,
        lapin::BasicProperties::default()
            .with_delivery_mode(2)
            .with_priority(priority),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm");
}

#[tokio::test]
async fn bad_debci_requests_are_rejected_with_reasons_and_the_worker_goes_on() {
    let mut h = Harness::new("debcic", "").await;
    h.no_autopkgtest = true;
    let d = Debci::new(&mut h);
    let runner = h.dir.path().join("runner.sh");
    std::fs::write(&runner, RECORDING_RUNNER).expect("runner");
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let runner = runner.display().to_string();
    let mut done = h.completions().await;
    h.start_worker("w", &worker_args(&d, &["--runner", &runner]));
    wait_log(&h, "w", "connected", RUN).await;
    let queue = d.queue();
    let bad_id = b"hello unstable run-id:1;touch${IFS}/tmp/pwned".to_vec();
    let hostile = b"../../etc unstable run-id:5".to_vec();
    publish_priority(&h, &queue, &bad_id, 5).await;
    publish_priority(&h, &queue, &hostile, 5).await;
    let src = "deb http://deb.example.org/debian sid main";
    let good = format!(
        "fx-pass unstable run-id:77 pin-packages:experimental=src:fx-pass extra-apt-source:{}",
        base64_encode(src)
    );
    publish_priority(&h, &queue, good.as_bytes(), 5).await;
    let uuid = derived_uuid(&queue, good.as_bytes());
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0, "the worker went on after the bad requests");
    // debci's parameters reached the runner as debci maps them.
    let log = log_text(&h.store(), &c);
    for want in [
        "arg: --pin-packages=experimental=src:fx-pass",
        &format!("arg: --add-apt-source={src}"),
    ] {
        assert!(log.contains(want), "{want} not in {log}");
    }
    assert!(
        !log.contains("--add-apt-release"),
        "no release added with an apt source: {log}"
    );

    let rejected = rejected_from(&h, &queue).await;
    let code_of = |b: &[u8]| {
        rejected
            .iter()
            .find(|r| r.0 == b)
            .map(|r| (r.1.clone(), r.2.clone()))
    };
    let (code, reason) = code_of(&bad_id).expect("bad run-id rejected");
    assert_eq!(code, "bad-run-id");
    assert!(reason.contains("invalid run-id"), "{reason}");
    let (code, reason) = code_of(&hostile).expect("hostile package rejected");
    assert_eq!(code, "bad-package");
    assert!(reason.contains("../../etc"), "{reason}");
    assert_eq!(rejected.len(), 2);
    // Nothing of it ran: its result directory name is the run id, never a path.
    assert!(!Path::new("/tmp/pwned").exists());
    h.cleanup().await;
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_debci_queue_shows_its_depth_and_requests() {
    let mut h = Harness::new("debcid", "").await;
    h.no_autopkgtest = true;
    let d = Debci::new(&mut h);
    // Queued by debci itself, nobody consuming.
    d.run(&[
        "enqueue",
        "--priority",
        "8",
        "--trigger",
        "fx-pass/3",
        "fx-pass",
    ]);
    d.run(&["enqueue", "fx-fail"]);
    let queue = d.queue();
    let out = h.adtop(&["queues", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "queues --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let q = v
        .as_array()
        .expect("list")
        .iter()
        .find(|q| q["name"] == queue.as_str())
        .unwrap_or_else(|| panic!("{queue} not listed: {v}"));
    assert_eq!(q["ready"], 2);
    assert_eq!(q["no_consumer"], true);
    assert_eq!(q["dialect"], "debci");
    assert_eq!(q["max_priority"], 10);

    // The console's Requests view reads the same rows (`ops::read::browse`).
    let s = adtop::broker::Session::open(BROKER, "debci test")
        .await
        .expect("session");
    let (total, rows) = adtop::ops::read::browse(&s, &queue, 0, 10)
        .await
        .expect("browse");
    assert_eq!(total, 2);
    assert_eq!(rows[0].package, "fx-pass", "priority 8 first");
    assert_eq!(rows[0].priority, Some(8));
    assert_eq!(rows[0].triggers, ["fx-pass/3"]);
    assert_eq!(rows[1].package, "fx-fail");
    assert_eq!(rows[1].priority, Some(5));
    // The console itself: the queue with its priority and depth, then its requests.
    let console = format!(
        "XDG_DATA_HOME={data} {bin} --config {cfg} --store {store}",
        data = h.dir.path().display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url()
    );
    let t = common::tmux::Tmux::start(&format!("adtop-{}", h.release), &console);
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues")
    })
    .await;
    t.keys(&["/"]);
    t.keys(&[&queue, "Enter"]);
    t.wait_for(
        "the debci queue, priority 10, 2 ready",
        Duration::from_secs(15),
        |s| {
            // PRIO is a column of its own, shown when a queue on screen has one.
            s.contains("PRIO")
                && s.lines().any(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    let at = w.iter().position(|x| *x == queue);
                    at.and_then(|i| w.get(i + 1)) == Some(&"2") && w.contains(&"10")
                })
        },
    )
    .await;
    t.keys(&["Enter"]);
    t.wait_for("its two requests", Duration::from_secs(15), |s| {
        s.contains("fx-pass") && s.contains("fx-fail") && s.contains("fx-pass/3")
    })
    .await;
    drop(t);
    // Cancel by the uuid the row shows, as the console and `adtop cancel` do.
    let uuid = rows[1].uuid.clone().expect("uuid");
    let out = h.adtop(&["cancel", &queue, &uuid]);
    assert!(
        out.status.success(),
        "cancel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.close().await;
    assert_eq!(depth(&h, &queue).await.0, 1);
    h.cleanup().await;
}
