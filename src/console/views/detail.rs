//! The detail view: a scrollable box over the body with every field of one row.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::s;
use crate::console::app::App;
use crate::console::detail::{Detail, Field};
use crate::console::theme::Role;

/// Width of the label column.
const LABEL: usize = 14;

/// The lines of the fields, each made inert (values come from the wire).
pub fn lines<'a>(app: &App, fields: &[Field]) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut out = Vec::new();
    for f in fields {
        for (n, part) in f.value.split('\n').enumerate() {
            let label = if n == 0 { f.label } else { "" };
            out.push(Line::from(vec![
                Span::styled(format!(" {label:<LABEL$}"), t.style(Role::Key)),
                Span::styled(s(part), t.style(Role::Dialog)),
            ]));
        }
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, d: &Detail) {
    let t = &app.theme;
    let (fields, gone) = d.current(app);
    let lines = lines(app, &fields);
    let inner_h = area.height.saturating_sub(2) as usize;
    app.page.set(inner_h.max(1));
    let max = lines.len().saturating_sub(inner_h);
    d.max_scroll.set(max);
    let scroll = d.scroll.min(max);
    let mut title = vec![Span::styled(
        format!(" {} ", s(&d.title)),
        t.style(Role::Title),
    )];
    if gone {
        title.push(Span::styled(
            "[gone from the view: as it was] ",
            t.style(Role::Warn),
        ));
    }
    if max > 0 {
        title.push(Span::styled(
            format!(
                "[{}-{} of {}] ",
                scroll + 1,
                (scroll + inner_h).min(lines.len()),
                lines.len()
            ),
            t.style(Role::Dim),
        ));
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Border))
        .title(Line::from(title))
        .style(t.style(Role::Dialog));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        area,
    );
}
