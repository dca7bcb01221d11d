//! Rejected requests (`adtop.rejected`): when, from which queue, which worker, why. While the
//! operator edits one for resubmitting, the whole body and what is wrong with it show below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{frame_block, s, sort_tag, table, title_spans};
use crate::console::app::{App, Mode};
use crate::console::prompt::PromptKind;
use crate::console::theme::Role;
use crate::console::view::View;
use crate::protocol::names;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Rejected);
    let editing = match &app.mode {
        Mode::Prompt(p) if p.kind == PromptKind::Edit => Some(p),
        _ => None,
    };
    let (list, edit) = if editing.is_some() {
        let [a, b] = Layout::vertical([Constraint::Min(3), Constraint::Length(8)]).areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    let total = m.rejected.as_ref().map_or(0, |p| p.total);
    let held = m.rejected.as_ref().map_or(0, |p| p.rows.len());
    let mut title = title_spans(
        app,
        View::Rejected,
        format!("Rejected ({})", names::REJECTED_QUEUE),
        rows.len(),
        held,
    );
    if total as usize > held {
        title.push(Span::styled(
            format!("[oldest {held} of {total}] "),
            t.style(Role::Dim),
        ));
    }
    title.extend(sort_tag(app, View::Rejected));
    let empty = if m.rejected.is_some() {
        "nothing rejected: every request so far was accepted"
    } else {
        "reading adtop.rejected…"
    };
    table(
        frame,
        list,
        app,
        View::Rejected,
        frame_block(app, title, list.width),
        &rows,
        empty,
        |i| {
            let r = m.rejected.as_ref()?.rows.get(i)?;
            Some((
                vec![
                    Span::raw(
                        r.rejected_at
                            .map(|at| app.zone.fmt(at, "%Y-%m-%d %H:%M:%S"))
                            .unwrap_or_else(|| "?".into()),
                    ),
                    Span::raw(s(&r.source_queue)),
                    Span::raw(s(&r.worker)),
                    Span::styled(s(&r.reason_code), t.style(Role::Fail)),
                    Span::raw(s(&r.package)),
                    Span::raw(s(&r.reason)),
                ],
                Default::default(),
            ))
        },
    );
    if let (Some(p), Some(area)) = (editing, edit) {
        let queue = app.editing.as_ref().map_or("", |e| e.queue.as_str());
        let mut lines = vec![Line::from(Span::styled(
            format!(
                "Resubmit to {}: Enter checks it as a worker would, then asks; Esc leaves it where it is",
                s(queue)
            ),
            t.style(Role::Title),
        ))];
        if let Some(e) = &p.error {
            lines.push(Line::from(Span::styled(s(e), t.style(Role::StatusError))));
        }
        lines.push(Line::from(Span::styled(s(&p.input), t.style(Role::Prompt))));
        let block = frame_block(
            app,
            vec![Span::styled(" Edit ", t.style(Role::Title))],
            area.width,
        );
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            area,
        );
    }
}
