//! Command-line interface: every flag, with help that teaches. Flags override `ADTOP_*`
//! environment variables, which override the configuration file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Which system's wire format: Ubuntu's autopkgtest-cloud (`debci-<release>-<arch>`, `<pkg>\n<JSON>`)
/// or Debian's debci (`debci-tests-<arch>-<backend>`, `<pkg> <suite> run-id:<id> …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Dialect {
    #[default]
    #[value(name = "autopkgtest-cloud", alias = "cloud")]
    AutopkgtestCloud,
    Debci,
}

#[derive(Debug, Parser)]
#[command(
    name = "adtop",
    version,
    about = "Distributed autopkgtest CI over RabbitMQ, and the console to run it from",
    long_about = "adtop routes autopkgtest requests into per-release/arch queues on RabbitMQ (`adtop submit`), \
runs them on workers with the real autopkgtest (`adtop worker`), stores results in autopkgtest-cloud's \
layout, and gives operators a console (`adtop`, no subcommand).\n\n\
Configuration: $XDG_CONFIG_HOME/adtop/config.toml (or --config), then ADTOP_* environment variables, then flags.",
    after_help = "Examples:\n  adtop testbed build bookworm\n  adtop worker --arch amd64 --release bookworm --testbed bookworm\n  adtop submit hello --release bookworm --arch amd64 --trigger hello/2.10-3\n  adtop                      # the console"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Configuration file [default: $XDG_CONFIG_HOME/adtop/config.toml if it exists]
    #[arg(long, global = true, env = "ADTOP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Broker URL, amqp:// or amqps:// [default: amqp://guest:guest@127.0.0.1:5672/%2f]. Repeat it
    /// (or separate URLs with commas in ADTOP_BROKER) for the nodes of a cluster: adtop connects to
    /// the first that answers and moves to another when its node goes away
    #[arg(
        long,
        global = true,
        env = "ADTOP_BROKER",
        value_name = "URL",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub broker: Vec<String>,
    /// RabbitMQ management API [default: http://127.0.0.1:15672]; credentials from the broker URL
    #[arg(
        long,
        global = true,
        env = "ADTOP_MANAGEMENT",
        value_name = "URL",
        hide_env_values = true
    )]
    pub management: Option<String>,
    /// Result store: file:///abs/path (a local directory, the default under $XDG_DATA_HOME/adtop/results)
    /// or swift+https://host/auth/v1.0
    #[arg(
        long,
        global = true,
        env = "ADTOP_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// Refuse every operator action, in the console and from the command line (retry, cancel,
    /// stop, drain, resume, requeue-held, rejected resubmit and discard, queues declare,
    /// submit). ADTOP_READ_ONLY takes 1/0, true/false, yes/no, on/off; console.read_only = true
    /// in the configuration does the same
    #[arg(
        long,
        global = true,
        env = "ADTOP_READ_ONLY",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub read_only: bool,
    /// Flag a running job as hung after this many seconds without output [default:
    /// console.silent_threshold, 1800]
    #[arg(long, global = true, env = "ADTOP_SILENT_THRESHOLD", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub silent_threshold: Option<u64>,
    /// More log output (-v: debug, -vv: trace); or set RUST_LOG
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The console's own flags (`adtop` with no subcommand, or `adtop console`).
#[derive(Debug, Args, Clone, Default)]
pub struct ConsoleArgs {
    /// Key map: default, vim, emacs, or a file; $XDG_CONFIG_HOME/adtop/keymap.toml overrides keys
    #[arg(long, env = "ADTOP_KEYMAP")]
    pub keymap: Option<String>,
    /// Theme: dark, light, high-contrast, colour-blind, a theme in $XDG_CONFIG_HOME/adtop/themes, or a file
    #[arg(long, env = "ADTOP_THEME")]
    pub theme: Option<String>,
    /// Name recorded in the audit trail [default: $USER]
    #[arg(long, env = "ADTOP_OPERATOR")]
    pub operator: Option<String>,
    /// Run a worker inside the console (give the worker's --arch and --release); a key starts and stops it
    #[arg(long = "worker")]
    pub embedded_worker: bool,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

/// What made this invocation read-only, for the refusal's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOnlyBy {
    Flag,
    Env,
    Config,
}

