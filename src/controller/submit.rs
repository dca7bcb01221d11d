//! `adtop submit`: validate, refuse duplicates, declare, publish with confirms, report uuids.
//!
//! A batch (`--from FILE|-`) is read and published line by line, and every line's outcome is
//! reported as soon as it is known, so that whatever happens half way (a queue deleted, the
//! broker gone) leaves nothing half-known: each line is exactly one of
//!
//! | status | queued? | rerun? |
//! |---|---|---|
//! | `queued` | yes, confirmed by the broker; `uuid` says which | no |
//! | `duplicate` | an identical request already is (queued or running) | no |
//! | `invalid` | no: the line is not a valid request | after fixing it |
//! | `failed` | no: the broker refused it (queue missing, declare refused, nacked) | yes |
//! | `unknown` | maybe: sent, but the connection broke (or 30 s passed) before the broker confirmed it | yes: a rerun refuses it as a duplicate if it did arrive |
//! | `skipped` | no: not sent, the broker was unreachable by then | yes |
//!
//! [`Report`] prints them (text or JSON lines) and writes every line to rerun, verbatim after
//! a `#` comment with its line number and reason, to the `--failed-to` file: a valid batch file.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use super::dedup;
use crate::broker::{BrokerError, Session, publish, topology};
use crate::config::QueueConfig;
use crate::protocol::request::{MAX_BODY, SUBMIT_TIME_FORMAT};
use crate::protocol::{Params, QueueName, Request, sanitize};

/// One request to queue: where to, and what.
#[derive(Debug, Clone)]
pub struct Submission {
    pub queue: QueueName,
    pub request: Request,
    pub priority: Option<u8>,
}

/// One line of a batch, as read: its number (from 1), its text and what it parsed to.
#[derive(Debug)]
pub struct BatchLine {
    pub line: usize,
    pub text: String,
    pub parsed: Result<Submission>,
}

/// What happened to one line (the table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Duplicate,
    Invalid,
    Failed,
    Unknown,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Duplicate => "duplicate",
            Status::Invalid => "invalid",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
            Status::Skipped => "skipped",
        }
    }

    /// The line belongs in the rerun file: it is not queued, or may not be.
    pub fn rerun(self) -> bool {
        matches!(
            self,
            Status::Invalid | Status::Failed | Status::Unknown | Status::Skipped
        )
    }
}

/// What happened to one submission.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub line: usize,
    pub status: Status,
    pub package: String,
    pub queue: String,
    /// The request's uuid: set for `queued`, and for `unknown` (look for it in the queue).
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

/// Longest batch line read; the rest of a longer one is skipped and the line is invalid.
pub const MAX_LINE: usize = 2 * MAX_BODY;

/// Read one line of at most `cap` bytes (without its newline). `Ok(None)` at the end;
/// `too_long` when the line was longer and its rest was skipped.
fn read_line_capped(r: &mut dyn BufRead, cap: usize) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let mut out = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some((out, too_long)));
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (buf, None),
        };
        let room = cap.saturating_sub(out.len());
        if chunk.len() > room {
            too_long = true;
        }
        out.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some((out, too_long)));
        }
    }
}

/// Read a batch from `reader` and send its lines, parsed, as they are read (`source` names
/// it in messages). Blank lines and `#` comments are skipped. A read error ends the batch with
/// that error, after the lines before it.
pub fn read_batch(
    source: &str,
    reader: &mut dyn BufRead,
    tx: &tokio::sync::mpsc::Sender<Result<BatchLine>>,
) {
    let mut n = 0usize;
    loop {
        n += 1;
        let (raw, too_long) = match read_line_capped(reader, MAX_LINE) {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.blocking_send(Err(anyhow::Error::new(e).context(format!(
                    "{source}:{n}: cannot read; lines from {n} on were not read"
                ))));
                return;
            }
        };
        let text = String::from_utf8_lossy(&raw).into_owned();
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = if too_long {
            Err(anyhow::anyhow!("line longer than {MAX_LINE} bytes"))
        } else if let Err(e) = std::str::from_utf8(&raw) {
            Err(anyhow::anyhow!(
                "not valid UTF-8 (at byte {})",
                e.valid_up_to()
            ))
        } else {
            parse_batch_line(&text)
        };
        let line = BatchLine {
            line: n,
            parsed: parsed.with_context(|| format!("{source}:{n}")),
            text,
        };
        if tx.blocking_send(Ok(line)).is_err() {
            return;
        }
    }
}

