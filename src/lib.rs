//! adtop: distributed autopkgtest CI over RabbitMQ, and the console operators run it from.
//!
//! - [`protocol`]: wire formats only (queue names, requests, messages, result layout).
//! - [`console`]: the operations console (TUI): model, views, key maps, themes.
pub mod console;
pub mod protocol;
