//! A scrape of `/metrics`: the levels read now (counts on the API read
//! lane, waitlists from the engine's gates, the file's size), rendered
//! with the event counters the engine and the store keep.

use super::{Service, ServiceResult};
use crate::metrics::Snapshot;

impl Service {
    /// The Prometheus text of every `cronhook_*` family.
    pub async fn metrics_text(&self) -> ServiceResult<String> {
        let counts = self.store.counts(self.now()).await?;
        let (queues, flow_waiting) = self.engine.waitlists();
        let snapshot = Snapshot {
            active_schedules: counts.active_schedules,
            paused_schedules: counts.paused_schedules,
            ended_schedules: counts.ended_schedules,
            pending_messages: counts.pending_messages,
            dlq: counts.dlq,
            queues,
            flow_waiting,
            database_bytes: self.store.size_on_disk().await,
            leader: self.engine.running(),
        };
        Ok(self.store.metrics().render(&snapshot))
    }
}