/// Open `source` (a path, or `-` for standard input) and read it on a thread of its own, so
/// that lines are published while later ones are still being read.
pub fn spawn_reader(source: &str) -> Result<tokio::sync::mpsc::Receiver<Result<BatchLine>>> {
    let mut reader: Box<dyn BufRead + Send> = if source == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(source).with_context(|| format!("cannot open {source}"))?,
        ))
    };
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let source = source.to_string();
    std::thread::spawn(move || read_batch(&source, &mut reader, &tx));
    Ok(rx)
}

/// How a failed publish leaves the line: a refusal means it is not queued; anything else
/// (the connection or channel broke) means the broker may have it.
pub fn publish_failure(e: &BrokerError) -> Status {
    match e {
        BrokerError::Returned { .. } | BrokerError::Nacked { .. } => Status::Failed,
        _ => Status::Unknown,
    }
}

/// Settings of one submit run.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub broker_url: String,
    pub queue_cfg: QueueConfig,
    pub allow_duplicate: bool,
    /// Longest the running check waits for the workers' answers.
    pub dedup_wait: Duration,
    /// Counts the workers, so that the running check ends when all have answered.
    pub management: Option<crate::broker::management::Management>,
}

/// What the submitter knows about one target queue.
struct Target {
    /// Consumers when declared (0: warn that no worker serves it).
    consumers: u32,
    /// Identities queued (read once, then every one published here).
    queued: HashSet<String>,
    /// What the duplicate check could not see (a queue deeper than it reads), said on each line.
    unchecked: Option<String>,
}

/// The broker side of a run: the session, a confirm channel of our own, and what was learnt.
struct Publisher {
    opts: SubmitOptions,
    session: Option<Session>,
    confirm: Option<lapin::Channel>,
    targets: HashMap<String, std::result::Result<Target, String>>,
    running: Option<std::result::Result<HashSet<(String, String)>, String>>,
    /// Why the broker is unusable, once it is (every later line is `skipped`).
    gone: Option<String>,
    returns: publish::Returns,
}

/// Declare `queue` and read what it holds (unless duplicates are allowed).
async fn learn(
    session: &Session,
    queue: &str,
    opts: &SubmitOptions,
) -> std::result::Result<Target, String> {
    async {
        let ch = session.channel().await?;
        let declared = topology::declare_request_queue(&ch, queue, &opts.queue_cfg).await;
        let _ = ch.close(200, "declared".into()).await;
        let (_, consumers) = declared?;
        let seen = if opts.allow_duplicate {
            dedup::Queued::default()
        } else {
            dedup::queued(session, queue).await?
        };
        Ok::<_, BrokerError>(Target {
            consumers,
            queued: seen.identities,
            unchecked: seen.unchecked,
        })
    }
    .await
    .map_err(|e| e.to_string())
}

async fn ask_running(
    session: &Session,
    opts: &SubmitOptions,
) -> std::result::Result<HashSet<(String, String)>, String> {
    dedup::running(session, opts.dedup_wait, opts.management.as_ref())
        .await
        .map_err(|e| format!("cannot ask the workers what runs: {e}"))
}

