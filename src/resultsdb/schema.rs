//! autopkgtest-cloud's results schema, statement for statement.
//!
//! The text is theirs (`autopkgtest-db-writer` and `autopkgtest-db-publisher` in
//! canonical/ubuntu-autopkgtest-operators), spaces included, so that `sqlite_master` reads the same
//! in their database and ours: britney and the web pages that query theirs query ours unchanged.

/// The live database is written while it is read (the publisher's backup, an operator's
/// `sqlite3`): WAL lets readers see the last commit without blocking the writer.
pub const JOURNAL_MODE: &str = "PRAGMA journal_mode = WAL";

/// `autopkgtest-db-writer`'s `db_connect`, in its order.
pub const LIVE: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS test (  id INTEGER PRIMARY KEY,   release CHAR[20],   arch CHAR[20],   package char[120])",
    "CREATE TABLE IF NOT EXISTS result (  test_id INTEGER,   run_id CHAR[30],   version VARCHAR[200],   triggers TEXT,   duration INTEGER,   exitcode INTEGER,   requester TEXT,   env TEXT,   uuid TEXT UNIQUE,    PRIMARY KEY(test_id, run_id),   FOREIGN KEY(test_id) REFERENCES test(id))",
    "CREATE UNIQUE INDEX IF NOT EXISTS test_package_uix ON test(  package, release, arch)",
    "CREATE INDEX IF NOT EXISTS result_run_ix ON result(  run_id desc)",
    "CREATE INDEX IF NOT EXISTS result_requester_idx ON result(requester)",
    "CREATE INDEX IF NOT EXISTS result_test_id_ix ON result(test_id);",
    "CREATE INDEX IF NOT EXISTS test_id_ix ON test(id);",
];

/// The columns of `result` in order: the writer inserts with `INSERT INTO result VALUES (…)`,
/// which binds by position, so an existing database must have exactly these.
pub const RESULT_COLUMNS: [&str; 9] = [
    "test_id",
    "run_id",
    "version",
    "triggers",
    "duration",
    "exitcode",
    "requester",
    "env",
    "uuid",
];

/// What `autopkgtest-db-publisher` adds to the published copy. It fills `current_version` from
/// the archive's Sources.gz and `url_last_checked` with their fetch times; adtop has no archive
/// to read, so both stay empty, but they exist for the readers that join or select on them.
pub const PUBLISHED: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS current_version(  release CHAR[20],   pocket CHAR[40],   component CHAR[10],  package CHAR[50],   version CHAR[120],   PRIMARY KEY(release, package))",
    "CREATE INDEX IF NOT EXISTS current_version_pocket_ix ON current_version(pocket, component)",
    "CREATE TABLE IF NOT EXISTS url_last_checked(  url CHAR[100],   timestamp CHAR[50],   PRIMARY KEY(url))",
];

/// The published copy is downloaded and opened elsewhere, often read-only: it must not be a WAL
/// database (whose readers need to create `-shm` beside it). A backup keeps the source's WAL
/// flag in the file header; leaving WAL for a rollback journal clears it. MEMORY, as the
/// publisher does: the copy is thrown away if writing it fails, so it needs no journal file.
pub const PUBLISHED_JOURNAL_MODE: &str = "PRAGMA journal_mode = MEMORY";
