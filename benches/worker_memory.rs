//! The worker's peak memory with a large result (issue 7): one job whose runner writes a 1 GiB
//! artifact and a 1 GiB log (also streamed on its stdout, as autopkgtest does), stored into the
//! file store and then into the test Swift. Prints the worker's peak RSS (VmHWM) for each;
//! the target is under 64 MiB. Asserts nothing.
//!
//! `cargo bench --bench worker_memory`. Needs RabbitMQ on 127.0.0.1:5672 (or
//! `ADTOP_BENCH_BROKER`); the Swift part needs `scripts/swift.sh start` (`ADTOP_TEST_SWIFT_*`)
//! and is skipped without it. `ADTOP_BENCH_MIB` (default 1024) sets both sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use adtop::broker::{publish, topology};
use adtop::config::QueueConfig;
use adtop::protocol::messages::TestComplete;
use adtop::protocol::names;
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use lapin::options::{ConfirmSelectOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

const ARCH: &str = "amd64";

fn runner_script(mib: usize) -> String {
    format!(
        r#"#!/bin/sh
out=
for a in "$@"; do
  case "$a" in --output-dir=*) out="${{a#--output-dir=}}" ;; esac
done
[ -n "$out" ] || exit 20
mkdir -p "$out"
head -c {mib}M /dev/urandom > "$out/big-artifact.bin"
# A text log of {mib} MiB, on stdout and in the log file.
head -c $(( {mib} * 3 / 4 ))M /dev/urandom | base64 -w 120 | tee "$out/log"
echo "bench-big 1.0" > "$out/testpkg-version"
exit 0
"#
    )
}

fn vm_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run one large job through a fresh worker with `store` (URL, environment). Returns (peak
/// RSS in KiB, seconds from publish to completion, sizes of the stored objects).
async fn one_job(
    conn: &Connection,
    dir: &Path,
    part: &str,
    store: (&str, Vec<(String, String)>),
    mib: usize,
) -> Result<(Option<u64>, f64)> {
    let broker = std::env::var("ADTOP_BENCH_BROKER")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let release = format!("benchmem{part}{tag}");
    let queue = format!("debci-{release}-{ARCH}");
    let ch = conn.create_channel().await?;
    topology::declare_common(&ch).await?;
    topology::declare_request_queue(&ch, &queue, &QueueConfig::default()).await?;
    let mut done = adtop::broker::listen::listen(&ch, names::TESTCOMPLETE_EXCHANGE, "").await?;

    let runner = dir.join(format!("runner-{part}"));
    std::fs::write(&runner, runner_script(mib))?;
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let config = dir.join("config.toml");
    std::fs::write(&config, "[worker]\nheartbeat_interval = 1\n")?;
    let id = format!("{release}-w");
    let log = std::fs::File::create(dir.join(format!("{id}.log")))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_adtop"))
        .arg("--config")
        .arg(&config)
        .arg("--broker")
        .arg(&broker)
        .arg("--store")
        .arg(store.0)
        .envs(store.1)
        .args(["worker", "--arch", ARCH, "--release", &release, "--id", &id])
        .arg("--spool")
        .arg(dir.join(format!("spool-{part}")))
        .arg("--runner")
        .arg(&runner)
        .env("RUST_LOG", "adtop=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("start adtop worker")?;
    let pid = child.id();

    let body = format!("bench-big\n{{\"uuid\": \"{release}\"}}");
    let pch = conn.create_channel().await?;
    pch.confirm_select(ConfirmSelectOptions::default()).await?;
    let t0 = Instant::now();
    pch.basic_publish(
        "".into(),
        queue.as_str().into(),
        Default::default(),
        body.as_bytes(),
        publish::persistent(),
    )
    .await?
    .await?;
    let until = tokio::time::Instant::now() + Duration::from_secs(1800);
    let result = loop {
        let Ok(Some(Ok(d))) = tokio::time::timeout_at(until, done.next()).await else {
            break Err(anyhow::anyhow!(
                "no completion within 30 min; worker log:\n{}",
                std::fs::read_to_string(dir.join(format!("{id}.log"))).unwrap_or_default()
            ));
        };
        if serde_json::from_slice::<TestComplete>(&d.data).is_ok_and(|m| m.uuid == release) {
            break Ok(t0.elapsed().as_secs_f64());
        }
    };
    let peak = vm_kib(pid, "VmHWM:");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    let _ = ch
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = ch
        .queue_delete(
            names::held_queue(&id).as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await;
    Ok((peak, result?))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// The test Swift's store URL and credentials, if one answers.
async fn swift() -> Option<(String, Vec<(String, String)>)> {
    let v = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.into());
    let auth = v("ADTOP_TEST_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0");
    let user = v("ADTOP_TEST_SWIFT_USER", "test:tester");
    let key = v("ADTOP_TEST_SWIFT_KEY", "testing");
    let ok = reqwest::Client::new()
        .get(&auth)
        .header("X-Auth-User", &user)
        .header("X-Auth-Key", &key)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    ok.then(|| {
        (
            format!("swift+{auth}"),
            vec![
                ("ADTOP_SWIFT_USER".into(), user),
                ("ADTOP_SWIFT_KEY".into(), key),
            ],
        )
    })
}

async fn run() -> Result<()> {
    let mib_each: usize = std::env::var("ADTOP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let broker = std::env::var("ADTOP_BENCH_BROKER")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let conn = Connection::connect(&broker, ConnectionProperties::default()).await?;
    let dir = tempfile::Builder::new()
        .prefix("adtop-bench-mem-")
        .tempdir_in(std::env::var("ADTOP_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))?;
    println!(
        "worker memory: one job with a {mib_each} MiB artifact and a {mib_each} MiB log (also on stdout); target: peak RSS under 64 MiB"
    );
    let store = format!("file://{}", dir.path().join("store").display());
    let (peak, secs) = one_job(&conn, dir.path(), "file", (&store, Vec::new()), mib_each).await?;
    println!(
        "file store: peak RSS (VmHWM) {}; publish to completion {secs:.1} s",
        mib(peak)
    );
    // The file store's copy is not needed for the Swift part: free the disk.
    let _ = std::fs::remove_dir_all(dir.path().join("store"));
    match swift().await {
        Some((url, env)) => {
            let (peak, secs) = one_job(&conn, dir.path(), "swift", (&url, env), mib_each).await?;
            println!(
                "Swift: peak RSS (VmHWM) {}; publish to completion {secs:.1} s",
                mib(peak)
            );
        }
        None => println!("Swift: skipped (no test Swift answers; scripts/swift.sh start)"),
    }
    let _ = conn.close(200, "done".into()).await;
    if mib_each == 0 {
        bail!("ADTOP_BENCH_MIB=0 measures nothing");
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("worker memory bench: {e:#}");
        std::process::exit(1);
    }
}