impl Publisher {
    async fn connect(&mut self) -> std::result::Result<(), String> {
        if let Some(why) = &self.gone {
            return Err(why.clone());
        }
        // A confirm channel closed after a nack (see `publish_confirmed`) is reopened too.
        if self.session.as_ref().is_some_and(Session::alive)
            && self
                .confirm
                .as_ref()
                .is_some_and(|c| c.status().connected())
        {
            return Ok(());
        }
        // Lost (or never opened): one new attempt; failing it, the rest is skipped.
        if let Some(s) = self.session.take() {
            s.close().await;
        }
        self.confirm = None;
        let opened = async {
            let s = Session::open(&self.opts.broker_url, "adtop submit").await?;
            let ch = s.channel().await?;
            publish::enable_confirms(&ch).await?;
            Ok::<_, BrokerError>((s, ch))
        }
        .await;
        match opened {
            Ok((s, ch)) => {
                self.session = Some(s);
                self.confirm = Some(ch);
                Ok(())
            }
            Err(e) => {
                let why = format!("not sent: the broker is unreachable ({e})");
                self.gone = Some(why.clone());
                Err(why)
            }
        }
    }

    /// The first line's two looks, what runs and what `queue` holds, at once: each takes up to
    /// a second or more (the workers' answers, a deep queue's read), and neither needs the other.
    async fn look_both(&mut self, queue: &str) -> std::result::Result<(), String> {
        if self.running.is_some() || self.targets.contains_key(queue) {
            return Ok(());
        }
        let session = self.session.as_ref().ok_or("no broker session")?;
        let (running, learnt) = tokio::join!(
            ask_running(session, &self.opts),
            learn(session, queue, &self.opts)
        );
        self.keep_running(running)?;
        self.keep_target(queue, learnt)
    }

