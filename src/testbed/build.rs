//! Building a testbed tarball with mmdebstrap, into a temporary file next to the final one that
//! is renamed over it only when the build succeeded: a test that opened the old tarball keeps
//! reading it (autopkgtest-virt-unshare unpacks it by path at the start of each test), and no
//! test ever sees half a tarball.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::Utc;

use super::TestbedError;
use super::registry::Entry;
use crate::protocol::sanitize;

/// What every testbed holds, so autopkgtest can build a source package in it without
/// fetching the toolchain for every test.
pub const BASE_INCLUDE: &[&str] = &["build-essential", "debhelper"];

/// How to build one testbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub release: String,
    pub arch: String,
    pub mirror: Option<String>,
    /// Packages besides [`BASE_INCLUDE`].
    pub include: Vec<String>,
    pub output: PathBuf,
}

impl Spec {
    /// The spec an existing testbed was built with, for `update`.
    pub fn of(e: &Entry) -> Self {
        Self {
            release: e.release.clone(),
            arch: e.arch.clone(),
            mirror: e.mirror.clone(),
            include: e.include.clone(),
            output: e.path.clone(),
        }
    }

    /// `<dir>/<release>-<arch>.tar.gz`.
    pub fn default_output(dir: &Path, release: &str, arch: &str) -> PathBuf {
        dir.join(format!("{release}-{arch}.tar.gz"))
    }

    fn packages(&self) -> String {
        let mut all: Vec<&str> = BASE_INCLUDE.to_vec();
        for p in &self.include {
            if !all.contains(&p.as_str()) {
                all.push(p);
            }
        }
        all.join(",")
    }

    /// The mmdebstrap command line writing to `target`: the `apt` variant (essential packages
    /// and apt, as autopkgtest's own image builders use), the build toolchain, and the mirror.
    pub fn args(&self, target: &Path) -> Vec<String> {
        let mut a = vec![
            "--variant=apt".to_string(),
            format!("--architectures={}", self.arch),
            format!("--include={}", self.packages()),
            self.release.clone(),
            target.display().to_string(),
        ];
        a.extend(self.mirror.iter().cloned());
        a
    }
}

/// Names autopkgtest and mmdebstrap accept for a release or an architecture; they end up in
/// file names and command lines.
pub fn check_name(what: &'static str, value: &str) -> Result<(), TestbedError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        && !value.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(TestbedError::BadName {
            what,
            value: sanitize::line(&sanitize::cap(value, 80)),
        })
    }
}

/// Build the tarball `spec` describes; `progress` sees each line mmdebstrap prints. Returns
/// the registry entry for it (not yet saved).
pub fn build(spec: &Spec, progress: &mut dyn FnMut(&str)) -> Result<Entry, TestbedError> {
    check_name("release", &spec.release)?;
    check_name("architecture", &spec.arch)?;
    let dir = spec
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| TestbedError::io(&dir, e))?;
    let file_name = spec
        .output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "testbed.tar.gz".into());
    // Same directory (so the rename is atomic), same ending (mmdebstrap picks the format by it).
    let ending = [".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar"]
        .into_iter()
        .find(|x| file_name.ends_with(x))
        .unwrap_or(".tar.gz");
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}.building-"))
        .suffix(ending)
        .tempfile_in(&dir)
        .map_err(|e| TestbedError::io(&dir, e))?
        .into_temp_path();
    let mut child = Command::new("mmdebstrap")
        .args(spec.args(&tmp))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TestbedError::MissingTool {
                tool: "mmdebstrap",
                hint: "apt-get install mmdebstrap",
            },
            _ => TestbedError::io(Path::new("mmdebstrap"), e),
        })?;
    // The last lines explain a failure; the rest only feed the progress display.
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    if let Some(err) = child.stderr.take() {
        for line in std::io::BufReader::new(err)
            .split(b'\n')
            .map_while(Result::ok)
        {
            let line = sanitize::line(&String::from_utf8_lossy(&line)).to_string();
            progress(&line);
            if tail.len() == 20 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| TestbedError::io(Path::new("mmdebstrap"), e))?;
    if !status.success() {
        return Err(TestbedError::BuildFailed {
            release: spec.release.clone(),
            status: status.code().unwrap_or(-1),
            tail: Vec::from(tail).join("\n"),
        });
    }
    let size = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    tmp.persist(&spec.output)
        .map_err(|e| TestbedError::io(&spec.output, e.error))?;
    Ok(Entry {
        release: spec.release.clone(),
        arch: spec.arch.clone(),
        path: std::path::absolute(&spec.output).unwrap_or_else(|_| spec.output.clone()),
        built: Utc::now(),
        mirror: spec.mirror.clone(),
        include: spec.include.clone(),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmdebstrap_command_line() {
        let s = Spec {
            release: "bookworm".into(),
            arch: "amd64".into(),
            mirror: Some("http://deb.debian.org/debian".into()),
            include: vec!["debhelper".into(), "python3".into()],
            output: "/tb/bookworm-amd64.tar.gz".into(),
        };
        assert_eq!(
            s.args(Path::new("/tb/x.tar.gz")),
            [
                "--variant=apt",
                "--architectures=amd64",
                "--include=build-essential,debhelper,python3",
                "bookworm",
                "/tb/x.tar.gz",
                "http://deb.debian.org/debian"
            ]
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("release", "bookworm").is_ok());
        assert!(check_name("release", "noble-proposed").is_ok());
        for bad in ["", "../etc", "-x", "a b", "a/b", "\u{1b}[2J"] {
            let e = check_name("release", bad).expect_err(bad);
            assert!(!e.to_string().contains('\u{1b}'), "{e}");
        }
    }
}
