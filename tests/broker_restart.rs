//! RabbitMQ restarts while requests are queued and one is running: none is lost, each is
//! announced once (a repeat the worker could not rule out comes marked as one), and the worker carries on by itself. This binary holds only this test: it
//! restarts the broker every other test talks to (cargo runs test binaries one at a time). An
//! operator's console watches through the outage: it shows it, stays up and reconnects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use adtop::protocol::messages::TestComplete;
use adtop::protocol::names;
use common::*;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

const RUN: Duration = Duration::from_secs(120);

async fn reconnect() -> Connection {
    for _ in 0..120 {
        if let Ok(c) = Connection::connect(BROKER, ConnectionProperties::default()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the broker did not come back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_restart_loses_nothing_and_announces_each_result_once() {
    let _serial = lock_autopkgtest().await;
    let mut h = Harness::new("restart", "").await;
    h.declare_common().await;
    // A durable queue of our own keeps the completions announced while the broker restarts.
    let sink = format!("{}-completions", h.release);
    h.ch.queue_declare(
        sink.as_str().into(),
        QueueDeclareOptions::durable(),
        FieldTable::default(),
    )
    .await
    .expect("declare sink");
    h.ch.queue_bind(
        sink.as_str().into(),
        names::TESTCOMPLETE_EXCHANGE.into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind sink");
    h.start_worker("a", &[]);
    let running = h.submit("fx-slow", &["--env", "ADTOP_FIXTURE_SECONDS=15"]);
    wait_live(&h, &running, "tick 1", RUN).await;
    let queued: Vec<String> = ["fx-pass/1", "fx-pass/2"]
        .iter()
        .map(|t| h.submit("fx-pass", &["--trigger", t]))
        .collect();
    assert_eq!(depth(&h, &h.queue()).await, (2, 1));

    // An operator's console watches through the outage.
    let session = format!("adtop-{}", h.release);
    let console = format!(
        "XDG_DATA_HOME={data} {bin} --config {cfg} --store {store}",
        data = h.dir.path().display(),
        bin = bin(),
        cfg = h.config.display(),
        store = h.store_url()
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux");
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "180",
        "-y",
        "40",
        &console,
    ]);
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).to_string()
    };
    let wait_screen = |what: &str, f: &dyn Fn(&str) -> bool| {
        let until = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = screen();
            if f(&s) {
                return;
            }
            assert!(
                std::time::Instant::now() < until,
                "console never showed {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_screen("the broker up", &|s| s.contains("● up"));

    rabbitmqctl(&["stop_app"]);
    wait_screen("the outage", &|s| s.contains("reconnecting"));
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
    wait_screen("the broker back", &|s| {
        !s.contains("reconnecting")
            && s.lines()
                .next()
                .is_some_and(|l| l.matches("● up").count() == 2)
    });
    tmux(&["kill-session", "-t", &session]);

    let conn = reconnect().await;
    let ch = conn.create_channel().await.expect("channel");
    let mut seen: HashMap<String, TestComplete> = HashMap::new();
    let mut count: HashMap<String, usize> = HashMap::new();
    let mut repeats = 0usize;
    let expected: Vec<&String> = std::iter::once(&running).chain(queued.iter()).collect();
    let until = std::time::Instant::now() + Duration::from_secs(240);
    while expected.iter().any(|u| !seen.contains_key(*u)) {
        assert!(
            std::time::Instant::now() < until,
            "results missing after the restart: have {:?}",
            seen.keys().collect::<Vec<_>>()
        );
        match ch
            .basic_get(sink.as_str().into(), BasicGetOptions::default())
            .await
            .expect("get")
        {
            Some(m) => {
                let c: TestComplete = serde_json::from_slice(&m.delivery.data).expect("completion");
                let repeat = is_repeat(&m.delivery);
                repeats += usize::from(repeat);
                *count.entry(c.uuid.clone()).or_default() += usize::from(!repeat);
                seen.insert(c.uuid.clone(), c);
                m.delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
            }
            None => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
    // A request queued now is run after the spool is announced and the requests given back by
    // the restart are run (the worker does both before it consumes): once its completion is
    // here, everything announced twice is here too.
    let last = h.submit("fx-pass", &["--trigger", "fx-pass/last"]);
    let until = std::time::Instant::now() + RUN;
    let mut last_seen = false;
    while !last_seen {
        assert!(
            std::time::Instant::now() < until,
            "the request queued after the restart never completed"
        );
        match ch
            .basic_get(sink.as_str().into(), BasicGetOptions::default())
            .await
            .expect("get")
        {
            Some(m) => {
                let c: TestComplete = serde_json::from_slice(&m.delivery.data).expect("completion");
                let repeat = is_repeat(&m.delivery);
                repeats += usize::from(repeat);
                *count.entry(c.uuid.clone()).or_default() += usize::from(!repeat);
                last_seen = c.uuid == last;
                m.delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
            }
            None => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
    // A completion whose confirm the restart swallowed is announced again, marked as a possible
    // repeat (protocol.md): every result announced, never twice unmarked.
    eprintln!("announcements marked x-adtop-repeat: {repeats}");
    for u in &expected {
        assert!(
            count.get(*u).is_some_and(|n| *n <= 1),
            "{u} announced: {:?} unmarked",
            count.get(*u)
        );
        assert!(matches!(seen[*u].exitcode, 0), "{u}: {}", seen[*u].exitcode);
    }
    let q = adtop::broker::topology::peek_counts(&ch, &h.queue())
        .await
        .expect("peek");
    assert_eq!(
        q,
        Some((0, 1)),
        "queue empty and the worker consuming again, by itself"
    );
    let _ = ch
        .queue_delete(sink.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = conn.close(200, "".into()).await;
    // The harness's own connection died with the broker: reopen it for cleanup.
    h.conn = reconnect().await;
    h.ch = h.conn.create_channel().await.expect("channel");
    h.cleanup().await;
}
