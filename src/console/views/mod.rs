//! Drawing: functions of the [`App`] (model plus view state) onto a ratatui frame.
//!
//! Every string that came from outside passes through [`s`] (the protocol's sanitiser) before
//! it reaches a cell.

mod audit;
mod chrome;
mod detail;
mod help;
mod log;
mod popup;
mod queues;
mod rejected;
mod requests;
mod results;
mod running;
mod workers;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use super::app::{App, Mode};
use super::theme::Role;
use super::view::View;
use crate::protocol::sanitize;

/// Untrusted text, made inert for one line of the screen.
pub fn s(text: &str) -> String {
    sanitize::line(text)
}

/// `42s`, `3m05s`, `2h04m`, `3d04h`.
pub fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86400, (secs % 86400) / 3600),
    }
}

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    frame.render_widget(Block::new().style(app.theme.style(Role::Base)), area);
    let [header, tabs, body, footer, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::header(frame, header, app);
    chrome::tabs(frame, tabs, app);
    match app.view {
        View::Queues => queues::draw(frame, body, app),
        View::Requests => requests::draw(frame, body, app),
        View::Workers => workers::draw(frame, body, app),
        View::Running => running::draw(frame, body, app),
        View::Results => results::draw(frame, body, app),
        View::Log => log::draw(frame, body, app),
        View::Audit => audit::draw(frame, body, app),
        View::Rejected => rejected::draw(frame, body, app),
    }
    chrome::footer(frame, footer, app);
    chrome::status(frame, status, app);
    match &app.mode {
        Mode::Help { scroll } => help::draw(frame, body, app, *scroll),
        Mode::Detail(d) => detail::draw(frame, body, app, d),
        Mode::Confirm(d) => popup::confirm(frame, body, app, d),
        Mode::Prompt(p) if !p.candidates.is_empty() => popup::candidates(frame, body, app, p),
        _ => {}
    }
}

/// The bordered box a view draws in, with its title.
fn frame_block<'a>(app: &App, title: Vec<Span<'a>>) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(app.theme.style(Role::Border))
        .title(Line::from(title))
}

/// A title, plus `[filter: /re/]` and `[N marked]` when they apply.
fn title_spans<'a>(
    app: &App,
    view: View,
    main: String,
    shown: usize,
    total: usize,
) -> Vec<Span<'a>> {
    let t = &app.theme;
    let mut spans = vec![Span::styled(format!(" {main} "), t.style(Role::Title))];
    if shown != total {
        spans.push(Span::styled(
            format!("[{shown} of {total}] "),
            t.style(Role::Dim),
        ));
    } else {
        spans.push(Span::styled(format!("[{total}] "), t.style(Role::Dim)));
    }
    if let Some(f) = &app.filters[view] {
        spans.push(Span::styled(
            format!("[filter /{}/] ", s(&f.text)),
            t.style(Role::Prompt),
        ));
    }
    let marked = app.marks[view].len();
    if marked > 0 {
        spans.push(Span::styled(
            format!("[{marked} marked] "),
            t.style(Role::Marked),
        ));
    }
    spans
}

/// A table of the rows on screen only: `make` is called for the visible window, never for
/// the rest (a queue page of thousands costs what fits on the screen). A row that has gone
/// from the model since `rows` was computed is skipped.
#[allow(clippy::too_many_arguments)]
fn table<'a>(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    view: View,
    block: Block<'a>,
    header: &[&'a str],
    widths: &[Constraint],
    rows: &[usize],
    empty: &str,
    make: impl Fn(usize) -> Option<(Vec<Span<'a>>, Style)>,
) {
    let t = &app.theme;
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if rows.is_empty() {
        // Say so when the filter, not the system, is why nothing shows.
        let text = match &app.filters[view] {
            Some(f) => format!("nothing matches /{}/ (Esc clears the filter)", s(&f.text)),
            None => empty.to_string(),
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, t.style(Role::Dim))),
            inner,
        );
        return;
    }
    let height = inner.height.saturating_sub(1) as usize;
    app.page.set(height.max(1));
    let cursor = &app.cursors[view];
    let first = cursor.window(rows.len(), height);
    let selected = cursor.selected().min(rows.len().saturating_sub(1));
    let mut widths_all = vec![Constraint::Length(1)];
    widths_all.extend_from_slice(widths);
    let mut head = vec![Span::raw("")];
    head.extend(header.iter().map(|h| Span::raw(*h)));
    let visible = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .filter_map(|(pos, &i)| {
            let (cells, mut style) = make(i)?;
            let marked = app.is_marked(view, i);
            if marked {
                style = style.patch(t.style(Role::Marked));
            }
            if pos == selected {
                style = style.patch(t.style(Role::Selected));
            }
            let mut all = vec![Span::raw(if marked { "*" } else { " " })];
            all.extend(cells);
            Some(Row::new(all).style(style))
        });
    let table = Table::new(visible, widths_all)
        .header(Row::new(head).style(t.style(Role::TableHeader)))
        .column_spacing(1);
    frame.render_widget(table, inner);
}

/// Right-align a number in a fixed width (tables align left by default).
fn num(n: impl std::fmt::Display, width: usize) -> String {
    format!("{n:>width$}")
}
