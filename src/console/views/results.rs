//! Recent results, newest first, filterable to failures / tmpfails and by release, arch, package.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;

use super::{age, frame_block, num, s, sort_tag, table, title_spans};
use crate::console::app::App;
use crate::console::theme::Role;
use crate::console::view::View;
use crate::protocol::exitcode::{Class, ExitCode};

pub fn class_role(c: Class) -> Role {
    match c {
        Class::Pass => Role::Pass,
        Class::Neutral => Role::Neutral,
        Class::Fail => Role::Fail,
        Class::Tmpfail => Role::Tmpfail,
        Class::Denied => Role::Dim,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let m = &app.model;
    let rows = app.rows(View::Results);
    let mut title = title_spans(
        app,
        View::Results,
        "Results".into(),
        rows.len(),
        m.results.len(),
    );
    if !app.result_filter.is_empty() {
        title.push(Span::styled(
            format!("[{}] ", s(&app.result_filter.describe())),
            t.style(Role::Prompt),
        ));
    }
    title.extend(sort_tag(app, View::Results));
    table(
        frame,
        area,
        app,
        View::Results,
        frame_block(app, title, area.width),
        &rows,
        if m.results.entries().is_empty() {
            "no results yet"
        } else {
            "no results match the class, release or package filter"
        },
        |i| {
            let e = m.results.entries().get(i)?;
            Some({
                let when = if (m.now - e.finished).num_hours() < 24 {
                    app.zone.fmt(e.finished, "%H:%M:%S")
                } else {
                    app.zone.fmt(e.finished, "%m-%d")
                };
                let version = e
                    .testpkg_version
                    .split_once(' ')
                    .map_or(e.testpkg_version.as_str(), |(_, v)| v);
                let verdict = format!("{} {}", ExitCode(e.exitcode).britney(), num(e.exitcode, 2));
                (
                    vec![
                        Span::raw(when),
                        Span::raw(if e.private {
                            format!("{} (private)", s(&e.package))
                        } else {
                            s(&e.package)
                        }),
                        Span::raw(s(version)),
                        Span::raw(s(&e.release)),
                        Span::raw(s(&e.arch)),
                        Span::styled(
                            if e.class == Class::Tmpfail {
                                format!("TMPFAIL {}", e.exitcode)
                            } else {
                                verdict
                            },
                            t.style(class_role(e.class)),
                        ),
                        Span::raw(age(e.duration as i64)),
                        Span::raw(s(&e.worker)),
                        Span::raw(s(&e.triggers.join(" "))),
                        Span::raw(s(&e.uuid)),
                    ],
                    Default::default(),
                )
            })
        },
    );
}
