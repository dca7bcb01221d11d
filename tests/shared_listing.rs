//! One management-API queue listing per interval for every console (`ops::listing`), against
//! the real RabbitMQ and its management API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use adtop::broker::management::Management;
use adtop::broker::{Session, publish, topology};
use adtop::ops::listing::{self, Share};
use adtop::ops::shared::{Names, Reading};
use lapin::options::QueueDeleteOptions;

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const MANAGEMENT: &str = "http://127.0.0.1:15672";

/// Two consoles: the elected one lists the queues and both receive its listing, so neither
/// asks the management API itself; junk under the listing's key changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn one_listing_is_shared_by_every_console() {
    let tag = std::process::id();
    let q = format!("debci-listing{tag}-amd64");
    let probe = Session::open(BROKER, "listing probe").await.unwrap();
    let ch = probe.channel().await.unwrap();
    topology::declare_request_queue(&ch, &q, &Default::default())
        .await
        .unwrap();
    let names = Names {
        reader: format!("adtop.test-reader-listing-{tag}"),
        exchange: format!("adtop.test-snapshots-listing-{tag}"),
    };
    let mgmt = Management::new(MANAGEMENT, BROKER).unwrap();
    let (a, b) = (Share::new(mgmt.clone()), Share::new(mgmt));
    let first = Arc::new(Session::open(BROKER, "console 1").await.unwrap());
    let second = Arc::new(Session::open(BROKER, "console 2").await.unwrap());
    let one = Reading::start_sharing(first.clone(), names.clone(), Some(a.clone())).await;
    let two = Reading::start_sharing(second.clone(), names.clone(), Some(b.clone())).await;

    let names_q = |s: &Share| s.fresh().is_some_and(|l| l.iter().any(|x| x.name == q));
    let until = Instant::now() + Duration::from_secs(30);
    while !(names_q(&a) && names_q(&b)) {
        assert!(Instant::now() < until, "no shared listing naming {q}");
        tokio::time::sleep(Duration::from_millis(100)).await; // polling the shares
    }
    // Only what the Queues view lists travels (request queues, adtop's rejected and held).
    let l = b.fresh().unwrap();
    assert!(l.iter().all(|x| adtop::ops::listing::shown(&x.name)));

    // Junk under the listing's key is ignored; the next real listing still arrives.
    for junk in [b"junk".to_vec(), vec![0x1f, 0x8b, 0, 0]] {
        publish::publish_fast(&probe.fast, &names.exchange, listing::STATS_KEY, &junk)
            .await
            .unwrap();
    }
    let sent = tokio::time::Instant::now();
    let until = Instant::now() + listing::STATS_EVERY * 3;
    while !(b.received_at().is_some_and(|t| t > sent) && names_q(&b)) {
        assert!(Instant::now() < until, "the listings stopped after junk");
        tokio::time::sleep(Duration::from_millis(100)).await; // polling the share
    }

    drop((one, two));
    first.close().await;
    second.close().await;
    let _ = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = ch
        .exchange_delete(names.exchange.as_str().into(), Default::default())
        .await;
    probe.close().await;
}
