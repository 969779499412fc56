//! Messages kept in memory from their commit to their attempt, so an
//! attempt that follows its publish or firing within moments needs no
//! database read.
//!
//! Only messages due within `HORIZON` (the timer's window) of their commit
//! are kept, and never more than the byte budget: a million messages
//! delayed by a day, or a hundred of 1 MiB each, take no memory here; they
//! are read from the database when they come due, as is every message the
//! budget had no room for.

use std::collections::HashMap;

use crate::model::{Message, Millis};

/// How soon a message must be due to be kept: within the timer's window,
/// the messages the timer holds anyway.
pub const HORIZON: Millis = super::WINDOW;

/// Bytes of bookkeeping per entry on top of the message's own sizes.
const OVERHEAD: usize = 256;

pub struct MessageCache {
    budget: usize,
    used: usize,
    entries: HashMap<String, (Message, usize)>,
}

/// Roughly what a message takes in memory.
fn size_of(m: &Message) -> usize {
    let d = &m.delivery;
    let headers: usize = d
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.iter().map(String::len).sum::<usize>() + 32)
        .sum();
    OVERHEAD + m.body.len() + m.url.len() + m.id.len() + headers
}

impl MessageCache {
    pub fn new(budget: usize) -> MessageCache {
        MessageCache {
            budget,
            used: 0,
            entries: HashMap::new(),
        }
    }

    /// Keeps `m` if it is due within `HORIZON` of `now` and fits the budget.
    pub fn offer(&mut self, m: Message, now: Millis) {
        if m.due_at > now + HORIZON {
            return;
        }
        self.remove(&m.id);
        let size = size_of(&m);
        if self.used + size > self.budget {
            return;
        }
        self.used += size;
        self.entries.insert(m.id.clone(), (m, size));
    }

    /// Takes message `id` out, if kept.
    pub fn take(&mut self, id: &str) -> Option<Message> {
        let (m, size) = self.entries.remove(id)?;
        self.used -= size;
        Some(m)
    }

    pub fn remove(&mut self, id: &str) {
        let _ = self.take(id);
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Delivery;

    fn message(id: &str, body: usize, due: Millis) -> Message {
        let mut m = Message::new(
            "http://127.0.0.1:1/".into(),
            Delivery::default(),
            vec![0; body],
            0,
            due,
        );
        m.id = id.into();
        m
    }

    #[test]
    fn a_message_due_later_is_not_kept() {
        let mut cache = MessageCache::new(1 << 20);
        cache.offer(message("later", 10, 86_400_000), 0);
        assert!(cache.take("later").is_none());
        assert_eq!(cache.used(), 0);
    }

    #[test]
    fn the_budget_is_never_exceeded_and_taking_frees_it() {
        let budget = 10_000;
        let mut cache = MessageCache::new(budget);
        for i in 0..100 {
            cache.offer(message(&format!("m{i}"), 1000, 0), 0);
            assert!(cache.used() <= budget);
        }
        let kept: Vec<_> = (0..100)
            .filter_map(|i| cache.take(&format!("m{i}")))
            .collect();
        assert!(!kept.is_empty() && kept.len() < 100, "{} kept", kept.len());
        assert_eq!(cache.used(), 0);
    }

    #[test]
    fn offering_again_replaces_without_leaking_bytes() {
        let mut cache = MessageCache::new(1 << 20);
        cache.offer(message("m", 100, 0), 0);
        let once = cache.used();
        cache.offer(message("m", 100, 0), 0);
        assert_eq!(cache.used(), once);
    }
}
