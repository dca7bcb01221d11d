//! RabbitMQ's management HTTP API: queue lists with depths, consumers and rates.
//!
//! Its counts lag by the statistics interval (5 s by default); callers that must show a
//! change quickly combine it with live passive declares (`topology::peek_counts`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ManagementError {
    #[error(
        "management API at {url} unreachable: {source} (enable it with `rabbitmq-plugins enable rabbitmq_management`)"
    )]
    Unreachable { url: String, source: reqwest::Error },
    #[error("management API at {url} answered {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("management API at {url} sent an unexpected answer: {source}")]
    Decode { url: String, source: reqwest::Error },
    #[error("management API at {url} sent an answer that is not what adtop asked for: {detail}")]
    Answer { url: String, detail: String },
}

/// Most of one answer read: a listing of 5,000 queues is a few MiB.
const ANSWER_CAP: usize = 64 << 20;

/// One queue as the management API reports it (serialised the same way when the elected
/// reader shares a listing: `ops::listing`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub name: String,
    #[serde(default)]
    pub messages: u64,
    #[serde(default)]
    pub messages_ready: u64,
    #[serde(default)]
    pub messages_unacknowledged: u64,
    #[serde(default)]
    pub consumers: u64,
    #[serde(default)]
    pub message_stats: Option<MessageStats>,
    /// The head message's `timestamp` property (seconds since the epoch): classic queues
    /// only, and only when the publisher set it.
    #[serde(default)]
    pub head_message_timestamp: Option<i64>,
    /// `classic`, `quorum` or `stream`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The node a classic queue lives on (for a quorum queue: its leader's).
    #[serde(default)]
    pub node: Option<String>,
    /// A quorum queue's leader and replicas, and which replicas are up.
    #[serde(default)]
    pub leader: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub online: Vec<String>,
    /// The queue's declared arguments (`x-max-priority`, `x-queue-type`, …).
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageStats {
    #[serde(default)]
    pub publish_details: Option<Rate>,
    #[serde(default)]
    pub deliver_get_details: Option<Rate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    #[serde(default)]
    pub rate: f64,
}

impl QueueInfo {
    /// `x-max-priority` as declared (debci's queues have 10).
    pub fn max_priority(&self) -> Option<u8> {
        self.arguments
            .get("x-max-priority")
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u8::try_from(p).ok())
    }

    pub fn head_timestamp(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.head_message_timestamp
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    }

    pub fn publish_rate(&self) -> f64 {
        self.message_stats
            .as_ref()
            .and_then(|s| s.publish_details.as_ref())
            .map_or(0.0, |r| r.rate)
    }
    pub fn deliver_rate(&self) -> f64 {
        self.message_stats
            .as_ref()
            .and_then(|s| s.deliver_get_details.as_ref())
            .map_or(0.0, |r| r.rate)
    }
}

/// `s` as one segment of an API path (vhost, queue and exchange names may hold `/`).
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Clone)]
pub struct Management {
    client: reqwest::Client,
    /// The first node's API; `bases` are all of them (a cluster's nodes each serve it).
    base: String,
    bases: Vec<String>,
    /// Which of `bases` answered last: asked first next time.
    good: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    vhost: String,
    user: String,
    password: String,
}

impl std::fmt::Debug for Management {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish()
    }
}

