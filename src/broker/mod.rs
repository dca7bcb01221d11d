//! The broker: AMQP connections we own the reconnect loop of, the topology every part declares
//! the same way, confirmed publishing, and the management HTTP API for lists and rates.

pub mod backoff;
pub mod listen;
pub mod management;
pub mod nodes;
pub mod publish;
pub mod session;
pub mod topology;

use lapin::{Connection, ConnectionProperties};
use thiserror::Error;

pub use backoff::Backoff;
pub use session::Session;

/// A close is not waited on longer than this: a broker that stopped answering may not answer
/// the close either.
pub(crate) const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error(
        "cannot connect to the broker at {url}: {source} (is RabbitMQ running? `rabbitmq-server -detached` starts it)"
    )]
    Connect { url: String, source: lapin::Error },
    #[error(
        "queue {queue} exists with other arguments than adtop's configuration ({message}); set [queues] max_priority/type in the config to match how the deployment declared it"
    )]
    Mismatch { queue: String, message: String },
    #[error(
        "queue {queue} exists with other arguments than adtop declares ({message}); delete it (rabbitmqctl delete_queue {queue}) or choose another name"
    )]
    Conflict { queue: String, message: String },
    #[error("the broker at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("no broker URL given")]
    NoNodes,
    #[error("lost the broker connection during {what}")]
    Lost { what: String },
    #[error("no queue {queue} on the broker")]
    NoQueue { queue: String },
    #[error("broker operation {what} failed: {source}")]
    Amqp { what: String, source: lapin::Error },
    #[error("the broker returned the message for {key}: {reply}")]
    Returned { key: String, reply: String },
    #[error("the broker refused (nacked) the message for {key}")]
    Nacked { key: String },
    #[error(
        "the broker did not confirm the message for {key} within {secs} s; it may or may not be queued"
    )]
    Unconfirmed { key: String, secs: u64 },
}

impl BrokerError {
    /// An error that reconnecting will not fix: the broker refused the credentials or the
    /// virtual host, or a queue exists with other arguments.
    pub fn is_permanent(&self) -> bool {
        use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
        match self {
            Self::Connect { source, .. } => match source.kind() {
                lapin::ErrorKind::ProtocolError(e) => matches!(
                    e.kind(),
                    AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                        | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED)
                ),
                lapin::ErrorKind::AuthProviderError(_) => true,
                _ => false,
            },
            Self::Mismatch { .. } => true,
            _ => false,
        }
    }

    pub fn amqp(what: impl Into<String>) -> impl FnOnce(lapin::Error) -> Self {
        let what = what.into();
        move |source| Self::Amqp { what, source }
    }
}

/// The URL (or each URL of a cluster's list) with its password replaced, for messages and the
/// console header.
pub fn redact(url: &str) -> String {
    if nodes::split(url).nth(1).is_some() {
        return nodes::redact_all(url);
    }
    redact_one(url)
}

fn redact_one(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// Connect once. Callers own the retry loop (lapin's auto-recover is not relied on).
pub async fn connect(url: &str, name: &str) -> Result<Connection, BrokerError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url, props)
        .await
        .map_err(|source| BrokerError::Connect {
            url: redact(url),
            source,
        })
}

/// Check a broker URL before trying it, so a typo is an error and not an endless reconnect.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).map_err(|e| {
        anyhow::anyhow!(
            "invalid broker URL {}: {e}; expected amqp://user:pass@host:5672/vhost",
            redact(url)
        )
    })?;
    if !matches!(parsed.scheme(), "amqp" | "amqps") {
        anyhow::bail!(
            "invalid broker URL {}: scheme must be amqp:// or amqps://",
            redact(url)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("amqp://guest:secret@h:5672/%2f"),
            "amqp://guest:***@h:5672/%2f"
        );
        assert!(!redact("amqp://u:p@x/").contains(":p@"));
        assert!(check_url("http://x").is_err());
        assert!(check_url("amqp://guest:guest@127.0.0.1:5672/%2f").is_ok());
    }
}
