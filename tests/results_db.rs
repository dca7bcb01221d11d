//! `adtop results-db` against the real broker: completions from `testcomplete.fanout` into the
//! live database, the published copy locally and in the store with matching checksums, hostile
//! bodies survived, completions sent while it is stopped kept by its durable queue, and SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use adtop::broker::{Session, publish, topology};
use adtop::protocol::messages::TestComplete;
use adtop::protocol::names;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    fn start(h: &Harness, queue: &str) -> Self {
        let log = h
            .dir
            .path()
            .join(format!("results-db-{}.log", uuid::Uuid::new_v4().simple()));
        let d = h.dir.path();
        let child = Command::new(bin())
            .args(["--config", &h.config.display().to_string()])
            .args(["--store", &h.store_url(), "results-db"])
            .args(["--db", &d.join("live.db").display().to_string()])
            .args(["--output", &output(d).display().to_string()])
            .args(["--queue", queue, "--publish-every", "1"])
            .env("RUST_LOG", "adtop=debug,warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start results-db");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and its exit code.
    fn stop(&mut self) -> Option<i32> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < until,
                "results-db did not exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- results-db -----\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn output(dir: &Path) -> PathBuf {
    dir.join("www/autopkgtest.db")
}

fn completion(release: &str, run_id: &str) -> TestComplete {
    TestComplete {
        architecture: ARCH.into(),
        container: format!("autopkgtest-{release}"),
        duration: 7,
        exitcode: 0,
        package: "hello".into(),
        testpkg_version: "2.10-3".into(),
        release: release.into(),
        requester: "tester".into(),
        swift_dir: format!("{release}/{ARCH}/h/hello/{run_id}"),
        triggers: "hello/2.10-3".into(),
        env: String::new(),
        uuid: uuid::Uuid::new_v4().to_string(),
        adtop: None,
    }
}

/// Run ids of our release in a database file, or None while it cannot be read.
fn run_ids(db: &Path, release: &str) -> Option<Vec<String>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let mut st = conn
        .prepare(
            "SELECT r.run_id FROM test t JOIN result r ON r.test_id = t.id \
             WHERE t.release = ?1 ORDER BY r.run_id",
        )
        .ok()?;
    let rows = st.query_map([release], |r| r.get(0)).ok()?;
    rows.collect::<Result<Vec<String>, _>>().ok()
}

async fn wait_for_queue(s: &Session, queue: &str) {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        // A failed passive declare closes its channel: one channel per try.
        let ch = s.channel().await.expect("channel");
        if let Ok(Some(_)) = topology::peek_counts(&ch, queue).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "queue {queue} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn announce(s: &Session, body: &[u8]) {
    publish::publish_confirmed(
        &s.confirm,
        names::TESTCOMPLETE_EXCHANGE,
        "",
        body,
        publish::persistent(),
        false,
    )
    .await
    .expect("publish completion");
}

/// The published pair in the store and beside --output: each checksum is the sha256 of its
/// database, lowercase hex, nothing else.
fn assert_pairs_match(h: &Harness) {
    let store = h.store().join(names::RESULTS_DB_CONTAINER);
    for (db, sum) in [
        (
            store.join(names::RESULTS_DB_OBJECT),
            store.join(names::RESULTS_DB_SHA256_OBJECT),
        ),
        (
            output(h.dir.path()),
            h.dir.path().join("www/autopkgtest.db.sha256"),
        ),
    ] {
        let data = std::fs::read(&db).expect("published database");
        let sum = std::fs::read_to_string(&sum).expect("published checksum");
        assert_eq!(
            sum,
            adtop::resultsdb::publish::sha256_hex(&data),
            "{}",
            db.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_become_the_published_database_britney_reads() {
    let mut h = Harness::new("resultsdb", "").await;
    h.no_autopkgtest = true;
    let queue = format!("adtop.results-db.{}", h.release);
    h.track_queue(&queue);
    let s = Session::open(BROKER, "results-db test")
        .await
        .expect("session");
    let mut service = Service::start(&h, &queue);
    wait_for_queue(&s, &queue).await;

    // Hostile or foreign bodies first: each is logged and acknowledged, none stops the service.
    announce(&s, b"not json at all \x1b]52;c;ZXZpbA==\x07").await;
    announce(&s, b"\xff\xfe\xfd").await;
    announce(&s, &vec![b'{'; (1 << 20) + 10]).await;
    announce(&s, br#"{"architecture": 1}"#).await;
    let mut ppa = completion(&h.release, "20240101_000000_ppppp@");
    ppa.container = format!("autopkgtest-{}-lpuser-ppa", h.release);
    announce(&s, &serde_json::to_vec(&ppa).expect("json")).await;
    let mut no_triggers = completion(&h.release, "20240101_000000_ttttt@");
    no_triggers.triggers = String::new();
    announce(&s, &serde_json::to_vec(&no_triggers).expect("json")).await;

    let first = completion(&h.release, "20240101_000000_aaaaa@");
    let body = serde_json::to_vec(&first).expect("json");
    announce(&s, &body).await;
    announce(&s, &body).await; // a duplicate: recorded once
    // As autopkgtest-cloud's worker sends it: no uuid, null requester.
    let theirs = format!(
        r#"{{"architecture":"{ARCH}","container":"autopkgtest-{r}","duration":3,"exitcode":4,"package":"hello","testpkg_version":"2.10-3","release":"{r}","requester":null,"swift_dir":"{r}/{ARCH}/h/hello/20240102_000000_bbbbb@","triggers":"hello/2.10-3","env":""}}"#,
        r = h.release
    );
    announce(&s, theirs.as_bytes()).await;

    let out = output(h.dir.path());
    let want = vec![
        "20240101_000000_aaaaa@".to_string(),
        "20240102_000000_bbbbb@".to_string(),
    ];
    eventually("both runs in the published copy", WAIT, || {
        run_ids(&out, &h.release).as_ref() == Some(&want)
    })
    .await;
    // The store's copy follows the local one within the same publish.
    let in_store = h
        .store()
        .join(names::RESULTS_DB_CONTAINER)
        .join(names::RESULTS_DB_OBJECT);
    eventually("both runs in the store's copy", WAIT, || {
        run_ids(&in_store, &h.release).as_ref() == Some(&want)
    })
    .await;
    assert!(
        service.child.try_wait().expect("wait").is_none(),
        "the service died:\n{}",
        service.log()
    );
    assert_eq!(service.stop(), Some(0), "{}", service.log());
    assert_pairs_match(&h);
    let log = service.log();
    assert!(log.contains("not a completion"), "{log}");
    assert!(
        !log.contains("\x1b]52"),
        "an escape reached the log:\n{log}"
    );

    // Sent while the service is stopped: the durable queue keeps it for the next start.
    let later = completion(&h.release, "20240103_000000_ccccc@");
    announce(&s, &serde_json::to_vec(&later).expect("json")).await;
    let mut service = Service::start(&h, &queue);
    eventually("the run sent while stopped", WAIT, || {
        run_ids(&out, &h.release).is_some_and(|r| r.len() == 3)
    })
    .await;
    assert_eq!(service.stop(), Some(0), "{}", service.log());
    assert_pairs_match(&h);

    s.close().await;
    h.cleanup().await;
}
