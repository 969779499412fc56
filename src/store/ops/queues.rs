//! Queues (§4.6): settings, pause and resume, deletion, and what the
//! engine's gate is loaded with. Each write names the queue's new settings
//! on the `Tx`, so the gate learns of them right after the commit.

use crate::model::{Millis, Queue};
use crate::store::rows::{messages, queues as rows};
use crate::store::{steps, Store, StoreError};

/// What deleting a queue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDeleted {
    /// Its messages that were still pending, now cancelled (each logged
    /// CANCEL_REQUESTED → CANCELED).
    pub cancelled: usize,
}

impl Store {
    /// Creates queue `name` or replaces its parallelism and paused state
    /// (`createdAt` is kept). A raised parallelism admits more of its
    /// waiting messages at once; a pause stops new attempts.
    pub async fn upsert_queue(
        &self,
        name: &str,
        parallelism: u32,
        paused: bool,
        now: Millis,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |tx| {
            rows::upsert(tx, &name, parallelism, paused, now)?;
            tx.queue(&name, parallelism, paused);
            Ok(())
        })
        .await
    }

    /// Pauses or resumes queue `name`; false if there is no such queue.
    /// Pausing a paused queue (or resuming a running one) changes nothing.
    pub async fn set_queue_paused(
        &self,
        name: &str,
        paused: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |tx| {
            let Some(parallelism) = rows::set_paused(tx, &name, paused, now)? else {
                return Ok(false);
            };
            tx.queue(&name, parallelism, paused);
            Ok(true)
        })
        .await
    }

    /// Deletes queue `name` and cancels its pending messages in the same
    /// transaction, so none is left behind unowned and none vanishes
    /// without a log entry. `None` if there is no such queue.
    pub async fn delete_queue(
        &self,
        name: &str,
        now: Millis,
    ) -> Result<Option<QueueDeleted>, StoreError> {
        let name = name.to_owned();
        self.write(move |tx| {
            if !rows::exists(tx, &name)? {
                return Ok(None);
            }
            let mut cancelled = 0;
            for id in messages::ids_in_queue(tx, &name)? {
                cancelled += usize::from(steps::drop_message(tx, &id, now)?);
            }
            rows::delete(tx, &name)?;
            tx.queue_gone(&name);
            Ok(Some(QueueDeleted { cancelled }))
        })
        .await
    }

    /// Queue `name` with its lag, for the API.
    pub async fn queue(&self, name: &str) -> Result<Option<Queue>, StoreError> {
        let name = name.to_owned();
        self.read_api(move |conn| rows::get(conn, &name)).await
    }

    /// Every queue with its lag, by name.
    pub async fn queues(&self) -> Result<Vec<Queue>, StoreError> {
        self.read_api(rows::list).await
    }

    /// Every queue's (name, parallelism, paused), for the engine's gate at
    /// start-up.
    pub async fn queue_settings(&self) -> Result<Vec<(String, u32, bool)>, StoreError> {
        self.read_engine(rows::settings).await
    }
}
