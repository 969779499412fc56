//! `messages`: work still to do.

use crate::store::db::{params, Conn, OptionalExtension, Row};

use crate::model::{Message, Millis};
use crate::store::codec::{self, MESSAGE_COLUMNS};
use crate::store::StoreError;

/// A pending message as the timer needs it: no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: String,
    pub url: String,
    pub due_at: Millis,
    pub queue: Option<String>,
    /// Its flow-control key, if it names one (§4.11): dispatch needs it
    /// before the attempt, so it comes with the row rather than a second
    /// read of the message.
    pub flow: Option<String>,
}

fn pending_row(r: &Row) -> crate::store::db::Result<Pending> {
    Ok(Pending {
        id: r.get(0)?,
        url: r.get(1)?,
        due_at: r.get(2)?,
        queue: r.get(3)?,
        flow: r.get(4)?,
    })
}

/// `delivery` is `m.delivery` already encoded (the caller logs it too).
pub(in crate::store) fn insert(conn: &Conn, m: &Message, delivery: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO messages (id, url, schedule_id, slot_at, delivery, body, created_at, \
         not_before, due_at, retried, caller_ip, queue_name) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
        m.delivery.queue_name,
    ])?;
    Ok(())
}

pub(in crate::store) fn get(conn: &Conn, id: &str) -> Result<Option<Message>, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], codec::message)
        .optional()?)
}

/// Removes a pending message; false if it was gone already (cancelled).
pub(in crate::store) fn remove(conn: &Conn, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?
        == 1)
}

/// Removes a pending message; returns it if it was still there.
pub(in crate::store) fn take(conn: &Conn, id: &str) -> Result<Option<Message>, StoreError> {
    let sql = format!("DELETE FROM messages WHERE id = ?1 RETURNING {MESSAGE_COLUMNS}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], codec::message)
        .optional()?)
}

/// Stores a failed attempt's count and the next due time; false if the
/// message was gone (cancelled meanwhile).
pub(in crate::store) fn set_retry(
    conn: &Conn,
    id: &str,
    retried: u32,
    due_at: Millis,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE messages SET retried = ?2, due_at = ?3 WHERE id = ?1")?
        .execute(params![id, retried, due_at])?
        == 1)
}

/// Up to `count` pending messages without their bodies, in publish order
/// (rowid), with rowid in `(after, until]`, each with its rowid: one chunk
/// of what a bulk cancel looks through (bodies are not needed to match).
pub(in crate::store) fn chunk_without_bodies(
    conn: &Conn,
    after: i64,
    until: i64,
    count: usize,
) -> Result<Vec<(i64, Message)>, StoreError> {
    let sql = format!(
        "SELECT {}, rowid FROM messages WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid LIMIT ?3",
        MESSAGE_COLUMNS.replace("body", conn.pick("x'' AS body", "''::bytea AS body"))
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![after, until, limit], |r| {
        Ok((r.get("rowid")?, codec::message(r)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The rowid of the newest pending message (0 when there is none): where a
/// bulk cancel's scan ends, so messages published after it began are not
/// looked at.
pub(in crate::store) fn last_rowid(conn: &Conn) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(rowid), 0) FROM messages")?
        .query_row([], |r| r.get(0))?)
}

/// The pending messages of workflow run `run_id`.
pub(in crate::store) fn of_run(conn: &Conn, run_id: &str) -> Result<Vec<Message>, StoreError> {
    // PostgreSQL: the expression of the `messages_workflow_run` index.
    let run = conn.pick(
        "json_extract(delivery, '$.workflow.runId')",
        "((delivery::jsonb) #>> '{workflow,runId}')",
    );
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {run} = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([run_id], codec::message)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Unqueued messages due in `(after, until]`, by due time.
pub(in crate::store) fn due_between(
    conn: &Conn,
    after: Millis,
    until: Millis,
) -> Result<Vec<Pending>, StoreError> {
    let mut stmt = conn.prepare_cached(conn.pick(
        "SELECT id, url, due_at, queue_name, json_extract(delivery, '$.flowControl.key') \
         FROM messages \
         WHERE queue_name IS NULL AND due_at > ?1 AND due_at <= ?2 ORDER BY due_at",
        "SELECT id, url, due_at, queue_name, (delivery::jsonb) #>> '{flowControl,key}' \
         FROM messages \
         WHERE queue_name IS NULL AND due_at > ?1 AND due_at <= ?2 ORDER BY due_at",
    ))?;
    let rows = stmt.query_map(params![after, until], pending_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The earliest due time of an unqueued message due after `after`.
pub(in crate::store) fn first_due_after(
    conn: &Conn,
    after: Millis,
) -> Result<Option<Millis>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT min(due_at) FROM messages WHERE queue_name IS NULL AND due_at > ?1",
        )?
        .query_row([after], |r| r.get(0))?)
}

/// Every queued message, in enqueue order (a queue's order is its rowid order).
pub(in crate::store) fn queued(conn: &Conn) -> Result<Vec<Pending>, StoreError> {
    let mut stmt = conn.prepare_cached(conn.pick(
        "SELECT id, url, due_at, queue_name, json_extract(delivery, '$.flowControl.key') \
         FROM messages \
         WHERE queue_name IS NOT NULL ORDER BY rowid",
        "SELECT id, url, due_at, queue_name, (delivery::jsonb) #>> '{flowControl,key}' \
         FROM messages \
         WHERE queue_name IS NOT NULL ORDER BY rowid",
    ))?;
    let rows = stmt.query_map([], pending_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The ids of queue `name`'s messages, in enqueue order.
pub(in crate::store) fn ids_in_queue(conn: &Conn, name: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM messages WHERE queue_name = ?1 ORDER BY rowid")?;
    let rows = stmt.query_map([name], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
