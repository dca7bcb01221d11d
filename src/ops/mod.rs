//! Reading the system's state and acting on it: shared by the console and the scripting
//! commands (`adtop queues`, `workers`, `running`, `results`, `logs`, `retry`, `cancel`, `stop`,
//! `drain`, `resume`, `rejected`, `audit`). Everything is read from the broker and the store;
//! nothing is kept here.
//!
//! Dependencies go one way: `console` → `ops` → `controller`, `broker`, `store` → `protocol`.
//! The types the console and its feed exchange ([`event`], [`op`]) and the rules both the
//! console and the scripting commands apply ([`rules`]) are defined here, so that nothing in
//! `ops` imports the console.

pub mod act;
pub mod beat;
pub mod event;
pub mod feed;
pub mod follow;
pub mod history;
pub mod listing;
pub mod op;
pub mod read;
pub mod reading;
pub mod rejected;
pub mod relay;
pub mod relay_service;
pub mod rules;
#[macro_use]
pub mod script;
pub mod script_audit;
pub mod script_rejected;
pub mod shared;
pub mod since;

use crate::broker::management::Management;
use crate::config::QueueConfig;
use crate::store::Store;

/// Where to read from and how to act.
#[derive(Debug, Clone)]
pub struct Context {
    pub broker_url: String,
    pub management: Management,
    pub store: Store,
    pub queue_cfg: QueueConfig,
    /// Request queues to watch when the management API is unreachable.
    pub fallback_queues: Vec<String>,
    pub operator: String,
    pub host: String,
}
