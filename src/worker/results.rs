//! Packing an autopkgtest output directory into autopkgtest-cloud's three objects.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::protocol::layout::{
    ARTIFACTS_OBJECT, LOG_OBJECT, READABLE_BY_OBJECT, RESULT_OBJECT, RESULT_TAR_FILES,
};

pub struct Packed {
    pub log_gz: Vec<u8>,
    pub result_tar: Vec<u8>,
    pub artifacts_tar_gz: Vec<u8>,
    /// `readable-by`, uploaded as it is (autopkgtest-cloud's private-results ACL file).
    pub readable_by: Option<Vec<u8>>,
}

impl Packed {
    /// The run's objects, `result.tar` last: it is uploaded last.
    pub fn objects(self) -> Vec<(&'static str, Vec<u8>)> {
        let mut v = vec![
            (LOG_OBJECT, self.log_gz),
            (ARTIFACTS_OBJECT, self.artifacts_tar_gz),
        ];
        if let Some(r) = self.readable_by {
            v.push((READABLE_BY_OBJECT, r));
        }
        v.push((RESULT_OBJECT, self.result_tar));
        v
    }

    pub fn names(&self) -> Vec<String> {
        let mut v = vec![LOG_OBJECT.to_string(), ARTIFACTS_OBJECT.to_string()];
        if self.readable_by.is_some() {
            v.push(READABLE_BY_OBJECT.to_string());
        }
        v.push(RESULT_OBJECT.to_string());
        v
    }
}

/// `log` → log.gz (gzip -9); the small files → result.tar; `readable-by` as it is; everything
/// else → artifacts.tar.gz.
pub fn pack(dir: &Path) -> Result<Packed> {
    let readable_by = std::fs::read(dir.join(READABLE_BY_OBJECT)).ok();
    let log = std::fs::read(dir.join("log")).unwrap_or_default();
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&log).context("compress log")?;
    let log_gz = gz.finish().context("compress log")?;

    let mut result = tar::Builder::new(Vec::new());
    for name in RESULT_TAR_FILES {
        let path = dir.join(name);
        if path.is_file() {
            result
                .append_path_with_name(&path, name)
                .with_context(|| format!("add {name} to result.tar"))?;
        }
    }
    let result_tar = result.into_inner().context("finish result.tar")?;

    let mut artifacts = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    artifacts.follow_symlinks(false);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .context("read output directory")?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == "log"
            || name_str == READABLE_BY_OBJECT
            || RESULT_TAR_FILES.contains(&name_str.as_ref())
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            artifacts
                .append_dir_all(&*name_str, &path)
                .with_context(|| format!("add {name_str}/ to artifacts"))?;
        } else {
            artifacts
                .append_path_with_name(&path, &*name_str)
                .with_context(|| format!("add {name_str} to artifacts"))?;
        }
    }
    let artifacts_tar_gz = artifacts
        .into_inner()
        .context("finish artifacts")?
        .finish()
        .context("compress artifacts")?;
    Ok(Packed {
        log_gz,
        result_tar,
        artifacts_tar_gz,
        readable_by,
    })
}

/// Names of the members of a tar, for tests and `adtop results`.
pub fn tar_members(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().context("read tar")? {
        let mut entry = entry.context("read tar entry")?;
        let name = entry
            .path()
            .context("tar entry path")?
            .to_string_lossy()
            .to_string();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).context("read tar member")?;
        out.push((name, content));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_like_autopkgtest_cloud() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("log"), "the log\n").expect("write");
        std::fs::write(d.path().join("summary"), "t PASS\n").expect("write");
        std::fs::write(d.path().join("t-stdout"), "out\n").expect("write");
        std::fs::write(d.path().join("exitcode"), "0\n").expect("write");
        std::fs::write(d.path().join("duration"), "3\n").expect("write");
        let p = pack(d.path()).expect("packs");
        let members: Vec<String> = tar_members(&p.result_tar)
            .expect("tar")
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(members, ["exitcode", "duration", "summary"]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&p.log_gz[..]), &mut s)
            .expect("gunzip");
        assert_eq!(s, "the log\n");
        let gz = flate2::read::GzDecoder::new(&p.artifacts_tar_gz[..]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut { gz }, &mut raw).expect("gunzip");
        let names: Vec<String> = tar_members(&raw)
            .expect("tar")
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(names, ["t-stdout"]);
    }
}
