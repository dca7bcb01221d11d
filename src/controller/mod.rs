//! The controller: validates requests, applies routing policy, and queues them. It depends on
//! `broker` and `protocol` only; `ops` builds on it.

pub mod backlog;
pub mod debci;
pub mod dedup;
pub mod look;
pub mod submit;
