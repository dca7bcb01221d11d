//! Console frame cost with a big model: 500 queues, 200 workers, 50,000 queued requests held
//! in one page, 100 running jobs, 5,000 results. Prints figures; asserts nothing.
//!
//! `cargo bench --features demo --bench console_render` (add `-- 500` for 500 frames per view).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use adtop::console::demo;
use adtop::console::event::ModelEvent;
use adtop::console::keymap::KeyMap;
use adtop::console::theme::Theme;
use adtop::console::view::View;
use adtop::console::{App, ConsoleConfig, views};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let frames: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let now = demo::now();
    let before = rss_kib();
    let t0 = Instant::now();
    let model = demo::large(now, 50_000);
    let build = t0.elapsed();
    let after = rss_kib();
    println!(
        "model: {} queues, {} workers, {} requests held (queue depth {}), {} running, {} results",
        model.queues.len(),
        model.workers.len(),
        model.requests.as_ref().map_or(0, |p| p.rows.len()),
        model.requests.as_ref().map_or(0, |p| p.total),
        model.running.len(),
        model.results.len()
    );
    println!(
        "model built in {build:?}; approx size {:.1} MiB",
        model.approx_bytes() as f64 / (1 << 20) as f64
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "RSS before {:.1} MiB, after {:.1} MiB (+{:.1} MiB)",
            b as f64 / 1024.0,
            a as f64 / 1024.0,
            (a - b) as f64 / 1024.0
        );
    }

    let keymap = KeyMap::builtin("default")
        .and_then(Result::ok)
        .unwrap_or_default();
    let theme = Theme::load("dark", None, false).0;
    let mut app = App::new(model, keymap, theme, &ConsoleConfig::default());
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");

    println!("\n{frames} frames per view, TestBackend 200x50:");
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "view", "median", "p99", "max"
    );
    for view in View::TABLES {
        app.view = view;
        let mut times = Vec::with_capacity(frames);
        for i in 0..frames {
            // Move the selection so that each frame differs a little, like a real session.
            app.cursors[view].select((i * 7) % 1000);
            let t = Instant::now();
            term.draw(|f| views::draw(f, &app)).expect("draw");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<10} {:>10.2?} {:>10.2?} {:>10.2?}",
            view.title(),
            pct(&times, 0.5),
            pct(&times, 0.99),
            times[times.len() - 1]
        );
    }

    // A burst of 200 heartbeats, applied as the loop does (then one frame).
    let events: Vec<ModelEvent> = (0..200usize)
        .map(|i| {
            let hb = demo::heartbeat(
                &format!("juju-{}-{i}", demo::ARCHES[i % 4]),
                demo::ARCHES[i % 4],
                None,
                now,
            );
            ModelEvent::Heartbeat {
                heartbeat: Box::new(hb),
                received: now,
            }
        })
        .collect();
    let t = Instant::now();
    let mut changed = false;
    for e in events {
        changed |= app.apply(e);
    }
    app.view = View::Workers;
    term.draw(|f| views::draw(f, &app)).expect("draw");
    println!(
        "\n200-heartbeat burst applied + one frame: {:?} (changed: {changed})",
        t.elapsed()
    );
}
