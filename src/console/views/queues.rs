//! Queues: depth, ready/unacked, consumers, rates, a depth sparkline; starved queues marked.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;

use super::{frame_block, num, s, table, title_spans};
use crate::console::app::App;
use crate::console::theme::Role;
use crate::console::view::View;

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` samples as block characters, scaled to their own maximum.
pub fn sparkline(
    history: impl DoubleEndedIterator<Item = u64> + ExactSizeIterator,
    width: usize,
) -> String {
    let skip = history.len().saturating_sub(width);
    let samples: Vec<u64> = history.skip(skip).collect();
    let max = samples.iter().copied().max().unwrap_or(0);
    samples
        .iter()
        .map(|&v| {
            if max == 0 {
                SPARK.first().copied().unwrap_or(' ')
            } else {
                let level = v.saturating_mul(7).div_ceil(max);
                SPARK
                    .get(usize::try_from(level).unwrap_or(usize::MAX))
                    .or(SPARK.last())
                    .copied()
                    .unwrap_or(' ')
            }
        })
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Queues);
    let sort = app.queue_sort;
    let starved = m.queues.iter().filter(|q| q.starved()).count();
    // adtop's own queues are listed, not counted as request queues.
    let side = |i: &usize| m.queues.get(*i).is_some_and(|q| q.side().is_some());
    let sides = m.queues.iter().filter(|q| q.side().is_some()).count();
    let mut title = title_spans(
        app,
        View::Queues,
        "Queues".into(),
        rows.iter().filter(|i| !side(i)).count(),
        m.queues.len() - sides,
    );
    if sides > 0 {
        title.push(Span::styled(
            format!("[+{sides} rejected/held] "),
            t.style(Role::Dim),
        ));
    }
    title.push(Span::styled(
        format!(
            "[sort {} {}] ",
            sort.column.title(),
            if sort.descending { "↓" } else { "↑" }
        ),
        t.style(Role::Dim),
    ));
    if starved > 0 {
        title.push(Span::styled(
            format!("[{starved} without consumers] "),
            t.style(Role::Alert),
        ));
    }
    let header = [
        "QUEUE", "READY", "UNACKED", "CONS", "IN/s", "OUT/s", "DEPTH", "ALERT",
    ];
    let widths = [
        Constraint::Fill(3),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(20),
        Constraint::Length(12),
    ];
    table(
        frame,
        area,
        app,
        View::Queues,
        frame_block(app, title),
        &header,
        &widths,
        &rows,
        "no queues yet",
        |i| {
            let q = m.queues.get(i)?;
            Some({
                let alert = q.starved();
                let style = if alert {
                    t.style(Role::Alert)
                } else {
                    Style::default()
                };
                (
                    vec![
                        Span::raw(match (q.side(), q.max_priority) {
                            (Some(k), _) => format!("{} ·{}", s(&q.name), k.label()),
                            // debci's queues carry priorities: shown beside the name.
                            (None, Some(p)) => format!("{} ·prio {p}", s(&q.name)),
                            (None, None) => s(&q.name),
                        }),
                        Span::raw(num(q.ready, 7)),
                        Span::raw(num(q.unacked, 7)),
                        Span::raw(num(q.consumers, 4)),
                        Span::raw(num(format!("{:.1}", q.publish_rate), 6)),
                        Span::raw(num(format!("{:.1}", q.deliver_rate), 6)),
                        Span::styled(
                            sparkline(q.history.iter().copied(), 20),
                            t.style(Role::Spark),
                        ),
                        Span::raw(if alert { "NO CONSUMER" } else { "" }),
                    ],
                    style,
                )
            })
        },
    );
}
