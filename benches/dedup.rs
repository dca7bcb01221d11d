//! `adtop submit`'s duplicate check at production depth against the real RabbitMQ (issue 8).
//! Prints figures; asserts only that the check is exact (every queued request found, nothing
//! unchecked) and that the batch refuses exactly its duplicates, never a timing.
//!
//! `cargo bench --bench dedup`. Needs RabbitMQ on 127.0.0.1:5672 (or `ADTOP_BENCH_BROKER`).
//! `ADTOP_BENCH_DEPTH` (default 50,000) requests queued, `ADTOP_BENCH_BATCH` (default 25,000)
//! batch lines, `ADTOP_BENCH_REPS` (default 5) repetitions of each timing. With
//! `ADTOP_BENCH_BEAM=<pid of beam.smp>` (`rabbitmqctl eval 'os:getpid().'`) it also prints the
//! broker's CPU time for each read, which shows who the read waits for. With
//! `ADTOP_BENCH_QUEUE_VERSION=1|2` the queue gets a policy of its own (`rabbitmqctl set_policy`,
//! so the broker must be local) setting RabbitMQ's classic queue version (3.10+), cleared at the end.
//!
//! 1. Baseline: a bare lapin loop doing only what any exact read must (consume the whole ready
//!    backlog with no prefetch limit, cancel, one `basic.nack(multiple, requeue)`, close the
//!    channel: its close-ok comes after the requeue).
//! 2. `dedup::queued` on the same queue, split into the lock (taking it, its settle, releasing
//!    it after its grace), the read (first delivery asked for to everything given back) and
//!    the identities (parsing bodies and computing identities, done as deliveries stream in).
//! 3. One `adtop submit` (the whole process, default `--dedup-wait`), `ADTOP_BENCH_REPS` times.
//! 4. `adtop submit --from` a file of britney-style lines to the same queue, the check on.
//!
//! Everything it creates is under a unique name (`debci-benchdedup<tag>-amd64` and its read
//! lock) and is deleted at the end, whatever happened.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::time::{Duration, Instant};

use adtop::broker::{Session, publish, topology};
use adtop::config::QueueConfig;
use adtop::controller::{backlog, dedup, submit};
use adtop::protocol::{Params, Request};
use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;

const ARCH: &str = "amd64";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `pkg<i>` as `adtop submit` queues a britney line: triggers, requester, uuid, submit time.
fn queued_body(i: usize) -> Vec<u8> {
    let params = submit::stamp(Params {
        triggers: vec![format!("pkg{i}/1")],
        requester: Some("britney".into()),
        ..Default::default()
    });
    Request::new(&format!("pkg{i}"), params)
        .expect("valid request")
        .body()
        .into_bytes()
}

fn identity(i: usize) -> String {
    Request::parse(format!("pkg{i}\n{{\"triggers\": [\"pkg{i}/1\"]}}").as_bytes())
        .expect("valid request")
        .identity()
}

/// Publish `n` requests (confirms pipelined) and wait until the broker counts them all.
async fn fill(s: &Session, q: &str, n: usize) -> Result<()> {
    let ch = s.channel().await?;
    publish::enable_confirms(&ch).await?;
    let mut pending = std::collections::VecDeque::new();
    for i in 0..n {
        let body = queued_body(i);
        pending.push_back(
            ch.basic_publish(
                "".into(),
                q.into(),
                Default::default(),
                &body,
                publish::persistent(),
            )
            .await?,
        );
        if pending.len() >= 1024
            && let Some(p) = pending.pop_front()
        {
            p.await?;
        }
    }
    for p in pending {
        p.await?;
    }
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (ready, _) = topology::peek_counts(&ch, q).await?.context("queue gone")?;
        if ready as usize >= n {
            break;
        }
        ensure!(Instant::now() < until, "only {ready} of {n} queued");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling: waits for the count
    }
    let _ = ch.close(200, "".into()).await;
    Ok(())
}

