//! Rejected requests from the command line: a real worker refuses a malformed request into
//! `adtop.rejected`; `adtop rejected` lists it with reason, source queue, worker and time;
//! `resubmit` refuses a body still invalid (nothing moves), queues a fixed one (the worker runs
//! it) and removes it; `discard` drops one; both are in `adtop audit`.
//! `adtop.rejected` is shared by every test on the broker: each looks only at its own source
//! queue, and removes what it left.
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

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// This test's rejected requests (from its own queue), as `adtop rejected --json` lists them.
fn ours(h: &Harness) -> Vec<Value> {
    let out = h.adtop(&["rejected", "--json"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    let all: Vec<Value> = serde_json::from_str(&o).unwrap_or_else(|err| panic!("{err}: {o}"));
    all.into_iter()
        .filter(|r| r["source_queue"] == h.queue().as_str())
        .collect()
}

/// Wait until this test has `n` rejected requests listed.
async fn wait_rejected(h: &Harness, n: usize) -> Vec<Value> {
    let until = std::time::Instant::now() + RUN;
    loop {
        let r = ours(h);
        if r.len() == n {
            return r;
        }
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for {n} rejected: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await; // poll
    }
}

/// Remove whatever this test left in `adtop.rejected`.
fn discard_ours(h: &Harness) {
    for r in ours(h) {
        h.adtop(&["rejected", "discard", r["id"].as_str().unwrap()]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_requests_are_listed_resubmitted_fixed_and_discarded() {
    let mut h = Harness::new("rejected", "[console]\noperator = \"fixer\"\n").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", "/bin/true"]);
    // A request published before its queue exists is dropped by the broker.
    wait_depth(&h, &h.queue(), "the worker consuming", |(_, c)| c >= 1).await;

    // A malformed request: the worker refuses it with the reason.
    publish_raw(&h, b"fx-pass\n{not json").await;
    let listed = wait_rejected(&h, 1).await;
    let r = &listed[0];
    assert_eq!(r["package"], "fx-pass");
    assert_eq!(r["reason_code"], "bad-json");
    assert_eq!(r["worker"], h.worker_id("a").as_str());
    assert!(r["rejected_at"].is_string(), "{r}");
    assert!(!r["reason"].as_str().unwrap().is_empty(), "{r}");
    let id = r["id"].as_str().unwrap().to_string();

    // The text list names it; `show` prints the body alone on stdout (a file to edit).
    let (list, _) = text(&h.adtop(&["rejected"]));
    let row = list.lines().find(|l| l.contains(&id)).expect("listed");
    for word in [h.queue().as_str(), "bad-json", "fx-pass"] {
        assert!(row.contains(word), "{row}");
    }
    let out = h.adtop(&["rejected", "show", &id]);
    let (body, head) = text(&out);
    assert!(out.status.success(), "{head}");
    assert_eq!(body, "fx-pass\n{not json\n");
    assert!(
        head.contains("bad-json") && head.contains(&h.queue()),
        "{head}"
    );

    // Still malformed: refused with the reason, nothing queued, still rejected.
    let bad = h.dir.path().join("bad.txt");
    std::fs::write(&bad, "fx-pass\n{\"triggers\": \n").unwrap();
    let out = h.adtop(&[
        "rejected",
        "resubmit",
        &id,
        "--file",
        &bad.display().to_string(),
    ]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("still invalid") && err.contains("bad-json"),
        "{err}"
    );
    assert_eq!(ours(&h).len(), 1, "nothing removed");

    // Read-only refuses it before anything is sent.
    let out = h.adtop(&["--read-only", "rejected", "resubmit", &id]);
    assert!(text(&out).1.contains("read-only"), "{:?}", text(&out));
    assert_eq!(ours(&h).len(), 1);

    // Fixed: queued on its source queue, run by the worker, gone from adtop.rejected.
    let uuid = uuid::Uuid::new_v4().to_string();
    let fixed = h.dir.path().join("fixed.txt");
    std::fs::write(&fixed, format!("fx-pass\n{{\"uuid\": \"{uuid}\"}}\n")).unwrap();
    let out = h.adtop(&[
        "rejected",
        "resubmit",
        &id,
        "--file",
        &fixed.display().to_string(),
    ]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(
        o.contains("resubmitted fx-pass") && o.contains(&h.queue()),
        "{o}"
    );
    wait_completion(&mut done, &uuid, RUN).await;
    assert!(ours(&h).is_empty(), "removed once queued");

    // Discard: gone for good; a second discard says there is nothing to discard.
    publish_raw(&h, b"fx-pass\n[1, 2]").await;
    let id2 = wait_rejected(&h, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = h.adtop(&["rejected", "discard", &id2]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(ours(&h).is_empty());
    let out = h.adtop(&["rejected", "discard", &id2]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("no rejected request"),
        "{:?}",
        text(&out)
    );

    // The audit trail has both actions, by who, on what.
    let out = h.adtop(&["audit", "--since", "1h", "--json"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    let trail: Vec<Value> = serde_json::from_str(&o).unwrap_or_else(|err| panic!("{err}: {o}"));
    let did = |action: &str, id: &str| {
        trail.iter().any(|a| {
            a["action"] == action
                && a["operator"] == "fixer"
                && a["ok"] == true
                && a["target"].as_str().unwrap().contains(id)
        })
    };
    assert!(did("resubmit", &id) && did("discard", &id2), "{o}");
    let (o, _) = text(&h.adtop(&["audit"]));
    assert!(
        o.lines()
            .any(|l| l.contains("resubmit") && l.contains("fixer") && l.contains(&id)),
        "{o}"
    );
    let out = h.adtop(&["audit", "--since", "soon"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("--since"), "{:?}", text(&out));

    discard_ours(&h);
    h.cleanup().await;
}
