//! adtop: distributed autopkgtest CI over RabbitMQ, and the console operators run it from.
//!
//! The parts, each depending only on parts listed above it (never on one below, so there are
//! no cycles):
//! - [`protocol`]: wire formats only (queue names, requests, messages, result layout, exit-code
//!   classes). No I/O; depends on nothing of ours.
//! - [`config`]: the configuration file and its defaults.
//! - [`broker`]: AMQP sessions, topology, confirmed publishing, the management API.
//! - [`store`]: the result store (local directory or Swift) and the spool.
//! - [`testbed`]: throwaway testbeds (`adtop testbed build|list|update`, mmdebstrap tarballs
//!   for autopkgtest's `unshare` server) and the rule that tells a broken testbed from a
//!   failing package.
//! - [`controller`]: `adtop submit` (validation, duplicate checks, routing, the batch report)
//!   and [`controller::look`], browsing queues and pinging workers without changing anything.
//! - [`worker`]: the job loop that runs autopkgtest and never loses a request.
//! - [`resultsdb`]: `adtop results-db`: autopkgtest-cloud's results database, kept from the
//!   completions and published for britney (`ADT_DB_URL`).
//! - [`ops`]: reading the system's state and acting on it, shared by the console and the
//!   scripting commands: the console's inputs and requests ([`ops::event`], [`ops::op`]), the
//!   feed that serves them ([`ops::feed`]), the rules both apply ([`ops::rules`]: health, hung,
//!   result filters, action verbs, state labels), reads, actions and the audit trail.
//! - [`console`]: the operations console (TUI): model, views, key maps, themes, dialogs. It
//!   imports only `ops` and `protocol`. Its demo scenario and SVG renderer (`console::demo`,
//!   `console::svg`) exist only with the `demo` feature (the screenshots example and the
//!   console benchmark) and in unit tests.
//! - [`cli`]: the command line (`main.rs` parses it, loads the configuration and calls the parts).
pub mod broker;
pub mod cli;
pub mod config;
pub mod console;
pub mod controller;
pub mod ops;
pub mod protocol;
pub mod resultsdb;
pub mod store;
pub mod testbed;
pub mod worker;
