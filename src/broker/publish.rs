//! Publishing with publisher confirms and `mandatory`, so that a message is either in a queue
//! or the caller knows it is not (a message to a missing queue is otherwise silently dropped).

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use tokio::time::{Duration, Instant};

use super::{BrokerError, CLOSE_WAIT};

/// Persistent (delivery_mode 2) JSON or text properties.
pub fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

pub fn with_headers(props: BasicProperties, headers: &[(&str, String)]) -> BasicProperties {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert((*k).into(), AMQPValue::LongString(v.as_str().into()));
    }
    props.with_headers(table)
}

pub async fn enable_confirms(ch: &Channel) -> Result<(), BrokerError> {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(BrokerError::amqp("enable publisher confirms"))
}

/// Publish and wait for the broker's confirm. `mandatory` makes an unroutable message an error
/// instead of a silent loss. The channel must have confirms enabled.
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
    mandatory: bool,
) -> Result<(), BrokerError> {
    let pending = send(ch, exchange, key, body, props, mandatory).await?;
    confirmed(ch, key, pending).await
}

/// Publish, not waiting for the confirm: [`confirmed`] awaits it. Many can be in flight on one
/// channel (a batch's publishes are pipelined so).
pub async fn send(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
    mandatory: bool,
) -> Result<PublisherConfirm, BrokerError> {
    let opts = BasicPublishOptions {
        mandatory,
        ..Default::default()
    };
    ch.basic_publish(exchange.into(), key.into(), opts, body, props)
        .await
        .map_err(BrokerError::amqp(format!("publish to {key}")))
}

/// Longest wait for the broker's confirm of one publish. A cluster whose queue lost its leader
/// confirms once a new one is elected (seconds); a broker that never answers (a quorum queue
/// stuck without a leader) must not hold its publisher for ever.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(30);

/// The broker's answer to one [`send`] on `ch`, within [`CONFIRM_WAIT`].
pub async fn confirmed(
    ch: &Channel,
    key: &str,
    pending: PublisherConfirm,
) -> Result<(), BrokerError> {
    confirmed_by(ch, key, pending, Instant::now() + CONFIRM_WAIT).await
}

/// As [`confirmed`], until `deadline`: publishes pipelined on one channel share the wait from
/// when they were sent, so that a broker gone silent costs one wait, not one per publish.
/// With one publish in flight on `ch` only: pipelined publishes go through [`answer_by`],
/// [`Returns`] and [`judge`].
pub async fn confirmed_by(
    ch: &Channel,
    key: &str,
    pending: PublisherConfirm,
    deadline: Instant,
) -> Result<(), BrokerError> {
    let confirm = answer_by(ch, key, pending, deadline).await?;
    let reply = match &confirm {
        Confirmation::Ack(Some(ret)) | Confirmation::Nack(Some(ret)) => {
            Some(ret.reply_text.to_string())
        }
        _ => None,
    };
    judge(ch, key, &confirm, reply)
}

/// The broker's answer to one publish, within `deadline`, as lapin gives it (with whatever
/// returned message lapin handed it, which need not be this publish's: see [`Returns`]).
pub async fn answer_by(
    ch: &Channel,
    key: &str,
    pending: PublisherConfirm,
    deadline: Instant,
) -> Result<Confirmation, BrokerError> {
    let Ok(answer) = tokio::time::timeout_at(deadline, pending).await else {
        close_suspect(ch, "unconfirmed");
        return Err(BrokerError::Unconfirmed {
            key: key.to_string(),
            secs: CONFIRM_WAIT.as_secs(),
        });
    };
    confirm_of(key, answer)
}

/// A confirm as lapin resolved it, its error named for the publish to `key`.
pub fn confirm_of(
    key: &str,
    answer: lapin::Result<Confirmation>,
) -> Result<Confirmation, BrokerError> {
    answer.map_err(BrokerError::amqp(format!("confirm of publish to {key}")))
}

/// A publish's fate from its confirm and `returned`, the reply of the broker's return of this
/// very publish if there was one.
pub fn judge(
    ch: &Channel,
    key: &str,
    confirm: &Confirmation,
    returned: Option<String>,
) -> Result<(), BrokerError> {
    if let Some(reply) = returned {
        return Err(BrokerError::Returned {
            key: key.to_string(),
            reply,
        });
    }
    match confirm {
        Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
        Confirmation::Nack(_) => {
            // A channel nacked during a quorum queue's leader election keeps nacking.
            close_suspect(ch, "nacked; reopening");
            Err(BrokerError::Nacked {
                key: key.to_string(),
            })
        }
    }
}

/// Messages the broker returned (`mandatory`, no queue to route to) to pipelined publishes,
/// matched to their publish by routing key and body. lapin hands each returned message to the
/// next confirm it resolves, and one multiple ack resolves several confirms in no set order, so
/// the confirm a return comes with need not be its publish's: the return of line 7 came with
/// line 6's confirm, which reported a queued line as failed and a lost one as queued.
///
/// A return arrives before its publish's ack, so once every publish up to one has been answered,
/// its return is with one of the answers that came by then: the caller keeps the returns of the
/// answer it waited for and of every later answer already there, then takes its own.
#[derive(Default)]
pub struct Returns(std::collections::HashMap<(String, Vec<u8>), Vec<String>>);

impl Returns {
    /// Returns are matched within the publishes in flight; more kept than this is a broker
    /// returning what nobody sent, and is forgotten.
    const MAX: usize = 4096;

    /// Keep the returned message lapin handed `confirm`, if any (taken out of it).
    pub fn keep(&mut self, confirm: &mut Confirmation) {
        let (Confirmation::Ack(m) | Confirmation::Nack(m)) = confirm else {
            return;
        };
        let Some(ret) = m.take() else {
            return;
        };
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        let key = (ret.delivery.routing_key.to_string(), ret.delivery.data);
        self.0
            .entry(key)
            .or_default()
            .push(ret.reply_text.to_string());
    }

    /// The broker's reply if it returned the publish of `body` to `key`.
    pub fn take(&mut self, key: &str, body: &[u8]) -> Option<String> {
        let k = (key.to_string(), body.to_vec());
        let replies = self.0.get_mut(&k)?;
        let reply = replies.pop();
        if replies.is_empty() {
            self.0.remove(&k);
        }
        reply
    }
}

/// Close a channel that cannot be trusted, so that the session is no longer alive and its
/// owner opens a fresh one; in the background, as the broker may not answer the close either.
fn close_suspect(ch: &Channel, why: &'static str) {
    let ch = ch.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CLOSE_WAIT, ch.close(200, why.into())).await;
    });
}

/// Publish without waiting (heartbeats, status, log chunks: losing one is harmless).
pub async fn publish_fast(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
) -> Result<(), BrokerError> {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    )
    .await
    .map(drop)
    .map_err(BrokerError::amqp(format!("publish to {exchange}")))
}
