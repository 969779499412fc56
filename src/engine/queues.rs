//! FIFO queues (§9.5): with parallelism N, at most N messages of a queue are
//! active, an active message holding its place through its retries until
//! its final outcome (delivered, dead-lettered, cancelled); the rest wait,
//! in enqueue order, unarmed.
//!
//! The gate sits in front of the timer: a queued message is armed only once
//! admitted, and each final outcome admits the next one. Every message goes
//! through the waiting line, so admission is first in, first out even when
//! a raised parallelism or a resume admits several at once.
//!
//! A paused queue admits nothing, and an active message of it that comes
//! due (a retry) is held back instead of attempted: no new attempt of a
//! paused queue starts. Its place stays taken. Resuming arms the held
//! messages again and admits from the oldest waiting one.
//!
//! What the gate holds is rebuilt at start from the pending rows, offered
//! in enqueue order, with each queue's stored parallelism and pause.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::timer::MessageKey;
use crate::model::Millis;

/// A message to arm: its key and its due time.
pub type Arm = (MessageKey, Millis);

/// Where a message of the gate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Waiting,
    Active,
}

#[derive(Default)]
struct Lane {
    parallelism: usize,
    paused: bool,
    /// Messages holding a place; `Some` while held back by a pause.
    active: HashMap<String, Option<Arm>>,
    /// In enqueue order. Entries of messages that left meanwhile (cancelled
    /// while waiting) stay until they reach the front, or a compaction.
    waiting: VecDeque<Arm>,
    /// How many entries of `waiting` are still waiting.
    waiting_live: usize,
}

impl Lane {
    fn parallelism(&self) -> usize {
        self.parallelism.max(1)
    }
}

#[derive(Default)]
struct Inner {
    lanes: HashMap<String, Lane>,
    /// The queue and place of every message the gate knows.
    members: HashMap<String, (String, Place)>,
}

#[derive(Default)]
pub struct QueueGate {
    inner: Mutex<Inner>,
}

/// Admits waiting messages of `lane` (queue `queue`) while it has room.
fn fill(lane: &mut Lane, members: &mut HashMap<String, (String, Place)>, queue: &str) -> Vec<Arm> {
    let mut admitted = Vec::new();
    while !lane.paused && lane.active.len() < lane.parallelism() {
        let Some((key, due)) = lane.waiting.pop_front() else {
            break;
        };
        let id: &str = &key.id;
        match members.get_mut(id) {
            Some((q, place)) if q == queue && *place == Place::Waiting => {
                *place = Place::Active;
                lane.waiting_live -= 1;
                lane.active.insert(id.to_owned(), None);
                admitted.push((key, due));
            }
            _ => {} // left while waiting
        }
    }
    // Many cancelled while waiting behind a full or paused queue: drop their
    // entries so the line does not grow with what already left.
    if lane.waiting.len() > 2 * lane.waiting_live + 1024 {
        lane.waiting.retain(
            |(key, _)| matches!(members.get(&*key.id), Some((q, Place::Waiting)) if q == queue),
        );
    }
    admitted
}

impl QueueGate {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every queue with `(name, messages waiting for a place, messages not
    /// yet done)`, for the metrics.
    pub fn sizes(&self) -> Vec<(String, usize, usize)> {
        let mut sizes: Vec<_> = self
            .lock()
            .lanes
            .iter()
            .map(|(name, lane)| {
                (
                    name.clone(),
                    lane.waiting_live,
                    lane.waiting_live + lane.active.len(),
                )
            })
            .collect();
        sizes.sort_unstable();
        sizes
    }

