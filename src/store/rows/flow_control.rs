//! `flow_control` (§4.11): one row per key.

use crate::store::db::{params, Conn, OptionalExtension, Row};

use crate::model::{FlowControl, FlowSettings, Millis};
use crate::store::StoreError;

const COLUMNS: &str = "key, parallelism, rate, period, paused, pinned_parallelism, \
     pin_parallelism, pinned_rate, pin_rate, pin_period, created_at, updated_at";

fn row(r: &Row) -> crate::store::db::Result<FlowSettings> {
    let period: i64 = r.get(3)?;
    let pinned_parallelism: bool = r.get(5)?;
    let pinned_rate: bool = r.get(7)?;
    let pin_period: Option<i64> = r.get(9)?;
    Ok(FlowSettings {
        key: r.get(0)?,
        parallelism: r.get(1)?,
        rate: r.get(2)?,
        period: period.max(1) as u64,
        paused: r.get(4)?,
        pinned_parallelism: if pinned_parallelism {
            Some(r.get(6)?)
        } else {
            None
        },
        pinned_rate: if pinned_rate {
            Some((r.get(8)?, pin_period.unwrap_or(period).max(1) as u64))
        } else {
            None
        },
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// Stores the limits a new message brought (§9.5: the latest wins; pins
/// are kept) and returns the key's row.
pub(in crate::store) fn received(
    conn: &Conn,
    fc: &FlowControl,
    now: Millis,
) -> Result<FlowSettings, StoreError> {
    let sql = format!(
        "INSERT INTO flow_control (key, parallelism, rate, period, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (key) DO UPDATE SET parallelism = excluded.parallelism, \
         rate = excluded.rate, period = excluded.period, updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    );
    Ok(conn.prepare_cached(&sql)?.query_row(
        params![fc.key, fc.parallelism, fc.rate, fc.period as i64, now],
        row,
    )?)
}

pub(in crate::store) fn get(conn: &Conn, key: &str) -> Result<Option<FlowSettings>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM flow_control WHERE key = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([key], row)
        .optional()?)
}

/// Every key whose name contains `search` (all when empty), by name.
pub(in crate::store) fn list(conn: &Conn, search: &str) -> Result<Vec<FlowSettings>, StoreError> {
    let contains = conn.pick("instr(key, ?1) > 0", "strpos(key, ?1) > 0");
    let sql =
        format!("SELECT {COLUMNS} FROM flow_control WHERE {contains} OR ?1 = '' ORDER BY key");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([search], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes the operator's settings of `s` (pause and pins).
pub(in crate::store) fn update(conn: &Conn, s: &FlowSettings) -> Result<(), StoreError> {
    let (pinned_rate, pin_rate, pin_period) = match s.pinned_rate {
        Some((rate, period)) => (true, rate, Some(period as i64)),
        None => (false, None, None),
    };
    conn.prepare_cached(
        "UPDATE flow_control SET paused = ?2, pinned_parallelism = ?3, pin_parallelism = ?4, \
         pinned_rate = ?5, pin_rate = ?6, pin_period = ?7, updated_at = ?8 WHERE key = ?1",
    )?
    .execute(params![
        s.key,
        s.paused,
        s.pinned_parallelism.is_some(),
        s.pinned_parallelism.flatten(),
        pinned_rate,
        pin_rate,
        pin_period,
        s.updated_at,
    ])?;
    Ok(())
}
