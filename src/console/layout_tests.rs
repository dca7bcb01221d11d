//! Table columns: every view at 80x24 and 40x12 (names kept whole, secondary columns dropped
//! first), sorting in every view with the selection kept on its item, the uuid and oldest
//! columns, and times in the operator's zone.

use chrono::FixedOffset;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::App;
use super::columns::ColId;
use super::demo;
use super::view::View;
use super::views;
use super::zone::Zone;

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| views::draw(f, app)).expect("draw");
    t.backend().to_string()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

/// The demo console showing `view` (the Log view with the failed run's log open).
fn showing(view: View) -> App {
    let mut app = demo::app("dark");
    match view {
        View::Log => demo::open_failed_log(&mut app),
        View::Requests => {
            let at = app
                .rows(View::Queues)
                .iter()
                .position(|&i| app.model.queues[i].name == "debci-noble-amd64")
                .expect("queue");
            app.cursors[View::Queues].select(at);
            app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        }
        v => {
            app.view = v;
        }
    }
    app
}

fn name(view: View) -> &'static str {
    match view {
        View::Queues => "queues",
        View::Requests => "requests",
        View::Workers => "workers",
        View::Running => "running",
        View::Results => "results",
        View::Log => "log",
        View::Audit => "audit",
        View::Rejected => "rejected",
    }
}

#[test]
fn snapshot_every_view_at_80x24_and_40x12() {
    for view in View::ALL {
        let app = showing(view);
        insta::assert_snapshot!(format!("{}_80x24", name(view)), render(&app, 80, 24));
        insta::assert_snapshot!(format!("{}_40x12", name(view)), render(&app, 40, 12));
    }
}

#[test]
fn names_are_whole_at_80x24_and_secondary_columns_go_first() {
    let app = showing(View::Queues);
    let s = render(&app, 80, 24);
    for q in &app.model.queues {
        assert!(s.contains(&q.name), "{} cut:\n{s}", q.name);
    }
    assert!(s.contains("READY") && s.contains("OLDEST"), "{s}");
    assert!(!s.contains("DEPTH") && !s.contains("IN/s"), "{s}");
    // The header abbreviates rather than cutting the store's state.
    let header = s.lines().next().unwrap_or_default();
    assert!(
        header.contains("broker") && header.contains("store"),
        "{header}"
    );
    assert_eq!(header.matches("● up").count(), 2, "{header}");

    let app = showing(View::Running);
    let s = render(&app, 80, 24);
    for j in &app.model.running {
        assert!(s.contains(&j.package), "{} cut:\n{s}", j.package);
    }
    let app = showing(View::Results);
    let s = render(&app, 80, 24);
    let shown = app.rows(View::Results);
    for &i in shown.iter().take(15) {
        let p = &app.model.results.entries()[i].package;
        assert!(s.contains(p.as_str()), "{p} cut:\n{s}");
    }
}

#[test]
fn a_forty_column_pane_shows_package_and_state() {
    let app = showing(View::Running);
    let s = render(&app, 40, 12);
    let rows: Vec<&str> = s.lines().skip(4).take(5).collect();
    for (j, line) in app
        .rows(View::Running)
        .iter()
        .map(|&i| &app.model.running[i])
        .zip(&rows)
    {
        assert!(line.contains(&j.package), "{line}\n{s}");
        assert!(
            line.contains("running") || line.contains("HUNG"),
            "{line}\n{s}"
        );
    }
    let app = showing(View::Results);
    let s = render(&app, 40, 12);
    assert!(s.contains("PACKAGE") && s.contains("RESULT"), "{s}");
    let app = showing(View::Workers);
    let s = render(&app, 40, 12);
    assert!(s.contains("WORKER") && s.contains("HEALTH"), "{s}");
}

/// The keys of the rows of `view`, in the order shown.
fn order(app: &App, view: View) -> Vec<String> {
    app.rows(view)
        .into_iter()
        .filter_map(|i| app.row_key(view, i))
        .collect()
}

