//! debci's dialect in the worker ([`crate::protocol::debci`]): what differs from an
//! autopkgtest-cloud request, and nothing else. The job's life is the same
//! ([`super::life`]); a debci job differs in three places:
//!
//! 1. [`receive`]: its body is read as debci's one line, its uuid (adtop's handle for views,
//!    logs and control) is derived from queue and body ([`derived_uuid`]), or taken from
//!    [`names::H_UUID`];
//! 2. [`args`]: autopkgtest runs with debci's options, as `debci-test` and
//!    `debci-autopkgtest` map them (`pin-packages` → `--add-apt-release` + `--pin-packages`,
//!    `extra-apt-source` → `--add-apt-source`, `signing-key` → `--copy` into
//!    `/etc/apt/trusted.gpg.d/`);
//! 3. [`publish_result`]: before adtop stores and announces the result, the tarball
//!    `debci collector` reads goes to debci's results queue, persistent and confirmed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;
use flate2::Compression;
use flate2::write::GzEncoder;
use lapin::message::Delivery;

use super::decide::Rejection;
use super::job::{Attempt, Job, JobQueue};
use super::policy::JobTimeouts;
use super::runner::{self, RunnerConfig};
use super::{Worker, WorkerOptions, hold};
use crate::broker::{Session, publish};
use crate::protocol::debci::{self, DebciRequest, derived_uuid};
use crate::protocol::{Params, Request, names};

/// The debci queues a worker serves and where their results go.
#[derive(Debug, Clone, Default)]
pub struct DebciOptions {
    /// `debci-tests-<arch>-<backend>` for each backend, or names given outright (debci's
    /// `debci_amqp_queue`).
    pub queues: Vec<String>,
    /// debci's `debci_amqp_results_queue` (`debci_results`).
    pub results_queue: String,
}

/// Step 1 for a delivery from one of this worker's debci queues; `None` for any other.
pub fn receive(opts: &WorkerOptions, d: &Delivery) -> Option<Result<Job, Rejection>> {
    let queue = d.routing_key.as_str();
    if !opts.debci.queues.iter().any(|q| q == queue) {
        return None;
    }
    let uuid = hold::header(&d.properties, names::H_UUID);
    Some(job(
        &opts.arch,
        queue,
        &d.data,
        *d.properties.priority(),
        uuid,
    ))
}

