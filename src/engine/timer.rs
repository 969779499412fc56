//! The timer: a min-heap of due times and a `Notify`, nothing else.
//!
//! One task sleeps on the engine's clock until the earliest due time, or
//! until `arm` brings in an earlier one (only then is it woken). It never
//! does work inline: due keys go to dispatch through a bounded channel,
//! which dispatch drains at once into its own queues, so the timer is never
//! held up by delivery capacity. With nothing armed it sleeps until
//! notified; otherwise the clock wakes it at least every `clock::RECHECK` to
//! read the wall clock again (clock steps, suspend/resume).
//!
//! Each key has at most one live due time (`armed`); re-arming leaves the old
//! heap entry behind as stale, and stale entries are skipped when popped.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::model::Millis;

/// Most keys popped per turn, so a burst streams through dispatch instead of
/// being copied out of the heap all at once.
const POP_BATCH: usize = 1024;

/// A destination's share of delivery capacity: `scheme://host:port`.
pub type Lane = Arc<str>;

/// A message in the timer: its id, the lane its attempt runs in and its
/// flow-control key, if any (§4.11). Identity is the id alone, so
/// disarming needs neither.
#[derive(Debug, Clone)]
pub struct MessageKey {
    pub id: Arc<str>,
    pub lane: Lane,
    pub flow: Option<Arc<str>>,
}

impl MessageKey {
    /// The key of message `id` for lookups (its lane does not matter).
    pub fn id(id: &str) -> MessageKey {
        static NO_LANE: LazyLock<Lane> = LazyLock::new(|| Arc::from(""));
        MessageKey {
            id: id.into(),
            lane: NO_LANE.clone(),
            flow: None,
        }
    }
}

impl PartialEq for MessageKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for MessageKey {}
impl Hash for MessageKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}
impl PartialOrd for MessageKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MessageKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id.cmp(&other.id)
    }
}

/// What the timer tracks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    /// Fire the schedule's next slot.
    Schedule(Arc<str>),
    /// Make the message's next delivery attempt.
    Message(MessageKey),
    /// Read the next stretch of pending messages into the timer.
    Window,
    /// A flow-control key's waiters may start (a rate period ended, a
    /// setting changed).
    Flow(Arc<str>),
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
        self.arm_if(key, at, |_| true);
    }

    /// Arms `key` at `at` unless it is armed earlier already.
    pub fn arm_no_later(&self, key: TimerKey, at: Millis) {
        self.arm_if(key, at, |armed| armed.is_none_or(|t| t > at));
    }

    /// Arms `key` at `at` if `replace` says so of its current arming; wakes
    /// the timer when `at` is its new earliest time.
    fn arm_if(&self, key: TimerKey, at: Millis, replace: impl FnOnce(Option<Millis>) -> bool) {
        let wake = {
            let mut st = self.state();
            if !replace(st.armed.get(&key).copied()) {
                return;
            }
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

    /// Runs until `stop` is cancelled or dispatch goes away.
    pub async fn run(
        self,
        clock: Arc<dyn Clock>,
        out: mpsc::Sender<(TimerKey, Millis)>,
        stop: CancellationToken,
    ) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let (due, next) = self.pop_due(clock.now_ms());
            let popped_full_batch = due.len() == POP_BATCH;
            for item in due {
                tokio::select! {
                    sent = out.send(item) => if sent.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
            if popped_full_batch {
                continue;
            }
            tokio::select! {
                _ = self.shared.notify.notified() => {}
                _ = stop.cancelled() => return,
                _ = async {
                    match next {
                        Some(at) => clock.sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn key(s: &str) -> TimerKey {
        TimerKey::Schedule(s.into())
    }

    fn start(
        timer: &Timer,
    ) -> (
        mpsc::Receiver<(TimerKey, Millis)>,
        CancellationToken,
        Arc<ManualClock>,
    ) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (tx, rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        tokio::spawn(timer.clone().run(clock.clone(), tx, stop.clone()));
        (rx, stop, clock)
    }

    /// Nothing comes out of `rx` for a while (real time, bounded).
    async fn quiet(rx: &mut mpsc::Receiver<(TimerKey, Millis)>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), rx.recv())
            .await
            .is_err()
    }

    async fn next(rx: &mut mpsc::Receiver<(TimerKey, Millis)>) -> (TimerKey, Millis) {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a key came out")
            .unwrap()
    }

    #[tokio::test]
    async fn keys_come_out_in_due_order_only_when_the_clock_reaches_them() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("b"), t0 + 2000);
        timer.arm(key("a"), t0 + 1000);
        timer.arm(key("c"), t0 + 3000);
        for name in ["a", "b", "c"] {
            assert!(quiet(&mut rx).await, "{name} came out before its time");
            clock.advance(Duration::from_millis(1000));
            let (k, at) = next(&mut rx).await;
            assert_eq!(k, key(name));
            assert_eq!(at, clock.now_ms());
        }
    }

    #[tokio::test]
    async fn rearming_replaces_and_disarming_removes() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("x"), t0 + 1000);
        timer.arm(key("x"), t0 + 5000);
        timer.arm(key("gone"), t0 + 2000);
        timer.disarm(&key("gone"));
        clock.advance(Duration::from_secs(10));
        let (k, at) = next(&mut rx).await;
        assert_eq!((k, at), (key("x"), t0 + 5000));
        assert!(quiet(&mut rx).await);
        assert!(timer.is_empty());
    }

    #[tokio::test]
    async fn an_earlier_arming_wakes_a_long_sleep() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        let t0 = clock.now_ms();
        timer.arm(key("late"), t0 + 3_600_000);
        tokio::task::yield_now().await;
        timer.arm(key("now"), t0);
        assert_eq!(next(&mut rx).await.0, key("now"));
    }

    #[test]
    fn arming_no_later_keeps_an_earlier_time() {
        let timer = Timer::new();
        timer.arm_no_later(TimerKey::Window, 50);
        timer.arm_no_later(TimerKey::Window, 90);
        assert_eq!(timer.armed_at(&TimerKey::Window), Some(50));
        timer.arm_no_later(TimerKey::Window, 10);
        assert_eq!(timer.armed_at(&TimerKey::Window), Some(10));
    }

    #[tokio::test]
    async fn a_message_key_is_found_by_its_id_alone() {
        let timer = Timer::new();
        let k = TimerKey::Message(MessageKey {
            id: "m".into(),
            lane: "http://a:1".into(),
            flow: None,
        });
        timer.arm(k, 5);
        assert_eq!(
            timer.armed_at(&TimerKey::Message(MessageKey::id("m"))),
            Some(5)
        );
        timer.disarm(&TimerKey::Message(MessageKey::id("m")));
        assert!(timer.is_empty());
    }

    #[tokio::test]
    async fn a_full_dispatch_channel_delays_but_loses_nothing() {
        let timer = Timer::new();
        let (mut rx, _stop, clock) = start(&timer);
        for i in 0..3000 {
            timer.arm(key(&format!("k{i}")), clock.now_ms());
        }
        let mut seen = std::collections::HashSet::new();
        while seen.len() < 3000 {
            let (k, _) = next(&mut rx).await;
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
