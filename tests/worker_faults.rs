//! The worker against unlucky and hostile deliveries and stores (issue 7): redeliveries known
//! by their body, reused uuids, an unreadable index entry, permanent and transient store
//! errors with signals, capped reasons, a large artifact, refused broker credentials, an
//! announcement the broker routed but did not confirm.
//!
//! Real RabbitMQ and real stores; the runner is a small script (no autopkgtest, no dpkg lock).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use adtop::protocol::names;
use adtop::protocol::sanitize::REASON_MAX;
use common::*;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::AMQPValue;

const RUN: Duration = Duration::from_secs(90);

/// A runner with autopkgtest's contract that records each run in `runs`, writes a log, and
/// with `ADTOP_TEST_ARTIFACT_MIB=N` in its environment an artifact of N MiB of random bytes
/// (`big.bin`) whose sha256 it writes to `big.sha256` beside `runs`.
fn runner(h: &Harness) -> (String, PathBuf) {
    let runs = h.dir.path().join("runs");
    let path = h.dir.path().join("runner");
    let dir = h.dir.path().display().to_string();
    let text = format!(
        r#"#!/bin/sh
out=
for a in "$@"; do
  case "$a" in --output-dir=*) out="${{a#--output-dir=}}" ;; esac
done
[ -n "$out" ] || exit 20
echo "$*" >> '{runs}'
mkdir -p "$out" && echo "script runner" > "$out/log"
echo "fx-pass 1.0" > "$out/testpkg-version"
if [ -n "$ADTOP_TEST_ARTIFACT_MIB" ]; then
  head -c "${{ADTOP_TEST_ARTIFACT_MIB}}M" /dev/urandom > "$out/big.bin"
  sha256sum "$out/big.bin" | cut -d' ' -f1 > '{dir}/big.sha256'
fi
exit 0
"#,
        runs = runs.display()
    );
    std::fs::write(&path, text).expect("runner");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    (path.display().to_string(), runs)
}

