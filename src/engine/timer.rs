//! The timer: a min-heap of due times and a `Notify`, nothing else.
//!
//! One task sleeps until the earliest due time, or until `arm` brings in an
//! earlier one (only then is it woken). It never does work inline: due keys are
//! sent to dispatch through a bounded channel, so a full dispatch makes the
//! timer wait (back-pressure) and nothing is dropped. With nothing armed it
//! sleeps until notified; otherwise it wakes at least every `RECHECK` to
//! re-read the wall clock (clock steps, suspend/resume).
//!
//! Each key has at most one live due time (`armed`); re-arming leaves the old
//! heap entry behind as stale, and stale entries are skipped when popped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use crate::clock::Clock;
use crate::model::Millis;

/// Longest sleep before the wall clock is read again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// How close to a due time the timer stops trusting tokio's sleep, which
/// has millisecond ticks and wakes up to ~2 ms late, and finishes the wait
/// with a thread sleep, which wakes within tens of microseconds.
const FINE_WAIT: Duration = Duration::from_millis(3);

/// Most keys popped per turn, so a burst streams through dispatch instead of
/// being copied out of the heap all at once.
const POP_BATCH: usize = 1024;

/// What the timer tracks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    /// Fire the schedule's next slot.
    Schedule(Arc<str>),
    /// Make the message's next delivery attempt.
    Message(Arc<str>),
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<(Millis, TimerKey)>>,
    armed: HashMap<TimerKey, Millis>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
}

/// Handle to the timer; cheap to clone.
#[derive(Clone, Default)]
pub struct Timer {
    shared: Arc<Shared>,
}

