//! Requests run in a real, throwaway testbed: autopkgtest's `unshare` server on a tarball built
//! by `adtop testbed build` (scripts/test.sh builds it once and caches it in
//! /var/cache/adtop-tests/testbeds, or ADTOP_TEST_TESTBEDS). Nothing here installs packages
//! on this host, so these tests run beside the `null`-server ones: scripts/test.sh runs this
//! binary on its own and skips `in_testbed_` in the main run (every test here is named so).
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

use adtop::protocol::messages::{Control, ControlAction, Heartbeat};
use adtop::protocol::names;
use common::*;
use futures::StreamExt;

const RELEASE: &str = "bookworm";
const RUN: Duration = Duration::from_secs(600);

fn testbed_dir() -> PathBuf {
    std::env::var_os("ADTOP_TEST_TESTBEDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/adtop-tests/testbeds"))
}

/// The harness config for a worker on the cached testbed.
fn config(extra_worker: &str) -> String {
    format!(
        "[testbed]\ndir = \"{}\"\n[worker]\nattempts = 1\ntestbed = \"{RELEASE}\"\n{extra_worker}",
        testbed_dir().display()
    )
}

fn installed_on_host(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn in_testbed_a_dependency_missing_on_the_host_is_installed_only_in_the_testbed_and_failures_fail()
 {
    assert!(
        !installed_on_host("figlet"),
        "figlet must not be installed on this host for this test"
    );
    let mut h = Harness::new("tbdeps", &config("")).await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    // The queue is the harness's own release; the testbed is bookworm's.
    h.start_worker("a", &["--testbed", RELEASE]);
    let pass = h.submit("fx-needsdep", &[]);
    let fail = h.submit("fx-fail", &[]);
    let c = wait_completion(&mut done, &pass, RUN).await;
    let log = log_text(&h.store(), &c);
    assert_eq!(c.exitcode, 0, "{log}");
    assert!(log.contains("figlet ran in the testbed"), "{log}");
    assert!(log.contains("unshare"), "{log}");
    assert!(
        !installed_on_host("figlet"),
        "the test's dependency reached the host"
    );
    let c = wait_completion(&mut done, &fail, RUN).await;
    assert_eq!(c.exitcode, 4, "{}", log_text(&h.store(), &c));
    assert!(log_text(&h.store(), &c).contains("this test fails"));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn in_testbed_a_worker_refuses_a_missing_testbed_and_says_how_to_build_it() {
    let mut h = Harness::new("tbmissing", &config("")).await;
    h.no_autopkgtest = true;
    let out = h.adtop(&[
        "worker",
        "--arch",
        ARCH,
        "--release",
        &h.release,
        "--testbed",
        "nosuchrelease",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("adtop testbed build nosuchrelease --arch amd64"),
        "{err}"
    );
    // `list` shows the cached testbed with its age.
    let out = h.adtop(&["testbed", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with(RELEASE))
        .unwrap_or_else(|| panic!("no {RELEASE} row in {text}"));
    assert!(
        regex::Regex::new(r"\s\d+[smhd]\s").unwrap().is_match(row),
        "{row}"
    );
    h.cleanup().await;
}

/// Heartbeats of `id` until one satisfies `ok`.
async fn heartbeat_where(h: &Harness, id: &str, ok: impl Fn(&Heartbeat) -> bool) -> Heartbeat {
    let mut c = h.listen(names::HEARTBEAT_EXCHANGE, "").await;
    let until = tokio::time::Instant::now() + RUN;
    loop {
        let d = tokio::time::timeout_at(until, c.next())
            .await
            .expect("heartbeat in time")
            .expect("consumer open")
            .expect("delivery");
        if let Ok(hb) = serde_json::from_slice::<Heartbeat>(&d.data)
            && hb.id == id
            && ok(&hb)
        {
            return hb;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_testbed_a_broken_testbed_stops_the_worker_after_n_failures_until_resumed() {
    let mut h = Harness::new("tbbroken", &config("testbed_failure_limit = 2\n")).await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--testbed", RELEASE]);
    let id = h.worker_id("a");
    let first = h.submit("fx-breaktb", &[]);
    let second = h.submit("fx-breaktb", &["--env", "ROUND=2"]);
    let after = h.submit("fx-pass", &[]);
    for uuid in [&first, &second] {
        let c = wait_completion(&mut done, uuid, RUN).await;
        assert_eq!(c.exitcode, 16, "{}", log_text(&h.store(), &c));
    }
    let hb = heartbeat_where(&h, &id, |hb| hb.testbed_broken.is_some()).await;
    let why = hb.testbed_broken.unwrap();
    assert!(why.contains("testbed failure"), "{why}");
    // It takes no more requests: fx-pass waits in the queue with nobody consuming it.
    wait_depth(&h, &h.queue(), "the request left waiting", |(r, c)| {
        r == 1 && c == 0
    })
    .await;
    let out = h.adtop(&["workers"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("testbed broken"), "{text}");

    // The operator fixed the testbed: resume, and the waiting request runs.
    let reply = control(
        &h,
        &id,
        Control {
            action: ControlAction::Resume,
            uuid: None,
            then: None,
            operator: "tester".into(),
        },
    )
    .await;
    assert!(reply.ok, "{}", reply.message);
    let c = wait_completion(&mut done, &after, RUN).await;
    assert_eq!(c.exitcode, 0, "{}", log_text(&h.store(), &c));
    heartbeat_where(&h, &id, |hb| hb.testbed_broken.is_none()).await;
    h.cleanup().await;
}

/// A tiny apt archive with the suites `bookworm` (fx-dep and fx-other 1.0) and
/// `bookworm-proposed-updates` (both 2.0), served over HTTP on loopback; the testbed shares
/// the host's network.
struct Archive {
    _dir: tempfile::TempDir,
    server: Child,
    url: String,
}

impl Drop for Archive {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn source_and_binary(pool: &Path, work: &Path, pkg: &str, version: &str) {
    let src = work.join(format!("{pkg}-{version}"));
    std::fs::create_dir_all(src.join("debian/source")).unwrap();
    std::fs::write(src.join("debian/source/format"), "3.0 (native)\n").unwrap();
    std::fs::write(
        src.join("debian/changelog"),
        format!("{pkg} ({version}) unstable; urgency=medium\n\n  * Fixture.\n\n -- adtop tests <adtop@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("debian/control"),
        format!("Source: {pkg}\nMaintainer: adtop tests <adtop@example.org>\n\nPackage: {pkg}\nArchitecture: all\nDescription: fixture\n fixture\n"),
    )
    .unwrap();
    std::fs::write(
        src.join("debian/rules"),
        "#!/usr/bin/make -f\n%:\n\tdh $@\n",
    )
    .unwrap();
    run(Command::new("dpkg-source")
        .current_dir(pool)
        .args(["-b", &src.display().to_string()]));
    let deb = work.join(format!("deb-{pkg}-{version}"));
    std::fs::create_dir_all(deb.join("DEBIAN")).unwrap();
    std::fs::write(
        deb.join("DEBIAN/control"),
        format!("Package: {pkg}\nVersion: {version}\nArchitecture: all\nMaintainer: adtop tests <adtop@example.org>\nDescription: fixture\n"),
    )
    .unwrap();
    run(Command::new("dpkg-deb").args([
        "--build",
        &deb.display().to_string(),
        &pool
            .join(format!("{pkg}_{version}_all.deb"))
            .display()
            .to_string(),
    ]));
}

fn archive() -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for (suite, version) in [("bookworm", "1.0"), ("bookworm-proposed-updates", "2.0")] {
        let pool = root.join("pool").join(suite);
        std::fs::create_dir_all(&pool).unwrap();
        for pkg in ["fx-dep", "fx-other"] {
            source_and_binary(&pool, &work, pkg, version);
        }
        let dists = root.join("dists").join(suite).join("main");
        std::fs::create_dir_all(dists.join("binary-amd64")).unwrap();
        std::fs::create_dir_all(dists.join("source")).unwrap();
        let packages = run(Command::new("apt-ftparchive")
            .current_dir(&root)
            .args(["packages", &format!("pool/{suite}")]));
        std::fs::write(dists.join("binary-amd64/Packages"), packages).unwrap();
        let sources = run(Command::new("apt-ftparchive")
            .current_dir(&root)
            .args(["sources", &format!("pool/{suite}")]));
        std::fs::write(dists.join("source/Sources"), sources).unwrap();
        let release = run(Command::new("apt-ftparchive")
            .current_dir(root.join("dists").join(suite))
            .args([
                "-o",
                &format!("APT::FTPArchive::Release::Suite={suite}"),
                "-o",
                &format!("APT::FTPArchive::Release::Codename={suite}"),
                "-o",
                "APT::FTPArchive::Release::Architectures=amd64 all",
                "-o",
                "APT::FTPArchive::Release::Components=main",
                "release",
                ".",
            ]));
        std::fs::write(root.join("dists").join(suite).join("Release"), release).unwrap();
    }
    let mut server = Command::new("python3")
        .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .unwrap_or_else(|| panic!("no port in {line:?}"))
        .to_string();
    Archive {
        _dir: dir,
        server,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_testbed_a_trigger_is_pinned_from_the_proposed_pocket_and_nothing_else_is() {
    let a = archive();
    // The deployment's archive comes in through --add-apt-source, before autopkgtest derives
    // the pocket's sources from every source line; Debian's stable pocket is proposed-updates.
    let source = format!(
        "deb [trusted=yes] {0} bookworm main\ndeb-src [trusted=yes] {0} bookworm main",
        a.url
    );
    let extra = format!(
        "proposed_pocket = \"proposed-updates\"\nextra_args = [\"--add-apt-source\", {}]\n",
        serde_json::to_string(&source).unwrap()
    );
    let mut h = Harness::new("tbpin", &config(&extra)).await;
    h.no_autopkgtest = true;
    h.declare_common().await;
    let mut done = h.completions().await;
    h.start_worker("a", &["--testbed", RELEASE]);
    let pinned = h.submit("fx-pinned", &["--trigger", "fx-dep/2.0"]);
    let c = wait_completion(&mut done, &pinned, RUN).await;
    let log = log_text(&h.store(), &c);
    assert_eq!(c.exitcode, 0, "{log}");
    assert!(log.contains("fx-dep 2.0 fx-other 1.0"), "{log}");
    // The baseline never takes anything from the pocket.
    let baseline = h.submit("fx-pinned", &["--trigger", "migration-reference/0"]);
    let c = wait_completion(&mut done, &baseline, RUN).await;
    let log = log_text(&h.store(), &c);
    assert_eq!(c.exitcode, 4, "{log}");
    assert!(log.contains("fx-dep 1.0 fx-other 1.0"), "{log}");
    drop(a);
    h.cleanup().await;
}

/// `update` rebuilds as the testbed was built, aside, then renames: a reader that opened the
/// old tarball keeps reading the old one. (mmdebstrap is replaced by a script on PATH here;
/// the real one builds the cached testbed the other tests use.)
#[test]
fn in_testbed_update_rebuilds_aside_and_renames_over_the_old_tarball() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("bin");
    std::fs::create_dir_all(&fake).unwrap();
    let script = fake.join("mmdebstrap");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"I: building $*\" >&2\necho \"args: $*\" > \"$5\"\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .unwrap();
    let tb = dir.path().join("testbeds");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[testbed]\ndir = \"{}\"\n", tb.display())).unwrap();
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let adtop = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    adtop(&[
        "testbed",
        "build",
        "sid",
        "--arch",
        "arm64",
        "--include",
        "python3",
        "--mirror",
        "http://mirror.example/debian",
    ]);
    let tarball = tb.join("sid-arm64.tar.gz");
    let mut old = std::fs::File::open(&tarball).unwrap();
    let first = std::fs::read_to_string(&tarball).unwrap();
    assert!(
        first.contains("--include=build-essential,debhelper,python3 sid")
            && first.contains("http://mirror.example/debian"),
        "{first}"
    );
    adtop(&["testbed", "update"]);
    let mut kept = String::new();
    old.read_to_string(&mut kept).unwrap();
    assert_eq!(kept, first, "the open tarball changed under its reader");
    let second = std::fs::read_to_string(&tarball).unwrap();
    // Same spec, but written to a new file (the temporary name differs each build).
    assert_ne!(second, first);
    assert!(second.contains("http://mirror.example/debian"), "{second}");
    let names: Vec<String> = std::fs::read_dir(&tb)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left behind: {names:?}");
    let list = adtop(&["testbed", "list"]);
    assert!(list.contains("sid") && list.contains("arm64"), "{list}");
}