    /// Sets a queue's parallelism (at least 1) and pause; returns what that
    /// admits (a raise, a resume) or releases (held by the pause), to arm.
    pub fn configure(&self, queue: &str, parallelism: u32, paused: bool) -> Vec<Arm> {
        let mut inner = self.lock();
        let Inner { lanes, members } = &mut *inner;
        let lane = lanes.entry(queue.to_owned()).or_default();
        lane.parallelism = parallelism.max(1) as usize;
        lane.paused = paused;
        if paused {
            return Vec::new();
        }
        let mut arms: Vec<Arm> = lane.active.values_mut().filter_map(Option::take).collect();
        arms.extend(fill(lane, members, queue));
        arms
    }

    /// Whether message `id` is waiting or active in a queue.
    pub fn knows(&self, id: &str) -> bool {
        self.lock().members.contains_key(id)
    }

    /// Forgets a deleted queue (its messages were forgotten before).
    pub fn remove(&self, queue: &str) {
        let mut inner = self.lock();
        inner.lanes.remove(queue);
        inner.members.retain(|_, (q, _)| q != queue);
    }

    /// Offers message `key`, due at `due`, to `queue`: returns what may be
    /// armed now. For a new message that is itself if the queue has room
    /// and nobody waits before it; for an active one (a retry) itself,
    /// unless the queue is paused, which holds it back.
    pub fn offer(&self, queue: &str, key: MessageKey, due: Millis) -> Vec<Arm> {
        let mut inner = self.lock();
        let Inner { lanes, members } = &mut *inner;
        let lane = lanes.entry(queue.to_owned()).or_default();
        let id: &str = &key.id;
        match members.get(id) {
            Some((q, Place::Active)) if q == queue => {
                if lane.paused {
                    lane.active.insert(id.to_owned(), Some((key, due)));
                    return Vec::new();
                }
                return vec![(key, due)];
            }
            // Offered again while waiting (start-up read racing a commit).
            Some((q, Place::Waiting)) if q == queue => return Vec::new(),
            _ => {}
        }
        members.insert(id.to_owned(), (queue.to_owned(), Place::Waiting));
        lane.waiting.push_back((key, due));
        lane.waiting_live += 1;
        fill(lane, members, queue)
    }

    /// Holds back the attempt of active message `key` (due at `due`) of
    /// `queue` if the queue is paused: true when held, to be armed again at
    /// resume. Dispatch asks this just before an attempt starts.
    pub fn hold_if_paused(&self, queue: &str, key: &MessageKey, due: Millis) -> bool {
        let mut inner = self.lock();
        let Inner { lanes, members } = &mut *inner;
        let Some(lane) = lanes.get_mut(queue) else {
            return false;
        };
        if !lane.paused {
            return false;
        }
        let id: &str = &key.id;
        match members.get(id) {
            Some((q, Place::Active)) if q == queue => {
                lane.active.insert(id.to_owned(), Some((key.clone(), due)));
                true
            }
            _ => false,
        }
    }

