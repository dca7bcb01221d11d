//! The console in tmux against the real broker and a real worker (issue 9): a job between
//! retry attempts says so (and is not hung), the detail view of it shows its uuid and trigger,
//! `y` writes adtop's own OSC 52 with the uuid, a stored log opens in `$PAGER` made inert and
//! saves raw (never over a file), and a store that cannot be read says so.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::tmux::Tmux;
use common::*;

const RUN: Duration = Duration::from_secs(120);

/// A runner standing in for autopkgtest: prints `text` and exits with `code`.
fn runner(h: &Harness, name: &str, text: &str, code: i32) -> String {
    let path = h.dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\nprintf '{text}'\nexit {code}\n")).expect("runner");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

/// Everything the console writes to its pane, raw (tmux `pipe-pane`).
fn pipe_pane(t: &Tmux, file: &std::path::Path) {
    let ok = Command::new("tmux")
        .args([
            "pipe-pane",
            "-o",
            "-t",
            &t.0,
            &format!("cat >> {}", file.display()),
        ])
        .status()
        .expect("pipe-pane");
    assert!(ok.success());
}

/// The console command line for tmux, after `prefix` (a `cd`, environment).
fn console(h: &Harness, prefix: &str) -> String {
    format!(
        "{prefix}XDG_DATA_HOME={data} {bin} --config {cfg} --store {store}",
        data = h.dir.path().display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url()
    )
}

fn row<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_wait_shows_as_such_and_the_detail_view_and_copy_name_the_job() {
    let mut h = Harness::new("detail", "").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    // Long enough a wait to look at it; nothing here waits for it to end.
    let cfg = std::fs::read_to_string(&h.config).expect("config");
    std::fs::write(
        &h.config,
        cfg.replace(
            "retry_delay_min = 0\nretry_delay_max = 0\n",
            "retry_delay_min = 300\nretry_delay_max = 300\nattempts = 3\n",
        ),
    )
    .expect("config");
    // 16 is a testbed failure: the worker tries again after the delay.
    let fail = runner(&h, "tmpfail.sh", "adtop-e2e: the testbed went away\\n", 16);
    h.start_worker("a", &["--runner", &fail]);
    let uuid = h.submit("fx-pass", &["--trigger", "fx-pass/9.9-1"]);
    wait_log(&h, "a", "retrying in", RUN).await;

    // `adtop running` lists it, waiting, not hung; `adtop workers` says the same.
    let out = h.adtop(&["running"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = row(&text, &uuid).unwrap_or_else(|| panic!("{uuid} in adtop running:\n{text}"));
    assert!(line.contains("retry 2 of 3 in "), "{line}");
    assert!(!line.contains("HUNG"), "{line}");
    let out = h.adtop(&["workers"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = row(&text, &uuid).unwrap_or_else(|| panic!("{uuid} in adtop workers:\n{text}"));
    assert!(line.contains("(retry 2 of 3 in "), "{line}");

    let raw = h.dir.path().join("pane.raw");
    let t = Tmux::start(&format!("adtop-{}", h.release), &console(&h, ""));
    pipe_pane(&t, &raw);
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues") && s.contains("broker")
    })
    .await;
    t.keys(&["4", "/"]);
    t.keys(&[&h.release, "Enter"]);
    let s = t
        .wait_for("the wait in Running", Duration::from_secs(15), |s| {
            row(s, "fx-pass").is_some_and(|l| l.contains("retry 2 of 3 in "))
        })
        .await;
    assert!(!row(&s, "fx-pass").unwrap().contains("HUNG"), "{s}");
    t.keys(&["3", "/"]);
    t.keys(&[&h.release, "Enter"]);
    t.wait_for("the wait in Workers", Duration::from_secs(15), |s| {
        row(s, &h.worker_id("a")).is_some_and(|l| l.contains("retry 2 of 3 in "))
    })
    .await;

    // `d` on the running job: its uuid and trigger; Esc closes.
    t.keys(&["4", "d"]);
    let s = t
        .wait_for("the detail view", Duration::from_secs(10), |s| {
            s.contains(&uuid) && s.contains("fx-pass/9.9-1")
        })
        .await;
    assert!(s.contains("retry 2 of 3 in "), "{s}");

    // `y`: adtop's own OSC 52 with the uuid in base64, and the status line says so.
    t.keys(&["y"]);
    t.wait_for("copied", Duration::from_secs(5), |s| {
        s.contains(&format!("copied uuid {uuid}"))
    })
    .await;
    let want = format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(&uuid)
    );
    eventually(
        "the OSC 52 in the pane's output",
        Duration::from_secs(5),
        || std::fs::read(&raw).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&want)),
    )
    .await;
    t.keys(&["Escape"]);
    t.wait_for("the detail view closed", Duration::from_secs(5), |s| {
        s.contains("ELAPSED") && !s.contains("requester")
    })
    .await;
    t.keys(&["q"]);
    drop(t);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_log_opens_inert_in_the_pager_and_saves_raw_never_over_a_file() {
    let mut h = Harness::new("pager", "").await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    // A log that tries to set the clipboard and clear the screen.
    let ok = runner(
        &h,
        "pass.sh",
        "pager-e2e first line\\nhostile \\033]52;c;cm0gLXJmIC8=\\007 \\033[2J end\\n",
        0,
    );
    h.start_worker("a", &["--runner", &ok]);
    let uuid = h.submit("fx-pass", &["--trigger", "fx-pass/1"]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    let stored = log_text(&h.store(), &c);
    assert!(
        stored.contains("\x1b]52;"),
        "the stored log is raw: {stored:?}"
    );

    let work = h.dir.path().join("cwd");
    std::fs::create_dir_all(&work).expect("cwd");
    let raw = h.dir.path().join("pane.raw");
    let prefix = format!("cd {} && PAGER=less ", work.display());
    let t = Tmux::start(&format!("adtop-{}", h.release), &console(&h, &prefix));
    pipe_pane(&t, &raw);
    t.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("Queues")
    })
    .await;
    t.keys(&["5", "/"]);
    t.keys(&[&h.release, "Enter"]);
    t.wait_for("the result", Duration::from_secs(30), |s| {
        s.contains("fx-pass")
    })
    .await;
    // The detail of the result names where it is stored.
    t.keys(&["d"]);
    t.wait_for("the result's detail", Duration::from_secs(5), |s| {
        s.contains("swift_dir") && s.contains(&c.swift_dir)
    })
    .await;
    t.keys(&["Escape", "Enter"]);
    t.wait_for("the stored log", Duration::from_secs(15), |s| {
        s.contains("pager-e2e first line")
    })
    .await;

    // `v`: less shows the inert text; q comes back to the console, redrawn.
    t.keys(&["v"]);
    let s = t
        .wait_for("less", Duration::from_secs(10), |s| {
            s.contains("pager-e2e first line") && !s.contains("[stored]")
        })
        .await;
    assert!(
        s.contains("^[]52;c;cm0gLXJmIC8=^G"),
        "inert in the pager:\n{s}"
    );
    t.keys(&["q"]);
    t.wait_for("the console again", Duration::from_secs(10), |s| {
        s.contains("[stored]") && s.contains("back from the pager")
    })
    .await;
    let pane = std::fs::read(&raw).expect("pane output");
    assert!(
        !String::from_utf8_lossy(&pane).contains("\x1b]52;c;cm0gLXJmIC8="),
        "the log's OSC 52 reached the terminal"
    );

    // Ctrl-S: the default name, saved raw; a second save refuses to overwrite.
    t.keys(&["C-s"]);
    let name = format!("fx-pass-{uuid}.log");
    t.wait_for("the save prompt", Duration::from_secs(5), |s| {
        s.contains("save raw log to:") && s.contains(&name)
    })
    .await;
    t.keys(&["Enter"]);
    t.wait_for("saved", Duration::from_secs(5), |s| s.contains("saved "))
        .await;
    let saved = std::fs::read_to_string(work.join(&name)).expect("saved log");
    assert_eq!(saved, stored, "the raw log, byte for byte");
    t.keys(&["C-s", "Enter"]);
    t.wait_for("the refusal", Duration::from_secs(5), |s| {
        s.contains("exists: not overwritten")
    })
    .await;
    t.keys(&["Escape", "q"]);
    drop(t);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_cannot_be_read_says_so() {
    let h = Harness::new("badstore", "").await;
    let bad = "file:///proc/nonexistent/store";
    let out = Command::new(bin())
        .args(["--config", &h.config.display().to_string(), "--store", bad])
        .arg("results")
        .output()
        .expect("adtop results");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0 with an unreadable store");
    assert!(
        err.contains("the result store cannot be read") && err.contains("/proc/nonexistent"),
        "{err}"
    );
    let console = format!(
        "{bin} --config {cfg} --store {bad}",
        bin = bin(),
        cfg = h.config.display(),
    );
    let t = Tmux::start(&format!("adtop-{}", h.release), &console);
    t.wait_for(
        "the store down in the header",
        Duration::from_secs(15),
        |s| {
            s.lines()
                .next()
                .is_some_and(|l| l.contains("store") && l.contains("✖ down"))
        },
    )
    .await;
    t.keys(&["q"]);
}
