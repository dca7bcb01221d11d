//! The detail view (`d`): everything the console knows about one row, as labelled fields.
//!
//! Built from the model on every draw, so a running job's silence and retry wait stay live; a
//! row that has gone (the job finished, the request was taken) keeps the fields it had when
//! it was opened. Values here are raw: the view makes each line inert before drawing it. PPA
//! credentials (`user:token@lpuser/ppa`) are blanked here, before anything else sees them.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::app::App;
use super::view::View;
use crate::ops::rules;
use crate::protocol::request::parse_submit_time;
use crate::protocol::sanitize;

/// Request bodies and parameters shown up to this size (the rest is cut, with a note).
pub const BODY_SHOWN_MAX: usize = 64 * 1024;

/// One labelled value; a value may have several lines (JSON, lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

fn field(label: &'static str, value: impl Into<String>) -> Field {
    Field {
        label,
        value: value.into(),
    }
}

/// The open detail view: which row (by its key, so it follows the item), and the fields it had.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub view: View,
    pub key: String,
    pub title: String,
    pub uuid: Option<String>,
    pub fields: Vec<Field>,
    pub scroll: usize,
    /// The largest useful scroll at the last draw (it depends on the height).
    pub max_scroll: Cell<usize>,
}

impl Detail {
    /// The detail of row `i` of `view`, if that view has rows with details.
    pub fn open(app: &App, view: View, i: usize) -> Option<Self> {
        let key = app.row_key(view, i)?;
        let (title, uuid, fields) = build(app, view, i)?;
        Some(Self {
            view,
            key,
            title,
            uuid,
            fields,
            scroll: 0,
            max_scroll: Cell::new(usize::MAX),
        })
    }

    /// The fields now, or those it had when opened if the row has gone (and whether it has).
    pub fn current(&self, app: &App) -> (Vec<Field>, bool) {
        let len = match self.view {
            View::Queues => app.model.queues.len(),
            View::Requests => app.model.requests.as_ref().map_or(0, |p| p.rows.len()),
            View::Workers => app.model.workers.len(),
            View::Running => app.model.running.len(),
            View::Results => app.model.results.len(),
            View::Audit => app.model.audit.len(),
            View::Rejected => app.model.rejected.as_ref().map_or(0, |p| p.rows.len()),
            View::Log => 0,
        };
        (0..len)
            .find(|&i| app.row_key(self.view, i).as_deref() == Some(self.key.as_str()))
            .and_then(|i| build(app, self.view, i))
            .map_or_else(|| (self.fields.clone(), true), |(_, _, f)| (f, false))
    }
}

/// `2026-03-12 14:30:00Z (3m05s ago)`.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let rel = if secs >= 0 {
        format!("{} ago", super::views::age(secs))
    } else {
        format!("in {}", super::views::age(-secs))
    };
    format!("{} ({rel})", t.format("%Y-%m-%d %H:%M:%SZ"))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join("\n")
    }
}

/// PPA credentials blanked, as `Params::redacted` does for parsed requests.
fn redact_ppa(ppa: &str) -> String {
    match ppa.rsplit_once('@') {
        Some((_, rest)) => format!("***@{rest}"),
        None => ppa.to_string(),
    }
}

