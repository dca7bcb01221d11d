//! Snapshot tests of every view and dialog, rendered from the fixed scenario, and the hostile
//! text test.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::action::Action;
use super::app::{App, Mode};
use super::demo;
use super::event::ModelEvent;
use super::model::{ConnState, LogSource, QueueStat, RequestRow, Service};
use super::op::{OpRequest, Outbound};
use super::view::View;
use super::views;
use crate::protocol::messages::AfterStop;

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| views::draw(f, app)).expect("draw");
    t
}

fn screen(app: &App) -> String {
    render(app, 120, 30).backend().to_string()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn select(app: &mut App, view: View, pred: impl Fn(&App, usize) -> bool) {
    let rows = app.rows(view);
    let pos = rows.iter().position(|&i| pred(app, i)).expect("row exists");
    app.cursors[view].select(pos);
}

#[test]
fn snapshot_queues() {
    let app = demo::app("dark");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_queues_sorted_by_ready() {
    let mut app = demo::app("dark");
    app.dispatch(Action::SortNext);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_requests() {
    let mut app = demo::app("dark");
    select(&mut app, View::Queues, |a, i| {
        a.model.queues[i].name == "debci-noble-amd64"
    });
    let out = app.handle_key(code(KeyCode::Enter));
    assert!(
        matches!(&out[..], [Outbound::Fetch(super::op::Fetch::Requests { queue, offset: 0, .. })] if queue == "debci-noble-amd64")
    );
    assert_eq!(app.view, View::Requests);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_workers() {
    let mut app = demo::app("dark");
    app.handle_key(key('3'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_running() {
    let mut app = demo::app("dark");
    app.handle_key(key('4'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_results_and_failures_filter() {
    let mut app = demo::app("dark");
    app.handle_key(key('5'));
    insta::assert_snapshot!("results_all", screen(&app));
    app.handle_key(key('f'));
    insta::assert_snapshot!("results_failures", screen(&app));
}

#[test]
fn snapshot_log() {
    let mut app = demo::app("dark");
    demo::open_failed_log(&mut app);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_log_search_wrapped() {
    let mut app = demo::app("dark");
    demo::open_failed_log(&mut app);
    app.handle_key(key('w'));
    app.handle_key(key('/'));
    for c in "pass".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    let t = render(&app, 80, 24);
    insta::assert_snapshot!(t.backend().to_string());
}

#[test]
fn snapshot_audit() {
    let mut app = demo::app("dark");
    app.handle_key(key('7'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_help() {
    let mut app = demo::app("dark");
    app.handle_key(key('4'));
    app.handle_key(key('?'));
    insta::assert_snapshot!(render(&app, 120, 40).backend().to_string());
}

#[test]
fn snapshot_help_read_only_hides_actions() {
    let mut app = demo::app("dark");
    app.read_only = true;
    app.handle_key(key('4'));
    app.handle_key(key('?'));
    let text = render(&app, 120, 40).backend().to_string();
    assert!(
        !text.contains("Stop, requeue"),
        "read-only help offers stop"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn snapshot_confirm_stop() {
    let mut app = demo::app("dark");
    app.handle_key(key('4'));
    select(&mut app, View::Running, |a, i| {
        a.model.running[i].package == "systemd"
    });
    let out = app.handle_key(key('s'));
    assert!(out.is_empty(), "nothing leaves before confirmation");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_confirm_bulk_typed() {
    let mut app = demo::app("dark");
    app.handle_key(key('3'));
    app.handle_key(key(' '));
    app.handle_key(key(' '));
    app.handle_key(key(' '));
    app.handle_key(key('D'));
    app.handle_key(key('2'));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_command_completion() {
    let mut app = demo::app("dark");
    app.handle_key(key(':'));
    app.handle_key(key('r'));
    app.handle_key(key('e'));
    app.handle_key(code(KeyCode::Tab));
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_broker_down_and_filter_error() {
    let mut app = demo::app("dark");
    let since = app.model.now - chrono::Duration::seconds(75);
    app.apply(ModelEvent::Connection {
        service: Service::Broker,
        state: ConnState::Reconnecting { since, attempt: 4 },
        endpoint: None,
    });
    app.handle_key(key('/'));
    for c in "noble(".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    assert!(
        matches!(&app.mode, Mode::Prompt(p) if p.error.is_some()),
        "invalid regex keeps the prompt with an error"
    );
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn snapshot_no_color() {
    let mut app = demo::app("dark");
    app.theme = app.theme.clone().without_colour();
    app.handle_key(key('4'));
    let t = render(&app, 120, 30);
    let buf = t.backend().buffer();
    assert!(
        buf.content
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
    insta::assert_snapshot!(t.backend().to_string());
}

#[test]
fn confirm_path_emits_one_stop_per_target_only_after_confirm() {
    let mut app = demo::app("dark");
    app.handle_key(key('4'));
    select(&mut app, View::Running, |a, i| {
        a.model.running[i].package == "systemd"
    });
    assert!(app.handle_key(key('s')).is_empty());
    assert!(
        app.handle_key(code(KeyCode::Enter)).is_empty(),
        "Enter on Cancel does nothing"
    );
    assert!(matches!(app.mode, Mode::Normal));
    app.handle_key(key('s'));
    app.handle_key(code(KeyCode::Tab));
    let out = app.handle_key(code(KeyCode::Enter));
    match &out[..] {
        [
            Outbound::Op {
                id,
                operator,
                op:
                    OpRequest::Stop {
                        worker,
                        uuid,
                        then: AfterStop::Requeue,
                    },
            },
        ] => {
            assert_eq!(
                (operator.as_str(), worker.as_str()),
                ("alice", "juju-arm64-1")
            );
            assert!(uuid.starts_with("2d9083f4"));
            app.apply(ModelEvent::OpOutcome {
                id: *id,
                ok: true,
                message: "requeued".into(),
            });
            let st = app.model.status.as_ref().expect("status");
            assert!(
                st.text.contains("requeued") && st.text.contains("stop-requeue"),
                "{}",
                st.text
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn read_only_refuses_in_the_confirm_path() {
    let mut app = demo::app("dark");
    app.read_only = true;
    app.handle_key(key('4'));
    assert!(app.handle_key(key('s')).is_empty());
    assert!(
        matches!(app.mode, Mode::Normal),
        "no dialog in read-only mode"
    );
    assert!(
        app.model
            .status
            .as_ref()
            .is_some_and(|s| s.text.contains("read-only"))
    );
    // Not even the command line gets around it.
    app.handle_key(key(':'));
    for c in "drain".chars() {
        app.handle_key(key(c));
    }
    assert!(app.handle_key(code(KeyCode::Enter)).is_empty());
}

#[test]
fn bulk_needs_typed_count_then_sends_each() {
    let mut app = demo::app("dark");
    app.handle_key(key('3'));
    for _ in 0..3 {
        app.handle_key(key(' '));
    }
    app.handle_key(key('D'));
    app.handle_key(code(KeyCode::Tab));
    assert!(
        app.handle_key(code(KeyCode::Enter)).is_empty(),
        "focus on Confirm is not enough"
    );
    app.handle_key(key('3'));
    let out = app.handle_key(code(KeyCode::Enter));
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|o| matches!(
        o,
        Outbound::Op {
            op: OpRequest::Drain { .. },
            ..
        }
    )));
    assert!(
        app.marks[View::Workers].is_empty(),
        "marks clear after acting"
    );
}

#[test]
fn filter_marks_and_esc() {
    let mut app = demo::app("dark");
    app.handle_key(key('/'));
    for c in "PLUCKY".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(
        app.rows(View::Queues).len(),
        0,
        "upper case is case-sensitive"
    );
    app.handle_key(key('/'));
    for _ in 0..6 {
        app.handle_key(code(KeyCode::Backspace));
    }
    for c in "plucky".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    let rows = app.rows(View::Queues);
    assert_eq!(rows.len(), 5);
    app.dispatch(Action::MarkAll);
    assert_eq!(app.targets(View::Queues).len(), 5);
    app.handle_key(code(KeyCode::Esc));
    assert_eq!(
        app.rows(View::Queues).len(),
        app.model.queues.len(),
        "Esc clears the filter first"
    );
    app.handle_key(code(KeyCode::Esc));
    assert!(app.marks[View::Queues].is_empty(), "then the marks");
    app.handle_key(key('4'));
    app.handle_key(code(KeyCode::Esc));
    assert_eq!(app.view, View::Queues, "then goes back");
}

#[test]
fn hung_and_lost_counts_in_scenario() {
    let app = demo::app("dark");
    assert_eq!(app.model.hung_count(), 1);
    assert_eq!(app.model.lost_count(), 1);
    assert!(app.model.queues.iter().any(|q| q.starved()));
}

#[test]
fn log_follow_search_jumps() {
    let mut app = demo::app("dark");
    demo::open_failed_log(&mut app);
    let focus = app.logview.focus.expect("jumped");
    assert!(
        app.model
            .log
            .as_ref()
            .and_then(|l| l.get(focus))
            .is_some_and(|l| l.contains("test upstream-suite: [-"))
    );
    assert!(!app.logview.follow);
    app.handle_key(key('S'));
    let s = app.logview.focus.expect("summary");
    assert!(s > focus);
    app.handle_key(key('f'));
    assert!(app.logview.follow);
    render(&app, 100, 20);
    app.handle_key(code(KeyCode::Up));
    assert!(!app.logview.follow, "scrolling up stops following");
}

#[test]
fn save_log_writes_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = demo::app("dark");
    app.log_dir = dir.path().to_path_buf();
    demo::open_failed_log(&mut app);
    app.dispatch(Action::SaveLog);
    app.dispatch(Action::PromptSubmit);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).expect("read");
    assert!(text.contains("@@@@@@@@@@@@@@@@@@@@ summary"));
}

/// Every cell of a buffer: no ESC, no C0 or C1 control, no DEL, no bidi override.
fn assert_inert(buf: &Buffer) {
    for (i, cell) in buf.content.iter().enumerate() {
        for c in cell.symbol().chars() {
            let bad = (c as u32) < 0x20
                || c == '\u{7f}'
                || ('\u{80}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            assert!(!bad, "cell {i} holds {:?}", c);
        }
    }
}

const HOSTILE: &str = "clear\x1b[2Jscreen\n\
osc52\x1b]52;c;cm0gLXJmIC8=\x07done\n\
dcs\x1bP1$qm\x1b\\end\n\
c1csi\u{9b}31mred c1osc\u{9d}0;title\u{9c}\n\
nul\x00del\x7fbell\x07\n\
bidi\u{202e}txt.exe\u{2066}\n\
title\x1b]0;pwned\x1b\\ sgr\x1b[31mred\x1b[0m\n";

#[test]
fn hostile_text_is_inert_on_screen() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let evil = "evil\x1b]52;c;ZXZpbA==\x07pkg\u{9b}2J";
    app.apply(ModelEvent::QueueStats {
        queues: vec![QueueStat {
            name: format!("debci-{evil}-amd64"),
            ready: 1,
            unacked: 0,
            consumers: 0,
            publish_rate: 0.0,
            deliver_rate: 0.0,
            max_priority: None,
            head_timestamp: None,
        }],
        received: now,
    });
    app.model.requests = None;
    app.apply(ModelEvent::Requests {
        queue: format!("debci-{evil}-amd64"),
        offset: 0,
        total: 1,
        rows: vec![RequestRow {
            package: evil.into(),
            triggers: vec![format!("{evil}/1\x1b[2J")],
            requester: "x\x1bP+q\x1b\\y".into(),
            submit_time: Some(now),
            priority: None,
            uuid: None,
            body: evil.into(),
        }],
    });
    let mut hb = demo::heartbeat("w\x1b[2Jevil", "amd64", None, now);
    hb.host = "host\u{9d}8;;http://x\u{9c}".into();
    app.apply(ModelEvent::Heartbeat {
        heartbeat: Box::new(hb),
        received: now,
    });
    app.model.open_log(LogSource::Live {
        uuid: "hostile".into(),
        worker: None,
    });
    app.apply(ModelEvent::LogChunk {
        chunk: crate::protocol::messages::LogChunk {
            uuid: "hostile".into(),
            worker: "w".into(),
            offset: 0,
            data: HOSTILE.into(),
            eof: false,
        },
        received: now,
    });
    app.apply(ModelEvent::OpOutcome {
        id: 9,
        ok: false,
        message: "worker said \x1b]52;c;AAAA\x07".into(),
    });
    for view in View::ALL {
        app.view = view;
        let t = render(&app, 160, 40);
        assert_inert(t.backend().buffer());
        let text = t.backend().to_string();
        match view {
            View::Log => {
                for shown in [
                    "clear^[[2Jscreen",
                    "osc52^[]52;c;cm0gLXJmIC8=^Gdone",
                    "dcs^[P1$qm^[\\end",
                    "c1csi\\u{9b}31mred c1osc\\u{9d}0;title\\u{9c}",
                    "nul^@del^?bell^G",
                    "bidi\\u{202e}txt.exe\\u{2066}",
                    "title^[]0;pwned^[\\ sgr^[[31mred^[[0m",
                ] {
                    assert!(text.contains(shown), "log does not show {shown:?}:\n{text}");
                }
            }
            View::Queues => assert!(
                text.contains("debci-evil^[]52;c;ZXZpbA==^Gpkg\\u{9b}2J-amd64"),
                "{text}"
            ),
            View::Requests => assert!(text.contains("x^[P+q^[\\y"), "{text}"),
            View::Workers => assert!(text.contains("w^[[2Jevil"), "{text}"),
            _ => {}
        }
        assert!(text.contains("worker said ^[]52;c;AAAA^G"));
    }
    insta::assert_snapshot!("hostile_log", {
        app.view = View::Log;
        render(&app, 100, 14).backend().to_string()
    });
}

#[test]
fn tick_redraws_only_when_the_second_changes() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    assert!(!app.apply(ModelEvent::Tick(now + chrono::Duration::milliseconds(400))));
    assert!(app.apply(ModelEvent::Tick(now + chrono::Duration::milliseconds(1200))));
}

#[test]
fn embedded_worker_start_and_stop_ask_first_and_say_what_happens_and_read_only_refuses() {
    let mut app = demo::app("dark");
    app.handle_key(key('3'));
    assert!(app.handle_key(key('W')).is_empty(), "starting asks first");
    let text = screen(&app);
    assert!(text.contains("Start the embedded worker?"), "{text}");
    assert!(text.contains("[ Start worker ]"), "{text}");
    app.handle_key(code(KeyCode::Tab));
    let out = app.handle_key(code(KeyCode::Enter));
    assert!(matches!(
        &out[..],
        [Outbound::Op {
            op: OpRequest::StartEmbeddedWorker,
            ..
        }]
    ));
    app.handle_key(key('X'));
    assert!(
        matches!(app.mode, Mode::Confirm(_)),
        "stopping it asks first"
    );
    let text = screen(&app);
    assert!(text.contains("aborted and its request requeued"), "{text}");
    app.handle_key(code(KeyCode::Esc));
    // Quitting while it runs asks too, and says what happens to its test.
    app.embedded_worker = true;
    app.apply(ModelEvent::EmbeddedWorker { running: true });
    app.handle_key(key('q'));
    assert!(!app.quit);
    let text = screen(&app);
    assert!(
        text.contains("Quit adtop?") && text.contains("aborted"),
        "{text}"
    );
    app.handle_key(code(KeyCode::Enter));
    assert!(!app.quit, "Enter on Keep stays");
    app.handle_key(key('q'));
    app.handle_key(code(KeyCode::Tab));
    let out = app.handle_key(code(KeyCode::Enter));
    assert!(app.quit);
    assert!(matches!(
        &out[..],
        [Outbound::Op {
            op: OpRequest::StopEmbeddedWorker,
            ..
        }]
    ));
    app.quit = false;
    app.read_only = true;
    assert!(app.handle_key(key('W')).is_empty());
    assert!(!matches!(app.mode, Mode::Confirm(_)));
}

#[test]
fn leaving_requests_stops_reading_them() {
    let mut app = demo::app("dark");
    let out = app.handle_key(code(KeyCode::Enter));
    assert!(matches!(
        &out[..],
        [Outbound::Fetch(super::op::Fetch::Requests { .. })]
    ));
    let out = app.handle_key(code(KeyCode::Esc));
    assert_eq!(out, vec![Outbound::Fetch(super::op::Fetch::StopRequests)]);
    assert_eq!(app.view, View::Queues);
}

/// `]` pressed 20 times before any answer is in asks for page 21, not 20 times for page 2; an
/// answer arriving meanwhile does not pull the count back.
#[test]
fn pages_pressed_ahead_count_on_from_the_last_asked() {
    let mut app = demo::app("dark");
    app.handle_key(code(KeyCode::Enter));
    let queue = app.model.requests.as_ref().expect("a page").queue.clone();
    let answer = |offset| ModelEvent::Requests {
        queue: queue.clone(),
        offset,
        total: 20_500,
        rows: Vec::new(),
    };
    app.apply(answer(0));
    let mut asked = Vec::new();
    for i in 0..25 {
        if i == 3 {
            app.apply(answer(1000));
        }
        for o in app.handle_key(key(']')) {
            if let Outbound::Fetch(super::op::Fetch::Requests { offset, .. }) = o {
                asked.push(offset);
            }
        }
    }
    let want: Vec<usize> = (1..=20).map(|p| p * 1000).collect();
    assert_eq!(asked, want, "past the last page nothing more is asked");
    let back = app.handle_key(key('['));
    assert!(matches!(
        &back[..],
        [Outbound::Fetch(super::op::Fetch::Requests {
            offset: 19_000,
            ..
        })]
    ));
}

#[test]
fn cancel_in_requests_targets_the_row_body() {
    let mut app = demo::app("dark");
    select(&mut app, View::Queues, |a, i| {
        a.model.queues[i].name == "debci-noble-amd64"
    });
    app.handle_key(code(KeyCode::Enter));
    app.handle_key(key('c'));
    app.handle_key(code(KeyCode::Tab));
    let out = app.handle_key(code(KeyCode::Enter));
    match &out[..] {
        [
            Outbound::Op {
                op: OpRequest::Cancel { queue, uuid, body },
                ..
            },
        ] => {
            assert_eq!(queue, "debci-noble-amd64");
            assert!(uuid.is_some());
            assert!(body.starts_with("glibc\n"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn vim_and_user_keymaps_drive_the_same_actions() {
    let (map, warnings) = super::keymap::KeyMap::load("vim", None);
    assert!(warnings.is_empty());
    let mut app = demo::app("dark");
    app.keymap = map;
    demo::open_failed_log(&mut app);
    app.handle_key(key('l'));
    assert_eq!(app.logview.hscroll, 8, "vim's l scrolls right in the log");
}

#[test]
fn alerts_are_styled_not_only_written() {
    let mut app = demo::app("dark");
    let alert = app.theme.style(super::theme::Role::Alert).fg;
    assert!(alert.is_some());
    let row_fg = |t: &Terminal<TestBackend>, needle: &str| {
        let buf = t.backend().buffer();
        let w = buf.area.width as usize;
        let text: Vec<String> = buf
            .content
            .chunks(w)
            .map(|r| r.iter().map(|c| c.symbol()).collect())
            .collect();
        let y = text
            .iter()
            .position(|l| l.contains(needle))
            .expect("row shown");
        let x = text[y]
            .find(needle)
            .map(|b| text[y][..b].chars().count())
            .expect("col");
        buf[(x as u16, y as u16)].fg
    };
    let t = render(&app, 120, 30);
    assert_eq!(
        Some(row_fg(&t, "debci-ppa-plucky-s390x")),
        alert,
        "starved queue"
    );
    app.view = View::Running;
    let t = render(&app, 120, 30);
    assert_eq!(Some(row_fg(&t, "HUNG: silent")), alert, "hung job");
    app.view = View::Workers;
    let t = render(&app, 120, 30);
    assert_eq!(Some(row_fg(&t, "juju-ppc64el-2 ")), alert, "lost worker");
}

#[test]
fn a_late_page_of_another_queue_is_ignored() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    assert!(!app.apply(ModelEvent::Requests {
        queue: "debci-plucky-s390x".into(),
        offset: 0,
        total: 3,
        rows: demo::requests(now, 3)
    }));
    assert_eq!(
        app.model.requests.as_ref().map(|p| p.queue.as_str()),
        Some("debci-noble-amd64")
    );
}

#[test]
fn the_selection_stays_on_its_queue_when_rows_arrive_above_it() {
    let mut app = demo::app("dark");
    select(&mut app, View::Queues, |a, i| {
        a.model.queues[i].name == "debci-noble-amd64"
    });
    app.keep_selection(View::Queues);
    // A full list with new queues that sort before it (the default sort is by name).
    let now = app.model.now;
    let mut queues: Vec<QueueStat> = app
        .model
        .queues
        .iter()
        .map(|q| QueueStat {
            name: q.name.clone(),
            ready: q.ready,
            unacked: q.unacked,
            consumers: q.consumers,
            publish_rate: 0.0,
            deliver_rate: 0.0,
            max_priority: None,
            head_timestamp: None,
        })
        .collect();
    for n in ["a", "b", "c"] {
        queues.push(QueueStat {
            name: format!("aaa-{n}"),
            ready: 0,
            unacked: 0,
            consumers: 0,
            publish_rate: 0.0,
            deliver_rate: 0.0,
            max_priority: None,
            head_timestamp: None,
        });
    }
    app.apply(ModelEvent::QueueStats {
        queues,
        received: now,
    });
    let out = app.handle_key(code(KeyCode::Enter));
    assert!(
        matches!(&out[..], [Outbound::Fetch(super::op::Fetch::Requests { queue, .. })] if queue == "debci-noble-amd64"),
        "{out:?}"
    );
}

#[test]
fn the_selection_moves_on_when_its_item_goes() {
    let mut app = demo::app("dark");
    app.handle_key(key('5'));
    app.handle_key(key('j'));
    let before = app.selected(View::Results);
    let uuid = before.map(|i| app.model.results.entries()[i].uuid.clone());
    app.keep_selection(View::Results);
    assert_eq!(app.cursors[View::Results].key(), uuid.as_deref());
    // The key of an item that is gone is dropped; the position stays, clamped.
    app.cursors[View::Results].pin(Some("gone".into()));
    app.keep_selection(View::Results);
    assert_eq!(app.selected(View::Results), before);
}

#[test]
fn an_empty_view_says_when_the_filter_hides_everything() {
    let mut app = demo::app("dark");
    app.handle_key(key('4'));
    assert!(!app.rows(View::Running).is_empty());
    app.handle_key(key('/'));
    for c in "zzznomatch".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("nothing matches /zzznomatch/"), "{s}");
    assert!(!s.contains("nothing running"), "{s}");
}

#[test]
fn requests_in_a_fresh_console_opens_the_view_that_says_how_to_choose() {
    let mut app = demo::app("dark");
    app.model.queues.clear();
    app.model.requests = None;
    let out = app.handle_key(key('2'));
    assert!(out.is_empty());
    assert_eq!(app.view, View::Requests);
    assert!(screen(&app).contains("select a queue in Queues and press Enter"));
}

#[test]
fn every_builtin_theme_keeps_text_readable_where_styles_combine() {
    use super::theme::{Role, Theme};
    for name in Theme::BUILTIN {
        let t = Theme::builtin(name).expect("builtin").expect("parses");
        let header = t.style(Role::Header);
        // The roles drawn over the header bar (views/chrome.rs).
        for role in [Role::Title, Role::Warn, Role::Ok, Role::HeaderAlert] {
            let s = header.patch(t.style(role));
            if let (Some(fg), Some(bg)) = (s.fg, s.bg) {
                assert_ne!(fg, bg, "{name}: {role:?} on the header is invisible");
            }
        }
        for &role in Role::ALL.iter() {
            let s = t.style(Role::Base).patch(t.style(role));
            if let (Some(fg), Some(bg)) = (s.fg, s.bg) {
                assert_ne!(fg, bg, "{name}: {role:?} on the base is invisible");
            }
        }
    }
}

#[test]
fn the_filter_prompt_clears_with_ctrl_u_and_ctrl_w() {
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let mut app = demo::app("dark");
    app.handle_key(key('/'));
    for c in "noble amd64".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(ctrl('w'));
    match &app.mode {
        Mode::Prompt(p) => assert_eq!(p.input, "noble "),
        m => panic!("{m:?}"),
    }
    app.handle_key(ctrl('u'));
    match &app.mode {
        Mode::Prompt(p) => assert_eq!(p.input, ""),
        m => panic!("{m:?}"),
    }
}

#[test]
fn a_stored_log_cut_by_the_reader_says_so_in_the_title() {
    let mut app = demo::app("dark");
    demo::open_failed_log(&mut app);
    assert!(!screen(&app).contains("log cut at"));
    let uuid = app.model.log.as_ref().map(|l| l.uuid.clone()).expect("log");
    app.model.apply(ModelEvent::LogText {
        uuid,
        text: "the first 16 MiB\n".into(),
        cut_at: Some(crate::ops::read::LOG_READ_CAP),
    });
    let s = screen(&app);
    assert!(s.contains("[log cut at 16 MiB]"), "{s}");
}

#[test]
fn a_worker_stopped_by_its_testbed_shows_testbed_broken_and_the_error() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let mut hb = demo::heartbeat("tb-worker", "amd64", None, now);
    hb.state = crate::protocol::messages::WorkerState::Paused;
    hb.testbed_broken = Some("testbed failure: unexpected eof from the testbed".into());
    app.apply(ModelEvent::Heartbeat {
        heartbeat: Box::new(hb),
        received: now,
    });
    app.view = View::Workers;
    let text = render(&app, 200, 40).backend().to_string();
    let row = text
        .lines()
        .find(|l| l.contains("tb-worker"))
        .expect("the worker's row");
    assert!(row.contains("testbed broken"), "{row}");
    assert!(row.contains("testbed failure: unexpected"), "{row}");
}

#[test]
fn a_bulk_action_reports_every_outcome_in_one_status_line() {
    let mut app = demo::app("dark");
    select(&mut app, View::Queues, |a, i| {
        a.model.queues[i].name == "debci-noble-amd64"
    });
    app.handle_key(code(KeyCode::Enter));
    app.dispatch(Action::MarkAll);
    let n = app.targets(View::Requests).len();
    assert!(n >= 3, "the demo queue has requests");
    app.handle_key(key('c'));
    for c in n.to_string().chars() {
        app.handle_key(key(c));
    }
    let out = app.handle_key(code(KeyCode::Enter));
    let ids: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            Outbound::Op { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), n);
    for (k, id) in ids.iter().enumerate() {
        app.apply(ModelEvent::OpOutcome {
            id: *id,
            ok: k == 0,
            message: if k == 0 {
                "removed from the queue".into()
            } else {
                "not in debci-noble-amd64 any more".into()
            },
        });
        let st = app.model.status.as_ref().expect("status");
        if k == 0 {
            assert!(st.text.contains(&format!("1 of {n} done")), "{}", st.text);
            assert!(
                st.text.contains(&format!("{} waiting", n - 1)),
                "{}",
                st.text
            );
        }
    }
    let st = app.model.status.as_ref().expect("status");
    assert_eq!(
        st.text,
        format!(
            "cancel: 1 of {n} done, {} failed: not in debci-noble-amd64 any more (x{})",
            n - 1,
            n - 1
        )
    );
    assert_eq!(st.level, super::model::Level::Error);
    assert!(app.model.batches.is_empty() && app.model.pending.is_empty());
}

#[test]
fn snapshot_confirm_many_cancels_at_80x24_keeps_the_prompt_in_the_box() {
    let mut app = demo::app("dark");
    let rows: Vec<RequestRow> = (0..16)
        .map(|i| RequestRow {
            package: format!("pkg{i}"),
            triggers: vec![format!("pkg{i}/1.{i}")],
            requester: String::new(),
            submit_time: None,
            priority: None,
            uuid: Some(format!("00000000-0000-4000-8000-0000000000{i:02}")),
            body: format!(
                "pkg{i}\n{{\"triggers\": [\"pkg{i}/1.{i}\"], \"uuid\": \"00000000-0000-4000-8000-0000000000{i:02}\"}}"
            ),
        })
        .collect();
    select(&mut app, View::Queues, |a, i| {
        a.model.queues[i].name == "debci-noble-amd64"
    });
    app.handle_key(code(KeyCode::Enter));
    app.apply(ModelEvent::Requests {
        queue: "debci-noble-amd64".into(),
        offset: 0,
        total: 16,
        rows,
    });
    app.dispatch(Action::MarkAll);
    app.handle_key(key('c'));
    app.handle_key(key('1'));
    let text = render(&app, 80, 24).backend().to_string();
    assert!(text.contains("type 16 and Enter [1"), "{text}");
    assert!(
        text.contains("[ Keep ]") && text.contains("[ Cancel requests ]"),
        "{text}"
    );
    assert!(
        text.contains("pkg0 [pkg0/1.0] (00000000-0000-4000-8000-000000000000)"),
        "{text}"
    );
    assert!(text.contains("more"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn the_header_shows_a_clusters_nodes_and_a_lost_one_with_how_long_ago() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let node = |name: &str, running| super::event::NodeStat {
        name: name.into(),
        running,
    };
    app.apply(ModelEvent::Nodes {
        nodes: vec![
            node("adtop-c1@localhost", true),
            node("adtop-c2@localhost", true),
        ],
        received: now - chrono::Duration::seconds(60),
    });
    let top = |app: &App| {
        render(app, 240, 30)
            .backend()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(top(&app).contains("nodes 2/2 up"), "{}", top(&app));
    app.apply(ModelEvent::Nodes {
        nodes: vec![
            node("adtop-c1@localhost", false),
            node("adtop-c2@localhost", true),
        ],
        received: now - chrono::Duration::seconds(12),
    });
    let line = top(&app);
    assert!(line.contains("nodes 1/2 up"), "{line}");
    assert!(line.contains("adtop-c1 down 12s"), "{line}");
    app.apply(ModelEvent::Nodes {
        nodes: vec![
            node("adtop-c1@localhost", true),
            node("adtop-c2@localhost", true),
        ],
        received: now,
    });
    assert!(top(&app).contains("adtop-c1 back"), "{}", top(&app));
}

#[test]
fn a_worker_that_announced_leaving_is_stopped_not_lost_and_ages_out() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let mut hb = demo::heartbeat("leaver", "amd64", None, now);
    hb.state = crate::protocol::messages::WorkerState::Stopping;
    app.apply(ModelEvent::Heartbeat {
        heartbeat: Box::new(hb),
        received: now,
    });
    app.apply(ModelEvent::Tick(now + chrono::Duration::minutes(5)));
    let w = app.model.worker("leaver").expect("still shown");
    assert_eq!(
        app.model.health(w),
        super::model::Health::Stopped,
        "not lost"
    );
    app.view = View::Workers;
    let text = render(&app, 200, 40).backend().to_string();
    let row = text.lines().find(|l| l.contains("leaver")).expect("row");
    assert!(row.contains("stopped"), "{row}");
    app.apply(ModelEvent::Tick(now + chrono::Duration::minutes(11)));
    assert!(app.model.worker("leaver").is_none(), "aged out");
}

#[test]
fn the_consoles_own_broker_outage_raises_no_alarms_about_workers_or_jobs() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let (lost, hung) = (app.model.lost_count(), app.model.hung_count());
    app.apply(ModelEvent::Connection {
        service: Service::Broker,
        state: ConnState::Reconnecting {
            since: now,
            attempt: 3,
        },
        endpoint: None,
    });
    app.apply(ModelEvent::Tick(now + chrono::Duration::hours(2)));
    assert_eq!(app.model.lost_count(), lost, "no worker turned lost");
    assert_eq!(app.model.hung_count(), hung, "no job turned hung");
    app.apply(ModelEvent::Connection {
        service: Service::Broker,
        state: ConnState::Connected,
        endpoint: None,
    });
    assert!(
        app.model.lost_count() > lost,
        "back online, two hours of silence count again"
    );
}

#[test]
fn the_header_says_when_the_management_api_is_down_and_for_how_long() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    let top = |app: &App| {
        render(app, 240, 30)
            .backend()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(!top(&app).contains("mgmt"), "{}", top(&app));
    app.apply(ModelEvent::Connection {
        service: Service::Management,
        state: ConnState::Down {
            since: now - chrono::Duration::seconds(35),
            reason: "connection refused".into(),
        },
        endpoint: Some("http://127.0.0.1:15672".into()),
    });
    let line = top(&app);
    assert!(
        line.contains("mgmt ✖ down 35s (connection refused)"),
        "{line}"
    );
}

#[test]
fn without_the_management_api_live_counts_of_heartbeat_named_queues_fill_the_queues_view() {
    let mut app = demo::app("dark");
    let now = app.model.now;
    app.apply(ModelEvent::QueueDepth {
        name: "debci-fallback-amd64".into(),
        ready: 4,
        consumers: 0,
        received: now,
    });
    let q = app
        .model
        .queues
        .iter()
        .find(|q| q.name == "debci-fallback-amd64")
        .expect("a row from the live count alone");
    assert_eq!((q.ready, q.consumers), (4, 0));
}
