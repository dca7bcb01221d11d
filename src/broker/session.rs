//! One live broker connection with the channels every part needs, opened afresh after a loss.
//! adtop owns the reconnect loop: callers open a new `Session` when `alive()` turns false.

use lapin::{Channel, Connection};

use super::{BrokerError, connect, publish, topology};

pub struct Session {
    pub conn: Connection,
    /// Publisher confirms on: requests, completions, rejections, held requests.
    pub confirm: Channel,
    /// No confirms: heartbeats, status, log chunks, where losing one message is harmless.
    pub fast: Channel,
}

impl Session {
    pub async fn open(url: &str, name: &str) -> Result<Self, BrokerError> {
        let conn = connect(url, name).await?;
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

    pub async fn close(&self) {
        let _ = self.conn.close(200, "bye".into()).await;
    }
}
