//! `schedules` and `fired_slots`.

use std::collections::BTreeMap;

use crate::store::db::{params, Conn, Dialect, OptionalExtension};

use crate::model::{Millis, Schedule};
use crate::store::codec::{self, to_json, SCHEDULE_COLUMNS};
use crate::store::StoreError;

pub(in crate::store) fn get(conn: &Conn, id: &str) -> Result<Option<Schedule>, StoreError> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], codec::schedule)
        .optional()?)
}

/// Every schedule, oldest first.
pub(in crate::store) fn all(conn: &Conn) -> Result<Vec<Schedule>, StoreError> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], codec::schedule)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The first `count` schedules after `after` in the order of [`all`]
/// (`createdAt`, then id): one chunk of a streamed listing.
///
/// `ORDER BY created_at, id` over the whole table has no index of its own;
/// `schedules_listed` is `(paused, created_at, id)`. Each arm of the
/// `UNION ALL` walks one `paused` value of that index from the cursor, and
/// SQLite merges the two ordered arms (`MERGE (UNION ALL)` in the query
/// plan), stopping at the limit: no sort and no scan of what comes later,
/// so every chunk costs the same however far the listing has got.
pub(in crate::store) fn after(
    conn: &Conn,
    after: Option<(Millis, &str)>,
    count: usize,
) -> Result<Vec<Schedule>, StoreError> {
    let arm = |paused: u8| {
        format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules \
             WHERE paused = {paused} AND (created_at, id) > (?1, ?2)"
        )
    };
    let sql = format!(
        "{} UNION ALL {} ORDER BY created_at, id LIMIT ?3",
        arm(0),
        arm(1)
    );
    // Ids are never empty, so `(MIN, '')` sorts before every row.
    let (created, id) = after.unwrap_or((Millis::MIN, ""));
    let mut stmt = conn.prepare_cached(&sql)?;
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![created, id, limit], codec::schedule)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// What an upsert keeps of a replaced row.
pub(in crate::store) struct Kept {
    pub created_at: Millis,
    pub last_fire_at: Option<Millis>,
    pub last_states: BTreeMap<String, String>,
    pub last_error: Option<String>,
}

/// Inserts `s`, or replaces every setting of the row with its id (its
/// creation time and last firing are kept). `delivery` is `s.delivery` as
/// JSON, made by the caller before the write (off the writer thread).
pub(in crate::store) fn upsert(
    conn: &Conn,
    s: &Schedule,
    delivery: &str,
) -> Result<Kept, StoreError> {
    type Row = (Millis, Option<Millis>, String, Option<String>);
    let (created_at, last_fire_at, last_states, last_error): Row = conn
        .prepare_cached(
            "INSERT INTO schedules (id, destination, cron, cron_seconds, delivery, body, \
             misfire, paused, created_at, next_fire_at, last_fire_at, last_states, \
             caller_ip, start_at, end_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, '{}', ?11, ?12, ?13) \
             ON CONFLICT (id) DO UPDATE SET destination = excluded.destination, \
             cron = excluded.cron, cron_seconds = excluded.cron_seconds, \
             delivery = excluded.delivery, body = excluded.body, \
             misfire = excluded.misfire, paused = excluded.paused, \
             next_fire_at = excluded.next_fire_at, caller_ip = excluded.caller_ip, \
             start_at = excluded.start_at, end_at = excluded.end_at \
             RETURNING created_at, last_fire_at, last_states, last_error",
        )?
        .query_row(
            params![
                s.id,
                s.destination,
                s.cron,
                s.cron_seconds,
                delivery,
                s.body,
                s.misfire.as_str(),
                s.paused,
                s.created_at,
                s.next_fire_at,
                s.caller_ip,
                s.start_at,
                s.end_at,
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    Ok(Kept {
        created_at,
        last_fire_at,
        last_states: serde_json::from_str(&last_states)?,
        last_error,
    })
}

/// Deletes the schedule and its slot keys; false if there was none.
pub(in crate::store) fn delete(conn: &Conn, id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("DELETE FROM fired_slots WHERE schedule_id = ?1")?
        .execute([id])?;
    Ok(conn
        .prepare_cached("DELETE FROM schedules WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub(in crate::store) fn set_paused(
    conn: &Conn,
    id: &str,
    paused: bool,
    next: Option<Millis>,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE schedules SET paused = ?2, next_fire_at = ?3 WHERE id = ?1")?
        .execute(params![id, paused, next])?;
    Ok(())
}

/// Calls `f` with `(id, next_fire_at)` of every schedule with a slot to
/// fire. The id is borrowed from the row: a start-up with a million
/// schedules allocates nothing per row here. A plain scan of the table, in
/// page order: the planner would otherwise walk `schedules_listed` and look
/// every row up by rowid, which took three times as long with 1M rows.
///
/// PostgreSQL's client receives a query's rows whole, so there the scan
/// goes in chunks of `ARMED_CHUNK` by id, all in one read-only snapshot:
/// the rows in memory at once stay bounded, and the result is the same.
pub(in crate::store) fn each_armed(
    conn: &Conn,
    f: &mut dyn FnMut(&str, Millis),
) -> Result<(), StoreError> {
    if conn.dialect() == Dialect::Postgres {
        conn.execute_batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let scanned = each_armed_in_chunks(conn, f);
        let end = conn.execute_batch(if scanned.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        });
        return scanned.and(end.map_err(StoreError::from));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, next_fire_at FROM schedules NOT INDEXED \
         WHERE paused = 0 AND next_fire_at IS NOT NULL",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id = r.get_str(0)?;
        f(id, r.get(1)?);
    }
    Ok(())
}

/// `(id, next_fire_at)` of unpaused schedules whose next slot is in
/// `(after, until]` (index `schedules_next`).
pub(in crate::store) fn due_between(
    conn: &Conn,
    after: Millis,
    until: Millis,
) -> Result<Vec<(String, Millis)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, next_fire_at FROM schedules \
         WHERE paused = 0 AND next_fire_at > ?1 AND next_fire_at <= ?2",
    )?;
    let rows = stmt.query_map(params![after, until], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The compare-and-set a firing moves its schedule on with: only from the
/// slot it read (and while unpaused). Plain SQL that SQLite and PostgreSQL
/// both run; on PostgreSQL a second firing of the slot waits for the
/// first's row lock, then finds the row moved and changes nothing.
pub(in crate::store) const MOVE_NEXT: &str =
    "UPDATE schedules SET next_fire_at = ?3 WHERE id = ?1 AND next_fire_at = ?2 AND paused = 0";

/// Moves schedule `id` from slot `from` to `to` (see `MOVE_NEXT`);
/// whether it was still at `from`.
pub(in crate::store) fn move_next(
    conn: &Conn,
    id: &str,
    from: Millis,
    to: Option<Millis>,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(MOVE_NEXT)?
        .execute(params![id, from, to])?
        == 1)
}

/// Rows per query of `each_armed` on PostgreSQL (tests walk several chunks).
const ARMED_CHUNK: i64 = if cfg!(test) { 2 } else { 10_000 };

fn each_armed_in_chunks(conn: &Conn, f: &mut dyn FnMut(&str, Millis)) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, next_fire_at FROM schedules \
         WHERE paused = 0 AND next_fire_at IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2",
    )?;
    // Ids are never empty, so '' comes before every one.
    let mut after = String::new();
    loop {
        let mut rows = stmt.query(params![after, ARMED_CHUNK])?;
        let mut seen = 0;
        while let Some(r) = rows.next()? {
            let id = r.get_str(0)?;
            f(id, r.get(1)?);
            seen += 1;
            after.clear();
            after.push_str(id);
        }
        if seen < ARMED_CHUNK {
            return Ok(());
        }
    }
}