    /// Message `id` reached its final outcome (or was cancelled): frees its
    /// place, or its spot in line, and returns the messages admitted in its
    /// stead, to arm.
    pub fn forget(&self, id: &str) -> Vec<Arm> {
        let mut inner = self.lock();
        let Inner { lanes, members } = &mut *inner;
        let Some((queue, place)) = members.remove(id) else {
            return Vec::new();
        };
        let Some(lane) = lanes.get_mut(&queue) else {
            return Vec::new();
        };
        match place {
            Place::Active => {
                lane.active.remove(id);
            }
            Place::Waiting => lane.waiting_live -= 1,
        }
        fill(lane, members, &queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> MessageKey {
        MessageKey::id(id)
    }

    fn ids(admitted: Vec<Arm>) -> Vec<String> {
        admitted
            .into_iter()
            .map(|(k, _)| k.id.to_string())
            .collect()
    }

    #[test]
    fn parallelism_one_admits_in_order_one_at_a_time() {
        let gate = QueueGate::default();
        assert_eq!(ids(gate.offer("q", key("a"), 1)), ["a"]);
        assert!(gate.offer("q", key("b"), 2).is_empty());
        assert!(gate.offer("q", key("c"), 3).is_empty());
        assert_eq!(
            gate.offer("q", key("a"), 9),
            [(key("a"), 9)],
            "a retry of the active message passes"
        );
        assert_eq!(gate.forget("a"), [(key("b"), 2)]);
        assert_eq!(ids(gate.forget("b")), ["c"]);
        assert!(gate.forget("c").is_empty());
        assert_eq!(ids(gate.offer("q", key("d"), 4)), ["d"]);
    }

    #[test]
    fn queues_are_independent_and_parallelism_counts() {
        let gate = QueueGate::default();
        gate.configure("wide", 2, false);
        assert_eq!(ids(gate.offer("wide", key("a"), 0)), ["a"]);
        assert_eq!(ids(gate.offer("wide", key("b"), 0)), ["b"]);
        assert!(gate.offer("wide", key("c"), 0).is_empty());
        assert_eq!(ids(gate.offer("other", key("x"), 0)), ["x"]);
        assert_eq!(ids(gate.forget("a")), ["c"]);
        assert!(gate.forget("unknown").is_empty());
    }

    #[test]
    fn a_raised_parallelism_admits_the_oldest_waiting_at_once() {
        let gate = QueueGate::default();
        for id in ["a", "b", "c", "d"] {
            gate.offer("q", key(id), 0);
        }
        assert_eq!(ids(gate.configure("q", 3, false)), ["b", "c"]);
        gate.configure("q", 1, false);
        assert!(gate.forget("a").is_empty(), "two still active, limit 1");
        assert!(gate.forget("b").is_empty());
        assert_eq!(ids(gate.forget("c")), ["d"]);
    }

    #[test]
    fn a_paused_queue_admits_nothing_and_holds_its_retries_until_resume() {
        let gate = QueueGate::default();
        gate.offer("q", key("a"), 1);
        gate.configure("q", 1, true);
        assert!(gate.offer("q", key("b"), 2).is_empty());
        assert!(
            gate.offer("q", key("a"), 5).is_empty(),
            "a retry of a paused queue is held"
        );
        assert!(gate.forget("a").is_empty(), "nothing admitted while paused");
        assert!(gate.configure("q", 1, true).is_empty());
        assert_eq!(gate.configure("q", 1, false), [(key("b"), 2)]);
    }

    #[test]
    fn resume_rearms_what_the_pause_held_back_at_dispatch() {
        let gate = QueueGate::default();
        gate.configure("q", 2, false);
        gate.offer("q", key("a"), 1);
        gate.offer("q", key("b"), 1);
        gate.offer("q", key("c"), 1);
        assert!(!gate.hold_if_paused("q", &key("a"), 1), "not paused");
        gate.configure("q", 2, true);
        assert!(gate.hold_if_paused("q", &key("a"), 7));
        assert!(!gate.hold_if_paused("q", &key("c"), 1), "c is not active");
        let mut armed = gate.configure("q", 2, false);
        armed.sort_by(|x, y| x.0.id.cmp(&y.0.id));
        assert_eq!(armed, [(key("a"), 7)], "b was never held; c waits");
    }

    #[test]
    fn a_message_cancelled_while_waiting_is_skipped() {
        let gate = QueueGate::default();
        gate.offer("q", key("a"), 0);
        gate.offer("q", key("b"), 0);
        gate.offer("q", key("c"), 0);
        assert!(gate.forget("b").is_empty());
        assert_eq!(ids(gate.forget("a")), ["c"]);
        assert!(gate.forget("c").is_empty());
        assert_eq!(ids(gate.offer("q", key("d"), 0)), ["d"], "nobody waits");
    }

    #[test]
    fn a_removed_queue_starts_afresh() {
        let gate = QueueGate::default();
        gate.configure("q", 1, true);
        gate.offer("q", key("a"), 0);
        gate.forget("a");
        gate.remove("q");
        assert_eq!(ids(gate.offer("q", key("b"), 0)), ["b"], "not paused");
    }
}