impl Management {
    /// Credentials and vhost come from the broker URL unless the management URL carries its own.
    /// `management_url` may list several nodes' APIs (separated by spaces or commas): each
    /// request goes to the one that answered last, then to the others.
    pub fn new(management_url: &str, broker_url: &str) -> anyhow::Result<Self> {
        let all = management_url;
        let management_url = super::nodes::first(management_url);
        let broker_url = super::nodes::first(broker_url);
        let broker = url::Url::parse(broker_url).map_err(|e| {
            anyhow::anyhow!("invalid broker URL {}: {e}", super::redact(broker_url))
        })?;
        let mgmt = url::Url::parse(management_url).map_err(|e| {
            anyhow::anyhow!(
                "invalid management URL {}: {e}",
                super::redact(management_url)
            )
        })?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .to_string()
        };
        let (user, password) = if mgmt.username().is_empty() {
            (
                decode(broker.username()),
                broker.password().map(decode).unwrap_or_default(),
            )
        } else {
            (
                decode(mgmt.username()),
                mgmt.password().map(decode).unwrap_or_default(),
            )
        };
        let user = if user.is_empty() {
            "guest".to_string()
        } else {
            user
        };
        let password = if password.is_empty() && user == "guest" {
            "guest".to_string()
        } else {
            password
        };
        let vhost_path = broker.path().trim_start_matches('/');
        let vhost = if vhost_path.is_empty() {
            "/".to_string()
        } else {
            decode(vhost_path)
        };
        let mut base = mgmt.clone();
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build HTTP client: {e}"))?;
        let mut bases = Vec::new();
        for u in super::nodes::split(all) {
            let mut b = url::Url::parse(u)
                .map_err(|e| anyhow::anyhow!("invalid management URL {}: {e}", super::redact(u)))?;
            let _ = b.set_username("");
            let _ = b.set_password(None);
            bases.push(b.as_str().trim_end_matches('/').to_string());
        }
        Ok(Self {
            client,
            base: base.as_str().trim_end_matches('/').to_string(),
            bases,
            good: Default::default(),
            vhost,
            user,
            password,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// All queues of the vhost with the columns adtop uses.
    pub async fn queues(&self) -> Result<Vec<QueueInfo>, ManagementError> {
        self.list_queues("columns=name,messages,messages_ready,messages_unacknowledged,consumers,head_message_timestamp,arguments,message_stats.publish_details.rate,message_stats.deliver_get_details.rate,type,node,leader,members,online").await
    }

    /// All queues of the vhost with their message counts only, no consumers, rates or head
    /// timestamp: the broker builds this in about half the time of [`Management::queues`]
    /// (37 against 79 ms of its CPU for 500 queues, docs/PERFORMANCE.md).
    pub async fn queue_totals(&self) -> Result<Vec<QueueInfo>, ManagementError> {
        self.list_queues("disable_stats=true&enable_queue_totals=true&columns=name,messages,messages_ready,messages_unacknowledged,arguments,type,node,leader,members,online").await
    }

    async fn list_queues(&self, query: &str) -> Result<Vec<QueueInfo>, ManagementError> {
        self.get(&format!("/api/queues/{}?{query}", enc(&self.vhost)))
            .await
    }

    /// Does the vhost have queue `name`? (A 404 is no; other failures are errors.)
    pub async fn has_queue(&self, name: &str) -> Result<bool, ManagementError> {
        let path = format!(
            "/api/queues/{}/{}?columns=name",
            enc(&self.vhost),
            enc(name)
        );
        match self.get::<serde_json::Value>(&path).await {
            Ok(_) => Ok(true),
            Err(ManagementError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many queues are bound to `exchange` with `key`: on `adtop.control` with
    /// `worker.all`, how many workers there are (each binds one private queue), so that a ping
    /// knows when every one has answered.
    pub async fn bound(&self, exchange: &str, key: &str) -> Result<usize, ManagementError> {
        #[derive(serde::Deserialize)]
        struct Binding {
            #[serde(default)]
            routing_key: String,
            #[serde(default)]
            destination_type: String,
        }
        let path = format!(
            "/api/exchanges/{}/{}/bindings/source",
            enc(&self.vhost),
            enc(exchange)
        );
        let all: Vec<Binding> = self.get(&path).await?;
        Ok(all
            .iter()
            .filter(|b| b.routing_key == key && b.destination_type == "queue")
            .count())
    }

    /// The broker's nodes (a cluster's, or the one) and whether each runs.
    /// The node whose API answered, and the cluster's name: which broker the header names.
    pub async fn overview(&self) -> Result<Overview, ManagementError> {
        self.get("/api/overview?columns=node,cluster_name").await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ManagementError> {
        self.get("/api/nodes?columns=name,running").await
    }

    /// GET `path` from the API that answered last, else from the others in turn; only an
    /// unreachable API moves on (an answer, even a refusal, is the cluster's).
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ManagementError> {
        use std::sync::atomic::Ordering;
        let n = self.bases.len().max(1);
        let start = self.good.load(Ordering::Relaxed) % n;
        let mut last = None;
        for i in (0..n).map(|k| (start + k) % n) {
            let base = self.bases.get(i).unwrap_or(&self.base);
            match self.get_from(base, path).await {
                Err(e @ ManagementError::Unreachable { .. }) => last = Some(e),
                r => {
                    self.good.store(i, Ordering::Relaxed);
                    return r;
                }
            }
        }
        match last {
            Some(e) => Err(e),
            None => self.get_from(&self.base, path).await,
        }
    }

    async fn get_from<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
    ) -> Result<T, ManagementError> {
        let resp = self
            .client
            .get(format!("{base}{path}"))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .map_err(|source| ManagementError::Unreachable {
                url: base.to_string(),
                source,
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            let hint = match status {
                401 => " (wrong credentials: they come from the broker URL or the management URL)",
                404 => " (unknown vhost?)",
                _ => "",
            };
            return Err(ManagementError::Status {
                url: base.to_string(),
                status,
                hint,
            });
        }
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|source| ManagementError::Decode {
                url: base.to_string(),
                source,
            })?
        {
            body.extend_from_slice(&chunk);
            if body.len() > ANSWER_CAP {
                return Err(ManagementError::Answer {
                    url: base.to_string(),
                    detail: format!("over {} MiB", ANSWER_CAP >> 20),
                });
            }
        }
        serde_json::from_slice(&body).map_err(|e| ManagementError::Answer {
            url: base.to_string(),
            detail: e.to_string(),
        })
    }
}

/// `/api/overview`, the two fields adtop reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Overview {
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub cluster_name: String,
}

/// One node of the broker, as the management API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    #[serde(default)]
    pub running: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_broker_url_never_printed() {
        let m = Management::new("http://127.0.0.1:15672/", "amqp://ops:s3cret@h:5672/ci")
            .expect("valid");
        assert_eq!(m.vhost, "ci");
        assert_eq!(m.user, "ops");
        assert!(!format!("{m:?}").contains("s3cret"));
        let m = Management::new(
            "http://127.0.0.1:15672",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        )
        .expect("valid");
        assert_eq!(m.vhost, "/");
    }

    #[test]
    fn parses_queue_listing() {
        let json = r#"[{"name":"debci-noble-amd64","messages":3,"messages_ready":2,"messages_unacknowledged":1,"consumers":1,"message_stats":{"publish_details":{"rate":0.5}}},{"name":"x"}]"#;
        let qs: Vec<QueueInfo> = serde_json::from_str(json).expect("parses");
        assert_eq!(qs[0].messages_ready, 2);
        assert!((qs[0].publish_rate() - 0.5).abs() < f64::EPSILON);
        assert_eq!(qs[1].deliver_rate(), 0.0);
    }
}
