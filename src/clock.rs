//! The wall clock, behind a trait so tests can set the date.
//!
//! Calendar math (cron, time zones, due times) uses this clock; sleeping uses
//! tokio's monotonic clock. The timer re-reads this clock after every sleep, so
//! a wall-clock step is noticed within the timer's re-check interval.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}
