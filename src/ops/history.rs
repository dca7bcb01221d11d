//! A package's history over any span, from the per-package index
//! (`by-package/<package>/<YYYYMMDD_HHMMSS>_<uuid>`, [`layout::package_key`]): the names say
//! package and time, so what is wanted is chosen by listing, and only the entries shown are
//! read (one GET each). An exact name is one listing; a prefix or a substring first lists the
//! package names (one listing with a delimiter), then each matching package.

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};

use crate::protocol::messages::IndexEntry;
use crate::protocol::{layout, names};
use crate::store::Store;

/// How `--package` matches source package names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PackageMatch {
    #[default]
    Exact,
    Prefix,
    Substring,
}

/// `adtop results --package P [--match HOW] [--since WHEN] [--page N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub pattern: String,
    pub how: PackageMatch,
    pub since: Option<DateTime<Utc>>,
    /// 1 is the newest page.
    pub page: usize,
}

impl Query {
    /// Page `page` of `limit` results that `filter` accepts (its package is this query's).
    /// A further page is announced on standard error.
    pub async fn read(
        &self,
        store: &Store,
        filter: &super::rules::ResultFilter,
        limit: usize,
    ) -> Result<Vec<IndexEntry>> {
        let rest = super::rules::ResultFilter {
            package: None,
            ..filter.clone()
        };
        let skip = self.page.saturating_sub(1).saturating_mul(limit);
        let (rows, more) = package_history(
            store,
            &self.pattern,
            self.how,
            self.since,
            skip,
            limit,
            |e| rest.matches(e),
        )
        .await?;
        if more {
            eprintln!(
                "adtop: more on the next page (--page {})",
                self.page.saturating_add(1)
            );
        }
        Ok(rows)
    }
}

/// Most packages a prefix or substring match reads the history of.
pub const MAX_PACKAGES: usize = 1000;

/// The packages of the per-package index that `pattern` names (their listing prefixes).
async fn packages(store: &Store, pattern: &str, how: PackageMatch) -> Result<Vec<String>> {
    let base = layout::PACKAGE_PREFIX;
    if how == PackageMatch::Exact {
        return Ok(vec![format!("{base}{pattern}/")]);
    }
    let listed_under = match how {
        PackageMatch::Prefix => format!("{base}{pattern}"),
        _ => base.to_string(),
    };
    let mut dirs = store
        .list(names::INDEX_CONTAINER, &listed_under, Some('/'))
        .await
        .context("list the per-package index")?;
    dirs.retain(|d| {
        d.ends_with('/')
            && d.strip_prefix(base)
                .is_some_and(|p| p.trim_end_matches('/').contains(pattern))
    });
    dirs.truncate(MAX_PACKAGES);
    Ok(dirs)
}

