//! Whether the database can be written right now.
//!
//! A read-only mount, an immutable or full disk make every commit fail while
//! reads still work. The writer records the outcome of every commit here, and
//! `Store::probe_writes` makes a tiny real write when nothing else has
//! written lately, so `/healthz` and the engine know without waiting for a
//! user's write to fail.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StoreError;

/// How long a successful commit vouches for the database.
pub const FRESH: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(super) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Why the last commit failed; `None` after a success.
    fault: Option<String>,
    /// When a commit last succeeded.
    last_ok: Option<Instant>,
    /// When a commit last failed.
    last_failed: Option<Instant>,
}

impl Health {
    /// Records a commit's outcome.
    pub(super) fn record(&self, outcome: &Result<(), StoreError>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                st.fault = None;
                st.last_ok = Some(Instant::now());
            }
            Err(e) => {
                st.fault = Some(match e {
                    // Already the reason; `probe_writes` says "cannot be written".
                    StoreError::Unwritable(why) => why.clone(),
                    e => e.to_string(),
                });
                st.last_failed = Some(Instant::now());
            }
        }
    }

    /// Why writes fail, if the last commit failed.
    pub(super) fn fault(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fault
            .clone()
    }

    /// Why writes fail, if a commit failed within `FRESH`: trying again
    /// sooner would only repeat the answer (and, from every due message,
    /// flood the writer).
    pub(super) fn recent_fault(&self) -> Option<String> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.fault
            .clone()
            .filter(|_| st.last_failed.is_some_and(|t| t.elapsed() < FRESH))
    }

    /// Whether a commit succeeded within `FRESH` and none failed since.
    pub(super) fn recently_ok(&self) -> bool {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.fault.is_none() && st.last_ok.is_some_and(|t| t.elapsed() < FRESH)
    }
}