fn valid_uuid(u: &str) -> bool {
    (1..=64).contains(&u.len()) && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The job of a debci body. Its [`Request`] is what adtop's views and index show (package,
/// the trigger's words, the uuid); the [`DebciRequest`] is what runs.
pub fn job(
    arch: &str,
    queue: &str,
    body: &[u8],
    priority: Option<u8>,
    uuid: Option<String>,
) -> Result<Job, Rejection> {
    let r = DebciRequest::parse(body).map_err(|e| Rejection::new(e.code(), e.to_string()))?;
    let uuid = uuid
        .filter(|u| valid_uuid(u))
        .unwrap_or_else(|| derived_uuid(queue, body));
    let req = Request {
        package: r.package.clone(),
        params: Params {
            triggers: r.triggers(),
            uuid: Some(uuid.clone()),
            ..Params::default()
        },
    };
    Ok(Job {
        index_body: String::from_utf8_lossy(body).into_owned(),
        body: body.to_vec(),
        priority,
        req,
        queue: JobQueue {
            name: queue.to_string(),
            release: r.suite.clone(),
            arch: arch.to_string(),
        },
        uuid,
        received: Utc::now(),
        debci: Some(r),
    })
}

/// Step 3's command line for a debci job, as debci maps its parameters (`debci-test`), with
/// adtop's timeouts, setup commands and extra arguments. Signing keys are written to `keys`
/// (`<n>.asc`) and copied into the testbed. debci adds `--add-apt-release=<suite>` for a pin
/// only when the request has no extra apt source, as here.
pub fn args(
    cfg: &RunnerConfig,
    r: &DebciRequest,
    out: &Path,
    t: &JobTimeouts,
    keys: &Path,
) -> Result<Vec<String>> {
    let mut a = vec![format!("--output-dir={}", out.display())];
    a.extend(cfg.extra_args.iter().cloned());
    for c in &cfg.setup_commands {
        a.push("--setup-commands".into());
        a.push(c.clone());
    }
    let mut added: Vec<&str> = Vec::new();
    for pin in &r.pins {
        if r.extra_apt_sources.is_empty() && !added.contains(&pin.suite.as_str()) {
            a.push(format!("--add-apt-release={}", pin.suite));
            added.push(&pin.suite);
        }
        a.push(format!("--pin-packages={}", pin.spec()));
    }
    for s in &r.extra_apt_sources {
        a.push(format!("--add-apt-source={s}"));
    }
    if !r.signing_keys.is_empty() {
        std::fs::create_dir_all(keys).context("key directory")?;
    }
    for (i, key) in r.signing_keys.iter().enumerate() {
        let n = i + 1;
        let file = keys.join(format!("{n}.asc"));
        std::fs::write(&file, key).context("write signing key")?;
        a.push(format!(
            "--copy={}:/etc/apt/trusted.gpg.d/{n}.asc",
            file.display()
        ));
    }
    // debci's lxc and qemu backends upgrade the testbed; its null backend does not.
    if !cfg.null_testbed() {
        a.push("--apt-upgrade".into());
    }
    a.extend(runner::timeouts(t));
    a.extend(runner::target(cfg, &r.package));
    Ok(a)
}

/// Step 5, debci's part: the result tarball to debci's results queue, persistent, confirmed,
/// `mandatory` (the queue is declared when the session starts, as debci's worker does).
/// `false` when the broker did not take it: the request stays unacknowledged and runs again.
pub async fn publish_result(w: &Worker, session: &Session, job: &Job, a: &Attempt) -> bool {
    let Some(r) = &job.debci else {
        return true;
    };
    let out = a.out();
    let dir = r.result_dir(&job.queue.arch);
    let worker = w.opts.id.clone();
    let trigger = r.trigger.as_deref().map(debci::escape);
    let packed =
        tokio::task::spawn_blocking(move || tarball(&out, &dir, &worker, trigger.as_deref())).await;
    let bytes = match packed {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::error!("{}: cannot pack debci's result: {e:#}", job.uuid);
            return false;
        }
        Err(e) => {
            tracing::error!("{}: cannot pack debci's result: {e}", job.uuid);
            return false;
        }
    };
    let queue = &w.opts.debci.results_queue;
    match publish::publish_confirmed(
        &session.confirm,
        "",
        queue,
        &bytes,
        publish::persistent(),
        true,
    )
    .await
    {
        Ok(()) => {
            tracing::info!(
                "{}: result for debci run {} published to {queue} ({} bytes)",
                job.uuid,
                r.run_id,
                bytes.len()
            );
            true
        }
        Err(e) => {
            tracing::warn!(
                "{}: cannot publish debci's result to {queue} ({e}); the request runs again",
                job.uuid
            );
            false
        }
    }
}

/// debci-test caps the log at 20 MB: the first 1 MB, a note, the last 19 MB.
const LOG_CAP: u64 = 20 * 1024 * 1024;
const LOG_HEAD: u64 = 1024 * 1024;
/// What of the artifacts goes into the tarball, uncompressed: past this, the rest stays in
/// adtop's store only (the broker's message size limit is 128 MiB by default).
const ARTIFACTS_CAP: u64 = 64 * 1024 * 1024;

/// The gzip'd tar `debci collector` reads: `dir/` holding the output's files, without the
/// per-test stdout/stderr, `log` as `log.gz`, plus `worker` and `trigger` as debci's worker
/// writes them. Blocking (compression).
pub fn tarball(out: &Path, dir: &str, worker: &str, trigger: Option<&str>) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    tar.follow_symlinks(false);
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
    let header = |size: u64, mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(now);
        h.set_entry_type(kind);
        h
    };
    let mut d = header(0, 0o755, tar::EntryType::Directory);
    tar.append_data(&mut d, format!("{dir}/"), std::io::empty())
        .context("add result directory")?;

    let log = capped_log(&out.join("log")).context("compress log")?;
    let mut h = header(log.len() as u64, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, format!("{dir}/log.gz"), log.as_slice())
        .context("add log.gz")?;
    let mut extra = vec![("worker", format!("{worker}\n"))];
    if let Some(t) = trigger {
        extra.push(("trigger", format!("{t}\n")));
    }
    for (name, content) in &extra {
        let mut h = header(content.len() as u64, 0o644, tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{dir}/{name}"), content.as_bytes())
            .with_context(|| format!("add {name}"))?;
    }

    let mut entries: Vec<_> = std::fs::read_dir(out)
        .context("read output directory")?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let mut budget = ARTIFACTS_CAP;
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if debci::dropped(&name) || extra.iter().any(|(n, _)| *n == name) || name == "log.gz" {
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        let path = e.path();
        if kind.is_file() {
            tar.append_path_with_name(&path, format!("{dir}/{name}"))
                .with_context(|| format!("add {name}"))?;
        } else if kind.is_dir() && name != "binaries" {
            let size = tree_size(&path);
            if size <= budget {
                budget -= size;
                tar.append_dir_all(format!("{dir}/{name}"), &path)
                    .with_context(|| format!("add {name}/"))?;
            } else {
                tracing::warn!(
                    "{name}/ is {size} bytes: left out of debci's result (kept in adtop's store)"
                );
            }
        }
    }
    let gz = tar.into_inner().context("finish tarball")?;
    gz.finish().context("finish tarball")
}

