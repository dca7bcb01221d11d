//! adtop: distributed autopkgtest CI over RabbitMQ, and the console operators run it from.
//!
//! The parts, each depending only on those above it:
//! - [`protocol`]: wire formats only (queue names, requests, messages, result layout). No I/O.
//! - [`config`]: the configuration file and its defaults.
//! - [`broker`]: AMQP sessions, topology, confirmed publishing, the management API.
//! - [`store`]: the result store (local directory or Swift) and the spool.
//! - [`controller`]: `adtop submit`: validation, duplicate checks, routing.
//! - [`worker`]: the job loop that runs autopkgtest and never loses a request.
//! - [`resultsdb`]: `adtop results-db`: autopkgtest-cloud's results database, kept from the
//!   completions and published for britney (`ADT_DB_URL`).
//! - [`ops`]: reading the system's state and acting on it, for the console and the scripting commands.
//! - [`console`]: the operations console (TUI): model, views, key maps, themes.
//! - [`cli`]: the command line.
pub mod broker;
pub mod cli;
pub mod config;
pub mod console;
pub mod controller;
pub mod ops;
pub mod protocol;
pub mod resultsdb;
pub mod store;
pub mod worker;
