//! Every message adtop sends or reads, defined once. Field names are the wire names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::exitcode::Class;

/// `teststatus.fanout` (autopkgtest-cloud): sent every few seconds while a test runs;
/// `running: false` ends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestStatus {
    pub release: String,
    pub architecture: String,
    pub package: String,
    pub running: bool,
    pub params: Value,
    pub duration: u64,
    /// First 5 log lines, a separator, then about the last 2000 bytes.
    pub logtail: String,
    pub uuid: String,
    /// adtop's additions; readers that do not know them ignore them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adtop: Option<StatusExtra>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusExtra {
    pub worker: String,
    pub queue: String,
    /// The job's deadline in seconds since it started (the watchdog's limit).
    pub timeout: u64,
    /// Seconds since the test last wrote anything.
    pub silent: u64,
}

/// `testcomplete.fanout` (autopkgtest-cloud): one persistent message per finished request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestComplete {
    pub architecture: String,
    pub container: String,
    pub duration: u64,
    pub exitcode: i32,
    pub package: String,
    /// The bare version (`1.0-1`): the second word of the `testpkg-version` file.
    pub testpkg_version: String,
    pub release: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub requester: String,
    /// Exactly `<release>/<arch>/<prefix>/<pkg>/<run_id>`: readers split it into five parts.
    pub swift_dir: String,
    /// Space-joined, as autopkgtest-cloud sends them.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub triggers: String,
    /// One string: the comma-joined `key=value` of the request's `all-proposed` and `testname`
    /// (empty when neither), as autopkgtest-cloud's worker sends it and its db-writer binds it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub env: String,
    /// adtop always sends one; autopkgtest-cloud's worker sends none (read as empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adtop: Option<CompleteExtra>,
}

/// autopkgtest-cloud's worker sends `requester` and `triggers` as `null` when the request had
/// none, and no `uuid`; its readers treat those as empty. Read them so, so that its completions
/// on a shared `testcomplete.fanout` parse instead of being dropped.
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteExtra {
    pub worker: String,
    pub queue: String,
    pub class: Class,
    pub attempts: u32,
    pub finished: DateTime<Utc>,
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    Idle,
    Running,
    /// Finishing its current job, taking no new ones.
    Draining,
    /// Drained and waiting for `resume`.
    Paused,
    /// Shutting down.
    Stopping,
    /// Lost its broker connection; reconnecting.
    Reconnecting,
}

/// The job a worker is running, as its heartbeat describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub uuid: String,
    pub package: String,
    pub release: String,
    pub arch: String,
    pub queue: String,
    pub triggers: Vec<String>,
    pub requester: String,
    /// [`super::request::Request::identity`], for duplicate detection.
    pub identity: String,
    pub started: DateTime<Utc>,
    pub timeout: u64,
    /// When the test last wrote to its log.
    pub last_output: DateTime<Utc>,
    pub attempt: u32,
    /// A private run: package and triggers are not shown (`private-test`), its log not streamed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// Set while the worker waits between attempts: nothing runs, so silence means nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryWait>,
}

/// A job between attempts: which attempt comes next, of how many, and when (worker's clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryWait {
    /// The attempt that starts next (1-based; 2 after the first failure).
    pub attempt: u32,
    /// The most attempts the worker makes.
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

/// `adtop.heartbeat`: sent every `heartbeat_interval` seconds, idle or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub arch: String,
    pub releases: Vec<String>,
    pub contexts: Vec<String>,
    pub queues: Vec<String>,
    pub state: WorkerState,
    pub job: Option<JobInfo>,
    pub done: u64,
    pub failed: u64,
    pub tmpfailed: u64,
    pub rejected: u64,
    pub version: String,
    pub sent: DateTime<Utc>,
    /// Seconds between heartbeats, so a reader can judge staleness without configuration.
    pub interval: u64,
    /// The worker stopped taking requests because its testbed failed too often in a row
    /// (state `paused`): the last testbed error. Cleared by `adtop resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testbed_broken: Option<String>,
}

