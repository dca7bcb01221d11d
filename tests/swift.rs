//! Results in a real Swift (single node, tempauth, started by `scripts/swift.sh`), read back by
//! readers that follow britney's own algorithms: anonymously from Swift, and from the results
//! database. The scenario has what breaks naive readers: a slow run that finishes after a
//! later one of the same package, a never_run package, a testbed that fails before autopkgtest
//! writes anything, a baseline, and a private run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use adtop::protocol::messages::TestStatus;
use adtop::protocol::names;
use common::britney::{DbReader, SwiftReader, Verdict};
use common::swift::{OUTAGE, SwiftEnv, client, script};
use common::*;
use futures::StreamExt;

const RUN: Duration = Duration::from_secs(120);

/// A stand-in for autopkgtest with its output-dir contract (as in tests/scripting.rs), which can
/// also fail early like a broken testbed: `FAKE_EXIT=16` exits before writing anything.
const FAKE_RUNNER: &str = r#"#!/bin/sh
n=0; code=0; out=; pkg=; trig=; sep=
for a; do
  [ -n "$sep" ] && continue
  case "$a" in
    --) sep=1 ;;
    --output-dir=*) out="${a#--output-dir=}" ;;
    --env=FAKE_SECONDS=*) n="${a#--env=FAKE_SECONDS=}" ;;
    --env=FAKE_EXIT=*) code="${a#--env=FAKE_EXIT=}" ;;
    --env=ADT_TEST_TRIGGERS=*) trig="${a#--env=ADT_TEST_TRIGGERS=}" ;;
    -*) ;;
    *) pkg="$(basename "$a")" ;;
  esac
done
mkdir -p "$out"
echo "args: $*" >> "$out/log"
i=0
while [ "$i" -lt "$n" ]; do echo "fake tick $i" | tee -a "$out/log"; i=$((i+1)); sleep 1; done
if [ "$code" = 16 ]; then echo "testbed failure before anything ran" | tee -a "$out/log"; exit 16; fi
echo "$pkg 1.0" > "$out/testpkg-version"
printf '{"custom_environment": ["ADT_TEST_TRIGGERS=%s"]}' "$trig" > "$out/testinfo.json"
echo "t PASS" > "$out/summary"
echo "fake runner done" | tee -a "$out/log"
exit "$code"
"#;

async fn harness(name: &str, sw: &SwiftEnv, config: &str) -> (Harness, String) {
    let mut h = Harness::new(name, config).await;
    h.no_autopkgtest = true;
    h.store_override = Some(sw.store_url());
    h.env = sw.adtop_env();
    h.declare_common().await;
    let runner = h.dir.path().join("fake-runner");
    std::fs::write(&runner, FAKE_RUNNER).expect("runner");
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    (h, runner.display().to_string())
}

