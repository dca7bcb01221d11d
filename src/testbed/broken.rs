//! Telling a broken testbed from a failing package: a testbed failure (exit code 16) after
//! which no test has a result. A worker that sees several in a row stops taking requests
//! instead of turning its whole queue into tmpfails (as autopkgtest-cloud's workers did).

use crate::protocol::ExitCode;
use crate::protocol::sanitize;

/// Result words autopkgtest writes after a test's name in `summary`.
const RESULTS: &[&str] = &["PASS", "FAIL", "SKIP", "FLAKY", "NEUTRAL", "BAD"];

/// `Some(error)` when this run is a testbed failure with no test run; the error is the
/// summary's or log's own line, capped and made inert for the console.
pub fn testbed_failure(code: ExitCode, summary: &str, log: &str) -> Option<String> {
    if code != ExitCode::TMPFAIL {
        return None;
    }
    let ran = summary.lines().any(|l| {
        l.split_whitespace()
            .nth(1)
            .is_some_and(|w| RESULTS.contains(&w))
    });
    if ran {
        return None;
    }
    let why = summary
        .lines()
        .chain(log.lines().rev())
        .map(str::trim)
        .find(|l| l.contains("testbed failure") || l.contains("ERROR:"))
        .map(|l| l.split_once("ERROR: ").map_or(l, |(_, r)| r))
        .unwrap_or("testbed failure (exit code 16) before any test ran");
    Some(sanitize::line(&sanitize::cap(why, 300)))
}

/// Consecutive testbed failures of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streak {
    pub count: u32,
    pub last_error: Option<String>,
}

impl Streak {
    /// Record a finished request; returns true when `limit` testbed failures in a row are
    /// reached (a limit of 0 never stops the worker).
    pub fn record(&mut self, failure: Option<String>, limit: u32) -> bool {
        match failure {
            Some(e) => {
                self.count = self.count.saturating_add(1);
                self.last_error = Some(e);
                limit > 0 && self.count >= limit
            }
            None => {
                *self = Self::default();
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tmpfail_without_results_is_a_broken_testbed() {
        let summary = "testbed failure: unexpected eof from the testbed\n";
        assert_eq!(
            testbed_failure(ExitCode(16), summary, "").as_deref(),
            Some("testbed failure: unexpected eof from the testbed")
        );
        assert_eq!(
            testbed_failure(ExitCode(16), "ok PASS\nx FAIL non-zero\n", ""),
            None
        );
        assert_eq!(testbed_failure(ExitCode(4), summary, ""), None);
        let log = "autopkgtest [1]: ERROR: testbed failure: cannot unpack \u{1b}[2J\nmore\n";
        let e = testbed_failure(ExitCode(16), "", log).expect("failure");
        assert!(e.starts_with("testbed failure: cannot unpack"), "{e}");
        assert!(!e.contains('\u{1b}'));
        assert!(testbed_failure(ExitCode(16), "", "").is_some());
    }

    #[test]
    fn a_streak_ends_with_any_other_result() {
        let mut s = Streak::default();
        assert!(!s.record(Some("a".into()), 2));
        assert!(!s.record(None, 2));
        assert!(!s.record(Some("b".into()), 2));
        assert!(s.record(Some("c".into()), 2));
        assert_eq!(s.last_error.as_deref(), Some("c"));
        let mut never = Streak::default();
        assert!(!never.record(Some("x".into()), 0));
    }
}
