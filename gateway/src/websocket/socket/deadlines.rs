//! API Gateway's two time limits on a connection: idle (10 minutes) and in all (2 hours).
//!
//! Kept apart from the loop so the rule is stated once: a frame from the client restarts the
//! idle timer, and nothing extends the lifetime.

use tokio::time::{Duration, Instant};

use crate::config::Limits;

pub struct Deadlines {
    idle_timeout: Duration,
    last_active: Instant,
    closes_at: Instant,
}

impl Deadlines {
    /// The limits of a connection opening now.
    pub fn new(limits: &Limits) -> Self {
        let now = Instant::now();
        Self {
            idle_timeout: limits.idle_timeout,
            last_active: now,
            closes_at: now + limits.max_connection,
        }
    }

    /// A frame arrived from the client.
    pub fn client_active(&mut self) {
        self.last_active = Instant::now();
    }

    /// When the connection closes for want of client frames.
    pub fn idle_at(&self) -> Instant {
        self.last_active + self.idle_timeout
    }

    /// When the connection closes whatever it does.
    pub fn closes_at(&self) -> Instant {
        self.closes_at
    }
}