async fn get_status(url: &str, token: Option<&str>) -> u16 {
    let mut rb = client().get(url);
    if let Some(t) = token {
        rb = rb.header("X-Auth-Token", t);
    }
    rb.send().await.expect("Swift answers").status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn britney_finds_every_result_in_swift_and_in_the_results_database() {
    let Some(sw) = SwiftEnv::get().await else {
        return;
    };
    let _swift = OUTAGE.read().await;
    let (mut h, runner) = harness("brit", &sw, "[worker]\nattempts = 1\n").await;
    let list = h.dir.path().join("never_run");
    std::fs::write(&list, "fx-never/*/*\n").expect("never_run list");
    std::fs::write(
        &h.config,
        format!(
            "{}never_run = \"{}\"\n",
            std::fs::read_to_string(&h.config).expect("config"),
            list.display()
        ),
    )
    .expect("config");
    let release = h.release.clone();
    let swift_url = sw.storage_url().await;

    // The results database, kept current from the completions and published in the store.
    let db_queue = format!("adtop.results-db.{release}");
    h.track_queue(&db_queue);
    let db_dir = h.dir.path().join("results-db");
    let mut db_writer = std::process::Command::new(bin())
        .args(["--config", &h.config.display().to_string()])
        .args(["--store", &h.store_url(), "results-db"])
        .args(["--db", &db_dir.join("live.db").display().to_string()])
        .args([
            "--output",
            &db_dir.join("autopkgtest.db").display().to_string(),
        ])
        .args(["--queue", &db_queue, "--publish-every", "1"])
        .envs(h.env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "adtop=debug")
        .stderr(std::fs::File::create(h.dir.path().join("results-db.log")).expect("log"))
        .spawn()
        .expect("adtop results-db");

    let mut done = h.completions().await;
    let mut status = h.listen(names::TESTSTATUS_EXCHANGE, "").await;
    h.start_worker("a", &["--runner", &runner]);
    h.start_worker("b", &["--runner", &runner]);

    // A slow run of fx-pass starts first; a fast one of the same package starts later and ends
    // first. Named at start, the slow run would sort before the fast one and britney, listing
    // after the newest run id it knows, would never see it.
    let slow = h.submit(
        "fx-pass",
        &["--trigger", "fx-pass/1.0", "--env", "FAKE_SECONDS=8"],
    );
    wait_live(&h, &slow, "fake tick 2", RUN).await;
    let fast = h.submit("fx-pass", &["--trigger", "fx-dep/2.0"]);
    let c_fast = wait_completion(&mut done, &fast, RUN).await;
    assert_eq!(c_fast.testpkg_version, "1.0");
    assert_eq!(
        c_fast.swift_dir.split('/').count(),
        5,
        "{}",
        c_fast.swift_dir
    );

    let mut britney = SwiftReader::new(&swift_url, &release);
    britney.fetch("fx-pass", ARCH).await;
    assert!(
        britney.inaccessible.is_empty(),
        "the public container must be listable anonymously: {:?}",
        britney.inaccessible
    );
    let key = |t: &str, s: &str| (t.to_string(), s.to_string(), ARCH.to_string());
    assert_eq!(
        britney
            .results
            .get(&key("fx-dep/2.0", "fx-pass"))
            .map(|r| r.verdict),
        Some(Verdict::Pass),
        "{:?}",
        britney.results
    );
    let c_slow = wait_completion(&mut done, &slow, RUN).await;
    assert!(
        c_slow.swift_dir > c_fast.swift_dir,
        "run ids in the order results were stored"
    );

    // never_run, an early testbed failure, the baseline, and a private run.
    let never = h.submit("fx-never", &["--trigger", "fx-never/1.0"]);
    let broken = h.submit(
        "fx-broken",
        &["--trigger", "fx-broken/1.0", "--env", "FAKE_EXIT=16"],
    );
    let base = h.submit("fx-base", &["--trigger", "migration-reference/0"]);
    let secret = uuid::Uuid::new_v4().to_string();
    publish_raw(
        &h,
        format!(
            "fx-secret\n{{\"swiftuser\": \"{}\", \"triggers\": [\"fx-secret/1.0\"], \"uuid\": \"{secret}\", \"env\": [\"FAKE_SECONDS=2\"]}}",
            sw.user2
        )
        .as_bytes(),
    )
    .await;
    let c_never = wait_completion(&mut done, &never, RUN).await;
    assert_eq!(
        (c_never.exitcode, c_never.testpkg_version.as_str()),
        (99, "blacklisted")
    );
    let c_broken = wait_completion(&mut done, &broken, RUN).await;
    assert_eq!(c_broken.exitcode, 16);
    assert_eq!(c_broken.testpkg_version, "unknown");
    let c_base = wait_completion(&mut done, &base, RUN).await;
    assert_eq!(c_base.exitcode, 0);
    let c_secret = wait_completion(&mut done, &secret, RUN).await;
    assert_eq!(c_secret.container, format!("private-autopkgtest-{release}"));

    // britney, continuing from what it saw, finds every public result once.
    for src in ["fx-pass", "fx-never", "fx-broken", "fx-base", "fx-secret"] {
        britney.fetch(src, ARCH).await;
    }
    assert!(britney.damaged.is_empty(), "{:?}", britney.damaged);
    let expect = [
        ("fx-pass/1.0", "fx-pass", Verdict::Pass, "1.0"),
        ("fx-dep/2.0", "fx-pass", Verdict::Pass, "1.0"),
        ("fx-never/1.0", "fx-never", Verdict::Fail, "blacklisted"),
        ("fx-broken/1.0", "fx-broken", Verdict::Fail, "unknown"),
        ("migration-reference/0", "fx-base", Verdict::Pass, "1.0"),
    ];
    for (t, s, verdict, version) in expect {
        let r = britney
            .results
            .get(&key(t, s))
            .unwrap_or_else(|| panic!("britney did not find {s} for {t}: {:?}", britney.results));
        assert_eq!(
            (r.verdict, r.version.as_str()),
            (verdict, version),
            "{s} {t}"
        );
    }
    assert_eq!(britney.results.len(), expect.len(), "{:?}", britney.results);

    // The private run: nothing of it on the fanouts anyone reads, its container closed to
    // anonymous readers and open to its swiftuser.
    while let Ok(Some(Ok(d))) =
        tokio::time::timeout(Duration::from_millis(300), status.next()).await
    {
        let s: TestStatus = serde_json::from_slice(&d.data).expect("status JSON");
        if s.uuid == secret {
            assert_eq!(s.package, "private-test");
            assert_eq!(s.logtail, "Running private test");
            assert_eq!(s.params, serde_json::json!({}));
        } else {
            assert_ne!(s.package, "fx-secret");
        }
    }
    let private_url = format!("{swift_url}/{}", c_secret.container);
    assert_eq!(
        get_status(&private_url, None).await,
        401,
        "anonymous listing"
    );
    let object = format!("{private_url}/{}/result.tar", c_secret.swift_dir);
    assert_eq!(get_status(&object, None).await, 401, "anonymous read");
    let (_, token2) = sw.token(&sw.user2, &sw.key2).await.expect("second user");
    assert_eq!(
        get_status(&object, Some(&token2)).await,
        200,
        "its swiftuser reads it"
    );
    let logs = h.adtop(&["logs", &secret]);
    assert!(!logs.status.success());
    assert!(String::from_utf8_lossy(&logs.stderr).contains("private"));

    // The database britney downloads through ADT_DB_URL has the same public results.
    let mut db = DbReader::new(&format!("{swift_url}/adtop-db/autopkgtest.db"), &release);
    let until = tokio::time::Instant::now() + RUN;
    loop {
        if db.fetch().await && db.results.len() >= expect.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the results database did not get every result: {:?}\n{}",
            db.results,
            std::fs::read_to_string(h.dir.path().join("results-db.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (t, s, verdict, version) in expect {
        let r = db
            .results
            .get(&key(t, s))
            .unwrap_or_else(|| panic!("{s} {t} not in the db"));
        assert_eq!(
            (r.verdict, r.version.as_str()),
            (verdict, version),
            "{s} {t}"
        );
        assert_eq!(
            Some(r),
            britney.results.get(&key(t, s)),
            "both readers agree"
        );
    }
    assert!(!db.results.keys().any(|(_, s, _)| s == "fx-secret"));

    let _ = db_writer.kill();
    let _ = db_writer.wait();
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn swift_down_during_a_job_means_one_result_acknowledged_after_upload() {
    let Some(sw) = SwiftEnv::get().await else {
        return;
    };
    let _outage = OUTAGE.write().await;
    let (mut h, runner) = harness("swiftdown", &sw, "").await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--runner", &runner]);
    let uuid = h.submit(
        "fx-pass",
        &["--trigger", "fx-pass/1.0", "--env", "FAKE_SECONDS=4"],
    );
    // Two seconds of margin for the listener to bind after the job started.
    wait_live(&h, &uuid, "fake tick 2", RUN).await;
    script("stop-proxy");
    wait_log(&h, "a", "store unavailable", RUN).await;
    // Neither announced nor back in the queue: held unacknowledged while it waits in the spool.
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(1)).await,
        0
    );
    assert_eq!(depth(&h, &h.queue()).await.0, 0);
    script("start-proxy");
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0);
    assert_eq!(
        count_completions(&mut done, &uuid, Duration::from_secs(3)).await,
        0
    );
    // Acknowledged: with the worker gone, nothing comes back to the queue.
    h.stop_workers();
    let until = tokio::time::Instant::now() + RUN;
    let mut d = depth(&h, &h.queue()).await;
    while d.1 != 0 {
        assert!(
            tokio::time::Instant::now() < until,
            "the worker's consumer did not go away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        d = depth(&h, &h.queue()).await;
    }
    assert_eq!(d.0, 0, "the request was acknowledged after the upload");
    let swift_url = sw.storage_url().await;
    let url = format!("{swift_url}/{}/{}/result.tar", c.container, c.swift_dir);
    assert_eq!(
        get_status(&url, None).await,
        200,
        "stored, readable anonymously"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_stops_the_worker_before_it_takes_a_request_and_is_never_printed() {
    let Some(sw) = SwiftEnv::get().await else {
        return;
    };
    let _swift = OUTAGE.read().await;
    let (mut h, runner) = harness("badkey", &sw, "").await;
    h.env = vec![
        ("ADTOP_SWIFT_USER".into(), sw.user.clone()),
        ("ADTOP_SWIFT_KEY".into(), "wr0ng-s3cret".into()),
    ];
    let uuid = h.submit("fx-pass", &[]);
    assert!(!uuid.is_empty());
    h.start_worker("a", &["--runner", &runner]);
    let child = &mut h.workers[0].1;
    let mut status = None;
    for _ in 0..300 {
        if let Some(s) = child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the worker exits on a wrong key");
    assert!(!status.success());
    let log = h.worker_log("a");
    assert!(
        log.contains("not usable") && log.contains(&sw.user),
        "{log}"
    );
    assert!(!log.contains("wr0ng-s3cret"), "{log}");
    // The request was never taken.
    assert_eq!(depth(&h, &h.queue()).await, (1, 0));

    // A configuration file with the key and a mistake: the error names the line, not the key.
    let bad = h.dir.path().join("bad.toml");
    std::fs::write(&bad, "[swift]\nkey = \"wr0ng-s3cret\" oops\n").expect("write");
    let out = std::process::Command::new(bin())
        .args(["--config", &bad.display().to_string(), "queues"])
        .output()
        .expect("adtop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 2"), "{err}");
    assert!(!err.contains("wr0ng-s3cret"), "{err}");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_autopkgtest_end_to_end_into_swift() {
    let Some(sw) = SwiftEnv::get().await else {
        return;
    };
    let _serial = lock_autopkgtest().await;
    let _swift = OUTAGE.read().await;
    let mut h = Harness::new("swiftreal", "").await;
    h.store_override = Some(sw.store_url());
    h.env = sw.adtop_env();
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &[]);
    let uuid = h.submit("fx-pass", &["--trigger", "fx-pass/1.0"]);
    let c = wait_completion(&mut done, &uuid, RUN).await;
    assert_eq!(c.exitcode, 0);
    let swift_url = sw.storage_url().await;
    let mut britney = SwiftReader::new(&swift_url, &h.release);
    britney.fetch("fx-pass", ARCH).await;
    let r = britney
        .results
        .get(&(
            "fx-pass/1.0".to_string(),
            "fx-pass".to_string(),
            ARCH.to_string(),
        ))
        .unwrap_or_else(|| panic!("britney did not find it: {:?}", britney.damaged));
    assert_eq!((r.verdict, r.version.as_str()), (Verdict::Pass, "1.0"));
    let log = client()
        .get(format!(
            "{swift_url}/{}/{}/log.gz",
            c.container, c.swift_dir
        ))
        .send()
        .await
        .expect("log.gz");
    assert_eq!(
        log.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    h.cleanup().await;
}

/// An object far larger than what is asked for is read only that far from Swift: an index entry
/// at the store's cap plus one byte (it then fails to parse), a capped read at its cap.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_larger_than_its_cap_is_read_only_that_far() {
    let Some(sw) = SwiftEnv::get().await else {
        return;
    };
    let _swift = OUTAGE.read().await;
    let store = adtop::store::Store::open(
        &sw.store_url(),
        &adtop::config::SwiftConfig {
            user: Some(sw.user2.clone()),
            key: Some(sw.key2.clone()),
            ..Default::default()
        },
    )
    .expect("a Swift URL");
    let container = format!("adtop-captest-{}", uuid::Uuid::new_v4().simple());
    let meta = adtop::store::ObjectMeta::default();
    store
        .put(&container, "big", vec![b'{'; 3 << 20], meta)
        .await
        .expect("put");
    let got = store.get(&container, "big").await.expect("get");
    let capped = store.get_capped(&container, "big", 10).await.expect("get");
    let missing = store.get(&container, "nope").await.expect("get");
    // Clean up before asserting: the object, then its container.
    let (url, token) = sw.token(&sw.user2, &sw.key2).await.expect("token");
    for path in [format!("{container}/big"), container.clone()] {
        let _ = client()
            .delete(format!("{url}/{path}"))
            .header("X-Auth-Token", &token)
            .send()
            .await;
    }
    assert_eq!(
        got.map(|d| d.len() as u64),
        Some(adtop::store::OBJECT_CAP + 1)
    );
    assert_eq!(capped.map(|d| d.len()), Some(11));
    assert_eq!(missing, None);
}
