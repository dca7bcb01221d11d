//! A fixed, plausible scenario (Ubuntu releases, four architectures, one hung job, one lost
//! worker, a queue nobody consumes) for snapshot tests, screenshots and the benchmark. The
//! clock is fixed, so every rendering of it is the same.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use super::app::App;

use super::config::ConsoleConfig;
use super::event::ModelEvent;
use super::keymap::KeyMap;
use super::model::{ConnState, LogSource, Model, QueueStat, RequestRow, Service, Thresholds};
use super::theme::Theme;
use crate::protocol::exitcode::ExitCode;
use crate::protocol::messages::{
    AuditRecord, Heartbeat, IndexEntry, JobInfo, StatusExtra, TestStatus, WorkerState,
};
use crate::protocol::names;

pub const RELEASES: [&str; 3] = ["noble", "oracular", "plucky"];
pub const ARCHES: [&str; 4] = ["amd64", "arm64", "s390x", "ppc64el"];

/// `xs[i % len]`, without a way to panic.
fn pick<T: Copy + Default>(xs: &[T], i: usize) -> T {
    xs.get(i % xs.len().max(1)).copied().unwrap_or_default()
}

/// The scenario's clock: 2026-03-12 14:30:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 12, 14, 30, 0)
        .single()
        .unwrap_or_default()
}

