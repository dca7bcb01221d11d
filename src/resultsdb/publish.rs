//! The published copy, as autopkgtest-db-publisher makes it: a backup of the live database with
//! the publisher's tables added, its sha256 beside it, both renamed into place.
//!
//! Readers (britney, mirrors of the file) fetch the database and `<name>.sha256` and compare: a
//! copy is only ever replaced whole, so a reader sees the old pair, the new pair, or a mismatch
//! it retries on, never half a database.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};
use sha2::{Digest, Sha256};

use super::{DbError, io, schema, sql};

/// `path` with `suffix` appended to its file name (`autopkgtest.db` → `autopkgtest.db.new`).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// The checksum file of a published database: `<dest>.sha256`.
pub fn checksum_path(dest: &Path) -> PathBuf {
    beside(dest, ".sha256")
}

/// Lowercase hex sha256 of `data`, the `.sha256` file's whole content (no newline, no name).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Lowercase hex sha256 of a file, read in pieces (a results database can be large).
pub fn sha256_file(path: &Path) -> Result<String, DbError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok(hex::encode(h.finalize()))
}

/// Copy `src` into `dest` for publication and return the copy's sha256.
///
/// In the publisher's order: the copy is built in `dest.new`; the checksum is written to
/// `dest.sha256.new`; then the checksum is renamed into place, then the database. Each file is
/// synced before its rename so that a crash leaves the old file or the new one, never an empty
/// one under the real name.
pub fn snapshot(src: &Connection, dest: &Path) -> Result<String, DbError> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let new = beside(dest, ".new");
    let sum = checksum_path(dest);
    let sum_new = beside(&sum, ".new");
    // Leftovers of an interrupted run: the backup must start from an empty file.
    for leftover in [&new, &sum_new] {
        match std::fs::remove_file(leftover) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(leftover)(e)),
            _ => {}
        }
    }
    let built = build(src, &new);
    if let Err(e) = built {
        let _ = std::fs::remove_file(&new);
        return Err(e);
    }
    let sha = sha256_file(&new)?;
    let mut f = std::fs::File::create(&sum_new).map_err(io(&sum_new))?;
    f.write_all(sha.as_bytes()).map_err(io(&sum_new))?;
    f.sync_all().map_err(io(&sum_new))?;
    drop(f);
    std::fs::rename(&sum_new, &sum).map_err(io(&sum))?;
    std::fs::rename(&new, dest).map_err(io(dest))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        // The renames themselves; a failure here only costs durability, not consistency.
        let _ = d.sync_all();
    }
    Ok(sha)
}

/// The backup plus the publisher's tables, in `path`, closed and synced.
fn build(src: &Connection, path: &Path) -> Result<(), DbError> {
    let mut dst = Connection::open(path).map_err(sql(path))?;
    {
        let backup = Backup::new(src, &mut dst).map_err(sql(path))?;
        // All pages in one step: one read transaction on the source, so the copy is one
        // consistent state of it (several steps restart when the source changes in between).
        loop {
            match backup.step(-1).map_err(sql(path))? {
                StepResult::Done => break,
                StepResult::More => continue,
                // Busy or Locked: the caller owns the only writer, so this is another
                // process's lock on the live file. The next publish tries again.
                _ => {
                    return Err(sql(path)(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the live database is locked; no copy taken".into()),
                    )));
                }
            }
        }
    }
    dst.query_row(schema::PUBLISHED_JOURNAL_MODE, [], |r| {
        r.get::<_, String>(0)
    })
    .map_err(sql(path))?;
    for statement in schema::PUBLISHED {
        dst.execute_batch(statement).map_err(sql(path))?;
    }
    dst.close().map_err(|(_, e)| sql(path)(e))?;
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}
