//! Popups over a view: the confirm dialog and the command-completion list.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

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
    let shown = d.ops.len().min(6);
    let mut lines = vec![
        Line::styled(d.question(), t.style(Role::Title)),
        Line::raw(""),
    ];
    for op in d.ops.iter().take(shown) {
        lines.push(Line::styled(
            format!("  {}", s(&op.target())),
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
                format!("This acts on {expected} rows. Type {expected} and press Enter: "),
                t.style(Role::Dialog),
            ),
            Span::styled(format!("[{:<4}]", s(&d.typed)), t.style(Role::Prompt)),
        ]));
    }
    if let Some(e) = &d.error {
        lines.push(Line::styled(e.clone(), t.style(Role::StatusError)));
    }
    lines.push(Line::raw(""));
    let button = |label: &'static str, focus: bool| {
        Span::styled(
            label,
            if focus {
                t.style(Role::DialogFocus)
            } else {
                t.style(Role::DialogButton)
            },
        )
    };
    lines.push(Line::from(vec![
        Span::raw("    "),
        button("[ Cancel ]", d.focus == Focus::Cancel),
        Span::raw("    "),
        button("[ Confirm ]", d.focus == Focus::Confirm),
    ]));
    let hints: Vec<String> = app
        .keymap
        .help(Layer::Dialog, false)
        .into_iter()
        .map(|(k, d)| format!("{}: {d}", k.split(' ').next().unwrap_or_default()))
        .collect();
    lines.push(Line::styled(hints.join(" · "), t.style(Role::Dim)));
    let r = centered(area, 72, lines.len() as u16 + 2);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Alert))
        .title(Span::styled(" Confirm ", t.style(Role::Alert)))
        .style(t.style(Role::Dialog));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        r,
    );
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