/// The bare read: consume `n` deliveries, cancel, nack them all back, close (after requeue).
/// (whole, until the last delivery).
async fn bare(s: &Session, q: &str, n: usize) -> Result<(Duration, Duration)> {
    let t = Instant::now();
    let ch = s.channel().await?;
    ch.basic_qos(0, BasicQosOptions { global: false }).await?;
    let mut c = ch
        .basic_consume(
            q.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut last = 0;
    for _ in 0..n {
        let d = tokio::time::timeout(Duration::from_secs(30), c.next())
            .await
            .context("bare read stalled")?
            .context("consumer ended")??;
        last = d.delivery_tag;
    }
    let got = t.elapsed();
    ch.basic_cancel(c.tag().as_str().into(), BasicCancelOptions::default())
        .await?;
    ch.basic_nack(
        last,
        BasicNackOptions {
            multiple: true,
            requeue: true,
        },
    )
    .await?;
    ch.close(200, "bare".into()).await?;
    Ok((t.elapsed(), got))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn line(what: &str, v: &[f64]) {
    println!(
        "  {what:<34} median {:>7.3} s  max {:>7.3} s",
        median(v),
        max(v)
    );
}

struct Run {
    broker: String,
    tag: String,
    queue: String,
    dir: tempfile::TempDir,
}

impl Run {
    /// The adtop binary with `config` and this run's broker.
    fn adtop(&self, config: &std::path::Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_adtop"));
        c.arg("--config")
            .arg(config)
            .arg("--broker")
            .arg(&self.broker);
        c
    }

    async fn go(&self, s: &Session) -> Result<()> {
        let depth = env_usize("ADTOP_BENCH_DEPTH", 50_000).max(1);
        let batch = env_usize("ADTOP_BENCH_BATCH", 25_000).max(1_000);
        let reps = env_usize("ADTOP_BENCH_REPS", 5).max(1);
        let q = &self.queue;
        let ch = s.channel().await?;
        topology::declare_request_queue(&ch, q, &QueueConfig::default()).await?;
        let _ = ch.close(200, "".into()).await;
        if let Some(v) = queue_version() {
            rabbitmqctl(&[
                "set_policy",
                &policy_name(&self.tag),
                &format!("^{q}$"),
                &format!("{{\"queue-version\": {v}}}"),
                "--apply-to",
                "queues",
                "--priority",
                "100",
            ])?;
            println!("classic queue version {v} (a policy on {q})");
        }
        let t = Instant::now();
        fill(s, q, depth).await?;
        println!(
            "{depth} requests queued on {q} in {:.1} s",
            t.elapsed().as_secs_f64()
        );

        let beam = std::env::var("ADTOP_BENCH_BEAM").ok();
        let cpu = || (cpu_of("self"), beam.as_deref().map_or(0.0, cpu_of));
        let (mut bare_t, mut bare_got, mut bare_us, mut bare_broker) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut check_t, mut check_us, mut check_broker) = (Vec::new(), Vec::new(), Vec::new());
        let (mut lock_t, mut read_t, mut ident_t, mut other_t) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let c0 = cpu();
            let (whole, got) = bare(s, q, depth).await?;
            let c1 = cpu();
            bare_t.push(whole.as_secs_f64());
            bare_got.push(got.as_secs_f64());
            bare_us.push(c1.0 - c0.0);
            bare_broker.push(c1.1 - c0.1);

            let c0 = cpu();
            let t = Instant::now();
            let seen = dedup::queued(s, q).await?;
            let total = t.elapsed();
            let c1 = cpu();
            ensure!(seen.unchecked.is_none(), "{:?}", seen.unchecked);
            ensure!(
                seen.identities.len() == depth,
                "{} identities of {depth}",
                seen.identities.len()
            );
            for i in [0, depth / 2, depth - 1] {
                ensure!(seen.identities.contains(&identity(i)), "request {i} missed");
            }
            let spent = seen.spent;
            check_t.push(total.as_secs_f64());
            check_us.push(c1.0 - c0.0);
            check_broker.push(c1.1 - c0.1);
            lock_t.push(spent.lock.as_secs_f64());
            read_t.push(spent.read.as_secs_f64());
            ident_t.push(spent.identities.as_secs_f64());
            other_t.push(total.saturating_sub(spent.lock + spent.read).as_secs_f64());
        }
        let b = backlog::read(s, q, backlog::READ_CAP).await?;
        ensure!(b.complete && b.messages.len() == depth, "the queue changed");
        for (n, m) in b.messages.iter().enumerate() {
            let r = Request::parse(&m.body)?;
            ensure!(r.package == format!("pkg{n}"), "order changed at {n}");
        }
        println!("duplicate check at {depth} queued, {reps} repetitions (release build):");
        line("bare lapin consume + nack (baseline)", &bare_t);
        line("  of which until the last delivery", &bare_got);
        line("dedup::queued, the whole check", &check_t);
        line("  the lock (take + settle, grace)", &lock_t);
        line("  the read (identities included)", &read_t);
        line("    identities, computed meanwhile", &ident_t);
        line("  the rest (channels, counts)", &other_t);
        println!(
            "  ratio check / baseline (medians): {:.2}; the read alone / baseline: {:.2}",
            median(&check_t) / median(&bare_t),
            median(&read_t) / median(&bare_t)
        );
        println!(
            "  CPU, this process: baseline {:.2} s, check {:.2} s (medians)",
            median(&bare_us),
            median(&check_us)
        );
        if beam.is_some() {
            println!(
                "  CPU, the broker (ADTOP_BENCH_BEAM): baseline {:.2} s, check {:.2} s (medians)",
                median(&bare_broker),
                median(&check_broker)
            );
        }

        // One request as an operator submits it, the whole process, default --dedup-wait: its
        // two checks (what runs, what is queued) at once, the ping's wait over once every
        // worker bound to adtop.control has answered.
        let config = self.dir.path().join("config.toml");
        std::fs::write(&config, "")?;
        let release = format!("benchdedup{}", self.tag);
        let workers =
            adtop::broker::management::Management::new("http://127.0.0.1:15672", &self.broker)
                .ok()
                .map(|m| async move { m.bound("adtop.control", "worker.all").await.ok() });
        let workers = match workers {
            Some(f) => f.await,
            None => None,
        };
        let mut single_t = Vec::new();
        for k in 0..reps {
            let pkg = format!("single{k}");
            let t = Instant::now();
            let out = self
                .adtop(&config)
                .args(["submit", &pkg, "--release", &release, "--arch", ARCH])
                .args(["--trigger", &format!("{pkg}/1")])
                .output()
                .context("run adtop submit")?;
            single_t.push(t.elapsed().as_secs_f64());
            ensure!(
                out.status.success(),
                "submit {pkg}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        line(
            &format!(
                "one `adtop submit`, {depth} queued, {} workers bound",
                workers.map_or("? (no management API)".to_string(), |n| n.to_string())
            ),
            &single_t,
        );

        // Britney's lines: four repeat queued requests or an earlier line.
        let dups = [
            (100, 0),
            (batch / 5, depth / 2),
            (batch / 2, depth - 1),
            (batch - 5, depth + 7),
        ];
        let mut text = String::new();
        for l in 0..batch {
            let i = dups
                .iter()
                .find(|(at, _)| *at == l)
                .map_or(depth + l, |(_, i)| *i);
            text.push_str(&format!(
                "{{\"package\": \"pkg{i}\", \"release\": \"{release}\", \"arch\": \"{ARCH}\", \"triggers\": [\"pkg{i}/1\"], \"requester\": \"britney\"}}\n"
            ));
        }
        let file = self.dir.path().join("batch.jsonl");
        std::fs::write(&file, text)?;
        let t = Instant::now();
        let out = self
            .adtop(&config)
            .arg("--store")
            .arg(format!(
                "file://{}",
                self.dir.path().join("store").display()
            ))
            .args(["submit", "--from"])
            .arg(&file)
            .args(["--dedup-wait", "300"])
            .output()
            .context("run adtop submit")?;
        let took = t.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let queued = String::from_utf8_lossy(&out.stdout).lines().count();
        if out.status.code() != Some(1) || queued != batch - dups.len() {
            bail!("submit: {:?}, {queued} queued: {stderr}", out.status);
        }
        for (l, _) in dups {
            ensure!(
                stderr.contains(&format!("line {}: duplicate pkg", l + 1)),
                "line {} not refused: {stderr}",
                l + 1
            );
        }
        println!(
            "batch of {batch} britney lines with the check on ({depth} queued): {took:.2} s, {:.0} requests/s (the process: start, check, publish, confirms)",
            batch as f64 / took
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let broker = std::env::var("ADTOP_BENCH_BROKER")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let run = Run {
        queue: format!("debci-benchdedup{tag}-{ARCH}"),
        broker,
        tag,
        dir: tempfile::Builder::new().prefix("adtop-bench-").tempdir()?,
    };
    let s = Session::open(&run.broker, "dedup bench")
        .await
        .with_context(|| format!("RabbitMQ at {}", adtop::broker::redact(&run.broker)))?;
    let r = run.go(&s).await;
    // Clean up whatever happened: the queue and its read lock.
    if let Ok(ch) = s.channel().await {
        for q in [run.queue.clone(), backlog::lock_name(&run.queue)] {
            let _ = ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = ch.close(200, "".into()).await;
    }
    if queue_version().is_some() {
        let _ = rabbitmqctl(&["clear_policy", &policy_name(&run.tag)]);
    }
    s.close().await;
    r
}

fn queue_version() -> Option<u8> {
    std::env::var("ADTOP_BENCH_QUEUE_VERSION")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| matches!(v, 1 | 2))
}

fn policy_name(tag: &str) -> String {
    format!("adtop-benchdedup-{tag}")
}

fn rabbitmqctl(args: &[&str]) -> Result<()> {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .context("run rabbitmqctl")?;
    ensure!(
        out.status.success(),
        "rabbitmqctl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// CPU seconds (user + system) of a process so far, from `/proc/<pid>/stat` (`self`: this one).
fn cpu_of(pid: &str) -> f64 {
    let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let rest = t.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let st: f64 = f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    (ut + st) / 100.0
}
