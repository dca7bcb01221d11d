//! Property tests: whatever arrives on the wire or from the store, decoding it, applying it to
//! the model and drawing every view at any size never panics, and what is drawn is inert.
//!
//! Inputs are the scenario's real messages with any field replaced by a hostile value (absurd
//! numbers, controls, bidirectional overrides, huge strings, wrong types), and plain bytes.

use chrono::Duration;
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;
use serde_json::Value;

use super::app::App;
use super::demo;
use super::event::ModelEvent;
use super::view::View;
use super::views;
use crate::protocol::messages::{
    AuditRecord, Heartbeat, IndexEntry, LogChunk, StatusExtra, TestComplete, TestStatus,
};
use crate::protocol::request::Request;

/// Values a buggy or hostile publisher might put in any field.
fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(1e16),
            Just(1e14),
            Just(1e300),
            Just(-1.5),
            Just(f64::MAX)
        ]
        .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        "\\PC{0,40}".prop_map(Value::from),
        "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{feff}a-z]{0,30}"
            .prop_map(Value::from),
        (1usize..200_000).prop_map(|n| Value::from("x".repeat(n))),
        Just(Value::from("2026-03-12T14:30:00Z")),
        Just(Value::from("+262143-12-31T23:59:59Z")),
        Just(Value::from("-262143-01-01T00:00:00Z")),
        Just(serde_json::json!([1, "a", null])),
        Just(serde_json::json!({"a": {"b": [1e16]}})),
    ]
}

/// `template` with up to a few of its fields (at any depth) replaced by hostile values.
fn mutated(template: Value) -> impl Strategy<Value = Value> {
    let paths = leaf_paths(&template, &mut Vec::new());
    let n = paths.len().max(1);
    proptest::collection::vec((0..n, hostile()), 0..4).prop_map(move |edits| {
        let mut v = template.clone();
        for (i, val) in edits {
            if let Some(path) = paths.get(i)
                && let Some(slot) = pointer_mut(&mut v, path)
            {
                *slot = val;
            }
        }
        v
    })
}

fn leaf_paths(v: &Value, prefix: &mut Vec<String>) -> Vec<Vec<String>> {
    let mut out = vec![prefix.clone()];
    if let Value::Object(m) = v {
        for (k, child) in m {
            prefix.push(k.clone());
            out.extend(leaf_paths(child, prefix));
            prefix.pop();
        }
    }
    out
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(k))
}

fn json<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or_default()
}

fn templates() -> (Value, Value, Value, Value, Value, Value) {
    let now = demo::now();
    let model = demo::model(now);
    let hb = model
        .workers
        .iter()
        .find(|w| w.heartbeat.job.is_some())
        .map(|w| w.heartbeat.clone())
        .unwrap_or_else(|| demo::heartbeat("w", "amd64", None, now));
    let status = TestStatus {
        release: "noble".into(),
        architecture: "amd64".into(),
        package: "glibc".into(),
        running: true,
        params: serde_json::json!({"triggers": ["glibc/2.39-1"], "requester": "bob"}),
        duration: 12,
        logtail: "tail".into(),
        uuid: "u-status".into(),
        adtop: Some(StatusExtra {
            worker: "w".into(),
            queue: "debci-noble-amd64".into(),
            timeout: 100,
            silent: 5,
        }),
    };
    let result = model
        .results
        .entries()
        .first()
        .cloned()
        .map(|e| json(&e))
        .unwrap_or_default();
    let chunk = LogChunk {
        uuid: "u-status".into(),
        worker: "w".into(),
        offset: 0,
        data: "line one\nline two\n".into(),
        eof: false,
    };
    let audit = model.audit.first().map(json).unwrap_or_default();
    let complete = serde_json::json!({
        "architecture": "amd64", "container": "autopkgtest-noble", "duration": 3,
        "exitcode": 0, "package": "hello", "testpkg_version": "1.0", "release": "noble",
        "requester": null, "swift_dir": "noble/amd64/h/hello/20240101_000000_abcde@",
        "triggers": null, "env": ""
    });
    (
        json(&hb),
        json(&status),
        result,
        json(&chunk),
        audit,
        complete,
    )
}

