//! Running `autopkgtest` (or a `--runner` with the same contract) in its own process group,
//! streaming its output, and killing the whole tree when the watchdog or an operator says so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::policy::JobTimeouts;
use crate::protocol::Request;

/// How a job is run: the program and where sources come from.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub program: PathBuf,
    /// Arguments after `--`, e.g. `null` or `qemu /path/to/image`.
    pub virt: Vec<String>,
    pub source_dir: Option<PathBuf>,
    pub extra_args: Vec<String>,
    /// Each becomes `--setup-commands <command>` (autopkgtest-cloud's `setup_command`s).
    pub setup_commands: Vec<String>,
    /// The pocket pinned for triggers on a real testbed (`proposed`).
    pub pocket: String,
}

/// The baseline britney asks for: the package tested without anything from -proposed.
pub const BASELINE_TRIGGER: &str = "migration-reference/0";

impl RunnerConfig {
    /// The `null` server tests on the worker's own host: no pocket pinning or upgrade there.
    pub fn null_testbed(&self) -> bool {
        self.virt.first().is_none_or(|v| v == "null")
    }
}

/// The autopkgtest command line for one request, as autopkgtest-cloud's worker builds it.
pub fn args(cfg: &RunnerConfig, req: &Request, out: &Path, t: &JobTimeouts) -> Vec<String> {
    let p = &req.params;
    let mut a = vec![format!("--output-dir={}", out.display())];
    a.extend(cfg.extra_args.iter().cloned());
    for c in &cfg.setup_commands {
        a.push("--setup-commands".into());
        a.push(c.clone());
    }
    for ppa in &p.ppas {
        a.push(format!("--add-apt-source=ppa:{ppa}"));
    }
    // Only the triggering packages from -proposed (better isolation), unless all-proposed; not
    // for git tests or PPA runs; never the baseline; and only on a real testbed.
    if !cfg.null_testbed() {
        if p.test_git.is_none() && (p.ppas.is_empty() || p.all_proposed.is_some()) {
            if p.all_proposed() {
                a.push(format!("--apt-pocket={}", cfg.pocket));
            } else {
                let srcs: Vec<String> = p
                    .triggers
                    .iter()
                    .filter(|t| *t != BASELINE_TRIGGER)
                    .filter_map(|t| t.split('/').next())
                    .map(|s| format!("src:{s}"))
                    .collect();
                if !srcs.is_empty() {
                    a.push(format!("--apt-pocket={}={}", cfg.pocket, srcs.join(",")));
                }
            }
        }
        a.push("--apt-upgrade".into());
    }
    a.extend(timeouts(t));
    for e in &p.env {
        a.push(format!("--env={e}"));
    }
    if !p.triggers.is_empty() {
        a.push(format!("--env=ADT_TEST_TRIGGERS={}", p.triggers_joined()));
    }
    if let Some(name) = &p.testname {
        a.push(format!("--test-name={name}"));
    }
    a.extend(target(cfg, &req.package));
    a
}

/// autopkgtest's `--timeout-*` options.
pub fn timeouts(t: &JobTimeouts) -> Vec<String> {
    vec![
        format!("--timeout-short={}", t.short),
        format!("--timeout-install={}", t.install),
        format!("--timeout-test={}", t.test),
        format!("--timeout-copy={}", t.copy),
        format!("--timeout-build={}", t.build),
    ]
}

/// The end of the command line: what to test, `--`, the virtualisation server.
pub fn target(cfg: &RunnerConfig, package: &str) -> Vec<String> {
    let mut a = vec![match &cfg.source_dir {
        // The trailing slash tells autopkgtest this is an unbuilt source tree.
        Some(dir) => format!("{}/", dir.join(package).display()),
        None => package.to_string(),
    }];
    a.push("--".into());
    a.extend(cfg.virt.iter().cloned());
    a
}

/// A running job's process and its output.
pub struct Running {
    child: Child,
    pid: u32,
    pgid: Pid,
    pub output: mpsc::Receiver<String>,
}

pub fn spawn(program: &Path, args: &[String]) -> Result<Running> {
    // If the worker is killed outright, its runner is told to stop (SIGTERM lets autopkgtest
    // tear its testbed down) instead of running on unwatched: by the watcher
    // ([`super::deathwatch`]), or else by `PR_SET_PDEATHSIG`, set by `setpriv` (an extra exec)
    // or, without it, a `pre_exec` hook (which forces fork() over posix_spawn()).
    static SETPRIV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let watched = super::deathwatch::ready();
    let mut cmd = if watched {
        Command::new(program)
    } else if *SETPRIV.get_or_init(|| runnable(Path::new("setpriv"))) {
        let mut c = Command::new("setpriv");
        c.args(["--pdeathsig", "TERM", "--"]).arg(program);
        c
    } else {
        let mut c = Command::new(program);
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            c.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        c
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child
        .id()
        .context("child exited before it could be watched")?;
    if watched && let Err(e) = super::deathwatch::watch(pid) {
        tracing::warn!("the runner {pid} is not watched for the worker's death: {e}");
    }
    let (tx, rx) = mpsc::channel(256);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, tx));
    }
    let pgid = Pid::from_raw(i32::try_from(pid).context("pid out of range")?);
    Ok(Running {
        child,
        pid,
        pgid,
        output: rx,
    })
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, tx: mpsc::Sender<String>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                pending.extend_from_slice(buf.get(..n).unwrap_or_default());
                // Keep an incomplete UTF-8 sequence for the next read instead of mangling it.
                let cut = match std::str::from_utf8(&pending) {
                    Ok(_) => pending.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => pending.len(),
                };
                let chunk: Vec<u8> = pending.drain(..cut).collect();
                if tx
                    .send(String::from_utf8_lossy(&chunk).into_owned())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    if !pending.is_empty() {
        let _ = tx
            .send(String::from_utf8_lossy(&pending).into_owned())
            .await;
    }
}

