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
/// Uploaded as it is when the request had `readable-by` (autopkgtest-cloud's ACL file).
pub const READABLE_BY_OBJECT: &str = "readable-by";

/// `autopkgtest-<release>`, or `autopkgtest-<release>-<lpuser>-<ppa>` for a PPA run (named by
/// the last PPA); a private run's container has `private-` in front.
pub fn container(release: &str, ppas: &[String], private: bool) -> String {
    let public = match ppas
        .last()
        .map(|p| super::request::ppa_name(p))
        .and_then(|p| p.split_once('/'))
    {
        Some((user, ppa)) => format!("autopkgtest-{release}-{user}-{ppa}"),
        None => format!("autopkgtest-{release}"),
    };
    if private {
        format!("{PRIVATE_PREFIX}{public}")
    } else {
        public
    }
}

pub const PRIVATE_PREFIX: &str = "private-";

/// Swift's read ACL that lets britney and the web pages list and read results anonymously.
pub const PUBLIC_READ_ACL: &str = ".rlistings,.r:*";

/// The read ACL of a private run's container: only that Swift user.
pub fn private_read_acl(swiftuser: &str) -> String {
    format!("*:{swiftuser}")
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

/// `<release>/<arch>/<prefix>/<pkg>/`: where a package's runs are listed (`delimiter=@`).
pub fn package_dir(release: &str, arch: &str, package: &str) -> String {
    format!("{release}/{arch}/{}/{package}/", prefix(package))
}

/// `<YYYYMMDD_HHMMSS>_<sha1(body)[:5]>@`, named when the result is stored: britney lists only runs
/// after the newest run id it knows, so a name from an earlier start would never be seen.
pub fn run_id(stored: DateTime<Utc>, hash5: &str) -> String {
    format!("{}_{hash5}@", stored.format("%Y%m%d_%H%M%S"))
}

/// `<release>/<arch>/<prefix>/<pkg>/<run_id>`: the run's directory, also the `swift_dir` of the
/// completion message (readers split it into exactly five parts).
pub fn run_dir(
    release: &str,
    arch: &str,
    package: &str,
    stored: DateTime<Utc>,
    hash5: &str,
) -> String {
    format!(
        "{}{}",
        package_dir(release, arch, package),
        run_id(stored, hash5)
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

/// Where the per-package index lives in [`super::names::INDEX_CONTAINER`].
pub const PACKAGE_PREFIX: &str = "by-package/";

/// Per-package pointer to a result's index entry: `by-package/<package>/<YYYYMMDD_HHMMSS>_<uuid>`,
/// so that a package's history over any span is one listing, in time order, read without
/// opening the entries of every other package.
pub fn package_key(package: &str, finished: DateTime<Utc>, uuid: &str) -> String {
    format!(
        "{PACKAGE_PREFIX}{package}/{}_{uuid}",
        finished.format("%Y%m%d_%H%M%S")
    )
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
        assert_eq!(container("noble", &[], false), "autopkgtest-noble");
        assert_eq!(
            container("noble", &["me/fix".into()], false),
            "autopkgtest-noble-me-fix"
        );
        assert_eq!(
            container("noble", &["bot:tok@me/fix:ABCDEF12".into()], true),
            "private-autopkgtest-noble-me-fix"
        );
        assert_eq!(
            run_dir("noble", "amd64", "hello", t, "12345")
                .split('/')
                .count(),
            5
        );
        assert_eq!(index_key(t, "u-1"), "20240501/090807_u-1");
        assert_eq!(
            package_key("hello", t, "u-1"),
            "by-package/hello/20240501_090807_u-1"
        );
    }
}
