//! Deciding whether a finished attempt is final or retried, with autopkgtest-cloud's rules.

use crate::protocol::ExitCode;

/// Log strings that mean the infrastructure, not the package, failed.
const TEMPORARY: &[&str] = &[
    "Temporary failure resolving",
    "Temporary failure in name resolution",
    "No space left on device",
    "Clock skew detected",
    "Could not connect to ftpmaster",
    "Hash Sum mismatch",
    "Unable to connect to",
    // Another dpkg user (unattended-upgrades, a previous run's teardown) held the lock.
    "dpkg frontend lock was locked by another process",
    "Could not get lock",
];

/// Log strings that mean a real failure even when autopkgtest said "testbed failure".
const REAL_FAILURE: &[&str] = &["Kernel panic", "Out of memory", "Call Trace", "oom-killer"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Final,
    Retry(&'static str),
}

/// One attempt's outcome: `has_version` says whether `testpkg-version` was written.
pub fn judge(code: ExitCode, has_version: bool, log: &str) -> Verdict {
    let failed = !matches!(code.0, 0 | 2 | 8 | 99);
    if !failed {
        return Verdict::Final;
    }
    if code == ExitCode::TMPFAIL {
        return if REAL_FAILURE.iter().any(|s| log.contains(s)) {
            Verdict::Final
        } else {
            Verdict::Retry("testbed failure")
        };
    }
    if TEMPORARY.iter().any(|s| log.contains(s)) {
        return Verdict::Retry("temporary infrastructure error in the log");
    }
    if !has_version {
        return Verdict::Retry("failed before the package version was known");
    }
    Verdict::Final
}

/// After the last attempt: a real failure stays a failure only if every attempt was one.
pub fn exhausted(codes: &[ExitCode]) -> ExitCode {
    if codes.iter().all(|c| matches!(c.0, 4 | 6 | 12 | 14)) {
        ExitCode::FAIL
    } else {
        ExitCode::TMPFAIL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(judge(ExitCode(0), true, ""), Verdict::Final);
        assert_eq!(judge(ExitCode(4), true, "real bug"), Verdict::Final);
        assert!(matches!(judge(ExitCode(4), false, ""), Verdict::Retry(_)));
        assert!(matches!(
            judge(ExitCode(4), true, "E: No space left on device"),
            Verdict::Retry(_)
        ));
        assert!(matches!(
            judge(ExitCode(16), true, "boom"),
            Verdict::Retry(_)
        ));
        assert_eq!(
            judge(ExitCode(16), true, "Kernel panic - not syncing"),
            Verdict::Final
        );
        assert_eq!(
            exhausted(&[ExitCode(4), ExitCode(4), ExitCode(4)]),
            ExitCode::FAIL
        );
        assert_eq!(
            exhausted(&[ExitCode(16), ExitCode(4), ExitCode(4)]),
            ExitCode::TMPFAIL
        );
    }
}
