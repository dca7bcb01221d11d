//! On a three-node RabbitMQ cluster (`scripts/cluster.sh`, which `scripts/test.sh` starts beside
//! the default broker): a worker whose node dies goes on through another, a quorum queue's
//! leader dies under two consumers without a request lost or run twice, and a batch submit
//! through a node kill queues every line once or says it did not. The tests kill nodes, so they
//! take turns; each revives what it killed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use adtop::protocol::messages::TestComplete;
use common::*;
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::Value;

const RUN: Duration = Duration::from_secs(240);
const QUORUM: &str = "[queues]\ntype = \"quorum\"\n";

/// The cluster's nodes: AMQP URLs and management URLs, from `scripts/cluster.sh start`.
struct Cluster {
    amqp: Vec<String>,
    mgmt: Vec<String>,
}

fn cluster() -> Option<Cluster> {
    let split = |v: String| v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    match (
        std::env::var("ADTOP_CLUSTER_BROKERS"),
        std::env::var("ADTOP_CLUSTER_MGMT"),
    ) {
        (Ok(a), Ok(m)) if !a.trim().is_empty() => Some(Cluster {
            amqp: split(a),
            mgmt: split(m),
        }),
        _ => {
            assert!(
                std::env::var_os("ADTOP_REQUIRE_CLUSTER").is_none(),
                "ADTOP_REQUIRE_CLUSTER is set but ADTOP_CLUSTER_BROKERS is not"
            );
            eprintln!(
                "skipped: no RabbitMQ cluster; run `eval \"$(sudo scripts/cluster.sh start)\"` first (scripts/test.sh does)"
            );
            None
        }
    }
}

/// Killing nodes is for one test at a time.
static NODES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn script(args: &[&str]) -> String {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
        .args(args)
        .output()
        .expect("scripts/cluster.sh");
    assert!(
        out.status.success(),
        "cluster.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Node n (1-3) up again, whatever the test before did.
fn revive_all() {
    for line in script(&["status"]).lines() {
        if line.ends_with(" down") {
            let n = line
                .strip_prefix("adtop-c")
                .and_then(|r| r.chars().next())
                .expect("node number")
                .to_string();
            script(&["revive", &n]);
        }
    }
}

fn node_number(node: &str) -> String {
    node.strip_prefix("adtop-c")
        .and_then(|r| r.split('@').next())
        .expect("an adtop-cN node")
        .to_string()
}

async fn mgmt_get(c: &Cluster, path: &str) -> Value {
    let client = reqwest::Client::new();
    for base in &c.mgmt {
        if let Ok(r) = client
            .get(format!("{base}{path}"))
            .basic_auth("guest", Some("guest"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            && r.status().is_success()
        {
            return r.json().await.expect("management JSON");
        }
    }
    panic!("no management API of the cluster answered {path}");
}

/// The node a connection named `name` is on, if it is connected now. Connection stats reach the
/// management API a little late, so callers wait for them.
async fn node_of(c: &Cluster, name: &str) -> Option<String> {
    let conns = mgmt_get(c, "/api/connections").await;
    conns.as_array()?.iter().find_map(|x| {
        (x["client_properties"]["connection_name"].as_str() == Some(name))
            .then(|| x["node"].as_str().map(str::to_string))
            .flatten()
    })
}

async fn wait_node_of(c: &Cluster, name: &str, not: Option<&str>) -> String {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(n) = node_of(c, name).await
            && Some(n.as_str()) != not
        {
            return n;
        }
        assert!(
            std::time::Instant::now() < until,
            "connection {name:?} not seen on the cluster (other than {not:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await; // poll
    }
}

async fn leader_of(c: &Cluster, queue: &str) -> String {
    let q = mgmt_get(c, &format!("/api/queues/%2f/{queue}")).await;
    assert_eq!(q["type"], "quorum", "{q}");
    q["leader"]
        .as_str()
        .or_else(|| q["node"].as_str())
        .expect("leader")
        .to_string()
}

/// A harness whose processes get every node (first node first) and whose own connection is on
/// node 3, which the tests do not kill.
async fn harness(c: &Cluster, name: &str, config: &str) -> Harness {
    let mut h = Harness::new_on(&c.amqp.join(","), &c.amqp[2], name, config).await;
    h.env
        .push(("ADTOP_MANAGEMENT".to_string(), c.mgmt[2].clone()));
    h.declare_common().await;
    h
}

/// A batch file of `n` fx-pass requests for the harness's queue, each with its own trigger.
fn write_batch(h: &Harness, n: usize) -> std::path::PathBuf {
    let batch = h.dir.path().join("batch.jsonl");
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"package\":\"fx-pass\",\"release\":\"{}\",\"arch\":\"{ARCH}\",\"triggers\":[\"fx-pass/{i}\"]}}\n",
                h.release
            )
        })
        .collect();
    std::fs::write(&batch, lines).expect("batch");
    batch
}

/// A stand-in for autopkgtest (its command line and output-dir contract, no dpkg), for the
/// tests about the broker that run a hundred requests.
const QUICK_RUNNER: &str = r#"#!/bin/sh
for a; do case "$a" in --output-dir=*) out="${a#--output-dir=}" ;; esac; done
mkdir -p "$out"
echo "fx-pass 1.0" > "$out/testpkg-version"
sleep 0.2
echo "quick runner done" | tee -a "$out/log"
"#;

