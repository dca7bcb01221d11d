//! `adtop relay`: the consoles' reader as a service, so that no console does the work for
//! the others ([`super::shared`] has the election, [`super::relay`] and [`super::listing`]
//! what the reader shares).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::signal::unix::{SignalKind, signal};

use super::listing;
use super::shared::{self, Leads, Names};
use crate::broker::Session;
use crate::broker::management::Management;

/// How soon a lost or refused broker connection is tried again.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// Run until SIGTERM or SIGINT.
pub async fn serve(broker_url: &str, management: Management) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    tokio::select! {
        _ = run(broker_url, management, Names::default()) => Ok(()),
        _ = stop => {
            tracing::info!("stopping: consoles take over the reading");
            Ok(())
        }
    }
}

/// Connect, take part in the election, reconnect when the connection ends; forever.
pub async fn run(broker_url: &str, management: Management, names: Names) {
    let leads = Leads::default();
    loop {
        match Session::open(broker_url, "adtop relay").await {
            Ok(session) => {
                tracing::info!("connected: standing for reader on {}", names.reader);
                let session = Arc::new(session);
                let share = listing::Share::new(management.clone());
                tokio::select! {
                    _ = shared::serve_relay(session, names.clone(), share, leads.clone()) => {}
                    _ = report(&leads) => {}
                }
                tracing::warn!("broker connection lost; reconnecting");
            }
            Err(e) => tracing::warn!(
                "broker: {e}; trying again in {}s",
                RECONNECT_EVERY.as_secs()
            ),
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
}

/// Log when the service starts and stops leading.
async fn report(leads: &Leads) {
    let mut was = false;
    loop {
        let now = leads.load(Ordering::Relaxed);
        if now != was {
            if now {
                tracing::info!("leading: relaying and reading for the open consoles");
            } else {
                tracing::info!("not leading: no console open, or another reader leads");
            }
            was = now;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