impl std::fmt::Display for ReadOnlyBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadOnlyBy::Flag => "--read-only",
            ReadOnlyBy::Env => "ADTOP_READ_ONLY",
            ReadOnlyBy::Config => "console.read_only in the configuration file",
        })
    }
}

impl ReadOnlyBy {
    /// How to lift it, said in the refusal.
    pub fn undo(&self) -> &'static str {
        match self {
            ReadOnlyBy::Flag => "leave out --read-only",
            ReadOnlyBy::Env => "unset ADTOP_READ_ONLY (or set it to 0)",
            ReadOnlyBy::Config => "remove console.read_only from the configuration file",
        }
    }

    /// `--read-only` given on the command line or through `ADTOP_READ_ONLY`: which one.
    pub fn from_matches(m: &clap::ArgMatches) -> Option<Self> {
        let mut level = Some(m);
        while let Some(m) = level {
            if m.get_flag("read_only") {
                return match m.value_source("read_only") {
                    Some(clap::parser::ValueSource::EnvVariable) => Some(ReadOnlyBy::Env),
                    _ => Some(ReadOnlyBy::Flag),
                };
            }
            level = m.subcommand().map(|(_, sub)| sub);
        }
        None
    }
}

impl Command {
    /// The scripting commands that change something on the shared broker: what read-only
    /// refuses. `submit` is one: it queues work on the shared workers exactly as `retry` does,
    /// and read-only refusing one but not the other would be no promise at all. The services
    /// (`worker`, `results-db`) and the views are not actions.
    pub fn action_name(&self) -> Option<&'static str> {
        Some(match self {
            Command::Retry { .. } => "retry",
            Command::Cancel { .. } => "cancel",
            Command::Stop { .. } => "stop",
            Command::Drain { .. } => "drain",
            Command::Resume { .. } => "resume",
            Command::RequeueHeld { .. } => "requeue-held",
            Command::Submit(_) => "submit",
            Command::Rejected {
                action: Some(RejectedAction::Resubmit { .. }),
                ..
            } => "rejected resubmit",
            Command::Rejected {
                action: Some(RejectedAction::Discard { .. }),
                ..
            } => "rejected discard",
            Command::Queues {
                action: Some(QueuesAction::Declare(_)),
                ..
            } => "queues declare",
            _ => return None,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The operations console (the default when no subcommand is given)
    Console(ConsoleArgs),
    /// Request queues with depth, consumers and rates; `queues declare` creates them
    Queues {
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<QueuesAction>,
    },
    /// Workers, from their heartbeats (they are pinged and answer at once)
    Workers {
        #[arg(long)]
        json: bool,
    },
    /// Running jobs with elapsed time, limit and silence; hung ones are marked, and a job
    /// between retry attempts says `retry 2 of 3 in 94s` (never hung while it waits)
    Running {
        #[arg(long)]
        json: bool,
    },
    /// Recent results from the store's index, newest first
    Results {
        #[arg(long)]
        json: bool,
        /// Only real failures of the package (class fail; not tmpfails), as the console's `f`
        #[arg(long, conflicts_with = "tmpfails")]
        failures: bool,
        /// Only tmpfails (testbed failures, exit code 16), as the console's `t`
        #[arg(long)]
        tmpfails: bool,
        #[arg(long)]
        release: Option<String>,
        #[arg(long)]
        arch: Option<String>,
        /// One source package's history, over any span (from the per-package index, not
        /// only --days); --match widens it to a prefix or a substring
        #[arg(long)]
        package: Option<String>,
        /// How --package matches names: exact, prefix (`lib` finds libpng1.6, …) or substring
        #[arg(
            long = "match",
            value_enum,
            default_value_t,
            requires = "package",
            value_name = "HOW"
        )]
        matching: crate::ops::history::PackageMatch,
        /// With --package: only results that finished since WHEN (90s, 30m, 12h, 7d, a date
        /// 2026-01-31, or an RFC 3339 time) [default: the whole history]
        #[arg(long, value_name = "WHEN", requires = "package")]
        since: Option<String>,
        /// With --package: page N of --limit results, 1 being the newest
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), requires = "package")]
        page: u64,
        /// At most this many (with --package: per page)
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Look back this many days of the index (without --package)
        #[arg(long, default_value_t = 2)]
        days: i64,
    },
    /// A job's log: the stored log.gz, or the live log of a running job
    Logs {
        uuid: String,
        /// Follow the live log until the job ends
        #[arg(short, long)]
        follow: bool,
        /// Print at most this many MiB of a stored log, decompressed; a longer one ends with a
        /// line `[adtop: log cut at N MiB; ...]` (the console's log view holds 16 MiB)
        #[arg(long, value_name = "MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
        max_mib: u64,
    },
    /// Requests workers refused (adtop.rejected) with why; resubmit a fixed one or discard it
    #[command(
        long_about = "Requests a worker refused go to the queue adtop.rejected with why: the reason and its \
code, the queue they came from, the worker and when. `adtop rejected` lists them, oldest first, each \
under an ID (a hash of source queue, rejection time and body) that the other subcommands take.\n\n\
`resubmit ID` queues the request on its source queue again: as it was, or as --file FIXED gives it \
(the body, `PACKAGE\\n{JSON}` or debci's one line). It is checked first exactly as a worker checks it; \
a request still invalid is refused with the reason and stays where it is. Once the broker has confirmed \
the new copy, the rejected one is removed, so a failure of either step loses nothing. `discard ID` \
drops it for good. Both are operator actions: written to the audit trail, refused in read-only mode.",
        after_help = "Examples:\n  adtop rejected\n  adtop rejected show 3f2a9c01b7de > fixed.txt   # the body, to edit\n  adtop rejected resubmit 3f2a9c01b7de --file fixed.txt\n  adtop rejected discard 3f2a9c01b7de"
    )]
    Rejected {
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<RejectedAction>,
    },
    /// The audit trail: every operator action, who, where, on what, and how it ended
    #[command(
        long_about = "The audit trail of operator actions (retry, cancel, stop, drain, resume, resubmit, \
discard, the embedded worker) from the console and the scripting commands, oldest first, as the result \
store keeps it (container adtop-audit). The console's Audit view shows the same records.",
        after_help = "Examples:\n  adtop audit\n  adtop audit --since 1h\n  adtop audit --since 2026-01-31 --json"
    )]
    Audit {
        /// From when: a duration back from now (90s, 30m, 12h, 7d), a date (2026-01-31, UTC) or an
        /// RFC 3339 time
        #[arg(long, value_name = "WHEN", default_value = "2d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Queue a finished job again, exactly as it ran (new uuid)
    Retry { uuid: String },
    /// Remove a queued request
    Cancel { queue: String, uuid: String },
    /// Stop a running job; its request is requeued unless --cancel
    Stop {
        uuid: String,
        #[arg(long)]
        cancel: bool,
    },
    /// Let a worker finish its job and take no new ones
    Drain { worker: String },
    /// Let a drained worker take jobs again
    Resume { worker: String },
    /// Validate test requests and queue them (the controller)
    Submit(SubmitArgs),
    /// Consume queues, run autopkgtest, store and announce results
    Worker(WorkerArgs),
    /// Throwaway testbeds for autopkgtest's unshare server: build, list, update
    #[command(
        long_about = "Throwaway testbeds: rootfs tarballs built by mmdebstrap that autopkgtest's `unshare` \
server unpacks afresh for every test, inside a user namespace (no daemon, no VM). A test's dependencies \
are installed there and gone afterwards; the worker's host is untouched.\n\n\
`adtop worker --testbed RELEASE` runs every request in the testbed built for RELEASE and the worker's \
architecture. Tarballs and their registry (testbeds.json) live in [testbed] dir \
[default: $XDG_DATA_HOME/adtop/testbeds].\n\n\
Needs mmdebstrap (apt-get install mmdebstrap) and, for the user running the worker (root too), a \
subordinate id range in /etc/subuid and /etc/subgid, e.g. `root:100000:65536`.",
        after_help = "Examples:\n  adtop testbed build bookworm\n  adtop testbed build unstable --arch amd64 --mirror http://deb.debian.org/debian --include python3\n  adtop testbed list\n  adtop testbed update           # rebuild every testbed in place (e.g. daily from cron)"
    )]
    Testbed {
        #[command(subcommand)]
        action: TestbedAction,
    },
    /// Move a worker's held requests back to their queues (for a worker that will not return)
    RequeueHeld {
        /// The worker id, as its heartbeats show it
        worker: String,
    },
    /// Keep autopkgtest-cloud's results database from the completions and publish it for britney
    #[command(
        long_about = "Keep autopkgtest-cloud's results database (the sqlite `autopkgtest.db` of \
autopkgtest-db-writer and autopkgtest-db-publisher, same schema) from the completions on \
testcomplete.fanout, and publish a copy of it with its sha256 for Ubuntu's britney.\n\n\
Completions reach it through a durable queue (--queue), so none are lost while it is stopped; each is \
acknowledged once written. Like autopkgtest-cloud's writer it keeps only distribution runs (container \
autopkgtest-<release>) that have triggers. Every --publish-every seconds, when something changed, it \
writes the copy to --output (and --output.sha256) and uploads both to the result store as \
adtop-db/autopkgtest.db and adtop-db/autopkgtest.db.sha256.\n\n\
britney reads it through ADT_DB_URL (it also fetches ADT_DB_URL.sha256 and compares): point it at the \
published object, <swift storage URL>/adtop-db/autopkgtest.db (the container must be publicly \
readable: swift post -r '.r:*,.rlistings' adtop-db), or at the local copy, file:///path/to/autopkgtest.db.\n\n\
SIGTERM or Ctrl-C: finishes the completion being written and exits 0.",
        after_help = "Examples:\n  adtop results-db\n  adtop --store swift+https://swift.example.org/auth/v1.0 results-db --output /srv/www/autopkgtest.db"
    )]
    ResultsDb(ResultsDbArgs),
    /// Relay heartbeats, live depths, queue listings and queue contents for every console
    #[command(
        long_about = "Do for every console what one of them would otherwise do for the others: \
relay the workers' heartbeats in one batch a second, declare the queues consoles have on screen once \
a second and share their depths, list every queue through the management API every 5 s, and read \
the queues consoles look at (at most once per 10 s each), all on the adtop.snapshots exchange.\n\n\
Consoles elect one reader among themselves through the queue adtop.readers; without this service \
that console spends about a core-percent more than the others (docs/PERFORMANCE.md). With it, a \
console that leads hears the service and steps down. Run one per deployment, beside results-db; \
a second one waits as a stand-by. It works only while consoles are open: with none it only says \
hello once a second. It reconnects on its own when the broker goes away.\n\n\
SIGTERM or Ctrl-C: exits 0; consoles take over within a few seconds.",
        after_help = "Examples:\n  adtop relay\n  adtop --broker amqp://adtop:SECRET@rabbit.example.org:5672 relay"
    )]
    Relay,
}

