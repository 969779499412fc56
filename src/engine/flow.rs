//! Flow control at dispatch (§4.11, §9.5): per key, at most `parallelism`
//! attempts in flight and at most `rate` attempt starts per `period`.
//!
//! Dispatch offers every due message that names a key here before it goes
//! to its destination's lane. A message that may not start yet waits in
//! its key's waitlist, in order of due time, then id; it holds no lane
//! slot and no `--max-in-flight` slot meanwhile. A permit is released when
//! the attempt's outcome is recorded (the next waiter starts then), and a
//! rate period that ends wakes its key through the timer (`TimerKey::Flow`,
//! on the engine's clock), so dispatch never waits here.
//!
//! The waitlist lives in memory only, and need not be stored: a waiting
//! message is still a pending row, so after a restart it comes due again
//! and joins the waitlist anew. The rate period and its count are not
//! stored either: a restart begins a new period.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::timer::Lane;
use crate::model::{FlowControl, FlowLimits, FlowSettings, Millis};

/// The engine's state of one key.
#[derive(Debug)]
struct KeyState {
    limits: FlowLimits,
    paused: bool,
    in_flight: usize,
    /// The current rate period: its start and the attempts started in it.
    period: Option<(Millis, u32)>,
    /// Waiting messages by (due time, id), with their lanes.
    waiting: BTreeMap<(Millis, Arc<str>), Lane>,
}

impl KeyState {
    fn new(limits: FlowLimits) -> KeyState {
        KeyState {
            limits,
            paused: false,
            in_flight: 0,
            period: None,
            waiting: BTreeMap::new(),
        }
    }

    fn period_ms(&self) -> Millis {
        self.limits.period as Millis * 1000
    }

    /// The current period at `now`, if it has not ended.
    fn current_period(&self, now: Millis) -> Option<(Millis, u32)> {
        self.period
            .filter(|(start, _)| now < start + self.period_ms())
    }

    /// Starts waiters while the limits allow, in order.
    fn drain(
        &mut self,
        key: &Arc<str>,
        now: Millis,
        index: &mut HashMap<Arc<str>, Arc<str>>,
    ) -> Started {
        let mut out = Started {
            key: Some(key.clone()),
            ..Started::default()
        };
        while !self.paused {
            let Some((first, _)) = self.waiting.first_key_value() else {
                break;
            };
            let first = first.clone();
            if self
                .limits
                .parallelism
                .is_some_and(|p| self.in_flight >= p as usize)
            {
                break;
            }
            if let Some(rate) = self.limits.rate {
                let (start, count) = self.current_period(now).unwrap_or((now, 0));
                if count >= rate {
                    out.wake = Some(start + self.period_ms());
                    break;
                }
                self.period = Some((start, count + 1));
            }
            let lane = self
                .waiting
                .remove(&first)
                .expect("the first waiter exists");
            index.remove(&first.1);
            self.in_flight += 1;
            out.start.push((lane, first.1));
        }
        out
    }
}

/// What dispatch does next for `key`: start these (lane, id), and wake the
/// key at `wake` (its rate period ends then).
#[derive(Debug, Default)]
pub struct Started {
    pub key: Option<Arc<str>>,
    pub start: Vec<(Lane, Arc<str>)>,
    pub wake: Option<Millis>,
}

/// A key's live counters, for `GET /v2/flowControl/{key}` (§6.7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowLive {
    pub waiting: usize,
    pub in_flight: usize,
    pub rate_count: u32,
    /// Start of the current rate period (ms), if one is running.
    pub period_start: Option<Millis>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<Arc<str>, KeyState>,
    /// Which key each waiting message waits under.
    waiting_in: HashMap<Arc<str>, Arc<str>>,
    /// Waiting messages that are gone (cancelled): dispatch forgets them.
    forgotten: Vec<Arc<str>>,
}

#[derive(Default)]
pub struct FlowGate {
    inner: Mutex<Inner>,
    /// HTTP exchanges in progress, as dispatch last counted them (§4.11
    /// `globalParallelism`).
    running: AtomicUsize,
}

fn unlimited() -> FlowLimits {
    FlowLimits {
        parallelism: None,
        rate: None,
        period: 1,
    }
}