/// Entries of packages matching `pattern` that finished at or after `since`, newest first,
/// that `keep` accepts: `limit` of them after skipping `skip`. Also says whether there are more.
pub async fn package_history(
    store: &Store,
    pattern: &str,
    how: PackageMatch,
    since: Option<DateTime<Utc>>,
    skip: usize,
    limit: usize,
    keep: impl Fn(&IndexEntry) -> bool,
) -> Result<(Vec<IndexEntry>, bool)> {
    crate::store::check_name(pattern)
        .ok()
        .filter(|_| !pattern.contains('/'))
        .with_context(|| {
            format!(
                "invalid package {:?}",
                crate::protocol::sanitize::line(pattern)
            )
        })?;
    let from = since.map(|t| t.format("%Y%m%d_%H%M%S").to_string());
    // (time stamp, key): sorted newest first across packages.
    let mut keys: Vec<(String, String)> = Vec::new();
    for dir in packages(store, pattern, how).await? {
        let listed = store
            .list(names::INDEX_CONTAINER, &dir, None)
            .await
            .context("list the per-package index")?;
        for key in listed {
            let Some(stamp) = key.get(dir.len()..).and_then(|r| r.get(..15)) else {
                continue;
            };
            if from.as_deref().is_none_or(|f| stamp >= f) {
                keys.push((stamp.to_string(), key));
            }
        }
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = Vec::new();
    let mut kept = 0usize;
    for (_, key) in keys {
        let Some(data) = store.get(names::INDEX_CONTAINER, &key).await? else {
            continue;
        };
        let Ok(e) = serde_json::from_slice::<IndexEntry>(&data) else {
            continue;
        };
        if !keep(&e) {
            continue;
        }
        kept += 1;
        if kept <= skip {
            continue;
        }
        if out.len() == limit {
            return Ok((out, true));
        }
        out.push(e);
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Class;
    use crate::store::ObjectMeta;

    async fn put(store: &Store, package: &str, finished: DateTime<Utc>) -> String {
        let uuid = uuid::Uuid::new_v4().to_string();
        let e = IndexEntry {
            uuid: uuid.clone(),
            package: package.into(),
            release: "noble".into(),
            arch: "amd64".into(),
            queue: "debci-noble-amd64".into(),
            exitcode: 0,
            class: Class::Pass,
            container: "autopkgtest-noble".into(),
            swift_dir: "d".into(),
            duration: 1,
            finished,
            worker: "w".into(),
            triggers: vec![],
            requester: String::new(),
            testpkg_version: String::new(),
            body: package.into(),
            private: false,
        };
        let meta = ObjectMeta {
            content_type: None,
            content_encoding: None,
        };
        store
            .put(
                names::INDEX_CONTAINER,
                &layout::package_key(package, finished, &uuid),
                serde_json::to_vec(&e).unwrap(),
                meta,
            )
            .await
            .unwrap();
        uuid
    }

    #[tokio::test]
    async fn history_spans_any_time_matches_names_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("file://{}", dir.path().display()),
            &Default::default(),
        )
        .unwrap();
        let now = Utc::now();
        let days = |d| now - chrono::Duration::days(d);
        let old = put(&store, "hello", days(400)).await;
        let mid = put(&store, "hello", days(30)).await;
        let new = put(&store, "hello", days(0)).await;
        put(&store, "hello-extra", days(1)).await;
        put(&store, "othello", days(2)).await;
        let all = |e: &IndexEntry| !e.uuid.is_empty();
        let uuids = |v: &[IndexEntry]| v.iter().map(|e| e.uuid.clone()).collect::<Vec<_>>();

        // Exact: a year back and more, newest first.
        let (h, more) = package_history(&store, "hello", PackageMatch::Exact, None, 0, 10, all)
            .await
            .unwrap();
        assert_eq!(uuids(&h), [new.clone(), mid.clone(), old.clone()]);
        assert!(!more);
        // --since and paging.
        let since = Some(days(60));
        let (h, _) = package_history(&store, "hello", PackageMatch::Exact, since, 0, 10, all)
            .await
            .unwrap();
        assert_eq!(uuids(&h), [new.clone(), mid.clone()]);
        let (h, more) = package_history(&store, "hello", PackageMatch::Exact, None, 1, 1, all)
            .await
            .unwrap();
        assert_eq!((uuids(&h), more), (vec![mid.clone()], true));
        // Prefix and substring.
        let pkgs = |v: &[IndexEntry]| {
            let mut p: Vec<String> = v.iter().map(|e| e.package.clone()).collect();
            p.dedup();
            p
        };
        let (h, _) = package_history(&store, "hel", PackageMatch::Prefix, None, 0, 10, all)
            .await
            .unwrap();
        assert_eq!(h.len(), 4);
        assert!(!pkgs(&h).contains(&"othello".to_string()));
        let (h, _) = package_history(&store, "ello", PackageMatch::Substring, None, 0, 10, all)
            .await
            .unwrap();
        assert_eq!(h.len(), 5);
        let (h, _) = package_history(&store, "nosuch", PackageMatch::Prefix, None, 0, 10, all)
            .await
            .unwrap();
        assert!(h.is_empty());
        assert!(
            package_history(&store, "../x", PackageMatch::Exact, None, 0, 1, all)
                .await
                .is_err()
        );
    }
}
