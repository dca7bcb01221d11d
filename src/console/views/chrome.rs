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

fn conn<'a>(app: &App, c: &Connection, node: Option<&str>) -> Vec<Span<'a>> {
    let t = &app.theme;
    let now = app.model.now;
    let name = match c.service {
        Service::Broker => "broker",
        Service::Store => "store",
        Service::Management => "management",
    };
    let mut endpoint = c.endpoint.as_deref().map(s).unwrap_or_else(|| "-".into());
    // Room for `host:port vhost V (node i of n)`, which tells which broker this is.
    let room = if c.service == Service::Broker { 44 } else { 28 };
    if endpoint.chars().count() > room {
        endpoint = endpoint
            .chars()
            .take(room - 1)
            .chain(std::iter::once('…'))
            .collect();
    }
    let (state, role) = match &c.state {
        ConnState::Connected => ("● up".to_string(), Role::Ok),
        ConnState::Connecting => ("◌ connecting".to_string(), Role::Warn),
        ConnState::Reconnecting { since, attempt } => (
            format!(
                "↻ reconnecting {} (try {attempt})",
                age((now - *since).num_seconds())
            ),
            Role::HeaderAlert,
        ),
        ConnState::Down { since, reason } => (
            format!(
                "✖ down {} ({})",
                age((now - *since).num_seconds()),
                s(reason)
            ),
            Role::HeaderAlert,
        ),
    };
    let mut spans = vec![
        Span::styled(format!("{name} "), t.style(Role::Header)),
        Span::styled(endpoint, t.style(Role::Header)),
        Span::styled(
            node.map(|n| format!(" {}", s(n))).unwrap_or_default(),
            t.style(Role::Header),
        ),
        Span::styled(" ", t.style(Role::Header)),
        Span::styled(state, t.style(Role::Header).patch(t.style(role))),
    ];
    if let Some(old) = c.data_age(now) {
        spans.push(Span::styled(
            format!(" data {} old", age(old)),
            t.style(Role::Header).patch(t.style(Role::Warn)),
        ));
    }
    if c.service == Service::Broker {
        spans.push(Span::styled(" │ ", t.style(Role::Header)));
    }
    spans
}

/// The management API, only when it is not answering: depths off screen, rates and the node
/// list come from it, so the operator must know they are old.
fn management<'a>(app: &App) -> Vec<Span<'a>> {
    let t = &app.theme;
    let h = t.style(Role::Header);
    match &app.model.management.state {
        ConnState::Down { since, reason } => vec![
            Span::styled(
                format!(
                    "mgmt ✖ down {} ({})",
                    age((app.model.now - *since).num_seconds()),
                    s(reason)
                ),
                h.patch(t.style(Role::HeaderAlert)),
            ),
            Span::styled(" │ ", h),
        ],
        _ => Vec::new(),
    }
}

/// A cluster's nodes: how many are up, and the most recent loss or return.
fn nodes<'a>(app: &App) -> Vec<Span<'a>> {
    let t = &app.theme;
    let h = t.style(Role::Header);
    let m = &app.model;
    if m.nodes.len() < 2 {
        return Vec::new();
    }
    let up = m.nodes.iter().filter(|n| n.running).count();
    let mut spans = vec![Span::styled(
        format!("nodes {up}/{} up", m.nodes.len()),
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
    if let Some(n) = news {
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

pub fn header(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let h = t.style(Role::Header);
    let m = &app.model;
    // Most urgent first: what is broken, then who and how, then where.
    let mut spans = vec![Span::styled(" adtop │ ", h.patch(t.style(Role::Title)))];
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
    spans.push(Span::styled(format!("op {}", s(&app.operator)), h));
    if app.read_only {
        spans.push(Span::styled(" ", h));
        spans.push(Span::styled("READ-ONLY", h.patch(t.style(Role::Warn))));
    }
    if let Some(running) = m.embedded_worker {
        spans.push(Span::styled(
            format!(" │ embedded worker {}", if running { "on" } else { "off" }),
            h,
        ));
    }
    spans.push(Span::styled(" │ ", h));
    let rest = |node: Option<&str>| {
        let mut r = conn(app, &m.broker, node);
        r.extend(nodes(app));
        r.extend(management(app));
        r.extend(conn(app, &m.store, None));
        r
    };
    // The node's name only when it fits: the store's state at the right matters more.
    let label = node_label(app);
    let mut with = spans.clone();
    with.extend(rest(label.as_deref()));
    if label.is_some() && Line::from(with.clone()).width() <= usize::from(area.width) {
        spans = with;
    } else {
        spans.extend(rest(None));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(h), area);
}

/// The key the global layer gives an action, for labels.
fn key_label(app: &App, action: Action) -> Option<String> {
    app.keymap
        .keys_for(Layer::Global, action)
        .first()
        .map(|k| k.to_string())
}

pub fn tabs(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
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
        let key = key_label(app, action)
            .map(|k| format!("{k} "))
            .unwrap_or_default();
        let mut label = format!(" {key}{} ", v.title());
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
        spans.push(Span::raw(" "));
    }
    let line = Line::from(spans);
    let used = line.width() as u16;
    frame.render_widget(Paragraph::new(line), area);
    // The clock sits at the right of the tab bar, shortened or left out rather than hiding a tab.
    let now = app.model.now;
    for clock in [
        now.format(" %Y-%m-%d %H:%M:%SZ ").to_string(),
        now.format(" %H:%M:%SZ ").to_string(),
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
    let mut hints = app.keymap.help(layer, app.read_only);
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
            spans.push(Span::styled(format!("   {e}"), t.style(Role::StatusError)));
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
            format!(" {} {}", st.at.format("%H:%M:%S"), s(&st.text)),
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