impl FlowGate {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a key's stored settings; `reset_rate` starts a new period now.
    /// Returns whether waiters may start now (dispatch is to be woken).
    pub fn configure(&self, s: &FlowSettings, reset_rate: bool, now: Millis) -> bool {
        let mut inner = self.inner();
        let state = inner
            .keys
            .entry(Arc::from(s.key.as_str()))
            .or_insert_with(|| KeyState::new(s.limits()));
        state.limits = s.limits();
        state.paused = s.paused;
        if reset_rate {
            state.period = Some((now, 0));
        }
        !state.waiting.is_empty()
    }

    /// Limits of a key the engine has no settings for (a message whose
    /// limits came another way, e.g. from its workflow run).
    pub fn learn(&self, fc: &FlowControl) {
        let mut inner = self.inner();
        inner
            .keys
            .entry(Arc::from(fc.key.as_str()))
            .or_insert_with(|| {
                KeyState::new(FlowLimits {
                    parallelism: fc.parallelism,
                    rate: fc.rate,
                    period: fc.period.max(1),
                })
            });
    }

    /// Message `id`, due at `due`, wants to start under `key`.
    pub fn admit(
        &self,
        key: &Arc<str>,
        id: Arc<str>,
        lane: Lane,
        due: Millis,
        now: Millis,
    ) -> Started {
        let inner = &mut *self.inner();
        let state = inner
            .keys
            .entry(key.clone())
            .or_insert_with(|| KeyState::new(unlimited()));
        inner.waiting_in.insert(id.clone(), key.clone());
        state.waiting.insert((due, id), lane);
        state.drain(key, now, &mut inner.waiting_in)
    }

    /// An attempt under `key` is over (its outcome recorded).
    pub fn release(&self, key: &Arc<str>, now: Millis) -> Started {
        self.wake(key, now, true)
    }

    /// Starts what may start under `key` now (a period ended, a setting
    /// changed).
    pub fn wake_up(&self, key: &Arc<str>, now: Millis) -> Started {
        self.wake(key, now, false)
    }

