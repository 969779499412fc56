//! Delivery capacity, shared fairly between destinations.
//!
//! Every due message waits in the lane of its destination (scheme, host,
//! port). At most `global` attempts run at once, and at most `per_lane` of
//! them to one destination, so a destination that accepts connections and
//! never answers can hold only its own share: deliveries elsewhere go on.
//! Lanes with work take turns for free capacity (round robin), so a busy
//! destination does not starve a quiet one either. Pure bookkeeping: the
//! dispatcher asks what to start next and says when an attempt ended.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::timer::Lane;

#[derive(Default)]
struct LaneState {
    waiting: VecDeque<Arc<str>>,
    running: usize,
    /// Whether the lane is in `ready` (it has work and room).
    queued: bool,
}

pub struct Lanes {
    global: usize,
    per_lane: usize,
    running: usize,
    lanes: HashMap<Lane, LaneState>,
    /// Lanes with waiting work and room to start it, in turn order.
    ready: VecDeque<Lane>,
}

impl Lanes {
    pub fn new(global: usize, per_lane: usize) -> Lanes {
        Lanes {
            global: global.max(1),
            per_lane: per_lane.clamp(1, global.max(1)),
            running: 0,
            lanes: HashMap::new(),
            ready: VecDeque::new(),
        }
    }

    /// Queues message `id` on `lane`.
    pub fn push(&mut self, lane: Lane, id: Arc<str>) {
        let state = self.lanes.entry(lane.clone()).or_default();
        state.waiting.push_back(id);
        if !state.queued && state.running < self.per_lane {
            state.queued = true;
            self.ready.push_back(lane);
        }
    }

    /// The next attempt to start, if capacity allows: its lane and id.
    pub fn start_next(&mut self) -> Option<(Lane, Arc<str>)> {
        if self.running >= self.global {
            return None;
        }
        let lane = self.ready.pop_front()?;
        let state = self.lanes.get_mut(&lane).expect("a ready lane exists");
        let id = state.waiting.pop_front().expect("a ready lane has work");
        state.running += 1;
        self.running += 1;
        if !state.waiting.is_empty() && state.running < self.per_lane {
            self.ready.push_back(lane.clone());
        } else {
            state.queued = false;
        }
        Some((lane, id))
    }

    /// An attempt on `lane` ended.
    pub fn done(&mut self, lane: &Lane) {
        self.running = self.running.saturating_sub(1);
        let Some(state) = self.lanes.get_mut(lane) else {
            return;
        };
        state.running = state.running.saturating_sub(1);
        if !state.queued && !state.waiting.is_empty() && state.running < self.per_lane {
            state.queued = true;
            self.ready.push_back(lane.clone());
        }
        if state.running == 0 && state.waiting.is_empty() {
            self.lanes.remove(lane);
        }
    }

    /// Attempts running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Messages waiting for capacity.
    pub fn waiting(&self) -> usize {
        self.lanes.values().map(|l| l.waiting.len()).sum()
    }
}

/// The lane of a destination URL: its scheme, host and port, lower-cased,
/// the port made explicit (`http://a` and `http://a:80` share a lane).
pub fn lane_of(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return url.to_ascii_lowercase();
    };
    let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    format!("{scheme}://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(s: &str) -> Lane {
        Arc::from(s)
    }

    fn id(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn a_lane_never_runs_more_than_its_share() {
        let mut lanes = Lanes::new(10, 2);
        for i in 0..5 {
            lanes.push(lane("slow"), id(&format!("s{i}")));
        }
        lanes.push(lane("fast"), id("f0"));
        let started: Vec<_> = std::iter::from_fn(|| lanes.start_next()).collect();
        let slow = started.iter().filter(|(l, _)| &**l == "slow").count();
        assert_eq!(slow, 2, "the slow destination holds only its share");
        assert!(
            started.iter().any(|(l, _)| &**l == "fast"),
            "the other one runs"
        );
        assert_eq!(lanes.waiting(), 3);
        lanes.done(&lane("slow"));
        assert_eq!(
            lanes.start_next().map(|(_, i)| i),
            Some(id("s2")),
            "in order"
        );
    }

    #[test]
    fn the_global_bound_holds_and_lanes_take_turns() {
        let mut lanes = Lanes::new(2, 2);
        for i in 0..3 {
            lanes.push(lane("a"), id(&format!("a{i}")));
            lanes.push(lane("b"), id(&format!("b{i}")));
        }
        let first: Vec<_> = std::iter::from_fn(|| lanes.start_next())
            .map(|(_, i)| i)
            .collect();
        assert_eq!(first, [id("a0"), id("b0")], "one each, then the bound");
        lanes.done(&lane("a"));
        lanes.done(&lane("b"));
        let second: Vec<_> = std::iter::from_fn(|| lanes.start_next())
            .map(|(_, i)| i)
            .collect();
        assert_eq!(second, [id("a1"), id("b1")]);
        assert_eq!(lanes.running(), 2);
    }

    #[test]
    fn an_idle_lane_is_forgotten() {
        let mut lanes = Lanes::new(4, 4);
        lanes.push(lane("a"), id("1"));
        let (l, _) = lanes.start_next().unwrap();
        lanes.done(&l);
        assert!(lanes.lanes.is_empty());
        assert!(lanes.start_next().is_none());
    }

    #[test]
    fn lanes_are_scheme_host_and_port() {
        let table = [
            ("http://127.0.0.1:3000/a?b=1", "http://127.0.0.1:3000"),
            ("http://Example.com/x", "http://example.com:80"),
            ("https://example.com/", "https://example.com:443"),
            ("HTTPS://example.com:8443", "https://example.com:8443"),
        ];
        for (url, want) in table {
            assert_eq!(lane_of(url), want, "{url}");
        }
    }
}
