//! Prometheus metrics: the registry and every `cronhook_*` family.
//!
//! Two kinds of numbers, kept apart so the hot path stays cheap:
//! - **events** (deliveries, lateness, missed slots, commits) are counters
//!   and histograms updated where they happen: an atomic add, or a short
//!   lock of one histogram;
//! - **levels** (schedules by state, pending messages, the DLQ, waitlists,
//!   the database's size) are read only when someone scrapes, from the
//!   store's API read lane and the engine's gates, and handed to `render`
//!   as a `Snapshot`.
//!
//! This module does no I/O and knows no layer above the domain, so the
//! store (commits) and the engine (deliveries, firings) both record into
//! the one `Arc<Metrics>` the store owns. The text is the Prometheus text
//! exposition format (0.0.4), written by the `prometheus-client` crate.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::model::Millis;

/// The `Content-Type` of `render`'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Static1 = [(&'static str, &'static str); 1];
type Static2 = [(&'static str, &'static str); 2];
type Named = [(&'static str, String); 1];

/// How an attempt ended, as `cronhook_deliveries_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; tried again later.
    Retry,
    /// Failed for good: dead-lettered (or dropped, for a callback).
    Failed,
}

impl DeliveryOutcome {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// `2xx` … `5xx`, or `none` when no response arrived (timeout, refused
/// connection). Other codes (1xx, 6xx+) are `other`.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        None => "none",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

/// `(queue, messages waiting for a place, messages not yet done)`, by name.
pub type QueueSizes = Vec<(String, usize, usize)>;

/// `(flow-control key, messages waiting for a permit)`, by key.
pub type FlowWaiting = Vec<(String, usize)>;

/// What a scrape reads at that moment (the levels; see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub active_schedules: i64,
    pub paused_schedules: i64,
    pub ended_schedules: i64,
    pub pending_messages: i64,
    pub dlq: i64,
    pub queues: QueueSizes,
    pub flow_waiting: FlowWaiting,
    /// The database file plus its write-ahead log, in bytes.
    pub database_bytes: u64,
    /// This node runs the engine (always on SQLite).
    pub leader: bool,
}

/// Every family, registered once.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<Static2, Counter>,
    delivery_duration: Histogram,
    fire_lateness: Histogram,
    missed_slots: Family<Static1, Counter>,
    commits: Family<Static1, Counter>,
    commit_jobs: Histogram,
    commit_duration: Histogram,
    in_flight: Gauge,
    // Levels, set from a `Snapshot` under `scrape`.
    schedules: Family<Static1, Gauge>,
    pending: Gauge,
    dlq: Gauge,
    queue_waiting: Family<Named, Gauge>,
    queue_lag: Family<Named, Gauge>,
    flow_waiting: Family<Named, Gauge>,
    database_bytes: Gauge<u64, AtomicU64>,
    leader: Gauge,
    /// One scrape at a time sets the levels and encodes them.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Seconds from 1 ms to 60 s: delivery durations and lateness.
const SECONDS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Seconds from 0.25 ms to 2.5 s: one commit, fsync included.
const COMMIT_SECONDS: [f64; 13] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Jobs per commit: 1 to the writer's batch cap (4096).
const BATCH: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("cronhook"),
            deliveries: Family::default(),
            delivery_duration: Histogram::new(SECONDS),
            fire_lateness: Histogram::new(SECONDS),
            missed_slots: Family::default(),
            commits: Family::default(),
            commit_jobs: Histogram::new(BATCH),
            commit_duration: Histogram::new(COMMIT_SECONDS),
            in_flight: Gauge::default(),
            schedules: Family::default(),
            pending: Gauge::default(),
            dlq: Gauge::default(),
            queue_waiting: Family::default(),
            queue_lag: Family::default(),
            flow_waiting: Family::default(),
            database_bytes: Gauge::default(),
            leader: Gauge::default(),
            scrape: Mutex::new(()),
        };
        let r = &mut m.registry;
        r.register(
            "deliveries",
            "Delivery attempts by outcome (delivered, retry, failed) and response status class",
            m.deliveries.clone(),
        );
        r.register_with_unit(
            "delivery_duration",
            "Time from sending a delivery request to its response or failure",
            Unit::Seconds,
            m.delivery_duration.clone(),
        );
        r.register_with_unit(
            "fire_lateness",
            "First attempts of scheduled messages: request start minus the slot's due time",
            Unit::Seconds,
            m.fire_lateness.clone(),
        );
        r.register(
            "missed_slots",
            "Slots missed while cronhook was down and not fired, by the misfire policy that skipped them",
            m.missed_slots.clone(),
        );
        r.register(
            "store_commits",
            "Write transactions of the store's writer, by result (ok, error)",
            m.commits.clone(),
        );
        r.register(
            "store_batch_jobs",
            "Write jobs folded into one commit (group commit)",
            m.commit_jobs.clone(),
        );
        r.register_with_unit(
            "store_commit_duration",
            "Time to run one batch of write jobs and commit it",
            Unit::Seconds,
            m.commit_duration.clone(),
        );
        r.register(
            "in_flight_attempts",
            "Delivery requests out now",
            m.in_flight.clone(),
        );
        r.register(
            "schedules",
            "Stored schedules by state (active, paused, ended)",
            m.schedules.clone(),
        );
        r.register(
            "pending_messages",
            "Messages not yet delivered or dead-lettered (delayed, due, retrying)",
            m.pending.clone(),
        );
        r.register("dlq_messages", "Messages in the DLQ", m.dlq.clone());
        r.register(
            "queue_waiting_messages",
            "Messages of a queue waiting for a place (its parallelism)",
            m.queue_waiting.clone(),
        );
        r.register(
            "queue_lag_messages",
            "Messages of a queue not yet done (waiting or holding a place)",
            m.queue_lag.clone(),
        );
        r.register(
            "flow_control_waiting_messages",
            "Messages waiting for their flow-control key's permit",
            m.flow_waiting.clone(),
        );
        r.register_with_unit(
            "database_size",
            "The database file and its write-ahead log",
            Unit::Bytes,
            m.database_bytes.clone(),
        );
        r.register(
            "leader",
            "1 while this node runs the engine: always on SQLite; with several nodes on PostgreSQL, the one holding the lease",
            m.leader.clone(),
        );
        // Present from the start, so a rule over them never sees "no data".
        for reason in ["skip", "once", "all"] {
            let _ = m.missed_slots.get_or_create(&[("reason", reason)]);
        }
        for result in ["ok", "error"] {
            let _ = m.commits.get_or_create(&[("result", result)]);
        }
        m
    }

    /// One attempt's outcome, its response status, and how long its
    /// exchange took.
    pub fn delivery(&self, outcome: DeliveryOutcome, status: Option<u16>, seconds: f64) {
        self.deliveries
            .get_or_create(&[
                ("outcome", outcome.as_str()),
                ("status_class", status_class(status)),
            ])
            .inc();
        self.delivery_duration.observe(seconds);
    }

    /// A scheduled message's first attempt started `late_ms` after it was due.
    pub fn fire_lateness(&self, late_ms: Millis) {
        self.fire_lateness.observe(late_ms.max(0) as f64 / 1000.0);
    }

    /// `n` slots missed while down were skipped under misfire policy `policy`.
    pub fn missed_slots(&self, policy: &'static str, n: u64) {
        if n > 0 {
            self.missed_slots
                .get_or_create(&[("reason", policy)])
                .inc_by(n);
        }
    }

    /// The writer ran `jobs` jobs in one transaction, in `seconds`.
    pub fn commit(&self, ok: bool, jobs: usize, seconds: f64) {
        let result = if ok { "ok" } else { "error" };
        self.commits.get_or_create(&[("result", result)]).inc();
        self.commit_jobs.observe(jobs as f64);
        self.commit_duration.observe(seconds);
    }

    /// A delivery request goes out; it is counted until the guard drops.
    pub fn attempt_out(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// The text of every family, with the levels of `s`.
    pub fn render(&self, s: &Snapshot) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.schedules
            .get_or_create(&[("state", "active")])
            .set(s.active_schedules);
        self.schedules
            .get_or_create(&[("state", "paused")])
            .set(s.paused_schedules);
        self.schedules
            .get_or_create(&[("state", "ended")])
            .set(s.ended_schedules);
        self.pending.set(s.pending_messages);
        self.leader.set(i64::from(s.leader));
        self.dlq.set(s.dlq);
        // Queues and keys come and go: only those of this snapshot are shown.
        self.queue_waiting.clear();
        self.queue_lag.clear();
        for (queue, waiting, lag) in &s.queues {
            let labels = [("queue", queue.clone())];
            self.queue_waiting
                .get_or_create(&labels)
                .set(*waiting as i64);
            self.queue_lag.get_or_create(&labels).set(*lag as i64);
        }
        self.flow_waiting.clear();
        for (key, waiting) in &s.flow_waiting {
            self.flow_waiting
                .get_or_create(&[("key", key.clone())])
                .set(*waiting as i64);
        }
        self.database_bytes.set(s.database_bytes);
        let mut text = String::with_capacity(8 * 1024);
        prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// Counts one request out in `cronhook_in_flight_attempts` while it lives.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'t>(text: &'t str, start: &str) -> Option<&'t str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn status_classes_cover_every_code_and_no_response() {
        let table = [
            (None, "none"),
            (Some(200), "2xx"),
            (Some(304), "3xx"),
            (Some(429), "4xx"),
            (Some(503), "5xx"),
            (Some(101), "other"),
        ];
        for (status, want) in table {
            assert_eq!(status_class(status), want, "{status:?}");
        }
    }

    #[test]
    fn events_are_counted_under_their_labels() {
        let m = Metrics::new();
        m.delivery(DeliveryOutcome::Delivered, Some(200), 0.002);
        m.delivery(DeliveryOutcome::Retry, Some(500), 0.002);
        m.delivery(DeliveryOutcome::Retry, Some(500), 0.002);
        m.delivery(DeliveryOutcome::Failed, None, 0.002);
        m.missed_slots("skip", 3);
        m.missed_slots("once", 0);
        let text = m.render(&Snapshot::default());
        for want in [
            r#"cronhook_deliveries_total{outcome="delivered",status_class="2xx"} 1"#,
            r#"cronhook_deliveries_total{outcome="retry",status_class="5xx"} 2"#,
            r#"cronhook_deliveries_total{outcome="failed",status_class="none"} 1"#,
            r#"cronhook_missed_slots_total{reason="skip"} 3"#,
            r#"cronhook_missed_slots_total{reason="once"} 0"#,
            r#"cronhook_missed_slots_total{reason="all"} 0"#,
            r#"cronhook_store_commits_total{result="error"} 0"#,
            "cronhook_delivery_duration_seconds_count 4",
        ] {
            assert!(text.lines().any(|l| l == want), "{want} in\n{text}");
        }
    }

    #[test]
    fn levels_show_only_the_queues_and_keys_of_the_latest_scrape() {
        let m = Metrics::new();
        let mut s = Snapshot {
            queues: vec![("q1".into(), 2, 3)],
            flow_waiting: vec![("k1".into(), 4)],
            active_schedules: 5,
            ..Snapshot::default()
        };
        let text = m.render(&s);
        assert!(line(&text, r#"cronhook_queue_waiting_messages{queue="q1"} 2"#).is_some());
        assert!(line(&text, r#"cronhook_queue_lag_messages{queue="q1"} 3"#).is_some());
        assert!(line(
            &text,
            r#"cronhook_flow_control_waiting_messages{key="k1"} 4"#
        )
        .is_some());
        assert!(line(&text, r#"cronhook_schedules{state="active"} 5"#).is_some());
        s.queues.clear();
        s.flow_waiting.clear();
        let text = m.render(&s);
        assert!(
            line(&text, "cronhook_queue_waiting_messages{").is_none(),
            "{text}"
        );
        assert!(line(&text, "cronhook_flow_control_waiting_messages{").is_none());
    }

    #[test]
    fn an_attempt_is_in_flight_while_its_guard_lives() {
        let m = Metrics::new();
        let guard = m.attempt_out();
        assert!(line(
            &m.render(&Snapshot::default()),
            "cronhook_in_flight_attempts 1"
        )
        .is_some());
        drop(guard);
        assert!(line(
            &m.render(&Snapshot::default()),
            "cronhook_in_flight_attempts 0"
        )
        .is_some());
    }
}
