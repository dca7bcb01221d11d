//! `adtop`: parse arguments, load configuration, hand over to the part asked for.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adtop::broker::{self, Session};
use adtop::cli::{
    Cli, Command, ConsoleArgs, DeclareArgs, Dialect, Global, QueuesAction, ReadOnlyBy,
    RejectedAction, ResultsDbArgs, SubmitArgs, TestbedAction, WorkerArgs,
};
use adtop::config::{self, Config};
use adtop::controller::submit;
use adtop::ops::{self, script};
use adtop::protocol::messages::{AfterStop, ControlAction};
use adtop::protocol::{Params, QueueName, Request, sanitize};
use adtop::store::{Spool, Store};
use adtop::worker::{self, WorkerOptions, policy::Policy, runner::RunnerConfig};
use anyhow::{Context, Result, bail};

/// Settings every part shares, with the layers resolved.
struct Resolved {
    config: Config,
    broker: String,
    management: String,
    store_url: String,
    /// Set when this invocation may not act, and what set it.
    read_only: Option<ReadOnlyBy>,
    silent_threshold: u64,
}

fn resolve(g: &Global, read_only_by: Option<ReadOnlyBy>) -> Result<Resolved> {
    let config = Config::load(g.config.as_deref())?;
    let read_only = read_only_by.or(config.console.read_only.then_some(ReadOnlyBy::Config));
    let silent_threshold = g
        .silent_threshold
        .unwrap_or(config.console.silent_threshold);
    let broker = if !g.broker.is_empty() {
        broker::nodes::join(&g.broker)
    } else if !config.brokers.is_empty() {
        if config.broker.is_some() {
            anyhow::bail!(
                "the configuration sets both broker and brokers; keep one (brokers = [..] lists a cluster's nodes)"
            );
        }
        broker::nodes::join(&config.brokers)
    } else {
        config
            .broker
            .clone()
            .unwrap_or_else(|| config::DEFAULT_BROKER.into())
    };
    broker::nodes::check(&broker)?;
    adtop::worker::hold::configure(&config.queues);
    let management = g
        .management
        .clone()
        .or(config.management.clone())
        .unwrap_or_else(|| config::DEFAULT_MANAGEMENT.into());
    let store_url = g
        .store
        .clone()
        .or(config.store.clone())
        .unwrap_or_else(|| format!("file://{}", config::data_dir().join("results").display()));
    Ok(Resolved {
        config,
        broker,
        management,
        store_url,
        read_only,
        silent_threshold,
    })
}

fn open_store(r: &Resolved) -> Result<Store> {
    let mut swift = r.config.swift.clone();
    if let Ok(k) = std::env::var("ADTOP_SWIFT_KEY") {
        swift.key = Some(k);
    }
    if let Ok(u) = std::env::var("ADTOP_SWIFT_USER") {
        swift.user = Some(u);
    }
    Ok(Store::open(&r.store_url, &swift)?)
}

