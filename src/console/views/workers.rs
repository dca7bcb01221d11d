//! Workers, with health from heartbeat age.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

use super::{age, frame_block, num, s, sort_tag, table, title_spans};
use crate::console::app::App;
use crate::console::model::Health;
use crate::console::theme::Role;
use crate::console::view::View;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Workers);
    let mut title = title_spans(
        app,
        View::Workers,
        "Workers".into(),
        rows.len(),
        m.workers.len(),
    );
    let lost = m.lost_count();
    if lost > 0 {
        title.push(Span::styled(
            format!("[{lost} lost] "),
            t.style(Role::Alert),
        ));
    }
    title.extend(sort_tag(app, View::Workers));
    table(
        frame,
        area,
        app,
        View::Workers,
        frame_block(app, title, area.width),
        &rows,
        "no heartbeats yet",
        |i| {
            let w = m.workers.get(i)?;
            Some({
                let h = &w.heartbeat;
                let health = m.health(w);
                let (role, style) = match health {
                    Health::Ok => (Role::Ok, Style::default()),
                    Health::Stopped => (Role::Dim, t.style(Role::Dim)),
                    Health::Stale => (Role::Warn, t.style(Role::Warn)),
                    Health::Lost => (Role::Alert, t.style(Role::Alert)),
                };
                let mut releases = h.releases.join(",");
                if !h.contexts.is_empty() {
                    releases = format!("{releases} +{}", h.contexts.join(","));
                }
                let job = match (&h.job, &h.testbed_broken) {
                    (Some(j), _) => match &j.retry {
                        // The wait first: a narrow column keeps what matters most.
                        Some(r) => format!(
                            "{}: {} {}",
                            crate::ops::rules::retry_label(
                                &crate::ops::rules::retry_observed(r, h.sent, w.received),
                                m.now
                            ),
                            j.package,
                            j.release
                        ),
                        None => format!("{} {}", j.package, j.release),
                    },
                    // The last testbed error, where the job would be: the worker runs none.
                    (None, Some(why)) => why.clone(),
                    (None, None) => String::new(),
                };
                let (role, style) = if h.testbed_broken.is_some() && health == Health::Ok {
                    (Role::Alert, t.style(Role::Alert))
                } else {
                    (role, style)
                };
                (
                    vec![
                        Span::styled(
                            format!("{} {}", health.label(), age(w.age_secs(m.now))),
                            t.style(role),
                        ),
                        Span::raw(s(&h.id)),
                        Span::raw(s(&h.host)),
                        Span::raw(s(&h.arch)),
                        Span::raw(s(&releases)),
                        Span::raw(crate::ops::rules::worker_state(h)),
                        Span::raw(s(&job)),
                        Span::raw(num(h.done, 5)),
                        Span::raw(num(h.failed, 5)),
                        Span::raw(num(h.tmpfailed, 5)),
                        Span::raw(s(&h.version)),
                    ],
                    style,
                )
            })
        },
    );
}
