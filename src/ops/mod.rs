//! Reading the system's state and acting on it: shared by the console and the scripting
//! commands (`adtop queues`, `workers`, `running`, `results`, `logs`, `retry`, `cancel`, `stop`,
//! `drain`, `resume`). Everything is read from the broker and the store; nothing is kept here.

pub mod act;
pub mod feed;
pub mod read;
pub mod script;

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