fn redact(v: &mut Value) {
    if let Some(Value::Array(ppas)) = v.get_mut("ppas") {
        for p in ppas.iter_mut() {
            if let Value::String(s) = p {
                *s = redact_ppa(s);
            }
        }
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The request's parameters as fields: the pretty JSON (credentials blanked), env, ppas, and
/// when it was queued.
fn params_fields(params: &Value, now: DateTime<Utc>, out: &mut Vec<Field>) {
    let mut v = params.clone();
    redact(&mut v);
    if let Some(t) = v
        .get("submit-time")
        .and_then(Value::as_str)
        .and_then(parse_submit_time)
    {
        out.push(field("queued", when(t, now)));
    }
    out.push(field("env", list(&strings(&v, "env"))));
    out.push(field("ppas", list(&strings(&v, "ppas"))));
    let pretty = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
    out.push(field("request", sanitize::cap(&pretty, BODY_SHOWN_MAX)));
}

/// A queued body: `<pkg>\n<JSON>` parsed (shown pretty), anything else shown as it is.
fn body_fields(body: &str, now: DateTime<Utc>, out: &mut Vec<Field>) {
    let parsed = body.split_once('\n').and_then(|(_, json)| {
        serde_json::from_str::<Value>(json.trim())
            .ok()
            .filter(Value::is_object)
    });
    match parsed {
        Some(v) => params_fields(&v, now, out),
        None => {
            // A bare name, a debci line, or something malformed: as it is, credentials aside.
            let shown = if body.contains('@') && body.contains("ppa") {
                "(not shown: it may hold PPA credentials)".to_string()
            } else {
                sanitize::cap(body, BODY_SHOWN_MAX)
            };
            out.push(field("request", shown));
        }
    }
}

type Built = (String, Option<String>, Vec<Field>);

fn build(app: &App, view: View, i: usize) -> Option<Built> {
    let m = &app.model;
    let now = m.now;
    let mut f = Vec::new();
    match view {
        View::Queues => {
            let q = m.queues.get(i)?;
            f.push(field("queue", q.name.clone()));
            f.push(field("ready", q.ready.to_string()));
            f.push(field("unacked", q.unacked.to_string()));
            f.push(field("consumers", q.consumers.to_string()));
            f.push(field(
                "rates",
                format!("in {:.1}/s, out {:.1}/s", q.publish_rate, q.deliver_rate),
            ));
            if let Some(p) = q.max_priority {
                f.push(field("max priority", p.to_string()));
            }
            if q.starved() {
                f.push(field(
                    "alert",
                    "messages wait and no worker consumes this queue",
                ));
            }
            Some((format!("queue {}", q.name), None, f))
        }
        View::Requests => {
            let p = m.requests.as_ref()?;
            let r = p.rows.get(i)?;
            f.push(field("uuid", r.uuid.clone().unwrap_or_else(|| "-".into())));
            f.push(field("package", r.package.clone()));
            f.push(field("queue", p.queue.clone()));
            f.push(field("triggers", list(&r.triggers)));
            f.push(field("requester", r.requester.clone()));
            if let Some(t) = r.submit_time {
                f.push(field("submitted", when(t, now)));
            }
            if let Some(pr) = r.priority {
                f.push(field("priority", pr.to_string()));
            }
            body_fields(&r.body, now, &mut f);
            Some((format!("request {}", r.package), r.uuid.clone(), f))
        }
        View::Workers => {
            let w = m.workers.get(i)?;
            let h = &w.heartbeat;
            f.push(field("worker", h.id.clone()));
            f.push(field("host", format!("{} (pid {})", h.host, h.pid)));
            f.push(field(
                "health",
                format!(
                    "{}, last heartbeat {}",
                    m.health(w).label(),
                    when(w.received, now)
                ),
            ));
            f.push(field("state", rules::worker_state(h)));
            if let Some(why) = &h.testbed_broken {
                f.push(field("testbed", why.clone()));
            }
            f.push(field("arch", h.arch.clone()));
            f.push(field("releases", h.releases.join(" ")));
            f.push(field("contexts", list(&h.contexts)));
            f.push(field("queues", list(&h.queues)));
            f.push(field(
                "counters",
                format!(
                    "done {}, failed {}, tmpfailed {}, rejected {}",
                    h.done, h.failed, h.tmpfailed, h.rejected
                ),
            ));
            f.push(field("version", h.version.clone()));
            f.push(field("interval", format!("{}s", h.interval)));
            let uuid = h.job.as_ref().map(|j| j.uuid.clone());
            if let Some(j) = &h.job {
                f.push(field("job uuid", j.uuid.clone()));
                f.push(field(
                    "job",
                    format!("{} {}/{} from {}", j.package, j.release, j.arch, j.queue),
                ));
                f.push(field("job triggers", list(&j.triggers)));
                f.push(field("attempt", j.attempt.to_string()));
                if let Some(r) = &j.retry {
                    let r = rules::retry_observed(r, h.sent, w.received);
                    f.push(field("waiting", rules::retry_label(&r, now)));
                }
                f.push(field(
                    "started",
                    when(rules::observed(j.started, h.sent, w.received), now),
                ));
            }
            Some((format!("worker {}", h.id), uuid, f))
        }
        View::Running => {
            let j = m.running.get(i)?;
            f.push(field("uuid", j.uuid.clone()));
            f.push(field("package", j.package.clone()));
            f.push(field("release/arch", format!("{}/{}", j.release, j.arch)));
            f.push(field(
                "queue",
                j.queue.clone().unwrap_or_else(|| "?".into()),
            ));
            f.push(field(
                "worker",
                j.worker.clone().unwrap_or_else(|| "?".into()),
            ));
            f.push(field("triggers", list(&j.triggers)));
            f.push(field("requester", j.requester.clone()));
            let attempts = match (&j.retry, j.attempt) {
                (Some(r), _) => rules::retry_label(r, now),
                (None, Some(a)) => format!("{a}, running"),
                (None, None) => "?".into(),
            };
            f.push(field("attempt", attempts));
            f.push(field("started", when(j.started, now)));
            let limit = j.timeout.map_or("?".into(), |t| format!("{t}s"));
            f.push(field(
                "elapsed",
                format!("{}s of {limit}", j.elapsed_secs(now)),
            ));
            f.push(field(
                "silent",
                j.silence_secs(now).map_or("?".into(), |s| format!("{s}s")),
            ));
            if let Some(h) = m.hung(j) {
                f.push(field("alert", h.label()));
            }
            match &j.params {
                Some(p) => params_fields(p, now, &mut f),
                None => f.push(field(
                    "request",
                    "(not known yet: it comes with the job's first status message)",
                )),
            }
            Some((format!("running {}", j.package), Some(j.uuid.clone()), f))
        }
        View::Results => {
            let e = m.results.entries().get(i)?;
            f.push(field("uuid", e.uuid.clone()));
            f.push(field("package", e.package.clone()));
            f.push(field("version", e.testpkg_version.clone()));
            f.push(field("release/arch", format!("{}/{}", e.release, e.arch)));
            f.push(field("queue", e.queue.clone()));
            f.push(field(
                "result",
                format!("{} (exit code {})", e.class.label(), e.exitcode),
            ));
            f.push(field("worker", e.worker.clone()));
            f.push(field("triggers", list(&e.triggers)));
            f.push(field("requester", e.requester.clone()));
            f.push(field("container", e.container.clone()));
            f.push(field("swift_dir", e.swift_dir.clone()));
            f.push(field(
                "store path",
                format!("{}/{}", e.container, e.swift_dir),
            ));
            let started = rules::before(e.finished, e.duration);
            f.push(field("started", when(started, now)));
            f.push(field("finished", when(e.finished, now)));
            f.push(field("duration", format!("{}s", e.duration)));
            if e.private {
                f.push(field(
                    "private",
                    "yes: its log is readable only by its swiftuser",
                ));
            }
            body_fields(&e.body, now, &mut f);
            Some((format!("result {}", e.package), Some(e.uuid.clone()), f))
        }
        View::Audit => {
            let a = m.audit.get(i)?;
            f.push(field("id", a.id.clone()));
            f.push(field("at", when(a.at, now)));
            f.push(field("operator", format!("{} on {}", a.operator, a.host)));
            f.push(field("action", a.action.clone()));
            f.push(field("target", a.target.clone()));
            f.push(field(
                "outcome",
                format!("{}: {}", if a.ok { "done" } else { "failed" }, a.outcome),
            ));
            Some((format!("audit {}", a.action), None, f))
        }
        View::Rejected => {
            let r = m.rejected.as_ref()?.rows.get(i)?;
            f.push(field("id", r.id.clone()));
            f.push(field("package", r.package.clone()));
            f.push(field("source queue", r.source_queue.clone()));
            f.push(field("worker", r.worker.clone()));
            f.push(field(
                "rejected",
                r.rejected_at.map_or_else(|| "?".into(), |t| when(t, now)),
            ));
            f.push(field("reason code", r.reason_code.clone()));
            f.push(field("reason", r.reason.clone()));
            body_fields(&r.body, now, &mut f);
            Some((format!("rejected {}", r.package), None, f))
        }
        View::Log => None,
    }
}
