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

impl Class {
    /// A real failure of the package: what "failures" means to the console's filter and to
    /// `adtop results --failures`. A tmpfail is the testbed's failure, not the package's, and
    /// is filtered on its own; denied is the infrastructure's refusal.
    pub fn is_failure(self) -> bool {
        self == Class::Fail
    }

    /// The class's wire name (`pass`, `neutral`, `fail`, `tmpfail`, `denied`).
    pub fn label(self) -> &'static str {
        match self {
            Class::Pass => "pass",
            Class::Neutral => "neutral",
            Class::Fail => "fail",
            Class::Tmpfail => "tmpfail",
            Class::Denied => "denied",
        }
    }
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

    /// autopkgtest's codes for a real failure of the package (4, 6, 12, 14): what a retried
    /// result must have been every time to stay a failure rather than a tmpfail.
    pub fn is_package_failure(self) -> bool {
        matches!(self.0, 4 | 6 | 12 | 14)
    }

    /// The codes that are not a failure of any kind (pass, neutral, denied): the worker retries
    /// none of them.
    pub fn is_settled(self) -> bool {
        matches!(self.class(), Class::Pass | Class::Neutral | Class::Denied)
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
            assert_eq!(ExitCode(code).class().is_failure(), class == Class::Fail);
            assert_eq!(
                serde_json::to_value(class).unwrap().as_str(),
                Some(class.label())
            );
        }
        for code in [0, 2, 8, 99] {
            assert!(ExitCode(code).is_settled(), "{code}");
        }
        for code in [4, 6, 12, 14, 16, 20] {
            assert!(!ExitCode(code).is_settled(), "{code}");
        }
    }
}
