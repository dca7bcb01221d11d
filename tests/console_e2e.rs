//! The real console in tmux, driven by keys, against the real broker and a real worker:
//! depths change on screen, a hung job is stopped and requeued with keys, a live log follows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::tmux::{Tmux, ready};
use common::*;

const RUN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn operator_sees_depths_stops_a_hung_job_and_follows_its_log() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new(
        "console",
        "[worker.timeouts]\ntest = 1000\n[console]\noperator = \"e2e\"\n",
    )
    .await;
    h.declare_common().await;
    let queue = h.queue();
    let console = format!(
        "XDG_DATA_HOME={data} {bin} --config {cfg} --store {store}",
        data = h.dir.path().display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url()
    );
    let t = Tmux::start(&format!("adtop-{}", h.release), &console);
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues") && s.contains("broker")
    })
    .await;

    // Depths: two requests with no worker show up as READY 2, marked as having no consumer.
    h.submit("fx-pass", &["--trigger", "fx-pass/1"]);
    h.submit("fx-pass", &["--trigger", "fx-pass/2"]);
    t.keys(&["/"]);
    t.keys(&[&h.release, "Enter"]);
    let s = t
        .wait_for("READY 2", Duration::from_secs(10), |s| {
            ready(s, &queue) == Some(2)
        })
        .await;
    assert!(
        s.lines()
            .any(|l| l.contains(&queue) && l.contains("NO CONSUMER")),
        "{s}"
    );

    // A worker drains the queue: the depth on screen falls to 0.
    h.start_worker("a", &[]);
    t.wait_for("READY 0", RUN, |s| ready(s, &queue) == Some(0))
        .await;

    // A hung job: stop it with keys, confirm (focus starts on Cancel), and see it requeued.
    let hang = h.submit("fx-hang", &[]);
    wait_live(&h, &hang, "starting a test that never ends", RUN).await;
    // Only this test's jobs: other workers may share the broker.
    t.keys(&["4", "/"]);
    t.keys(&[&h.release, "Enter"]);
    t.wait_for("the hung job in Running", Duration::from_secs(15), |s| {
        s.contains("fx-hang")
    })
    .await;
    t.keys(&["s"]);
    let dialog = t
        .wait_for("the confirmation", Duration::from_secs(5), |s| {
            s.contains("[ Keep ]") && s.contains("[ Stop and requeue ]")
        })
        .await;
    t.keys(&["Enter"]);
    t.wait_for("the dialog closed", Duration::from_secs(5), |s| {
        !s.contains("[ Stop and requeue ]")
    })
    .await;
    t.keys(&["s", "Tab", "Enter"]);
    t.wait_for(
        "the outcome in the status line",
        Duration::from_secs(30),
        |s| s.contains("requeued"),
    )
    .await;
    wait_live(&h, &hang, "starting a test that never ends", RUN).await;
    // Had the first Enter stopped it, the job would have been stopped twice by now.
    assert_eq!(
        h.worker_log("a").matches("stopped and requeued").count(),
        1,
        "Enter on the initial focus must cancel:\n{dialog}"
    );

    // Follow its live log: Enter on the running job opens it, new lines arrive.
    t.wait_for("the job running again", Duration::from_secs(15), |s| {
        s.contains("fx-hang")
    })
    .await;
    t.keys(&["Enter"]);
    t.wait_for("the live log", Duration::from_secs(15), |s| {
        s.contains("live") && s.contains("starting a test that never ends")
    })
    .await;

    // Clean up: stop and cancel it from the Running view; the audit trail shows both actions.
    t.keys(&["4", "x", "Tab", "Enter"]);
    t.wait_for("cancelled", Duration::from_secs(30), |s| {
        s.contains("cancelled")
    })
    .await;
    t.keys(&["7"]);
    t.wait_for("the audit trail", Duration::from_secs(10), |s| {
        s.contains("stop-requeue") && s.contains("stop-cancel") && s.contains("e2e")
    })
    .await;
    t.keys(&["q"]);
    drop(t);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_worker_runs_jobs_and_keys_stop_and_start_it() {
    let mut h = Harness::new("embedded", "").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    let id = h.worker_id("embedded");
    h.track_queue(&adtop::protocol::names::held_queue(&id));
    let console = format!(
        "XDG_DATA_HOME={data} {bin} --config {cfg} --store {store} --worker --arch {ARCH} --release {rel} --id {id} --runner /bin/true --spool {data}/spool-e",
        data = h.dir.path().display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url(),
        rel = h.release,
    );
    let t = Tmux::start(&format!("adtop-{}", h.release), &console);
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues")
    })
    .await;
    t.keys(&["3"]);
    let row = |s: &str, word: &str| s.lines().any(|l| l.contains(&id) && l.contains(word));
    t.wait_for(
        "the embedded worker in Workers",
        Duration::from_secs(15),
        |s| row(s, "ok") && row(s, "idle"),
    )
    .await;

    let uuid = h.submit("fx-pass", &[]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(
        c.adtop.as_ref().map(|a| a.worker.clone()),
        Some(id.clone()),
        "the embedded worker ran it"
    );

    t.keys(&["X"]);
    t.wait_for("the stop's warning", Duration::from_secs(5), |s| {
        s.contains("aborted and its request requeued")
    })
    .await;
    t.keys(&["Tab", "Enter"]);
    t.wait_for("the worker stopped", Duration::from_secs(10), |s| {
        s.contains("stopped")
    })
    .await;
    // It said goodbye: shown stopped, not stale or lost (issue 9).
    t.wait_for("it shown as stopped", Duration::from_secs(30), |s| {
        row(s, "stopped")
    })
    .await;
    t.keys(&["W"]);
    t.wait_for("the start's question", Duration::from_secs(5), |s| {
        s.contains("Start the embedded worker?") && s.contains("[ Start worker ]")
    })
    .await;
    t.keys(&["Tab", "Enter", "3"]);
    t.wait_for("the worker back", Duration::from_secs(30), |s| row(s, "ok"))
        .await;
    let uuid = h.submit("fx-pass", &["--trigger", "fx-pass/2"]);
    wait_completion(&mut done, &uuid, RUN).await;
    t.keys(&["q"]);
    drop(t);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn log_output_goes_to_a_file_never_onto_the_console_screen() {
    let h = Harness::new("console-log", "").await;
    let state = h.dir.path().join("state");
    // Everything at trace level, lapin's and the HTTP client's too: none of it may reach the
    // screen the renderer owns.
    let console = format!(
        "RUST_LOG=trace XDG_STATE_HOME={state} {bin} --config {cfg} --store {store}",
        state = state.display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url(),
    );
    let t = Tmux::start(&format!("adtop-{}", h.release), &console);
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues")
    })
    .await;
    let log = state.join("adtop/console.log");
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < until, "no {}", log.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&log).expect("console log");
    assert!(!text.contains('\x1b'), "colour codes in the log file");
    let screen = t.screen();
    for level in ["TRACE", "DEBUG", " INFO", " WARN"] {
        assert!(
            !screen.contains(level),
            "log output on the screen:\n{screen}"
        );
    }
}
