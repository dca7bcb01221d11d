//! Where adtop's own log output goes: to a file or pipe without colour codes, and never the
//! broker password.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn worker_logs_to_a_pipe_have_no_colour_codes_and_no_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1: the worker says so and retries, which gives log lines.
    let mut child = Command::new(env!("CARGO_BIN_EXE_adtop"))
        .args([
            "worker",
            "--broker",
            "amqp://guest:s3cret-pw@127.0.0.1:1/%2f",
            "--release",
            "noble",
            "--arch",
            "amd64",
            "--id",
            "logging-test",
        ])
        .arg("--store")
        .arg(format!("file://{}/store", dir.path().display()))
        .arg("--spool")
        .arg(dir.path().join("spool"))
        .env("XDG_CONFIG_HOME", dir.path())
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start adtop worker");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("read stderr");
        let done = line.contains("cannot connect to the broker");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let all = seen.join("\n");
    assert!(
        all.contains("cannot connect to the broker"),
        "no broker warning in: {all}"
    );
    assert!(
        !all.contains('\x1b'),
        "colour codes in a piped log: {all:?}"
    );
    assert!(!all.contains("s3cret-pw"), "password in the log: {all}");
}
