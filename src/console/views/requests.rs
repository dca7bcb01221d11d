//! The requests of one queue, one page at a time.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

use super::{age, frame_block, num, s, sort_tag, table, title_spans};
use crate::console::app::App;
use crate::console::theme::Role;
use crate::console::view::View;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Requests);
    let Some(page) = &m.requests else {
        let block = frame_block(
            app,
            vec![Span::styled(" Requests ", t.style(Role::Title))],
            area.width,
        );
        let empty: Vec<usize> = Vec::new();
        table(
            frame,
            area,
            app,
            View::Requests,
            block,
            &empty,
            "select a queue in Queues and press Enter",
            |_| None,
        );
        return;
    };
    let mut title = title_spans(
        app,
        View::Requests,
        format!("Requests of {}", s(&page.queue)),
        rows.len(),
        page.rows.len(),
    );
    let last = page.offset + page.rows.len();
    title.push(Span::styled(
        if page.rows.is_empty() {
            format!("[queue depth {}] ", page.total)
        } else {
            format!("[{}-{} of {}] ", page.offset + 1, last, page.total)
        },
        t.style(Role::Dim),
    ));
    title.extend(sort_tag(app, View::Requests));
    let empty = if page.total == 0 {
        "queue is empty"
    } else {
        "reading…"
    };
    table(
        frame,
        area,
        app,
        View::Requests,
        frame_block(app, title, area.width),
        &rows,
        empty,
        |i| {
            let r = page.rows.get(i)?;
            Some({
                (
                    vec![
                        Span::raw(num(page.offset + i + 1, 6)),
                        Span::raw(s(&r.package)),
                        Span::raw(s(&r.triggers.join(" "))),
                        Span::raw(s(&r.requester)),
                        Span::raw(
                            r.submit_time
                                .map(|t| app.zone.fmt(t, "%Y-%m-%d %H:%M"))
                                .unwrap_or_default(),
                        ),
                        Span::raw(
                            r.submit_time
                                .map(|t| age((m.now - t).num_seconds()))
                                .unwrap_or_default(),
                        ),
                        Span::raw(r.priority.map(|p| num(p, 5)).unwrap_or_default()),
                        Span::raw(r.uuid.as_deref().map(s).unwrap_or_default()),
                    ],
                    Style::default(),
                )
            })
        },
    );
}