impl Timer {
    pub fn new() -> Timer {
        Timer::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // No code panics while holding the lock; recover anyway rather than cascade.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms `key` at `at`, replacing any earlier arming of it.
    pub fn arm(&self, key: TimerKey, at: Millis) {
        let wake = {
            let mut st = self.state();
            let earliest = st.heap.peek().map(|Reverse((t, _))| *t);
            st.armed.insert(key.clone(), at);
            st.heap.push(Reverse((at, key)));
            earliest.is_none_or(|t| at < t)
        };
        if wake {
            self.shared.notify.notify_one();
        }
    }

    /// Forgets `key`; its heap entry becomes stale.
    pub fn disarm(&self, key: &TimerKey) {
        self.state().armed.remove(key);
    }

    /// Number of armed keys.
    pub fn len(&self) -> usize {
        self.state().armed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When `key` is armed, if it is.
    pub fn armed_at(&self, key: &TimerKey) -> Option<Millis> {
        self.state().armed.get(key).copied()
    }

    /// Pops up to `POP_BATCH` keys due at `now`; returns them and the next due time.
    fn pop_due(&self, now: Millis) -> (Vec<(TimerKey, Millis)>, Option<Millis>) {
        let mut st = self.state();
        let mut due = Vec::new();
        while due.len() < POP_BATCH {
            match st.heap.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Reverse((at, key)) = st.heap.pop().expect("peeked");
            if st.armed.get(&key) == Some(&at) {
                st.armed.remove(&key);
                due.push((key, at));
            }
        }
        // Re-arming leaves stale entries; rebuild when they dominate.
        if st.heap.len() > 2 * st.armed.len() + 1024 {
            let live: Vec<_> = st
                .armed
                .iter()
                .map(|(k, t)| Reverse((*t, k.clone())))
                .collect();
            st.heap = BinaryHeap::from(live);
        }
        let next = st.heap.peek().map(|Reverse((t, _))| *t);
        (due, next)
    }

    /// Runs until `shutdown` turns true or dispatch goes away.
    pub async fn run(
        self,
        clock: Arc<dyn Clock>,
        out: mpsc::Sender<(TimerKey, Millis)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // A clock that tells microseconds gets the precise finish (`FINE_WAIT`).
        let precise = clock.now_us().is_some();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let (due, next) = self.pop_due(clock.now_ms());
            let popped_full_batch = due.len() == POP_BATCH;
            for item in due {
                tokio::select! {
                    sent = out.send(item) => if sent.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
            if popped_full_batch {
                continue;
            }
            let sleep = next.map(|at| time_until(clock.as_ref(), at));
            let coarse = match sleep {
                Some(d) if precise && d <= FINE_WAIT => {
                    // Off the async threads; an earlier arming or a shutdown
                    // in this short window waits for it to end.
                    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(d)).await;
                    continue;
                }
                Some(d) if precise => Some(d - FINE_WAIT),
                other => other,
            };
            tokio::select! {
                _ = self.shared.notify.notified() => {}
                _ = shutdown.changed() => return,
                _ = async {
                    match coarse {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }
}

/// How long until `at`, at most `RECHECK`: to the microsecond when the
/// clock can tell, else to the millisecond.
fn time_until(clock: &dyn Clock, at: Millis) -> Duration {
    let us = match clock.now_us() {
        Some(now_us) => at * 1000 - now_us,
        None => (at - clock.now_ms()) * 1000,
    };
    Duration::from_micros(us.clamp(0, RECHECK.as_micros() as i64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A wall clock that follows tokio's (paused) clock, from a fixed epoch.
    struct TokioClock(tokio::time::Instant, AtomicI64);
    impl Clock for TokioClock {
        fn now_ms(&self) -> Millis {
            self.1.load(Ordering::Relaxed) + self.0.elapsed().as_millis() as Millis
        }
    }

    fn key(s: &str) -> TimerKey {
        TimerKey::Schedule(s.into())
    }

    fn start(
        timer: &Timer,
    ) -> (
        mpsc::Receiver<(TimerKey, Millis)>,
        watch::Sender<bool>,
        Arc<TokioClock>,
    ) {
        let clock = Arc::new(TokioClock(
            tokio::time::Instant::now(),
            AtomicI64::new(1_000_000),
        ));
        let (tx, rx) = mpsc::channel(16);
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(timer.clone().run(clock.clone(), tx, stop_rx));
        (rx, stop, clock)
    }

    #[tokio::test(start_paused = true)]
    async fn keys_come_out_in_due_order_at_their_time() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("b"), t0 + 2000);
        timer.arm(key("a"), t0 + 1000);
        timer.arm(key("c"), t0 + 3000);
        for name in ["a", "b", "c"] {
            let (k, at) = rx.recv().await.unwrap();
            assert_eq!(k, key(name));
            assert!(clock.now_ms() >= at, "{name} came out early");
            assert!(clock.now_ms() - at < 50, "{name} came out late");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rearming_replaces_and_disarming_removes() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("x"), t0 + 1000);
        timer.arm(key("x"), t0 + 5000);
        timer.arm(key("gone"), t0 + 2000);
        timer.disarm(&key("gone"));
        let (k, at) = rx.recv().await.unwrap();
        assert_eq!((k, at), (key("x"), t0 + 5000));
        assert!(timer.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_arming_wakes_a_long_sleep() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("late"), t0 + 3_600_000);
        tokio::time::sleep(Duration::from_millis(10)).await;
        timer.arm(key("soon"), t0 + 500);
        let (k, _) = rx.recv().await.unwrap();
        assert_eq!(k, key("soon"));
        assert!(clock.now_ms() - t0 < 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_dispatch_queue_delays_but_loses_nothing() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        for i in 0..3000 {
            timer.arm(key(&format!("k{i}")), t0);
        }
        let mut seen = std::collections::HashSet::new();
        while seen.len() < 3000 {
            let (k, _) = rx.recv().await.unwrap();
            assert!(seen.insert(k), "a key came out twice");
        }
    }

    #[test]
    fn stale_entries_are_compacted() {
        let timer = Timer::new();
        for i in 0..5000 {
            timer.arm(key("same"), i);
        }
        let (due, _) = timer.pop_due(0);
        assert!(due.is_empty());
        assert!(timer.state().heap.len() < 2000);
        assert_eq!(timer.len(), 1);
    }
}
