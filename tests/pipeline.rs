//! The pipeline against the real RabbitMQ and the real autopkgtest (`null` server):
//! submit → queue → worker → autopkgtest → store (autopkgtest-cloud layout) → completion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use adtop::protocol::Request;
use adtop::protocol::messages::IndexEntry;
use common::*;

const RUN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn pass_fail_and_neutral_results_in_autopkgtest_cloud_layout() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("layout", "").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let pass = h.submit(
        "fx-pass",
        &["--trigger", "fx-pass/1.0", "--requester", "tester"],
    );
    let fail = h.submit("fx-fail", &["--trigger", "fx-fail/1.0"]);
    let neutral = h.submit("fx-neutral", &[]);

    let c = wait_completion(&mut done, &pass, RUN).await;
    assert_eq!(c.exitcode, 0, "fx-pass");
    assert_eq!(c.package, "fx-pass");
    assert_eq!(c.release, h.release);
    assert_eq!(c.architecture, ARCH);
    assert_eq!(c.container, format!("autopkgtest-{}", h.release));
    assert_eq!(c.triggers, "fx-pass/1.0");
    assert_eq!(c.requester, "tester");
    assert_eq!(
        c.testpkg_version, "1.0",
        "the bare version, as autopkgtest-cloud sends it"
    );
    let re = regex::Regex::new(&format!(
        r"^{}/amd64/f/fx-pass/\d{{8}}_\d{{6}}_[0-9a-f]{{5}}@$",
        h.release
    ))
    .expect("regex");
    assert!(re.is_match(&c.swift_dir), "{}", c.swift_dir);

    // result.tar holds autopkgtest-cloud's small files; the log is autopkgtest's own.
    let files = result_files(&h.store(), &c);
    for name in [
        "exitcode",
        "testpkg-version",
        "duration",
        "testinfo.json",
        "requester",
        "summary",
        "testbed-packages",
    ] {
        assert!(
            files.contains_key(name),
            "result.tar lacks {name}: {:?}",
            files.keys()
        );
    }
    assert_eq!(files["exitcode"], b"0\n");
    assert_eq!(files["requester"], b"tester\n");
    assert!(log_text(&h.store(), &c).contains("hello from fx-pass"));
    let run_dir = h.store().join(&c.container).join(&c.swift_dir);
    assert!(run_dir.join("artifacts.tar.gz").is_file());

    // The index finds it by uuid, and its time-ordered entry carries the exact body.
    let by_uuid =
        std::fs::read(h.store().join("adtop-index/by-uuid").join(&pass)).expect("by-uuid entry");
    let entry: IndexEntry = serde_json::from_slice(&by_uuid).expect("index JSON");
    assert_eq!(entry.swift_dir, c.swift_dir);
    assert!(
        c.swift_dir
            .ends_with(&format!("_{}@", Request::body_hash5(entry.body.as_bytes())))
    );
    let day = entry.finished.format("%Y%m%d").to_string();
    let listed: Vec<String> = std::fs::read_dir(h.store().join("adtop-index").join(day))
        .expect("day listing")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .collect();
    assert!(listed.iter().any(|n| n.ends_with(&pass)), "{listed:?}");

    let c = wait_completion(&mut done, &fail, RUN).await;
    assert_eq!(c.exitcode, 4, "fx-fail");
    assert!(log_text(&h.store(), &c).contains("this test fails"));
    let c = wait_completion(&mut done, &neutral, RUN).await;
    assert_eq!(c.exitcode, 8, "fx-neutral: no test could run");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_past_its_timeout_fails_and_the_worker_goes_on() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("timeout", "[worker.timeouts]\ntest = 4\n").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let hang = h.submit("fx-hang", &[]);
    let c = wait_completion(&mut done, &hang, RUN).await;
    assert_eq!(c.exitcode, 4, "autopkgtest's own test timeout");
    assert!(log_text(&h.store(), &c).contains("timed out"));
    let pass = h.submit("fx-pass", &[]);
    assert_eq!(wait_completion(&mut done, &pass, RUN).await.exitcode, 0);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_kills_the_whole_tree_past_the_deadline() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("watchdog", "[worker.timeouts]\ntest = 1000\ndeadline = 8\n").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let hang = h.submit("fx-hang", &[]);
    let c = wait_completion(&mut done, &hang, RUN).await;
    assert_eq!(c.exitcode, 20, "recorded as a timeout");
    assert!(log_text(&h.store(), &c).contains("watchdog"));
    // Killed with its whole process group; wait for it to be reaped, not a fixed time.
    let survivors = || {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", "sleep 100000"])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&ps.stdout).to_string()
    };
    eventually(
        "the hung test's process to be gone",
        Duration::from_secs(10),
        || survivors().is_empty(),
    )
    .await;
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_failure_is_retried() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("tmpfail", "").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let state = h.dir.path().join("flaky-state");
    let env = format!("ADTOP_FLAKY_STATE={}", state.display());
    let uuid = h.submit("fx-flaky", &["--env", &env]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0, "second attempt passes");
    assert_eq!(c.adtop.as_ref().map(|a| a.attempts), Some(2));
    assert!(log_text(&h.store(), &c).contains("network is back"));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn never_run_gives_99_without_running() {
    let mut h = Harness::new("never", "").await;
    h.no_autopkgtest = true;
    let list = h.dir.path().join("never_run");
    std::fs::write(&list, "fx-pass/*/*\n").expect("write list");
    std::fs::write(
        &h.config,
        format!(
            "{}never_run = \"{}\"\n",
            std::fs::read_to_string(&h.config).expect("config"),
            list.display()
        ),
    )
    .expect("config");
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", "/bin/false"]);
    let uuid = h.submit("fx-pass", &["--trigger", "fx-pass/1.0"]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 99);
    // As autopkgtest-cloud writes it: hints match on "blacklisted", and britney needs the
    // triggers in testinfo.json to attribute the result.
    assert_eq!(c.testpkg_version, "blacklisted");
    let files = result_files(&h.store(), &c);
    assert_eq!(files["testpkg-version"], b"fx-pass blacklisted\n");
    let info: serde_json::Value =
        serde_json::from_slice(&files["testinfo.json"]).expect("testinfo.json");
    assert_eq!(
        info["custom_environment"],
        serde_json::json!(["ADT_TEST_TRIGGERS=fx-pass/1.0"])
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_refuses_duplicates_and_warns_when_no_worker_serves() {
    let h = Harness::new("submit", "").await;
    let out = h.submit_output(
        "fx-pass",
        &["--trigger", "fx-pass/1.0", "--dedup-wait", "200"],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no worker serves {}", h.queue())),
        "{err}"
    );
    let again = h.submit_output(
        "fx-pass",
        &["--trigger", "fx-pass/1.0", "--dedup-wait", "200", "--json"],
    );
    assert!(
        !again.status.success(),
        "an identical queued request is refused"
    );
    let line: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(line["status"], "duplicate");
    // Another trigger is another test.
    let other = h.submit_output(
        "fx-pass",
        &["--trigger", "fx-pass/1.1", "--dedup-wait", "200"],
    );
    assert!(other.status.success());
    // Invalid input is refused before anything is published.
    let bad = h.adtop(&[
        "submit",
        "--help-me",
        "--release",
        &h.release,
        "--arch",
        ARCH,
    ]);
    assert!(!bad.status.success());
    let bad = h.adtop(&[
        "submit",
        "Bad_Name",
        "--release",
        &h.release,
        "--arch",
        ARCH,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid source package name"));
    let bad = h.adtop(&["submit", "ok", "--release", "../etc", "--arch", ARCH]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid release"));
    let q = adtop::broker::topology::peek_counts(&h.ch, &h.queue())
        .await
        .expect("peek");
    assert_eq!(
        q,
        Some((2, 0)),
        "browsing for duplicates neither lost nor added messages"
    );
    h.cleanup().await;
}

/// A request identical to one a worker runs is refused as running, and `submit` stops
/// listening for the workers' answers once every worker has answered (the management API counts
/// them), not after `--dedup-wait`.
#[tokio::test(flavor = "multi_thread")]
async fn submit_refuses_a_running_request_and_stops_listening_once_every_worker_answered() {
    use std::os::unix::fs::PermissionsExt;
    need_management().await;
    let mut h = Harness::new("rundup", "").await;
    let runner = h.dir.path().join("sleepy-runner");
    std::fs::write(&runner, "#!/bin/sh\nexec sleep 30\n").expect("write runner");
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    h.start_worker("a", &["--runner", &runner.display().to_string()]);
    let uuid = h.submit("fx-pass", &["--trigger", "fx-pass/9"]);
    eventually("the worker runs it", Duration::from_secs(60), || {
        String::from_utf8_lossy(&h.adtop(&["running", "--json"]).stdout).contains(&uuid)
    })
    .await;
    let asked = std::time::Instant::now();
    let again = h.submit_output(
        "fx-pass",
        &["--trigger", "fx-pass/9", "--dedup-wait", "60000", "--json"],
    );
    let took = asked.elapsed();
    assert!(
        !again.status.success(),
        "an identical running request is refused"
    );
    let line: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(line["status"], "duplicate", "{line}");
    assert!(
        line["error"]
            .as_str()
            .unwrap_or("")
            .contains("already running"),
        "{line}"
    );
    // Every worker on the broker (this test's and any other's running meanwhile) answered
    // long before the 60 s cap.
    assert!(took < Duration::from_secs(30), "waited {took:?}");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_batch_reports_each_line() {
    let h = Harness::new("batch", "").await;
    let file = h.dir.path().join("batch.jsonl");
    let r = &h.release;
    std::fs::write(
        &file,
        format!(
            "{{\"package\": \"fx-pass\", \"release\": \"{r}\", \"arch\": \"amd64\", \"triggers\": [\"fx-pass/1.0\"]}}\n\
             # a comment\n\
             {{\"package\": \"fx-fail\", \"release\": \"{r}\", \"arch\": \"amd64\", \"bogus\": 1}}\n\
             {{\"package\": \"fx-fail\", \"release\": \"{r}\", \"arch\": \"amd64\", \"requester\": \"batch\"}}\n"
        ),
    )
    .expect("write batch");
    let out = h.adtop(&[
        "submit",
        "--from",
        &file.display().to_string(),
        "--json",
        "--dedup-wait",
        "200",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], "queued");
    assert_eq!(lines[1]["status"], "invalid");
    assert!(lines[1]["error"].as_str().unwrap_or("").contains("bogus"));
    assert_eq!(lines[2]["status"], "queued");
    assert!(!out.status.success(), "one line failed");
    let q = adtop::broker::topology::peek_counts(&h.ch, &h.queue())
        .await
        .expect("peek");
    assert_eq!(q.map(|q| q.0), Some(2));
    h.cleanup().await;
}

/// `adtop submit --from - --json` of the harness, `extra` args after: its stdin, and each JSON
/// line of its stdout as it comes.
fn batch_submit(
    h: &Harness,
    extra: &[&str],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<serde_json::Value>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin())
        .args(["--config", &h.config.display().to_string()])
        .args(["--store", &h.store_url()])
        .args(["submit", "--from", "-", "--json", "--dedup-wait", "200"])
        .args(extra)
        .envs(h.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run adtop submit");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let reader = std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            let l = l.expect("stdout line");
            if tx
                .send(serde_json::from_str(&l).expect("one JSON object per line"))
                .is_err()
            {
                return;
            }
        }
    });
    (child, stdin, rx, reader)
}

/// The uuids of the first `limit` requests in `queue`, in queue order.
async fn uuids_in(queue: &str, limit: usize) -> Vec<String> {
    let s = adtop::broker::Session::open(BROKER, "test")
        .await
        .expect("session");
    let (_, rows) = adtop::controller::look::browse(&s, queue, 0, limit)
        .await
        .expect("browse");
    s.close().await;
    rows.iter()
        .filter_map(|m| Request::parse(&m.body).ok()?.params.uuid)
        .collect()
}

/// Many lines pipelined to two queues, one deleted under the batch: every line of the deleted
/// queue is reported failed and every other queued, whatever confirm lapin hands each return
/// to (one multiple ack answers many publishes at once; before, a return could come with a
/// neighbour's confirm, so a queued line was reported failed and a lost one queued).
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_reports_each_return_against_its_own_line() {
    use std::io::Write;

    let mut h = Harness::new("batchret", "").await;
    let (a, b) = (h.queue(), format!("debci-{}-arm64", h.release));
    h.track_queue(&b);
    let (child, mut stdin, rx, reader) = batch_submit(&h, &[]);
    let r = &h.release;
    let line = |arch: &str, trigger: u32| {
        format!(
            "{{\"package\": \"fx-pass\", \"release\": \"{r}\", \"arch\": \"{arch}\", \"triggers\": [\"fx-pass/{trigger}\"]}}\n"
        )
    };
    for l in [line("amd64", 0), line("arm64", 0)] {
        stdin.write_all(l.as_bytes()).expect("write line");
    }
    stdin.flush().expect("flush");
    for _ in 0..2 {
        let o = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("lines 1-2 reported as they are queued");
        assert_eq!(o["status"], "queued", "{o}");
    }
    h.ch.queue_delete(a.as_str().into(), Default::default())
        .await
        .expect("delete queue");
    const PAIRS: u32 = 200;
    let mut rest = String::new();
    for t in 1..=PAIRS {
        rest.push_str(&line("amd64", t));
        rest.push_str(&line("arm64", t));
    }
    stdin.write_all(rest.as_bytes()).expect("write lines");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    reader.join().expect("reader");
    let got: Vec<serde_json::Value> = rx.try_iter().collect();
    assert_eq!(got.len(), 2 * PAIRS as usize, "every line reported");
    let wrong: Vec<String> = got
        .iter()
        .filter(|o| {
            let mine = if o["queue"] == b.as_str() {
                "queued"
            } else {
                "failed"
            };
            o["status"] != mine
        })
        .map(|o| format!("line {} ({}): {}", o["line"], o["queue"], o["status"]))
        .collect();
    assert!(wrong.is_empty(), "misreported: {wrong:?}");
    assert_eq!(out.status.code(), Some(1), "a partial batch");
    // What the batch says it queued is exactly what the queue holds.
    let mut in_queue = uuids_in(&b, 1000).await;
    let mut reported: Vec<String> = got
        .iter()
        .filter(|o| o["status"] == "queued")
        .map(|o| o["uuid"].as_str().unwrap().to_string())
        .collect();
    in_queue.sort();
    reported.sort();
    assert_eq!(in_queue.len(), PAIRS as usize + 1);
    in_queue.retain(|u| reported.contains(u));
    assert_eq!(in_queue, reported);
    h.cleanup().await;
}

/// A queue deleted under a running batch: every line is reported (queued ones with the uuid
/// that is in the queue), the batch goes on, the exit status says it was partial, and the
/// `--failed-to` file reruns exactly what was not queued.
#[tokio::test(flavor = "multi_thread")]
async fn batch_with_a_queue_deleted_under_it_reports_every_line() {
    use std::io::Write;

    let mut h = Harness::new("batchgone", "").await;
    let (a, b) = (h.queue(), format!("debci-{}-arm64", h.release));
    h.track_queue(&b);
    let again = h.dir.path().join("again.jsonl");
    let (child, mut stdin, rx, reader) =
        batch_submit(&h, &["--failed-to", &again.display().to_string()]);
    let r = &h.release;
    let line = |arch: &str, trigger: u32| {
        format!(
            "{{\"package\": \"fx-pass\", \"release\": \"{r}\", \"arch\": \"{arch}\", \"triggers\": [\"fx-pass/{trigger}\"]}}\n"
        )
    };
    // Lines 1-3 go to both queues; wait until all three are reported queued.
    for l in [line("amd64", 1), line("arm64", 1), line("amd64", 2)] {
        stdin.write_all(l.as_bytes()).expect("write line");
    }
    stdin.flush().expect("flush");
    let mut got = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 3 {
        let left = until.saturating_duration_since(std::time::Instant::now());
        got.push(
            rx.recv_timeout(left)
                .expect("lines 1-3 reported as they are queued"),
        );
    }
    assert!(got.iter().all(|o| o["status"] == "queued"), "{got:?}");
    assert_eq!(depth(&h, &a).await.0, 2);
    // The queue goes away under the running batch.
    h.ch.queue_delete(a.as_str().into(), Default::default())
        .await
        .expect("delete queue");
    for l in [
        line("amd64", 3),
        "not json\n".to_string(),
        line("arm64", 2),
        line("amd64", 4),
    ] {
        stdin.write_all(l.as_bytes()).expect("write line");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    reader.join().expect("reader");
    got.extend(rx.try_iter());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a partial batch: {err}");
    let lines: Vec<u64> = got.iter().map(|o| o["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7], "every line once, in order");
    let status: Vec<&str> = got.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        status,
        [
            "queued", "queued", "queued", "failed", "invalid", "queued", "failed"
        ]
    );
    assert!(
        got[3]["error"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{got:?}"
    );
    assert!(got[3].get("uuid").is_none(), "a failed line has no uuid");
    assert!(err.contains("4 of 7 requests queued"), "{err}");
    assert!(err.contains("lines 4-5, 7"), "{err}");
    // The uuids reported for the queue that is left are exactly the ones in it.
    let mut in_queue = uuids_in(&b, 10).await;
    let mut reported: Vec<String> = [1usize, 5]
        .iter()
        .map(|&i| got[i]["uuid"].as_str().unwrap().to_string())
        .collect();
    in_queue.sort();
    reported.sort();
    assert_eq!(in_queue, reported);
    // The rerun file holds lines 4, 5 and 7, each after its reason; rerunning it queues the
    // two whose queue is gone (declared again) and reports the invalid one again.
    let rerun = std::fs::read_to_string(&again).expect("rerun file");
    assert!(rerun.starts_with("# line 4: failed: "), "{rerun}");
    assert!(rerun.contains("# line 5: invalid: "), "{rerun}");
    assert!(rerun.contains("# line 7: failed: "), "{rerun}");
    assert_eq!(
        rerun
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        [line("amd64", 3).trim(), "not json", line("amd64", 4).trim()]
    );
    let out = h.adtop(&[
        "submit",
        "--from",
        &again.display().to_string(),
        "--dedup-wait",
        "200",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the invalid line is still invalid"
    );
    let queued = String::from_utf8_lossy(&out.stdout);
    assert_eq!(queued.lines().count(), 2, "{queued}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 4: invalid"));
    assert_eq!(depth(&h, &a).await.0, 2);
    h.cleanup().await;
}

/// With the broker unreachable, nothing is half-known either: every valid line is `skipped`
/// (not sent), every line is in the rerun file, and the exit status says so.
#[tokio::test(flavor = "multi_thread")]
async fn batch_without_a_broker_skips_every_line_and_keeps_them_to_rerun() {
    let h = Harness::new("batchdown", "").await;
    let r = &h.release;
    let file = h.dir.path().join("batch.jsonl");
    let again = h.dir.path().join("again.jsonl");
    let lines = [
        format!("{{\"package\": \"fx-pass\", \"release\": \"{r}\", \"arch\": \"amd64\"}}"),
        "{\"package\": \"Bad_Name\"}".to_string(),
        format!("{{\"package\": \"fx-fail\", \"release\": \"{r}\", \"arch\": \"amd64\"}}"),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").expect("batch");
    let out = h.adtop(&[
        "--broker",
        "amqp://guest:guest@127.0.0.1:1/%2f",
        "submit",
        "--from",
        &file.display().to_string(),
        "--failed-to",
        &again.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "nothing queued");
    assert!(
        err.contains("line 1: skipped fx-pass: not sent: the broker is unreachable"),
        "{err}"
    );
    assert!(err.contains("line 2: invalid"), "{err}");
    assert!(err.contains("line 3: skipped fx-fail"), "{err}");
    assert!(
        err.contains("0 of 3 requests queued; not queued: 2 skipped, 1 invalid (lines 1-3)"),
        "{err}"
    );
    let rerun = std::fs::read_to_string(&again).expect("rerun file");
    assert_eq!(
        rerun
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        lines.iter().map(String::as_str).collect::<Vec<_>>()
    );
    h.cleanup().await;
}

/// A broker that takes what is sent but stops answering (no confirms, no heartbeats, no
/// answer to a new connection) mid-batch: submit does not wait for ever. What was in flight is
/// `unknown` after the confirm wait, the rest `skipped`, every line is reported once and the
/// ones reported queued are in the queue.
#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_stops_answering_mid_batch_leaves_every_line_reported_and_submit_ends() {
    use std::io::Write;

    let relay = common::silent::Silencer::start("127.0.0.1:5672").await;
    let h = Harness::new_on(&relay.url, BROKER, "silent", "").await;
    let (child, mut stdin, rx, reader) = batch_submit(&h, &[]);
    let r = &h.release;
    let line = |trigger: u32| {
        format!(
            "{{\"package\": \"fx-pass\", \"release\": \"{r}\", \"arch\": \"{ARCH}\", \"triggers\": [\"fx-pass/{trigger}\"]}}\n"
        )
    };
    for t in 1..=3 {
        stdin.write_all(line(t).as_bytes()).expect("write line");
    }
    stdin.flush().expect("flush");
    let mut got = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 3 {
        let left = until.saturating_duration_since(std::time::Instant::now());
        got.push(rx.recv_timeout(left).expect("lines 1-3 reported queued"));
    }
    assert!(got.iter().all(|o| o["status"] == "queued"), "{got:?}");

    relay.silence();
    let started = std::time::Instant::now();
    for t in 4..=8 {
        stdin.write_all(line(t).as_bytes()).expect("write line");
    }
    drop(stdin);
    // The confirm wait (30 s) and a connect attempt (5 s) bound it; a hang fails here.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output().expect("wait");
        let _ = done_tx.send(());
        out
    });
    done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("submit ended although the broker stopped answering");
    let out = waiter.join().expect("waiter");
    reader.join().expect("reader");
    got.extend(rx.try_iter());
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a partial batch: {err}");
    let lines: Vec<u64> = got.iter().map(|o| o["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 8], "every line once, in order");
    let status: Vec<&str> = got.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(status[3], "unknown", "{got:?}");
    assert!(
        status[4..]
            .iter()
            .all(|s| *s == "unknown" || *s == "skipped"),
        "{got:?}"
    );
    assert!(
        got[3]["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not confirm")),
        "{got:?}"
    );
    eprintln!(
        "submit ended {} ms after the broker went silent",
        took.as_millis()
    );

    // What was reported queued is queued; what was skipped never reached the broker.
    let mut queued_triggers = std::collections::HashSet::new();
    while let Some(m) =
        h.ch.basic_get(h.queue().as_str().into(), Default::default())
            .await
            .expect("get")
    {
        let body = String::from_utf8_lossy(&m.delivery.data).to_string();
        let params: serde_json::Value = body
            .split_once('\n')
            .and_then(|(_, j)| serde_json::from_str(j).ok())
            .expect("request JSON");
        queued_triggers.insert(params["triggers"][0].as_str().unwrap_or("?").to_string());
        m.delivery.ack(Default::default()).await.expect("ack");
    }
    for (i, s) in status.iter().enumerate() {
        let t = format!("fx-pass/{}", i + 1);
        match *s {
            "queued" => assert!(
                queued_triggers.contains(&t),
                "{t} reported queued: {queued_triggers:?}"
            ),
            "skipped" => assert!(!queued_triggers.contains(&t), "{t} skipped but queued"),
            _ => {}
        }
    }
    drop(relay);
    h.cleanup().await;
}