/// Logs go to stderr, coloured only when it is a terminal; while the console runs they go to
/// a log file instead, so that nothing but its renderer writes to the screen.
fn init_tracing(verbose: u8, default: &str, console: bool) {
    use std::io::IsTerminal;
    let level = match verbose {
        0 => default,
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // lapin warns with whole message dumps (a returned control message, a closed
        // channel); adtop says what those mean itself.
        tracing_subscriber::EnvFilter::new(format!("adtop={level},lapin=error,warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if console {
        let writer: Box<dyn std::io::Write + Send> = match console_log_file() {
            Some(f) => Box::new(f),
            None => Box::new(std::io::sink()),
        };
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(writer))
            .init();
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// `$XDG_STATE_HOME/adtop/console.log` (or under the temporary directory), the previous one
/// kept as `console.log.1` once it passes 10 MiB.
fn console_log_file() -> Option<std::fs::File> {
    let dir = dirs::state_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("adtop");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("console.log");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 10 << 20) {
        let _ = std::fs::rename(&path, dir.join("console.log.1"));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let read_only_by = ReadOnlyBy::from_matches(&matches);
    // Services log what they do; the interactive commands only warn.
    let default_level = if matches!(
        cli.command,
        Some(Command::Worker(_) | Command::ResultsDb(_) | Command::Relay)
    ) {
        "info"
    } else {
        "warn"
    };
    let console = matches!(cli.command, None | Some(Command::Console(_)));
    init_tracing(cli.global.verbose, default_level, console);
    match run(cli, read_only_by).await {
        Ok(code) => ExitCode::from(code),
        // `adtop results | head -3`: the reader has what it wanted.
        Err(e) if script::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adtop: error: {}", sanitize::inert(&format!("{e:#}"), true));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli, read_only_by: Option<ReadOnlyBy>) -> Result<u8> {
    let r = resolve(&cli.global, read_only_by)?;
    if let (Some(by), Some(what)) = (
        r.read_only,
        cli.command.as_ref().and_then(Command::action_name),
    ) {
        bail!(
            "read-only (set by {by}): `adtop {what}` is an operator action and was refused; nothing was done. To act, {}",
            by.undo()
        );
    }
    match cli.command {
        None => console_cmd(&r, cli.console).await,
        Some(Command::Console(args)) => console_cmd(&r, args).await,
        Some(Command::Queues {
            action: Some(QueuesAction::Declare(a)),
            ..
        }) => declare_cmd(&r, a).await,
        Some(Command::Queues { json, action: None }) => {
            script::queues(&ops_context(&r, None)?, json).await
        }
        Some(Command::Workers { json }) => script::workers(&ops_context(&r, None)?, json).await,
        Some(Command::Running { json }) => {
            script::running(&ops_context(&r, None)?, json, r.silent_threshold).await
        }
        Some(Command::Results {
            json,
            failures,
            tmpfails,
            release,
            arch,
            package,
            matching,
            since,
            page,
            limit,
            days,
        }) => {
            let history = match &package {
                Some(p) => Some(ops::history::Query {
                    pattern: p.clone(),
                    how: matching,
                    since: since
                        .as_deref()
                        .map(|s| ops::since::parse_since(s, chrono::Utc::now()))
                        .transpose()?,
                    page: usize::try_from(page).unwrap_or(usize::MAX),
                }),
                None => None,
            };
            let class = if failures {
                ops::rules::ClassFilter::Failures
            } else if tmpfails {
                ops::rules::ClassFilter::Tmpfails
            } else {
                ops::rules::ClassFilter::All
            };
            let filter = ops::rules::ResultFilter {
                class,
                release,
                arch,
                package,
            };
            script::results(
                &ops_context(&r, None)?,
                json,
                &filter,
                days,
                limit,
                history.as_ref(),
            )
            .await
        }
        Some(Command::Logs {
            uuid,
            follow,
            max_mib,
        }) => script::logs(&ops_context(&r, None)?, &uuid, follow, max_mib << 20).await,
        Some(Command::Rejected { json, action }) => {
            use adtop::ops::script_rejected as rej;
            let ctx = ops_context(&r, None)?;
            match action {
                None => rej::list(&ctx, json).await,
                Some(RejectedAction::Show { id, json: j }) => rej::show(&ctx, &id, json || j).await,
                Some(RejectedAction::Resubmit { id, file }) => {
                    rej::resubmit(&ctx, &id, file.as_deref()).await
                }
                Some(RejectedAction::Discard { id }) => rej::discard(&ctx, &id).await,
            }
        }
        Some(Command::Audit { since, json }) => {
            ops::script_audit::audit(&ops_context(&r, None)?, &since, json).await
        }
        Some(Command::Retry { uuid }) => script::retry(&ops_context(&r, None)?, &uuid).await,
        Some(Command::Cancel { queue, uuid }) => {
            script::cancel(&ops_context(&r, None)?, &queue, &uuid).await
        }
        Some(Command::Stop { uuid, cancel }) => {
            let then = if cancel {
                AfterStop::Cancel
            } else {
                AfterStop::Requeue
            };
            script::stop(&ops_context(&r, None)?, &uuid, then).await
        }
        Some(Command::Drain { worker }) => {
            script::drain_or_resume(&ops_context(&r, None)?, &worker, ControlAction::Drain).await
        }
        Some(Command::Resume { worker }) => {
            script::drain_or_resume(&ops_context(&r, None)?, &worker, ControlAction::Resume).await
        }
        Some(Command::Submit(args)) => submit_cmd(&r, args).await,
        Some(Command::Worker(args)) => worker_cmd(&r, args).await,
        Some(Command::ResultsDb(args)) => results_db_cmd(&r, args).await,
        Some(Command::Relay) => {
            let management = adtop::broker::management::Management::new(&r.management, &r.broker)?;
            adtop::ops::relay_service::serve(&r.broker, management).await?;
            Ok(0)
        }
        Some(Command::Testbed { action }) => {
            tokio::task::spawn_blocking(move || testbed_cmd(&r, action))
                .await
                .context("testbed command")?
        }
        Some(Command::RequeueHeld { worker }) => {
            let s = Session::open(&r.broker, "adtop requeue-held").await?;
            let get = s.channel().await?;
            let n =
                worker::hold::reclaim(&s.confirm, &get, &worker, Some(&open_store(&r)?)).await?;
            println!(
                "requeued {n} held request(s) of {}",
                sanitize::line(&worker)
            );
            s.close().await;
            Ok(0)
        }
    }
}

/// `adtop submit --dialect debci`: one request, to debci's queue, reported as a cloud one is
/// (`UUID<TAB>PACKAGE<TAB>QUEUE`, or one JSON object).
async fn submit_debci(r: &Resolved, a: SubmitArgs) -> Result<u8> {
    use adtop::controller::debci::{DebciArgs, DebciSubmission, submit};
    let (Some(pkg), Some(suite), Some(arch)) = (&a.package, &a.release, &a.arch) else {
        bail!("give PACKAGE --release SUITE --arch A --backend B --run-id ID");
    };
    if !a.ppas.is_empty()
        || !a.env.is_empty()
        || a.context.is_some()
        || a.testname.is_some()
        || a.all_proposed
    {
        bail!(
            "--ppa, --env, --context, --testname and --all-proposed are autopkgtest-cloud's; debci's requests have no such parameters"
        );
    }
    let mut keys = Vec::new();
    for f in &a.signing_keys {
        let meta = std::fs::metadata(f).with_context(|| format!("cannot read {}", f.display()))?;
        if meta.len() > 32 * 1024 {
            bail!(
                "{}: {} bytes, not a signing key (at most 32 KiB)",
                f.display(),
                meta.len()
            );
        }
        keys.push(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        );
    }
    let s = DebciSubmission::new(DebciArgs {
        package: pkg,
        suite,
        arch,
        backend: a.backend.as_deref(),
        queue: a.debci_queue.as_deref(),
        run_id: a.run_id.as_deref(),
        triggers: &a.triggers,
        pins: &a.pin_packages,
        sources: &a.extra_apt_sources,
        keys,
        priority: a.priority,
    })?;
    let session = Session::open(&r.broker, "adtop submit").await?;
    let consumers = submit(&session, &s).await;
    session.close().await;
    let consumers = consumers?;
    let uuid = s.uuid();
    let warning = (consumers == 0).then(|| format!("no worker serves {}", s.queue));
    if a.json {
        let v = serde_json::json!({
            "line": 1, "status": "queued", "package": s.request.package, "queue": s.queue,
            "uuid": uuid, "run_id": s.request.run_id, "priority": s.priority, "warning": warning,
        });
        println!("{v}");
    } else {
        println!(
            "{uuid}\t{}\t{}",
            s.request.package,
            sanitize::line(&s.queue)
        );
        if let Some(w) = warning {
            eprintln!("adtop: warning: {}", sanitize::line(&w));
        }
    }
    Ok(0)
}

async fn submit_cmd(r: &Resolved, a: SubmitArgs) -> Result<u8> {
    if a.dialect == Dialect::Debci {
        return submit_debci(r, a).await;
    }
    if a.backend.is_some()
        || a.debci_queue.is_some()
        || a.run_id.is_some()
        || !a.pin_packages.is_empty()
        || !a.extra_apt_sources.is_empty()
        || !a.signing_keys.is_empty()
    {
        bail!(
            "--backend, --debci-queue, --run-id, --pin-packages, --extra-apt-source and --signing-key are debci's: add --dialect debci"
        );
    }
    let mut lines = match &a.from {
        Some(src) => submit::spawn_reader(src)?,
        None => {
            let (Some(pkg), Some(release), Some(arch)) = (&a.package, &a.release, &a.arch) else {
                bail!("give PACKAGE --release R --arch A, or --from FILE");
            };
            let queue = QueueName::new(release, arch, a.context.as_deref())?;
            let params = Params {
                triggers: a.triggers.clone(),
                ppas: a.ppas.clone(),
                env: a.env.clone(),
                requester: a.requester.clone(),
                testname: a.testname.clone(),
                all_proposed: a.all_proposed.then(|| serde_json::Value::from(1)),
                ..Params::default()
            };
            let request = Request::new(pkg, submit::stamp(params))
                .map_err(|e| anyhow::anyhow!("invalid request: {e}"))?;
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let line = submit::BatchLine {
                line: 1,
                text: String::new(),
                parsed: Ok(submit::Submission {
                    queue,
                    request,
                    priority: a.priority,
                }),
            };
            tx.send(Ok(line)).await.ok();
            rx
        }
    };
    let progress = if a.from.is_some() && !a.json {
        let pb = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {pos} lines {msg}") {
            pb.set_style(style);
        }
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let rerun = match &a.failed_to {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let w: Box<dyn std::io::Write + Send> = Box::new(std::io::BufWriter::new(f));
            Some((path.display().to_string(), w))
        }
        None => None,
    };
    let mut report = submit::Report::new(
        a.json,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
        rerun,
        progress,
    );
    if a.from.is_none() {
        report = report.single();
    }
    let opts = submit::SubmitOptions {
        broker_url: r.broker.clone(),
        queue_cfg: r.config.queues.clone(),
        allow_duplicate: a.allow_duplicate,
        dedup_wait: Duration::from_millis(a.dedup_wait),
        // Only counts the workers for the running check (none without the duplicate check);
        // without it the check waits the whole --dedup-wait.
        management: (!a.allow_duplicate)
            .then(|| adtop::broker::management::Management::new(&r.management, &r.broker).ok())
            .flatten(),
    };
    let ended = submit::submit_lines(opts, &mut lines, &mut report).await;
    report.finish(ended)
}

/// This host's Debian architecture, from dpkg.
fn host_arch() -> Option<String> {
    let out = std::process::Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .ok()?;
    let a = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !a.is_empty()).then_some(a)
}

/// Build one testbed with a progress display, then record it.
fn build_testbed(dir: &std::path::Path, spec: &adtop::testbed::Spec) -> Result<()> {
    use std::io::IsTerminal;
    let started = std::time::Instant::now();
    let pb = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
            pb.set_style(style);
        }
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let plain = pb.is_hidden();
    eprintln!(
        "adtop: building the {}/{} testbed into {} (mmdebstrap)",
        spec.release,
        spec.arch,
        spec.output.display()
    );
    let entry = adtop::testbed::build::build(spec, &mut |line| {
        if plain {
            eprintln!("  {line}");
        } else {
            pb.set_message(line.to_string());
        }
    });
    pb.finish_and_clear();
    let entry = entry?;
    let mut reg = adtop::testbed::Registry::load(dir)?;
    reg.upsert(entry.clone());
    reg.save(dir)?;
    eprintln!(
        "adtop: built {} ({} MiB) in {}s",
        entry.path.display(),
        entry.size >> 20,
        started.elapsed().as_secs()
    );
    Ok(())
}

fn testbed_cmd(r: &Resolved, action: TestbedAction) -> Result<u8> {
    use adtop::testbed::{Registry, Spec, registry};
    let tc = &r.config.testbed;
    let dir = tc.dir();
    match action {
        TestbedAction::Build {
            release,
            arch,
            mirror,
            include,
            output,
        } => {
            let arch = arch
                .or(r.config.worker.arch.clone())
                .or_else(host_arch)
                .context("give --arch (this host's architecture could not be read from dpkg)")?;
            let mut inc = tc.include.clone();
            inc.extend(include.into_iter().filter(|p| !p.is_empty()));
            let spec = Spec {
                output: output.unwrap_or_else(|| Spec::default_output(&dir, &release, &arch)),
                release,
                arch,
                mirror: mirror.or(tc.mirror.clone()),
                include: inc,
            };
            build_testbed(&dir, &spec)?;
            Ok(0)
        }
        TestbedAction::List { json } => {
            let reg = Registry::load(&dir)?;
            let now = chrono::Utc::now();
            if json {
                println!("{}", serde_json::to_string_pretty(&reg.testbeds)?);
                return Ok(0);
            }
            if reg.testbeds.is_empty() {
                println!(
                    "no testbeds in {}: build one with `adtop testbed build RELEASE`",
                    dir.display()
                );
                return Ok(0);
            }
            println!(
                "{:<16} {:<8} {:>6} {:>8}  PATH",
                "RELEASE", "ARCH", "AGE", "MIB"
            );
            for e in &reg.testbeds {
                let age = e.age_secs(now);
                let old = if age > tc.max_age_hours.saturating_mul(3600) {
                    "  (older than [testbed] max_age_hours: `adtop testbed update`)"
                } else {
                    ""
                };
                let gone = if e.path.is_file() {
                    ""
                } else {
                    "  (tarball missing)"
                };
                println!(
                    "{:<16} {:<8} {:>6} {:>8}  {}{gone}{old}",
                    sanitize::line(&e.release),
                    sanitize::line(&e.arch),
                    registry::age(age),
                    e.size >> 20,
                    sanitize::line(&e.path.display().to_string()),
                );
            }
            Ok(0)
        }
        TestbedAction::Update { release, arch } => {
            let reg = Registry::load(&dir)?;
            let chosen: Vec<_> = reg
                .testbeds
                .iter()
                .filter(|e| release.as_ref().is_none_or(|r| &e.release == r))
                .filter(|e| arch.as_ref().is_none_or(|a| &e.arch == a))
                .cloned()
                .collect();
            if chosen.is_empty() {
                bail!(
                    "no testbed {} in {}: build it first with `adtop testbed build RELEASE`",
                    release.as_deref().unwrap_or("at all"),
                    dir.display()
                );
            }
            for e in &chosen {
                build_testbed(&dir, &Spec::of(e))?;
            }
            Ok(0)
        }
    }
}

async fn results_db_cmd(r: &Resolved, a: ResultsDbArgs) -> Result<u8> {
    let dir = config::data_dir().join("results-db");
    let opts = adtop::resultsdb::ServeOptions {
        broker_url: r.broker.clone(),
        db: a.db.unwrap_or_else(|| dir.join("live.db")),
        output: a.output.unwrap_or_else(|| dir.join("autopkgtest.db")),
        queue: a.queue,
        publish_every: Duration::from_secs(a.publish_every),
        store: open_store(r)?,
    };
    adtop::resultsdb::serve(opts, adtop::resultsdb::Stop::signals()?).await?;
    Ok(0)
}

fn operator(r: &Resolved, flag: Option<String>) -> String {
    flag.or(r.config.console.operator.clone())
        .unwrap_or_else(adtop::config::account_name)
}

fn ops_context(r: &Resolved, operator_flag: Option<String>) -> Result<ops::Context> {
    Ok(ops::Context {
        broker_url: r.broker.clone(),
        management: adtop::broker::management::Management::new(&r.management, &r.broker)?,
        store: open_store(r)?,
        queue_cfg: r.config.queues.clone(),
        fallback_queues: r.config.console.queues.clone(),
        operator: operator(r, operator_flag),
        host: gethostname::gethostname().to_string_lossy().to_string(),
    })
}

/// The console's embedded worker: the same worker loop, in a task the operator starts and stops.
struct Embedded {
    opts: WorkerOptions,
    task: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::watch::Sender<bool>,
    )>,
}

impl ops::feed::EmbeddedWorker for Embedded {
    fn start(&mut self) -> Result<String, String> {
        if self.task.as_ref().is_some_and(|(t, _)| !t.is_finished()) {
            return Err(format!("worker {} is already running", self.opts.id));
        }
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let w = worker::Worker::embedded(self.opts.clone(), stop_rx);
        let task = tokio::spawn(async move {
            if let Err(e) = w.run().await {
                tracing::error!("embedded worker stopped: {e:#}");
            }
        });
        self.task = Some((task, stop));
        Ok(format!("worker {} started", self.opts.id))
    }

    /// Like a second SIGTERM: the running test is stopped and its request requeued.
    fn stop(&mut self) -> Result<String, String> {
        match self.task.take() {
            Some((t, stop)) if !t.is_finished() => {
                let _ = stop.send(true);
                Ok(format!(
                    "worker {} stopped; its job, if any, was requeued",
                    self.opts.id
                ))
            }
            _ => Err("the embedded worker is not running".into()),
        }
    }
}

async fn console_cmd(r: &Resolved, c: ConsoleArgs) -> Result<u8> {
    let ctx = ops_context(r, c.operator.clone())?;
    let cc = &r.config.console;
    let thresholds = adtop::console::model::Thresholds {
        silent_secs: r.silent_threshold,
        ..Default::default()
    };
    let config = adtop::console::ConsoleConfig {
        operator: ctx.operator.clone(),
        read_only: r.read_only.is_some(),
        keymap: c
            .keymap
            .or(cc.keymap.clone())
            .unwrap_or_else(|| "default".into()),
        theme: c
            .theme
            .or(cc.theme.clone())
            .unwrap_or_else(|| "dark".into()),
        thresholds,
        embedded_worker: c.embedded_worker,
        log_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        ..adtop::console::ConsoleConfig::default()
    };
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(4096);
    let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel();
    let embedded: Option<Box<dyn ops::feed::EmbeddedWorker>> = if c.embedded_worker {
        let mut e = Embedded {
            opts: worker_options(r, c.worker)?,
            task: None,
        };
        let started = ops::feed::EmbeddedWorker::start(&mut e).map_err(anyhow::Error::msg)?;
        tracing::info!("{started}");
        let _ = events_tx
            .send(adtop::console::ModelEvent::EmbeddedWorker { running: true })
            .await;
        Some(Box::new(e))
    } else {
        None
    };
    tokio::spawn(ops::feed::serve(ctx, events_tx, out_rx, embedded));
    adtop::console::run(config, events_rx, out_tx).await?;
    Ok(0)
}

/// autopkgtest-cloud's contexts besides the plain queue.
const CLOUD_CONTEXTS: &[&str] = &["huge", "ppa", "upstream"];

async fn declare_cmd(r: &Resolved, a: DeclareArgs) -> Result<u8> {
    let qc = &r.config.queues;
    let wc = &r.config.worker;
    let pick = |flag: Vec<String>, conf: &[String], fallback: Vec<String>| {
        if !flag.is_empty() {
            flag
        } else if !conf.is_empty() {
            conf.to_vec()
        } else {
            fallback
        }
    };
    let releases = pick(a.releases, &qc.releases, wc.releases.clone());
    let arches = pick(
        a.arches,
        &qc.architectures,
        wc.arch.iter().cloned().collect(),
    );
    let contexts = if !a.contexts.is_empty() {
        a.contexts
    } else if let Some(c) = &qc.contexts {
        c.clone()
    } else {
        let mut c: Vec<String> = CLOUD_CONTEXTS.iter().map(|s| s.to_string()).collect();
        c.extend(
            wc.contexts
                .iter()
                .filter(|x| !c.contains(x))
                .cloned()
                .collect::<Vec<_>>(),
        );
        c
    };
    if releases.is_empty() || arches.is_empty() {
        bail!(
            "nothing to declare: give --release and --arch (or [queues] releases and architectures in the configuration)"
        );
    }
    let mut queues = Vec::new();
    for arch in &arches {
        queues.extend(QueueName::all_for(arch, &releases, &contexts)?);
    }
    ops::script::declare_queues(&r.broker, &r.config.queues, &queues, a.dry_run, a.json).await
}

async fn worker_cmd(r: &Resolved, a: WorkerArgs) -> Result<u8> {
    let opts = worker_options(r, a)?;
    // Wrong credentials are found now, before any request is taken. A store that is merely away
    // is not a reason to stop: results wait in the spool until it is back.
    match opts.store.check().await {
        Ok(()) => {}
        Err(e) if e.is_permanent() => {
            return Err(anyhow::Error::new(e).context(format!(
                "the result store {} is not usable; the worker takes no requests until it is (check the store URL, user and key)",
                opts.store.describe()
            )));
        }
        Err(e) => tracing::warn!(
            "the result store {} is not reachable now ({e}); results will wait in the spool until it is",
            opts.store.describe()
        ),
    }
    tracing::info!(
        "worker {} serving {} with store {}",
        opts.id,
        opts.queue_names().join(", "),
        opts.store.describe()
    );
    let code = worker::Worker::new(opts)?.run().await?;
    Ok(u8::try_from(code).unwrap_or(1))
}

/// Which dialects a worker serves: autopkgtest-cloud's queues (`true`) and debci's (its
/// queues; empty when none). `--dialect` says it outright; without it, whichever of
/// `--release`/`--backend` (or their configuration) is given.
fn worker_dialects(
    r: &Resolved,
    a: &WorkerArgs,
    arch: &str,
) -> Result<(bool, worker::debci::DebciOptions)> {
    let dc = &r.config.debci;
    let backends = if a.backends.is_empty() && a.debci_queues.is_empty() {
        dc.backends.clone()
    } else {
        a.backends.clone()
    };
    let named = if a.backends.is_empty() && a.debci_queues.is_empty() {
        dc.queues.clone()
    } else {
        a.debci_queues.clone()
    };
    let has_debci = !backends.is_empty() || !named.is_empty();
    let has_cloud = !a.releases.is_empty() || !r.config.worker.releases.is_empty();
    let (cloud, debci) = if a.dialects.is_empty() {
        if !has_cloud && !has_debci {
            bail!(
                "give at least one --release (autopkgtest-cloud's queues) or --dialect debci --backend B (debci's), or [worker] releases / [debci] backends in the config"
            );
        }
        (has_cloud, has_debci)
    } else {
        (
            a.dialects.contains(&Dialect::AutopkgtestCloud),
            a.dialects.contains(&Dialect::Debci),
        )
    };
    if debci && !has_debci {
        bail!(
            "--dialect debci needs --backend B (serving debci-tests-{arch}-B) or --debci-queue NAME, or [debci] backends in the config"
        );
    }
    if !debci && (!a.backends.is_empty() || !a.debci_queues.is_empty()) {
        bail!("--backend and --debci-queue are debci's: add --dialect debci");
    }
    if !cloud && (!a.releases.is_empty() || !a.contexts.is_empty()) {
        bail!(
            "--release and --context are autopkgtest-cloud's: add --dialect autopkgtest-cloud to serve both"
        );
    }
    let mut queues = Vec::new();
    if debci {
        for b in &backends {
            queues.push(adtop::protocol::debci::DebciQueue::new(arch, b)?.to_string());
        }
        for q in named {
            if q.is_empty()
                || q.len() > 255
                || q.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                bail!("invalid debci queue name {:?}", sanitize::line(&q));
            }
            if !queues.contains(&q) {
                queues.push(q);
            }
        }
    }
    let results_queue = a
        .debci_results_queue
        .clone()
        .or(dc.results_queue.clone())
        .unwrap_or_else(|| adtop::protocol::debci::RESULTS_QUEUE.to_string());
    Ok((
        cloud,
        worker::debci::DebciOptions {
            queues,
            results_queue,
        },
    ))
}

