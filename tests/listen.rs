//! What a console or worker listens to (`broker::listen`) waits in the broker, bounded, not in
//! the process: against the real RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use adtop::broker::listen::{self, Listener, MAX_WAITING, PREFETCH};
use adtop::broker::{Session, publish, topology};
use futures::StreamExt;
use lapin::ExchangeKind;
use lapin::options::{ExchangeDeclareOptions, ExchangeDeleteOptions};
use lapin::types::FieldTable;

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Everything `l` is handed until the message `end`, each within 10 s of the last.
async fn take_until_end(l: &mut Listener) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let d = tokio::time::timeout(Duration::from_secs(10), l.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} messages", got.len()))
            .expect("the listener ended")
            .expect("delivery");
        let body = String::from_utf8_lossy(&d.data).to_string();
        got.push(body.clone());
        if body == "end" {
            return got;
        }
    }
}

/// A flood nobody takes: this process is sent at most the prefetch, the broker keeps the newest
/// `MAX_WAITING` and drops the rest; once taken, all of it comes (acknowledged as taken), also
/// for two listeners on one channel, whose acknowledgements must not cover each other's.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_waits_in_the_broker_bounded_not_in_the_listener() {
    let x = format!("adtop.test-listen-{}", std::process::id());
    let s = Session::open(BROKER, "listen test").await.unwrap();
    let ch = s.channel().await.unwrap();
    let opts = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        opts,
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut a = listen::listen(&ch, &x, "").await.unwrap();
    let mut b = listen::listen(&ch, &x, "").await.unwrap();
    let flood = usize::try_from(MAX_WAITING).unwrap() + 5_000;
    for i in 0..flood {
        publish::publish_fast(&s.fast, &x, "", i.to_string().as_bytes())
            .await
            .unwrap();
    }
    publish::publish_fast(&s.fast, &x, "", b"end")
        .await
        .unwrap();
    // The broker holds the newest MAX_WAITING for each; the rest were dropped, not sent here.
    let until = Instant::now() + Duration::from_secs(30);
    for l in [&a, &b] {
        loop {
            let ready = topology::peek_counts(&ch, l.queue().as_str())
                .await
                .unwrap()
                .map(|(r, _)| i64::from(r));
            if ready == Some(MAX_WAITING) {
                break;
            }
            assert!(Instant::now() < until, "{}: ready {ready:?}", l.queue());
            tokio::time::sleep(Duration::from_millis(50)).await; // polling the queue's depth
        }
    }
    for l in [&mut a, &mut b] {
        let got = take_until_end(l).await;
        let most = usize::try_from(MAX_WAITING).unwrap() + usize::from(PREFETCH);
        assert!(
            got.len() >= usize::try_from(MAX_WAITING).unwrap() && got.len() <= most,
            "{} taken of {flood} (at most {most})",
            got.len()
        );
        // The first ones were sent before the queue filled; after them only the newest.
        let tail = &got[got.len() - usize::try_from(MAX_WAITING).unwrap()..];
        assert_eq!(
            tail[0],
            (flood - usize::try_from(MAX_WAITING).unwrap() + 1).to_string()
        );
    }
    assert!(
        ch.status().connected(),
        "a refused acknowledgement closed the channel"
    );
    let _ = ch
        .exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
        .await;
    s.close().await;
}