fn quick_runner(h: &Harness) -> String {
    let path = h.dir.path().join("quick-runner");
    std::fs::write(&path, QUICK_RUNNER).expect("runner");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_node_dies_mid_test_goes_on_through_another_and_announces_once() {
    let Some(c) = cluster() else { return };
    let _nodes = NODES.lock().await;
    let _apt = lock_autopkgtest().await;
    revive_all();
    let mut h = harness(&c, "clusterkill", QUORUM).await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let conn_name = format!("adtop worker {}", h.worker_id("a"));
    let first = wait_node_of(&c, &conn_name, None).await;
    let uuid = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=15"]);
    wait_live(&h, &uuid, "tick 1", RUN).await;
    script(&["kill", &node_number(&first)]);

    let moved = wait_node_of(&c, &conn_name, Some(&first)).await;
    assert_ne!(moved, first);
    let m = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(m.exitcode, 0, "{m:?}");
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(8)).await,
        0,
        "announced more than once"
    );
    wait_depth(&h, &h.queue(), "the request acknowledged", |(ready, _)| {
        ready == 0
    })
    .await;
    script(&["revive", &node_number(&first)]);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_of_a_quorum_queue_dies_under_two_workers_and_each_request_runs_once() {
    let Some(c) = cluster() else { return };
    let _nodes = NODES.lock().await;
    revive_all();
    let mut h = harness(&c, "clusterleader", QUORUM).await;
    h.no_autopkgtest = true;
    let mut done = h.completions().await;
    // Declare the queue (quorum) before anything is queued.
    let out = h.adtop(&["queues", "declare", "--release", &h.release, "--arch", ARCH]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let leader = leader_of(&c, &h.queue()).await;
    // `adtop queues` names the type, the leader and the replicas. The management API lists a
    // new queue only after its next statistics round (5 s), so ask until it does.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    let ours = loop {
        let out = h.adtop(&["queues", "--json"]);
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(q) = listed
            .as_array()
            .and_then(|a| a.iter().find(|q| q["name"] == h.queue().as_str()))
        {
            break q.clone();
        }
        assert!(
            std::time::Instant::now() < until,
            "{} not listed by adtop queues: {listed} {}",
            h.queue(),
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(500)).await; // poll
    };
    assert_eq!(ours["type"], "quorum", "{ours}");
    assert_eq!(ours["node"], leader.as_str(), "{ours}");
    assert_eq!(ours["replicas"].as_array().map(Vec::len), Some(3), "{ours}");

    let batch = write_batch(&h, 100);
    let out = h.adtop(&["submit", "--from", &batch.display().to_string(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uuids: HashSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["uuid"].as_str().map(str::to_string))
        .collect();
    assert_eq!(uuids.len(), 100);

    // Worker b lists the nodes in another order, so the two are on different nodes.
    let runner = quick_runner(&h);
    h.start_worker("a", &["--runner", &runner]);
    let rotated = [&c.amqp[1], &c.amqp[2], &c.amqp[0]];
    let mut b_args = vec!["--runner", runner.as_str()];
    for u in rotated {
        b_args.extend(["--broker", u.as_str()]);
    }
    h.start_worker("b", &b_args);

    let mut seen: HashMap<String, usize> = HashMap::new();
    let until = tokio::time::Instant::now() + RUN;
    let mut killed = false;
    while seen.len() < 100 {
        let d = tokio::time::timeout_at(until, done.next())
            .await
            .unwrap_or_else(|_| panic!("{} of 100 completed in time", seen.len()))
            .expect("consumer open")
            .expect("delivery");
        let m: TestComplete = serde_json::from_slice(&d.data).expect("completion");
        if uuids.contains(&m.uuid) {
            let n = seen.entry(m.uuid).or_default();
            *n += usize::from(!is_repeat(&d));
        }
        if !killed && seen.len() >= 20 {
            script(&["kill", &node_number(&leader)]);
            killed = true;
        }
    }
    assert!(killed);
    // Late duplicates would arrive within a few seconds of the last completion.
    let until = tokio::time::Instant::now() + Duration::from_secs(8);
    while let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, done.next()).await {
        if let Ok(m) = serde_json::from_slice::<TestComplete>(&d.data)
            && uuids.contains(&m.uuid)
        {
            *seen.entry(m.uuid).or_default() += usize::from(!is_repeat(&d));
        }
    }
    // A completion published as the leader died may have been routed without its confirm
    // coming back: the worker announces it again, marked as a possible repeat. Unmarked, once.
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "announced more than once: {twice:?}");
    assert_ne!(leader_of(&c, &h.queue()).await, leader, "a new leader");
    script(&["revive", &node_number(&leader)]);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_dies_during_a_batch_submit_and_every_line_is_queued_once_or_reported() {
    let Some(c) = cluster() else { return };
    let _nodes = NODES.lock().await;
    revive_all();
    let mut h = harness(&c, "clustersubmit", QUORUM).await;
    h.no_autopkgtest = true;
    let batch = write_batch(&h, 1000);
    // submit talks to node 1 first; node 1 dies a few hundred lines in.
    let mut child = Command::new(bin())
        .args(["--config", &h.config.display().to_string()])
        .args(["submit", "--from", &batch.display().to_string(), "--json"])
        .env("ADTOP_BROKER", c.amqp.join(","))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("submit");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut killed = false;
        let mut out = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            out.push(line);
            if !killed && out.len() == 200 {
                script(&["kill", "1"]);
                killed = true;
            }
        }
        (out, killed)
    });
    // A submit that never ends fails the test here, instead of holding the cluster for ever.
    let read = tokio::time::timeout(
        RUN,
        tokio::task::spawn_blocking(move || reader.join().expect("reader")),
    )
    .await;
    let Ok(read) = read else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("submit did not end within {RUN:?} of node 1's kill");
    };
    let (out, killed) = read.expect("join");
    let _ = child.wait();
    assert!(killed, "the batch ended before node 1 was killed");
    let reports: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON report line"))
        .collect();
    assert_eq!(reports.len(), 1000, "every line reported");
    let status = |s: &str| {
        reports
            .iter()
            .filter(|r| r["status"] == s)
            .filter_map(|r| r["uuid"].as_str().map(str::to_string))
            .collect::<HashSet<_>>()
    };
    let queued = status("queued");
    let unknown = status("unknown");
    let mut statuses: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &reports {
        *statuses
            .entry(r["status"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    // The batch goes on through another node, and never gives up (`skipped`). How many lines
    // end `unknown` or `failed` depends on the timing: up to submit::IN_FLIGHT in flight on
    // node 1 when it died, and more while the queue elects a new leader (seen in six runs:
    // 401 to 890 queued, up to 593 unknown and 234 failed), so a share of `queued` is not the
    // test. The 200 reported before the kill were queued through node 1; more than those were
    // queued in all. The checks below are the contract: nothing twice, nothing lost, nothing
    // queued that was reported as not sent.
    assert!(!statuses.contains_key("skipped"), "{statuses:?}");
    assert!(queued.len() > 200, "the batch went on: {statuses:?}");

    // Drain the queue through node 3: each uuid at most once, every `queued` one there, nothing
    // that was reported as not sent.
    let mut found: HashMap<String, usize> = HashMap::new();
    // The queue's leader died with node 1: until the others elect a new one, a get is refused
    // (`nodedown`) and closes the connection. Ask again on a fresh one until it answers.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got =
            h.ch.basic_get(h.queue().as_str().into(), BasicGetOptions::default())
                .await;
        let m = match got {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                assert!(std::time::Instant::now() < until, "get: {e}");
                // Polling the election's end: nothing to wait on but the broker's answer.
                tokio::time::sleep(Duration::from_millis(200)).await;
                // INTERNAL_ERROR is a hard error: it closes the connection too.
                h.conn = lapin::Connection::connect(&c.amqp[2], Default::default())
                    .await
                    .expect("node 3 again");
                h.ch = h.conn.create_channel().await.expect("a fresh channel");
                continue;
            }
        };
        let body = String::from_utf8_lossy(&m.delivery.data).to_string();
        let params: Value = body
            .split_once('\n')
            .and_then(|(_, j)| serde_json::from_str(j).ok())
            .expect("request JSON");
        *found
            .entry(params["uuid"].as_str().expect("uuid").to_string())
            .or_default() += 1;
        m.delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
    }
    let twice: Vec<_> = found.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "queued twice: {twice:?}");
    let missing: Vec<_> = queued.iter().filter(|u| !found.contains_key(*u)).collect();
    assert!(
        missing.is_empty(),
        "reported queued but not in the queue: {missing:?}"
    );
    let stray: Vec<_> = found
        .keys()
        .filter(|u| !queued.contains(*u) && !unknown.contains(*u))
        .collect();
    assert!(
        stray.is_empty(),
        "in the queue but reported as not sent: {stray:?}"
    );
    script(&["revive", "1"]);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_shows_a_node_lost_and_keeps_live_depths_through_another_node() {
    let Some(c) = cluster() else { return };
    let _nodes = NODES.lock().await;
    revive_all();
    let mut h = harness(&c, "clustercon", QUORUM).await;
    h.no_autopkgtest = true;
    let out = h.adtop(&["queues", "declare", "--release", &h.release, "--arch", ARCH]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queue = h.queue();
    let console = format!(
        "XDG_DATA_HOME={data} ADTOP_BROKER={brokers} ADTOP_MANAGEMENT={mgmt} {bin} --config {cfg} --store {store}",
        data = h.dir.path().display(),
        brokers = c.amqp.join(","),
        mgmt = c.mgmt.join(","),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url()
    );
    // Wide enough for the whole header: endpoint, node and the nodes' state.
    let t = tmux::Tmux::start_sized(&format!("adtop-{}", h.release), &console, 240, 45);
    t.wait_for("the console on node 1 of 3", Duration::from_secs(30), |s| {
        s.contains("node 1 of 3") && s.contains("nodes 3/3 up")
    })
    .await;
    t.keys(&["/"]);
    t.keys(&[&h.release, "Enter"]);
    h.submit("fx-pass", &["--trigger", "fx-pass/1"]);
    t.wait_for("READY 1", Duration::from_secs(15), |s| {
        tmux::ready(s, &queue) == Some(1)
    })
    .await;

    let killed = std::time::Instant::now();
    script(&["kill", "1"]);
    t.wait_for("node 1 shown down", Duration::from_secs(15), |s| {
        s.contains("nodes 2/3 up") && s.contains("adtop-c1 down")
    })
    .await;
    eprintln!(
        "the node's loss was on screen {} ms after the kill",
        killed.elapsed().as_millis()
    );
    t.wait_for(
        "the console on another node",
        Duration::from_secs(15),
        |s| s.contains("node 2 of 3") || s.contains("node 3 of 3"),
    )
    .await;
    // Live depths keep coming, through the node the console moved to.
    h.submit("fx-pass", &["--trigger", "fx-pass/2"]);
    t.wait_for("READY 2", Duration::from_secs(15), |s| {
        tmux::ready(s, &queue) == Some(2)
    })
    .await;
    script(&["revive", "1"]);
    t.wait_for("node 1 back", Duration::from_secs(30), |s| {
        s.contains("nodes 3/3 up") && s.contains("adtop-c1 back")
    })
    .await;
    drop(t);
    h.cleanup().await;
}