    /// Declare `queue` (once) and browse it for duplicates, on a channel of its own so that a
    /// refused declare closes only that channel.
    async fn target(&mut self, queue: &str) -> std::result::Result<&mut Target, String> {
        if !self.targets.contains_key(queue) {
            let session = self.session.as_ref().ok_or("no broker session")?;
            let learnt = learn(session, queue, &self.opts).await;
            self.keep_target(queue, learnt)?;
        }
        match self.targets.get_mut(queue) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not declared".into()),
        }
    }

    /// What the broker said of the queue holds for the run; a lost connection does not.
    fn keep_target(
        &mut self,
        queue: &str,
        learnt: std::result::Result<Target, String>,
    ) -> std::result::Result<(), String> {
        match learnt {
            Err(e) if !self.session.as_ref().is_some_and(Session::alive) => Err(e),
            learnt => {
                self.targets.insert(queue.to_string(), learnt);
                Ok(())
            }
        }
    }

    /// As [`Publisher::keep_target`], for the running check.
    fn keep_running(
        &mut self,
        r: std::result::Result<HashSet<(String, String)>, String>,
    ) -> std::result::Result<(), String> {
        match r {
            Ok(set) => self.running = Some(Ok(set)),
            Err(e) if self.session.as_ref().is_some_and(Session::alive) => {
                self.running = Some(Err(e))
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// (queue, identity) of the jobs running now, asked once per run.
    async fn running(&mut self) -> std::result::Result<&HashSet<(String, String)>, String> {
        if self.running.is_none() {
            let session = self.session.as_ref().ok_or("no broker session")?;
            let r = ask_running(session, &self.opts).await;
            self.keep_running(r)?;
        }
        match &self.running {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(e.clone()),
            None => Err("unknown".into()),
        }
    }

    /// Check one line and publish it, not waiting for the confirm ([`Step::Sent`]), or say at
    /// once why not ([`Step::Done`]).
    async fn send(&mut self, line: usize, s: Submission) -> Step {
        let queue = s.queue.to_string();
        let mut outcome = Outcome {
            line,
            status: Status::Failed,
            package: s.request.package.clone(),
            queue: queue.clone(),
            uuid: None,
            error: None,
            warning: None,
        };
        let fail = |o: Outcome, status: Status, why: String| Step::Done(failed(o, status, &why));
        if let Err(why) = self.connect().await {
            return fail(outcome, Status::Skipped, why);
        }
        let identity = s.request.identity();
        if !self.opts.allow_duplicate {
            if let Err(why) = self.look_both(&queue).await {
                return fail(outcome, Status::Failed, why);
            }
            let running = match self.running().await {
                Ok(r) => r.contains(&(queue.clone(), identity.clone())),
                Err(why) => return fail(outcome, Status::Failed, why),
            };
            let queued = match self.target(&queue).await {
                Ok(t) => t.queued.contains(&identity),
                Err(why) => return fail(outcome, Status::Failed, why),
            };
            if running || queued {
                let why = format!(
                    "an identical request is already {} on {queue}; use --allow-duplicate to queue it anyway",
                    if running { "running" } else { "queued" }
                );
                return fail(outcome, Status::Duplicate, why);
            }
        }
        let (consumers, unchecked) = match self.target(&queue).await {
            Ok(t) => (t.consumers, t.unchecked.clone()),
            Err(why) => return fail(outcome, Status::Failed, why),
        };
        let Some(ch) = self.confirm.clone() else {
            return fail(outcome, Status::Skipped, "no broker channel".into());
        };
        let mut props = publish::persistent();
        if let Some(p) = s.priority {
            props = props.with_priority(p);
        }
        outcome.uuid = s.request.params.uuid.clone();
        let warnings: Vec<String> = [
            (consumers == 0).then(|| format!("no worker serves {queue}")),
            unchecked,
        ]
        .into_iter()
        .flatten()
        .collect();
        outcome.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        let body = s.request.body().into_bytes();
        match publish::send(&ch, "", &queue, &body, props, true).await {
            Ok(pending) => {
                // Counted as queued from now on; taken back if the broker does not confirm it.
                if let Ok(t) = self.target(&queue).await {
                    t.queued.insert(identity.clone());
                }
                Step::Sent {
                    outcome: Box::new(outcome),
                    identity,
                    ch,
                    body,
                    pending: Pending::Waiting(pending),
                    deadline: tokio::time::Instant::now() + publish::CONFIRM_WAIT,
                }
            }
            Err(e) => Step::Done(self.refused(outcome, &identity, &e).await),
        }
    }

    /// The broker's answer to a publish of [`Step::Sent`]; `later` are the lines sent after
    /// it, whose answers already there are looked at for its return ([`publish::Returns`]).
    async fn settle(
        &mut self,
        step: Step,
        later: &mut std::collections::VecDeque<(Step, String)>,
    ) -> Outcome {
        let (mut outcome, identity, ch, body, pending, deadline) = match step {
            Step::Done(o) => return o,
            Step::Sent {
                outcome,
                identity,
                ch,
                body,
                pending,
                deadline,
            } => (*outcome, identity, ch, body, pending, deadline),
        };
        let answer = match pending {
            Pending::Waiting(c) => publish::answer_by(&ch, &outcome.queue, c, deadline).await,
            Pending::Answered(a) => *a,
        };
        let mut confirm = match answer {
            Ok(c) => c,
            Err(e) => return self.refused(outcome, &identity, &e).await,
        };
        self.returns.keep(&mut confirm);
        for (st, _) in later.iter_mut() {
            if let Step::Sent {
                pending, outcome, ..
            } = st
                && let Pending::Waiting(c) = pending
                && let Some(a) = futures::FutureExt::now_or_never(&mut *c)
            {
                let a = publish::confirm_of(&outcome.queue, a).map(|mut c| {
                    self.returns.keep(&mut c);
                    c
                });
                *pending = Pending::Answered(Box::new(a));
            }
        }
        let returned = self.returns.take(&outcome.queue, &body);
        match publish::judge(&ch, &outcome.queue, &confirm, returned) {
            Ok(()) => {
                outcome.status = Status::Queued;
                outcome
            }
            Err(e) => self.refused(outcome, &identity, &e).await,
        }
    }

    /// A publish that failed: the line's status, and the identity is no longer queued.
    async fn refused(&mut self, mut outcome: Outcome, identity: &str, e: &BrokerError) -> Outcome {
        let status = publish_failure(e);
        outcome.warning = None;
        if status == Status::Unknown {
            // The channel is suspect: the next line opens a new one.
            self.confirm = None;
        } else {
            outcome.uuid = None;
            if let Ok(t) = self.target(&outcome.queue.clone()).await {
                t.queued.remove(identity);
            }
        }
        let why = match e {
            BrokerError::Returned { .. } => {
                format!("{e} (the queue no longer exists; `adtop queues declare` creates it)")
            }
            _ => e.to_string(),
        };
        failed(outcome, status, &why)
    }

    async fn close(&mut self) {
        if let Some(s) = self.session.take() {
            s.close().await;
        }
    }
}

/// A line checked and sent: its outcome now, or once the broker confirms the publish.
enum Step {
    Done(Outcome),
    Sent {
        outcome: Box<Outcome>,
        identity: String,
        ch: lapin::Channel,
        /// What was published, to know its return by ([`publish::Returns`]).
        body: Vec<u8>,
        pending: Pending,
        /// Past this, the line is `unknown` (see [`publish::confirmed_by`]).
        deadline: tokio::time::Instant,
    },
}

/// A sent line's confirm: awaited yet, or already come while an earlier line was settled
/// (its returned message, if lapin handed it one, kept in [`publish::Returns`]).
enum Pending {
    Waiting(lapin::PublisherConfirm),
    Answered(Box<std::result::Result<lapin::Confirmation, BrokerError>>),
}

fn failed(mut o: Outcome, status: Status, why: &str) -> Outcome {
    o.status = status;
    o.error = Some(sanitize::line(why));
    o
}

/// Most publishes of a batch waiting for their confirm at once: the broker confirms them in
/// batches, so a batch goes in at the broker's rate, not one round trip per line.
pub const IN_FLIGHT: usize = 512;
/// Input quiet this long: the lines in flight are reported without waiting for more.
const INPUT_PAUSE: Duration = Duration::from_millis(20);

/// Queue every valid line of `lines` in order, handing each outcome to `report` as soon as it
/// is known, in line order. Never stops half way: a line that cannot be queued is reported with
/// its reason and the rest go on (`skipped` once the broker is unreachable). Returns the read
/// error that ended the batch early, if one did.
pub async fn submit_lines(
    opts: SubmitOptions,
    lines: &mut tokio::sync::mpsc::Receiver<Result<BatchLine>>,
    report: &mut Report,
) -> Result<()> {
    let mut p = Publisher {
        opts,
        session: None,
        confirm: None,
        targets: HashMap::new(),
        running: None,
        gone: None,
        returns: publish::Returns::default(),
    };
    let mut window: std::collections::VecDeque<(Step, String)> = Default::default();
    let mut ended = Ok(());
    loop {
        // Input that pauses (a person typing, a slow pipe): report what is in flight instead
        // of keeping it waiting for lines that may not come.
        let item = match tokio::time::timeout(INPUT_PAUSE, lines.recv()).await {
            Ok(item) => item,
            Err(_) => {
                flush(&mut p, &mut window, report, 0).await?;
                lines.recv().await
            }
        };
        let Some(item) = item else { break };
        let l = match item {
            Ok(l) => l,
            Err(e) => {
                ended = Err(e);
                break;
            }
        };
        let step = match l.parsed {
            Ok(s) => {
                // A duplicate of a line still in flight is decided once that one is answered.
                let identity = s.request.identity();
                if window
                    .iter()
                    .any(|(st, _)| matches!(st, Step::Sent { identity: i, .. } if *i == identity))
                {
                    flush(&mut p, &mut window, report, 0).await?;
                }
                p.send(l.line, s).await
            }
            Err(e) => Step::Done(Outcome {
                line: l.line,
                status: Status::Invalid,
                package: String::new(),
                queue: String::new(),
                uuid: None,
                error: Some(sanitize::line(&format!("{e:#}"))),
                warning: None,
            }),
        };
        window.push_back((step, l.text));
        flush(&mut p, &mut window, report, IN_FLIGHT).await?;
    }
    flush(&mut p, &mut window, report, 0).await?;
    p.close().await;
    ended
}

/// Report the oldest lines until at most `keep` wait for the broker; lines already answered
/// (or never sent) are reported whatever `keep` says, in order.
async fn flush(
    p: &mut Publisher,
    window: &mut std::collections::VecDeque<(Step, String)>,
    report: &mut Report,
    keep: usize,
) -> Result<()> {
    while let Some((front, _)) = window.front() {
        if window.len() <= keep && matches!(front, Step::Sent { .. }) {
            break;
        }
        let Some((step, text)) = window.pop_front() else {
            break;
        };
        let outcome = p.settle(step, window).await;
        report.outcome(&outcome, &text)?;
    }
    Ok(())
}

/// Prints outcomes as they come and keeps the rerun file; [`Report::finish`] gives the exit
/// code: 0 when every line was queued, 1 when any was not (the report says which).
pub struct Report {
    json: bool,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    rerun: Option<(String, Box<dyn Write + Send>)>,
    counts: Vec<(Status, usize)>,
    not_queued: Vec<usize>,
    warned: HashSet<String>,
    progress: indicatif::ProgressBar,
    /// A batch (`--from`): line numbers and a summary. One request: neither.
    batch: bool,
}

impl Report {
    /// `rerun`: the `--failed-to` file (its name, for messages, and where to write).
    pub fn new(
        json: bool,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        rerun: Option<(String, Box<dyn Write + Send>)>,
        progress: indicatif::ProgressBar,
    ) -> Self {
        Self {
            json,
            out,
            err,
            rerun,
            counts: Vec::new(),
            not_queued: Vec::new(),
            warned: HashSet::new(),
            progress,
            batch: true,
        }
    }

    /// For one request (no `--from`): no line numbers, no summary.
    pub fn single(mut self) -> Self {
        self.batch = false;
        self
    }

    /// One line's outcome: printed now (stdout: queued ones, or every one as JSON; stderr:
    /// the others), and the line written to the rerun file when it needs one.
    pub fn outcome(&mut self, o: &Outcome, text: &str) -> Result<()> {
        match self.counts.iter_mut().find(|(s, _)| *s == o.status) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((o.status, 1)),
        }
        if o.status != Status::Queued {
            self.not_queued.push(o.line);
        }
        self.progress.inc(1);
        let (out, err) = (&mut self.out, &mut self.err);
        let why = o.error.as_deref().unwrap_or("");
        let at = if self.batch {
            format!("line {}: ", o.line)
        } else {
            String::new()
        };
        self.progress.suspend(|| -> Result<()> {
            if self.json {
                writeln!(out, "{}", serde_json::to_string(o)?)?;
            } else if o.status == Status::Queued {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    o.uuid.as_deref().unwrap_or(""),
                    sanitize::line(&o.package),
                    sanitize::line(&o.queue)
                )?;
            } else {
                let uuid = o
                    .uuid
                    .as_deref()
                    .map(|u| format!(" (uuid {u})"))
                    .unwrap_or_default();
                writeln!(
                    err,
                    "adtop: {at}{} {}{uuid}: {why}",
                    o.status.as_str(),
                    sanitize::line(&o.package)
                )?;
            }
            out.flush()?;
            if let Some(w) = &o.warning
                && self.warned.insert(w.clone())
            {
                writeln!(err, "adtop: warning: {}", sanitize::line(w))?;
            }
            Ok(())
        })?;
        if o.status.rerun()
            && let Some((name, f)) = &mut self.rerun
        {
            let uuid = o
                .uuid
                .as_deref()
                .map(|u| format!(" uuid {u}"))
                .unwrap_or_default();
            writeln!(
                f,
                "# line {}: {}{uuid}: {}",
                o.line,
                o.status.as_str(),
                sanitize::line(why)
            )
            .and_then(|_| writeln!(f, "{text}"))
            .and_then(|_| f.flush())
            .with_context(|| format!("cannot write the rerun file {name}"))?;
        }
        Ok(())
    }

    /// The summary on stderr (when any line was not queued, or the batch ended early), and
    /// the exit code.
    pub fn finish(mut self, ended: Result<()>) -> Result<u8> {
        self.progress.finish_and_clear();
        let total: usize = self.counts.iter().map(|(_, n)| n).sum();
        let count = |s: Status| {
            self.counts
                .iter()
                .find(|(c, _)| *c == s)
                .map_or(0, |(_, n)| *n)
        };
        let queued = count(Status::Queued);
        if let Err(e) = &ended {
            writeln!(
                self.err,
                "adtop: error: {}",
                sanitize::line(&format!("{e:#}"))
            )?;
        }
        if queued == total && ended.is_ok() {
            return Ok(0);
        }
        if !self.batch {
            return Ok(1);
        }
        let others: Vec<String> = self
            .counts
            .iter()
            .filter(|(s, _)| *s != Status::Queued)
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        writeln!(
            self.err,
            "adtop: {queued} of {total} requests queued; not queued: {} (lines {})",
            if others.is_empty() {
                "none".to_string()
            } else {
                others.join(", ")
            },
            ranges(&self.not_queued)
        )?;
        if let Some((name, _)) = &self.rerun {
            let n = self
                .counts
                .iter()
                .filter(|(s, _)| s.rerun())
                .map(|(_, n)| n)
                .sum::<usize>();
            if n > 0 {
                writeln!(
                    self.err,
                    "adtop: the {n} lines to rerun are in {name}: adtop submit --from {name}"
                )?;
            }
        } else if count(Status::Unknown) > 0 {
            writeln!(
                self.err,
                "adtop: `unknown` lines may be queued: look for their uuid (adtop queues, the console's requests view) or rerun them, which refuses the ones that are queued as duplicates"
            )?;
        }
        Ok(1)
    }
}

