//! `?`: the help drawn from the active key map (the same tables that handle the keys).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::popup::centered;
use crate::console::app::App;
use crate::console::keymap::Layer;
use crate::console::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, scroll: usize) {
    let t = &app.theme;
    let r = centered(area, 76, area.height.saturating_sub(2).max(6));
    let mut lines = Vec::new();
    let view_layer = app.view.layer();
    for (layer, heading) in [
        (view_layer, format!("{} view", app.view.title())),
        (Layer::Global, "Everywhere".to_string()),
        (Layer::Dialog, "Confirm dialog".to_string()),
        (Layer::Prompt, "Prompts (/ filter, : command)".to_string()),
    ] {
        let entries = app.keymap.help(layer, app.read_only);
        if entries.is_empty() {
            continue;
        }
        lines.push(Line::styled(heading, t.style(Role::Title)));
        for (keys, desc) in entries {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<22}"), t.style(Role::Key)),
                Span::styled(desc, t.style(Role::Dialog)),
            ]));
        }
        lines.push(Line::raw(""));
    }
    if app.read_only {
        lines.push(Line::styled(
            "Read-only: operator actions are hidden and refused.",
            t.style(Role::Warn),
        ));
    }
    lines.push(Line::styled(
        "Commands: :queues :requests [queue] :workers :running :results :log [uuid] :audit :q",
        t.style(Role::Dim),
    ));
    lines.push(Line::styled(
        "          :release R :arch A :package P :failures :tmpfails :all :sort COL, or any action name",
        t.style(Role::Dim),
    ));
    let max = lines
        .len()
        .saturating_sub(r.height.saturating_sub(2) as usize);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Border))
        .title(Span::styled(" Help ", t.style(Role::Title)))
        .style(t.style(Role::Dialog));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll.min(max) as u16, 0)),
        r,
    );
}
