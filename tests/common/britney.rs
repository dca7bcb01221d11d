//! Independent readers of adtop's results that follow britney2-ubuntu's own algorithms, written
//! from its code (`britney2/policies/autopkgtest.py`), not from adtop's: one lists Swift
//! anonymously the way `fetch_swift_results`/`fetch_one_result` do, one reads the results
//! database the way britney does with `ADT_DB_URL`.

use std::collections::BTreeMap;

use sha2::Digest;

/// britney's classes: 0 and 2 pass, 8 neutral, anything else fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Neutral,
    Fail,
}

impl Verdict {
    pub fn of(exitcode: i64) -> Self {
        match exitcode {
            0 | 2 => Self::Pass,
            8 => Self::Neutral,
            _ => Self::Fail,
        }
    }
}

/// One result as britney keeps it: trigger -> src -> arch -> (verdict, version, run id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub verdict: Verdict,
    pub version: String,
    pub run_id: String,
}

pub type Results = BTreeMap<(String, String, String), Seen>;

/// `add_trigger_to_results`: a pass is never replaced by a later non-pass, except for the
/// baseline (britney's `adt_baseline = reference`).
fn add(results: &mut Results, trigger: &str, src: &str, arch: &str, seen: Seen) {
    let key = (trigger.to_string(), src.to_string(), arch.to_string());
    let replace = match results.get(&key) {
        None => true,
        Some(old) => {
            seen.verdict == Verdict::Pass
                || old.verdict != Verdict::Pass
                || trigger == "migration-reference/0"
        }
    };
    if replace {
        results.insert(key, seen);
    }
}

fn srchash(src: &str) -> &str {
    if src.starts_with("lib") {
        src.get(..4).unwrap_or(src)
    } else {
        src.get(..1).unwrap_or(src)
    }
}

/// britney reading Swift anonymously: `ADT_SWIFT_URL` is the storage URL, the container is
/// `autopkgtest-<series>`.
pub struct SwiftReader {
    pub swift_url: String,
    pub series: String,
    pub results: Results,
    /// What britney logged as "does not exist yet or is inaccessible" (a 401).
    pub inaccessible: Vec<String>,
    /// Results britney would log as damaged and ignore.
    pub damaged: Vec<String>,
}

impl SwiftReader {
    pub fn new(swift_url: &str, series: &str) -> Self {
        Self {
            swift_url: swift_url.trim_end_matches('/').to_string(),
            series: series.to_string(),
            results: Results::new(),
            inaccessible: Vec::new(),
            damaged: Vec::new(),
        }
    }

    fn container(&self) -> String {
        format!("autopkgtest-{}", self.series)
    }

    /// `latest_run_for_package`: the newest run id of src/arch among the results kept.
    fn latest_run(&self, src: &str, arch: &str) -> String {
        self.results
            .iter()
            .filter(|((_, s, a), _)| s == src && a == arch)
            .map(|(_, r)| r.run_id.clone())
            .max()
            .unwrap_or_default()
    }

    /// `fetch_swift_results(swift_url, src, arch)`.
    pub async fn fetch(&mut self, src: &str, arch: &str) {
        let prefix = format!("{}/{arch}/{}/{src}/", self.series, srchash(src));
        let mut query = vec![("delimiter", "@".to_string()), ("prefix", prefix.clone())];
        let latest = self.latest_run(src, arch);
        if !latest.is_empty() {
            query.push(("marker", format!("{prefix}{latest}")));
        }
        let url = format!("{}/{}", self.swift_url, self.container());
        let resp = super::swift::client()
            .get(&url)
            .query(&query)
            .send()
            .await
            .expect("Swift answers");
        let paths: Vec<String> = match resp.status().as_u16() {
            200 => resp
                .text()
                .await
                .expect("listing")
                .lines()
                .map(str::to_string)
                .collect(),
            204 => Vec::new(),
            401 => {
                self.inaccessible.push(url);
                return;
            }
            s => panic!("britney would exit: listing {url} answered {s}"),
        };
        for p in paths {
            let url = format!("{}/{}/{p}/result.tar", self.swift_url, self.container());
            self.fetch_one(&url, src, arch).await;
        }
    }

