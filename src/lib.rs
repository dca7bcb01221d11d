//! adtop: distributed autopkgtest CI over RabbitMQ, and the console operators run it from.
//!
//! - [`protocol`]: wire formats only (queue names, requests, messages, result layout).
pub mod broker;
pub mod cli;
pub mod config;
pub mod controller;
pub mod protocol;
pub mod store;
pub mod worker;
