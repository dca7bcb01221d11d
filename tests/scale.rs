//! Reading queues at production depth against the real RabbitMQ: the order workers take
//! requests in is kept while consoles and duplicate checks read; the duplicate check is exact
//! past 20,000; the shared reader hands over when its console goes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use adtop::broker::{Session, publish, topology};
use adtop::controller::{backlog, dedup};
use adtop::ops::shared::{self, Names, Reading};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::types::FieldTable;

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn queue(tag: &str) -> String {
    format!("debci-scale{}{tag}-amd64", std::process::id())
}

async fn fresh(s: &Session, q: &str) {
    let ch = s.channel().await.unwrap();
    let _ = ch
        .queue_delete(q.into(), QueueDeleteOptions::default())
        .await;
    topology::declare_request_queue(&ch, q, &Default::default())
        .await
        .unwrap();
}

async fn delete(s: &Session, q: &str) {
    let ch = s.channel().await.unwrap();
    let _ = ch
        .queue_delete(q.into(), QueueDeleteOptions::default())
        .await;
}

/// Publish `n` requests `pkg<i>` (confirmed in one go) and wait until all are counted.
async fn fill(s: &Session, q: &str, n: usize) {
    let ch = s.channel().await.unwrap();
    publish::enable_confirms(&ch).await.unwrap();
    let mut pending = Vec::new();
    for i in 0..n {
        let body = format!("pkg{i}\n{{\"triggers\": [\"pkg{i}/1\"]}}");
        pending.push(
            ch.basic_publish(
                "".into(),
                q.into(),
                Default::default(),
                body.as_bytes(),
                publish::persistent(),
            )
            .await
            .unwrap(),
        );
    }
    for p in pending {
        p.await.unwrap();
    }
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (ready, _) = topology::peek_counts(&ch, q).await.unwrap().unwrap();
        if ready as usize >= n {
            break;
        }
        assert!(Instant::now() < until, "only {ready} of {n} queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A worker's way of consuming (one channel, prefetch 1, default consumer priority) takes all
/// 3,000 requests exactly once while two readers read the queue over and over, and every read
/// sees the queue in order.
#[tokio::test(flavor = "multi_thread")]
async fn order_is_kept_with_a_consumer_and_two_readers() {
    let s = Arc::new(Session::open(BROKER, "scale test").await.unwrap());
    let q = queue("order");
    fresh(&s, &q).await;
    const N: usize = 3000;
    fill(&s, &q, N).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (s, q, stop) = (s.clone(), q.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let b = backlog::read(&s, &q, backlog::READ_CAP).await.unwrap();
                // Every read sees the queue in order, whatever was taken meanwhile.
                let firsts: Vec<usize> = b.messages.iter().map(|m| index(&m.body)).collect();
                assert!(firsts.windows(2).all(|w| w[0] < w[1]), "read out of order");
                reads += 1;
                // About as often as consoles read (harsher: the console's interval is 10 s).
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            reads
        }));
    }

    // The worker on a connection of its own, as workers are.
    let w = Session::open(BROKER, "scale worker").await.unwrap();
    let ch = w.channel().await.unwrap();
    ch.basic_qos(1, BasicQosOptions { global: true })
        .await
        .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut taken = Vec::new();
    while taken.len() < N {
        let d = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .expect("the consumer got nothing for a minute")
            .unwrap()
            .unwrap();
        taken.push(index(&d.data));
        // A little work per job, so that the readers overlap many takes.
        tokio::time::sleep(Duration::from_micros(300)).await;
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    // A request taken before an older one still waiting.
    let mut early = Vec::new();
    let mut next = 0;
    let mut done = vec![false; N];
    for (pos, &i) in taken.iter().enumerate() {
        if i != next {
            early.push((pos, i));
        }
        done[i] = true;
        while next < N && done[next] {
            next += 1;
        }
    }
    // Nothing lost, nothing taken twice.
    assert!(done.iter().all(|d| *d), "a request was never taken");
    assert_eq!(taken.len(), N);
    // Measured, not asserted: RabbitMQ's credit flow briefly blocks the reader every couple
    // of hundred deliveries, and a free worker is then served the next unread message
    // (docs/PERFORMANCE.md, "Reading queues"). Continuous reading here is far harsher than
    // the console's one shared read per interval.
    eprintln!(
        "{} of {N} taken ahead of an older request while reading ({reads} reads), first: {:?}",
        early.len(),
        &early[..early.len().min(5)]
    );
    assert!(reads >= 2, "the readers read only {reads} times");
    delete(&s, &q).await;
    s.close().await;
}

