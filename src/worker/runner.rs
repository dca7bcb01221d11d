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
}

/// The autopkgtest command line for one request, as autopkgtest-cloud builds it.
pub fn args(cfg: &RunnerConfig, req: &Request, out: &Path, t: &JobTimeouts) -> Vec<String> {
    let p = &req.params;
    let mut a = vec![format!("--output-dir={}", out.display())];
    a.extend(cfg.extra_args.iter().cloned());
    if !p.triggers.is_empty() && cfg.source_dir.is_none() {
        if p.all_proposed() {
            a.push("--apt-pocket=proposed".into());
        } else {
            let srcs: Vec<&str> = p
                .triggers
                .iter()
                .filter_map(|t| t.split('/').next())
                .collect();
            a.push(format!("--apt-pocket=proposed=src:{}", srcs.join(",")));
        }
        a.push("--apt-upgrade".into());
    }
    for ppa in &p.ppas {
        a.push(format!(
            "--add-apt-source=ppa:{}",
            ppa.split(':').next().unwrap_or(ppa)
        ));
    }
    for e in &p.env {
        a.push(format!("--env={e}"));
    }
    if let Some(name) = &p.testname {
        a.push(format!("--test-name={name}"));
    }
    a.push(format!("--timeout-short={}", t.short));
    a.push(format!("--timeout-install={}", t.install));
    a.push(format!("--timeout-test={}", t.test));
    a.push(format!("--timeout-copy={}", t.copy));
    a.push(format!("--timeout-build={}", t.build));
    a.push(format!("--env=ADT_TEST_TRIGGERS={}", p.triggers_joined()));
    match &cfg.source_dir {
        // The trailing slash tells autopkgtest this is an unbuilt source tree.
        Some(dir) => a.push(format!("{}/", dir.join(&req.package).display())),
        None => a.push(req.package.clone()),
    }
    a.push("--".into());
    a.extend(cfg.virt.iter().cloned());
    a
}

/// A running job's process and its output.
pub struct Running {
    child: Child,
    pgid: Pid,
    pub output: mpsc::Receiver<String>,
}

pub fn spawn(program: &Path, args: &[String]) -> Result<Running> {
    // If the worker is killed outright, its runner is told to stop (SIGTERM lets autopkgtest
    // tear its testbed down) instead of running on unwatched. `setpriv` sets that up without a
    // pre_exec hook, which would force fork() over posix_spawn() for every job.
    static SETPRIV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let mut cmd = if *SETPRIV.get_or_init(|| runnable(Path::new("setpriv"))) {
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
                pending.extend_from_slice(&buf[..n]);
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
        self.child.wait().await.ok().and_then(|s| s.code())
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
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.into_iter().skip(1).map(Pid::from_raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_like_autopkgtest_cloud() {
        let cfg = RunnerConfig {
            program: "autopkgtest".into(),
            virt: vec!["null".into()],
            source_dir: None,
            extra_args: vec![],
        };
        let req = Request::parse(
            b"hello\n{\"triggers\": [\"glibc/2.39\", \"hello/1\"], \"env\": [\"A_B=c\"]}",
        )
        .expect("valid");
        let t = JobTimeouts {
            short: 1,
            install: 2,
            test: 3,
            copy: 4,
            build: 5,
            deadline: 6,
        };
        let a = args(&cfg, &req, Path::new("/tmp/out"), &t);
        assert!(a.contains(&"--apt-pocket=proposed=src:glibc,hello".to_string()));
        assert!(a.contains(&"--env=ADT_TEST_TRIGGERS=glibc/2.39 hello/1".to_string()));
        assert!(a.contains(&"--env=A_B=c".to_string()));
        assert_eq!(&a[a.len() - 3..], ["hello", "--", "null"]);
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
