//! The log viewer: only the lines on screen are laid out, whatever the log's size.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use regex::Regex;
use unicode_width::UnicodeWidthChar;

use super::{frame_block, s};
use crate::console::app::App;
use crate::console::model::LogBuffer;
use crate::console::theme::Role;
use crate::protocol::sanitize;

/// Split `text` into pieces of at most `width` columns.
fn chunks(text: &str, width: usize) -> Vec<&str> {
    let width = width.max(1);
    let mut out = Vec::new();
    let (mut start, mut cols) = (0, 0);
    for (i, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if cols + w > width {
            out.push(&text[start..i]);
            start = i;
            cols = 0;
        }
        cols += w;
    }
    out.push(&text[start..]);
    out
}

/// `text` without its first `skip` columns.
fn skip_cols(text: &str, skip: usize) -> &str {
    let mut cols = 0;
    for (i, c) in text.char_indices() {
        if cols >= skip {
            return &text[i..];
        }
        cols += c.width().unwrap_or(0);
    }
    ""
}

fn highlight<'a>(text: &'a str, re: Option<&Regex>, base: Style, hit: Style) -> Vec<Span<'a>> {
    let Some(re) = re else {
        return vec![Span::styled(text, base)];
    };
    let mut spans = Vec::new();
    let mut at = 0;
    for m in re.find_iter(text).filter(|m| !m.is_empty()) {
        if m.start() > at {
            spans.push(Span::styled(&text[at..m.start()], base));
        }
        spans.push(Span::styled(m.as_str(), base.patch(hit)));
        at = m.end();
    }
    if at < text.len() {
        spans.push(Span::styled(&text[at..], base));
    }
    spans
}

