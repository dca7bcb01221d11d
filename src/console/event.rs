//! The inputs the model takes from the broker and store readers and from the action
//! executors. The types live in [`crate::ops::event`], below the console.

pub use crate::ops::event::{ModelEvent, NodeStat};
