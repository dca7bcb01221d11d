//! Per-package policy: timeouts, and the `long_tests`, `big_packages` and `never_run` lists
//! (one `pkg/arch/release` glob per line, `#` comments).

use std::path::Path;

use anyhow::{Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::Timeouts;

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub timeouts: Timeouts,
    long_tests: Option<GlobSet>,
    big_packages: Option<GlobSet>,
    never_run: Option<GlobSet>,
}

/// Timeouts for one job, in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTimeouts {
    pub short: u64,
    pub install: u64,
    pub test: u64,
    pub copy: u64,
    pub build: u64,
    /// The watchdog kills the job's whole process tree past this.
    pub deadline: u64,
}

fn load_list(path: Option<&Path>) -> Result<Option<GlobSet>> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy list {}", path.display()))?;
    Ok(Some(parse_list(&text, &path.display().to_string())?))
}

pub fn parse_list(text: &str, origin: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let glob = Glob::new(line)
            .with_context(|| format!("{origin}:{}: invalid glob {line:?}", n + 1))?;
        b.add(glob);
    }
    b.build()
        .with_context(|| format!("{origin}: cannot build glob set"))
}

impl Policy {
    pub fn load(cfg: &crate::config::WorkerConfig) -> Result<Self> {
        Ok(Self {
            timeouts: cfg.timeouts.clone(),
            long_tests: load_list(cfg.long_tests.as_deref())?,
            big_packages: load_list(cfg.big_packages.as_deref())?,
            never_run: load_list(cfg.never_run.as_deref())?,
        })
    }

    pub fn with_lists(
        timeouts: Timeouts,
        long: Option<GlobSet>,
        big: Option<GlobSet>,
        never: Option<GlobSet>,
    ) -> Self {
        Self {
            timeouts,
            long_tests: long,
            big_packages: big,
            never_run: never,
        }
    }

    fn hit(set: &Option<GlobSet>, key: &str) -> bool {
        set.as_ref().is_some_and(|s| s.is_match(key))
    }

    pub fn never_run(&self, pkg: &str, arch: &str, release: &str) -> bool {
        Self::hit(&self.never_run, &format!("{pkg}/{arch}/{release}"))
    }

    /// autopkgtest-cloud's rule: `long_tests` x4 the test timeout, `big_packages` x2.
    pub fn timeouts(&self, pkg: &str, arch: &str, release: &str) -> JobTimeouts {
        let key = format!("{pkg}/{arch}/{release}");
        let t = &self.timeouts;
        let mut test = t.test;
        let mut install = t.install;
        if Self::hit(&self.long_tests, &key) {
            test *= 4;
        }
        if Self::hit(&self.big_packages, &key) {
            test *= 2;
            install *= 2;
        }
        let derived = t.short + install + t.build + t.copy * 2 + test;
        let deadline = t.deadline.unwrap_or(derived);
        JobTimeouts {
            short: t.short,
            install,
            test,
            copy: t.copy,
            build: t.build,
            deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_scale_timeouts() {
        let long = parse_list("# long\nlibreoffice/*/*\n", "long").expect("valid");
        let never = parse_list("evil/amd64/*", "never").expect("valid");
        let p = Policy::with_lists(Timeouts::default(), Some(long), None, Some(never));
        assert_eq!(p.timeouts("libreoffice", "amd64", "noble").test, 40000);
        assert_eq!(p.timeouts("hello", "amd64", "noble").test, 10000);
        assert!(p.never_run("evil", "amd64", "noble"));
        assert!(!p.never_run("evil", "arm64", "noble"));
        assert!(
            parse_list("[", "bad.list")
                .expect_err("bad glob")
                .to_string()
                .contains("bad.list:1")
        );
    }
}