fn describe(app: &App, log: &LogBuffer) -> String {
    let m = &app.model;
    if let Some(j) = m.running.iter().find(|j| j.uuid == log.uuid) {
        return format!(
            "{} {}/{} on {}",
            j.package,
            j.release,
            j.arch,
            j.worker.as_deref().unwrap_or("?")
        );
    }
    if let Some(e) = m.results.entries().iter().find(|e| e.uuid == log.uuid) {
        return format!(
            "{} {}/{} ({})",
            e.package,
            e.release,
            e.arch,
            app.zone.fmt(e.finished, "%Y-%m-%d %H:%M")
        );
    }
    log.uuid.clone()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let lv = &app.logview;
    let Some(log) = &app.model.log else {
        let block = frame_block(
            app,
            vec![Span::styled(" Log ", t.style(Role::Title))],
            area.width,
        );
        let p = Paragraph::new(Span::styled(
            "No log open. Enter on a running job shows its live tail, on a result its stored log.",
            t.style(Role::Dim),
        ))
        .block(block);
        frame.render_widget(p, area);
        return;
    };
    let mut title = vec![Span::styled(
        format!(" Log {} ", s(&describe(app, log))),
        t.style(Role::Title),
    )];
    let flag = |on: bool, name: &str| {
        Span::styled(
            format!("[{name} {}] ", if on { "on" } else { "off" }),
            t.style(if on { Role::Ok } else { Role::Dim }),
        )
    };
    // The search first: on a narrow screen it is what the operator is looking at.
    if let Some(f) = &lv.search {
        title.push(Span::styled(
            format!("[search /{}/] ", s(&f.text)),
            t.style(Role::Prompt),
        ));
    }
    title.push(Span::styled(
        if log.is_live() {
            if log.eof { "[live, ended] " } else { "[live] " }
        } else {
            "[stored] "
        },
        t.style(Role::Dim),
    ));
    // A live job between attempts: the log pauses until the next one starts.
    if let Some(r) = app
        .model
        .running
        .iter()
        .find(|j| log.is_live() && j.uuid == log.uuid)
        .and_then(|j| j.retry.as_ref())
    {
        title.push(Span::styled(
            format!("[{}] ", crate::ops::rules::retry_label(r, app.model.now)),
            t.style(Role::Warn),
        ));
    }
    title.push(flag(lv.follow, "follow"));
    title.push(flag(lv.wrap, "wrap"));
    if log.dropped() > 0 {
        title.push(Span::styled(
            format!("[{} old lines dropped] ", log.dropped()),
            t.style(Role::Warn),
        ));
    }
    if let Some(cap) = log.cut_at {
        title.push(Span::styled(
            format!("[{}] ", crate::ops::read::cut_notice(cap)),
            t.style(Role::Warn),
        ));
    }
    if log.missed > 0 {
        title.push(Span::styled(
            format!("[{} bytes missed] ", log.missed),
            t.style(Role::Warn),
        ));
    }
    let block = frame_block(app, title, area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    app.page.set(height.max(1));

    if !log.loaded {
        let mut lines = vec![Line::styled(
            log.error
                .as_deref()
                .map_or("waiting for the log…".to_string(), |e| {
                    format!("cannot read the log: {}", s(e))
                }),
            t.style(if log.error.is_some() {
                Role::StatusError
            } else {
                Role::Dim
            }),
        )];
        if let Some(j) = app
            .model
            .running
            .iter()
            .find(|j| j.uuid == log.uuid && !j.logtail.is_empty())
        {
            lines.push(Line::styled("last status logtail:", t.style(Role::Dim)));
            let tail = sanitize::inert(&j.logtail, true);
            lines.extend(
                tail.lines()
                    .map(|l| Line::styled(l.to_string(), t.style(Role::Dim))),
            );
        }
        let skip = lines.len().saturating_sub(height);
        frame.render_widget(
            Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()),
            inner,
        );
        return;
    }

    let (first, end) = (log.first(), log.end());
    let gutter = end.max(1).to_string().len() + 1;
    let text_w = (inner.width as usize).saturating_sub(gutter).max(1);
    let last_line = end.saturating_sub(1).max(first);
    // (absolute line, piece of it, first piece?)
    let mut rows: Vec<(usize, &str, bool)> = Vec::with_capacity(height);
    if lv.wrap {
        let top = if lv.follow {
            let mut need = height;
            let mut top = end;
            while top > first && need > 0 {
                top -= 1;
                let n = chunks(log.get(top).unwrap_or(""), text_w).len();
                need = need.saturating_sub(n);
            }
            top
        } else {
            lv.top.clamp(first, last_line)
        };
        lv.shown_top.set(top);
        let mut i = top;
        while rows.len() < height * 2 && i < end {
            for (k, piece) in chunks(log.get(i).unwrap_or(""), text_w)
                .into_iter()
                .enumerate()
            {
                rows.push((i, piece, k == 0));
            }
            i += 1;
        }
        if lv.follow && rows.len() > height {
            rows.drain(..rows.len() - height);
        }
        rows.truncate(height);
    } else {
        let top = if lv.follow {
            end.saturating_sub(height).max(first)
        } else {
            lv.top.clamp(first, last_line)
        };
        lv.shown_top.set(top);
        for i in top..end.min(top + height) {
            let line = skip_cols(log.get(i).unwrap_or(""), lv.hscroll);
            let piece = chunks(line, text_w).into_iter().next().unwrap_or("");
            rows.push((i, piece, true));
        }
    }
    let re = lv.search.as_ref().map(|f| &f.re);
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(i, piece, head)| {
            let base = if lv.focus == Some(i) {
                t.style(Role::LogFocus)
            } else {
                Style::default()
            };
            let number = if head {
                format!("{:>w$} ", i + 1, w = gutter - 1)
            } else {
                " ".repeat(gutter)
            };
            let mut spans = vec![Span::styled(number, t.style(Role::Dim))];
            spans.extend(highlight(piece, re, base, t.style(Role::Match)));
            Line::from(spans).style(base)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_by_columns() {
        assert_eq!(chunks("abcdef", 4), vec!["abcd", "ef"]);
        assert_eq!(chunks("", 4), vec![""]);
        assert_eq!(chunks("日本語", 4), vec!["日本", "語"]);
        assert_eq!(skip_cols("abcdef", 2), "cdef");
        assert_eq!(skip_cols("ab", 5), "");
    }
}