/// Draw every view at several sizes; every cell must be free of terminal controls.
fn draw_all(app: &mut App) {
    for view in View::ALL {
        app.view = view;
        for (w, h) in [(120, 30), (80, 24), (30, 6), (1, 1)] {
            let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
            t.draw(|f| views::draw(f, app)).expect("draw");
            let screen = t.backend().to_string();
            assert!(
                !screen.chars().any(
                    |c| c != '\n' && (c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
                ),
                "control reached the screen in {view:?}"
            );
        }
    }
}

fn feed(app: &mut App, events: Vec<ModelEvent>) {
    for e in events {
        app.apply(e);
    }
    let later = app.model.now + Duration::seconds(3600);
    app.apply(ModelEvent::Tick(later));
    draw_all(app);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_wire_message_is_decoded_applied_and_drawn_without_panic(
        hb in mutated(templates().0),
        st in mutated(templates().1),
        res in mutated(templates().2),
        chunk in mutated(templates().3),
        audit in mutated(templates().4),
    ) {
        let mut app = demo::app("dark");
        let now = app.model.now;
        let mut events = Vec::new();
        if let Ok(h) = serde_json::from_value::<Heartbeat>(hb) {
            events.push(ModelEvent::Heartbeat { heartbeat: Box::new(h), received: now });
        }
        if let Ok(s) = serde_json::from_value::<TestStatus>(st) {
            // Open the live log of that job, so that chunks for it are drawn too.
            app.model.open_log(super::model::LogSource::Live { uuid: s.uuid.clone(), worker: None });
            events.push(ModelEvent::Status { status: Box::new(s), received: now });
        }
        if let Ok(e) = serde_json::from_value::<IndexEntry>(res) {
            events.push(ModelEvent::Result(Box::new(e)));
        }
        if let Ok(c) = serde_json::from_value::<LogChunk>(chunk) {
            events.push(ModelEvent::LogChunk { chunk: c, received: now });
        }
        if let Ok(a) = serde_json::from_value::<AuditRecord>(audit) {
            events.push(ModelEvent::Audit(a));
        }
        feed(&mut app, events);
    }

    #[test]
    fn any_completion_decodes_without_panic(c in mutated(templates().5)) {
        if let Ok(c) = serde_json::from_value::<TestComplete>(c) {
            let _ = serde_json::to_string(&c);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<Heartbeat>(&bytes);
        let _ = serde_json::from_slice::<TestStatus>(&bytes);
        let _ = serde_json::from_slice::<TestComplete>(&bytes);
        let _ = serde_json::from_slice::<IndexEntry>(&bytes);
        let _ = serde_json::from_slice::<LogChunk>(&bytes);
        let _ = serde_json::from_slice::<AuditRecord>(&bytes);
        if let Err(e) = Request::parse(&bytes) {
            prop_assert!(e.to_string().len() <= 4 * crate::protocol::sanitize::REASON_MAX);
        }
    }

    #[test]
    fn any_request_body_is_parsed_or_refused_with_a_short_reason(
        pkg in "\\PC{0,300}",
        params in mutated(serde_json::json!({
            "triggers": ["glibc/2.39-1"], "ppas": ["user/ppa"], "submit-time": "2026-12-01 22:15:03",
            "requester": "bob", "swiftuser": "u", "readable-by": ["a"], "env": ["A=b"],
            "all-proposed": "1", "test-git": "https://x/y.git", "build-git": "https://x/y.git",
            "test-bzr": "lp:x", "uuid": "u"
        })),
    ) {
        let body = format!("{pkg}\n{params}");
        if let Err(e) = Request::parse(body.as_bytes()) {
            prop_assert!(e.to_string().len() <= 4 * crate::protocol::sanitize::REASON_MAX);
        }
    }
}

#[test]
fn a_status_with_an_absurd_duration_does_not_kill_the_console() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    for (duration, silent) in [
        (1e16 as u64, 1),
        (1e14 as u64, 1),
        (1, 1e16 as u64),
        (u64::MAX, u64::MAX),
    ] {
        let wire = serde_json::json!({
            "release": "noble", "architecture": "amd64", "package": "p", "running": true,
            "params": {}, "duration": duration, "logtail": "", "uuid": format!("u{duration}{silent}"),
            "adtop": {"worker": "w", "queue": "q", "timeout": u64::MAX, "silent": silent}
        });
        let s: TestStatus = serde_json::from_value(wire).expect("decodes");
        app.apply(ModelEvent::Status {
            status: Box::new(s),
            received: now,
        });
    }
    let mut hb = demo::heartbeat("w-absurd", "amd64", None, now);
    hb.interval = u64::MAX;
    app.apply(ModelEvent::Heartbeat {
        heartbeat: Box::new(hb),
        received: now,
    });
    app.apply(ModelEvent::LogChunk {
        chunk: LogChunk {
            uuid: "x".into(),
            worker: "w".into(),
            offset: u64::MAX,
            data: "zz".into(),
            eof: false,
        },
        received: now,
    });
    feed(&mut app, Vec::new());
}

#[test]
fn a_flood_of_new_worker_and_job_ids_stays_bounded() {
    let mut app = demo::app("dark");
    app.model.thresholds.workers_cap = 50;
    app.model.thresholds.running_cap = 40;
    let now = app.model.now;
    for i in 0..500 {
        let received = now + Duration::milliseconds(i);
        let hb = demo::heartbeat(&format!("flood-{i}"), "amd64", None, received);
        app.apply(ModelEvent::Heartbeat {
            heartbeat: Box::new(hb),
            received,
        });
        let s: TestStatus = serde_json::from_value(serde_json::json!({
            "release": "noble", "architecture": "amd64", "package": "p", "running": true,
            "params": {}, "duration": 1, "logtail": "", "uuid": format!("flood-{i}")
        }))
        .expect("decodes");
        app.apply(ModelEvent::Status {
            status: Box::new(s),
            received,
        });
    }
    assert!(app.model.workers.len() <= 50, "{}", app.model.workers.len());
    assert!(app.model.running.len() <= 40);
    // The newest are the ones kept.
    assert!(
        app.model
            .workers
            .iter()
            .any(|w| w.heartbeat.id == "flood-499")
    );
    assert!(app.model.running.iter().any(|j| j.uuid == "flood-499"));
    assert!(
        app.model
            .workers
            .windows(2)
            .all(|w| w[0].heartbeat.id < w[1].heartbeat.id)
    );
}
