//! Queues (§4.6): upsert, read, pause, resume, delete.

use super::{Service, ServiceError, ServiceResult};
use crate::model::{Queue, MAX_QUEUE_PARALLELISM};

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("queue {name:?} not found"))
}

impl Service {
    /// Creates queue `name` or replaces its settings. The gate applies them
    /// at commit: a raised parallelism admits more at once, a pause stops
    /// new attempts.
    pub async fn upsert_queue(
        &self,
        name: &str,
        parallelism: u32,
        paused: bool,
    ) -> ServiceResult<()> {
        if !(1..=MAX_QUEUE_PARALLELISM).contains(&parallelism) {
            return Err(ServiceError::Invalid(format!(
                "parallelism: must be a whole number from 1 to {MAX_QUEUE_PARALLELISM}, got {parallelism}"
            )));
        }
        Ok(self
            .store
            .upsert_queue(name, parallelism, paused, self.now())
            .await?)
    }

    pub async fn queue(&self, name: &str) -> ServiceResult<Queue> {
        self.store.queue(name).await?.ok_or_else(|| not_found(name))
    }

    pub async fn queues(&self) -> ServiceResult<Vec<Queue>> {
        Ok(self.store.queues().await?)
    }

    /// Pauses or resumes queue `name`; idempotent.
    pub async fn set_queue_paused(&self, name: &str, paused: bool) -> ServiceResult<()> {
        if self
            .store
            .set_queue_paused(name, paused, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(not_found(name))
        }
    }

    /// Deletes queue `name`, cancelling its pending messages (logged
    /// CANCELED, never delivered); returns how many. QStash's documentation
    /// does not say what becomes of them; cancelling is what an SDK's
    /// clean-up (`delete` after a test) expects, and nothing vanishes
    /// without a log entry.
    pub async fn delete_queue(&self, name: &str) -> ServiceResult<usize> {
        self.store
            .delete_queue(name, self.now())
            .await?
            .map(|d| d.cancelled)
            .ok_or_else(|| not_found(name))
    }
}
