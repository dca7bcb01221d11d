//! The scripting commands (`queues`, `workers`, `running`, `results`, `logs`, `retry`,
//! `cancel`, `stop`, `drain`, `resume`) against the real broker and a worker with a fake
//! runner (same command line and output-dir contract as autopkgtest, no dpkg).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const RUN: Duration = Duration::from_secs(60);

const FAKE_RUNNER: &str = r#"#!/bin/sh
# A stand-in for autopkgtest: writes an output dir, prints ticks for --env=FAKE_SECONDS=N.
n=0
for a; do
  case "$a" in
    --output-dir=*) out="${a#--output-dir=}" ;;
    --env=FAKE_SECONDS=*) n="${a#--env=FAKE_SECONDS=}" ;;
  esac
done
mkdir -p "$out"
echo "fx-pass 1.0" > "$out/testpkg-version"
i=0
while [ "$i" -lt "$n" ]; do echo "fake tick $i" | tee -a "$out/log"; i=$((i+1)); sleep 1; done
echo "fake runner done" | tee -a "$out/log"
"#;

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_view_and_action_works_from_the_command_line() {
    let mut h = Harness::new("script", "[console]\noperator = \"scripter\"\n").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let runner = h.dir.path().join("fake-runner");
    std::fs::write(&runner, FAKE_RUNNER).expect("runner");
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner.display().to_string()]);
    let id = h.worker_id("a");
    let queue = h.queue();

    let first = h.submit("fx-pass", &[]);
    assert_eq!(wait_completion(&mut done, &first, RUN).await.exitcode, 0);

    // results, logs, retry
    let results = json(&h.adtop(&["results", "--json", "--release", &h.release]));
    assert!(
        results.as_array().is_some_and(|r| r
            .iter()
            .any(|e| e["uuid"] == first.as_str() && e["exitcode"] == 0)),
        "{results}"
    );
    let failures = json(&h.adtop(&["results", "--json", "--release", &h.release, "--failures"]));
    assert_eq!(failures.as_array().map(Vec::len), Some(0));
    let log = h.adtop(&["logs", &first]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("fake runner done"));
    let retry = h.adtop(&["retry", &first]);
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    let again = String::from_utf8_lossy(&retry.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert_ne!(again, first);
    assert_eq!(
        wait_completion(&mut done, &again, RUN).await.exitcode,
        0,
        "the retry ran"
    );

    // queues, workers
    let queues = json(&h.adtop(&["queues", "--json"]));
    assert!(
        queues.as_array().is_some_and(|q| q
            .iter()
            .any(|x| x["name"] == queue.as_str() && x["consumers"] == 1)),
        "{queues}"
    );
    let workers = json(&h.adtop(&["workers", "--json"]));
    let me = workers
        .as_array()
        .and_then(|w| w.iter().find(|x| x["id"] == id.as_str()).cloned())
        .expect("our worker");
    assert_eq!(me["arch"], ARCH);
    assert_eq!(me["done"], 2);

    // running, logs -f, stop --cancel
    let long = h.submit("fx-pass", &["--env", "FAKE_SECONDS=40"]);
    wait_live(&h, &long, "fake tick 1", RUN).await;
    let running = json(&h.adtop(&["running", "--json"]));
    assert!(
        running.as_array().is_some_and(|r| r
            .iter()
            .any(|j| j["uuid"] == long.as_str() && j["worker"] == id.as_str())),
        "{running}"
    );
    let mut follow = std::process::Command::new(bin())
        .args([
            "--config",
            &h.config.display().to_string(),
            "--store",
            &h.store_url(),
            "logs",
            "-f",
            &long,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs -f");
    let mut stdout = follow.stdout.take().expect("stdout");
    let followed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let followed = followed.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                followed
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    // Stop once `logs -f` has shown the replay (tick 0) and followed on (tick 3).
    eventually("logs -f to follow the live log to tick 3", RUN, || {
        let t = followed.lock().unwrap();
        t.contains("fake tick 0") && t.contains("fake tick 3")
    })
    .await;
    let stop = h.adtop(&["stop", &long, "--cancel"]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let status = tokio::task::spawn_blocking(move || follow.wait())
        .await
        .expect("join")
        .expect("logs -f exits");
    assert!(status.success(), "logs -f ends with the job");
    reader.join().expect("reader");
    let text = followed.lock().unwrap().clone();
    assert!(
        text.contains("fake tick 0") && text.contains("fake tick 3"),
        "live log replayed and followed: {text}"
    );
    assert_eq!(
        count_completions(&mut done, &long, Duration::from_secs(1)).await,
        0,
        "cancelled: not announced"
    );

    // drain, cancel a queued request, resume
    assert!(h.adtop(&["drain", &id]).status.success());
    wait_depth(&h, &queue, "the drained worker's consumer to go", |d| {
        d.1 == 0
    })
    .await;
    let queued = h.submit("fx-pass", &["--trigger", "fx-pass/9"]);
    assert_eq!(
        depth(&h, &queue).await,
        (1, 0),
        "a drained worker takes nothing"
    );
    let cancel = h.adtop(&["cancel", &queue, &queued]);
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    assert_eq!(depth(&h, &queue).await.0, 0);
    let missing = h.adtop(&["cancel", &queue, &queued]);
    assert!(!missing.status.success(), "cancelling twice says so");
    assert!(h.adtop(&["resume", &id]).status.success());
    let after = h.submit("fx-pass", &["--trigger", "fx-pass/10"]);
    assert_eq!(wait_completion(&mut done, &after, RUN).await.exitcode, 0);

    // Every action is in the audit trail, with who did it.
    let mut actions = Vec::new();
    for day in std::fs::read_dir(h.store().join("adtop-audit")).expect("audit dir") {
        for f in std::fs::read_dir(day.expect("day").path()).expect("records") {
            let r: Value =
                serde_json::from_slice(&std::fs::read(f.expect("record").path()).expect("read"))
                    .expect("json");
            assert_eq!(r["operator"], "scripter");
            actions.push(r["action"].as_str().unwrap_or("").to_string());
        }
    }
    actions.sort();
    assert_eq!(
        actions,
        [
            "cancel",
            "cancel",
            "drain",
            "resume",
            "retry",
            "stop-cancel"
        ]
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queues_declare_creates_every_queue_as_workers_do_and_reports_a_mismatch() {
    let mut h = Harness::new("declare", "").await;
    h.no_autopkgtest = true;
    let (rel, other) = (h.release.clone(), format!("{}x", h.release));
    let names = [
        format!("debci-{rel}-amd64"),
        format!("debci-huge-{rel}-amd64"),
        format!("debci-ppa-{rel}-amd64"),
        format!("debci-upstream-{rel}-amd64"),
        format!("debci-{other}-amd64"),
        format!("debci-huge-{other}-amd64"),
        format!("debci-ppa-{other}-amd64"),
        format!("debci-upstream-{other}-amd64"),
    ];
    for q in &names {
        h.track_queue(q);
    }
    let dry = json(&h.adtop(&[
        "queues",
        "declare",
        "--release",
        &rel,
        "--arch",
        "amd64",
        "--dry-run",
        "--json",
    ]));
    assert_eq!(dry.as_array().map(Vec::len), Some(4), "{dry}");
    assert_eq!(
        adtop::broker::topology::peek_counts(
            &h.conn.create_channel().await.expect("ch"),
            &names[0]
        )
        .await
        .expect("peek"),
        None,
        "a dry run declares nothing"
    );
    let out = json(&h.adtop(&[
        "queues",
        "declare",
        "--release",
        &rel,
        "--release",
        &other,
        "--arch",
        "amd64",
        "--json",
    ]));
    let declared: Vec<&str> = out
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["ok"] == true)
        .filter_map(|d| d["queue"].as_str())
        .collect();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort();
    let mut got = declared.clone();
    got.sort();
    assert_eq!(got, want);
    for q in &names {
        let ch = h.conn.create_channel().await.expect("ch");
        let counts = adtop::broker::topology::peek_counts(&ch, q)
            .await
            .expect("peek");
        assert_eq!(counts, Some((0, 0)), "{q} exists and is empty");
    }
    // A client that publishes without declaring and without `mandatory` (britney) now reaches it.
    publish_raw(&h, b"fx-pass").await;
    assert_eq!(depth(&h, &h.queue()).await.0, 1);

    // Declared once with other arguments: reported, exit 1, the rest still declared.
    let clash = format!("debci-upstream-{rel}-arm64");
    let also = format!("debci-{rel}-arm64");
    h.track_queue(&clash);
    h.track_queue(&also);
    for q in [
        format!("debci-huge-{rel}-arm64"),
        format!("debci-ppa-{rel}-arm64"),
    ] {
        h.track_queue(&q);
    }
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-max-priority".into(),
        lapin::types::AMQPValue::LongInt(10),
    );
    h.ch.queue_declare(
        clash.as_str().into(),
        lapin::options::QueueDeclareOptions::durable(),
        args,
    )
    .await
    .expect("declare with a priority");
    let out = h.adtop(&["queues", "declare", "--release", &rel, "--arch", "arm64"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&clash) && text.contains("other arguments"),
        "{text}"
    );
    let ch = h.conn.create_channel().await.expect("ch");
    let counts = adtop::broker::topology::peek_counts(&ch, &also)
        .await
        .expect("peek");
    assert_eq!(counts, Some((0, 0)), "{also} declared despite the clash");
    h.cleanup().await;
}

/// A stored `log.gz` that inflates to 64 times its cap: `adtop logs` prints the first
/// `--max-mib` of it, says it cut it, and never inflates the rest.
#[tokio::test(flavor = "multi_thread")]
async fn logs_of_a_gzip_bomb_are_cut_at_the_cap_and_say_so() {
    use std::io::Write;
    let mut h = Harness::new("bomb", "").await;
    h.no_autopkgtest = true;
    let uuid = uuid::Uuid::new_v4().to_string();
    let container = format!("autopkgtest-{}", h.release);
    let swift_dir = format!("{}/amd64/f/fx-pass/20261202_000000_abcde@", h.release);
    let dir = h.store().join(&container).join(&swift_dir);
    std::fs::create_dir_all(&dir).expect("result dir");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("log.gz")).expect("log.gz"),
        flate2::Compression::fast(),
    );
    let line = "autopkgtest [00:00:00]: a very repetitive log line\n".repeat(1 << 10);
    for _ in 0..(64usize << 20) / line.len() {
        gz.write_all(line.as_bytes()).expect("gzip");
    }
    gz.finish().expect("gzip");
    let entry = adtop::protocol::messages::IndexEntry {
        uuid: uuid.clone(),
        package: "fx-pass".into(),
        release: h.release.clone(),
        arch: ARCH.into(),
        queue: h.queue(),
        exitcode: 0,
        class: adtop::protocol::Class::Pass,
        container: container.clone(),
        swift_dir: swift_dir.clone(),
        duration: 1,
        finished: chrono::Utc::now(),
        worker: "w".into(),
        triggers: vec![],
        requester: String::new(),
        testpkg_version: "fx-pass 1.0".into(),
        body: "fx-pass".into(),
        private: false,
    };
    let index = h
        .store()
        .join(adtop::protocol::names::INDEX_CONTAINER)
        .join(adtop::protocol::layout::uuid_key(&uuid));
    std::fs::create_dir_all(index.parent().expect("parent")).expect("index dir");
    std::fs::write(&index, serde_json::to_vec(&entry).expect("json")).expect("index entry");

    let out = h.adtop(&["logs", &uuid, "--max-mib", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    let (log, notice) = text
        .rsplit_once("\n[adtop: ")
        .expect("a cut notice at the end");
    assert!(
        notice.starts_with("log cut at 1 MiB; the whole log is "),
        "{notice}"
    );
    assert!(notice.contains(&format!("{swift_dir}/log.gz")), "{notice}");
    assert!(
        log.len() <= 1 << 20 && log.len() > (1 << 20) - line.len(),
        "{}",
        log.len()
    );
    assert!(err.contains("log cut at 1 MiB"), "{err}");
    // The default cap is the console's (16 MiB); a log under the cap has no notice.
    let out = h.adtop(&["logs", &uuid]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("[adtop: log cut at 16 MiB;"));
    h.cleanup().await;
}

#[tokio::test]
async fn queues_without_the_management_api_says_the_list_is_incomplete_and_exits_1() {
    let mut h = Harness::new("nomgmt", "").await;
    h.no_autopkgtest = true;
    let out = h.adtop(&["--management", "http://127.0.0.1:1", "queues"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the list is incomplete"), "{err}");
    assert!(
        err.contains("127.0.0.1:1"),
        "names the API it could not reach: {err}"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn a_worker_that_stops_cleanly_says_goodbye_in_a_last_heartbeat() {
    use futures::StreamExt;
    let mut h = Harness::new("goodbye", "").await;
    h.no_autopkgtest = true;
    let mut beats = h
        .listen(adtop::protocol::names::HEARTBEAT_EXCHANGE, "")
        .await;
    let pid = h.start_worker("a", &["--runner", "/bin/true"]);
    let id = h.worker_id("a");
    wait_heartbeat(&h, &id, Duration::from_secs(30)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = tokio::time::timeout_at(until, beats.next())
            .await
            .expect("a last heartbeat saying the worker is stopping")
            .expect("consumer open")
            .expect("delivery");
        if let Ok(hb) = serde_json::from_slice::<adtop::protocol::messages::Heartbeat>(&d.data)
            && hb.id == id
            && hb.state == adtop::protocol::messages::WorkerState::Stopping
        {
            break;
        }
    }
    h.cleanup().await;
}
