//! autopkgtest's exit codes and the classes britney (and the console) put them in.

use serde::{Deserialize, Serialize};

/// An autopkgtest exit code, or one of the codes the infrastructure adds (99: denied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExitCode(pub i32);

/// What a result means to someone triaging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Pass,
    Neutral,
    Fail,
    /// 16: the testbed failed, not the package; retried, and shown apart from real failures.
    Tmpfail,
    /// 99: the infrastructure refused to run it (`never_run`).
    Denied,
}

impl ExitCode {
    pub const PASS: Self = Self(0);
    pub const PASS_SKIPPED: Self = Self(2);
    pub const FAIL: Self = Self(4);
    pub const NEUTRAL: Self = Self(8);
    pub const ERRONEOUS: Self = Self(12);
    pub const TMPFAIL: Self = Self(16);
    pub const UNEXPECTED: Self = Self(20);
    pub const DENIED: Self = Self(99);

    pub fn class(self) -> Class {
        match self.0 {
            0 | 2 => Class::Pass,
            8 => Class::Neutral,
            16 => Class::Tmpfail,
            99 => Class::Denied,
            _ => Class::Fail,
        }
    }

    /// britney's verdict: 0 and 2 PASS, 8 NEUTRAL, everything else FAIL.
    pub fn britney(self) -> &'static str {
        match self.0 {
            0 | 2 => "PASS",
            8 => "NEUTRAL",
            _ => "FAIL",
        }
    }

    pub fn describe(self) -> &'static str {
        match self.0 {
            0 => "pass",
            2 => "pass (some tests skipped)",
            4 => "fail",
            6 => "fail (some tests skipped)",
            8 => "neutral (no tests ran)",
            12 => "erroneous package",
            14 => "erroneous package (some tests skipped)",
            16 => "testbed failure (tmpfail)",
            20 => "unexpected error",
            99 => "denied by the infrastructure",
            _ => "unknown exit code",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_britney() {
        for (code, class, verdict) in [
            (0, Class::Pass, "PASS"),
            (2, Class::Pass, "PASS"),
            (4, Class::Fail, "FAIL"),
            (6, Class::Fail, "FAIL"),
            (8, Class::Neutral, "NEUTRAL"),
            (12, Class::Fail, "FAIL"),
            (16, Class::Tmpfail, "FAIL"),
            (20, Class::Fail, "FAIL"),
            (99, Class::Denied, "FAIL"),
        ] {
            assert_eq!(ExitCode(code).class(), class, "{code}");
            assert_eq!(ExitCode(code).britney(), verdict, "{code}");
        }
    }
}
