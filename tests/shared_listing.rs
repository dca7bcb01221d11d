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

/// Two consoles: heartbeats are relayed to both in batches and the depths of the queues on
/// screen come from one declare per second for both; junk under the relay's keys changes
/// nothing; when one console goes, the other still hears the relay (it leads, or already did).
#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_and_depths_are_relayed_to_every_console_and_outlive_a_console() {
    use adtop::ops::relay::{self, Relayed};
    use adtop::ops::shared::Shares;

    let tag = std::process::id();
    let q = format!("debci-relay{tag}-amd64");
    let probe = Session::open(BROKER, "relay probe").await.unwrap();
    let ch = probe.channel().await.unwrap();
    topology::declare_common(&ch).await.unwrap();
    topology::declare_request_queue(&ch, &q, &Default::default())
        .await
        .unwrap();
    for _ in 0..3 {
        publish::publish_fast(&probe.fast, "", &q, b"hello\n{}")
            .await
            .unwrap();
    }
    let names = Names {
        reader: format!("adtop.test-reader-relay-{tag}"),
        exchange: format!("adtop.test-snapshots-relay-{tag}"),
    };
    let (ia, mut ra) = relay::inbox();
    let (ib, mut rb) = relay::inbox();
    let shares = |i: &relay::Inbox| Shares {
        listing: None,
        relay: Some(i.clone()),
    };
    let first = Arc::new(Session::open(BROKER, "console 1").await.unwrap());
    let second = Arc::new(Session::open(BROKER, "console 2").await.unwrap());
    let one = Reading::start_relaying(first.clone(), names.clone(), shares(&ia)).await;
    let two = Reading::start_relaying(second.clone(), names.clone(), shares(&ib)).await;

    // What the consoles' feeds do: say what is on screen; and a worker heartbeating.
    let id = format!("relay-worker-{tag}");
    let body = format!("{{\"id\":\"{id}\"}}").into_bytes();
    let (talk, reader_q) = (
        Session::open(BROKER, "relay talker").await.unwrap(),
        names.reader.clone(),
    );
    // Queues that do not exist (each closes the reader's channel under the declares behind it)
    // must not keep the real one's depth away.
    let mut on_screen: Vec<String> = (0..12)
        .map(|i| format!("debci-relay{tag}-gone{i}"))
        .collect();
    on_screen.push(q.clone());
    let watch = relay::watch_message(&on_screen);
    let talker = tokio::spawn(async move {
        loop {
            let _ = publish::publish_fast(&talk.fast, "", &reader_q, &watch).await;
            let _ = publish::publish_fast(
                &talk.fast,
                adtop::protocol::names::HEARTBEAT_EXCHANGE,
                "",
                &body,
            )
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await; // a heartbeat's interval
        }
    });

    // Until both have heard the worker and seen the queue's depth `want`.
    async fn hears(r: &mut tokio::sync::mpsc::Receiver<Relayed>, id: &str, q: &str, want: u64) {
        let (mut heard, mut depth) = (false, false);
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while !(heard && depth) {
            let r = tokio::time::timeout_at(until, r.recv())
                .await
                .expect("the relay went quiet")
                .expect("the inbox closed");
            match r {
                Relayed::Heartbeats(b) => {
                    heard |= b.iter().any(|(age, body)| {
                        *age <= Duration::from_secs(2) && String::from_utf8_lossy(body).contains(id)
                    })
                }
                Relayed::Depths(d) => {
                    depth |= d.iter().any(|(n, ready, _)| n == q && *ready == want)
                }
            }
        }
    }
    hears(&mut ra, &id, &q, 3).await;
    hears(&mut rb, &id, &q, 3).await;
    assert!(ia.heartbeats_fresh() && ib.depths_fresh());

    // Junk under the relay's keys is ignored; a new depth still shows on both.
    for key in [relay::HEARTBEATS_KEY, relay::DEPTHS_KEY] {
        for junk in [
            b"junk".to_vec(),
            vec![0x1f, 0x8b, 0, 0],
            b"{\"depths\":[[\"\x1b[2J\",1,1]]}".to_vec(),
        ] {
            publish::publish_fast(&probe.fast, &names.exchange, key, &junk)
                .await
                .unwrap();
        }
    }
    publish::publish_fast(&probe.fast, "", &q, b"hello\n{}")
        .await
        .unwrap();
    hears(&mut ra, &id, &q, 4).await;
    hears(&mut rb, &id, &q, 4).await;

    // The first console goes: the second still hears heartbeats and depths.
    drop(one);
    first.close().await;
    publish::publish_fast(&probe.fast, "", &q, b"hello\n{}")
        .await
        .unwrap();
    hears(&mut rb, &id, &q, 5).await;

    talker.abort();
    drop(two);
    second.close().await;
    let _ = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = ch
        .exchange_delete(names.exchange.as_str().into(), Default::default())
        .await;
    probe.close().await;
}

/// One console relaying under reader and exchange names of its own (`what` and this process):
/// the names, its session, its reading and what its feed would receive.
async fn lone_relaying_console(
    what: &str,
) -> (
    Names,
    Arc<Session>,
    Reading,
    tokio::sync::mpsc::Receiver<adtop::ops::relay::Relayed>,
) {
    let tag = std::process::id();
    let names = Names {
        reader: format!("adtop.test-reader-{what}-{tag}"),
        exchange: format!("adtop.test-snapshots-{what}-{tag}"),
    };
    let (inbox, rx) = adtop::ops::relay::inbox();
    let session = Arc::new(Session::open(BROKER, "console").await.unwrap());
    let shares = adtop::ops::shared::Shares {
        listing: None,
        relay: Some(inbox),
    };
    let console = Reading::start_relaying(session.clone(), names.clone(), shares).await;
    (names, session, console, rx)
}

