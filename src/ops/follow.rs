//! Following the results index and the store's health, cheaply.
//!
//! At start the console loads the newest results of [`HISTORY_DAYS`] days: a screenful
//! ([`FIRST_SCREEN`]) first, then the rest up to [`HISTORY_RESULTS`], [`GETS_IN_FLIGHT`] GETs at
//! a time, so that the view and the store's state show at once also from a distant Swift. After that it lists
//! the index of today every [`FOLLOW_EVERY`], and yesterday's too in the first
//! [`YESTERDAY_FOR`] of the day and every [`YESTERDAY_EVERY`] after it (a listing is one
//! request), and reads only the entries it does not hold yet, so a refresh costs one or two
//! listings, not one GET per entry. The same listing is the store's health check: a failure is
//! shown as an outage since the last listing that worked (or the first check, if none did), and
//! the outage keeps that start until the store answers again.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::event::{ConnState, ModelEvent, Service};
use super::read;
use crate::protocol::messages::IndexEntry;
use crate::protocol::names;
use crate::store::{Store, StoreError};

/// How far back results and audit records are loaded at start: two days of the index.
pub const HISTORY_DAYS: i64 = 2;
pub const HISTORY_RESULTS: usize = 2000;
/// The newest results read first at start, before the other [`HISTORY_RESULTS`].
pub const FIRST_SCREEN: usize = 100;
/// Index entries read at once: a start reads up to [`HISTORY_RESULTS`] of them, one GET each,
/// which one after the other from a Swift a few milliseconds away would take the best part of
/// a minute.
pub const GETS_IN_FLIGHT: usize = 16;
/// How often the index is listed for new results (and the store's health checked).
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How long into a day yesterday's index is listed at every refresh, and how often after that.
/// An entry is named by when its job finished, so yesterday's still grows after midnight (a
/// job finishing late, a worker uploading what it spooled while the store was away); listing
/// a full day's index every 2 s all day was the larger part of an idle console's reads.
pub const YESTERDAY_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(1);
pub const YESTERDAY_EVERY: Duration = Duration::from_secs(60);

/// How many days of the index a refresh lists (today = 1); `yesterday_due`: a minute since
/// yesterday's was last listed.
fn days_to_list(first: bool, now: DateTime<Utc>, yesterday_due: bool) -> i64 {
    if first {
        HISTORY_DAYS
    } else if yesterday_due || now.time() < chrono::NaiveTime::MIN + YESTERDAY_FOR {
        2
    } else {
        1
    }
}

/// The store's state as the follower last reported it.
#[derive(Debug, Default)]
struct Health {
    down_since: Option<DateTime<Utc>>,
    reason: Option<String>,
    reported: bool,
}

/// Where the follower is: the start's newest results, the rest of the start, then refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Rest,
    Follow,
}

/// How much of what a listing shows and is not held yet a step reads.
#[derive(Debug, Clone, Copy)]
struct Take {
    /// At most this many, the newest; the others are read by a later step.
    now: usize,
    /// Past this many newest, names are held unread: a start shows [`HISTORY_RESULTS`].
    ever: Option<usize>,
}

impl Take {
    /// After the start: what is new, a start's worth at a time (a step that got that many
    /// runs again at once), so that a burst of names is not read, and held, all at once.
    const ALL: Self = Self {
        now: HISTORY_RESULTS,
        ever: None,
    };
    /// A screenful first, so that the view and the store's state show before the rest is in.
    const START: Self = Self {
        now: FIRST_SCREEN,
        ever: Some(HISTORY_RESULTS),
    };
}

