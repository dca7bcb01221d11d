//! Header, tab bar, footer hints and the status line.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{age, s};
use crate::console::action::Action;
use crate::console::app::{App, Mode};
use crate::console::keymap::Layer;
use crate::console::model::{ConnState, Connection, Level, Service};
use crate::console::prompt::PromptKind;
use crate::console::theme::Role;
use crate::console::view::View;

/// `rabbit@mq1 (cluster prod)`: the node whose management API answers, for the broker part.
fn node_label(app: &App) -> Option<String> {
    let (node, cluster) = app.model.broker_node.as_ref()?;
    let cut = |s: &str| -> String {
        if s.chars().count() > 28 {
            s.chars().take(27).chain(std::iter::once('…')).collect()
        } else {
            s.to_string()
        }
    };
    Some(if cluster.is_empty() || cluster == node {
        cut(node)
    } else {
        format!("{} (cluster {})", cut(node), cut(cluster))
    })
}

/// How much the header says, from everything (0) to symbols only (4): the most detailed that
/// fits the width is drawn, so a narrow terminal abbreviates rather than cuts a name. The
/// broker's address goes last: it says which broker this is.
type Detail = u8;
const DETAILS: std::ops::RangeInclusive<Detail> = 0..=4;
const SYMBOLS: Detail = 4;

/// `text` in at most `room` columns, `…` marking a cut.
fn cut(text: String, room: usize) -> String {
    if text.chars().count() <= room {
        return text;
    }
    text.chars()
        .take(room.saturating_sub(1))
        .chain(std::iter::once('…'))
        .collect()
}

fn conn<'a>(app: &App, c: &Connection, detail: Detail) -> Vec<Span<'a>> {
    let t = &app.theme;
    let now = app.model.now;
    let name = match (c.service, detail) {
        (Service::Broker, SYMBOLS) => "brk",
        (Service::Broker, _) => "broker",
        (Service::Store, SYMBOLS) => "st",
        (Service::Store, _) => "store",
        (Service::Management, SYMBOLS) => "mgmt",
        (Service::Management, _) => "management",
    };
    // Room for `host:port vhost V (node i of n)`, which tells which broker this is.
    let room = match (c.service, detail) {
        (Service::Broker, 0) => 44,
        (_, 0) => 28,
        (Service::Broker, 1..=2) => 24,
        (_, 1) => 16,
        (_, _) => 0,
    };
    let endpoint = cut(
        c.endpoint.as_deref().map(s).unwrap_or_else(|| "-".into()),
        room,
    );
    let since = |at: &chrono::DateTime<chrono::Utc>| age((now - *at).num_seconds());
    let (state, role) = match (&c.state, detail) {
        (ConnState::Connected, SYMBOLS) => ("●".to_string(), Role::Ok),
        (ConnState::Connected, _) => ("● up".to_string(), Role::Ok),
        (ConnState::Connecting, SYMBOLS) => ("◌".to_string(), Role::Warn),
        (ConnState::Connecting, _) => ("◌ connecting".to_string(), Role::Warn),
        (ConnState::Reconnecting { since: at, attempt }, 0..=1) => (
            format!("↻ reconnecting {} (try {attempt})", since(at)),
            Role::HeaderAlert,
        ),
        (ConnState::Reconnecting { since: at, .. }, _) => {
            (format!("↻ {}", since(at)), Role::HeaderAlert)
        }
        (ConnState::Down { since: at, reason }, 0..=1) => (
            format!("✖ down {} ({})", since(at), s(reason)),
            Role::HeaderAlert,
        ),
        (ConnState::Down { since: at, .. }, 2..=3) => {
            (format!("✖ down {}", since(at)), Role::HeaderAlert)
        }
        (ConnState::Down { since: at, .. }, _) => (format!("✖ {}", since(at)), Role::HeaderAlert),
    };
    let mut spans = vec![Span::styled(format!("{name} "), t.style(Role::Header))];
    if room > 0 {
        spans.push(Span::styled(endpoint, t.style(Role::Header)));
        spans.push(Span::styled(" ", t.style(Role::Header)));
    }
    spans.push(Span::styled(
        state,
        t.style(Role::Header).patch(t.style(role)),
    ));
    if let Some(old) = c.data_age(now) {
        spans.push(Span::styled(
            if detail < SYMBOLS {
                format!(" data {} old", age(old))
            } else {
                format!(" {} old", age(old))
            },
            t.style(Role::Header).patch(t.style(Role::Warn)),
        ));
    }
    if c.service == Service::Broker {
        // The node's name only in the fullest header: the store's state at the right matters more.
        if detail == 0
            && let Some(n) = node_label(app)
        {
            spans.push(Span::styled(format!(" {}", s(&n)), t.style(Role::Header)));
        }
        spans.push(Span::styled(" │ ", t.style(Role::Header)));
    }
    spans
}

