use rusqlite::Connection;

use super::*;

/// A distribution completion of `package` on `release`/amd64, as adtop's worker sends it.
pub(super) fn complete(package: &str, release: &str, swift_dir: &str) -> TestComplete {
    TestComplete {
        architecture: "amd64".into(),
        container: format!("autopkgtest-{release}"),
        duration: 42,
        exitcode: 4,
        package: package.into(),
        testpkg_version: "1.0-1".into(),
        release: release.into(),
        requester: "  someone \n".into(),
        swift_dir: swift_dir.into(),
        triggers: format!("{package}/1.0-1 glibc/2.39-0ubuntu1"),
        env: "all-proposed=1".into(),
        uuid: uuid::Uuid::new_v4().to_string(),
        adtop: None,
    }
}

fn run(n: u32) -> String {
    format!("noble/amd64/h/hello/2024010{n}_000000_abcde@")
}

fn open() -> (tempfile::TempDir, ResultsDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ResultsDb::open(&dir.path().join("sub/live.db")).expect("open");
    (dir, db)
}

fn count(db: &ResultsDb, table: &str) -> i64 {
    db.conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

fn master(conn: &Connection) -> Vec<(String, String, String, Option<String>)> {
    let mut st = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn schema_is_autopkgtest_clouds() {
    // autopkgtest-db-writer's statements, copied here independently of schema.rs.
    let theirs = Connection::open_in_memory().expect("memory db");
    for s in [
        "CREATE TABLE IF NOT EXISTS test (  id INTEGER PRIMARY KEY,   release CHAR[20],   arch CHAR[20],   package char[120])",
        "CREATE TABLE IF NOT EXISTS result (  test_id INTEGER,   run_id CHAR[30],   version VARCHAR[200],   triggers TEXT,   duration INTEGER,   exitcode INTEGER,   requester TEXT,   env TEXT,   uuid TEXT UNIQUE,    PRIMARY KEY(test_id, run_id),   FOREIGN KEY(test_id) REFERENCES test(id))",
        "CREATE UNIQUE INDEX IF NOT EXISTS test_package_uix ON test(  package, release, arch)",
        "CREATE INDEX IF NOT EXISTS result_run_ix ON result(  run_id desc)",
        "CREATE INDEX IF NOT EXISTS result_requester_idx ON result(requester)",
        "CREATE INDEX IF NOT EXISTS result_test_id_ix ON result(test_id);",
        "CREATE INDEX IF NOT EXISTS test_id_ix ON test(id);",
    ] {
        theirs.execute_batch(s).expect("their statement");
    }
    let (_dir, db) = open();
    assert_eq!(master(&db.conn), master(&theirs));
    let test_sql: String = db
        .conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'test'",
            [],
            |r| r.get(0),
        )
        .expect("test table");
    assert_eq!(
        test_sql,
        "CREATE TABLE test (  id INTEGER PRIMARY KEY,   release CHAR[20],   arch CHAR[20],   package char[120])"
    );
    let mode: String = db
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    // Opening again changes nothing.
    let path = db.path().to_path_buf();
    drop(db);
    let again = ResultsDb::open(&path).expect("reopen");
    assert_eq!(master(&again.conn), master(&theirs));
}

#[test]
fn a_database_laid_out_otherwise_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    Connection::open(&path)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE result (test_id INTEGER, run_id CHAR[30], version VARCHAR[200])",
            )
        })
        .expect("old db");
    assert!(matches!(
        ResultsDb::open(&path),
        Err(DbError::Schema { .. })
    ));
}