pub async fn serve(store: Store, events: mpsc::Sender<ModelEvent>) {
    let endpoint = Some(store.describe());
    let mut held: HashSet<String> = HashSet::new();
    let mut health = Health::default();
    // When a listing last worked: an outage began after it, so it is what "down N s" counts
    // from (at most one refresh more than the truth, where the failed listing's own time would
    // be up to one refresh less).
    let mut last_ok: Option<DateTime<Utc>> = None;
    let mut phase = Phase::Start;
    let mut again = false;
    let mut yesterday_at: Option<tokio::time::Instant> = None;
    let mut tick = super::beat::Beat::every(FOLLOW_EVERY);
    loop {
        if !std::mem::take(&mut again) {
            tick.tick().await;
        }
        let now = Utc::now();
        let due = yesterday_at.is_none_or(|t| t.elapsed() >= YESTERDAY_EVERY);
        let days = days_to_list(phase != Phase::Follow, now, due);
        if days > 1 {
            yesterday_at = Some(tokio::time::Instant::now());
        }
        let take = match phase {
            Phase::Start => Take::START,
            Phase::Rest | Phase::Follow => Take::ALL,
        };
        let step = step(
            &store,
            &mut held,
            days,
            take,
            now.date_naive(),
            GETS_IN_FLIGHT,
        );
        let new = match step.await {
            Ok(new) => new,
            Err(e) => {
                let reason = format!("{e:#}");
                let since = *health.down_since.get_or_insert(last_ok.unwrap_or(now));
                if health.reason.as_deref() != Some(&reason) {
                    health.reason = Some(reason.clone());
                    let state = ConnState::Down { since, reason };
                    if events
                        .send(ModelEvent::Connection {
                            service: Service::Store,
                            state,
                            endpoint: endpoint.clone(),
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                continue;
            }
        };
        last_ok = Some(now);
        if health.down_since.is_some() || !health.reported {
            health = Health {
                reported: true,
                ..Health::default()
            };
            let _ = events
                .send(ModelEvent::Connection {
                    service: Service::Store,
                    state: ConnState::Connected,
                    endpoint: endpoint.clone(),
                })
                .await;
        }
        again |= phase != Phase::Start && new.len() >= Take::ALL.now;
        for r in new.into_iter().rev() {
            if events.send(ModelEvent::Result(Box::new(r))).await.is_err() {
                return;
            }
        }
        phase = match phase {
            Phase::Start => {
                again = true;
                if let Ok(audit) = read::recent_audit(&store, HISTORY_DAYS, 500).await {
                    for r in audit.into_iter().rev() {
                        let _ = events.send(ModelEvent::Audit(r)).await;
                    }
                }
                Phase::Rest
            }
            Phase::Rest | Phase::Follow => Phase::Follow,
        };
    }
}

/// List the index of the last `days` days and read the entries not held yet, newest first,
/// as much of them as `take` says.
async fn step(
    store: &Store,
    held: &mut HashSet<String>,
    days: i64,
    take: Take,
    today: chrono::NaiveDate,
    in_flight: usize,
) -> anyhow::Result<Vec<IndexEntry>> {
    store.probe().await?;
    let day = |back: i64| {
        format!(
            "{}/",
            (today - chrono::Duration::days(back)).format("%Y%m%d")
        )
    };
    let mut present = HashSet::new();
    let mut names_new = Vec::new();
    for back in 0..days {
        let listed = store.list(names::INDEX_CONTAINER, &day(back), None).await?;
        names_new.extend(listed.iter().filter(|n| !held.contains(*n)).cloned());
        present.extend(listed);
    }
    // What a listed day no longer holds is forgotten, a day not listed this time is kept as it
    // was, and anything older than the days followed goes: two days of names, no more.
    let listed: Vec<String> = (0..days).map(day).collect();
    let kept: Vec<String> = (0..HISTORY_DAYS.max(2)).map(day).collect();
    held.retain(|n| {
        if listed.iter().any(|p| n.starts_with(p.as_str())) {
            present.contains(n)
        } else {
            kept.iter().any(|p| n.starts_with(p.as_str()))
        }
    });
    names_new.sort();
    names_new.reverse();
    if let Some(ever) = take.ever
        && names_new.len() > ever
    {
        // The older ones are not shown at start, and not read later either.
        for n in names_new.drain(ever..) {
            held.insert(n);
        }
    }
    names_new.truncate(take.now);
    Ok(read_entries(names_new, held, in_flight, |name| async move {
        store.get(names::INDEX_CONTAINER, &name).await
    })
    .await?)
}

/// What a console reads when it starts, `in_flight` GETs at a time (a console: [`GETS_IN_FLIGHT`]):
/// the newest [`HISTORY_RESULTS`] entries of [`HISTORY_DAYS`] days, a screenful first, and how
/// long that screenful took. For `benches/follow.rs`.
pub async fn start_read(
    store: &Store,
    in_flight: usize,
) -> anyhow::Result<(Vec<IndexEntry>, Duration)> {
    let (t, today) = (std::time::Instant::now(), Utc::now().date_naive());
    let mut held = HashSet::new();
    let start = step(
        store,
        &mut held,
        HISTORY_DAYS,
        Take::START,
        today,
        in_flight,
    );
    let mut got = start.await?;
    let screen = t.elapsed();
    got.extend(step(store, &mut held, HISTORY_DAYS, Take::ALL, today, in_flight).await?);
    Ok((got, screen))
}

/// Read the entries `names` (newest first) `in_flight` at a time, in that order. A name
/// is held only once the whole read has worked, so a read that fails part way (the store went
/// mid-way through the 2,000 of a start) loses nothing: the next refresh reads them again.
async fn read_entries<F, Fut>(
    names: Vec<String>,
    held: &mut HashSet<String>,
    in_flight: usize,
    get: F,
) -> Result<Vec<IndexEntry>, StoreError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<u8>>, StoreError>>,
{
    let mut reads = futures::stream::iter(names)
        .map(|name| {
            let read = get(name.clone());
            async move { (name, read.await) }
        })
        .buffered(in_flight.max(1));
    let (mut out, mut read) = (Vec::new(), Vec::new());
    while let Some((name, data)) = reads.next().await {
        // Listed but gone (or not readable yet in an eventually consistent store): next time.
        if let Some(data) = data? {
            if let Ok(e) = serde_json::from_slice::<IndexEntry>(&data) {
                out.push(e);
            }
            read.push(name);
        }
    }
    held.extend(read);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file store in a fresh directory (kept while the guard lives), and the day it is.
    fn file_store() -> (tempfile::TempDir, Store, chrono::NaiveDate) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/store", dir.path().display());
        let store = Store::open(&url, &Default::default()).expect("a URL");
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).expect("a date");
        (dir, store, today)
    }

    /// An index entry's bytes, of `uuid`.
    fn entry_json(uuid: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "uuid": uuid, "package": "p", "release": "r", "arch": "a", "queue": "q",
            "exitcode": 0, "class": "pass", "container": "c", "swift_dir": "d",
            "duration": 1, "finished": "2026-12-03T00:00:00Z", "worker": "w",
            "triggers": [], "requester": "", "testpkg_version": "", "body": "p",
        }))
        .expect("json")
    }

    /// A refresh that lists today only keeps what it holds of yesterday: the next listing of
    /// yesterday reads only what is new there, not the whole day again.
    #[tokio::test]
    async fn a_day_not_listed_is_remembered_not_read_again() {
        let (_dir, store, today) = file_store();
        let put = |name: String| {
            let store = store.clone();
            async move {
                store
                    .put(
                        names::INDEX_CONTAINER,
                        &name,
                        b"{}".to_vec(),
                        Default::default(),
                    )
                    .await
                    .expect("put")
            }
        };
        put("20261202/101010_a".into()).await;
        put("20261202/111111_b".into()).await;
        put("20261203/090909_c".into()).await;
        let mut held = HashSet::new();
        step(&store, &mut held, 2, Take::START, today, GETS_IN_FLIGHT)
            .await
            .expect("first");
        assert_eq!(held.len(), 3);
        step(&store, &mut held, 1, Take::ALL, today, GETS_IN_FLIGHT)
            .await
            .expect("today");
        assert_eq!(held.len(), 3, "yesterday's names were forgotten");
        put("20261202/235959_late".into()).await;
        step(&store, &mut held, 2, Take::ALL, today, GETS_IN_FLIGHT)
            .await
            .expect("both");
        assert_eq!(held.len(), 4);
        // The day before yesterday is dropped once it is out of the days followed.
        step(
            &store,
            &mut held,
            1,
            Take::ALL,
            today + chrono::Duration::days(2),
            GETS_IN_FLIGHT,
        )
        .await
        .expect("later");
        assert!(held.is_empty(), "{held:?}");
    }

    /// The start's read fails part way (the store goes): nothing read before the failure is
    /// held, so the next refresh reads every entry again, in order, newest first.
    #[tokio::test]
    async fn a_read_that_fails_part_way_loses_no_entry() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let names: Vec<String> = (0..50)
            .rev()
            .map(|i| format!("20261203/{i:06}_u{i}"))
            .collect();
        let body = |name: &str| entry_json(name.rsplit('_').next().unwrap_or_default());
        let away = AtomicBool::new(true);
        let get = |name: String| {
            let (away, data) = (&away, body(&name));
            async move {
                if name.ends_with("_u20") && away.load(Ordering::SeqCst) {
                    Err(StoreError::Io {
                        path: name,
                        source: std::io::Error::other("the store went"),
                    })
                } else {
                    Ok(Some(data))
                }
            }
        };
        let mut held = HashSet::new();
        assert!(
            read_entries(names.clone(), &mut held, GETS_IN_FLIGHT, get)
                .await
                .is_err()
        );
        assert!(held.is_empty(), "held before the read worked: {held:?}");
        away.store(false, Ordering::SeqCst);
        let got = read_entries(names.clone(), &mut held, GETS_IN_FLIGHT, get)
            .await
            .unwrap();
        let uuids: Vec<String> = got.into_iter().map(|e| e.uuid).collect();
        let want: Vec<String> = (0..50).rev().map(|i| format!("u{i}")).collect();
        assert_eq!(uuids, want, "every entry, newest first");
        assert_eq!(held.len(), 50);
    }

    /// Index entries `u<i>` of 2026-12-03, the `i`th second of the day each.
    async fn put_entries(store: &Store, ids: std::ops::Range<usize>) {
        for i in ids {
            let (h, m, s) = (i / 3600, (i / 60) % 60, i % 60);
            store
                .put(
                    names::INDEX_CONTAINER,
                    &format!("20261203/{h:02}{m:02}{s:02}_u{i}"),
                    entry_json(&format!("u{i}")),
                    Default::default(),
                )
                .await
                .expect("put");
        }
    }

    /// A start reads the newest screenful, then the rest up to HISTORY_RESULTS, never older.
    #[tokio::test]
    async fn a_start_reads_a_screenful_then_the_rest_and_no_more() {
        let (_dir, store, today) = file_store();
        let n = HISTORY_RESULTS + 50;
        put_entries(&store, 0..n).await;
        let uuids = |v: Vec<IndexEntry>| v.into_iter().map(|e| e.uuid).collect::<Vec<_>>();
        let newest = |from: usize, k: usize| -> Vec<String> {
            (0..k).map(|j| format!("u{}", from - j)).collect()
        };
        let mut held = HashSet::new();
        let first = step(&store, &mut held, 2, Take::START, today, GETS_IN_FLIGHT);
        let first = uuids(first.await.expect("start"));
        assert_eq!(first, newest(n - 1, FIRST_SCREEN));
        let rest = step(&store, &mut held, 2, Take::ALL, today, GETS_IN_FLIGHT);
        let rest = uuids(rest.await.expect("rest"));
        assert_eq!(
            rest,
            newest(n - 1 - FIRST_SCREEN, HISTORY_RESULTS - FIRST_SCREEN)
        );
        let again = step(&store, &mut held, 2, Take::ALL, today, GETS_IN_FLIGHT);
        assert!(
            again.await.expect("refresh").is_empty(),
            "the oldest 50 read later"
        );
        // A burst of new names (a console back from a long outage) is read a start's worth at
        // a time, newest first, not all at once.
        put_entries(&store, n..2 * n).await;
        let burst = step(&store, &mut held, 2, Take::ALL, today, GETS_IN_FLIGHT);
        assert_eq!(
            uuids(burst.await.expect("burst")),
            newest(2 * n - 1, HISTORY_RESULTS)
        );
        let rest = step(&store, &mut held, 2, Take::ALL, today, GETS_IN_FLIGHT);
        assert_eq!(uuids(rest.await.expect("burst's rest")), newest(n + 49, 50));
    }

    #[test]
    fn yesterday_is_listed_at_start_and_in_the_first_hour_only() {
        let at = |h, m| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
                .and_then(|d| d.and_hms_opt(h, m, 0))
                .map(|t| t.and_utc())
                .unwrap()
        };
        assert_eq!(days_to_list(true, at(12, 0), false), HISTORY_DAYS);
        assert_eq!(days_to_list(false, at(0, 0), false), 2);
        assert_eq!(days_to_list(false, at(0, 59), false), 2);
        assert_eq!(days_to_list(false, at(1, 0), false), 1);
        assert_eq!(days_to_list(false, at(23, 59), false), 1);
        // Late entries in yesterday's index (spooled uploads) are still found, once a minute.
        assert_eq!(days_to_list(false, at(15, 0), true), 2);
    }

    /// The follower's first event: the store is up.
    async fn first_is_connected(rx: &mut mpsc::Receiver<ModelEvent>) {
        let first = rx.recv().await.expect("an event");
        assert!(
            matches!(
                first,
                ModelEvent::Connection {
                    state: ConnState::Connected,
                    ..
                }
            ),
            "{first:?}"
        );
    }

    /// A store that cannot exist is shown down with the reason, once, from the first check.
    #[tokio::test]
    async fn an_impossible_file_store_is_down_with_a_reason() {
        let store =
            Store::open("file:///proc/nonexistent/store", &Default::default()).expect("a URL");
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(serve(store, tx));
        let first = rx.recv().await.expect("an event");
        let ModelEvent::Connection {
            service: Service::Store,
            state: ConnState::Down { reason, since },
            ..
        } = first
        else {
            panic!("{first:?}");
        };
        assert!(reason.contains("/proc/nonexistent/store"), "{reason}");
        // The next checks keep the outage's start: nothing new is sent while it lasts.
        let more = tokio::time::timeout(FOLLOW_EVERY * 2, rx.recv()).await;
        assert!(more.is_err(), "{more:?}");
        assert!(since <= Utc::now());
        task.abort();
    }

    /// An outage counts from the last listing that worked, not from the first that failed: the
    /// store went away after the one and before the other.
    #[tokio::test]
    async fn an_outage_counts_from_the_last_listing_that_worked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("store");
        let url = format!("file://{}", root.display());
        let store = Store::open(&url, &Default::default()).expect("a URL");
        let (tx, mut rx) = mpsc::channel(8);
        let before = Utc::now();
        let task = tokio::spawn(serve(store, tx));
        first_is_connected(&mut rx).await;
        // Gone: a file where the store's directory was (a missing one is a fresh store).
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::remove_dir_all(&root).expect("rm");
        std::fs::write(&root, b"not a store").expect("a file");
        let broke = Utc::now();
        let down = loop {
            let next = tokio::time::timeout(FOLLOW_EVERY * 5, rx.recv()).await;
            match next
                .expect("shown down within a few refreshes")
                .expect("an event")
            {
                ModelEvent::Connection {
                    state: ConnState::Down { since, .. },
                    ..
                } => break since,
                _ => continue,
            }
        };
        // Found down a refresh later, yet said to be down since before it broke.
        assert!(down >= before && down < broke, "{down} ({before}, {broke})");
        task.abort();
    }

    /// A fresh store (no directory yet, under one that exists) is up, with nothing in it.
    #[tokio::test]
    async fn a_fresh_file_store_is_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/store", dir.path().display());
        let store = Store::open(&url, &Default::default()).expect("a URL");
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(serve(store, tx));
        first_is_connected(&mut rx).await;
        task.abort();
    }
}
