//! What the console asks of the outside world. The types live in [`crate::ops::op`], below
//! the console, so that the feed that carries them out does not import the console.

pub use crate::ops::op::{Fetch, OpRequest, Outbound};
