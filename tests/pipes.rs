//! `adtop results | head -3` and `adtop logs UUID | head -1`: a reader that stops early
//! closes the pipe; adtop must end quietly (exit 0, no panic, nothing on stderr).
//! No broker needed: the results and the log are read from a file store made here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use adtop::protocol::messages::IndexEntry;
use adtop::protocol::{Class, layout, names};
use adtop::store::{ObjectMeta, Store};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_adtop")
}

const META: ObjectMeta = ObjectMeta {
    content_type: None,
    content_encoding: None,
};

/// A store with `n` results, the first with a log of `log_lines` lines; returns its uuid.
async fn store_with_results(store: &Store, n: usize, log_lines: usize) -> String {
    let now = chrono::Utc::now();
    let mut first = String::new();
    for i in 0..n {
        let uuid = uuid::Uuid::new_v4().to_string();
        let e = IndexEntry {
            uuid: uuid.clone(),
            package: format!("pkg{i}"),
            release: "pipes".into(),
            arch: "amd64".into(),
            queue: "debci-pipes-amd64".into(),
            exitcode: 0,
            class: Class::Pass,
            container: "autopkgtest-pipes".into(),
            swift_dir: format!("pipes/amd64/p/pkg{i}/20260101_000000_abcde"),
            duration: 1,
            finished: now,
            worker: "w".into(),
            triggers: vec![],
            requester: String::new(),
            testpkg_version: format!("pkg{i} 1.0"),
            body: format!("pkg{i}\n{{}}"),
            private: false,
        };
        let body = serde_json::to_vec(&e).unwrap();
        store
            .put(
                names::INDEX_CONTAINER,
                &layout::index_key(now, &uuid),
                body.clone(),
                META,
            )
            .await
            .unwrap();
        store
            .put(names::INDEX_CONTAINER, &layout::uuid_key(&uuid), body, META)
            .await
            .unwrap();
        if i == 0 {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            for l in 0..log_lines {
                writeln!(gz, "log line {l} of a long test run").unwrap();
            }
            let key = format!("{}/{}", e.swift_dir, layout::LOG_OBJECT);
            store
                .put(&e.container, &key, gz.finish().unwrap(), META)
                .await
                .unwrap();
            first = uuid;
        }
    }
    first
}

/// Run `adtop --store URL ARGS | head -N` in a shell; (adtop's exit status, stderr, what head got).
fn piped(store: &str, args: &str, head: usize) -> (i32, String, String) {
    let err = tempfile::NamedTempFile::new().unwrap();
    let script = format!(
        "'{}' --store '{store}' {args} 2>'{}' | head -{head}; exit ${{PIPESTATUS[0]}}",
        bin(),
        err.path().display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env_remove("ADTOP_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        std::fs::read_to_string(err.path()).unwrap(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[tokio::test]
async fn results_and_logs_end_quietly_when_the_reader_closes_the_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(&url, &Default::default()).unwrap();
    // Far more than a pipe buffer (64 KiB) of output, so adtop is still writing when head exits.
    let uuid = store_with_results(&store, 1500, 200_000).await;

    let (code, err, got) = piped(&url, "results --days 1 --limit 2000", 3);
    assert_eq!(got.lines().count(), 3, "{got}");
    assert_eq!(code, 0, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");

    let (code, err, got) = piped(&url, "results --json --days 1 --limit 2000", 1);
    assert_eq!(got.lines().count(), 1, "{got}");
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.is_empty(), "{err}");

    let (code, err, got) = piped(&url, &format!("logs {uuid}"), 1);
    assert_eq!(got, "log line 0 of a long test run\n");
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn audit_ends_quietly_when_the_reader_closes_the_pipe_and_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(&url, &Default::default()).unwrap();
    let now = chrono::Utc::now();
    for i in 0..2000 {
        let r = adtop::protocol::messages::AuditRecord {
            id: format!("{i:012}"),
            at: now - chrono::Duration::milliseconds(i),
            operator: "op\u{1b}[2J".into(),
            host: "h".into(),
            action: "cancel".into(),
            target: format!("pkg{i} ({i}) in debci-pipes-amd64"),
            outcome: "removed from the queue".into(),
            ok: true,
        };
        store
            .put(
                names::AUDIT_CONTAINER,
                &layout::audit_key(r.at, &r.id),
                serde_json::to_vec(&r).unwrap(),
                META,
            )
            .await
            .unwrap();
    }
    let (code, err, got) = piped(&url, "audit --since 1h", 3);
    assert_eq!(got.lines().count(), 3, "{got}");
    assert_eq!((code, err.as_str()), (0, ""), "quiet on a closed pipe");
    assert!(!got.contains('\u{1b}'), "sanitised: {got:?}");
    let (code, err, got) = piped(&url, "audit --since 1h --json", 2);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(!got.contains('\u{1b}'), "{got:?}");
    // Oldest first, and nothing before --since.
    let (_, _, all) = piped(&url, "audit --since 1h", 5000);
    assert_eq!(all.lines().count(), 2001, "header and every record");
    let (_, _, none) = piped(&url, "audit --since 2099-01-01", 10);
    assert_eq!(none.lines().count(), 1, "{none}");
}
