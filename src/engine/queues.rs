//! FIFO queues (§9.5): with parallelism N, at most N messages of a queue are
//! active, an active message holding its place through its retries; the rest
//! wait, in enqueue order, unarmed.
//!
//! The gate sits in front of the timer: a queued message is armed only once
//! admitted, and each final outcome (delivered, dead-lettered, cancelled)
//! admits the next one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use super::timer::MessageKey;
use crate::model::Millis;

#[derive(Default)]
struct Lane {
    parallelism: usize,
    active: HashSet<String>,
    waiting: VecDeque<(MessageKey, Millis)>,
}

#[derive(Default)]
pub struct QueueGate {
    lanes: Mutex<HashMap<String, Lane>>,
    /// Which queue each active message holds a place in.
    holders: Mutex<HashMap<String, String>>,
}

impl QueueGate {
    /// Sets a queue's parallelism (at least 1).
    pub fn configure(&self, queue: &str, parallelism: u32) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes.entry(queue.to_owned()).or_default().parallelism = parallelism.max(1) as usize;
    }

    /// Offers message `key` (due at `due`) to `queue`: true when it may be
    /// armed now, false when it waits for a place.
    pub fn admit(&self, queue: &str, key: MessageKey, due: Millis) -> bool {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = lanes.entry(queue.to_owned()).or_default();
        let parallelism = lane.parallelism.max(1);
        let id: &str = &key.id;
        if lane.active.contains(id) {
            return true;
        }
        if lane.active.len() < parallelism && lane.waiting.is_empty() {
            lane.active.insert(id.to_owned());
            drop(lanes);
            self.holders
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.to_owned(), queue.to_owned());
            return true;
        }
        lane.waiting.push_back((key, due));
        false
    }

    /// Message `id` reached its final outcome: frees its place and returns the
    /// messages admitted in its stead, with their due times, to arm.
    pub fn release(&self, id: &str) -> Vec<(MessageKey, Millis)> {
        let Some(queue) = self
            .holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
        else {
            return Vec::new();
        };
        let mut admitted = Vec::new();
        {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            let Some(lane) = lanes.get_mut(&queue) else {
                return Vec::new();
            };
            lane.active.remove(id);
            while lane.active.len() < lane.parallelism.max(1) {
                let Some((next, due)) = lane.waiting.pop_front() else {
                    break;
                };
                lane.active.insert(next.id.to_string());
                admitted.push((next, due));
            }
        }
        let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        for (next, _) in &admitted {
            holders.insert(next.id.to_string(), queue.clone());
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> MessageKey {
        MessageKey::id(id)
    }

    fn ids(admitted: Vec<(MessageKey, Millis)>) -> Vec<(String, Millis)> {
        admitted
            .into_iter()
            .map(|(k, due)| (k.id.to_string(), due))
            .collect()
    }

    #[test]
    fn parallelism_one_admits_in_order_one_at_a_time() {
        let gate = QueueGate::default();
        assert!(gate.admit("q", key("a"), 1));
        assert!(!gate.admit("q", key("b"), 2));
        assert!(!gate.admit("q", key("c"), 3));
        assert!(
            gate.admit("q", key("a"), 9),
            "a retry of the active message passes"
        );
        assert_eq!(ids(gate.release("a")), [("b".to_owned(), 2)]);
        assert_eq!(ids(gate.release("b")), [("c".to_owned(), 3)]);
        assert!(gate.release("c").is_empty());
        assert!(gate.admit("q", key("d"), 4));
    }

    #[test]
    fn queues_are_independent_and_parallelism_counts() {
        let gate = QueueGate::default();
        gate.configure("wide", 2);
        assert!(gate.admit("wide", key("a"), 0));
        assert!(gate.admit("wide", key("b"), 0));
        assert!(!gate.admit("wide", key("c"), 0));
        assert!(gate.admit("other", key("x"), 0));
        assert_eq!(ids(gate.release("a")), [("c".to_owned(), 0)]);
        assert!(gate.release("unknown").is_empty());
    }
}
