//! Recent results, newest first, filterable to failures / tmpfails and by release, arch, package.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;

use super::{age, frame_block, num, s, table, title_spans};
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
    let header = [
        "FINISHED", "PACKAGE", "VERSION", "RELEASE", "ARCH", "RESULT", "TOOK", "WORKER", "TRIGGERS",
    ];
    let widths = [
        Constraint::Length(8),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Fill(2),
        Constraint::Fill(3),
    ];
    table(
        frame,
        area,
        app,
        View::Results,
        frame_block(app, title),
        &header,
        &widths,
        &rows,
        "no results (yet, or none match)",
        |i| {
            let e = m.results.entries().get(i)?;
            Some({
                let when = if (m.now - e.finished).num_hours() < 24 {
                    e.finished.format("%H:%M:%S").to_string()
                } else {
                    e.finished.format("%m-%d").to_string()
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
                    ],
                    Default::default(),
                )
            })
        },
    );
}
