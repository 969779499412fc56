//! Pending messages: publishing (with deduplication), attempt outcomes
//! (with their log entries and callback messages), and cancelling.

use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{self, to_json, MESSAGE_COLUMNS};
use super::dlq;
use super::events::{self, log, Details};
use super::schedules::set_last_state;
use super::workflows;
use super::{Store, StoreError};
use crate::filter::{Filter, Subject};
use crate::model::{schedule_state, state, Attempt, DlqEntry, Message, Millis};

/// Stores a new message and logs it as CREATED.
pub(super) fn insert(conn: &Connection, m: &Message) -> Result<(), StoreError> {
    let delivery = to_json(&m.delivery)?;
    conn.prepare_cached(
        "INSERT INTO messages (id, url, schedule_id, slot_at, delivery, body, created_at, \
         not_before, due_at, retried, caller_ip) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        m.id,
        m.url,
        m.schedule_id,
        m.slot_at,
        delivery,
        m.body,
        m.created_at,
        m.not_before,
        m.due_at,
        m.retried,
        m.caller_ip,
    ])?;
    workflows::on_insert(conn, m)?;
    let next = (m.due_at > m.created_at).then_some(m.due_at);
    log(
        conn,
        m.created_at,
        m,
        &delivery,
        state::CREATED,
        Details {
            body: true,
            next_delivery_time: next,
            ..Details::default()
        },
    )
}

/// Removes a pending message; false if it was gone already (cancelled).
fn remove(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?;
    Ok(removed == 1)
}

/// Removes a pending message; returns it if it was still there.
pub(super) fn take(conn: &Connection, id: &str) -> Result<Option<Message>, StoreError> {
    let sql = format!("DELETE FROM messages WHERE id = ?1 RETURNING {MESSAGE_COLUMNS}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], codec::message)
        .optional()?)
}

/// Stores `m` unless its run or one of its deduplication keys says it is a
/// duplicate; new keys live until `expires_at`.
fn publish_one(
    conn: &Connection,
    m: &Message,
    dedup_keys: &[String],
    expires_at: Millis,
) -> Result<Published, StoreError> {
    if let Some(message_id) = workflows::admit(conn, m)? {
        return Ok(Published::Duplicate { message_id });
    }
    for key in dedup_keys {
        let seen: Option<String> = conn
            .prepare_cached("SELECT message_id FROM dedup WHERE key = ?1 AND expires_at > ?2")?
            .query_row(params![key, m.created_at], |r| r.get(0))
            .optional()?;
        if let Some(message_id) = seen {
            return Ok(Published::Duplicate { message_id });
        }
    }
    insert(conn, m)?;
    for key in dedup_keys {
        conn.prepare_cached(
            "INSERT INTO dedup (key, message_id, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET message_id = excluded.message_id, \
             expires_at = excluded.expires_at",
        )?
        .execute(params![key, m.id, expires_at])?;
    }
    Ok(Published::New)
}

fn insert_all(conn: &Connection, messages: &[Message]) -> Result<(), StoreError> {
    messages.iter().try_for_each(|m| insert(conn, m))
}

/// A pending message as the timer needs it at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: String,
    pub due_at: Millis,
    pub queue: Option<String>,
}

/// The result of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    New,
    /// A deduplication key matched: the message it first created.
    Duplicate {
        message_id: String,
    },
}

/// What recording an outcome did; `None` from the store when the message had
/// already left (cancelled meanwhile), in which case nothing was written.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Callback messages created with the outcome; the engine arms them.
    pub created: Vec<Message>,
    pub dlq: Option<DlqEntry>,
    /// Messages dropped with the outcome (the rest of a failed workflow
    /// run); the engine disarms them.
    pub dropped: Vec<String>,
}

impl Store {
    /// Publishes each message unless one of its deduplication keys was seen
    /// within its window (keys live until `expires_at`); a duplicate stores
    /// nothing and answers the first message's id (§9.7). One transaction for
    /// all, so a batch costs one commit. Workflow messages are checked
    /// against their run first (`workflows::admit`): a repeated Init is a
    /// duplicate of the run's Init message, and an append to an ended run
    /// fails the whole call, so a batch is stored entirely or not at all.
    pub async fn publish(
        &self,
        items: Vec<(Message, Vec<String>)>,
        expires_at: Millis,
    ) -> Result<Vec<(Message, Published)>, StoreError> {
        self.write(move |conn| {
            let mut results = Vec::with_capacity(items.len());
            for (m, dedup_keys) in items {
                let published = publish_one(conn, &m, &dedup_keys, expires_at)?;
                results.push((m, published));
            }
            Ok(results)
        })
        .await
    }

