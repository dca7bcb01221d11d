//! The results database Ubuntu's britney reads (`ADT_DB_URL`): autopkgtest-cloud's sqlite schema,
//! kept current from `testcomplete.fanout` and published as a copy with its sha256.
//!
//! autopkgtest-cloud splits this between `autopkgtest-db-writer` (completions into the live
//! database) and `autopkgtest-db-publisher` (a consistent copy, published with a checksum). Here
//! [`ResultsDb`] is the writer's database and rules, [`publish`] the publisher's copy, and
//! [`service`] the `adtop results-db` loop that feeds one and runs the other.
//!
//! The fanout is open to anyone who may publish on the broker, so a completion is untrusted
//! input: whatever it holds, [`ResultsDb::record`] inserts it, skips it, or says why it ignored
//! it, and never panics.

pub mod publish;
pub mod schema;
pub mod service;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use thiserror::Error;

use crate::protocol::messages::TestComplete;

pub use service::{ServeOptions, Stop, serve};

#[derive(Debug, Error)]
pub enum DbError {
    #[error("results database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("results database I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not an autopkgtest results database: table result has columns {found:?}, expected {expected:?}"
    )]
    Schema {
        path: String,
        found: Vec<String>,
        expected: Vec<String>,
    },
    #[error("refusing to publish over the live database {0}: give another output path")]
    OverLive(String),
}

pub(crate) fn sql(path: &Path) -> impl FnOnce(rusqlite::Error) -> DbError + '_ {
    move |source| DbError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What became of one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Inserted,
    /// A result with this test and run_id, or this uuid, is already there (a redelivery, or a
    /// completion announced twice): nothing changed.
    AlreadyRecorded,
    /// Not for this database, or not well-formed; nothing changed.
    Ignored(&'static str),
}

pub const IGNORED_SWIFT_DIR: &str = "swift_dir is not release/arch/prefix/package/run_id";
/// PPA runs (`autopkgtest-<release>-<user>-<ppa>`) and private runs (`private-autopkgtest-…`):
/// britney's database holds only the distribution's own results.
pub const IGNORED_CONTAINER: &str = "container is not autopkgtest-<release> (a PPA or private run)";
/// britney only reads results it can match to a trigger.
pub const IGNORED_NO_TRIGGERS: &str = "no triggers";

/// Upper bounds on what one completion may store, in bytes. A real one is far below each; a
/// larger value is somebody's mistake or mischief, and is ignored rather than truncated (a cut
/// package name or version would be a wrong result, not a shorter one).
const MAX_NAME: usize = 64;
const MAX_PACKAGE: usize = 200;
const MAX_REQUESTER: usize = 256;
const MAX_ENV: usize = 4096;
/// Hundreds of triggers fit.
const MAX_TRIGGERS: usize = 65536;