/// What an operator asks a worker to do, on `adtop.control`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlAction {
    /// Stop the running job named by `uuid`; `then` says what becomes of its request.
    Stop,
    /// Finish the current job, take no new ones.
    Drain,
    /// Take jobs again after a drain.
    Resume,
    /// Answer with a heartbeat now.
    Ping,
    /// Publish the running job's log so far on `adtop.log`, from offset 0.
    Replay,
}

/// After a stop: put the request back in its queue, or drop it (recorded as cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterStop {
    Requeue,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub action: ControlAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<AfterStop>,
    pub operator: String,
}

/// A worker's answer to a control message, sent to its `reply_to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlReply {
    pub worker: String,
    pub ok: bool,
    pub message: String,
}

/// `adtop.log`, routing key = uuid: a piece of a running job's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogChunk {
    pub uuid: String,
    pub worker: String,
    /// Byte offset of `data` in the log; a reader that missed bytes asks for a replay.
    pub offset: u64,
    pub data: String,
    /// The job ended; no more chunks follow.
    pub eof: bool,
}

/// One entry of the results index (`adtop-index/<YYYYMMDD>/<HHMMSS>_<uuid>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub uuid: String,
    pub package: String,
    pub release: String,
    pub arch: String,
    pub queue: String,
    pub exitcode: i32,
    pub class: Class,
    pub container: String,
    pub swift_dir: String,
    pub duration: u64,
    pub finished: DateTime<Utc>,
    pub worker: String,
    pub triggers: Vec<String>,
    pub requester: String,
    pub testpkg_version: String,
    /// The original request body, so that a retry resubmits exactly what ran (a private run's
    /// PPA credentials blanked).
    pub body: String,
    /// A private run: its results are readable only by its `swiftuser`; operators see that
    /// it ran and how it ended, not its log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

/// One operator action (`adtop.audit`, and `adtop-audit/` in the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub operator: String,
    pub host: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub ok: bool,
}

/// What a private run shows on `teststatus.fanout`, as autopkgtest-cloud sends it.
pub const PRIVATE_PACKAGE: &str = "private-test";
pub const PRIVATE_LOGTAIL: &str = "Running private test";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testcomplete_has_autopkgtest_cloud_fields() {
        let m = TestComplete {
            architecture: "amd64".into(),
            container: "autopkgtest-noble".into(),
            duration: 3,
            exitcode: 0,
            package: "hello".into(),
            testpkg_version: "1.0".into(),
            release: "noble".into(),
            requester: "".into(),
            swift_dir: "noble/amd64/h/hello/20240101_000000_abcde@".into(),
            triggers: "hello/1.0".into(),
            env: String::new(),
            uuid: "u".into(),
            adtop: None,
        };
        let v = serde_json::to_value(&m).expect("serialises");
        let mut keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "architecture",
                "container",
                "duration",
                "env",
                "exitcode",
                "package",
                "release",
                "requester",
                "swift_dir",
                "testpkg_version",
                "triggers",
                "uuid"
            ]
        );
    }

    #[test]
    fn testcomplete_reads_autopkgtest_cloud_messages() {
        // As its worker sends it: no uuid, null requester and triggers.
        let wire = r#"{"architecture":"amd64","container":"autopkgtest-noble","duration":3,"exitcode":0,"package":"hello","testpkg_version":"1.0","release":"noble","requester":null,"swift_dir":"noble/amd64/h/hello/20240101_000000_abcde@","triggers":null,"env":""}"#;
        let m: TestComplete = serde_json::from_str(wire).expect("parses");
        assert_eq!((m.requester.as_str(), m.triggers.as_str()), ("", ""));
        assert!(m.uuid.is_empty() && m.adtop.is_none());
    }

    #[test]
    fn teststatus_reads_autopkgtest_cloud_messages() {
        let wire = r#"{"release":"noble","architecture":"amd64","package":"hello","running":true,"params":{},"duration":12,"logtail":"x","uuid":"u"}"#;
        let s: TestStatus = serde_json::from_str(wire).expect("parses");
        assert!(s.running && s.adtop.is_none());
    }
}