#[test]
fn records_like_the_db_writer() {
    let (_dir, mut db) = open();
    let first = complete("hello", "noble", &run(1));
    assert_eq!(db.record(&first).expect("record"), Recorded::Inserted);
    // The same completion again (a redelivery): the primary key is taken.
    assert_eq!(
        db.record(&first).expect("record"),
        Recorded::AlreadyRecorded
    );
    // Another run_id with the same uuid: the uuid is taken.
    let mut same_uuid = complete("hello", "noble", &run(2));
    same_uuid.uuid = first.uuid.clone();
    assert_eq!(
        db.record(&same_uuid).expect("record"),
        Recorded::AlreadyRecorded
    );
    let second = complete("hello", "noble", &run(2));
    assert_eq!(db.record(&second).expect("record"), Recorded::Inserted);
    let other = complete(
        "other",
        "noble",
        "noble/amd64/o/other/20240101_000000_abcde@",
    );
    assert_eq!(db.record(&other).expect("record"), Recorded::Inserted);
    assert_eq!((count(&db, "test"), count(&db, "result")), (2, 3));

    let row: (String, String, String, i64, i64, String, String, String) = db
        .conn
        .query_row(
            "SELECT t.release || '/' || t.arch || '/' || t.package, r.run_id, r.version, r.duration, \
             r.exitcode, r.requester, r.env, r.triggers FROM result r JOIN test t ON t.id = r.test_id \
             WHERE r.uuid = ?1",
            [&first.uuid],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .expect("row");
    assert_eq!(
        row,
        (
            "noble/amd64/hello".to_string(),
            "20240101_000000_abcde@".to_string(),
            "1.0-1".to_string(),
            42,
            4,
            // Stripped, as the writer does.
            "someone".to_string(),
            "all-proposed=1".to_string(),
            "hello/1.0-1 glibc/2.39-0ubuntu1".to_string(),
        )
    );
}

#[test]
fn completions_without_uuid_do_not_collide() {
    // autopkgtest-cloud's worker sends no uuid; with '' in a UNIQUE column only the first would
    // ever be recorded.
    let (_dir, mut db) = open();
    for n in 1..=3 {
        let mut m = complete("hello", "noble", &run(n));
        m.uuid = String::new();
        assert_eq!(
            db.record(&m).expect("record"),
            Recorded::Inserted,
            "run {n}"
        );
    }
    let nulls: i64 = db
        .conn
        .query_row("SELECT COUNT(*) FROM result WHERE uuid IS NULL", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(nulls, 3);
}

#[test]
fn ignores_what_the_db_writer_ignores() {
    let (_dir, mut db) = open();
    let ok = || complete("hello", "noble", &run(1));
    let mut cases: Vec<(TestComplete, &str)> = Vec::new();
    let mut ppa = ok();
    ppa.container = "autopkgtest-noble-lpuser-ppa".into();
    cases.push((ppa, IGNORED_CONTAINER));
    let mut private = ok();
    private.container = "private-autopkgtest-noble".into();
    cases.push((private, IGNORED_CONTAINER));
    let mut other_release = ok();
    other_release.container = "autopkgtest-jammy".into();
    cases.push((other_release, IGNORED_CONTAINER));
    let mut no_triggers = ok();
    no_triggers.triggers = String::new();
    cases.push((no_triggers, IGNORED_NO_TRIGGERS));
    for dir in [
        "noble/amd64/h/hello",
        "noble/amd64/h/hello/run/extra",
        "",
        "noble/amd64/h/hello/run/",
    ] {
        let mut m = ok();
        m.swift_dir = dir.into();
        cases.push((m, IGNORED_SWIFT_DIR));
    }
    // swift_dir is checked first, as the writer splits it before anything else.
    let mut both = ok();
    both.swift_dir = "a/b".into();
    both.container = "private-autopkgtest-noble".into();
    cases.push((both, IGNORED_SWIFT_DIR));
    for (m, why) in cases {
        assert_eq!(
            db.record(&m).expect("record"),
            Recorded::Ignored(why),
            "{m:?}"
        );
    }
    assert_eq!((count(&db, "test"), count(&db, "result")), (0, 0));
}

#[test]
fn huge_strings_are_ignored_not_stored() {
    let (_dir, mut db) = open();
    let big = "x".repeat(1 << 20);
    type Set = fn(&mut TestComplete, String);
    let fields: [(&str, Set); 7] = [
        ("package", |m, v| m.package = v),
        ("testpkg_version", |m, v| m.testpkg_version = v),
        ("triggers", |m, v| m.triggers = v),
        ("requester", |m, v| m.requester = v),
        ("env", |m, v| m.env = v),
        ("uuid", |m, v| m.uuid = v),
        ("run_id", |m, v| {
            m.swift_dir = format!("noble/amd64/h/hello/{v}")
        }),
    ];
    for (name, set) in fields {
        let mut m = complete("hello", "noble", &run(1));
        set(&mut m, big.clone());
        match db.record(&m).expect("record") {
            Recorded::Ignored(why) => assert!(why.starts_with(name), "{name}: {why}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let mut m = complete("hello", "noble", &run(1));
    m.release = big.clone();
    m.container = format!("autopkgtest-{big}");
    assert!(matches!(db.record(&m), Ok(Recorded::Ignored(why)) if why.starts_with("release")));
    assert_eq!(count(&db, "result"), 0);
    // Large but real: many triggers, a long duration.
    let mut m = complete("hello", "noble", &run(1));
    m.triggers = vec!["libfoo/1.0-1"; 2000].join(" ");
    m.duration = u64::MAX;
    assert_eq!(db.record(&m).expect("record"), Recorded::Inserted);
    let duration: i64 = db
        .conn
        .query_row("SELECT duration FROM result", [], |r| r.get(0))
        .expect("duration");
    assert_eq!(duration, i64::MAX);
}

#[test]
fn snapshot_is_a_checksummed_rollback_copy_with_the_publishers_tables() {
    let (dir, mut db) = open();
    db.record(&complete("hello", "noble", &run(1)))
        .expect("record");
    let dest = dir.path().join("www/autopkgtest.db");
    let sha = db.snapshot(&dest).expect("snapshot");
    let sum = std::fs::read_to_string(dir.path().join("www/autopkgtest.db.sha256")).expect("sha");
    assert_eq!(sum, sha);
    assert_eq!(sha, publish::sha256_file(&dest).expect("hash"));
    assert!(
        sha.len() == 64
            && sha
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{sha:?}"
    );
    // Not a WAL database: header bytes 18 and 19 say rollback journal, so a read-only reader
    // needs no -shm or -wal beside it.
    let bytes = std::fs::read(&dest).expect("read copy");
    assert_eq!((bytes[18], bytes[19]), (1, 1));
    let names: Vec<String> = std::fs::read_dir(dir.path().join("www"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["autopkgtest.db", "autopkgtest.db.sha256"]);

    let copy = Connection::open_with_flags(&dest, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open copy");
    for table in ["current_version", "url_last_checked", "test", "result"] {
        let n: i64 = copy
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .expect("master");
        assert_eq!(n, 1, "{table}");
    }
    let results: i64 = copy
        .query_row("SELECT COUNT(*) FROM result", [], |r| r.get(0))
        .expect("results");
    assert_eq!(results, 1);
    let empty: i64 = copy
        .query_row(
            "SELECT (SELECT COUNT(*) FROM current_version) + (SELECT COUNT(*) FROM url_last_checked)",
            [],
            |r| r.get(0),
        )
        .expect("empty");
    assert_eq!(empty, 0);
    drop(copy);

    // A later snapshot replaces both, and the live database stays WAL and writable.
    db.record(&complete("hello", "noble", &run(2)))
        .expect("record");
    let sha2 = db.snapshot(&dest).expect("snapshot again");
    assert_ne!(sha, sha2);
    assert_eq!(sha2, publish::sha256_file(&dest).expect("hash"));
    assert_eq!(
        std::fs::read_to_string(publish::checksum_path(&dest)).expect("sha"),
        sha2
    );
    assert_eq!(
        db.record(&complete("hello", "noble", &run(3)))
            .expect("record"),
        Recorded::Inserted
    );
}

#[test]
fn snapshot_never_overwrites_the_live_database() {
    let (_dir, db) = open();
    let live = db.path().to_path_buf();
    assert!(matches!(db.snapshot(&live), Err(DbError::OverLive(_))));
    let dotted = live.parent().expect("dir").join("./live.db");
    assert!(matches!(db.snapshot(&dotted), Err(DbError::OverLive(_))));
}

#[test]
fn britney_finds_the_runs_newer_than_its_latest() {
    let (dir, mut db) = open();
    for n in 1..=3 {
        let mut m = complete("hello", "noble", &run(n));
        m.exitcode = if n == 3 { 0 } else { 4 };
        db.record(&m).expect("record");
    }
    let mut arm = complete(
        "hello",
        "noble",
        "noble/arm64/h/hello/20240109_000000_abcde@",
    );
    arm.architecture = "arm64".into();
    db.record(&arm).expect("record");
    db.record(&complete(
        "other",
        "noble",
        "noble/amd64/o/other/20240109_000000_abcde@",
    ))
    .expect("record");
    let dest = dir.path().join("autopkgtest.db");
    db.snapshot(&dest).expect("snapshot");

    // As britney does, on the downloaded copy.
    let copy = Connection::open_with_flags(&dest, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open copy");
    let query = |since: &str| -> Vec<(String, i64, String, String)> {
        let mut st = copy
            .prepare(
                "SELECT r.run_id, r.exitcode, r.version, r.triggers FROM test t JOIN result r \
                 ON r.test_id = t.id WHERE t.release=? AND t.arch=? AND t.package=? AND r.run_id > ?",
            )
            .expect("prepare");
        let mut rows: Vec<_> = st
            .query_map(["noble", "amd64", "hello", since], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows.sort();
        rows
    };
    let all = query("");
    assert_eq!(
        all.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        [
            "20240101_000000_abcde@",
            "20240102_000000_abcde@",
            "20240103_000000_abcde@"
        ]
    );
    assert_eq!(
        query("20240102_000000_abcde@"),
        [(
            "20240103_000000_abcde@".to_string(),
            0,
            "1.0-1".to_string(),
            "hello/1.0-1 glibc/2.39-0ubuntu1".to_string()
        )]
    );
    assert!(query("20240103_000000_abcde@").is_empty());
}

#[test]
fn same_file_sees_through_spelling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("x.db");
    assert!(same_file(&a, &dir.path().join("./x.db")));
    assert!(!same_file(&a, &dir.path().join("y.db")));
}
