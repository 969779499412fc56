//! `queues` (§4.6).

use rusqlite::{params, Connection, OptionalExtension};

use crate::model::Millis;
use crate::store::StoreError;

pub(in crate::store) fn parallelism(
    conn: &Connection,
    name: &str,
) -> Result<Option<u32>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT parallelism FROM queues WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Creates the queue with parallelism 1 unless it exists.
pub(in crate::store) fn create(
    conn: &Connection,
    name: &str,
    now: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO queues (name, parallelism, paused, created_at, updated_at) \
         VALUES (?1, 1, 0, ?2, ?2) ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, now])?;
    Ok(())
}

pub(in crate::store) fn all(conn: &Connection) -> Result<Vec<(String, u32)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT name, parallelism FROM queues")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
