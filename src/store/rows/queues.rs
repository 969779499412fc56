//! `queues` (§4.6): each queue's settings. Its messages are the rows of
//! `messages` with its `queue_name`; `lag` counts them.

use crate::store::db::{params, Conn, OptionalExtension, Row};

use crate::model::{Millis, Queue};
use crate::store::StoreError;

/// The columns `queue_row` reads, with the lag counted from `messages`
/// (through the `messages_queued` index).
const COLUMNS: &str = "q.name, q.parallelism, q.paused, q.created_at, q.updated_at, \
     (SELECT count(*) FROM messages m WHERE m.queue_name = q.name)";

fn queue_row(r: &Row) -> crate::store::db::Result<Queue> {
    Ok(Queue {
        name: r.get(0)?,
        parallelism: r.get(1)?,
        paused: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        lag: r.get(5)?,
    })
}

pub(in crate::store) fn exists(conn: &Conn, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM queues WHERE name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Creates the queue with parallelism 1, not paused, unless it exists.
pub(in crate::store) fn create(conn: &Conn, name: &str, now: Millis) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO queues (name, parallelism, paused, created_at, updated_at) \
         VALUES (?1, 1, 0, ?2, ?2) ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, now])?;
    Ok(())
}

/// Creates the queue or replaces its settings (keeping `created_at`).
pub(in crate::store) fn upsert(
    conn: &Conn,
    name: &str,
    parallelism: u32,
    paused: bool,
    now: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO queues (name, parallelism, paused, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO UPDATE SET \
         parallelism = excluded.parallelism, paused = excluded.paused, \
         updated_at = excluded.updated_at",
    )?
    .execute(params![name, parallelism, paused, now])?;
    Ok(())
}

/// Sets whether the queue is paused; its parallelism, or `None` if there is
/// no such queue.
pub(in crate::store) fn set_paused(
    conn: &Conn,
    name: &str,
    paused: bool,
    now: Millis,
) -> Result<Option<u32>, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE queues SET paused = ?2, \
             updated_at = CASE WHEN paused = ?2 THEN updated_at ELSE ?3 END \
             WHERE name = ?1 RETURNING parallelism",
        )?
        .query_row(params![name, paused, now], |r| r.get(0))
        .optional()?)
}

/// Deletes the queue's row; false if there was none.
pub(in crate::store) fn delete(conn: &Conn, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM queues WHERE name = ?1")?
        .execute([name])?
        > 0)
}

pub(in crate::store) fn get(conn: &Conn, name: &str) -> Result<Option<Queue>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM queues q WHERE q.name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], queue_row)
        .optional()?)
}

/// Every queue, by name.
pub(in crate::store) fn list(conn: &Conn) -> Result<Vec<Queue>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM queues q ORDER BY q.name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], queue_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Every queue's (name, parallelism, paused), for the engine's gate.
pub(in crate::store) fn settings(conn: &Conn) -> Result<Vec<(String, u32, bool)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT name, parallelism, paused FROM queues")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
