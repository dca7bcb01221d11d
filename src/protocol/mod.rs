//! Wire formats, and nothing else: no I/O, no async, no dependency on the rest of adtop.
//!
//! Everything autopkgtest-cloud defines (queue names, request bodies, `teststatus.fanout` and
//! `testcomplete.fanout` messages, the Swift result layout, exit codes) is spelled here exactly
//! as it is there, so that britney and the result readers work unchanged. adtop's additions live
//! on `adtop.*` names ([`names`]) or inside an `adtop` object of a compatible message.

pub mod debci;
pub mod exitcode;
pub mod layout;
pub mod messages;
pub mod names;
pub mod queue;
pub mod request;
pub mod sanitize;

pub use exitcode::{Class, ExitCode};
pub use queue::QueueName;
pub use request::{Params, RejectReason, Request};