    /// `fetch_one_result(url, src, arch)`.
    async fn fetch_one(&mut self, url: &str, src: &str, arch: &str) {
        let resp = super::swift::client()
            .get(url)
            .send()
            .await
            .expect("Swift answers");
        match resp.status().as_u16() {
            200 => {}
            // "something went wrong on uploading the result": tolerated.
            404 => return,
            s => panic!("britney would exit: {url} answered {s}"),
        }
        let tar = resp.bytes().await.expect("result.tar");
        let members: BTreeMap<String, Vec<u8>> = match adtop::worker::results::tar_members(&tar) {
            Ok(m) => m.into_iter().collect(),
            Err(e) => {
                self.damaged.push(format!("{url}: {e}"));
                return;
            }
        };
        let text = |name: &str| {
            members
                .get(name)
                .map(|d| String::from_utf8_lossy(d).trim().to_string())
        };
        let Some(exitcode) = text("exitcode").and_then(|e| e.parse::<i64>().ok()) else {
            self.damaged.push(format!("{url}: no exitcode"));
            return;
        };
        let srcver = match text("testpkg-version") {
            Some(v) => v,
            None if [4, 12, 20].contains(&exitcode) => format!("{src} unknown"),
            None => {
                self.damaged.push(format!("{url}: no testpkg-version"));
                return;
            }
        };
        let words: Vec<&str> = srcver.split_whitespace().collect();
        let [ressrc, ver] = words[..] else {
            self.damaged
                .push(format!("{url}: testpkg-version {srcver:?}"));
            return;
        };
        let Some(info) =
            text("testinfo.json").and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            self.damaged.push(format!("{url}: no testinfo.json"));
            return;
        };
        if ressrc != src {
            self.damaged.push(format!("{url}: result for {ressrc}"));
            return;
        }
        let triggers: Option<Vec<String>> = info["custom_environment"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str())
            .find_map(|e| e.strip_prefix("ADT_TEST_TRIGGERS="))
            .map(|t| {
                t.split_whitespace()
                    .filter(|t| t.contains('/'))
                    .map(str::to_string)
                    .collect()
            });
        let Some(triggers) = triggers else {
            self.damaged.push(format!("{url}: no ADT_TEST_TRIGGERS"));
            return;
        };
        // run_id = basename(dirname(url))
        let run_id = url
            .rsplit('/')
            .nth(1)
            .expect("url has a run directory")
            .to_string();
        for t in triggers {
            add(
                &mut self.results,
                &t,
                src,
                arch,
                Seen {
                    verdict: Verdict::of(exitcode),
                    version: ver.to_string(),
                    run_id: run_id.clone(),
                },
            );
        }
    }
}

/// britney reading the results database from `ADT_DB_URL` (and `ADT_DB_URL.sha256`).
pub struct DbReader {
    pub db_url: String,
    pub series: String,
    pub results: Results,
    latest: String,
}

impl DbReader {
    pub fn new(db_url: &str, series: &str) -> Self {
        Self {
            db_url: db_url.to_string(),
            series: series.to_string(),
            results: Results::new(),
            latest: String::new(),
        }
    }

    /// Download the database (checked against its .sha256) and take every result newer than
    /// the newest run id seen so far. Returns false while the pair is not there or does not match.
    pub async fn fetch(&mut self) -> bool {
        let get = |url: String| async move {
            let r = super::swift::client().get(&url).send().await.ok()?;
            if r.status().is_success() {
                r.bytes().await.ok().map(|b| b.to_vec())
            } else {
                None
            }
        };
        let (Some(db), Some(sum)) = (
            get(self.db_url.clone()).await,
            get(format!("{}.sha256", self.db_url)).await,
        ) else {
            return false;
        };
        if hex::encode(sha2::Sha256::digest(&db)) != String::from_utf8_lossy(&sum).trim() {
            return false;
        }
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), &db).expect("write db");
        let conn = rusqlite::Connection::open(file.path()).expect("sqlite database");
        let mut stmt = conn
            .prepare(
                "SELECT t.package, t.arch, r.run_id, r.version, r.triggers, r.exitcode \
                 FROM test AS t JOIN result AS r ON r.test_id = t.id \
                 WHERE t.release = ?1 AND r.run_id > ?2 ORDER BY r.run_id",
            )
            .expect("britney's query");
        let rows: Vec<(String, String, String, String, String, i64)> = stmt
            .query_map(rusqlite::params![self.series, self.latest], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (src, arch, run_id, version, triggers, exitcode) in rows {
            if run_id > self.latest {
                self.latest = run_id.clone();
            }
            for t in triggers.split_whitespace() {
                add(
                    &mut self.results,
                    t,
                    &src,
                    &arch,
                    Seen {
                        verdict: Verdict::of(exitcode),
                        version: version.clone(),
                        run_id: run_id.clone(),
                    },
                );
            }
        }
        true
    }
}
