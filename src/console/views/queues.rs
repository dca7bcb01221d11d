//! Queues: depth, ready/unacked, consumers, the oldest request's age, rates, a depth
//! sparkline; starved queues marked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;

use super::{age, frame_block, num, s, sort_tag, table, title_spans};
use crate::console::app::App;
use crate::console::model::QueueRow;
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

/// How long the oldest request has waited: `-` when nothing waits, `?` when the console
/// cannot know (no read of the queue, no timestamp from the management API).
fn oldest(app: &App, q: &QueueRow) -> String {
    if q.ready == 0 {
        return "-".into();
    }
    app.model
        .oldest(q)
        .map_or_else(|| "?".into(), |t| age((app.model.now - t).num_seconds()))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Queues);
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
    if starved > 0 {
        title.push(Span::styled(
            format!("[{starved} without consumers] "),
            t.style(Role::Alert),
        ));
    }
    title.extend(sort_tag(app, View::Queues));
    table(
        frame,
        area,
        app,
        View::Queues,
        frame_block(app, title, area.width),
        &rows,
        "no queues yet",
        |i| {
            let q = m.queues.get(i)?;
            let alert = q.starved();
            let style = if alert {
                t.style(Role::Alert)
            } else {
                Style::default()
            };
            Some((
                vec![
                    Span::raw(match q.side() {
                        Some(k) => format!("{} ·{}", s(&q.name), k.label()),
                        None => s(&q.name),
                    }),
                    Span::raw(num(q.ready, 7)),
                    Span::raw(num(q.unacked, 8)),
                    Span::raw(num(q.consumers, 5)),
                    Span::raw(num(oldest(app, q), 7)),
                    Span::raw(num(format!("{:.1}", q.publish_rate), 6)),
                    Span::raw(num(format!("{:.1}", q.deliver_rate), 6)),
                    Span::styled(
                        sparkline(q.history.iter().copied(), 20),
                        t.style(Role::Spark),
                    ),
                    // debci's queues carry priorities.
                    Span::raw(q.max_priority.map(|p| num(p, 5)).unwrap_or_default()),
                    Span::raw(if alert { "NO CONSUMER" } else { "" }),
                ],
                style,
            ))
        },
    );
}
