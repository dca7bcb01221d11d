//! The audit trail: who did what, when, and how it went (newest first).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;

use super::{frame_block, s, table, title_spans};
use crate::console::app::App;
use crate::console::theme::Role;
use crate::console::view::View;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Audit);
    let title = title_spans(
        app,
        View::Audit,
        "Audit trail".into(),
        rows.len(),
        m.audit.len(),
    );
    let header = ["AT", "OPERATOR", "HOST", "ACTION", "TARGET", "", "OUTCOME"];
    let widths = [
        Constraint::Length(19),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Fill(3),
        Constraint::Length(4),
        Constraint::Fill(2),
    ];
    table(
        frame,
        area,
        app,
        View::Audit,
        frame_block(app, title),
        &header,
        &widths,
        &rows,
        "no operator actions recorded",
        |i| {
            let a = m.audit.get(i)?;
            Some({
                (
                    vec![
                        Span::raw(a.at.format("%Y-%m-%d %H:%M:%S").to_string()),
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
