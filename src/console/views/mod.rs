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
use super::columns;
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

/// The bordered box a view draws in, with its title fitted to `width` (see [`fit_spans`]).
fn frame_block<'a>(app: &App, title: Vec<Span<'a>>, width: u16) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(app.theme.style(Role::Border))
        .title(Line::from(fit_spans(
            title,
            width.saturating_sub(2) as usize,
        )))
}

/// The spans that fit in `width` columns, whole: a tag that does not fit is left out rather
/// than cut, and a shorter one after it may still show. The first (the title) is cut if it
/// must be.
fn fit_spans(spans: Vec<Span<'_>>, width: usize) -> Vec<Span<'_>> {
    let mut used = 0;
    let mut out = Vec::with_capacity(spans.len());
    for (i, sp) in spans.into_iter().enumerate() {
        let w = sp.width();
        if used + w <= width {
            used += w;
            out.push(sp);
        } else if i == 0 {
            let cut: String = sp.content.chars().take(width).collect();
            used = cut.chars().count();
            out.push(Span::styled(cut, sp.style));
        }
    }
    out
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
/// the rest (a queue page of thousands costs what fits on the screen), and gives one cell per
/// column of [`columns::of`]`(view)`. Columns are fitted to the width (names first, see
/// [`columns::fit`]); the sorted column's title carries the direction. A row that has gone
/// from the model since `rows` was computed is skipped.
#[allow(clippy::too_many_arguments)]
fn table<'a>(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    view: View,
    block: Block<'a>,
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
    let cols = columns::of(view);
    let height = inner.height.saturating_sub(1) as usize;
    app.page.set(height.max(1));
    let cursor = &app.cursors[view];
    let first = cursor.window(rows.len(), height);
    let selected = cursor.selected().min(rows.len().saturating_sub(1));
    let sort = app.sorts[view];
    let head: Vec<String> = cols
        .iter()
        .map(|c| {
            if sort.column == Some(c.id) {
                format!("{}{}", c.title, sort.arrow())
            } else {
                c.title.to_string()
            }
        })
        .collect();
    let visible: Vec<(usize, usize, Vec<Span<'a>>, Style)> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .filter_map(|(pos, &i)| make(i).map(|(cells, style)| (pos, i, cells, style)))
        .collect();
    let content: Vec<u16> = (0..cols.len())
        .map(|c| {
            let cells = visible.iter().filter_map(|(_, _, cells, _)| cells.get(c));
            // Blank cells (a right-aligned number pads with spaces) are empty.
            let widest = cells
                .map(|s| {
                    if s.content.trim().is_empty() {
                        0
                    } else {
                        s.width()
                    }
                })
                .max()
                .unwrap_or(0);
            let title = head.get(c).map_or(0, |h| h.chars().count());
            match widest {
                0 => 0,
                w => u16::try_from(w.max(title)).unwrap_or(u16::MAX),
            }
        })
        .collect();
    // The mark column and its gap come first.
    let fitted = columns::fit(cols, &content, inner.width.saturating_sub(2));
    let shown = |cells: Vec<Span<'a>>| -> Vec<Span<'a>> {
        cells
            .into_iter()
            .zip(&fitted)
            .filter_map(|(cell, w)| w.map(|_| cell))
            .collect()
    };
    let mut widths = vec![Constraint::Length(1)];
    widths.extend(fitted.iter().flatten().map(|&w| Constraint::Length(w)));
    let mut header = vec![Span::raw("")];
    header.extend(shown(head.into_iter().map(Span::raw).collect()));
    let body = visible.into_iter().map(|(pos, i, cells, mut style)| {
        let marked = app.is_marked(view, i);
        if marked {
            style = style.patch(t.style(Role::Marked));
        }
        if pos == selected {
            style = style.patch(t.style(Role::Selected));
        }
        let mut all = vec![Span::raw(if marked { "*" } else { " " })];
        all.extend(shown(cells));
        Row::new(all).style(style)
    });
    let table = Table::new(body, widths)
        .header(Row::new(header).style(t.style(Role::TableHeader)))
        .column_spacing(1);
    frame.render_widget(table, inner);
}

/// `[sort COLUMN ↑]` for the title, when the operator chose an order.
fn sort_tag<'a>(app: &App, view: View) -> Option<Span<'a>> {
    let sort = app.sorts[view];
    let name = match sort.column {
        Some(c) => columns::of(view).iter().find(|x| x.id == c)?.title,
        None if sort.descending => "reversed",
        None => return None,
    };
    Some(Span::styled(
        format!("[sort {name} {}] ", sort.arrow()),
        app.theme.style(Role::Dim),
    ))
}

/// Right-align a number in a fixed width (tables align left by default).
fn num(n: impl std::fmt::Display, width: usize) -> String {
    format!("{n:>width$}")
}
