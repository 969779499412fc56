//! Pending messages: publishing (with deduplication), reading, cancelling,
//! and what the engine's timer loads.

use crate::filter::{Filter, Subject};
use crate::model::{Message, Millis};
use crate::store::rows::{dedup, messages as rows};
use crate::store::{steps, Store, StoreError};

pub use crate::store::rows::messages::Pending;

/// A message to publish and its deduplication keys (§9.7).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: Message,
    pub dedup_keys: Vec<String>,
}

/// What a publish did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The new message's id, or for a duplicate the id of the message its
    /// key (or its run's Init) first created.
    pub id: String,
    pub url: String,
    pub duplicate: bool,
}

impl Store {
    /// Publishes each message unless one of its deduplication keys was seen
    /// within its window (keys live until `expires_at`); a duplicate stores
    /// nothing and answers the first message's id (§9.7). One transaction for
    /// all, so a batch costs one commit. Workflow messages are checked
    /// against their run first: a repeated Init is a duplicate of the run's
    /// Init message, and an append to an ended run fails the whole call, so
    /// a batch is stored entirely or not at all.
    pub async fn publish(
        &self,
        items: Vec<NewMessage>,
        expires_at: Millis,
    ) -> Result<Vec<Published>, StoreError> {
        self.write(move |tx| {
            let mut results = Vec::with_capacity(items.len());
            'items: for NewMessage {
                message: m,
                dedup_keys,
            } in items
            {
                let url = m.url.clone();
                if let Some(first) = steps::admit_to_run(tx, &m)? {
                    results.push(Published {
                        id: first,
                        url,
                        duplicate: true,
                    });
                    continue;
                }
                for key in &dedup_keys {
                    if let Some(first) = dedup::seen(tx, key, m.created_at)? {
                        results.push(Published {
                            id: first,
                            url,
                            duplicate: true,
                        });
                        continue 'items;
                    }
                }
                let id = m.id.clone();
                steps::add_message(tx, m)?;
                for key in &dedup_keys {
                    dedup::put(tx, key, &id, expires_at)?;
                }
                results.push(Published {
                    id,
                    url,
                    duplicate: false,
                });
            }
            Ok(results)
        })
        .await
    }

    /// A pending message, for the API.
    pub async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let id = id.to_owned();
        self.read_api(move |conn| rows::get(conn, &id)).await
    }

    /// A pending message, for its attempt.
    pub async fn message_to_attempt(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let id = id.to_owned();
        self.read_engine(move |conn| rows::get(conn, &id)).await
    }

    /// What the timer is loaded with at start-up: every unqueued message
    /// due by `until`, and every queued one, queues in enqueue order (so
    /// they keep their order across restarts). Attempts in flight at a
    /// crash are among them and are made again.
    pub async fn pending_at_start(&self, until: Millis) -> Result<Vec<Pending>, StoreError> {
        self.read_engine(move |conn| {
            let mut all = rows::queued(conn)?;
            all.extend(rows::due_between(conn, Millis::MIN, until)?);
            Ok(all)
        })
        .await
    }

    /// Unqueued messages due in `(after, until]`: the next stretch of the
    /// timer's window.
    pub async fn due_between(
        &self,
        after: Millis,
        until: Millis,
    ) -> Result<Vec<Pending>, StoreError> {
        self.read_engine(move |conn| rows::due_between(conn, after, until))
            .await
    }

    /// When the first unqueued message due after `after` is due, if any:
    /// when the timer's window must move on next.
    pub async fn first_due_after(&self, after: Millis) -> Result<Option<Millis>, StoreError> {
        self.read_engine(move |conn| rows::first_due_after(conn, after))
            .await
    }

    /// Cancels pending messages: those with `ids` if given, else those
    /// matching `filter` (by creation time), at most `limit`. Each is logged
    /// CANCEL_REQUESTED → CANCELED and never delivered. Returns how many.
    pub async fn cancel(
        &self,
        ids: Vec<String>,
        filter: Filter,
        limit: usize,
        now: Millis,
    ) -> Result<usize, StoreError> {
        self.write(move |tx| {
            let chosen: Vec<String> = if ids.is_empty() {
                rows::all_without_bodies(tx)?
                    .into_iter()
                    .filter(|m| {
                        filter.matches(&Subject {
                            message_id: &m.id,
                            dlq_id: None,
                            url: &m.url,
                            schedule_id: m.schedule_id.as_deref(),
                            caller_ip: m.caller_ip.as_deref(),
                            delivery: &m.delivery,
                            state: None,
                            response_status: None,
                            time: m.created_at,
                        })
                    })
                    .take(limit)
                    .map(|m| m.id)
                    .collect()
            } else {
                ids
            };
            let mut cancelled = 0;
            for id in &chosen {
                cancelled += usize::from(steps::drop_message(tx, id, now)?);
            }
            Ok(cancelled)
        })
        .await
    }
}
