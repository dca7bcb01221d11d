//! The Rejected view in tmux, against the real broker and a real worker that refuses a
//! malformed request: the reason is on screen, `adtop.rejected` is in Queues, and the operator
//! fixes and resubmits one request and discards another with keys; both land in the audit trail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

const RUN: Duration = Duration::from_secs(60);

/// This test's rows of `adtop rejected` (the shared queue holds other tests' too).
fn ours(h: &Harness) -> Vec<String> {
    let out = h.adtop(&["rejected"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&h.queue()))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

async fn wait_ours(h: &Harness, n: usize) -> Vec<String> {
    let until = std::time::Instant::now() + RUN;
    loop {
        let ids = ours(h);
        if ids.len() == n {
            return ids;
        }
        assert!(std::time::Instant::now() < until, "{n} rejected: {ids:?}");
        tokio::time::sleep(Duration::from_millis(300)).await; // poll
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_reads_why_fixes_and_resubmits_and_discards_in_the_console() {
    let mut h = Harness::new("conrej", "[console]\noperator = \"tmuxfixer\"\n").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", "/bin/true"]);
    // A request published before its queue exists is dropped by the broker.
    wait_depth(&h, &h.queue(), "the worker consuming", |(_, c)| c >= 1).await;
    publish_raw(&h, b"fx-pass\n{not json").await;
    wait_ours(&h, 1).await;

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
    // adtop.rejected is listed in Queues, marked, with no alarm for its missing consumer.
    t.wait_for("adtop.rejected in Queues", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains("adtop.rejected ·rejected") && !l.contains("NO CONSUMER"))
    })
    .await;

    // The Rejected view: this test's request, with its reason, source queue and worker.
    t.keys(&["8", "/"]);
    t.keys(&[&h.release, "Enter"]);
    let row = |s: &str| {
        s.lines().any(|l| {
            l.contains(&h.queue())
                && l.contains(&h.worker_id("a"))
                && l.contains("bad-json")
                && l.contains("fx-pass")
        })
    };
    t.wait_for("the rejected request and why", RUN, row).await;

    // Edit it: still invalid is refused with the reason, the prompt stays open.
    t.keys(&["e"]);
    t.wait_for("the edit prompt", Duration::from_secs(5), |s| {
        s.contains("resubmit> fx-pass {not json")
    })
    .await;
    t.keys(&["Enter"]);
    t.wait_for("still invalid", Duration::from_secs(5), |s| {
        s.contains("still invalid") && s.contains("resubmit>")
    })
    .await;
    assert_eq!(ours(&h).len(), 1, "nothing resubmitted");
    let uuid = uuid::Uuid::new_v4().to_string();
    t.keys(&["C-u"]);
    t.keys(&[&format!("fx-pass {{\"uuid\": \"{uuid}\"}}"), "Enter"]);
    t.wait_for("the confirmation", Duration::from_secs(5), |s| {
        s.contains("[ Keep ]") && s.contains("[ Resubmit ]")
    })
    .await;
    t.keys(&["Tab", "Enter"]);
    t.wait_for("resubmitted", RUN, |s| s.contains("resubmitted fx-pass"))
        .await;
    wait_completion(&mut done, &uuid, RUN).await;
    wait_ours(&h, 0).await;

    // Another one, discarded: the dialog names the verb, and it is gone.
    publish_raw(&h, b"fx-pass\n[1]").await;
    wait_ours(&h, 1).await;
    t.wait_for("the second rejected request", RUN, |s| {
        s.contains("not-an-object")
    })
    .await;
    t.keys(&["x"]);
    t.wait_for("the discard dialog", Duration::from_secs(5), |s| {
        s.contains("[ Discard request ]")
    })
    .await;
    t.keys(&["Tab", "Enter"]);
    t.wait_for("discarded", RUN, |s| s.contains("discarded"))
        .await;
    wait_ours(&h, 0).await;

    t.keys(&["7"]);
    t.wait_for("the audit trail", Duration::from_secs(10), |s| {
        s.contains("resubmit") && s.contains("discard") && s.contains("tmuxfixer")
    })
    .await;
    t.keys(&["q"]);
    drop(t);
    h.cleanup().await;
}
