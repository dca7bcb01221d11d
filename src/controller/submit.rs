//! `adtop submit`: validate, refuse duplicates, declare, publish with confirms, report uuids.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use super::dedup;
use crate::broker::{Session, publish, topology};
use crate::config::QueueConfig;
use crate::protocol::request::SUBMIT_TIME_FORMAT;
use crate::protocol::{Params, QueueName, Request, sanitize};

/// One request to queue: where to, and what.
#[derive(Debug, Clone)]
pub struct Submission {
    pub queue: QueueName,
    pub request: Request,
    pub priority: Option<u8>,
}

/// What happened to one submission.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub line: usize,
    pub status: &'static str,
    pub package: String,
    pub queue: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Fill in what the controller adds: uuid and submit-time.
pub fn stamp(mut params: Params) -> Params {
    if params.uuid.is_none() {
        params.uuid = Some(uuid::Uuid::new_v4().to_string());
    }
    if params.submit_time.is_none() {
        params.submit_time = Some(chrono::Utc::now().format(SUBMIT_TIME_FORMAT).to_string());
    }
    params
}

/// Parse one line of a batch file.
pub fn parse_batch_line(line: &str) -> Result<Submission> {
    let value: Value = serde_json::from_str(line).context("not valid JSON")?;
    let Value::Object(mut map) = value else {
        bail!("expected a JSON object")
    };
    let mut take = |k: &str| -> Result<Option<String>> {
        match map.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => bail!("{k:?} must be a string"),
        }
    };
    let package = take("package")?.context("missing \"package\"")?;
    let release = take("release")?.context("missing \"release\"")?;
    let arch = take("arch")?.context("missing \"arch\"")?;
    let context = take("context")?;
    let priority = match map.remove("priority") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .context("\"priority\" must be 0-255")?,
        ),
    };
    let queue = QueueName::new(&release, &arch, context.as_deref())?;
    let body = format!("{package}\n{}", Value::Object(Map::from_iter(map)));
    let parsed = Request::parse(body.as_bytes())?;
    let request = Request::new(&parsed.package, stamp(parsed.params))?;
    Ok(Submission {
        queue,
        request,
        priority,
    })
}

/// Read a batch from a file or `-`.
pub fn read_batch(source: &str) -> Result<Vec<(usize, Result<Submission>)>> {
    let reader: Box<dyn BufRead> = if source == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(source).with_context(|| format!("cannot open {source}"))?,
        ))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{source}:{}: cannot read", i + 1))?;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        out.push((
            i + 1,
            parse_batch_line(&line).with_context(|| format!("{source}:{}", i + 1)),
        ));
    }
    Ok(out)
}

/// Queue every valid submission. Invalid ones are reported, never published.
pub async fn submit_all(
    session: &Session,
    items: Vec<(usize, Result<Submission>)>,
    queue_cfg: &QueueConfig,
    allow_duplicate: bool,
    dedup_wait: Duration,
    progress: &indicatif::ProgressBar,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let mut valid = Vec::new();
    for (line, item) in items {
        match item {
            Ok(s) => valid.push((line, s)),
            Err(e) => {
                progress.inc(1);
                outcomes.push(Outcome {
                    line,
                    status: "invalid",
                    package: String::new(),
                    queue: String::new(),
                    uuid: None,
                    error: Some(sanitize::line(&format!("{e:#}"))),
                    warning: None,
                });
            }
        }
    }
    // Declare each target queue once, learning its consumers; browse it for duplicates.
    let mut consumers: HashMap<String, u32> = HashMap::new();
    let mut queued: HashMap<String, HashSet<String>> = HashMap::new();
    for (_, s) in &valid {
        let name = s.queue.to_string();
        if consumers.contains_key(&name) {
            continue;
        }
        let (_, c) = topology::declare_request_queue(&session.confirm, &name, queue_cfg).await?;
        consumers.insert(name.clone(), c);
        if !allow_duplicate {
            queued.insert(name.clone(), dedup::queued(session, &name).await?);
        }
    }
    let running = if allow_duplicate || valid.is_empty() {
        HashSet::new()
    } else {
        dedup::running(session, dedup_wait).await?
    };

    for (line, s) in valid {
        progress.inc(1);
        let name = s.queue.to_string();
        let identity = s.request.identity();
        let uuid = s.request.params.uuid.clone();
        let mut outcome = Outcome {
            line,
            status: "queued",
            package: s.request.package.clone(),
            queue: name.clone(),
            uuid: uuid.clone(),
            error: None,
            warning: None,
        };
        if !allow_duplicate {
            let dup_queued = queued.get(&name).is_some_and(|q| q.contains(&identity));
            let dup_running = running.contains(&(name.clone(), identity.clone()));
            if dup_queued || dup_running {
                outcome.status = "duplicate";
                outcome.uuid = None;
                outcome.error = Some(format!(
                    "an identical request is already {} on {name}; use --allow-duplicate to queue it anyway",
                    if dup_running { "running" } else { "queued" }
                ));
                outcomes.push(outcome);
                continue;
            }
        }
        let mut props = publish::persistent();
        if let Some(p) = s.priority {
            props = props.with_priority(p);
        }
        publish::publish_confirmed(
            &session.confirm,
            "",
            &name,
            s.request.body().as_bytes(),
            props,
            true,
        )
        .await?;
        queued.entry(name.clone()).or_default().insert(identity);
        if consumers.get(&name) == Some(&0) {
            outcome.warning = Some(format!("no worker serves {name}"));
        }
        outcomes.push(outcome);
    }
    outcomes.sort_by_key(|o| o.line);
    Ok(outcomes)
}
