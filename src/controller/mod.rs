//! The controller: validates requests, applies routing policy, and queues them.

pub mod dedup;
pub mod submit;
