//! The console's table columns in tmux, against the real broker: sorting with keys keeps the
//! selection on its request, and an 80x24 window shows whole queue and package names, with
//! times in the operator's `TZ`.
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

/// The packages of the Requests view, top to bottom.
fn packages(screen: &str, of: &[&str]) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| of.contains(w))
                .map(str::to_string)
        })
        .collect()
}

fn console(h: &Harness, env: &str) -> String {
    format!(
        "{env} XDG_DATA_HOME={data} {bin} --config {cfg} --store {store}",
        data = h.dir.path().display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url()
    )
}

/// Open the Requests view of the harness's queue, filtered to it, once `n` requests show.
async fn open_requests(t: &Tmux, h: &Harness, n: usize, pkgs: &[&str]) -> String {
    let queue = h.queue();
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues") && s.contains("broker")
    })
    .await;
    t.keys(&["/"]);
    t.keys(&[&h.release, "Enter"]);
    t.wait_for("the queue", Duration::from_secs(15), |s| s.contains(&queue))
        .await;
    t.keys(&["Enter"]);
    t.wait_for("the requests", Duration::from_secs(15), |s| {
        packages(s, pkgs).len() == n
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sorting_keys_reorder_the_requests_and_the_selection_stays_on_its_request() {
    let mut h = Harness::new("colsort", "[console]\noperator = \"e2e\"\n").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let pkgs = ["fx-pass", "fx-hang", "fx-fail"];
    let uuids: Vec<String> = pkgs
        .iter()
        .map(|p| h.submit(p, &["--trigger", &format!("{p}/1")]))
        .collect();
    let t = Tmux::start(&format!("adtop-{}", h.release), &console(&h, ""));
    let s = open_requests(&t, &h, 3, &pkgs).await;
    assert_eq!(packages(&s, &pkgs), pkgs, "queue order first:\n{s}");

    // Select fx-hang, then sort: `>` once is the position (queue order), twice the package.
    t.keys(&["j", ">", ">"]);
    let s = t
        .wait_for("sorted by package", Duration::from_secs(10), |s| {
            packages(s, &pkgs) == ["fx-fail", "fx-hang", "fx-pass"]
        })
        .await;
    assert!(
        s.contains("PACKAGE↑") && s.contains("[sort PACKAGE ↑]"),
        "{s}"
    );
    // `S` reverses.
    t.keys(&["S"]);
    let s = t
        .wait_for("reversed", Duration::from_secs(10), |s| {
            packages(s, &pkgs) == ["fx-pass", "fx-hang", "fx-fail"]
        })
        .await;
    assert!(s.contains("PACKAGE↓"), "{s}");
    // Move down to fx-fail and back up: the cursor went with fx-hang through both sorts.
    t.keys(&["<"]);
    t.wait_for("back in queue order", Duration::from_secs(10), |s| {
        packages(s, &pkgs) == pkgs && s.contains("[sort #")
    })
    .await;
    // What an action would act on is the request selected before the sorts.
    t.keys(&["c"]);
    let dialog = t
        .wait_for("the cancel dialog", Duration::from_secs(5), |s| {
            s.contains("[ Keep ]")
        })
        .await;
    // The dialog's target line names the request, with its uuid.
    let target = |i: usize| format!("{} [{}/1] ({})", pkgs[i], pkgs[i], uuids[i]);
    assert!(
        dialog.contains(&target(1)),
        "the dialog names fx-hang:\n{dialog}"
    );
    assert!(
        !dialog.contains(&target(0)) && !dialog.contains(&target(2)),
        "{dialog}"
    );
    t.keys(&["Escape", "q"]);
    drop(t);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_80x24_window_shows_whole_queue_and_package_names_and_the_operators_zone() {
    let mut h = Harness::new("colnarrow", "[console]\noperator = \"e2e\"\n").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let pkgs = ["fx-needsdep", "fx-pass"];
    for p in pkgs {
        h.submit(p, &["--trigger", &format!("{p}/1.0")]);
    }
    let queue = h.queue();
    // India has no summer time: the label is the same all year.
    let t = Tmux::start_sized(
        &format!("adtop-{}", h.release),
        &console(&h, "TZ=Asia/Kolkata"),
        80,
        24,
    );
    let s = t
        .wait_for("the queue, whole", Duration::from_secs(20), |s| {
            s.lines().any(|l| l.split_whitespace().any(|w| w == queue))
        })
        .await;
    assert!(s.contains("UTC+5:30"), "the zone in the clock:\n{s}");
    let header = s.lines().next().unwrap_or_default();
    assert!(
        header.contains("broker") && header.contains("store") && header.contains('●'),
        "{header}"
    );
    let s = open_requests(&t, &h, 2, &pkgs).await;
    for p in pkgs {
        assert!(
            s.lines().any(|l| l.split_whitespace().any(|w| w == p)),
            "{p} cut:\n{s}"
        );
    }
    t.keys(&["q"]);
    drop(t);
    h.cleanup().await;
}
