//! Where results live: autopkgtest-cloud's Swift layout, and adtop's index.

use chrono::{DateTime, Utc};

/// Files of `result.tar`, in the order autopkgtest-cloud writes them. Only `exitcode` is
/// always present.
pub const RESULT_TAR_FILES: &[&str] = &[
    "exitcode",
    "testpkg-version",
    "duration",
    "testinfo.json",
    "requester",
    "summary",
    "testbed-packages",
];

pub const LOG_OBJECT: &str = "log.gz";
pub const RESULT_OBJECT: &str = "result.tar";
pub const ARTIFACTS_OBJECT: &str = "artifacts.tar.gz";

/// `autopkgtest-<release>`, or `autopkgtest-<release>-<lpuser>-<ppa>` for a PPA run.
pub fn container(release: &str, ppas: &[String]) -> String {
    match ppas
        .last()
        .and_then(|p| p.split(':').next())
        .and_then(|p| p.split_once('/'))
    {
        Some((user, ppa)) => format!("autopkgtest-{release}-{user}-{ppa}"),
        None => format!("autopkgtest-{release}"),
    }
}

/// `lib*` packages use the first four letters, the rest the first letter.
pub fn prefix(package: &str) -> &str {
    let n = if package.starts_with("lib") && package.len() >= 4 {
        4
    } else {
        1
    };
    package.get(..n).unwrap_or(package)
}

/// `<release>/<arch>/<prefix>/<pkg>/<YYYYMMDD_HHMMSS>_<sha1(body)[:5]>@`: the run's directory,
/// also the `swift_dir` of the completion message.
pub fn run_dir(
    release: &str,
    arch: &str,
    package: &str,
    started: DateTime<Utc>,
    hash5: &str,
) -> String {
    format!(
        "{release}/{arch}/{}/{package}/{}_{hash5}@",
        prefix(package),
        started.format("%Y%m%d_%H%M%S")
    )
}

/// Index object of one result: `<YYYYMMDD>/<HHMMSS>_<uuid>` in [`super::names::INDEX_CONTAINER`],
/// so that listing the index returns results in time order, a day at a time.
pub fn index_key(finished: DateTime<Utc>, uuid: &str) -> String {
    format!(
        "{}/{}_{uuid}",
        finished.format("%Y%m%d"),
        finished.format("%H%M%S")
    )
}

/// Pointer object for finding a result by uuid without listing anything.
pub fn uuid_key(uuid: &str) -> String {
    format!("by-uuid/{uuid}")
}

/// Audit record key, time ordered like the index.
pub fn audit_key(at: DateTime<Utc>, id: &str) -> String {
    format!("{}/{}_{id}", at.format("%Y%m%d"), at.format("%H%M%S%.3f"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn layout_matches_autopkgtest_cloud() {
        let t = Utc
            .with_ymd_and_hms(2024, 5, 1, 9, 8, 7)
            .single()
            .expect("valid date");
        assert_eq!(
            run_dir("noble", "amd64", "libpng1.6", t, "abcde"),
            "noble/amd64/libp/libpng1.6/20240501_090807_abcde@"
        );
        assert_eq!(
            run_dir("noble", "amd64", "hello", t, "12345"),
            "noble/amd64/h/hello/20240501_090807_12345@"
        );
        assert_eq!(prefix("lib"), "l");
        assert_eq!(container("noble", &[]), "autopkgtest-noble");
        assert_eq!(
            container("noble", &["me/fix".into()]),
            "autopkgtest-noble-me-fix"
        );
        assert_eq!(index_key(t, "u-1"), "20240501/090807_u-1");
    }
}