    fn wake(&self, key: &Arc<str>, now: Millis, released: bool) -> Started {
        let inner = &mut *self.inner();
        let Some(state) = inner.keys.get_mut(key) else {
            return Started::default();
        };
        if released {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        state.drain(key, now, &mut inner.waiting_in)
    }

    /// Message `id` is no longer pending: if it waits, it leaves the
    /// waitlist. Returns its key, so dispatch can be told.
    pub fn forget(&self, id: &str) -> Option<Arc<str>> {
        let inner = &mut *self.inner();
        let key = inner.waiting_in.remove(id)?;
        if let Some(state) = inner.keys.get_mut(&key) {
            state.waiting.retain(|(_, waiting), _| &**waiting != id);
        }
        inner.forgotten.push(Arc::from(id));
        Some(key)
    }

    /// The waiting messages that were forgotten since the last call.
    pub fn take_forgotten(&self) -> Vec<Arc<str>> {
        std::mem::take(&mut self.inner().forgotten)
    }

    /// A key's live counters at `now`.
    pub fn live(&self, key: &str, now: Millis) -> FlowLive {
        let inner = self.inner();
        let Some(state) = inner.keys.get(key) else {
            return FlowLive::default();
        };
        let period = state.current_period(now);
        FlowLive {
            waiting: state.waiting.len(),
            in_flight: state.in_flight,
            rate_count: period.map_or(0, |(_, n)| n),
            period_start: period.map(|(start, _)| start),
        }
    }

    /// `(key, messages waiting)` of every key with a message waiting, for
    /// the metrics.
    pub fn waiting_sizes(&self) -> Vec<(String, usize)> {
        let inner = self.inner();
        let mut sizes: Vec<_> = inner
            .keys
            .iter()
            .filter(|(_, state)| !state.waiting.is_empty())
            .map(|(key, state)| (key.to_string(), state.waiting.len()))
            .collect();
        sizes.sort_unstable();
        sizes
    }

    pub fn set_running(&self, n: usize) {
        self.running.store(n, Ordering::Relaxed);
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(parallelism: Option<u32>, rate: Option<u32>, period: u64) -> FlowSettings {
        FlowSettings {
            key: "k".into(),
            parallelism,
            rate,
            period,
            paused: false,
            pinned_parallelism: None,
            pinned_rate: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn key() -> Arc<str> {
        Arc::from("k")
    }

    fn ids(s: &Started) -> Vec<&str> {
        s.start.iter().map(|(_, id)| &**id).collect()
    }

    fn offer(gate: &FlowGate, id: &str, due: Millis, now: Millis) -> Started {
        gate.admit(&key(), Arc::from(id), Arc::from("lane"), due, now)
    }

    #[test]
    fn parallelism_caps_attempts_in_flight_and_a_release_starts_the_next() {
        let gate = FlowGate::default();
        gate.configure(&settings(Some(2), None, 1), false, 0);
        assert_eq!(ids(&offer(&gate, "a", 0, 0)), ["a"]);
        assert_eq!(ids(&offer(&gate, "b", 0, 0)), ["b"]);
        assert!(offer(&gate, "c", 0, 0).start.is_empty());
        assert_eq!(gate.live("k", 0).waiting, 1);
        assert_eq!(ids(&gate.release(&key(), 0)), ["c"]);
        assert_eq!(gate.live("k", 0).in_flight, 2);
    }

    #[test]
    fn waiters_start_by_due_time_then_id() {
        let gate = FlowGate::default();
        gate.configure(&settings(Some(1), None, 1), false, 0);
        offer(&gate, "first", 0, 0);
        offer(&gate, "z", 5, 9);
        offer(&gate, "y", 5, 9);
        offer(&gate, "x", 7, 9);
        let order: Vec<String> = (0..3)
            .flat_map(|_| gate.release(&key(), 9).start)
            .map(|(_, id)| id.to_string())
            .collect();
        assert_eq!(order, ["y", "z", "x"]);
    }

    #[test]
    fn rate_caps_starts_per_period_and_says_when_the_period_ends() {
        let gate = FlowGate::default();
        gate.configure(&settings(None, Some(2), 10), false, 0);
        offer(&gate, "a", 0, 1000);
        offer(&gate, "b", 0, 1000);
        let blocked = offer(&gate, "c", 0, 1500);
        assert!(blocked.start.is_empty());
        assert_eq!(blocked.wake, Some(11_000));
        assert!(gate.wake_up(&key(), 10_999).start.is_empty());
        assert_eq!(ids(&gate.wake_up(&key(), 11_000)), ["c"]);
        assert_eq!(
            gate.live("k", 11_000),
            FlowLive {
                waiting: 0,
                in_flight: 3,
                rate_count: 1,
                period_start: Some(11_000)
            }
        );
    }

    #[test]
    fn a_paused_key_starts_nothing_until_resumed() {
        let gate = FlowGate::default();
        let mut s = settings(None, None, 1);
        s.paused = true;
        gate.configure(&s, false, 0);
        assert!(offer(&gate, "a", 0, 0).start.is_empty());
        s.paused = false;
        assert!(gate.configure(&s, false, 0), "waiters to wake");
        assert_eq!(ids(&gate.wake_up(&key(), 0)), ["a"]);
    }

    #[test]
    fn reset_rate_begins_a_new_period_now() {
        let gate = FlowGate::default();
        let s = settings(None, Some(1), 60);
        gate.configure(&s, false, 0);
        offer(&gate, "a", 0, 0);
        assert!(offer(&gate, "b", 0, 5).start.is_empty());
        gate.configure(&s, true, 7);
        assert_eq!(ids(&gate.wake_up(&key(), 7)), ["b"]);
        assert_eq!(gate.live("k", 8).period_start, Some(7));
    }

    #[test]
    fn a_forgotten_waiter_leaves_the_waitlist() {
        let gate = FlowGate::default();
        gate.configure(&settings(Some(1), None, 1), false, 0);
        offer(&gate, "a", 0, 0);
        offer(&gate, "b", 0, 0);
        assert_eq!(gate.forget("b").as_deref(), Some("k"));
        assert_eq!(gate.forget("a"), None, "running, not waiting");
        assert_eq!(gate.take_forgotten().len(), 1);
        assert!(gate.release(&key(), 0).start.is_empty());
    }
}
