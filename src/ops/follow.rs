//! Following the results index and the store's health, cheaply.
//!
//! At start the console loads the newest results of [`HISTORY_DAYS`] days. After that it lists
//! the index of today every [`FOLLOW_EVERY`] (and yesterday's too in the first
//! [`YESTERDAY_FOR`] of the day, for results written just before midnight; a listing is one
//! request) and reads only the entries it does not hold yet, so a refresh costs one or two
//! listings, not one GET per entry. The same listing is the store's health check: a failure is shown as an outage
//! from the first failed check, and the outage keeps that start until the store answers again.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::event::{ConnState, ModelEvent, Service};
use super::read;
use crate::protocol::messages::IndexEntry;
use crate::protocol::names;
use crate::store::Store;

/// How far back results and audit records are loaded at start: two days of the index.
pub const HISTORY_DAYS: i64 = 2;
pub const HISTORY_RESULTS: usize = 2000;
/// How often the index is listed for new results (and the store's health checked).
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How long into a day yesterday's index is still listed. An entry is named by the time it is
/// written, so nothing lands in yesterday's after midnight but what a slow store shows late;
/// listing a full day's index every 2 s all day was the larger part of an idle console's reads.
pub const YESTERDAY_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// How many days of the index a refresh lists (today = 1).
fn days_to_list(first: bool, now: DateTime<Utc>) -> i64 {
    if first {
        HISTORY_DAYS
    } else if now.time() < chrono::NaiveTime::MIN + YESTERDAY_FOR {
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

pub async fn serve(store: Store, events: mpsc::Sender<ModelEvent>) {
    let endpoint = Some(store.describe());
    let mut held: HashSet<String> = HashSet::new();
    let mut health = Health::default();
    let mut first = true;
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let days = days_to_list(first, Utc::now());
        let new = match step(&store, &mut held, days, first).await {
            Ok(new) => new,
            Err(e) => {
                let reason = format!("{e:#}");
                let since = *health.down_since.get_or_insert_with(Utc::now);
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
        for r in new.into_iter().rev() {
            if events.send(ModelEvent::Result(Box::new(r))).await.is_err() {
                return;
            }
        }
        if first {
            first = false;
            if let Ok(audit) = read::recent_audit(&store, HISTORY_DAYS, 500).await {
                for r in audit.into_iter().rev() {
                    let _ = events.send(ModelEvent::Audit(r)).await;
                }
            }
        }
    }
}

/// List the index of the last `days` days and read the entries not held yet, newest first
/// (at most [`HISTORY_RESULTS`] on the first call).
async fn step(
    store: &Store,
    held: &mut HashSet<String>,
    days: i64,
    first: bool,
) -> anyhow::Result<Vec<IndexEntry>> {
    store.probe().await?;
    let today = Utc::now().date_naive();
    let mut present = HashSet::new();
    let mut names_new = Vec::new();
    for back in 0..days {
        let prefix = format!(
            "{}/",
            (today - chrono::Duration::days(back)).format("%Y%m%d")
        );
        let listed = store.list(names::INDEX_CONTAINER, &prefix, None).await?;
        names_new.extend(listed.iter().filter(|n| !held.contains(*n)).cloned());
        present.extend(listed);
    }
    // Only what is still listed is remembered: two days of names, no more.
    held.retain(|n| present.contains(n));
    names_new.sort();
    names_new.reverse();
    if first && names_new.len() > HISTORY_RESULTS {
        // The older ones are not shown at start, and not read later either.
        for n in names_new.drain(HISTORY_RESULTS..) {
            held.insert(n);
        }
    }
    let mut out = Vec::new();
    for name in names_new {
        // Listed but gone (or not readable yet in an eventually consistent store): next time.
        if let Some(data) = store.get(names::INDEX_CONTAINER, &name).await? {
            if let Ok(e) = serde_json::from_slice::<IndexEntry>(&data) {
                out.push(e);
            }
            held.insert(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yesterday_is_listed_at_start_and_in_the_first_hour_only() {
        let at = |h, m| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
                .and_then(|d| d.and_hms_opt(h, m, 0))
                .map(|t| t.and_utc())
                .unwrap()
        };
        assert_eq!(days_to_list(true, at(12, 0)), HISTORY_DAYS);
        assert_eq!(days_to_list(false, at(0, 0)), 2);
        assert_eq!(days_to_list(false, at(0, 59)), 2);
        assert_eq!(days_to_list(false, at(1, 0)), 1);
        assert_eq!(days_to_list(false, at(23, 59)), 1);
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

    /// A fresh store (no directory yet, under one that exists) is up, with nothing in it.
    #[tokio::test]
    async fn a_fresh_file_store_is_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/store", dir.path().display());
        let store = Store::open(&url, &Default::default()).expect("a URL");
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(serve(store, tx));
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
        task.abort();
    }
}
