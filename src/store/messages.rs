//! Pending messages, their outcomes, and the dead-letter queue.

use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{self, to_json, MESSAGE_COLUMNS};
use super::schedules::set_last_state;
use super::{Store, StoreError};
use crate::model::{schedule_state, DlqEntry, FailedResponse, Message, Millis};

pub(super) fn insert(conn: &Connection, m: &Message) -> Result<(), StoreError> {
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
        to_json(&m.delivery)?,
        m.body,
        m.created_at,
        m.not_before,
        m.due_at,
        m.retried,
        m.caller_ip,
    ])?;
    Ok(())
}

/// Removes a pending message; returns it if it was still there.
fn take(conn: &Connection, id: &str) -> Result<Option<Message>, StoreError> {
    let sql = format!("DELETE FROM messages WHERE id = ?1 RETURNING {MESSAGE_COLUMNS}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], codec::message)
        .optional()?)
}

const DLQ_COLUMNS: &str = "dlq_id, message_id, url, schedule_id, delivery, body, created_at, \
     not_before, retried, caller_ip, failed_at, response_status, response_headers, response_body, error";

fn dlq_entry(row: &rusqlite::Row) -> rusqlite::Result<DlqEntry> {
    let delivery: String = row.get(4)?;
    let headers: String = row.get(12)?;
    Ok(DlqEntry {
        dlq_id: row.get(0)?,
        message: Message {
            id: row.get(1)?,
            url: row.get(2)?,
            schedule_id: row.get(3)?,
            slot_at: None,
            delivery: codec::from_json(4, &delivery)?,
            body: row.get(5)?,
            created_at: row.get(6)?,
            not_before: row.get(7)?,
            due_at: row.get(7)?,
            retried: row.get(8)?,
            caller_ip: row.get(9)?,
        },
        failed_at: row.get(10)?,
        response: FailedResponse {
            status: row.get(11)?,
            headers: codec::header_map(12, &headers)?,
            body: row.get(13)?,
            error: row.get(14)?,
        },
    })
}

impl Store {
    /// Stores a new message (publish).
    pub async fn insert_message(&self, m: Message) -> Result<(), StoreError> {
        self.write(move |conn| insert(conn, &m)).await
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

    /// `(id, due_at)` of every pending message: what the timer is loaded with at
    /// start-up, so attempts in flight at a crash are made again.
    pub async fn pending_messages(&self) -> Result<Vec<(String, Millis)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id, due_at FROM messages")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// A 2xx arrived: the message leaves the hot table.
    pub async fn record_delivered(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            if let Some(m) = take(conn, &id)? {
                if let Some(schedule_id) = &m.schedule_id {
                    set_last_state(conn, schedule_id, &m.id, schedule_state::SUCCESS)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// An attempt failed and another is due at `due_at`. Persisted, so a
    /// restart resumes the retry count and the backoff.
    pub async fn record_retry(
        &self,
        id: &str,
        retried: u32,
        due_at: Millis,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            Ok(conn
                .prepare_cached("UPDATE messages SET retried = ?2, due_at = ?3 WHERE id = ?1")?
                .execute(params![id, retried, due_at])?
                > 0)
        })
        .await
    }

    /// Attempts are exhausted (or the destination said not to retry): the
    /// message moves to the DLQ. Returns the DLQ entry, or `None` if the message
    /// had already left (e.g. it was cancelled meanwhile).
    pub async fn record_failed(
        &self,
        id: &str,
        retried: u32,
        failed_at: Millis,
        response: FailedResponse,
    ) -> Result<Option<DlqEntry>, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            let Some(mut m) = take(conn, &id)? else {
                return Ok(None);
            };
            m.retried = retried;
            conn.prepare_cached(
                "INSERT INTO dlq (dlq_id, message_id, url, schedule_id, delivery, body, created_at, \
                 not_before, retried, caller_ip, failed_at, response_status, response_headers, \
                 response_body, error) \
                 VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                m.id,
                m.url,
                m.schedule_id,
                to_json(&m.delivery)?,
                m.body,
                m.created_at,
                m.not_before,
                m.retried,
                m.caller_ip,
                failed_at,
                response.status,
                to_json(&response.headers)?,
                response.body,
                response.error,
            ])?;
            // QStash's DLQ ids look like "<failed ms>-<n>"; the row id makes it unique.
            let dlq_id = format!("{failed_at}-{}", conn.last_insert_rowid());
            conn.prepare_cached("UPDATE dlq SET dlq_id = ?1 WHERE seq = last_insert_rowid()")?
                .execute([&dlq_id])?;
            if let Some(schedule_id) = &m.schedule_id {
                set_last_state(conn, schedule_id, &m.id, schedule_state::FAIL)?;
            }
            Ok(Some(DlqEntry {
                dlq_id,
                message: m,
                failed_at,
                response,
            }))
        })
        .await
    }

    /// The dead-letter queue, newest first.
    pub async fn dlq_entries(&self) -> Result<Vec<DlqEntry>, StoreError> {
        self.read(|conn| {
            let sql = format!("SELECT {DLQ_COLUMNS} FROM dlq ORDER BY seq DESC");
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([], dlq_entry)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
