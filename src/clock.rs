//! The wall clock, behind a trait so tests can set the date.
//!
//! Calendar math (cron, time zones, due times) uses this clock; sleeping uses
//! tokio's monotonic clock. The timer re-reads this clock after every sleep, so
//! a wall-clock step is noticed within the timer's re-check interval.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;

    /// Microseconds since the epoch, for clocks that can tell. The timer
    /// uses it to wake on time to well under a millisecond; test clocks
    /// that only step in milliseconds leave it `None`.
    fn now_us(&self) -> Option<i64> {
        None
    }
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

    fn now_us(&self) -> Option<i64> {
        Some(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0),
        )
    }
}