pub fn heartbeat(id: &str, arch: &str, job: Option<JobInfo>, sent: DateTime<Utc>) -> Heartbeat {
    Heartbeat {
        id: id.into(),
        host: format!("{id}.ops.internal"),
        pid: 4242,
        arch: arch.into(),
        releases: RELEASES.iter().map(|r| r.to_string()).collect(),
        contexts: vec![],
        queues: RELEASES
            .iter()
            .map(|r| format!("debci-{r}-{arch}"))
            .collect(),
        state: if job.is_some() {
            WorkerState::Running
        } else {
            WorkerState::Idle
        },
        job,
        done: 0,
        failed: 0,
        tmpfailed: 0,
        rejected: 0,
        version: "0.1.0".into(),
        sent,
        interval: 30,
        testbed_broken: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn job(
    uuid: &str,
    package: &str,
    release: &str,
    arch: &str,
    trigger: &str,
    started: DateTime<Utc>,
    silent: i64,
    timeout: u64,
) -> JobInfo {
    JobInfo {
        uuid: uuid.into(),
        package: package.into(),
        release: release.into(),
        arch: arch.into(),
        queue: format!("debci-{release}-{arch}"),
        triggers: vec![trigger.into()],
        requester: "britney".into(),
        identity: format!("{package} {release} {arch}"),
        started,
        timeout,
        last_output: now() - Duration::seconds(silent),
        attempt: 1,
        private: false,
        retry: None,
    }
}

/// A noble/amd64 job of `package` started at `started`, silent since the scenario's clock.
pub fn job_info(uuid: &str, package: &str, started: DateTime<Utc>, timeout: u64) -> JobInfo {
    let trigger = format!("{package}/1.0-1");
    job(
        uuid, package, "noble", "amd64", &trigger, started, 0, timeout,
    )
}

#[allow(clippy::too_many_arguments)]
fn entry(
    i: usize,
    package: &str,
    version: &str,
    release: &str,
    arch: &str,
    code: i32,
    ago: i64,
    worker: &str,
) -> IndexEntry {
    let finished = now() - Duration::seconds(ago);
    let prefix = crate::protocol::layout::prefix(package);
    IndexEntry {
        uuid: format!("5e1c{i:04x}-9a1b-4c2d-8e3f-{:012x}", 0xa11ce + i),
        package: package.into(),
        release: release.into(),
        arch: arch.into(),
        queue: format!("debci-{release}-{arch}"),
        exitcode: code,
        class: ExitCode(code).class(),
        container: format!("autopkgtest-{release}"),
        swift_dir: format!(
            "{release}/{arch}/{prefix}/{package}/{}_{:05x}@",
            finished.format("%Y%m%d_%H%M%S"),
            0x3c1f0 + i
        ),
        duration: 95 + (i as u64 * 137) % 2400,
        finished,
        worker: worker.into(),
        triggers: vec![format!("{package}/{version}")],
        requester: if i.is_multiple_of(5) {
            "bdmurray".into()
        } else {
            "britney".into()
        },
        testpkg_version: format!("{package} {version}"),
        body: format!("{package}\n{{\"triggers\": [\"{package}/{version}\"]}}"),
        private: false,
    }
}

pub fn results(_now: DateTime<Utc>) -> Vec<IndexEntry> {
    vec![
        entry(
            1,
            "systemd",
            "256.5-2ubuntu3",
            "plucky",
            "amd64",
            0,
            95,
            "juju-amd64-2",
        ),
        entry(
            2,
            "libpng1.6",
            "1.6.44-2",
            "noble",
            "ppc64el",
            4,
            240,
            "juju-ppc64el-1",
        ),
        entry(
            3,
            "python3.12",
            "3.12.7-1",
            "oracular",
            "s390x",
            16,
            410,
            "juju-s390x-1",
        ),
        entry(
            4,
            "glibc",
            "2.40-1ubuntu3",
            "plucky",
            "arm64",
            0,
            520,
            "juju-arm64-1",
        ),
        entry(
            5,
            "glibc",
            "2.40-1ubuntu3",
            "plucky",
            "s390x",
            2,
            700,
            "juju-s390x-2",
        ),
        entry(
            6,
            "openssl",
            "3.3.1-2ubuntu2",
            "noble",
            "amd64",
            0,
            940,
            "juju-amd64-1",
        ),
        entry(
            7,
            "apt",
            "2.9.8",
            "plucky",
            "amd64",
            8,
            1300,
            "juju-amd64-2",
        ),
        entry(
            8,
            "systemd",
            "256.5-2ubuntu3",
            "plucky",
            "arm64",
            4,
            1710,
            "juju-arm64-1",
        ),
        entry(
            9,
            "libxml2",
            "2.12.7+dfsg-3",
            "oracular",
            "ppc64el",
            0,
            2200,
            "juju-ppc64el-1",
        ),
        entry(
            10,
            "perl",
            "5.40.0-6",
            "plucky",
            "s390x",
            0,
            2900,
            "juju-s390x-2",
        ),
        entry(
            11,
            "libpng1.6",
            "1.6.44-2",
            "noble",
            "amd64",
            0,
            3600,
            "juju-amd64-1",
        ),
        entry(
            12,
            "coreutils",
            "9.4-3ubuntu6",
            "oracular",
            "arm64",
            16,
            4400,
            "juju-arm64-2",
        ),
        entry(
            13,
            "python3.12",
            "3.12.7-1",
            "noble",
            "amd64",
            0,
            5000,
            "juju-amd64-2",
        ),
        entry(
            14,
            "glibc",
            "2.39-0ubuntu8.3",
            "noble",
            "ppc64el",
            12,
            7100,
            "juju-ppc64el-1",
        ),
    ]
}

/// A stored autopkgtest log with one failing test and a summary.
pub const LOG: &str = "\
autopkgtest [14:01:02]: starting date and time: 2026-03-12 14:01:02+0000
autopkgtest [14:01:02]: git checkout: 9c1d3a5 autopkgtest 5.38
autopkgtest [14:01:02]: host juju-ppc64el-1; command line: /usr/bin/autopkgtest --output-dir /tmp/autopkgtest-work.x1/out --timeout-copy=6000 libpng1.6 -- lxd autopkgtest/ubuntu/noble/ppc64el
autopkgtest [14:01:40]: testbed dpkg architecture: ppc64el
autopkgtest [14:01:41]: testbed running kernel: Linux 6.8.0-45-generic #45-Ubuntu SMP
autopkgtest [14:01:55]: @@@@@@@@@@@@@@@@@@@@ apt-source libpng1.6
Get:1 http://ftpmaster.internal/ubuntu noble-proposed/main libpng1.6 1.6.44-2 (dsc) [2369 B]
gpgv: Signature made Mon Mar  9 10:11:12 2026 UTC
dpkg-source: info: extracting libpng1.6 in libpng1.6-1.6.44
autopkgtest [14:02:10]: testing package libpng1.6 version 1.6.44-2
autopkgtest [14:02:11]: build not needed
autopkgtest [14:02:12]: test build: preparing testbed
Reading package lists...
Setting up libpng-dev:ppc64el (1.6.44-2) ...
autopkgtest [14:02:40]: test build: [-----------------------
gcc -o pngtest pngtest.c -lpng16 -lz
build: OK
autopkgtest [14:02:42]: test build: -----------------------]
autopkgtest [14:02:42]: test build:  - - - - - - - - - - results - - - - - - - - - -
build                PASS
autopkgtest [14:02:43]: test upstream-suite: preparing testbed
autopkgtest [14:03:01]: test upstream-suite: [-----------------------
Testing libpng version 1.6.44
   with zlib   version 1.3.1
 Testing pngtest.png: eXIf type MM, 52 bytes
 PASS (9782 zero samples)
 Testing contrib/testpngs/gray-16.png:
 pngtest: contrib/testpngs/gray-16.png: CRC error in IDAT
 FAIL
libpng FAILS test
make: *** [Makefile:1204: check-TESTS] Error 1
autopkgtest [14:03:20]: test upstream-suite: -----------------------]
autopkgtest [14:03:20]: test upstream-suite:  - - - - - - - - - - results - - - - - - - - - -
upstream-suite       FAIL non-zero exit status 2
autopkgtest [14:03:21]: test smoke: preparing testbed
autopkgtest [14:03:30]: test smoke: [-----------------------
png smoke test ok
autopkgtest [14:03:31]: test smoke: -----------------------]
autopkgtest [14:03:31]: test smoke:  - - - - - - - - - - results - - - - - - - - - -
smoke                PASS
autopkgtest [14:03:32]: @@@@@@@@@@@@@@@@@@@@ summary
build                PASS
upstream-suite       FAIL non-zero exit status 2
smoke                PASS
";

fn queue(name: &str, ready: u64, unacked: u64, consumers: u32, pubr: f64, delr: f64) -> QueueStat {
    QueueStat {
        name: name.into(),
        ready,
        unacked,
        consumers,
        publish_rate: pubr,
        deliver_rate: delr,
        max_priority: name.starts_with("debci-tests-").then_some(10),
        // A waiting request for a few seconds per queued one; the PPA queue's is unknown.
        head_timestamp: (ready > 0 && !name.contains("-ppa-"))
            .then(|| now() - Duration::seconds(i64::try_from(ready * 7).unwrap_or(0))),
    }
}

/// The scenario as model events, in arrival order.
pub fn events(now: DateTime<Utc>) -> Vec<ModelEvent> {
    let mut ev = vec![
        ModelEvent::Tick(now - Duration::minutes(10)),
        ModelEvent::Connection {
            service: Service::Broker,
            state: ConnState::Connected,
            endpoint: Some("rabbit.ops.internal:5672".into()),
        },
        ModelEvent::Connection {
            service: Service::Store,
            state: ConnState::Connected,
            endpoint: Some("swift https://swift.ops.internal".into()),
        },
    ];
    // Ten samples of queue depths, 30 s apart, so the sparklines have a shape.
    for k in 0..10u64 {
        let at = now - Duration::seconds(300 - 30 * k as i64);
        let mut qs = Vec::new();
        for (ri, r) in RELEASES.iter().enumerate() {
            for (ai, a) in ARCHES.iter().enumerate() {
                let base = pick(&[420u64, 35, 12], ri) * pick(&[3, 2, 1, 1], ai);
                let ready = base + (k * (7 + ai as u64 * 5) + ri as u64 * 11) % 60;
                let cons = pick(&[6u32, 3, 2, 2], ai);
                qs.push(queue(
                    &format!("debci-{r}-{a}"),
                    ready,
                    u64::from(cons.min(2)),
                    cons,
                    1.5 + ai as f64 * 0.3,
                    1.2 + ri as f64 * 0.4,
                ));
            }
        }
        qs.push(queue("debci-huge-noble-amd64", 3 + k % 3, 1, 1, 0.1, 0.1));
        qs.push(queue("debci-ppa-plucky-s390x", 4 + k, 0, 0, 0.2, 0.0));
        qs.push(queue("debci-upstream-noble-arm64", 0, 0, 1, 0.0, 0.0));
        ev.push(ModelEvent::QueueStats {
            queues: qs,
            received: at,
        });
    }
    let hb = |mut h: Heartbeat, ago: i64, done: u64, failed: u64, tmp: u64| {
        h.done = done;
        h.failed = failed;
        h.tmpfailed = tmp;
        // Sent when received: the console measures on its own clock (ops::rules).
        h.sent = now - Duration::seconds(ago);
        ModelEvent::Heartbeat {
            received: h.sent,
            heartbeat: Box::new(h),
        }
    };
    let t = |m: i64| now - Duration::minutes(m);
    ev.push(hb(
        heartbeat(
            "juju-amd64-1",
            "amd64",
            Some(job(
                "0b7e61d2-2c41-4f5e-9c11-6a2f1e0d9a01",
                "glibc",
                "noble",
                "amd64",
                "glibc/2.39-0ubuntu8.4",
                t(62),
                3,
                10000,
            )),
            now,
        ),
        4,
        182,
        11,
        2,
    ));
    ev.push(hb(
        heartbeat(
            "juju-amd64-2",
            "amd64",
            Some(job(
                "1c8f72e3-3d52-4a6f-8d22-7b3f2f1eab02",
                "python3.12",
                "plucky",
                "amd64",
                "python3.12/3.12.8-1",
                t(9),
                0,
                10000,
            )),
            now,
        ),
        12,
        167,
        9,
        4,
    ));
    ev.push(hb(
        heartbeat(
            "juju-arm64-1",
            "arm64",
            Some(job(
                "2d9083f4-4e63-4b70-9e33-8c403f2fbc03",
                "systemd",
                "plucky",
                "arm64",
                "systemd/256.5-2ubuntu4",
                t(95),
                42 * 60,
                10000,
            )),
            now,
        ),
        7,
        120,
        14,
        6,
    ));
    let mut draining = heartbeat(
        "juju-arm64-2",
        "arm64",
        Some(job(
            "3ea194a5-5f74-4c81-af44-9d5140a0cd04",
            "libpng1.6",
            "oracular",
            "arm64",
            "libpng1.6/1.6.44-2",
            t(21),
            1,
            10000,
        )),
        now,
    );
    draining.state = WorkerState::Draining;
    ev.push(hb(draining, 9, 98, 3, 1));
    ev.push(hb(
        heartbeat("juju-s390x-1", "s390x", None, now),
        2,
        77,
        5,
        8,
    ));
    ev.push(hb(
        heartbeat(
            "juju-s390x-2",
            "s390x",
            Some(job(
                "4fb2a5b6-6085-4d92-b055-ae6251b1de05",
                "perl",
                "noble",
                "s390x",
                "perl/5.38.2-3.2build2.1",
                t(4),
                0,
                3000,
            )),
            now,
        ),
        95,
        64,
        2,
        1,
    ));
    ev.push(hb(
        heartbeat("juju-ppc64el-1", "ppc64el", None, now),
        17,
        88,
        7,
        3,
    ));
    ev.push(hb(
        heartbeat("juju-ppc64el-2", "ppc64el", None, t(14)),
        14 * 60,
        41,
        4,
        9,
    ));
    ev.push(ModelEvent::Tick(now));
    ev.push(ModelEvent::Status {
        status: Box::new(TestStatus {
            release: "plucky".into(),
            architecture: "amd64".into(),
            package: "python3.12".into(),
            running: true,
            params: json!({"triggers": ["python3.12/3.12.8-1"], "requester": "britney"}),
            duration: 540,
            logtail: "test_asyncio ... ok\n".into(),
            uuid: "1c8f72e3-3d52-4a6f-8d22-7b3f2f1eab02".into(),
            adtop: Some(StatusExtra {
                worker: "juju-amd64-2".into(),
                queue: "debci-plucky-amd64".into(),
                timeout: 10000,
                silent: 2,
            }),
        }),
        received: now - Duration::seconds(5),
    });
    for e in results(now) {
        ev.push(ModelEvent::Result(Box::new(e)));
    }
    for (i, (ago, op, action, target, outcome, ok)) in [
        (
            3600,
            "alice",
            "drain",
            "juju-arm64-2",
            "draining after the current job",
            true,
        ),
        (
            1500,
            "bob",
            "retry",
            "coreutils oracular/arm64",
            "queued in debci-oracular-arm64",
            true,
        ),
        (
            300,
            "alice",
            "stop-requeue",
            "perl noble/s390x on juju-s390x-2",
            "worker did not answer in 30s",
            false,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        ev.push(ModelEvent::Audit(AuditRecord {
            id: format!("audit-{i}"),
            at: now - Duration::seconds(ago),
            operator: op.into(),
            host: "ops-bastion".into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            ok,
        }));
    }
    ev.push(ModelEvent::Requests {
        queue: "debci-noble-amd64".into(),
        offset: 0,
        total: 1285,
        rows: requests(now, 40),
    });
    ev
}

/// `n` plausible queued requests.
pub fn requests(now: DateTime<Utc>, n: usize) -> Vec<RequestRow> {
    const PKGS: [(&str, &str); 8] = [
        ("glibc", "glibc/2.39-0ubuntu8.4"),
        ("systemd", "systemd/255.4-1ubuntu8.5"),
        ("python3.12", "python3.12/3.12.3-1ubuntu0.3"),
        ("libpng1.6", "libpng1.6/1.6.43-5build1"),
        ("openssl", "openssl/3.0.13-0ubuntu3.4"),
        ("curl", "curl/8.5.0-2ubuntu10.5"),
        ("apt", "apt/2.7.14build2"),
        ("perl", "perl/5.38.2-3.2build2.1"),
    ];
    (0..n)
        .map(|i| {
            let (p, trig) = pick(&PKGS, i);
            let trigger2 = if i % 3 == 0 {
                " glibc/2.39-0ubuntu8.4"
            } else {
                ""
            };
            RequestRow {
                package: p.into(),
                triggers: format!("{trig}{trigger2}")
                    .split(' ')
                    .map(str::to_string)
                    .collect(),
                requester: if i % 7 == 3 {
                    "bdmurray".into()
                } else {
                    "britney".into()
                },
                submit_time: Some(now - Duration::seconds(7200 - (i as i64 % 7200))),
                priority: if i % 11 == 0 { Some(5) } else { None },
                uuid: Some(format!(
                    "{:08x}-0000-4000-8000-{:012x}",
                    0x7000_0000u32 + i as u32,
                    i
                )),
                body: format!("{p}\n{{\"triggers\": [\"{trig}\"]}}"),
            }
        })
        .collect()
}

/// The scenario's model.
pub fn model(now: DateTime<Utc>) -> Model {
    let mut m = Model::new(now, Thresholds::default());
    for e in events(now) {
        m.apply(e);
    }
    m.apply(rejected(now));
    m
}

/// What `adtop.rejected` holds in the scenario: a producer's bad JSON, an unknown key, a
/// hostile name, and a store that refused a result.
fn rejected(now: DateTime<Utc>) -> ModelEvent {
    let one = |mins: i64, queue: &str, worker: &str, code: &str, reason: &str, body: &str| {
        let h = |k: &str, v: String| (k.to_string(), v);
        crate::ops::rejected::Rejected::from_queued(&crate::controller::look::Queued {
            body: body.as_bytes().to_vec(),
            priority: None,
            uuid: None,
            headers: vec![
                h(names::H_REASON, reason.into()),
                h(names::H_REASON_CODE, code.into()),
                h(names::H_SOURCE_QUEUE, queue.into()),
                h(names::H_WORKER, worker.into()),
                h(
                    names::H_REJECTED_AT,
                    (now - chrono::Duration::minutes(mins)).to_rfc3339(),
                ),
            ],
        })
    };
    let rows = vec![
        one(
            95,
            "debci-noble-amd64",
            "lcy02-amd64-7",
            "bad-json",
            "invalid JSON parameters: expected `,` or `}` at line 1 column 31",
            "glibc\n{\"triggers\": [\"glibc/2.39-0\"] \"ppas\": []}",
        ),
        one(
            42,
            "debci-plucky-arm64",
            "juju-arm64-1",
            "unknown-key",
            "unknown parameter \"trigger\" (did you mean \"triggers\"?)",
            "systemd\n{\"trigger\": [\"systemd/257-2\"]}",
        ),
        one(
            17,
            "debci-noble-s390x",
            "bos03-s390x-2",
            "bad-package",
            "invalid package name \"\\e[2Jrm -rf\"",
            "\u{1b}[2Jrm -rf\n{}",
        ),
        one(
            3,
            "debci-plucky-amd64",
            "lcy02-amd64-3",
            "store-refused",
            "cannot tell whether 5d1e… already ran: the store refused: 403 Forbidden",
            "libpng1.6\n{\"triggers\": [\"libpng1.6/1.6.44-3\"]}",
        ),
    ];
    ModelEvent::Rejected {
        total: rows.len() as u64,
        rows,
    }
}

/// An [`App`] over the scenario with the built-in default key map and the named theme.
pub fn app(theme: &str) -> App {
    let now = now();
    let mut m = model(now);
    m.set_status(
        super::model::Level::Ok,
        "stop-requeue 2d9083f4 on juju-arm64-1: requeued in debci-plucky-arm64",
    );
    let keymap = KeyMap::builtin("default")
        .and_then(Result::ok)
        .unwrap_or_default();
    let theme = Theme::builtin(theme)
        .and_then(Result::ok)
        .unwrap_or_else(|| Theme::load("dark", None, false).0);
    let config = ConsoleConfig {
        operator: "alice".into(),
        read_only: false,
        embedded_worker: true,
        config_dir: None,
        no_color: false,
        zone: super::zone::Zone::utc(),
        ..ConsoleConfig::default()
    };
    App::new(m, keymap, theme, &config)
}

/// Open the scenario's stored log of the failed libpng1.6 run, focused on the failure.
pub fn open_failed_log(app: &mut App) {
    let Some(e) = app
        .model
        .results
        .entries()
        .iter()
        .find(|e| e.package == "libpng1.6" && e.exitcode == 4)
        .cloned()
    else {
        return;
    };
    app.model.open_log(LogSource::Stored {
        uuid: e.uuid.clone(),
        container: e.container,
        swift_dir: e.swift_dir,
    });
    app.model.apply(ModelEvent::LogText {
        uuid: e.uuid,
        text: LOG.into(),
        cut_at: None,
    });
    app.view = super::view::View::Log;
    app.dispatch(super::action::Action::JumpFailure);
}

/// A big model for the benchmark: 500 queues, 200 workers, `requests` queued requests held in
/// one page, 100 running jobs, 5,000 results.
pub fn large(now: DateTime<Utc>, requests_held: usize) -> Model {
    let t = Thresholds {
        requests_cap: requests_held,
        ..Thresholds::default()
    };
    let mut m = Model::new(now, t);
    for k in 0..60 {
        let at = now - Duration::seconds(300 - 5 * k);
        let qs = (0..500u64)
            .map(|i| {
                queue(
                    &format!(
                        "debci-ctx{}-{}-{}",
                        i / 12,
                        pick(&RELEASES, i as usize),
                        pick(&ARCHES, i as usize)
                    ),
                    (i * 37 + k as u64 * 13) % 900,
                    i % 3,
                    (i % 5) as u32,
                    1.0,
                    0.5,
                )
            })
            .collect();
        m.apply(ModelEvent::QueueStats {
            queues: qs,
            received: at,
        });
    }
    for i in 0..200usize {
        let arch = pick(&ARCHES, i);
        let j = (i < 100).then(|| {
            job(
                &format!("job-{i:04}"),
                pick(&["glibc", "systemd", "python3.12", "libpng1.6"], i),
                pick(&RELEASES, i),
                arch,
                "glibc/2.40-1",
                now - Duration::minutes(i as i64),
                (i as i64 * 17) % 3000,
                10000,
            )
        });
        let received = now - Duration::seconds((i as i64 * 3) % 400);
        let h = heartbeat(&format!("juju-{arch}-{i}"), arch, j, received);
        m.apply(ModelEvent::Heartbeat {
            heartbeat: Box::new(h),
            received,
        });
    }
    m.apply(ModelEvent::Requests {
        queue: "debci-ctx0-noble-amd64".into(),
        offset: 0,
        total: 50_000,
        rows: self::requests(now, 50_000),
    });
    for i in 0..5000usize {
        let code = pick(&[0, 0, 0, 4, 16, 2, 8], i);
        m.apply(ModelEvent::Result(Box::new(entry(
            i,
            pick(&["glibc", "systemd", "python3.12", "libpng1.6", "perl"], i),
            "1.0-1",
            pick(&RELEASES, i),
            pick(&ARCHES, i),
            code,
            i as i64 * 11,
            "juju-amd64-1",
        ))));
    }
    m
}