/// The reader takes heartbeats from its queue in one burst a second: a thousand sent at once
/// all reach a console, each once, in the next batches.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_heartbeats_reaches_a_console_whole_and_once() {
    use adtop::ops::relay::Relayed;
    use std::collections::HashMap;

    let tag = std::process::id();
    let (names, session, console, mut rx) = lone_relaying_console("burst").await;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    // A first batch: the reader leads and its heartbeat queue is bound.
    loop {
        let r = tokio::time::timeout_at(until, rx.recv()).await;
        if let Ok(Some(Relayed::Heartbeats(_))) = r {
            break;
        }
        assert!(r.is_ok(), "no relay within 30 s");
    }
    let probe = Session::open(BROKER, "burst probe").await.unwrap();
    let prefix = format!("burst-{tag}-");
    for i in 0..1000 {
        let body = format!("{{\"id\":\"{prefix}{i}\"}}");
        publish::publish_fast(
            &probe.fast,
            adtop::protocol::names::HEARTBEAT_EXCHANGE,
            "",
            body.as_bytes(),
        )
        .await
        .unwrap();
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    while seen.len() < 1000 {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(Relayed::Heartbeats(batch))) => {
                for (_, body) in batch {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    if text.contains(&prefix) {
                        *seen.entry(text).or_default() += 1;
                    }
                }
            }
            Ok(Some(Relayed::Depths(_))) => {}
            _ => panic!("{} of 1000 heartbeats relayed within 30 s", seen.len()),
        }
    }
    assert!(seen.values().all(|n| *n == 1), "a heartbeat relayed twice");

    drop(console);
    session.close().await;
    let ch = probe.channel().await.unwrap();
    let _ = ch
        .exchange_delete(names.exchange.as_str().into(), Default::default())
        .await;
    probe.close().await;
}

/// A console leads; the relay service (`adtop relay`) comes: the console steps down, the
/// service leads and the console still hears the relay; the service goes: the console leads
/// again.
#[tokio::test(flavor = "multi_thread")]
async fn the_relay_service_takes_over_from_a_console_and_hands_back() {
    use adtop::ops::relay::Relayed;
    use adtop::ops::shared;

    let (names, session, console, mut rx) = lone_relaying_console("service").await;
    async fn until(what: &str, ok: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(Instant::now() < end, "{what}");
            tokio::time::sleep(Duration::from_millis(100)).await; // polling a flag
        }
    }
    until("the lone console never led", || console.leads()).await;

    let svc = Arc::new(Session::open(BROKER, "relay service").await.unwrap());
    let leads = shared::Leads::default();
    let service = tokio::spawn(shared::serve_relay(
        svc.clone(),
        names.clone(),
        Share::new(Management::new(MANAGEMENT, BROKER).unwrap()),
        leads.clone(),
    ));
    let svc_leads = || leads.load(std::sync::atomic::Ordering::Relaxed);
    until("the console did not step down for the service", || {
        !console.leads() && svc_leads()
    })
    .await;
    // Batches keep coming, and only a leader sends them: drop what came before, and allow the
    // console's last one in flight.
    while rx.try_recv().is_ok() {}
    let mut batches = 0;
    while batches < 3 {
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no relay from the service")
            .expect("the inbox closed");
        if matches!(r, Relayed::Heartbeats(_)) {
            batches += 1;
        }
    }
    assert!(
        !console.leads(),
        "the console took the lead back from the service"
    );

    // The service goes: the console leads again.
    svc.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(30), service).await;
    until("the console did not lead again after the service", || {
        console.leads()
    })
    .await;

    drop(console);
    session.close().await;
    let probe = Session::open(BROKER, "service probe").await.unwrap();
    let ch = probe.channel().await.unwrap();
    let _ = ch
        .exchange_delete(names.exchange.as_str().into(), Default::default())
        .await;
    probe.close().await;
}

/// `adtop submit` believes the management API's count of workers only when the API knows the
/// queue its ping's answers come to (`Management::has_queue`): the default API is the local
/// broker's, whatever broker the URL names. A queue of this broker is known, a name it never
/// had is not, and a name with `/` in it is one path segment.
#[tokio::test(flavor = "multi_thread")]
async fn the_management_api_knows_which_queues_are_its_brokers() {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let q = format!("adtop.test-known/{tag}");
    let s = Session::open(BROKER, "has_queue test").await.unwrap();
    let ch = s.channel().await.unwrap();
    ch.queue_declare(
        q.as_str().into(),
        lapin::options::QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        lapin::types::FieldTable::default(),
    )
    .await
    .unwrap();
    let m = Management::new(MANAGEMENT, BROKER).unwrap();
    let known = m.has_queue(&q).await;
    let unknown = m.has_queue(&format!("adtop.test-never-{tag}")).await;
    let _ = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await;
    s.close().await;
    assert!(known.unwrap(), "a queue of this broker");
    assert!(!unknown.unwrap(), "a queue it never had");
}
