//! The audit trail: who did what, when, and how it went (newest first).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;

use super::{frame_block, s, sort_tag, table, title_spans};
use crate::console::app::App;
use crate::console::theme::Role;
use crate::console::view::View;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Audit);
    let mut title = title_spans(
        app,
        View::Audit,
        "Audit trail".into(),
        rows.len(),
        m.audit.len(),
    );
    title.extend(sort_tag(app, View::Audit));
    table(
        frame,
        area,
        app,
        View::Audit,
        frame_block(app, title, area.width),
        &rows,
        "no operator actions recorded",
        |i| {
            let a = m.audit.get(i)?;
            Some({
                (
                    vec![
                        Span::raw(app.zone.fmt(a.at, "%Y-%m-%d %H:%M:%S")),
                        Span::raw(s(&a.operator)),
                        Span::raw(s(&a.host)),
                        Span::raw(s(&a.action)),
                        Span::raw(s(&a.target)),
                        Span::styled(
                            if a.ok { "ok" } else { "FAIL" },
                            t.style(if a.ok { Role::Ok } else { Role::Fail }),
                        ),
                        Span::raw(s(&a.outcome)),
                    ],
                    Default::default(),
                )
            })
        },
    );
}
