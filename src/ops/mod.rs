//! Reading the system's state and acting on it: shared by the console and the scripting
//! commands (`adtop queues`, `workers`, `running`, `results`, `logs`, `retry`, `cancel`, `stop`,
//! `drain`, `resume`). Everything is read from the broker and the store; nothing is kept here.
//!
//! Dependencies go one way: `console` → `ops` → `controller`, `broker`, `store` → `protocol`.
//! The types the console and its feed exchange ([`event`], [`op`]) and the rules both the
//! console and the scripting commands apply ([`rules`]) are defined here, so that nothing in
//! `ops` imports the console.

pub mod act;
pub mod event;
pub mod feed;
pub mod follow;
pub mod listing;
pub mod op;
pub mod read;
pub mod reading;
pub mod rules;
pub mod script;
pub mod shared;

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
