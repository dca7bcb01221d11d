//! One live broker connection with the channels every part needs, opened afresh after a loss.
//! adtop owns the reconnect loop: callers open a new `Session` when `alive()` turns false.
//! Given a cluster's nodes, a session opens on the first that answers (see `nodes`).

use std::time::Duration;

use lapin::{Channel, Connection};

use super::{BrokerError, CLOSE_WAIT, connect, nodes, publish, topology};

/// A node that neither answers nor refuses (a partition, a firewall) must not hold up the move
/// to the next one for the whole TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Session {
    /// `host:port` of the node this session is connected to.
    pub node: String,
    pub conn: Connection,
    /// Publisher confirms on: requests, completions, rejections, held requests.
    pub confirm: Channel,
    /// No confirms: heartbeats, status, log chunks, where losing one message is harmless.
    pub fast: Channel,
}

impl Session {
    /// Connect to the first node of `urls` (one URL, or several separated by spaces or commas)
    /// that answers, starting with the one that answered last.
    pub async fn open(urls: &str, name: &str) -> Result<Self, BrokerError> {
        let mut last = None;
        for url in nodes::order(urls) {
            match Self::open_one(url, name).await {
                Ok(s) => {
                    nodes::answered(urls, url);
                    return Ok(s);
                }
                // Wrong credentials or vhost are wrong on every node of a cluster.
                Err(e) if e.is_permanent() => return Err(e),
                Err(e) => {
                    tracing::debug!("broker node {} did not answer: {e}", nodes::host_port(url));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(BrokerError::NoNodes))
    }

    async fn open_one(url: &str, name: &str) -> Result<Self, BrokerError> {
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connect(url, name)).await {
            Ok(c) => c?,
            Err(_) => {
                return Err(BrokerError::Timeout {
                    url: super::redact(url),
                    secs: CONNECT_TIMEOUT.as_secs(),
                });
            }
        };
        let confirm = conn
            .create_channel()
            .await
            .map_err(BrokerError::amqp("open channel"))?;
        publish::enable_confirms(&confirm).await?;
        let fast = conn
            .create_channel()
            .await
            .map_err(BrokerError::amqp("open channel"))?;
        topology::declare_common(&confirm).await?;
        Ok(Self {
            node: nodes::host_port(url),
            conn,
            confirm,
            fast,
        })
    }

    pub fn alive(&self) -> bool {
        self.conn.status().connected() && self.confirm.status().connected()
    }

    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        self.conn
            .create_channel()
            .await
            .map_err(BrokerError::amqp("open channel"))
    }

    /// Close the connection, not waiting longer than [`CLOSE_WAIT`] for a broker that does not
    /// answer the close.
    pub async fn close(&self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, self.conn.close(200, "bye".into())).await;
    }
}