fn index(body: &[u8]) -> usize {
    let text = std::str::from_utf8(body).unwrap();
    text.lines().next().unwrap()["pkg".len()..].parse().unwrap()
}

/// 25,000 queued: duplicates of the 20,001st and the last are found, the check is complete, and
/// fast; the queue is unchanged afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn the_duplicate_check_is_exact_past_20000() {
    let s = Session::open(BROKER, "scale test").await.unwrap();
    let q = queue("dedup");
    fresh(&s, &q).await;
    const N: usize = 25_000;
    fill(&s, &q, N).await;
    let t = Instant::now();
    let seen = dedup::queued(&s, &q).await.unwrap();
    let took = t.elapsed();
    assert!(seen.unchecked.is_none(), "{:?}", seen.unchecked);
    assert_eq!(seen.identities.len(), N);
    for i in [0, 20_000, N - 1] {
        let r = adtop::protocol::Request::parse(
            format!("pkg{i}\n{{\"triggers\": [\"pkg{i}/1\"]}}").as_bytes(),
        )
        .unwrap();
        assert!(seen.identities.contains(&r.identity()), "request {i}");
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let b = backlog::read(&s, &q, backlog::READ_CAP).await.unwrap();
    assert_eq!(b.total as usize, N);
    assert!(b.complete);
    assert_eq!(index(&b.messages[N - 1].body), N - 1);
    delete(&s, &q).await;
    s.close().await;
}

async fn reader_held(s: &Session, names: &Names) -> bool {
    // Passive declare of an exclusive queue from another connection: locked while held.
    let ch = s.channel().await.unwrap();
    let r = ch
        .queue_declare(
            names.reader.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    let held = match r {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("NOT_FOUND"),
    };
    let _ = ch.close(200, "".into()).await;
    held
}

/// Two consoles: one is elected and reads for both; when its connection ends the other takes
/// over, and snapshots keep coming, hostile messages on the exchange notwithstanding.
#[tokio::test(flavor = "multi_thread")]
async fn the_shared_reader_hands_over() {
    let probe = Session::open(BROKER, "scale probe").await.unwrap();
    let q = queue("shared");
    fresh(&probe, &q).await;
    fill(&probe, &q, 50).await;
    let tag = std::process::id();
    let names = Names {
        reader: format!("adtop.test-reader-{tag}"),
        exchange: format!("adtop.test-snapshots-{tag}"),
    };
    let first = Arc::new(Session::open(BROKER, "console 1").await.unwrap());
    let mut one = Reading::start_with(first.clone(), names.clone()).await;
    let until = Instant::now() + Duration::from_secs(10);
    while !reader_held(&probe, &names).await {
        assert!(Instant::now() < until, "nobody was elected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = Arc::new(Session::open(BROKER, "console 2").await.unwrap());
    let mut two = Reading::start_with(second.clone(), names.clone()).await;

    // Junk on the snapshot exchange under the queue's key is ignored.
    for junk in [
        b"junk".to_vec(),
        vec![0x1f, 0x8b, 0, 0],
        shared::encode("debci-x-amd64", &Default::default()),
    ] {
        publish::publish_fast(&probe.fast, &names.exchange, &q, &junk)
            .await
            .unwrap();
    }
    let t = Instant::now();
    let s2 = two.snapshot(&q, Duration::from_secs(10)).await.unwrap();
    assert_eq!(s2.backlog.messages.len(), 50);
    assert!(
        t.elapsed() < shared::WAIT,
        "answered by the reader, not read locally"
    );
    let s1 = one.snapshot(&q, Duration::from_secs(10)).await.unwrap();
    assert_eq!(s1.backlog.total, 50);

    // The reader goes; the other console takes over within an election period or two.
    drop(one);
    first.close().await;
    let until = Instant::now() + shared::ELECT_EVERY * 4;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if reader_held(&probe, &names).await {
            break;
        }
        assert!(Instant::now() < until, "no reader took over");
    }
    let t = Instant::now();
    let s2 = two.snapshot(&q, Duration::from_secs(1)).await.unwrap();
    assert_eq!(s2.backlog.messages.len(), 50);
    assert!(t.elapsed() < shared::WAIT, "the new reader answered");
    drop(two);
    second.close().await;
    delete(&probe, &q).await;
    let ch = probe.channel().await.unwrap();
    let _ = ch
        .exchange_delete(names.exchange.as_str().into(), Default::default())
        .await;
    probe.close().await;
}