/// `1-3, 7, 9-10` for sorted line numbers.
pub fn ranges(lines: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut it = lines.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn outcome(line: usize, status: Status, uuid: Option<&str>, error: Option<&str>) -> Outcome {
        Outcome {
            line,
            status,
            package: "hello".into(),
            queue: "debci-noble-amd64".into(),
            uuid: uuid.map(str::to_string),
            error: error.map(str::to_string),
            warning: None,
        }
    }

    #[test]
    fn report_names_every_line_and_writes_a_rerunnable_file() {
        let (out, err, rerun) = (Buf::default(), Buf::default(), Buf::default());
        let mut r = Report::new(
            false,
            Box::new(out.clone()),
            Box::new(err.clone()),
            Some(("again.jsonl".into(), Box::new(rerun.clone()))),
            indicatif::ProgressBar::hidden(),
        );
        let lines = [
            (outcome(1, Status::Queued, Some("u1"), None), "{\"l\":1}"),
            (outcome(2, Status::Queued, Some("u2"), None), "{\"l\":2}"),
            (
                outcome(3, Status::Failed, None, Some("returned")),
                "{\"l\":3}",
            ),
            (
                outcome(4, Status::Duplicate, None, Some("dup")),
                "{\"l\":4}",
            ),
            (
                outcome(5, Status::Unknown, Some("u5"), Some("lost")),
                "{\"l\":5}",
            ),
            (outcome(7, Status::Skipped, None, Some("gone")), "{\"l\":7}"),
        ];
        for (o, text) in &lines {
            r.outcome(o, text).unwrap();
        }
        assert_eq!(r.finish(Ok(())).unwrap(), 1);
        assert_eq!(
            out.text(),
            "u1\thello\tdebci-noble-amd64\nu2\thello\tdebci-noble-amd64\n"
        );
        let err = err.text();
        assert!(err.contains("line 3: failed hello: returned"), "{err}");
        assert!(
            err.contains("line 5: unknown hello (uuid u5): lost"),
            "{err}"
        );
        assert!(
            err.contains("2 of 6 requests queued; not queued: 1 failed, 1 duplicate, 1 unknown, 1 skipped (lines 3-5, 7)"),
            "{err}"
        );
        assert!(err.contains("3 lines to rerun are in again.jsonl"), "{err}");
        // The rerun file is a batch file: comments, then the lines verbatim; no duplicate.
        assert_eq!(
            rerun.text(),
            "# line 3: failed: returned\n{\"l\":3}\n\
             # line 5: unknown uuid u5: lost\n{\"l\":5}\n\
             # line 7: skipped: gone\n{\"l\":7}\n"
        );
    }

    #[test]
    fn all_queued_is_exit_0_and_json_has_one_object_per_line() {
        let (out, err) = (Buf::default(), Buf::default());
        let mut r = Report::new(
            true,
            Box::new(out.clone()),
            Box::new(err.clone()),
            None,
            indicatif::ProgressBar::hidden(),
        );
        r.outcome(&outcome(1, Status::Queued, Some("u1"), None), "x")
            .unwrap();
        assert_eq!(r.finish(Ok(())).unwrap(), 0);
        let v: Value = serde_json::from_str(out.text().trim()).unwrap();
        assert_eq!(v["status"], "queued");
        assert_eq!(v["uuid"], "u1");
        assert_eq!(err.text(), "");
        // A batch cut short by a read error is a partial failure even if every line read was queued.
        let mut r = Report::new(
            true,
            Box::new(Buf::default()),
            Box::new(err.clone()),
            None,
            indicatif::ProgressBar::hidden(),
        );
        r.outcome(&outcome(1, Status::Queued, Some("u1"), None), "x")
            .unwrap();
        assert_eq!(
            r.finish(Err(anyhow::anyhow!("f:2: cannot read"))).unwrap(),
            1
        );
        assert!(err.text().contains("f:2: cannot read"));
    }

    #[test]
    fn one_request_is_reported_without_line_or_summary() {
        let err = Buf::default();
        let mut r = Report::new(
            false,
            Box::new(Buf::default()),
            Box::new(err.clone()),
            None,
            indicatif::ProgressBar::hidden(),
        )
        .single();
        r.outcome(&outcome(1, Status::Duplicate, None, Some("dup")), "")
            .unwrap();
        assert_eq!(r.finish(Ok(())).unwrap(), 1);
        assert_eq!(err.text(), "adtop: duplicate hello: dup\n");
    }

    #[test]
    fn publish_refusals_are_failed_and_broken_links_unknown() {
        let returned = BrokerError::Returned {
            key: "q".into(),
            reply: "NO_ROUTE".into(),
        };
        assert_eq!(publish_failure(&returned), Status::Failed);
        assert_eq!(
            publish_failure(&BrokerError::Nacked { key: "q".into() }),
            Status::Failed
        );
        let broken = BrokerError::Amqp {
            what: "confirm".into(),
            source: lapin::Error::from(lapin::ErrorKind::ChannelsLimitReached),
        };
        assert_eq!(publish_failure(&broken), Status::Unknown);
    }

    #[test]
    fn lines_are_read_capped_numbered_and_comments_skipped() {
        let long = "x".repeat(MAX_LINE + 10);
        let mut input = format!(
            "{{\"package\": \"hello\", \"release\": \"noble\", \"arch\": \"amd64\"}}\n\n# c\n{long}\nnot json\n"
        )
        .into_bytes();
        input.push(0xff);
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut reader = std::io::Cursor::new(input);
        std::thread::scope(|s| {
            s.spawn(|| read_batch("b", &mut reader, &tx));
        });
        drop(tx);
        let mut got = Vec::new();
        while let Ok(l) = rx.try_recv() {
            got.push(l.unwrap());
        }
        let nums: Vec<usize> = got.iter().map(|l| l.line).collect();
        assert_eq!(nums, [1, 4, 5, 6]);
        assert!(got[0].parsed.is_ok());
        let err = |i: usize| format!("{:#}", got[i].parsed.as_ref().unwrap_err());
        assert!(
            err(1).contains("b:4") && err(1).contains("longer than"),
            "{}",
            err(1)
        );
        assert_eq!(got[1].text.len(), MAX_LINE);
        assert!(err(2).contains("not valid JSON"));
        assert!(err(3).contains("UTF-8"));
        assert_eq!(ranges(&[1, 2, 3, 5, 8, 9]), "1-3, 5, 8-9");
        assert_eq!(ranges(&[]), "");
    }
}