/// Stores what a firing changed: the next slot, the last firing's states
/// and why it created nothing, if it did not.
pub(in crate::store) fn after_fire(conn: &Conn, s: &Schedule) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE schedules SET next_fire_at = ?2, last_fire_at = ?3, last_states = ?4, \
         last_error = ?5 WHERE id = ?1",
    )?
    .execute(params![
        s.id,
        s.next_fire_at,
        s.last_fire_at,
        to_json(&s.last_states)?,
        s.last_error,
    ])?;
    Ok(())
}

/// Records a fired message's final state in its schedule's
/// `lastScheduleStates`, if that message belongs to the last firing.
pub(in crate::store) fn set_last_state(
    conn: &Conn,
    schedule_id: &str,
    message_id: &str,
    state: &str,
) -> Result<(), StoreError> {
    match conn.dialect() {
        Dialect::Sqlite => {
            let path = format!("$.\"{message_id}\"");
            conn.prepare_cached(
                "UPDATE schedules SET last_states = json_set(last_states, ?2, ?3) \
                 WHERE id = ?1 AND json_type(last_states, ?2) IS NOT NULL",
            )?
            .execute(params![schedule_id, path, state])?;
        }
        Dialect::Postgres => {
            conn.prepare_cached(
                "UPDATE schedules SET last_states = CAST(jsonb_set(CAST(last_states AS jsonb), \
                 ARRAY[CAST(?2 AS TEXT)], to_jsonb(CAST(?3 AS TEXT))) AS TEXT) \
                 WHERE id = ?1 AND (CAST(last_states AS jsonb) -> CAST(?2 AS TEXT)) IS NOT NULL",
            )?
            .execute(params![schedule_id, message_id, state])?;
        }
    }
    Ok(())
}

/// Claims slot `slot` of schedule `id` for `message_id`; false when the
/// slot has fired already (the key that makes a slot fire once).
pub(in crate::store) fn claim_slot(
    conn: &Conn,
    id: &str,
    slot: Millis,
    message_id: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO fired_slots (schedule_id, slot_at, message_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![id, slot, message_id])?
        == 1)
}

/// Forgets slot keys before `before`: `next_fire_at` only moves forward, so
/// they can never be claimed again.
pub(in crate::store) fn prune_slots(
    conn: &Conn,
    id: &str,
    before: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM fired_slots WHERE schedule_id = ?1 AND slot_at < ?2")?
        .execute(params![id, before])?;
    Ok(())
}
