//! Running jobs: elapsed against the timeout as a gauge, silence, hung highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

use super::{age, frame_block, s, sort_tag, table, title_spans};
use crate::console::app::App;
use crate::console::theme::Role;
use crate::console::view::View;

/// `██████░░░░` for `done` out of `total`, `width` cells.
pub fn gauge(done: i64, total: Option<u64>, width: usize) -> String {
    let Some(total) = total.filter(|t| *t > 0) else {
        return "·".repeat(width);
    };
    let filled =
        ((done.max(0) as u128 * width as u128) / total as u128).min(width as u128) as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Running);
    let mut title = title_spans(
        app,
        View::Running,
        "Running".into(),
        rows.len(),
        m.running.len(),
    );
    let hung = m.hung_count();
    if hung > 0 {
        title.push(Span::styled(
            format!("[{hung} hung] "),
            t.style(Role::Alert),
        ));
    }
    title.push(Span::styled(
        format!("[silent limit {}] ", age(m.thresholds.silent_secs as i64)),
        t.style(Role::Dim),
    ));
    title.extend(sort_tag(app, View::Running));
    table(
        frame,
        area,
        app,
        View::Running,
        frame_block(app, title, area.width),
        &rows,
        "nothing running",
        |i| {
            let j = m.running.get(i)?;
            Some({
                let hung = m.hung(j);
                let elapsed = j.elapsed_secs(m.now);
                let style = if hung.is_some() {
                    t.style(Role::Alert)
                } else {
                    Style::default()
                };
                let gauge_role = if hung.is_some() {
                    Role::GaugeHung
                } else {
                    Role::Gauge
                };
                let limit = j
                    .timeout
                    .map(|t| age(t as i64))
                    .unwrap_or_else(|| "?".into());
                (
                    vec![
                        Span::raw(s(&j.package)),
                        Span::raw(s(&format!("{}/{}", j.release, j.arch))),
                        Span::raw(s(j.worker.as_deref().unwrap_or("?"))),
                        Span::styled(gauge(elapsed, j.timeout, 12), t.style(gauge_role)),
                        Span::raw(format!("{}/{}", age(elapsed), limit)),
                        // Between attempts nothing runs: silence means nothing, the wait does.
                        Span::raw(match &j.retry {
                            Some(_) => "-".into(),
                            None => j.silence_secs(m.now).map(age).unwrap_or_else(|| "?".into()),
                        }),
                        Span::raw(match (hung, &j.retry) {
                            (Some(h), _) => h.label().to_string(),
                            (None, Some(r)) => crate::ops::rules::retry_label(r, m.now),
                            (None, None) => "running".into(),
                        }),
                        Span::raw(s(&j.uuid)),
                    ],
                    style,
                )
            })
        },
    );
}