impl Running {
    pub async fn wait(&mut self) -> Option<i32> {
        let status = self.child.wait().await;
        super::deathwatch::forget(self.pid);
        status.ok().and_then(|s| s.code())
    }

    /// SIGTERM the process group and every descendant (tests may leave the group), then
    /// SIGKILL whatever is left after `grace`.
    pub async fn kill_tree(&mut self, grace: Duration) {
        let root = self.pgid;
        let tree = descendants(root);
        let _ = killpg(root, Signal::SIGTERM);
        for pid in &tree {
            let _ = kill(*pid, Signal::SIGTERM);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = killpg(root, Signal::SIGKILL);
        }
        for pid in tree.iter().chain(descendants(root).iter()) {
            let _ = kill(*pid, Signal::SIGKILL);
        }
        let _ = killpg(root, Signal::SIGKILL);
        let _ = self.child.wait().await;
        super::deathwatch::forget(self.pid);
    }
}

impl Drop for Running {
    /// `kill_on_drop` ends the child; the watcher must not signal its pid after that.
    fn drop(&mut self) {
        super::deathwatch::forget(self.pid);
    }
}

/// An executable file, given as a path or found on PATH.
pub fn runnable(program: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let ok = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return ok(program);
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| ok(&d.join(program))))
}

/// Every live descendant of `root`, from /proc.
fn descendants(root: Pid) -> Vec<Pid> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // The command name is in parentheses and may contain spaces: parse after the last ')'.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<i32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root.as_raw()];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.into_iter().skip(1).map(Pid::from_raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmdline(virt: &str, body: &[u8]) -> Vec<String> {
        let cfg = RunnerConfig {
            program: "autopkgtest".into(),
            virt: virt.split(' ').map(str::to_string).collect(),
            source_dir: None,
            extra_args: vec![],
            setup_commands: vec!["apt-get update".into()],
            pocket: "proposed".into(),
        };
        let t = JobTimeouts {
            short: 1,
            install: 2,
            test: 3,
            copy: 4,
            build: 5,
            deadline: 6,
        };
        args(
            &cfg,
            &Request::parse(body).expect("valid"),
            Path::new("/tmp/out"),
            &t,
        )
    }

    #[test]
    fn command_line_like_autopkgtest_cloud() {
        let body = b"hello\n{\"triggers\": [\"glibc/2.39\", \"hello/1\"], \"env\": [\"A_B=c\"]}";
        let a = cmdline("qemu /img", body);
        assert!(a.contains(&"--apt-pocket=proposed=src:glibc,src:hello".to_string()));
        assert!(a.contains(&"--apt-upgrade".to_string()));
        assert!(
            a.windows(2)
                .any(|w| w == ["--setup-commands", "apt-get update"])
        );
        assert!(a.contains(&"--env=ADT_TEST_TRIGGERS=glibc/2.39 hello/1".to_string()));
        assert!(a.contains(&"--env=A_B=c".to_string()));
        assert_eq!(&a[a.len() - 4..], ["hello", "--", "qemu", "/img"]);
        // The null server tests on this host: no pinning, no upgrade.
        let null = cmdline("null", body);
        assert!(
            !null
                .iter()
                .any(|x| x.starts_with("--apt-pocket") || x == "--apt-upgrade")
        );
    }

    #[test]
    fn baseline_ppas_and_all_proposed() {
        // The baseline runs without -proposed at all.
        let a = cmdline(
            "lxd img",
            b"hello\n{\"triggers\": [\"migration-reference/0\"]}",
        );
        assert!(!a.iter().any(|x| x.starts_with("--apt-pocket")), "{a:?}");
        assert!(a.contains(&"--apt-upgrade".to_string()));
        let a = cmdline(
            "lxd img",
            b"hello\n{\"triggers\": [\"hello/1\"], \"all-proposed\": \"1\"}",
        );
        assert!(a.contains(&"--apt-pocket=proposed".to_string()));
        // A PPA run takes the PPA, not -proposed; a private one keeps its credentials for apt.
        let a = cmdline(
            "lxd img",
            b"hello\n{\"triggers\": [\"hello/1\"], \"ppas\": [\"u:t@me/fix\"], \"swiftuser\": \"me\"}",
        );
        assert!(!a.iter().any(|x| x.starts_with("--apt-pocket")));
        assert!(a.contains(&"--add-apt-source=ppa:u:t@me/fix".to_string()));
        // No triggers: no ADT_TEST_TRIGGERS at all.
        let a = cmdline("null", b"hello");
        assert!(!a.iter().any(|x| x.starts_with("--env=ADT_TEST_TRIGGERS")));
    }

    #[tokio::test]
    async fn kill_tree_reaches_escaped_children() {
        let mut r = spawn(
            Path::new("/bin/sh"),
            &[
                "-c".into(),
                "setsid sleep 1000 & echo started; sleep 1000".into(),
            ],
        )
        .expect("spawn");
        let first = r.output.recv().await.expect("output");
        assert!(first.contains("started"));
        let before = descendants(r.pgid);
        assert!(!before.is_empty());
        r.kill_tree(Duration::from_millis(200)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for pid in before {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            assert!(!alive, "pid {pid} survived");
        }
    }
}
