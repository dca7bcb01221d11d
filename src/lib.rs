//! adtop: distributed autopkgtest CI over RabbitMQ, and the console operators run it from.
//!
//! - [`protocol`]: wire formats only (queue names, requests, messages, result layout).
pub mod protocol;
