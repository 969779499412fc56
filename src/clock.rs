//! The wall clock, behind a trait so tests can set the date and move time.
//!
//! Calendar math (cron, time zones, due times) reads this clock, and the
//! timer sleeps *on* it: `SystemClock` sleeps with tokio (finishing the last
//! few milliseconds with a thread sleep, since tokio's millisecond wheel
//! wakes up to ~2 ms late), `ManualClock` only moves when a test moves it.
//! So the engine runs the same code in production and in deterministic
//! tests, where a 24 h retry takes one `advance` instead of a day.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

/// Unix time in milliseconds.
pub type Millis = i64;

/// A boxed future, so `Clock` can stay object-safe.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Longest sleep before the wall clock is read again, so a clock step or a
/// suspend/resume is noticed.
pub const RECHECK: Duration = Duration::from_secs(60);

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;

    /// Resolves at wall time `at` or later, or earlier than that (after at
    /// most `RECHECK`): callers read `now_ms` again and decide.
    fn sleep_until(&self, at: Millis) -> Sleep<'_>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// How close to a due time tokio's sleep stops being trusted and a thread
/// sleep, which wakes within tens of microseconds, finishes the wait.
const FINE_WAIT: Duration = Duration::from_millis(3);

impl SystemClock {
    fn now_us() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        Self::now_us() / 1000
    }

    fn sleep_until(&self, at: Millis) -> Sleep<'_> {
        Box::pin(async move {
            let left_us = (at * 1000 - Self::now_us()).clamp(0, RECHECK.as_micros() as i64);
            let left = Duration::from_micros(left_us as u64);
            if left > FINE_WAIT {
                tokio::time::sleep(left - FINE_WAIT).await;
                return;
            }
            // Off the async threads. An earlier arming or a shutdown in this
            // window waits for it to end, at most `FINE_WAIT`.
            let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
        })
    }
}

/// A clock that stands still until it is moved: for tests of time-driven
/// behaviour (retries, delays, misfire, retention) without sleeping.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    moved: Notify,
}

impl ManualClock {
    pub fn new(start: Millis) -> ManualClock {
        ManualClock {
            now: AtomicI64::new(start),
            moved: Notify::new(),
        }
    }

    /// Moves the clock forward by `by` and wakes everything sleeping on it.
    pub fn advance(&self, by: Duration) {
        self.now
            .fetch_add(by.as_millis() as Millis, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Sets the clock (also backwards: a wall-clock step).
    pub fn set(&self, to: Millis) {
        self.now.store(to, Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at: Millis) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                // Registered before the check, so a move in between is seen.
                let moved = self.moved.notified();
                tokio::pin!(moved);
                moved.as_mut().enable();
                if self.now_ms() >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_manual_sleep_ends_only_when_the_clock_passes_its_time() {
        let clock = Arc::new(ManualClock::new(1000));
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(1500).await })
        };
        clock.advance(Duration::from_millis(100));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke at 1100 for 1500");
        clock.advance(Duration::from_millis(400));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woke once the clock reached 1500")
            .unwrap();
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_in_steps_that_end_at_the_time() {
        let clock = SystemClock;
        let at = clock.now_ms() + 20;
        let mut steps = 0;
        while clock.now_ms() < at {
            clock.sleep_until(at).await;
            steps += 1;
            assert!(steps < 100, "sleeping never reached the time");
        }
    }
}