fn count_runs(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn fresh_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A rejection of ours from `adtop.rejected`: (body, reason code, reason).
async fn wait_rejection(h: &Harness, timeout: Duration) -> (Vec<u8>, String, String) {
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let mut mine = None;
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
            if get(names::H_SOURCE_QUEUE) == h.queue() {
                mine = Some((
                    m.delivery.data.clone(),
                    get(names::H_REASON_CODE),
                    get(names::H_REASON),
                ));
                m.delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
                break;
            }
            others.push(m.delivery);
        }
        for d in others {
            d.nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .expect("nack");
        }
        if let Some(m) = mine {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no rejection from {} within {timeout:?}",
            h.queue()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn by_uuid(h: &Harness, uuid: &str) -> PathBuf {
    h.store()
        .join(names::INDEX_CONTAINER)
        .join("by-uuid")
        .join(uuid)
}

/// The worker has declared its queues and listens for control: it sends heartbeats (only
/// after both).
async fn ready(h: &Harness, n: &str) {
    heartbeat(h, n, |_| true).await;
}

/// Wait for a heartbeat of worker `n` (sent from now on) that `want` accepts.
async fn heartbeat(
    h: &Harness,
    n: &str,
    want: impl Fn(&adtop::protocol::messages::Heartbeat) -> bool,
) {
    use futures::StreamExt;
    let id = h.worker_id(n);
    let mut beats = h.listen(names::HEARTBEAT_EXCHANGE, "").await;
    let until = tokio::time::Instant::now() + RUN;
    loop {
        let d = tokio::time::timeout_at(until, beats.next())
            .await
            .expect("a heartbeat in time")
            .expect("consumer open")
            .expect("delivery");
        let hb: adtop::protocol::messages::Heartbeat =
            serde_json::from_slice(&d.data).expect("heartbeat JSON");
        if hb.id == id && want(&hb) {
            return;
        }
    }
}

/// Once worker `a` is idle again (it acknowledges before), stop the workers (a request left
/// unacknowledged would go back to its queue), then the depth of the queue once no consumer
/// is left.
async fn depth_after_stop(h: &mut Harness) -> u32 {
    heartbeat(h, "a", |hb| {
        hb.job.is_none() && hb.state == adtop::protocol::messages::WorkerState::Idle
    })
    .await;
    h.stop_workers();
    let until = tokio::time::Instant::now() + RUN;
    let mut d = depth(h, &h.queue()).await;
    while d.1 != 0 {
        assert!(tokio::time::Instant::now() < until, "consumers left: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        d = depth(h, &h.queue()).await;
    }
    d.0
}

async fn harness(name: &str) -> (Harness, String, PathBuf) {
    let mut h = Harness::new(name, "").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let (runner, runs) = runner(&h);
    (h, runner, runs)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_request_in_a_browsed_queue_runs_and_is_announced() {
    let (mut h, runner, runs) = harness("browsed").await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    ready(&h, "a").await;
    // Drain it first, so that nothing is consumed while we browse.
    let r = control(
        &h,
        &h.worker_id("a"),
        adtop::protocol::messages::Control {
            action: adtop::protocol::messages::ControlAction::Drain,
            uuid: None,
            then: None,
            operator: "test".into(),
        },
    )
    .await;
    assert!(r.ok, "{}", r.message);
    let uuid = fresh_uuid();
    publish_raw(
        &h,
        format!("fx-pass\n{{\"uuid\": \"{uuid}\", \"triggers\": [\"fx-pass/1.0\"]}}").as_bytes(),
    )
    .await;
    // Browsing (get, then give back) marks the message redelivered.
    for _ in 0..2 {
        // The drained worker may still be handed it once and give it back: ask until it is here.
        let until = std::time::Instant::now() + Duration::from_secs(20);
        let m = loop {
            if let Some(m) =
                h.ch.basic_get(h.queue().as_str().into(), BasicGetOptions::default())
                    .await
                    .expect("get")
            {
                break m;
            }
            assert!(std::time::Instant::now() < until, "the request is queued");
            // Polling: the give-back has no event of its own to wait on.
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        m.delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .expect("give back");
    }
    let m =
        h.ch.basic_get(h.queue().as_str().into(), BasicGetOptions::default())
            .await
            .expect("get")
            .expect("the request is queued");
    assert!(m.delivery.redelivered, "browsing marked it redelivered");
    m.delivery
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .expect("give back");

    let r = control(
        &h,
        &h.worker_id("a"),
        adtop::protocol::messages::Control {
            action: adtop::protocol::messages::ControlAction::Resume,
            uuid: None,
            then: None,
            operator: "test".into(),
        },
    )
    .await;
    assert!(r.ok, "{}", r.message);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0);
    assert_eq!(count_runs(&runs), 1, "it ran, once");
    assert!(by_uuid(&h, &uuid).is_file());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_uuid_is_rejected_and_the_same_request_again_is_known() {
    let (mut h, runner, runs) = harness("reuse").await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    wait_log(&h, "a", "connected", RUN).await;
    ready(&h, "a").await;
    let uuid = fresh_uuid();
    let first = format!("fx-pass\n{{\"uuid\": \"{uuid}\", \"triggers\": [\"fx-pass/1.0\"]}}");
    publish_raw(&h, first.as_bytes()).await;
    let c = wait_completion(&mut done, &uuid, RUN).await;
    let pointer = std::fs::read(by_uuid(&h, &uuid)).expect("by-uuid entry");

    // Another request with the same uuid: refused with the reason, the first result untouched.
    let other = format!("fx-fail\n{{\"uuid\": \"{uuid}\"}}");
    publish_raw(&h, other.as_bytes()).await;
    let (body, code, reason) = wait_rejection(&h, RUN).await;
    assert_eq!(body, other.as_bytes());
    assert_eq!(code, "uuid-reused", "{reason}");
    assert!(
        reason.contains(&uuid) && reason.contains(&c.swift_dir),
        "{reason}"
    );
    assert_eq!(std::fs::read(by_uuid(&h, &uuid)).expect("by-uuid"), pointer);

    // The very same request again (as after a lost acknowledgement): acknowledged, not run.
    publish_raw(&h, first.as_bytes()).await;
    eventually("the repeated request to be acknowledged", RUN, || {
        h.worker_log("a").contains("AnnounceStored")
    })
    .await;
    assert_eq!(depth_after_stop(&mut h).await, 0, "acknowledged");
    assert_eq!(
        count_runs(&runs),
        1,
        "the first request ran once, the others never"
    );
    assert_eq!(std::fs::read(by_uuid(&h, &uuid)).expect("by-uuid"), pointer);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_index_entry_rejects_that_request_only() {
    let (mut h, runner, runs) = harness("badindex").await;
    let mut done = h.completions().await;
    let uuid = fresh_uuid();
    let pointer = by_uuid(&h, &uuid);
    std::fs::create_dir_all(pointer.parent().expect("dir")).expect("mkdir");
    std::fs::write(&pointer, b"{\"written by\": \"adtop 9\", not json").expect("corrupt");
    h.start_worker("a", &["--runner", &runner]);
    wait_log(&h, "a", "connected", RUN).await;
    ready(&h, "a").await;
    let body = format!("fx-pass\n{{\"uuid\": \"{uuid}\"}}");
    publish_raw(&h, body.as_bytes()).await;
    let (got, code, reason) = wait_rejection(&h, RUN).await;
    assert_eq!(got, body.as_bytes());
    assert_eq!(code, "index-unreadable", "{reason}");
    assert!(reason.contains(&format!("by-uuid/{uuid}")), "{reason}");
    // Acknowledged, not redelivered in a loop; the next request runs.
    let next = h.submit("fx-pass", &[]);
    wait_completion(&mut done, &next, RUN).await;
    assert_eq!(count_runs(&runs), 1);
    assert_eq!(depth_after_stop(&mut h).await, 0);
    assert_eq!(
        h.worker_log("a").matches("rejecting a request").count(),
        1,
        "rejected once, not again and again"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rejection_reason_of_a_huge_package_name_is_capped() {
    let (mut h, runner, _runs) = harness("capped").await;
    h.start_worker("a", &["--runner", &runner]);
    wait_log(&h, "a", "connected", RUN).await;
    ready(&h, "a").await;
    let body = format!("{}\n{{}}", "A".repeat(65_000));
    publish_raw(&h, body.as_bytes()).await;
    let (got, code, reason) = wait_rejection(&h, RUN).await;
    assert_eq!(got, body.as_bytes(), "the original body is kept whole");
    assert_eq!(code, "bad-package");
    assert!(
        reason.len() <= REASON_MAX + 40,
        "reason header of {} bytes",
        reason.len()
    );
    assert!(reason.contains("more bytes"), "says it was cut: {reason}");
    let log = h.worker_log("a");
    assert!(
        log.lines().all(|l| l.len() < 4 * REASON_MAX),
        "no log line carries the whole name"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_store_error_rejects_the_request_with_the_reason_and_the_worker_goes_on() {
    let (mut h, runner, runs) = harness("permanent").await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    wait_log(&h, "a", "connected", RUN).await;
    ready(&h, "a").await;
    // A PPA whose container name is longer than any store takes.
    let ppa = format!("me/{}", "p".repeat(300));
    let uuid = fresh_uuid();
    let body = format!("fx-pass\n{{\"uuid\": \"{uuid}\", \"ppas\": [\"{ppa}\"]}}");
    publish_raw(&h, body.as_bytes()).await;
    let (got, code, reason) = wait_rejection(&h, RUN).await;
    assert_eq!(got, body.as_bytes());
    assert_eq!(code, "store-refused", "{reason}");
    assert!(reason.contains("invalid object name"), "{reason}");
    assert!(reason.len() <= REASON_MAX + 40);
    assert!(
        !h.worker_log("a").contains("retrying in"),
        "a permanent error is not retried"
    );
    assert!(
        !h.dir.path().join("spool-a").join(&uuid).exists(),
        "nothing left in the spool"
    );
    let next = h.submit("fx-pass", &[]);
    wait_completion(&mut done, &next, RUN).await;
    assert_eq!(count_runs(&runs), 2);
    assert_eq!(depth_after_stop(&mut h).await, 0);
    h.cleanup().await;
}

/// While the store is away, `signals` SIGTERMs leave the result in the spool and end the
/// worker at once; started again with the store back, it stores and announces it, once.
async fn signal_during_store_wait(name: &str, signals: usize) {
    let (mut h, runner, runs) = harness(name).await;
    let mut done = h.completions().await;
    // A regular file where the store's directory should be: every write to the store fails.
    std::fs::write(h.store(), b"not a directory").expect("block the store");
    let pid = h.start_worker("a", &["--runner", &runner]);
    let uuid = h.submit("fx-pass", &[]);
    wait_log(&h, "a", "result kept in the spool", RUN).await;
    for _ in 0..signals {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
    }
    let sent = std::time::Instant::now();
    let mut status = None;
    eventually(
        "the worker to exit after SIGTERM",
        Duration::from_secs(10),
        || {
            status = h.workers[0].1.try_wait().expect("wait");
            status.is_some()
        },
    )
    .await;
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "exited promptly, not after the store came back"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        h.worker_log("a")
    );
    let spool = h.dir.path().join("spool-a").join(&uuid);
    assert!(
        spool.join("entry.json").is_file(),
        "the result waits in the spool"
    );
    assert!(
        h.worker_log("a")
            .contains("stored when the worker starts again")
    );

    std::fs::remove_file(h.store()).expect("the store comes back");
    h.start_worker("a", &["--runner", &runner]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0);
    eventually("the spool entry to go", RUN, || !spool.exists()).await;
    eventually("the redelivery to be recognised", RUN, || {
        h.worker_log("a").contains("AnnounceStored")
    })
    .await;
    assert_eq!(depth_after_stop(&mut h).await, 0, "acknowledged");
    assert_eq!(count_runs(&runs), 1, "stored from the spool, not run again");
    assert!(
        h.store()
            .join(&c.container)
            .join(&c.swift_dir)
            .join("result.tar")
            .is_file()
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_the_store_is_away_spools_the_result_and_exits() {
    signal_during_store_wait("sigone", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sigterms_while_the_store_is_away_spool_the_result_and_exit() {
    signal_during_store_wait("sigtwo", 2).await;
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_artifact_arrives_intact() {
    let (mut h, runner, _runs) = harness("bigartifact").await;
    h.env = vec![("ADTOP_TEST_ARTIFACT_MIB".into(), "50".into())];
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    let uuid = h.submit("fx-pass", &[]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    let want = std::fs::read_to_string(h.dir.path().join("big.sha256")).expect("sha256");
    let gz = std::fs::File::open(
        h.store()
            .join(&c.container)
            .join(&c.swift_dir)
            .join("artifacts.tar.gz"),
    )
    .expect("artifacts.tar.gz");
    let data = big_bin(gz);
    assert_eq!(data.len(), 50 * 1024 * 1024);
    assert_eq!(sha256(&data), want.trim());
    h.cleanup().await;
}

/// The members of `artifacts.tar.gz` named `big.bin`, read as a stream.
fn big_bin(gz: impl std::io::Read) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == "big.bin" {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
            return data;
        }
    }
    panic!("no big.bin in artifacts.tar.gz");
}

/// The same through Swift: the object is streamed from the worker's disk as the PUT body.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_artifact_arrives_intact_in_swift() {
    let Some(sw) = common::swift::SwiftEnv::get().await else {
        return;
    };
    let (mut h, runner, _runs) = harness("bigswift").await;
    h.store_override = Some(sw.store_url());
    h.env = sw.adtop_env();
    h.env.push(("ADTOP_TEST_ARTIFACT_MIB".into(), "50".into()));
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    let uuid = h.submit("fx-pass", &[]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    let want = std::fs::read_to_string(h.dir.path().join("big.sha256")).expect("sha256");
    let url = format!(
        "{}/{}/{}/artifacts.tar.gz",
        sw.storage_url().await,
        c.container,
        c.swift_dir
    );
    let resp = reqwest::get(&url).await.expect("GET artifacts.tar.gz");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let gz = resp.bytes().await.expect("body");
    let data = big_bin(&gz[..]);
    assert_eq!(data.len(), 50 * 1024 * 1024);
    assert_eq!(sha256(&data), want.trim());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_broker_credentials_stop_the_worker_before_it_takes_a_request() {
    let (mut h, runner, runs) = harness("badbroker").await;
    let uuid = h.submit("fx-pass", &[]);
    assert!(!uuid.is_empty());
    h.start_worker(
        "a",
        &[
            "--runner",
            &runner,
            "--broker",
            "amqp://guest:wr0ng-pa55@127.0.0.1:5672/%2f",
        ],
    );
    let mut status = None;
    eventually("the worker to exit", Duration::from_secs(30), || {
        status = h.workers[0].1.try_wait().expect("wait");
        status.is_some()
    })
    .await;
    assert!(!status.expect("exited").success());
    let log = h.worker_log("a");
    assert!(log.contains("refused"), "{log}");
    assert!(
        !log.contains("wr0ng-pa55"),
        "the password is never printed: {log}"
    );
    assert_eq!(count_runs(&runs), 0);
    assert_eq!(
        depth(&h, &h.queue()).await,
        (1, 0),
        "the request was never taken"
    );
    h.cleanup().await;
}

/// Every completion seen on `c` during `window`, by uuid.
async fn completions_during(
    c: &mut adtop::broker::listen::Listener,
    window: Duration,
) -> Vec<String> {
    use futures::StreamExt;
    let until = tokio::time::Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, c.next()).await {
        if let Ok(m) = serde_json::from_slice::<adtop::protocol::messages::TestComplete>(&d.data) {
            seen.push(m.uuid);
        }
    }
    seen
}

/// The flush delay is a debug build's test hook (`store::file`); a release build has none.
fn flush_delay_hook() -> bool {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: ADTOP_TEST_FLUSH_DELAY_MS works in debug builds only");
    }
    cfg!(debug_assertions)
}

/// Pipelining (issue 8): A's flush runs while B is taken and run, but nothing of A is
/// announced or acknowledged before that flush ends. Killed mid-flush (with both results
/// written, neither durable), the worker leaves both requests queued; the next worker makes
/// the results durable and announces each once, running neither again.
#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_flush_a_worker_has_acknowledged_nothing_and_both_requests_come_back() {
    if !flush_delay_hook() {
        return;
    }
    let (mut h, runner, runs) = harness("midflush").await;
    let mut done = h.completions().await;
    let a = h.submit("fx-pass", &[]);
    let b = h.submit("fx-pass", &["--allow-duplicate"]);
    h.env
        .push(("ADTOP_TEST_FLUSH_DELAY_MS".into(), "5000".into()));
    h.start_worker("a", &["--runner", &runner]);
    let started = std::time::Instant::now();
    eventually(
        "the second request to run during the first one's flush",
        RUN,
        || count_runs(&runs) == 2,
    )
    .await;
    eventually("both results written", RUN, || {
        by_uuid(&h, &a).is_file() && by_uuid(&h, &b).is_file()
    })
    .await;
    let seen = completions_during(&mut done, Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "too slow to look inside the flush: {:?}",
        started.elapsed()
    );
    assert!(
        !seen.contains(&a) && !seen.contains(&b),
        "announced before its flush ended: {seen:?}"
    );
    assert_eq!(
        depth(&h, &h.queue()).await,
        (0, 1),
        "both requests held by the worker"
    );
    h.stop_workers();
    let back = wait_depth(&h, &h.queue(), "both requests back", |(_, c)| c == 0).await;
    assert_eq!(back, (2, 0), "a request was acknowledged before its flush");
    let seen = completions_during(&mut done, Duration::from_millis(300)).await;
    assert!(
        !seen.contains(&a) && !seen.contains(&b),
        "announced by a worker killed mid-flush: {seen:?}"
    );

    h.env.clear();
    h.start_worker("a", &["--runner", &runner]);
    wait_completion(&mut done, &a, RUN).await;
    wait_completion(&mut done, &b, RUN).await;
    let again = completions_during(&mut done, Duration::from_secs(1)).await;
    assert!(
        !again.contains(&a) && !again.contains(&b),
        "announced twice: {again:?}"
    );
    assert_eq!(count_runs(&runs), 2, "a stored result ran again");
    assert_eq!(depth_after_stop(&mut h).await, 0, "acknowledged");
    h.cleanup().await;
}

/// The second request is prefetched only while a flush is pending: once A is flushed and
/// acknowledged the prefetch is 1 again, so C stays in its queue while B (a long test) runs,
/// and A's completion does not wait for B.
#[tokio::test(flavor = "multi_thread")]
async fn no_request_is_prefetched_behind_a_running_test_once_the_flush_is_done() {
    if !flush_delay_hook() {
        return;
    }
    let (mut h, _, _) = harness("behind").await;
    let marks = h.dir.path().join("marks");
    let runner = h.dir.path().join("slow-runner");
    std::fs::write(
        &runner,
        format!(
            r#"#!/bin/sh
out=
for a in "$@"; do
  case "$a" in --output-dir=*) out="${{a#--output-dir=}}" ;; esac
done
[ -n "$out" ] || exit 20
case "$*" in */fx-slow/*) pkg=fx-slow ;; *) pkg=fx-pass ;; esac
echo "$pkg start" >> '{marks}'
[ "$pkg" = fx-slow ] && sleep 6
mkdir -p "$out" && echo "script runner" > "$out/log"
echo "$pkg end" >> '{marks}'
exit 0
"#,
            marks = marks.display()
        ),
    )
    .expect("runner");
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let marks_text = || std::fs::read_to_string(&marks).unwrap_or_default();
    let mut done = h.completions().await;
    let a = h.submit("fx-pass", &[]);
    let b = h.submit("fx-slow", &[]);
    let c = h.submit("fx-pass", &["--allow-duplicate"]);
    h.env
        .push(("ADTOP_TEST_FLUSH_DELAY_MS".into(), "500".into()));
    h.start_worker("a", &["--runner", &runner.display().to_string()]);
    wait_completion(&mut done, &a, RUN).await;
    assert!(
        marks_text().contains("fx-slow start") && !marks_text().contains("fx-slow end"),
        "A announced while B runs, B taken during A's flush: {}",
        marks_text()
    );
    // B runs for 6 s: C must stay ready all that time, not prefetched behind it.
    while !marks_text().contains("fx-slow end") {
        let (ready, _) = depth(&h, &h.queue()).await;
        assert!(
            ready == 1 || marks_text().contains("fx-slow end"),
            "C was handed over while B runs (ready {ready})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_completion(&mut done, &b, RUN).await;
    wait_completion(&mut done, &c, RUN).await;
    assert_eq!(depth_after_stop(&mut h).await, 0);
    h.cleanup().await;
}

/// A vhost of the test's own on the local broker, deleted when dropped.
struct Vhost(String);

impl Vhost {
    fn new(name: &str) -> Self {
        rabbitmqctl(&["-q", "add_vhost", name]);
        let v = Self(name.to_string());
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            name,
            "guest",
            ".*",
            ".*",
            ".*",
        ]);
        v
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.0])
            .output();
    }
}

/// A completion the broker routed but did not confirm is announced again, marked as a possible
/// repeat (`x-adtop-repeat`), and the request is acknowledged once one is confirmed. A queue bound
/// to `testcomplete.fanout` that refuses every publish (length 0, `reject-publish`) makes the
/// broker nack the worker's publish while the test's own queue receives it, as when a quorum
/// queue's leader dies mid-confirm. In a vhost of its own: every other test's completions would be
/// nacked too.
#[tokio::test(flavor = "multi_thread")]
async fn a_completion_routed_but_not_confirmed_is_announced_again_marked_as_a_repeat() {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::FieldTable;
    let vhost = format!(
        "adtop-test-repeat-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let _vhost = Vhost::new(&vhost);
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{vhost}");
    let mut h = Harness::new_on(&url, &url, "repeat", "").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let (runner, runs) = runner(&h);
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(0));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    h.ch.queue_declare("refuses".into(), QueueDeclareOptions::default(), args)
        .await
        .expect("declare the refusing queue");
    h.ch.queue_bind(
        "refuses".into(),
        names::TESTCOMPLETE_EXCHANGE.into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind it");
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    let uuid = h.submit("fx-pass", &[]);

    let (_, first) = wait_completion_delivery(&mut done, &uuid, RUN).await;
    assert!(!is_repeat(&first), "the first announcement is not marked");
    wait_log(&h, "a", "cannot announce the completion yet", RUN).await;
    h.ch.queue_delete("refuses".into(), QueueDeleteOptions::default())
        .await
        .expect("delete the refusing queue");
    // Every announcement after the first (nacked again, or the one confirmed) is marked.
    let (_, again) = wait_completion_delivery(&mut done, &uuid, RUN).await;
    assert!(is_repeat(&again), "announced again, marked as a repeat");
    // The request came back when the worker reconnected after the nack; it is acknowledged when
    // known as stored, which may come after an idle heartbeat.
    wait_log(&h, "a", "acknowledging the redelivery", RUN).await;
    assert_eq!(
        depth_after_stop(&mut h).await,
        0,
        "the request acknowledged"
    );
    assert_eq!(count_runs(&runs), 1, "run once");
    h.cleanup().await;
}