#[derive(Debug, Args, Clone)]
pub struct ResultsDbArgs {
    /// The live database the completions are written to [default: $XDG_DATA_HOME/adtop/results-db/live.db]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Where the published copy goes, with PATH.sha256 beside it [default: $XDG_DATA_HOME/adtop/results-db/autopkgtest.db]
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Durable queue bound to testcomplete.fanout; completions wait in it while this is stopped.
    /// Delete it (rabbitmqctl delete_queue NAME) when retiring the service, or it fills up
    #[arg(long, value_name = "NAME", default_value = crate::protocol::names::RESULTS_DB_QUEUE)]
    pub queue: String,
    /// Publish at most this often, in seconds, and only when something changed
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub publish_every: u64,
}

#[derive(Debug, Subcommand)]
pub enum RejectedAction {
    /// One rejected request: its headers, then its body as it was queued
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Queue it on its source queue again (fixed from --file), then remove it from adtop.rejected
    Resubmit {
        id: String,
        /// The fixed request body (`PACKAGE\n{JSON}`, or debci's one line); - reads standard input
        #[arg(long, value_name = "FIXED.json")]
        file: Option<PathBuf>,
    },
    /// Remove it from adtop.rejected for good
    Discard { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TestbedAction {
    /// Build the testbed tarball for RELEASE with mmdebstrap and record it
    Build {
        /// Release (suite) to build, e.g. bookworm or unstable
        release: String,
        /// Architecture [default: [worker] arch, else this host's]
        #[arg(long, value_name = "A")]
        arch: Option<String>,
        /// Mirror URL [default: [testbed] mirror, else mmdebstrap's, http://deb.debian.org/debian]
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
        /// More packages to install, comma-separated (build-essential and debhelper always are)
        #[arg(long, value_name = "PKGS", value_delimiter = ',')]
        include: Vec<String>,
        /// Where the tarball goes [default: <testbed dir>/<release>-<arch>.tar.gz]
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Every recorded testbed with its age, path and size
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rebuild testbeds in place as they were built (all, or RELEASE); a running test is
    /// undisturbed: the new tarball is built aside and renamed over the old one
    Update {
        /// Only this release
        release: Option<String>,
        /// Only this architecture
        #[arg(long, value_name = "A")]
        arch: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueuesAction {
    /// Declare every request queue of the deployment, as its workers declare them
    #[command(
        long_about = "Declare every request queue for the given (or configured) releases, architectures and \
contexts, durable and with the arguments of [queues] in the configuration (max_priority, type), exactly as \
adtop's workers declare them.\n\n\
Run it once when setting up a deployment and whenever a release, architecture or context is added: clients \
such as britney publish to the default exchange without declaring the queue and without `mandatory`, so a \
request for a queue that does not exist yet is dropped by the broker without an error.\n\n\
Declaring is idempotent. A queue that exists with other arguments is reported (PRECONDITION_FAILED) and the \
command exits 1; nothing is changed for it.",
        after_help = "Examples:\n  adtop queues declare --arch amd64 --arch arm64 --release noble --release plucky\n  adtop queues declare            # [queues] releases, architectures and contexts from the configuration"
    )]
    Declare(DeclareArgs),
}

#[derive(Debug, Args)]
pub struct DeclareArgs {
    /// Release (repeatable) [default: [queues] releases, else [worker] releases]
    #[arg(long = "release", value_name = "R")]
    pub releases: Vec<String>,
    /// Architecture (repeatable) [default: [queues] architectures, else [worker] arch]
    #[arg(long = "arch", value_name = "A")]
    pub arches: Vec<String>,
    /// Context besides the plain queue (repeatable) [default: [queues] contexts, else huge, ppa and upstream
    /// as autopkgtest-cloud has them, plus [worker] contexts]
    #[arg(long = "context", value_name = "C")]
    pub contexts: Vec<String>,
    /// Print what would be declared, declare nothing
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Batch file: one JSON object per line with \"package\", \"release\", \"arch\", optional \"context\" \
and \"priority\"; every other key is a request parameter (\"triggers\", \"ppas\", \"env\", \"requester\", ...). \
Blank lines and lines starting with # are skipped.\n\n\
Report: every line is reported as soon as it is known, by its line number. Text: a queued request prints \
UUID<TAB>PACKAGE<TAB>QUEUE on stdout; any other outcome prints `adtop: line N: STATUS PACKAGE: reason` on \
stderr, and a summary names the lines not queued. --json: one object per line on stdout, \
{\"line\", \"status\", \"package\", \"queue\", \"uuid\"?, \"error\"?, \"warning\"?}. STATUS is queued (the broker \
confirmed it), duplicate (an identical request is queued or running), invalid (not a valid request), failed (not \
queued: the broker refused it, e.g. its queue was deleted), unknown (sent, the connection broke before the \
broker confirmed it: it may be queued; its uuid is given) or skipped (not sent: the broker was unreachable by \
then). The batch never stops half way; --failed-to FILE collects the lines to submit again.\n\n\
Exit status: 0 when every request was queued, 1 when any was not (or the file could not be read to its end).\n\n\
A request identical to one already queued or running (same package and parameters, ignoring uuid, \
submit-time, requester, readable-by) is refused: the target queue is browsed and running workers are asked. \
Rerunning a --failed-to file is therefore safe for `unknown` lines: those that did arrive are refused as duplicates."
)]
pub struct SubmitArgs {
    /// Source package to test
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub package: Option<String>,
    /// Release, e.g. noble or unstable
    #[arg(long, required_unless_present = "from")]
    pub release: Option<String>,
    /// Architecture, e.g. amd64
    #[arg(long, required_unless_present = "from")]
    pub arch: Option<String>,
    /// Trigger SRC/VERSION (repeatable)
    #[arg(long = "trigger", value_name = "SRC/VER")]
    pub triggers: Vec<String>,
    /// PPA LPUSER/PPA (repeatable)
    #[arg(long = "ppa", value_name = "USER/PPA")]
    pub ppas: Vec<String>,
    /// Environment for the test, K=V (repeatable)
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Queue context: huge, ppa, upstream, or a platform tag such as qemu
    #[arg(long)]
    pub context: Option<String>,
    /// AMQP message priority (needs queues declared with [queues] max_priority)
    #[arg(long, value_parser = clap::value_parser!(u8))]
    pub priority: Option<u8>,
    /// Who asks (recorded in the result's `requester`)
    #[arg(long)]
    pub requester: Option<String>,
    /// Run only this test of debian/tests/control
    #[arg(long)]
    pub testname: Option<String>,
    /// Wire format of the request: autopkgtest-cloud (default) or debci. With debci, --release is
    /// the suite, --trigger values are joined into debci's one trigger, and the request goes to
    /// debci-tests-<arch>-<backend> with priority 5 unless --priority says otherwise
    #[arg(long, value_enum, default_value_t = Dialect::AutopkgtestCloud, conflicts_with = "from")]
    pub dialect: Dialect,
    /// debci: the backend whose queue debci-tests-<arch>-<backend> gets the request
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// debci: the queue by name instead (debci's debci_amqp_queue)
    #[arg(long, value_name = "QUEUE", conflicts_with = "backend")]
    pub debci_queue: Option<String>,
    /// debci: the job id in debci's database (its collector records the result under it)
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// debci: SUITE=PKG[,src:SRC…] from another suite (repeatable)
    #[arg(long = "pin-packages", value_name = "SUITE=PKGS")]
    pub pin_packages: Vec<String>,
    /// debci: an extra sources.list line for the testbed (repeatable)
    #[arg(long = "extra-apt-source", value_name = "'deb URL SUITE COMP'")]
    pub extra_apt_sources: Vec<String>,
    /// debci: an ASCII-armoured key file that signs the extra apt source (repeatable)
    #[arg(long = "signing-key", value_name = "FILE")]
    pub signing_keys: Vec<PathBuf>,
    /// Use all of -proposed, not only the triggers
    #[arg(long)]
    pub all_proposed: bool,
    /// Read requests from FILE, or - for standard input (one JSON object per line); each is
    /// published as it is read and reported at once
    #[arg(long, value_name = "FILE")]
    pub from: Option<String>,
    /// Write every line that was not queued (invalid, failed, unknown, skipped) to FILE, each
    /// after a `# line N: STATUS: reason` comment: a batch file for `--from FILE` once fixed
    #[arg(long, value_name = "FILE", requires = "from")]
    pub failed_to: Option<PathBuf>,
    /// Print one JSON object per request instead of text
    #[arg(long)]
    pub json: bool,
    /// Queue it even if an identical request is queued or running
    #[arg(long)]
    pub allow_duplicate: bool,
    /// Longest to listen for running workers' answers when checking duplicates, in ms; done
    /// sooner once every worker has answered (the management API counts them)
    #[arg(long, default_value_t = 1500, value_name = "MS")]
    pub dedup_wait: u64,
}

#[derive(Debug, Args, Clone, Default)]
pub struct WorkerArgs {
    /// Architecture this worker runs tests for
    #[arg(long, env = "ADTOP_WORKER_ARCH")]
    pub arch: Option<String>,
    /// Release to serve (repeatable)
    #[arg(long = "release", value_name = "RELEASE")]
    pub releases: Vec<String>,
    /// Queue context to serve besides the plain queue: huge, ppa, upstream, qemu, ... (repeatable)
    #[arg(long = "context", value_name = "CONTEXT")]
    pub contexts: Vec<String>,
    /// Wire format of the queues to serve (repeatable, to serve both): autopkgtest-cloud
    /// (--release) or debci (--backend) [default: whichever --release/--backend name]
    #[arg(long = "dialect", value_enum, value_name = "DIALECT")]
    pub dialects: Vec<Dialect>,
    /// debci backend to serve, consuming debci-tests-<arch>-<backend> (repeatable)
    #[arg(long = "backend", value_name = "BACKEND")]
    pub backends: Vec<String>,
    /// debci request queue to serve by name, as debci's debci_amqp_queue sets it (repeatable)
    #[arg(long = "debci-queue", value_name = "QUEUE")]
    pub debci_queues: Vec<String>,
    /// Queue for debci's results, read by `debci collector` [default: [debci] results_queue, else
    /// debci_results]
    #[arg(long, value_name = "QUEUE")]
    pub debci_results_queue: Option<String>,
    /// Virtualisation server and its arguments after autopkgtest's `--`: 'null', 'lxc …', 'qemu …'
    #[arg(long, value_name = "'SERVER ARGS'", conflicts_with = "testbed")]
    pub virt: Option<String>,
    /// Run every request in the testbed built for RELEASE (`adtop testbed build RELEASE`) with
    /// autopkgtest's unshare server; the worker refuses to start when it is missing
    #[arg(long, value_name = "RELEASE")]
    pub testbed: Option<String>,
    /// Run a request for package P as `autopkgtest DIR/P/` instead of fetching its source
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
    /// Program to run instead of autopkgtest (same command line and --output-dir contract)
    #[arg(long, value_name = "PATH")]
    pub runner: Option<PathBuf>,
    /// Worker id shown in heartbeats and used for its held queue [default: <hostname>-<arch>]
    #[arg(long, env = "ADTOP_WORKER_ID")]
    pub id: Option<String>,
    /// Spool directory for finished results [default: $XDG_DATA_HOME/adtop/spool/<id>]
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resultsdb_help_teaches_adt_db_url() {
        let err = Cli::try_parse_from(["adtop", "results-db", "--help"]).expect_err("help");
        let help = err.to_string();
        for needle in [
            "ADT_DB_URL",
            "adtop-db/autopkgtest.db",
            "testcomplete.fanout",
            "--publish-every",
        ] {
            assert!(help.contains(needle), "{needle} missing from:\n{help}");
        }
        let cli = Cli::try_parse_from(["adtop", "results-db"]).expect("parses");
        let Some(Command::ResultsDb(a)) = cli.command else {
            panic!("not results-db: {:?}", cli.command);
        };
        assert_eq!(
            (a.queue.as_str(), a.publish_every),
            ("adtop.results-db", 60)
        );
        assert!(Cli::try_parse_from(["adtop", "results-db", "--publish-every", "0"]).is_err());
    }
}
