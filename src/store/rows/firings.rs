//! `schedule_firings`: a schedule's fire history.

use crate::store::db::{params, Conn, Row};

use crate::model::{Firing, FiringKind, Millis};
use crate::store::StoreError;

/// Appends one entry.
pub(in crate::store) fn insert(
    conn: &Conn,
    schedule_id: &str,
    slot_at: Option<Millis>,
    kind: FiringKind,
    message_id: Option<&str>,
    reason: Option<&str>,
    fired_at: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO schedule_firings (schedule_id, slot_at, kind, message_id, reason, fired_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        schedule_id,
        slot_at,
        kind.as_str(),
        message_id,
        reason,
        fired_at
    ])?;
    Ok(())
}

fn firing(row: &Row) -> crate::store::db::Result<Firing> {
    let kind: String = row.get(3)?;
    Ok(Firing {
        seq: row.get(0)?,
        schedule_id: row.get(1)?,
        slot_at: row.get(2)?,
        kind: FiringKind::parse(&kind).unwrap_or(FiringKind::Slot),
        message_id: row.get(4)?,
        reason: row.get(5)?,
        fired_at: row.get(6)?,
        outcome: None,
    })
}

/// The newest entries of `schedule_id` before `before` (a `seq`), at most
/// `count`, and the next page's `before`.
pub(in crate::store) fn page(
    conn: &Conn,
    schedule_id: &str,
    before: Option<i64>,
    count: usize,
) -> Result<(Vec<Firing>, Option<i64>), StoreError> {
    let mut rows: Vec<Firing> = conn
        .prepare_cached(
            "SELECT seq, schedule_id, slot_at, kind, message_id, reason, fired_at \
             FROM schedule_firings WHERE schedule_id = ?1 AND seq < ?2 \
             ORDER BY seq DESC LIMIT ?3",
        )?
        .query_map(
            params![schedule_id, before.unwrap_or(i64::MAX), count as i64 + 1],
            firing,
        )?
        .collect::<Result<_, _>>()?;
    let next = (rows.len() > count).then(|| {
        rows.truncate(count);
        rows.last().map(|f| f.seq).unwrap_or(0)
    });
    Ok((rows, next))
}

/// Deletes up to `limit` entries fired before `before`.
pub(in crate::store) fn purge(
    conn: &Conn,
    before: Millis,
    limit: i64,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM schedule_firings WHERE seq IN \
             (SELECT seq FROM schedule_firings WHERE fired_at < ?1 LIMIT ?2)",
        )?
        .execute(params![before, limit])?)
}

/// Deletes a schedule's history (the schedule is gone).
pub(in crate::store) fn delete_of(conn: &Conn, schedule_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM schedule_firings WHERE schedule_id = ?1")?
        .execute([schedule_id])?;
    Ok(())
}
