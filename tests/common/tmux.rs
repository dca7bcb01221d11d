//! The console run as a person runs it: in tmux, keys typed with send-keys, the screen read
//! with capture-pane.

use std::process::Command;
use std::time::Duration;

pub struct Tmux(pub String);

impl Tmux {
    pub fn start(name: &str, cmd: &str) -> Self {
        Self::start_sized(name, cmd, 180, 45)
    }

    /// A window of `width` x `height`, e.g. the 80x24 of many SSH sessions.
    pub fn start_sized(name: &str, cmd: &str, width: u16, height: u16) -> Self {
        let (w, h) = (width.to_string(), height.to_string());
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", name, "-x", &w, "-y", &h, cmd])
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux new-session");
        Self(name.to_string())
    }
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["send-keys", "-t", &self.0, k])
                .status()
                .expect("send-keys");
            // Keys typed at a person's pace: the console reads them one event at a time.
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&str) -> bool,
    ) -> String {
        let until = std::time::Instant::now() + timeout;
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                std::time::Instant::now() < until,
                "timed out waiting for {what}; screen:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await; // poll
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// The READY column of `queue`'s row on the Queues screen.
pub fn ready(screen: &str, queue: &str) -> Option<u64> {
    screen.lines().find(|l| l.contains(queue)).and_then(|l| {
        let mut words = l.split_whitespace().skip_while(|w| !w.contains(queue));
        words.nth(1).and_then(|w| w.parse().ok())
    })
}
