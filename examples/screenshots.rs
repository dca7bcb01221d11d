//! Regenerate `screenshots/*.svg` from the real widgets and the fixed demo scenario:
//!
//!     cargo run --example screenshots --features demo
//!
//! Writes one picture per view, plus help, a confirm dialog and the other themes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use adtop::console::action::Action;
use adtop::console::event::ModelEvent;
use adtop::console::theme::{Role, Theme};
use adtop::console::view::View;
use adtop::console::{App, demo, svg, views};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn shot(app: &App, name: &str, w: u16, h: u16) -> anyhow::Result<()> {
    let mut term = Terminal::new(TestBackend::new(w, h))?;
    term.draw(|f| views::draw(f, app))?;
    let bg = app.theme.style(Role::Base).bg;
    let path = format!("screenshots/{name}.svg");
    std::fs::write(&path, svg::render(term.backend().buffer(), bg))?;
    println!("wrote {path}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    std::fs::create_dir_all("screenshots")?;
    let (w, h) = (132, 34);
    let mut app = demo::app("dark");
    for (view, name) in [
        (View::Queues, "queues"),
        (View::Workers, "workers"),
        (View::Running, "running"),
        (View::Results, "results"),
        (View::Audit, "audit"),
        (View::Rejected, "rejected"),
    ] {
        app.view = view;
        shot(&app, name, w, h)?;
    }
    app.view = View::Queues;
    let rows = app.rows(View::Queues);
    if let Some(pos) = rows
        .iter()
        .position(|&i| app.model.queues[i].name == "debci-noble-amd64")
    {
        app.cursors[View::Queues].select(pos);
    }
    app.dispatch(Action::Open);
    let now = app.model.now;
    app.apply(ModelEvent::Requests {
        queue: "debci-noble-amd64".into(),
        offset: 0,
        total: 1285,
        rows: demo::requests(now, 40),
    });
    shot(&app, "requests", w, h)?;

    let mut app = demo::app("dark");
    demo::open_failed_log(&mut app);
    shot(&app, "log", w, h)?;

    let mut app = demo::app("dark");
    app.view = View::Running;
    app.dispatch(Action::StopRequeue);
    shot(&app, "confirm-stop", w, h)?;
    app.dispatch(Action::DialogCancel);
    app.dispatch(Action::Help);
    shot(&app, "help", w, h)?;

    for theme in ["light", "high-contrast", "colour-blind"] {
        let mut app = demo::app(theme);
        app.view = View::Running;
        shot(&app, &format!("running-{theme}"), w, h)?;
    }
    let mut app = demo::app("dark");
    app.theme = Theme::load("dark", None, true).0;
    app.view = View::Running;
    shot(&app, "running-no-color", w, h)?;

    // The size of many SSH windows: names whole, secondary columns left out.
    let mut app = demo::app("dark");
    shot(&app, "queues-80x24", 80, 24)?;
    app.view = View::Running;
    app.dispatch(Action::SortNext);
    shot(&app, "running-80x24-sorted", 80, 24)?;
    Ok(())
}
