//! Failure paths: a killed worker, hostile input, operator control, signals, long tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use adtop::protocol::messages::{AfterStop, Control, ControlAction};
use adtop::protocol::names;
use common::*;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::AMQPValue;

const RUN: Duration = Duration::from_secs(120);

fn ctl(action: ControlAction, uuid: Option<&str>, then: Option<AfterStop>) -> Control {
    Control {
        action,
        uuid: uuid.map(str::to_string),
        then,
        operator: "tests".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_s_request_runs_on_another_and_completes_once() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("sigkill", "").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    let pid_a = h.start_worker("a", &[]);
    let uuid = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=12"]);
    wait_live(&h, &uuid, "tick 2", RUN).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid_a as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill worker a");
    h.start_worker("b", &[]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0);
    assert_eq!(
        c.adtop.as_ref().map(|a| a.worker.clone()),
        Some(h.worker_id("b")),
        "worker b ran it"
    );
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(5)).await,
        0,
        "exactly one completion"
    );
    assert_eq!(depth(&h, &h.queue()).await.0, 0);
    h.cleanup().await;
}

fn hostile_bodies(marker: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"\xff\xfe\xfd"[..],
        b"fx-pass\n{\"requester\": \"\xc3\x28\"}",
        b"",
        b"\n{}",
        b"--help",
        b"-rf",
        b"../../etc/passwd",
        b"fx-pass/../../x",
        b"`id`",
        b"fx pass",
        b"FX-PASS",
        b"x",
        b"fx-pass\x00\n{}",
        b"fx-pass\n{",
        b"fx-pass\n[]",
        b"fx-pass\n\"str\"",
        b"fx-pass\nnull",
        b"fx-pass\n{\"triggers\": \"fx-pass/1\"}",
        b"fx-pass\n{\"triggers\": [1, 2]}",
        b"fx-pass\n{\"triggers\": [\"fx-pass\"]}",
        b"fx-pass\n{\"triggers\": [\"../x/1\"]}",
        b"fx-pass\n{\"env\": [\"=x\"]}",
        b"fx-pass\n{\"env\": \"A=1\"}",
        b"fx-pass\n{\"env\": [\"A\\u0000B=1\"]}",
        b"fx-pass\n{\"ppas\": [\"nouser\"]}",
        b"fx-pass\n{\"ppas\": [\"../../x/y\"]}",
        b"fx-pass\n{\"test-git\": \"file:///etc/passwd\"}",
        b"fx-pass\n{\"test-git\": \"https://x/y.git; rm -rf /\"}",
        b"fx-pass\n{\"test-git\": \"https://salsa.debian.org/x/y.git\"}",
        b"fx-pass\n{\"unknown\": 1}",
        b"fx-pass\n{\"requester\": \"\\u001b]52;c;ZXZpbA==\\u0007\"}",
        b"fx-pass\n{\"uuid\": \"../../x\"}",
        b"fx-pass\n{\"submit-time\": \"now\"}",
        b"fx-pass\n{\"all-proposed\": \"yes\"}",
        b"fx-pass\n{\"testname\": \"a b\"}",
        b"fx-pass\n{\"triggers\": [\"fx-pass/1.0\"], \"triggers\": 5}",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    v.push(format!("a;touch /tmp/{marker}").into_bytes());
    v.push(format!("$(touch /tmp/{marker})").into_bytes());
    v.push(format!("fx-pass\n{{\"testname\": \"$(touch /tmp/{marker})\"}}").into_bytes());
    v.push(vec![b'a'; 10 * 1024 * 1024]);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_are_rejected_with_reasons_and_the_worker_keeps_going() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("hostile", "").await;
    h.declare_common().await;
    let runs = h.dir.path().join("runs");
    let runner = h.dir.path().join("record-runner");
    std::fs::write(
        &runner,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec autopkgtest \"$@\"\n",
            runs.display()
        ),
    )
    .expect("runner");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&runner).expect("meta").permissions(),
        0o755,
    );
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner.display().to_string()]);
    let marker = format!("adtop-pwned-{}", h.release);
    let bodies = hostile_bodies(&marker);
    assert!(bodies.len() >= 30);
    // The worker must have declared the queue before we publish raw bodies to it.
    wait_log(&h, "a", "connected", RUN).await;
    for b in &bodies {
        publish_raw(&h, b).await;
    }
    let uuid = h.submit("fx-pass", &[]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(
        c.exitcode, 0,
        "a valid request after the hostile ones is processed"
    );

    // Every hostile body is in adtop.rejected with a reason; ours are told apart by source queue.
    let mut rejected = Vec::new();
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
            assert!(
                !get(names::H_REASON).is_empty() && !get(names::H_REASON_CODE).is_empty(),
                "reason headers"
            );
            rejected.push((m.delivery.data.clone(), get(names::H_REASON_CODE)));
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
    assert_eq!(
        rejected.len(),
        bodies.len(),
        "codes: {:?}",
        rejected.iter().map(|r| &r.1).collect::<Vec<_>>()
    );
    for b in &bodies {
        assert!(
            rejected.iter().any(|(d, _)| d == b),
            "original body kept for {:?}",
            String::from_utf8_lossy(&b[..b.len().min(60)])
        );
    }
    let too_large = rejected
        .iter()
        .find(|(d, _)| d.len() > 1_000_000)
        .map(|r| r.1.clone());
    assert_eq!(too_large.as_deref(), Some("too-large"));

    // None ran; nothing was written outside the store.
    let ran = std::fs::read_to_string(&runs).unwrap_or_default();
    assert_eq!(ran.lines().count(), 1, "only the valid request ran: {ran}");
    assert!(!std::path::Path::new(&format!("/tmp/{marker}")).exists());
    let mut top: Vec<String> = std::fs::read_dir(h.store())
        .expect("store")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    top.sort();
    assert_eq!(
        top,
        [
            "adtop-index".to_string(),
            format!("autopkgtest-{}", h.release)
        ]
    );
    let pkgs: Vec<String> = std::fs::read_dir(
        h.store()
            .join(format!("autopkgtest-{}/{}/amd64/f", h.release, h.release)),
    )
    .expect("prefix dir")
    .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
    .collect();
    assert_eq!(pkgs, ["fx-pass"]);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_stop_requeue_cancel_drain_and_resume() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("control", "[worker.timeouts]\ntest = 1000\n").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let id = h.worker_id("a");
    let hang = h.submit("fx-hang", &[]);
    wait_live(&h, &hang, "starting a test that never ends", RUN).await;

    // Stop and requeue: the idle worker takes it again.
    let r = control(
        &h,
        &id,
        ctl(ControlAction::Stop, Some(&hang), Some(AfterStop::Requeue)),
    )
    .await;
    assert!(r.ok, "{}", r.message);
    assert!(r.message.contains("requeued"));
    wait_live(&h, &hang, "starting a test that never ends", RUN).await;

    // Stop and cancel: gone, never announced.
    let r = control(
        &h,
        &id,
        ctl(ControlAction::Stop, Some(&hang), Some(AfterStop::Cancel)),
    )
    .await;
    assert!(r.ok && r.message.contains("cancelled"), "{}", r.message);
    assert_eq!(
        depth(&h, &h.queue()).await,
        (0, 1),
        "nothing queued, the worker still consuming"
    );
    assert_eq!(
        count_completions(&mut done, &hang, Duration::from_secs(2)).await,
        0
    );

    // Stop of something not running says so.
    let r = control(
        &h,
        &id,
        ctl(ControlAction::Stop, Some("nope"), Some(AfterStop::Cancel)),
    )
    .await;
    assert!(!r.ok);

    // Drain: requests wait; resume: they run.
    let r = control(&h, &id, ctl(ControlAction::Drain, None, None)).await;
    assert!(r.ok);
    // Drained means its consumer is cancelled: nothing can be delivered to it.
    wait_depth(&h, &h.queue(), "the drained worker's consumer to go", |d| {
        d.1 == 0
    })
    .await;
    let pass = h.submit("fx-pass", &[]);
    assert_eq!(
        depth(&h, &h.queue()).await,
        (1, 0),
        "a drained worker takes nothing"
    );
    let r = control(&h, &id, ctl(ControlAction::Resume, None, None)).await;
    assert!(r.ok);
    assert_eq!(wait_completion(&mut done, &pass, RUN).await.exitcode, 0);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_job_and_a_second_one_requeues_it() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("sigterm", "").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    let pid = h.start_worker("a", &[]);
    let uuid = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=6"]);
    wait_live(&h, &uuid, "tick 1", RUN).await;
    let term = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM")
    };
    term();
    assert_eq!(
        wait_completion(&mut done, &uuid, RUN).await.exitcode,
        0,
        "the job finished after SIGTERM"
    );
    let status = h.workers[0].1.wait().expect("wait worker");
    assert_eq!(status.code(), Some(0));

    let pid = h.start_worker("b", &[]);
    let uuid = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=60"]);
    wait_live(&h, &uuid, "tick 1", RUN).await;
    let term = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM")
    };
    term();
    // The second SIGTERM only once the first was taken in (not merged with it).
    wait_log(&h, "b", "SIGTERM: finishing the current job", RUN).await;
    term();
    let status = tokio::task::block_in_place(|| h.workers[1].1.wait()).expect("wait worker");
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        depth(&h, &h.queue()).await,
        (1, 0),
        "the stopped request is back in its queue"
    );
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(1)).await,
        0
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_test_is_held_clear_of_the_consumer_timeout() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("lease", "[worker]\nlease = 2\nreclaim_after = 4\n").await;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let held = names::held_queue(&h.worker_id("a"));
    let uuid = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=10"]);
    wait_log(&h, "a", "moved to", RUN).await;
    // The original is acknowledged (no unacked message for the consumer timeout to fire on);
    // the request is safe in the held queue; the busy worker stopped consuming, so a second
    // request waits in the queue instead of sitting unacknowledged on the busy worker.
    assert_eq!(depth(&h, &held).await, (1, 0));
    // It cancelled its consumer before moving the request (and logging so): with no consumer,
    // a request published now stays ready.
    let second = h.submit("fx-pass", &[]);
    assert_eq!(depth(&h, &h.queue()).await, (1, 0));
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0);
    assert_eq!(
        depth(&h, &held).await.0,
        0,
        "released after the result was stored"
    );
    assert_eq!(
        wait_completion(&mut done, &second, RUN).await.exitcode,
        0,
        "consuming again after the long job"
    );

    // A worker killed while holding a request: another worker that heard its heartbeats
    // requeues the held request after `reclaim_after`, and runs it.
    let pid = h.workers[0].1.id();
    let uuid = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=8"]);
    eventually("the request to be held", RUN, || {
        h.worker_log("a").matches("moved to").count() >= 2
    })
    .await;
    h.start_worker("b", &[]);
    // b listens to heartbeats before it consumes; once it consumes (a, holding, does not),
    // the next heartbeat of a reaches b too, and b will reclaim a's request when a goes silent.
    wait_depth(&h, &h.queue(), "worker b to consume", |d| d.1 == 1).await;
    wait_heartbeat(&h, &h.worker_id("a"), RUN).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(
        c.adtop.as_ref().map(|a| a.worker.clone()),
        Some(h.worker_id("b"))
    );
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(3)).await,
        0,
        "exactly one completion"
    );
    assert_eq!(depth(&h, &held).await.0, 0);

    // The manual tool for a worker nobody heard from.
    let out = h.adtop(&["requeue-held", &h.worker_id("a")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("requeued 0"));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_waits_in_the_spool_while_the_store_is_down() {
    let mut h = Harness::new("storedown", "").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    // A regular file where the store's directory should be: every write to the store fails.
    std::fs::write(h.store(), b"not a directory").expect("block the store");
    h.start_worker("a", &["--runner", "/bin/true"]);
    let uuid = h.submit("fx-pass", &[]);
    wait_log(&h, "a", "result kept in the spool", RUN).await;
    assert_eq!(depth(&h, &h.queue()).await.0, 0);
    let spool = h.dir.path().join("spool-a").join(&uuid);
    assert!(
        spool.join("entry.json").is_file(),
        "the result waits in the spool"
    );
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(1)).await,
        0,
        "not announced before it is stored"
    );
    let ch = h.conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            h.queue().as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("queue");
    assert_eq!(
        q.message_count(),
        0,
        "the request is held unacknowledged, not requeued or lost"
    );

    std::fs::remove_file(h.store()).expect("the store comes back");
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert!(
        h.store()
            .join(&c.container)
            .join(&c.swift_dir)
            .join("log.gz")
            .is_file()
    );
    eventually(
        "the spool entry to go once stored, announced and acknowledged",
        RUN,
        || !spool.exists(),
    )
    .await;
    assert_eq!(depth(&h, &h.queue()).await.0, 0);
    h.cleanup().await;
}
