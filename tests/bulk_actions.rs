//! Bulk actions through the console's feed against the real RabbitMQ: every target that
//! exists is acted on, the ones that do not are reported as such, and nothing else moves.
//! (The reported bug: a bulk cancel of 16 queued requests failed for all of them, each
//! cancel's scan of the queue holding the messages the other scans looked for.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use adtop::controller::submit::stamp;
use adtop::ops::event::ModelEvent;
use adtop::ops::op::{Fetch, OpRequest, Outbound};
use adtop::protocol::{Params, Request};
use common::*;

async fn publish(h: &Harness, pkg: &str) -> (String, String) {
    let r = Request::new(
        pkg,
        stamp(Params {
            triggers: vec![format!("{pkg}/1.0")],
            ..Params::default()
        }),
    )
    .unwrap();
    publish_raw(h, r.body().as_bytes()).await;
    (r.params.uuid.clone().unwrap(), r.body())
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_cancel_removes_every_queued_target_and_reports_the_missing_ones() {
    let h = Harness::new("bulk", "").await;
    let queue = h.queue();
    adtop::broker::topology::declare_request_queue(&h.ch, &queue, &Default::default())
        .await
        .unwrap();
    let mut targets = Vec::new();
    let mut kept = Vec::new();
    for i in 0..16 {
        let (uuid, body) = publish(&h, &format!("pkg{i}")).await;
        // Every other one stays: a cancel must put back what it does not remove, in order.
        if i % 4 == 3 {
            kept.push(uuid);
        } else {
            targets.push((uuid, body));
        }
    }
    // Two targets a worker took meanwhile: gone from the queue.
    let gone: Vec<String> = (0..2).map(|_| uuid::Uuid::new_v4().to_string()).collect();

    let ctx = adtop::ops::Context {
        broker_url: BROKER.into(),
        management: adtop::broker::management::Management::new("http://127.0.0.1:15672", BROKER)
            .unwrap(),
        store: adtop::store::Store::open(
            &format!("file://{}", h.store().display()),
            &Default::default(),
        )
        .unwrap(),
        queue_cfg: Default::default(),
        fallback_queues: vec![queue.clone()],
        operator: "bulk-tester".into(),
        host: "test".into(),
    };
    let (events_tx, mut events) = tokio::sync::mpsc::channel(4096);
    let (out, out_rx) = tokio::sync::mpsc::unbounded_channel();
    let feed = tokio::spawn(adtop::ops::feed::serve(ctx, events_tx, out_rx, None));
    // The console has the queue's Requests open, so the feed browses it meanwhile, as it does.
    out.send(Outbound::Fetch(Fetch::Requests {
        queue: queue.clone(),
        offset: 0,
        limit: 50,
    }))
    .unwrap();
    let mut ops: Vec<OpRequest> = targets
        .iter()
        .map(|(uuid, body)| OpRequest::Cancel {
            queue: queue.clone(),
            uuid: Some(uuid.clone()),
            body: body.clone(),
        })
        .collect();
    ops.extend(gone.iter().map(|u| OpRequest::Cancel {
        queue: queue.clone(),
        uuid: Some(u.clone()),
        body: String::new(),
    }));
    let n = ops.len();
    for (id, op) in ops.into_iter().enumerate() {
        out.send(Outbound::Op {
            id: id as u64,
            operator: "bulk-tester".into(),
            op,
        })
        .unwrap();
    }
    let mut outcomes = std::collections::BTreeMap::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while outcomes.len() < n {
        let e = tokio::time::timeout_at(until, events.recv())
            .await
            .expect("every op answered in time")
            .expect("feed running");
        if let ModelEvent::OpOutcome { id, ok, message } = e {
            outcomes.insert(id, (ok, message));
        }
    }
    let failed: Vec<_> = outcomes.values().filter(|(ok, _)| !ok).collect();
    assert_eq!(
        failed.len(),
        2,
        "only the two gone ones fail: {outcomes:#?}"
    );
    for (_, why) in failed {
        assert!(why.contains("not in") && why.contains(&queue), "{why}");
    }
    // What is left is exactly the untargeted requests, in their order.
    let s = adtop::broker::Session::open(BROKER, "bulk test")
        .await
        .unwrap();
    let (total, rows) = adtop::ops::read::browse(&s, &queue, 0, 50).await.unwrap();
    s.close().await;
    assert_eq!(total, kept.len() as u64);
    let left: Vec<String> = rows.into_iter().filter_map(|r| r.uuid).collect();
    assert_eq!(left, kept);
    feed.abort();
    h.cleanup().await;
}
