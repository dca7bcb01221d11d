//! A runner must not outlive its worker: once the worker is killed outright nothing watches the
//! test, and autopkgtest should be told to stop (SIGTERM lets it tear its testbed down).
//!
//! One small `sh` per worker process, started with the first job, holds the pids of the
//! running runners. It reads them from a pipe only the worker holds; when the worker dies,
//! however it dies, the kernel closes that pipe and the watcher sends each runner SIGTERM,
//! as `PR_SET_PDEATHSIG` would. Setting that signal needs code in the child: a `pre_exec` hook
//! (a `fork` of the whole worker, about 4 ms here) or `setpriv` (a second exec, about 1.2 ms
//! and 1.1 ms of CPU per job); the watcher costs a write of a line per job instead, and runners
//! are spawned with `posix_spawn` straight away. Where no watcher can be started, the caller
//! falls back to `setpriv`.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// Keeps the last list of pids it was sent; at end of input, signals them. It ignores the
/// signals a terminal or a service manager sends to the worker's group: it lives until the
/// worker's end of the pipe closes, and no longer.
const SCRIPT: &str = "trap '' HUP INT QUIT TERM PIPE
c=
while read -r l; do c=$l; done
for p in $c; do kill -TERM \"$p\" 2>/dev/null; done
";

struct Watcher {
    child: Child,
    stdin: ChildStdin,
}

struct State {
    watcher: Option<Watcher>,
    pids: BTreeSet<u32>,
}

static STATE: Mutex<State> = Mutex::new(State {
    watcher: None,
    pids: BTreeSet::new(),
});

fn start() -> std::io::Result<Watcher> {
    let mut child = Command::new("/bin/sh")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Not in the worker's group: a Ctrl-C meant for the worker must not end its watcher.
        .process_group(0)
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no pipe to the watcher"))?;
    Ok(Watcher { child, stdin })
}

/// Send the current list; a watcher that is gone (killed by someone) is reaped and replaced.
fn send(s: &mut State) -> std::io::Result<()> {
    let line = s
        .pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
        + "\n";
    for _ in 0..2 {
        if s.watcher.is_none() {
            s.watcher = Some(start()?);
        }
        let Some(w) = s.watcher.as_mut() else {
            continue;
        };
        match w.stdin.write_all(line.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(_) => {
                if let Some(mut gone) = s.watcher.take() {
                    let _ = gone.child.kill();
                    let _ = gone.child.wait();
                }
            }
        }
    }
    Err(std::io::Error::other("the runner watcher keeps failing"))
}

/// Is a watcher running (started now if not)? When false, protect the runner another way.
pub fn ready() -> bool {
    let Ok(mut s) = STATE.lock() else {
        return false;
    };
    if s.watcher.is_some() {
        return true;
    }
    send(&mut s).is_ok()
}

/// SIGTERM `pid` if the worker dies before [`forget`] is called for it.
pub fn watch(pid: u32) -> std::io::Result<()> {
    let mut s = STATE
        .lock()
        .map_err(|_| std::io::Error::other("runner watcher lock poisoned"))?;
    s.pids.insert(pid);
    send(&mut s)
}

/// `pid` was reaped (or is about to be): the watcher must not signal it, or whatever reuses it.
pub fn forget(pid: u32) {
    if let Ok(mut s) = STATE.lock()
        && s.pids.remove(&pid)
    {
        let _ = send(&mut s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_process_is_signalled_when_the_pipe_closes() {
        // A watcher of its own, so that the process-wide one is left alone.
        let mut w = start().expect("watcher");
        let mut victim = Command::new("sleep").arg("30").spawn().expect("sleep");
        writeln!(w.stdin, "{}", victim.id()).expect("tell the watcher");
        drop(w.stdin);
        let status = victim.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15),
            "{status:?}"
        );
        let _ = w.child.wait();
    }
}