fn tree_size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    total = total.saturating_add(e.metadata().map(|m| m.len()).unwrap_or(0));
                }
                _ => {}
            }
        }
    }
    total
}

/// `log` gzip'd, capped as debci caps it; an empty `log.gz` when there is no log.
fn capped_log(path: &Path) -> Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    match std::fs::File::open(path) {
        Ok(mut f) => {
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            if size <= LOG_CAP {
                std::io::copy(&mut f, &mut gz)?;
            } else {
                std::io::copy(&mut (&mut f).take(LOG_HEAD), &mut gz)?;
                write!(
                    gz,
                    "\n----------------8<----------------8<----------------8<-----------------\n\n\
                     WARNING: log file truncated at {} MB (before compression)\n         \
                     First 1MB is presented above, last {} MB below\n\n\
                     ----------------8<----------------8<----------------8<-----------------\n\n",
                    LOG_CAP >> 20,
                    (LOG_CAP - LOG_HEAD) >> 20
                )?;
                f.seek(SeekFrom::Start(size - (LOG_CAP - LOG_HEAD)))?;
                std::io::copy(&mut f, &mut gz)?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(gz.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn cfg(virt: &str) -> RunnerConfig {
        RunnerConfig {
            program: PathBuf::from("autopkgtest"),
            virt: virt.split_whitespace().map(str::to_string).collect(),
            source_dir: None,
            extra_args: Vec::new(),
            setup_commands: Vec::new(),
            pocket: "proposed".into(),
        }
    }

    fn t() -> JobTimeouts {
        JobTimeouts {
            short: 1,
            install: 2,
            test: 3,
            copy: 4,
            build: 5,
            deadline: 6,
        }
    }

    #[test]
    fn options_as_debci_maps_them() {
        let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n-----END PGP PUBLIC KEY BLOCK-----\n";
        let body = format!(
            "hello unstable run-id:9 trigger:hello%2F2 pin-packages:experimental=src:hello pin-packages:experimental=libfoo1 signing-key:{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
        );
        let r = DebciRequest::parse(body.as_bytes()).expect("valid");
        let keys = tempfile::tempdir().expect("tmp");
        let a = args(
            &cfg("lxc autopkgtest-unstable-amd64"),
            &r,
            Path::new("/o"),
            &t(),
            keys.path(),
        )
        .expect("args");
        let copy = format!(
            "--copy={}/1.asc:/etc/apt/trusted.gpg.d/1.asc",
            keys.path().display()
        );
        for want in [
            "--output-dir=/o",
            "--add-apt-release=experimental",
            "--pin-packages=experimental=src:hello",
            "--pin-packages=experimental=libfoo1",
            copy.as_str(),
            "--apt-upgrade",
            "hello",
            "--",
            "lxc",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        // One release added per suite; no ADT_TEST_TRIGGERS (debci passes none).
        assert_eq!(
            a.iter()
                .filter(|x| x.starts_with("--add-apt-release"))
                .count(),
            1
        );
        assert!(!a.iter().any(|x| x.contains("ADT_TEST_TRIGGERS")));
        assert_eq!(
            std::fs::read_to_string(keys.path().join("1.asc")).expect("key"),
            key
        );

        let src = "deb http://deb.example.org/ sid main";
        let body = format!(
            "hello unstable run-id:9 pin-packages:sid=hello extra-apt-source:{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, src)
        );
        let r = DebciRequest::parse(body.as_bytes()).expect("valid");
        let a = args(&cfg("null"), &r, Path::new("/o"), &t(), keys.path()).expect("args");
        assert!(a.iter().any(|x| x == &format!("--add-apt-source={src}")));
        assert!(
            !a.iter().any(|x| x.starts_with("--add-apt-release")),
            "{a:?}"
        );
        assert!(!a.iter().any(|x| x == "--apt-upgrade"), "{a:?}");
    }

    #[test]
    fn uuids_are_stable_and_header_wins() {
        let body = b"hello unstable run-id:1";
        let a = job("amd64", "debci-tests-amd64-lxc", body, Some(5), None).expect("job");
        let b = job("amd64", "debci-tests-amd64-lxc", body, None, None).expect("job");
        let c = job("amd64", "debci-tests-amd64-qemu", body, None, None).expect("job");
        assert_eq!(a.uuid, b.uuid);
        assert_ne!(a.uuid, c.uuid);
        assert_eq!(a.uuid.len(), 36);
        let d = job("amd64", "q", body, None, Some("retry-1".into())).expect("job");
        assert_eq!(d.uuid, "retry-1");
        let e = job("amd64", "q", body, None, Some("bad uuid!".into())).expect("job");
        assert_eq!(e.uuid, derived_uuid("q", body));
        assert_eq!(a.queue.release, "unstable");
        assert_eq!(a.queue.to_string(), "debci-tests-amd64-lxc");
        assert_eq!(a.req.params.uuid.as_deref(), Some(a.uuid.as_str()));
        let bad = job("amd64", "q", b"hello unstable run-id:x", None, None).err();
        assert_eq!(bad.map(|r| r.code), Some("bad-run-id"));
    }

    #[test]
    fn tarball_has_what_the_collector_reads() {
        let out = tempfile::tempdir().expect("tmp");
        let o = out.path();
        for (name, text) in [
            ("log", "the log\n"),
            ("exitcode", "4\n"),
            ("duration", "3\n"),
            ("testpkg-version", "hello 1.0-1\n"),
            ("summary", "t1 FAIL\n"),
            ("t1-stdout", "dropped\n"),
            ("t1-stderr", "dropped\n"),
        ] {
            std::fs::write(o.join(name), text).expect("write");
        }
        std::fs::create_dir_all(o.join("artifacts")).expect("mkdir");
        std::fs::write(o.join("artifacts/a.txt"), "art").expect("write");
        let dir = "autopkgtest-incoming/unstable/amd64/h/hello/9";
        let bytes = tarball(o, dir, "w1", Some("hello%2F1.0")).expect("tar");
        let mut files = BTreeMap::new();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        for e in ar.entries().expect("entries") {
            let mut e = e.expect("entry");
            let path = e.path().expect("path").display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read");
            files.insert(path, data);
        }
        let f = |n: &str| files.get(&format!("{dir}/{n}")).cloned();
        assert!(files.contains_key(&format!("{dir}/")), "{:?}", files.keys());
        assert_eq!(f("exitcode").as_deref(), Some(&b"4\n"[..]));
        assert_eq!(f("duration").as_deref(), Some(&b"3\n"[..]));
        assert_eq!(f("worker").as_deref(), Some(&b"w1\n"[..]));
        assert_eq!(f("trigger").as_deref(), Some(&b"hello%2F1.0\n"[..]));
        assert_eq!(f("artifacts/a.txt").as_deref(), Some(&b"art"[..]));
        assert!(f("t1-stdout").is_none() && f("log").is_none());
        let mut log = String::new();
        flate2::read::GzDecoder::new(f("log.gz").expect("log.gz").as_slice())
            .read_to_string(&mut log)
            .expect("gunzip");
        assert_eq!(log, "the log\n");
    }

    #[test]
    fn big_logs_are_capped_like_debci() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("log");
        let mut f = std::fs::File::create(&path).expect("create");
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..21 {
            f.write_all(&chunk).expect("write");
        }
        f.write_all(b"THE END\n").expect("write");
        drop(f);
        let gz = capped_log(&path).expect("cap");
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(text.contains("WARNING: log file truncated at 20 MB"));
        assert!(text.ends_with("THE END\n"));
        assert!(text.len() < 21 * 1024 * 1024);
    }
}
