//! The detail view, the uuid copy, the log's pager and save, and the retry wait on screen.

use chrono::Duration;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::action::Action;
use super::app::{App, Mode};
use super::demo;
use super::event::ModelEvent;
use super::model::RequestRow;
use super::prompt::PromptKind;
use super::row_actions::osc52;
use super::view::View;
use super::views;
use crate::protocol::messages::RetryWait;

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| views::draw(f, app)).expect("draw");
    t.backend().to_string()
}

fn select(app: &mut App, view: View, pred: impl Fn(&App, usize) -> bool) {
    let rows = app.rows(view);
    let pos = rows.iter().position(|&i| pred(app, i)).expect("row exists");
    app.cursors[view].select(pos);
}

const PY: &str = "1c8f72e3-3d52-4a6f-8d22-7b3f2f1eab02";

fn running_python(app: &mut App) {
    app.dispatch(Action::ViewRunning);
    select(app, View::Running, |a, i| a.model.running[i].uuid == PY);
}

#[test]
fn snapshot_detail_of_a_running_job() {
    let mut app = demo::app("dark");
    running_python(&mut app);
    app.dispatch(Action::Describe);
    assert!(matches!(app.mode, Mode::Detail(_)));
    let text = screen(&app, 100, 34);
    assert!(text.contains(PY), "{text}");
    assert!(text.contains("python3.12/3.12.8-1"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn d_and_esc_open_and_close_and_scrolling_stops_at_the_end() {
    let mut app = demo::app("dark");
    app.dispatch(Action::ViewResults);
    app.handle_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('d'),
    ));
    let Mode::Detail(d) = &app.mode else {
        panic!("d opens the detail view")
    };
    assert_eq!(d.view, View::Results);
    let text = screen(&app, 100, 24);
    assert!(text.contains("swift_dir"), "{text}");
    screen(&app, 100, 14);
    for _ in 0..500 {
        app.dispatch(Action::Down);
    }
    let text = screen(&app, 100, 14);
    assert!(text.contains("\"triggers\""), "the end of the JSON: {text}");
    app.dispatch(Action::Up);
    let Mode::Detail(d) = &app.mode else {
        panic!("still open")
    };
    assert!(d.scroll < 500, "Up moves from the end, not from 500");
    app.handle_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Esc,
    ));
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.view, View::Results);
}

#[test]
fn a_requests_detail_shows_pretty_json_env_and_ppas_never_credentials() {
    let mut app = demo::app("dark");
    let body = "hello\n{\"env\":[\"DEB_BUILD_OPTIONS=nocheck\"],\"ppas\":[\"bob:s3cret@bob/private\",\"alice/ppa\"],\"submit-time\":\"2026-03-12 14:20:00+0000\",\"triggers\":[\"hello/2.10-3\"],\"uuid\":\"9d0c\\u001b[2J\"}";
    app.apply(ModelEvent::Requests {
        queue: "debci-noble-amd64".into(),
        offset: 0,
        total: 1,
        rows: vec![RequestRow {
            package: "hello".into(),
            triggers: vec!["hello/2.10-3".into()],
            requester: "britney".into(),
            submit_time: None,
            priority: None,
            uuid: Some("9d0c\x1b[2J".into()),
            body: body.into(),
        }],
    });
    app.dispatch(Action::ViewQueues);
    select(&mut app, View::Queues, |a, i| {
        a.model.queues[i].name == "debci-noble-amd64"
    });
    app.dispatch(Action::Open);
    assert_eq!(app.view, View::Requests);
    // Enter has no other meaning in Requests: it describes.
    app.handle_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Enter,
    ));
    assert!(matches!(app.mode, Mode::Detail(_)));
    let text = screen(&app, 100, 40);
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("***@bob/private"), "{text}");
    assert!(text.contains("DEB_BUILD_OPTIONS=nocheck"), "{text}");
    assert!(text.contains("\"triggers\": ["), "pretty JSON: {text}");
    assert!(text.contains("2026-03-12 14:20:00Z (10m00s ago)"), "{text}");
    assert!(text.contains("9d0c^[[2J"), "inert: {text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn a_gone_row_keeps_its_detail_and_says_so() {
    let mut app = demo::app("dark");
    running_python(&mut app);
    app.dispatch(Action::Describe);
    app.model.running.retain(|j| j.uuid != PY);
    let text = screen(&app, 100, 30);
    assert!(text.contains("gone from the view"), "{text}");
    assert!(text.contains(PY), "{text}");
}