#[test]
fn every_table_view_sorts_with_the_same_keys_and_keeps_the_selection() {
    for view in View::TABLES {
        let mut app = showing(view);
        assert_eq!(app.view, view);
        app.handle_key(key('j'));
        app.handle_key(key('j'));
        let chosen = app.cursors[view].key().map(str::to_string);
        assert!(chosen.is_some(), "{view:?}");
        let before = order(&app, view);
        let mut changed = false;
        let mut seen = Vec::new();
        for _ in 0..super::columns::of(view).len() {
            app.handle_key(key('>'));
            let sort = app.sorts[view];
            seen.push(sort.column);
            let now = order(&app, view);
            changed |= now != before;
            // The selection is still on the same item, wherever it went.
            let sel = app.selected(view).and_then(|i| app.row_key(view, i));
            assert_eq!(sel, chosen, "{view:?} sorted by {sort:?}");
            // The header marks the column, the title names it.
            let s = render(&app, 200, 30);
            assert!(s.contains(sort.arrow()), "{view:?} {sort:?}\n{s}");
        }
        assert!(changed, "{view:?}: no column changed the order");
        let mut ids = seen.clone();
        ids.dedup();
        assert_eq!(ids.len(), seen.len(), "{view:?} cycles: {seen:?}");
        // S reverses (shown on the first column, whose values differ).
        let first = super::columns::of(view)[0];
        app.sorts[view] = super::columns::Sort::by(first.id, false);
        let a = order(&app, view);
        let dir = app.sorts[view].descending;
        app.handle_key(key('S'));
        assert_eq!(app.sorts[view].descending, !dir);
        let b = order(&app, view);
        if a.len() > 1 && a.first() != a.last() {
            assert_ne!(a, b, "{view:?}");
        }
        let sel = app.selected(view).and_then(|i| app.row_key(view, i));
        assert_eq!(sel, chosen, "{view:?} reversed");
    }
}

#[test]
fn sort_command_names_a_column_of_the_view() {
    let mut app = showing(View::Results);
    app.handle_key(key(':'));
    for c in "sort package".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.view, View::Results);
    assert_eq!(app.sorts[View::Results].column, Some(ColId::Package));
    let pkgs: Vec<String> = app
        .rows(View::Results)
        .into_iter()
        .map(|i| app.model.results.entries()[i].package.clone())
        .collect();
    let mut sorted = pkgs.clone();
    sorted.sort();
    assert_eq!(pkgs, sorted);
    app.handle_key(key(':'));
    for c in "sort nope".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let s = render(&app, 120, 30);
    assert!(s.contains("no column `nope` in Results"), "{s}");
}

#[test]
fn uuids_show_when_there_is_room() {
    for view in [View::Running, View::Results, View::Requests] {
        let app = showing(view);
        let first = app
            .rows(view)
            .first()
            .and_then(|&i| match view {
                View::Running => Some(app.model.running[i].uuid.clone()),
                View::Results => Some(app.model.results.entries()[i].uuid.clone()),
                _ => app.model.requests.as_ref()?.rows[i].uuid.clone(),
            })
            .expect("a uuid");
        let wide = render(&app, 240, 30);
        assert!(
            wide.contains("UUID") && wide.contains(&first),
            "{view:?}\n{wide}"
        );
        let narrow = render(&app, 80, 24);
        assert!(!narrow.contains("UUID"), "{view:?}\n{narrow}");
    }
}

#[test]
fn the_oldest_request_comes_from_the_read_queue_or_the_management_api_else_is_unknown() {
    let app = showing(View::Queues);
    let s = render(&app, 160, 30);
    let line = |q: &str| -> String {
        s.lines()
            .find(|l| l.split_whitespace().any(|w| w == q))
            .unwrap_or_default()
            .to_string()
    };
    // Read in the Requests view: its oldest submit time, two hours ago.
    assert!(line("debci-noble-amd64").contains("2h00m"), "{s}");
    // From the head message's timestamp: 3 ready, 21 s.
    assert!(line("debci-huge-noble-amd64").contains("21s"), "{s}");
    // Requests wait but nothing says since when.
    assert!(
        line("debci-ppa-plucky-s390x")
            .split_whitespace()
            .any(|w| w == "?"),
        "{s}"
    );
    // Nothing waits.
    assert!(
        line("debci-upstream-noble-arm64")
            .split_whitespace()
            .any(|w| w == "-"),
        "{s}"
    );
}

#[test]
fn times_are_in_the_operators_zone_and_say_which() {
    let mut app = showing(View::Results);
    app.zone = Zone::Fixed(FixedOffset::east_opt(3600).expect("offset"));
    // Wide enough for the date beside the eight tabs.
    let s = render(&app, 140, 30);
    assert!(s.contains("2026-03-12 15:30:00 UTC+1"), "{s}");
    // The status line and the results' finish times are shifted too.
    assert!(s.contains(" 15:30:00 stop-requeue"), "{s}");
    let e = &app.model.results.entries()[app.rows(View::Results)[0]];
    let local = (e.finished + chrono::Duration::hours(1))
        .format("%H:%M:%S")
        .to_string();
    assert!(s.contains(&local), "{local}\n{s}");
    // Narrow: the clock shortens, the zone stays.
    let s = render(&app, 80, 24);
    assert!(s.contains("15:30:00 UTC+1"), "{s}");
}