/// One `result` row as autopkgtest-db-writer's `process_message` derives it.
#[derive(Debug)]
struct Row<'a> {
    release: &'a str,
    arch: &'a str,
    package: &'a str,
    run_id: &'a str,
    version: &'a str,
    triggers: &'a str,
    duration: i64,
    exitcode: i64,
    requester: &'a str,
    env: &'a str,
    /// None for an empty uuid (see [`ResultsDb::record`]).
    uuid: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// The writer's checks, in its order: it splits swift_dir first, then skips non-distro
    /// containers, then results without triggers.
    fn from_message(m: &'a TestComplete) -> Result<Self, &'static str> {
        let mut parts = m.swift_dir.splitn(6, '/');
        let (Some(_), Some(_), Some(_), Some(_), Some(run_id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(IGNORED_SWIFT_DIR);
        };
        if m.container.strip_prefix("autopkgtest-") != Some(m.release.as_str()) {
            return Err(IGNORED_CONTAINER);
        }
        if m.triggers.is_empty() {
            return Err(IGNORED_NO_TRIGGERS);
        }
        let requester = m.requester.trim();
        let limits = [
            (
                m.release.as_str(),
                MAX_NAME,
                "release is longer than 64 bytes",
            ),
            (
                &m.architecture,
                MAX_NAME,
                "architecture is longer than 64 bytes",
            ),
            (&m.package, MAX_PACKAGE, "package is longer than 200 bytes"),
            (
                &m.testpkg_version,
                MAX_PACKAGE,
                "testpkg_version is longer than 200 bytes",
            ),
            (run_id, MAX_NAME, "run_id is longer than 64 bytes"),
            (&m.uuid, MAX_NAME, "uuid is longer than 64 bytes"),
            (
                requester,
                MAX_REQUESTER,
                "requester is longer than 256 bytes",
            ),
            (&m.env, MAX_ENV, "env is longer than 4096 bytes"),
            (&m.triggers, MAX_TRIGGERS, "triggers are longer than 64 KiB"),
        ];
        if let Some((_, _, reason)) = limits.iter().find(|(v, max, _)| v.len() > *max) {
            return Err(reason);
        }
        Ok(Self {
            release: &m.release,
            arch: &m.architecture,
            package: &m.package,
            run_id,
            version: &m.testpkg_version,
            triggers: &m.triggers,
            // sqlite integers are i64; a duration past that is nonsense either way.
            duration: i64::try_from(m.duration).unwrap_or(i64::MAX),
            exitcode: i64::from(m.exitcode),
            requester,
            env: &m.env,
            uuid: (!m.uuid.is_empty()).then_some(m.uuid.as_str()),
        })
    }
}

/// The live database: autopkgtest-db-writer's schema and insertion rules.
pub struct ResultsDb {
    conn: Connection,
    path: PathBuf,
}

impl ResultsDb {
    /// Open or create the database at `path` (and its directory), in WAL mode, with the schema.
    /// An existing database whose `result` table is laid out otherwise is refused: inserts bind
    /// by column position.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        // An operator's sqlite3 or another reader may hold a lock for a moment.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql(path))?;
        // Before anything is changed: the schema's indexes name columns an old layout may lack,
        // and a database that is refused is left as it was.
        let found = {
            let mut st = conn
                .prepare("SELECT name FROM pragma_table_info('result') ORDER BY cid")
                .map_err(sql(path))?;
            st.query_map([], |r| r.get::<_, String>(0))
                .map_err(sql(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql(path))?
        };
        if !found.is_empty() && found != schema::RESULT_COLUMNS {
            return Err(DbError::Schema {
                path: path.display().to_string(),
                found,
                expected: schema::RESULT_COLUMNS.map(String::from).to_vec(),
            });
        }
        conn.query_row(schema::JOURNAL_MODE, [], |r| r.get::<_, String>(0))
            .map_err(sql(path))?;
        for statement in schema::LIVE {
            conn.execute_batch(statement).map_err(sql(path))?;
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record one completion, as autopkgtest-db-writer's `process_message` does, and commit.
    ///
    /// One deliberate difference: an empty uuid is stored as NULL, not `''`. `uuid` is UNIQUE,
    /// and autopkgtest-cloud's own worker sends no uuid, so with `''` every such completion after
    /// the first would count as already recorded and be lost. Two NULLs do not collide.
    pub fn record(&mut self, m: &TestComplete) -> Result<Recorded, DbError> {
        let row = match Row::from_message(m) {
            Ok(row) => row,
            Err(reason) => return Ok(Recorded::Ignored(reason)),
        };
        let path = self.path.as_path();
        // The test row and the result row commit together: a result refused as a duplicate
        // leaves no test row behind.
        let tx = self.conn.transaction().map_err(sql(path))?;
        let test_id = test_id(&tx, row.release, row.arch, row.package).map_err(sql(path))?;
        let inserted = tx
            .prepare_cached("INSERT INTO result VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
            .and_then(|mut st| {
                st.execute(params![
                    test_id,
                    row.run_id,
                    row.version,
                    row.triggers,
                    row.duration,
                    row.exitcode,
                    row.requester,
                    row.env,
                    row.uuid,
                ])
            });
        match inserted {
            Ok(_) => {
                tx.commit().map_err(sql(path))?;
                Ok(Recorded::Inserted)
            }
            // The writer's IntegrityError: the primary key (test, run_id) or the uuid is taken.
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Ok(Recorded::AlreadyRecorded)
            }
            Err(e) => Err(sql(path)(e)),
        }
    }

    /// Write the publishable copy to `dest` (see [`publish::snapshot`]); returns its sha256.
    pub fn snapshot(&self, dest: &Path) -> Result<String, DbError> {
        if same_file(dest, &self.path) {
            return Err(DbError::OverLive(self.path.display().to_string()));
        }
        publish::snapshot(&self.conn, dest)
    }
}

/// The writer caches test ids in a dictionary that grows with every package ever tested; the
/// unique index on (package, release, arch) answers the same question in microseconds and
/// cannot go stale.
fn test_id(
    tx: &rusqlite::Transaction<'_>,
    release: &str,
    arch: &str,
    package: &str,
) -> rusqlite::Result<i64> {
    let found = tx
        .prepare_cached("SELECT id FROM test WHERE package = ?1 AND release = ?2 AND arch = ?3")?
        .query_row(params![package, release, arch], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO test(id, release, arch, package) VALUES (NULL, ?1, ?2, ?3)")?
        .execute(params![release, arch, package])?;
    Ok(tx.last_insert_rowid())
}

/// Whether two paths name one file (or would: a path that does not exist yet is compared as
/// written, its directory resolved).
pub fn same_file(a: &Path, b: &Path) -> bool {
    fn resolve(p: &Path) -> PathBuf {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        match (p.parent(), p.file_name()) {
            (Some(dir), Some(name)) => dir
                .canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| p.to_path_buf()),
            _ => p.to_path_buf(),
        }
    }
    resolve(a) == resolve(b)
}

#[cfg(test)]
mod tests;
