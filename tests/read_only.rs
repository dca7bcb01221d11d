//! Read-only binds every entry point: `--read-only`, `ADTOP_READ_ONLY` (1/0, true/false,
//! yes/no, on/off) and `console.read_only` refuse the scripting actions, before anything is
//! sent, with a message naming what set it. The views still work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

fn adtop(config: &str, env: Option<&str>, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_adtop"));
    cmd.arg("--config")
        .arg(&path)
        .args(["--store", &format!("file://{}", dir.path().display())])
        // A broker that is not there: a refused action never gets as far as connecting.
        .args(["--broker", "amqp://guest:guest@127.0.0.1:1/%2f"])
        .args(args)
        .env_remove("ADTOP_READ_ONLY");
    if let Some(v) = env {
        cmd.env("ADTOP_READ_ONLY", v);
    }
    cmd.output().unwrap()
}

const ACTIONS: &[&[&str]] = &[
    &["drain", "w1"],
    &["resume", "w1"],
    &["retry", "0c6f3f8e-0000-4000-8000-000000000000"],
    &[
        "cancel",
        "debci-noble-amd64",
        "0c6f3f8e-0000-4000-8000-000000000000",
    ],
    &["stop", "0c6f3f8e-0000-4000-8000-000000000000"],
    &["requeue-held", "w1"],
    &["rejected", "resubmit", "0123456789ab"],
    &[
        "rejected",
        "resubmit",
        "0123456789ab",
        "--file",
        "/dev/null",
    ],
    &["rejected", "discard", "0123456789ab"],
    &["submit", "hello", "--release", "noble", "--arch", "amd64"],
    &["queues", "declare", "--release", "noble", "--arch", "amd64"],
];

fn refused(out: &Output, by: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("read-only (set by {by})")), "{err}");
    assert!(err.contains("was refused; nothing was done"), "{err}");
    assert!(!err.contains("connect"), "refused before connecting: {err}");
}

#[test]
fn every_scripting_action_is_refused_and_the_message_names_what_set_read_only() {
    for args in ACTIONS {
        refused(
            &adtop("", None, &[&["--read-only"], *args].concat()),
            "--read-only",
        );
        // The flag is global: after the subcommand too.
        refused(
            &adtop("", None, &[*args, &["--read-only"]].concat()),
            "--read-only",
        );
        refused(&adtop("", Some("1"), args), "ADTOP_READ_ONLY");
        refused(
            &adtop("[console]\nread_only = true\n", None, args),
            "console.read_only in the configuration file",
        );
    }
}

#[test]
fn adtop_read_only_takes_the_usual_yes_and_no_spellings() {
    for yes in ["1", "true", "yes", "on", "TRUE"] {
        refused(&adtop("", Some(yes), &["drain", "w1"]), "ADTOP_READ_ONLY");
    }
    for no in ["0", "false", "no", "off"] {
        let out = adtop("", Some(no), &["drain", "w1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("read-only"), "{no}: {err}");
        // It went on to act, and found no broker at the bogus address.
        assert_eq!(out.status.code(), Some(1), "{err}");
    }
    let out = adtop("", Some("maybe"), &["drain", "w1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("maybe"), "{err}");
    // The config's read_only cannot be undone from the environment (docs/configuration.md).
    refused(
        &adtop("[console]\nread_only = true\n", Some("0"), &["drain", "w1"]),
        "console.read_only in the configuration file",
    );
}

#[test]
fn views_still_work_when_read_only() {
    let out = adtop("", Some("1"), &["results", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}
