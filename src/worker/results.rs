//! Packing an autopkgtest output directory into autopkgtest-cloud's three objects.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::protocol::layout::{
    ARTIFACTS_OBJECT, LOG_OBJECT, READABLE_BY_OBJECT, RESULT_OBJECT, RESULT_TAR_FILES,
};

/// What [`pack`] wrote, as object names in upload order (`result.tar` last).
pub fn object_names(readable_by: bool) -> Vec<String> {
    let mut v = vec![LOG_OBJECT.to_string(), ARTIFACTS_OBJECT.to_string()];
    if readable_by {
        v.push(READABLE_BY_OBJECT.to_string());
    }
    v.push(RESULT_OBJECT.to_string());
    v
}

/// Pack the output directory `dir` into `into`: `log` → `log.gz` (gzip -9); the small files
/// → `result.tar`; `readable-by` as it is; everything else → `artifacts.tar.gz`. Every object
/// is streamed from file to file, so memory does not grow with the size of a log or an
/// artifact. Blocking (compression): run it off the async threads. Returns the object names.
pub fn pack(dir: &Path, into: &Path) -> Result<Vec<String>> {
    let readable_by = dir.join(READABLE_BY_OBJECT);
    let has_readable_by = readable_by.is_file();
    if has_readable_by {
        std::fs::copy(&readable_by, into.join(READABLE_BY_OBJECT)).context("copy readable-by")?;
    }

    let create = |name: &str| {
        File::create(into.join(name))
            .with_context(|| format!("create {}", into.join(name).display()))
    };
    let mut gz = GzEncoder::new(BufWriter::new(create(LOG_OBJECT)?), Compression::best());
    match File::open(dir.join("log")) {
        Ok(mut log) => {
            std::io::copy(&mut log, &mut gz).context("compress log")?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("read log"),
    }
    gz.finish()
        .context("compress log")?
        .flush()
        .context("write log.gz")?;

    let mut result = tar::Builder::new(BufWriter::new(create(RESULT_OBJECT)?));
    for name in RESULT_TAR_FILES {
        let path = dir.join(name);
        if path.is_file() {
            result
                .append_path_with_name(&path, name)
                .with_context(|| format!("add {name} to result.tar"))?;
        }
    }
    result
        .into_inner()
        .context("finish result.tar")?
        .flush()
        .context("write result.tar")?;

    let mut artifacts = tar::Builder::new(GzEncoder::new(
        BufWriter::new(create(ARTIFACTS_OBJECT)?),
        Compression::default(),
    ));
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
    artifacts
        .into_inner()
        .context("finish artifacts")?
        .finish()
        .context("compress artifacts")?
        .flush()
        .context("write artifacts.tar.gz")?;
    Ok(object_names(has_readable_by))
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
        let into = tempfile::tempdir().expect("tempdir");
        let names = pack(d.path(), into.path()).expect("packs");
        assert_eq!(names, ["log.gz", "artifacts.tar.gz", "result.tar"]);
        let read = |n: &str| std::fs::read(into.path().join(n)).expect("packed object");
        let members: Vec<String> = tar_members(&read("result.tar"))
            .expect("tar")
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(members, ["exitcode", "duration", "summary"]);
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&read("log.gz")[..]),
            &mut s,
        )
        .expect("gunzip");
        assert_eq!(s, "the log\n");
        let artifacts = read("artifacts.tar.gz");
        let gz = flate2::read::GzDecoder::new(&artifacts[..]);
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