/// The management API, only when it is not answering: depths off screen, rates and the node
/// list come from it, so the operator must know they are old.
fn management<'a>(app: &App, detail: Detail) -> Vec<Span<'a>> {
    let t = &app.theme;
    let h = t.style(Role::Header);
    match &app.model.management.state {
        ConnState::Down { since, reason } => {
            let since = age((app.model.now - *since).num_seconds());
            vec![
                Span::styled(
                    match detail {
                        0..=1 => format!("mgmt ✖ down {since} ({})", s(reason)),
                        2..=3 => format!("mgmt ✖ down {since}"),
                        _ => format!("mgmt ✖ {since}"),
                    },
                    h.patch(t.style(Role::HeaderAlert)),
                ),
                Span::styled(" │ ", h),
            ]
        }
        _ => Vec::new(),
    }
}

/// A cluster's nodes: how many are up, and the most recent loss or return.
fn nodes<'a>(app: &App, detail: Detail) -> Vec<Span<'a>> {
    let t = &app.theme;
    let h = t.style(Role::Header);
    let m = &app.model;
    if m.nodes.len() < 2 {
        return Vec::new();
    }
    let up = m.nodes.iter().filter(|n| n.running).count();
    let mut spans = vec![Span::styled(
        if detail < SYMBOLS {
            format!("nodes {up}/{} up", m.nodes.len())
        } else {
            format!("nodes {up}/{}", m.nodes.len())
        },
        if up < m.nodes.len() {
            h.patch(t.style(Role::HeaderAlert))
        } else {
            h.patch(t.style(Role::Ok))
        },
    )];
    // A down node first (oldest loss), else the latest return.
    let news = m
        .nodes
        .iter()
        .filter(|n| !n.running)
        .min_by_key(|n| n.since)
        .or_else(|| m.nodes.iter().max_by_key(|n| n.since));
    if let Some(n) = news.filter(|_| detail < 2) {
        let since = age((m.now - n.since).num_seconds());
        if !n.running {
            spans.push(Span::styled(format!(" {} down {since}", s(n.short())), h));
        } else if (m.now - n.since).num_seconds() < 300 {
            spans.push(Span::styled(format!(" {} back {since}", s(n.short())), h));
        }
    }
    spans.push(Span::styled(" │ ", h));
    spans
}