fn worker_options(r: &Resolved, a: WorkerArgs) -> Result<WorkerOptions> {
    let wc = &r.config.worker;
    let arch = a
        .arch
        .clone()
        .or(wc.arch.clone())
        .context("--arch is required (or [worker] arch in the config)")?;
    let (cloud, debci_opts) = worker_dialects(r, &a, &arch)?;
    let releases = if !cloud {
        Vec::new()
    } else if a.releases.is_empty() {
        wc.releases.clone()
    } else {
        a.releases
    };
    if cloud && releases.is_empty() {
        bail!("give at least one --release (or [worker] releases in the config)");
    }
    let contexts = if !cloud {
        Vec::new()
    } else if a.contexts.is_empty() {
        wc.contexts.clone()
    } else {
        a.contexts
    };
    let queues = QueueName::all_for(&arch, &releases, &contexts)?;
    let host = gethostname::gethostname().to_string_lossy().to_string();
    let id =
        a.id.or(wc.id.clone())
            .unwrap_or_else(|| format!("{host}-{arch}"));
    if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        bail!(
            "invalid worker id {:?}: no spaces or control characters, at most 200 bytes",
            sanitize::line(&id)
        );
    }
    let spool_dir = a
        .spool
        .or(wc.spool.clone())
        .unwrap_or_else(|| config::data_dir().join("spool").join(&id));
    let program = a
        .runner
        .or(wc.runner.clone())
        .unwrap_or_else(|| PathBuf::from("autopkgtest"));
    if !worker::runner::runnable(&program) {
        bail!(
            "cannot find the test runner {}: install autopkgtest (apt-get install autopkgtest) or give --runner PATH",
            program.display()
        );
    }
    // A testbed from the flag beats any virt from the configuration; a --virt flag conflicts
    // with --testbed (clap), and one in the configuration gives way to the flag.
    let testbed = a
        .testbed
        .or_else(|| a.virt.is_none().then(|| wc.testbed.clone()).flatten());
    let virt: Vec<String> = match &testbed {
        Some(release) => {
            let tc = &r.config.testbed;
            let found = adtop::testbed::find(
                &tc.dir(),
                release,
                &arch,
                tc.max_age_hours.saturating_mul(3600),
            )?;
            adtop::testbed::check_subids()?;
            if found.too_old {
                tracing::warn!(
                    "the {release}/{arch} testbed was built {} ago, more than [testbed] max_age_hours ({}h): refresh it with `adtop testbed update {release}`",
                    adtop::testbed::registry::age(found.entry.age_secs(chrono::Utc::now())),
                    tc.max_age_hours
                );
            }
            tracing::info!("testbed {release}/{arch}: {}", found.entry.path.display());
            adtop::testbed::virt_args(&found.entry)
        }
        None => a
            .virt
            .or(wc.virt.clone())
            .unwrap_or_else(|| "null".into())
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    };
    let source_dir = a.source_dir.or(wc.source_dir.clone());
    if let Some(d) = &source_dir
        && !d.is_dir()
    {
        bail!("--source-dir {} is not a directory", d.display());
    }
    let opts = WorkerOptions {
        id,
        host,
        arch,
        releases,
        contexts,
        queues,
        debci: debci_opts,
        broker_url: r.broker.clone(),
        queue_cfg: r.config.queues.clone(),
        store: open_store(r)?,
        spool: Spool::open(&spool_dir)?,
        runner: RunnerConfig {
            program,
            virt,
            source_dir,
            extra_args: wc.extra_args.clone(),
            setup_commands: wc.setup_commands.clone(),
            pocket: wc.proposed_pocket.clone(),
        },
        policy: Policy::load(wc)?,
        heartbeat_interval: Duration::from_secs(wc.heartbeat_interval),
        status_interval: Duration::from_secs(wc.status_interval.max(1)),
        lease: Duration::from_secs(wc.lease),
        reclaim_after: Duration::from_secs(wc.reclaim_after.max(1)),
        attempts: wc.attempts,
        testbed_failure_limit: wc.testbed_failure_limit,
        retry_delay: (
            Duration::from_secs(wc.retry_delay_min),
            Duration::from_secs(wc.retry_delay_max.max(wc.retry_delay_min)),
        ),
    };
    Ok(opts)
}