    pub async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
            Ok(conn
                .prepare_cached(&sql)?
                .query_row([id], codec::message)
                .optional()?)
        })
        .await
    }

    /// `(id, due_at)` of every pending message, in publish order: what the
    /// timer is loaded with at start-up, so attempts in flight at a crash are
    /// made again.
    pub async fn pending_messages(&self) -> Result<Vec<Pending>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, due_at, json_extract(delivery, '$.queueName') FROM messages \
                 ORDER BY rowid",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Pending {
                    id: r.get(0)?,
                    due_at: r.get(1)?,
                    queue: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// A 2xx arrived: log ACTIVE → DELIVERED, remove the message, store the
    /// callback message if any.
    pub async fn record_delivered(
        &self,
        m: Message,
        attempt: Attempt,
        callbacks: Vec<Message>,
    ) -> Result<Option<Recorded>, StoreError> {
        self.write(move |conn| {
            if !remove(conn, &m.id)? {
                return Ok(None);
            }
            let delivery = to_json(&m.delivery)?;
            log(
                conn,
                attempt.started_at,
                &m,
                &delivery,
                state::ACTIVE,
                Details::default(),
            )?;
            log(
                conn,
                attempt.ended_at,
                &m,
                &delivery,
                state::DELIVERED,
                Details {
                    response: Some(&attempt.response),
                    ..Details::default()
                },
            )?;
            if let Some(schedule_id) = &m.schedule_id {
                set_last_state(conn, schedule_id, &m.id, schedule_state::SUCCESS)?;
            }
            insert_all(conn, &callbacks)?;
            Ok(Some(Recorded {
                created: callbacks,
                dlq: None,
                dropped: Vec::new(),
            }))
        })
        .await
    }

    /// An attempt failed and another is due at `due_at`: log ACTIVE → ERROR →
    /// RETRY and persist the count, so a restart resumes the backoff.
    pub async fn record_retry(
        &self,
        m: Message,
        attempt: Attempt,
        due_at: Millis,
        callbacks: Vec<Message>,
    ) -> Result<Option<Recorded>, StoreError> {
        self.write(move |conn| {
            let updated = conn
                .prepare_cached("UPDATE messages SET retried = ?2, due_at = ?3 WHERE id = ?1")?
                .execute(params![m.id, m.retried + 1, due_at])?;
            if updated == 0 {
                return Ok(None);
            }
            let delivery = to_json(&m.delivery)?;
            events::log_failed_attempt(conn, &m, &delivery, &attempt)?;
            log(
                conn,
                attempt.ended_at,
                &m,
                &delivery,
                state::RETRY,
                Details {
                    next_delivery_time: Some(due_at),
                    ..Details::default()
                },
            )?;
            insert_all(conn, &callbacks)?;
            Ok(Some(Recorded {
                created: callbacks,
                dlq: None,
                dropped: Vec::new(),
            }))
        })
        .await
    }

    /// Attempts are exhausted (or the destination said not to retry): log
    /// ACTIVE → ERROR → FAILED, move the message to the DLQ, and store the
    /// callback messages `callbacks` builds from the new DLQ entry.
    pub async fn record_failed<F>(
        &self,
        m: Message,
        attempt: Attempt,
        callbacks: F,
    ) -> Result<Option<Recorded>, StoreError>
    where
        F: FnOnce(&DlqEntry) -> Vec<Message> + Send + 'static,
    {
        self.write(move |conn| {
            if !remove(conn, &m.id)? {
                return Ok(None);
            }
            let delivery = to_json(&m.delivery)?;
            events::log_failed_attempt(conn, &m, &delivery, &attempt)?;
            log(
                conn,
                attempt.ended_at,
                &m,
                &delivery,
                state::FAILED,
                Details {
                    error: Some(&attempt.response.error),
                    ..Details::default()
                },
            )?;
            let entry = dlq::insert(conn, &m, attempt.ended_at, &attempt.response)?;
            if let Some(schedule_id) = &m.schedule_id {
                set_last_state(conn, schedule_id, &m.id, schedule_state::FAIL)?;
            }
            // A workflow step out of attempts fails its run (§3.9).
            let mut dropped = Vec::new();
            if let Some(link) = m.delivery.workflow.as_ref().filter(|l| l.role.fails_run()) {
                dropped = workflows::end_run(
                    conn,
                    &link.run_id,
                    crate::workflow::RunState::Failed,
                    attempt.ended_at,
                    None,
                )?
                .unwrap_or_default();
            }
            let created = callbacks(&entry);
            insert_all(conn, &created)?;
            Ok(Some(Recorded {
                created,
                dlq: Some(entry),
                dropped,
            }))
        })
        .await
    }

    /// Cancels pending messages: those with `ids` if given, else those
    /// matching `filter` (by creation time), at most `limit`. Each is logged
    /// CANCEL_REQUESTED → CANCELED and never delivered. Returns the ids.
    pub async fn cancel(
        &self,
        ids: Vec<String>,
        filter: Filter,
        limit: usize,
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        self.write(move |conn| {
            let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY rowid");
            let mut stmt = conn.prepare_cached(&sql)?;
            let candidates: Vec<Message> = if ids.is_empty() {
                stmt.query_map([], codec::message)?
                    .filter_map(Result::ok)
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
                    .collect()
            } else {
                let mut found = Vec::new();
                for id in &ids {
                    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
                    if let Some(m) = conn
                        .prepare_cached(&sql)?
                        .query_row([id], codec::message)
                        .optional()?
                    {
                        found.push(m);
                    }
                }
                found
            };
            let mut cancelled = Vec::with_capacity(candidates.len());
            for m in candidates {
                if remove(conn, &m.id)? {
                    let delivery = to_json(&m.delivery)?;
                    for state in [state::CANCEL_REQUESTED, state::CANCELED] {
                        log(conn, now, &m, &delivery, state, Details::default())?;
                    }
                    cancelled.push(m.id);
                }
            }
            Ok(cancelled)
        })
        .await
    }
}