fn header_spans<'a>(app: &App, detail: Detail) -> Vec<Span<'a>> {
    let t = &app.theme;
    let h = t.style(Role::Header);
    let m = &app.model;
    // Most urgent first: what is broken, then who and how, then where.
    let mut spans = vec![Span::styled(
        if detail < 2 { " adtop │ " } else { " " },
        h.patch(t.style(Role::Title)),
    )];
    let hung = m.hung_count();
    let lost = m.lost_count();
    spans.push(Span::styled(
        format!("hung {hung}"),
        if hung > 0 {
            t.style(Role::HeaderAlert)
        } else {
            h
        },
    ));
    spans.push(Span::styled(" ", h));
    spans.push(Span::styled(
        format!("lost {lost}"),
        if lost > 0 {
            t.style(Role::HeaderAlert)
        } else {
            h
        },
    ));
    spans.push(Span::styled(" │ ", h));
    if detail < SYMBOLS {
        spans.push(Span::styled(format!("op {}", s(&app.operator)), h));
    }
    if app.read_only {
        spans.push(Span::styled(if detail < SYMBOLS { " " } else { "" }, h));
        spans.push(Span::styled(
            if detail < SYMBOLS { "READ-ONLY" } else { "RO" },
            h.patch(t.style(Role::Warn)),
        ));
    }
    if let Some(running) = m.embedded_worker {
        let on = if running { "on" } else { "off" };
        spans.push(Span::styled(
            match detail {
                0 => format!(" │ embedded worker {on}"),
                1..=3 => format!(" │ worker {on}"),
                _ => format!("{}wkr {on}", if app.read_only { " " } else { "" }),
            },
            h,
        ));
    }
    if detail < SYMBOLS || app.read_only || m.embedded_worker.is_some() {
        spans.push(Span::styled(" │ ", h));
    }
    spans.extend(conn(app, &m.broker, detail));
    spans.extend(nodes(app, detail));
    spans.extend(management(app, detail));
    spans.extend(conn(app, &m.store, detail));
    spans
}

pub fn header(frame: &mut Frame, area: Rect, app: &App) {
    let h = app.theme.style(Role::Header);
    let line = DETAILS
        .map(|d| Line::from(header_spans(app, d)))
        .find(|l| l.width() <= area.width as usize)
        .unwrap_or_else(|| Line::from(header_spans(app, *DETAILS.end())));
    frame.render_widget(Paragraph::new(line).style(h), area);
}

/// The key the global layer gives an action, for labels.
fn key_label(app: &App, action: Action) -> Option<String> {
    app.keymap
        .keys_for(Layer::Global, action)
        .first()
        .map(|k| k.to_string())
}

/// The tab bar's labels; `compact`: only the active tab shows its view's name, the others
/// their key, with no gap between them.
fn tab_spans<'a>(app: &App, compact: bool) -> Vec<Span<'a>> {
    let t = &app.theme;
    let named = |v: View| !compact || v == app.view;
    let mut spans = Vec::new();
    for v in View::ALL {
        let action = match v {
            View::Queues => Action::ViewQueues,
            View::Requests => Action::ViewRequests,
            View::Workers => Action::ViewWorkers,
            View::Running => Action::ViewRunning,
            View::Results => Action::ViewResults,
            View::Log => Action::ViewLog,
            View::Audit => Action::ViewAudit,
            View::Rejected => Action::ViewRejected,
        };
        let key = key_label(app, action).unwrap_or_default();
        let mut label = match (named(v), key.is_empty()) {
            (true, true) => format!(" {} ", v.title()),
            (true, false) => format!(" {key} {} ", v.title()),
            // A view without a key keeps a letter of its name.
            (false, true) => format!(" {} ", v.title().chars().next().unwrap_or('?')),
            (false, false) => format!(" {key} "),
        };
        let m = &app.model;
        let alert = match v {
            View::Queues => m.queues.iter().any(|q| q.starved()),
            View::Workers => m.lost_count() > 0,
            View::Running => m.hung_count() > 0,
            _ => false,
        };
        if alert {
            label.insert(label.len() - 1, '!');
        }
        let style = if v == app.view {
            t.style(Role::TabActive)
        } else if alert {
            t.style(Role::Tab).patch(t.style(Role::Alert))
        } else {
            t.style(Role::Tab)
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(if compact { "" } else { " " }));
    }
    spans
}

