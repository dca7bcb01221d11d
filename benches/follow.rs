//! What a console reads from the results store when it starts (issue 8): the newest 2,000
//! index entries of two days, one GET each. Prints figures; asserts only that every entry was read.
//!
//! `cargo bench --bench follow`. The file store always; with a Swift answering at
//! `ADTOP_BENCH_SWIFT_AUTH` (default `http://127.0.0.1:8080/auth/v1.0`, the test Swift of
//! `scripts/swift.sh start`; user `ADTOP_BENCH_SWIFT_USER`, default `test2:tester2`, key
//! `ADTOP_BENCH_SWIFT_KEY`, default `testing2`) that too, into a container of its own that it
//! empties and deletes at the end. `ADTOP_BENCH_ENTRIES` (default 2,000), `ADTOP_BENCH_REPS`
//! (default 3). The baseline is the same read one GET at a time, as the console did before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use adtop::config::SwiftConfig;
use adtop::ops::follow;
use adtop::protocol::{layout, names};
use adtop::store::{ObjectMeta, Store};
use anyhow::{Context, Result, ensure};
use chrono::Utc;
use futures::StreamExt;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn entry(i: usize, finished: chrono::DateTime<Utc>) -> (String, Vec<u8>) {
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = serde_json::json!({
        "uuid": uuid, "package": format!("pkg{i}"), "release": "noble", "arch": "amd64",
        "queue": "debci-noble-amd64", "exitcode": 0, "class": "pass",
        "container": "autopkgtest-noble", "swift_dir": "noble/amd64/p/pkg/x@", "duration": 60,
        "finished": finished, "worker": "w1", "triggers": [format!("pkg{i}/1")],
        "requester": "britney", "testpkg_version": format!("pkg{i} 1"),
        "body": format!("pkg{i}\n{{\"triggers\": [\"pkg{i}/1\"]}}"),
    });
    (
        layout::index_key(finished, &uuid),
        serde_json::to_vec(&body).unwrap(),
    )
}

/// Write `n` index entries spread over the last hours of today (and yesterday, past midnight).
async fn fill(store: &Store, n: usize) -> Result<Vec<String>> {
    let now = Utc::now();
    let entries: Vec<_> = (0..n)
        .map(|i| entry(i, now - chrono::Duration::seconds(i as i64 * 7)))
        .collect();
    let keys = entries.iter().map(|(k, _)| k.clone()).collect();
    let mut puts = futures::stream::iter(entries)
        .map(|(k, v)| async move {
            let meta = ObjectMeta {
                content_type: Some("application/json"),
                content_encoding: None,
            };
            store.put(names::INDEX_CONTAINER, &k, v, meta).await
        })
        .buffer_unordered(32);
    while let Some(r) = puts.next().await {
        r?;
    }
    Ok(keys)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn measure(what: &str, store: &Store, n: usize, reps: usize) -> Result<()> {
    let t = Instant::now();
    fill(store, n).await?;
    println!(
        "{what}: {n} index entries written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let want = n.min(follow::HISTORY_RESULTS);
    let mut figures = Vec::new();
    for in_flight in [1, follow::GETS_IN_FLIGHT] {
        let (mut took, mut screen) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t = Instant::now();
            let (got, first) = follow::start_read(store, in_flight).await?;
            took.push(t.elapsed().as_secs_f64());
            screen.push(first.as_secs_f64());
            ensure!(got.len() == want, "{} of {want} entries read", got.len());
        }
        let max = took.iter().copied().fold(f64::NAN, f64::max);
        let m = median(&mut took);
        figures.push(m);
        println!(
            "  start read, {in_flight:>2} GET(s) at a time: all {want} median {m:.3} s (max {max:.3} s); the first {} median {:.3} s",
            follow::FIRST_SCREEN.min(want),
            median(&mut screen)
        );
    }
    if let [one, many] = figures[..] {
        println!(
            "  ratio one at a time / {}: {:.1}x",
            follow::GETS_IN_FLIGHT,
            one / many
        );
    }
    Ok(())
}

/// Delete the bench's index container from Swift: objects first, then the container.
async fn delete_swift(auth: &str, user: &str, key: &str, keys: &[String]) -> Result<()> {
    let http = reqwest::Client::new();
    let r = http
        .get(auth)
        .header("X-Auth-User", user)
        .header("X-Auth-Key", key)
        .send()
        .await?;
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .context(n.to_string())
    };
    let (url, token) = (h("X-Storage-Url")?, h("X-Auth-Token")?);
    let base = format!("{url}/{}", names::INDEX_CONTAINER);
    let mut dels = futures::stream::iter(keys)
        .map(|k| {
            http.delete(format!("{base}/{k}"))
                .header("X-Auth-Token", &token)
                .send()
        })
        .buffer_unordered(32);
    while let Some(r) = dels.next().await {
        r?;
    }
    http.delete(&base)
        .header("X-Auth-Token", &token)
        .send()
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let n = env_usize("ADTOP_BENCH_ENTRIES", follow::HISTORY_RESULTS).max(1);
    let reps = env_usize("ADTOP_BENCH_REPS", 3).max(1);

    let dir = tempfile::Builder::new().prefix("adtop-bench-").tempdir()?;
    let file = Store::open(
        &format!("file://{}/store", dir.path().display()),
        &SwiftConfig::default(),
    )?;
    measure("file store", &file, n, reps).await?;

    let auth = env_or("ADTOP_BENCH_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0");
    let user = env_or("ADTOP_BENCH_SWIFT_USER", "test2:tester2");
    let key = env_or("ADTOP_BENCH_SWIFT_KEY", "testing2");
    let swift = Store::open(
        &format!("swift+{auth}"),
        &SwiftConfig {
            user: Some(user.clone()),
            key: Some(key.clone()),
            ..Default::default()
        },
    )?;
    if let Err(e) = swift.check().await {
        println!(
            "no Swift at {auth} ({e}): start one with `eval \"$(scripts/swift.sh start)\"`; Swift skipped"
        );
        return Ok(());
    }
    // The account must hold no index of its own: the bench would read it too, then delete it.
    ensure!(
        swift
            .list(names::INDEX_CONTAINER, "", None)
            .await
            .map(|l| l.is_empty())
            .unwrap_or(true),
        "{user}'s {} is not empty: give the bench an account of its own (ADTOP_BENCH_SWIFT_USER)",
        names::INDEX_CONTAINER
    );
    let t = Instant::now();
    let r = measure(&format!("Swift at {auth}"), &swift, n, reps).await;
    let keys = swift
        .list(names::INDEX_CONTAINER, "", None)
        .await
        .unwrap_or_default();
    delete_swift(&auth, &user, &key, &keys).await?;
    println!(
        "  (Swift emptied again; {:.0} s in all)",
        t.elapsed().as_secs_f64()
    );
    r
}
