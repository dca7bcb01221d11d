//! Connection state of the broker and the store, and how old the data from each is.

use chrono::{DateTime, Utc};

pub use crate::ops::event::{ConnState, Service};

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub service: Service,
    pub state: ConnState,
    /// Where it points, e.g. `amqp://rabbit.ops:5672`; shown sanitised.
    pub endpoint: Option<String>,
    /// When data from it last arrived.
    pub last_data: Option<DateTime<Utc>>,
}

impl Connection {
    pub fn new(service: Service) -> Self {
        Self {
            service,
            state: ConnState::Connecting,
            endpoint: None,
            last_data: None,
        }
    }

    pub fn saw_data(&mut self, at: DateTime<Utc>) {
        if self.last_data.is_none_or(|t| t < at) {
            self.last_data = Some(at);
        }
    }

    pub fn set(&mut self, state: ConnState, endpoint: Option<String>, now: DateTime<Utc>) -> bool {
        let mut changed = false;
        if endpoint.is_some() && endpoint != self.endpoint {
            self.endpoint = endpoint;
            changed = true;
        }
        if state == ConnState::Connected {
            self.saw_data(now);
        }
        if state != self.state {
            self.state = state;
            changed = true;
        }
        changed
    }

    pub fn is_up(&self) -> bool {
        self.state == ConnState::Connected
    }

    /// Seconds since data last arrived, when that matters (the connection is not up).
    pub fn data_age(&self, now: DateTime<Utc>) -> Option<i64> {
        if self.is_up() {
            return None;
        }
        self.last_data.map(|t| (now - t).num_seconds().max(0))
    }
}
