//! The operations console: a TUI over the broker and the store (think k9s for autopkgtest).
//!
//! The pure part lives here: a [`model::Model`] fed by [`event::ModelEvent`]s, an [`app::App`]
//! that turns keys into [`action::Action`]s and confirmed actions into [`op::Outbound`]
//! requests, and views that are functions of the two. [`run`] wires them to a terminal; the
//! readers and the executors of operations live outside and talk through channels.

pub mod action;
pub mod app;
pub mod columns;
pub mod config;
#[cfg(any(test, feature = "demo"))]
pub mod demo;
pub mod detail;
pub mod dialog;
pub mod event;
pub mod keymap;
pub mod model;
pub mod op;
mod pager;
pub mod prompt;
pub mod rejected;
pub mod row_actions;
pub mod rows;
mod sort;
#[cfg(any(test, feature = "demo"))]
pub mod svg;
mod terminal;
pub mod theme;
pub mod view;
pub mod views;
pub mod zone;

#[cfg(test)]
mod detail_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod tests;

pub use app::App;
pub use config::ConsoleConfig;
pub use event::ModelEvent;
pub use op::{Fetch, OpRequest, Outbound};
pub use terminal::run;
