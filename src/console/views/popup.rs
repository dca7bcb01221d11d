//! Popups over a view: the confirm dialog and the command-completion list.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::s;
use crate::console::app::App;
use crate::console::dialog::{ConfirmDialog, Focus};
use crate::console::keymap::Layer;
use crate::console::prompt::Prompt;
use crate::console::theme::Role;

/// A `w` x `h` rectangle in the middle of `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn confirm(frame: &mut Frame, area: Rect, app: &App, d: &ConfirmDialog) {
    let t = &app.theme;
    let width = 76u16.min(area.width);
    let inner = usize::from(width.saturating_sub(2));
    // Everything but the target list: question, blanks, the typed count, error, buttons, hints.
    let fixed = 6
        + usize::from(d.expected.is_some())
        + usize::from(d.error.is_some())
        + usize::from(d.warning().is_some());
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(fixed);
    // Rows for targets, keeping one for "… and N more" when they do not all fit.
    let shown = if d.ops.len() <= room.max(1) {
        d.ops.len()
    } else {
        room.saturating_sub(1).max(1)
    };
    let cut = |text: String| -> String {
        if text.chars().count() > inner {
            let mut t: String = text.chars().take(inner.saturating_sub(1)).collect();
            t.push('…');
            t
        } else {
            text
        }
    };
    let mut lines = vec![Line::styled(cut(d.question()), t.style(Role::Title))];
    if let Some(w) = d.warning() {
        lines.push(Line::styled(cut(w.to_string()), t.style(Role::Alert)));
    }
    lines.push(Line::raw(""));
    for op in d.ops.iter().take(shown) {
        lines.push(Line::styled(
            cut(format!("  {}", s(&op.target()))),
            t.style(Role::Dialog),
        ));
    }
    if d.ops.len() > shown {
        lines.push(Line::styled(
            format!("  … and {} more", d.ops.len() - shown),
            t.style(Role::Dim),
        ));
    }
    lines.push(Line::raw(""));
    if let Some(expected) = &d.expected {
        lines.push(Line::from(vec![
            Span::styled(
                format!("Acts on {expected} rows: type {expected} and Enter "),
                t.style(Role::Dialog),
            ),
            Span::styled(format!("[{:<4}]", s(&d.typed)), t.style(Role::Prompt)),
        ]));
    }
    if let Some(e) = &d.error {
        lines.push(Line::styled(cut(e.clone()), t.style(Role::StatusError)));
    }
    lines.push(Line::raw(""));
    let button = |label: String, focus: bool| {
        Span::styled(
            format!("[ {label} ]"),
            if focus {
                t.style(Role::DialogFocus)
            } else {
                t.style(Role::DialogButton)
            },
        )
    };
    lines.push(Line::from(vec![
        Span::raw("    "),
        button("Keep".into(), d.focus == Focus::Cancel),
        Span::raw("    "),
        button(d.act_label(), d.focus == Focus::Confirm),
    ]));
    let hints: Vec<String> = app
        .keymap
        .help(Layer::Dialog, false)
        .into_iter()
        .map(|(k, d)| format!("{}: {d}", k.split(' ').next().unwrap_or_default()))
        .collect();
    lines.push(Line::styled(cut(hints.join(" · ")), t.style(Role::Dim)));
    let r = centered(area, width, lines.len() as u16 + 2);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Alert))
        .title(Span::styled(" Confirm ", t.style(Role::Alert)))
        .style(t.style(Role::Dialog));
    frame.render_widget(Clear, r);
    // No wrapping: every line is cut to the box, so the height above is the height drawn and
    // the typed count and the buttons are never pushed out of it.
    frame.render_widget(Paragraph::new(lines).block(block), r);
}

pub fn candidates(frame: &mut Frame, area: Rect, app: &App, p: &Prompt) {
    let t = &app.theme;
    let h = (p.candidates.len() as u16 + 2).min(area.height);
    let w = p.candidates.iter().map(|c| c.len()).max().unwrap_or(8) as u16 + 4;
    let r = Rect {
        x: area.x,
        y: area.y + area.height - h,
        width: w.min(area.width),
        height: h,
    };
    let lines: Vec<Line> = p
        .candidates
        .iter()
        .map(|c| Line::styled(c.clone(), t.style(Role::Dialog)))
        .collect();
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(t.style(Role::Border))
                .style(t.style(Role::Dialog)),
        ),
        r,
    );
}