pub fn tabs(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let full = tab_spans(app, false);
    // Too narrow for every name and the clock: the active view's name, the others by key
    // (alerts kept).
    let clock = format!(
        " {} {} ",
        app.zone.fmt(app.model.now, "%H:%M"),
        app.zone.label(app.model.now)
    );
    let spans = if Line::from(full.clone()).width() + clock.chars().count() <= area.width as usize {
        full
    } else {
        tab_spans(app, true)
    };
    let line = Line::from(spans);
    let used = line.width() as u16;
    frame.render_widget(Paragraph::new(line), area);
    // The clock sits at the right of the tab bar, in the operator's zone and naming it,
    // shortened or left out rather than hiding a tab.
    let now = app.model.now;
    let zone = app.zone.label(now);
    for clock in [
        format!(" {} {zone} ", app.zone.fmt(now, "%Y-%m-%d %H:%M:%S")),
        format!(" {} {zone} ", app.zone.fmt(now, "%H:%M:%S")),
        format!(" {} {zone} ", app.zone.fmt(now, "%H:%M")),
    ] {
        let width = clock.chars().count() as u16;
        if used + width <= area.width {
            let r = Rect {
                x: area.x + area.width - width,
                width,
                ..area
            };
            frame.render_widget(
                Paragraph::new(clock)
                    .style(t.style(Role::Header))
                    .alignment(Alignment::Right),
                r,
            );
            break;
        }
    }
}

pub fn footer(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let layer = app.layer();
    // The three sort keys share one hint, after the view's own keys and the global ones.
    let sorting = [Action::SortNext, Action::SortPrev, Action::SortReverse];
    let sort_keys: String = sorting
        .iter()
        .filter_map(|&a| app.keymap.keys_for(layer, a).first().map(|k| k.to_string()))
        .collect();
    let mut hints: Vec<(String, String)> = app
        .keymap
        .entries(layer, app.read_only)
        .into_iter()
        .filter(|(a, _, _)| !sorting.contains(a))
        .map(|(_, keys, desc)| (keys, desc))
        .collect();
    if layer != Layer::Global && matches!(app.mode, Mode::Normal) {
        for action in [Action::Filter, Action::Command, Action::Help, Action::Back] {
            if let Some(k) = app.keymap.keys_for(Layer::Global, action).first()
                && app.keymap.get(layer, *k).is_none()
            {
                hints.push((
                    k.to_string(),
                    action
                        .describe()
                        .split(' ')
                        .next()
                        .unwrap_or("")
                        .to_string(),
                ));
            }
        }
    }
    if !sort_keys.is_empty() {
        hints.push((sort_keys, "Sort".into()));
    }
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (keys, desc) in hints {
        let key = keys.split(' ').next().unwrap_or_default().to_string();
        let w = key.chars().count() + desc.chars().count() + 3;
        if used + w > area.width as usize {
            break;
        }
        used += w;
        spans.push(Span::styled(format!(" {key}"), t.style(Role::Key)));
        spans.push(Span::styled(format!(" {desc} "), t.style(Role::Dim)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn status(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    if let Mode::Prompt(p) = &app.mode {
        let mut spans = vec![
            Span::styled(p.kind.sigil().to_string(), t.style(Role::Prompt)),
            Span::styled(s(&p.input), t.style(Role::Prompt)),
        ];
        let x = area.x + (p.kind.sigil().chars().count() + s(&p.input).chars().count()) as u16;
        if x < area.x + area.width {
            frame.set_cursor_position((x, area.y));
        }
        if let Some(e) = &p.error {
            spans.push(Span::styled(
                format!("   {}", s(e)),
                t.style(Role::StatusError),
            ));
        } else if p.kind == PromptKind::Command {
            spans.push(Span::styled(
                "   Tab completes, Enter runs, Esc cancels",
                t.style(Role::Dim),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    let m = &app.model;
    let mut spans = Vec::new();
    if let Some(st) = &m.status {
        let role = match st.level {
            Level::Info => Role::StatusInfo,
            Level::Ok => Role::StatusOk,
            Level::Error => Role::StatusError,
        };
        spans.push(Span::styled(
            format!(" {} {}", app.zone.fmt(st.at, "%H:%M:%S"), s(&st.text)),
            t.style(role),
        ));
    }
    if !m.pending.is_empty() {
        spans.push(Span::styled(
            format!("  ({} pending)", m.pending.len()),
            t.style(Role::Dim),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