#[test]
fn y_copies_the_uuid_as_adtops_own_osc52() {
    let mut app = demo::app("dark");
    running_python(&mut app);
    app.dispatch(Action::CopyUuid);
    assert_eq!(app.clipboard.as_deref(), Some(PY));
    let st = app.model.status.as_ref().expect("status");
    assert_eq!(st.text, format!("copied uuid {PY}"));
    assert_eq!(
        osc52(PY),
        b"\x1b]52;c;MWM4ZjcyZTMtM2Q1Mi00YTZmLThkMjItN2IzZjJmMWVhYjAy\x07".to_vec()
    );
    // From the detail view too; a queue has no uuid.
    app.clipboard = None;
    app.dispatch(Action::Describe);
    app.dispatch(Action::CopyUuid);
    assert_eq!(app.clipboard.as_deref(), Some(PY));
    app.dispatch(Action::Back);
    app.dispatch(Action::ViewQueues);
    app.clipboard = None;
    app.dispatch(Action::CopyUuid);
    assert_eq!(app.clipboard, None);
}

#[test]
fn workers_d_describes_and_shift_d_drains() {
    let mut app = demo::app("dark");
    app.dispatch(Action::ViewWorkers);
    app.handle_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('d'),
    ));
    assert!(matches!(app.mode, Mode::Detail(_)));
    app.dispatch(Action::Back);
    app.handle_key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('D'),
        crossterm::event::KeyModifiers::SHIFT,
    ));
    assert!(matches!(app.mode, Mode::Confirm(_)), "D asks to drain");
}

#[test]
fn save_asks_where_refuses_to_overwrite_and_writes_the_raw_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = demo::app("dark");
    app.log_dir = dir.path().to_path_buf();
    demo::open_failed_log(&mut app);
    if let Some(log) = app.model.log.as_mut() {
        log.set_text("line\x1b[31m red\n");
    }
    app.dispatch(Action::SaveLog);
    let Mode::Prompt(p) = &app.mode else {
        panic!("a prompt for the path")
    };
    assert_eq!(p.kind, PromptKind::SavePath);
    let expected = dir.path().join(format!(
        "libpng1.6-{}.log",
        app.model.log.as_ref().expect("log").uuid
    ));
    assert_eq!(p.input, expected.display().to_string());
    app.dispatch(Action::PromptSubmit);
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(
        std::fs::read(&expected).expect("saved"),
        b"line\x1b[31m red\n",
        "raw, as it arrived"
    );
    // Again: the prompt stays open and says why; the file is untouched.
    std::fs::write(&expected, "mine").expect("write");
    app.dispatch(Action::SaveLog);
    app.dispatch(Action::PromptSubmit);
    let Mode::Prompt(p) = &app.mode else {
        panic!("still asking")
    };
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.contains("exists: not overwritten")),
        "{:?}",
        p.error
    );
    assert_eq!(std::fs::read_to_string(&expected).expect("read"), "mine");
    let files = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(files, 1, "no temporary file left behind");
}

#[test]
fn pager_gets_the_inert_text() {
    let mut app = demo::app("dark");
    demo::open_failed_log(&mut app);
    if let Some(log) = app.model.log.as_mut() {
        log.set_text("a\x1b]52;c;cm0=\x07b\n");
    }
    app.dispatch(Action::Pager);
    let text = app.pager.take().expect("pager text");
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("a^[]52;c;cm0=^Gb"), "{text:?}");
}

#[test]
fn a_job_between_attempts_shows_its_retry_in_running_workers_and_log() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let mut info = demo::job_info("5a5a-retry", "hello", now - Duration::seconds(200), 900);
    info.last_output = now - Duration::seconds(3600);
    info.attempt = 1;
    info.retry = Some(RetryWait {
        attempt: 2,
        attempts: 3,
        at: now + Duration::seconds(94),
    });
    let hb = demo::heartbeat("juju-amd64-9", "amd64", Some(info), now);
    app.apply(ModelEvent::Heartbeat {
        heartbeat: Box::new(hb),
        received: now,
    });
    app.dispatch(Action::ViewRunning);
    let text = screen(&app, 140, 30);
    let row = text
        .lines()
        .find(|l| l.contains("juju-amd64-9"))
        .expect("row");
    assert!(row.contains("retry 2 of 3 in 94s"), "{row}");
    assert!(!row.contains("HUNG"), "{row}");
    app.dispatch(Action::ViewWorkers);
    let text = screen(&app, 160, 30);
    let row = text
        .lines()
        .find(|l| l.contains("juju-amd64-9"))
        .expect("row");
    assert!(row.contains("retry 2 of 3 in 94s"), "{row}");
}

#[test]
fn the_header_names_the_broker_node_inert_when_it_fits() {
    let mut app = demo::app("dark");
    app.apply(ModelEvent::BrokerNode {
        node: "rabbit@mq1\x1b[2J".into(),
        cluster: "prod".into(),
    });
    let wide = screen(&app, 240, 10);
    let header = wide.lines().next().expect("header");
    assert!(
        header.contains("rabbit@mq1^[[2J (cluster prod)"),
        "{header}"
    );
    app.apply(ModelEvent::BrokerNode {
        node: "rabbit@mq1".into(),
        cluster: "rabbit@mq1".into(),
    });
    let wide = screen(&app, 240, 10);
    let header = wide.lines().next().expect("header");
    assert!(
        header.contains("rabbit@mq1 ") && !header.contains("cluster"),
        "{header}"
    );
}
