//! Every exchange, queue and header name adtop uses, in one place (see `docs/protocol.md`).

/// autopkgtest-cloud: running status, fanout, not durable.
pub const TESTSTATUS_EXCHANGE: &str = "teststatus.fanout";
/// autopkgtest-cloud: completions, fanout, durable, persistent messages.
pub const TESTCOMPLETE_EXCHANGE: &str = "testcomplete.fanout";

/// adtop: worker heartbeats, fanout, not durable (a heartbeat is only news while it is fresh).
pub const HEARTBEAT_EXCHANGE: &str = "adtop.heartbeat";
/// adtop: control messages to workers, topic; routing key `worker.<id>` or `worker.all`.
pub const CONTROL_EXCHANGE: &str = "adtop.control";
/// adtop: live log chunks, topic; routing key = the job's uuid.
pub const LOG_EXCHANGE: &str = "adtop.log";
/// adtop: operator actions, fanout, durable.
pub const AUDIT_EXCHANGE: &str = "adtop.audit";
/// adtop: requests a worker could not accept, durable queue on the default exchange.
pub const REJECTED_QUEUE: &str = "adtop.rejected";
/// Single-active-consumer queue whose active consumer reads and relays for every console (`ops::shared`).
pub const READER_QUEUE: &str = "adtop.readers";
/// Direct exchange the elected reader publishes queue snapshots on, keyed by queue name.
pub const SNAPSHOT_EXCHANGE: &str = "adtop.snapshots";
/// adtop: prefix of the per-worker durable queue that holds a request while a long test runs
/// (see `docs/protocol.md`, "consumer timeout").
pub const HELD_QUEUE_PREFIX: &str = "adtop.held.";

/// Routing key that reaches every worker on [`CONTROL_EXCHANGE`].
pub const CONTROL_ALL: &str = "worker.all";

/// Header on a rejected message: a human-readable reason.
pub const H_REASON: &str = "x-adtop-reason";
/// Header on a rejected message: a stable machine-readable reason code.
pub const H_REASON_CODE: &str = "x-adtop-reason-code";
/// Header on a rejected or held message: the request queue it came from.
pub const H_SOURCE_QUEUE: &str = "x-adtop-source-queue";
/// Header on a rejected or held message: the worker that handled it.
pub const H_WORKER: &str = "x-adtop-worker";
/// Header on a rejected message: when (RFC 3339).
pub const H_REJECTED_AT: &str = "x-adtop-rejected-at";
/// Header on a debci request: the job's uuid in adtop's views. A debci body carries no uuid,
/// so a worker derives one from queue and body (a redelivery is the same job); `adtop retry`
/// sets a new one, so that the same run id runs again.
pub const H_UUID: &str = "x-adtop-uuid";
/// On a completion announced again because the broker never confirmed the first publish (its
/// node or connection went meanwhile): the first may have been routed, so this may be a repeat.
pub const H_REPEAT: &str = "x-adtop-repeat";

/// Store container of the time-ordered results index.
pub const INDEX_CONTAINER: &str = "adtop-index";
/// Store container of the audit trail.
pub const AUDIT_CONTAINER: &str = "adtop-audit";
/// Store container of the published results database (`adtop results-db`), which britney
/// downloads through `ADT_DB_URL`.
pub const RESULTS_DB_CONTAINER: &str = "adtop-db";
/// The published results database in [`RESULTS_DB_CONTAINER`]: autopkgtest-cloud's name.
pub const RESULTS_DB_OBJECT: &str = "autopkgtest.db";
/// Its checksum beside it: the lowercase hex sha256 of the database, nothing else.
pub const RESULTS_DB_SHA256_OBJECT: &str = "autopkgtest.db.sha256";
/// adtop: the results database's durable queue on [`TESTCOMPLETE_EXCHANGE`] (autopkgtest-cloud
/// calls its own `complete-listener-<fqdn>`), so completions wait while the service is away.
pub const RESULTS_DB_QUEUE: &str = "adtop.results-db";

/// Routing key for one worker on [`CONTROL_EXCHANGE`].
pub fn control_key(worker_id: &str) -> String {
    format!("worker.{worker_id}")
}

/// The held queue of one worker.
pub fn held_queue(worker_id: &str) -> String {
    format!("{HELD_QUEUE_PREFIX}{worker_id}")
}
