//! Keeping the log, the DLQ, the deduplication keys and ended workflow runs
//! bounded.
//!
//! Deletion runs as small write jobs (at most `CHUNK` rows each), so a large
//! purge never holds the writer long and the hot path keeps flowing between
//! chunks.

use crate::store::db::params;

use crate::model::Millis;
use crate::store::rows::{dedup, events, firings, log_messages, runs};
use crate::store::{Store, StoreError};

const CHUNK: i64 = 5000;

/// Runs per purge job: each takes its whole run log with it.
const RUN_CHUNK: i64 = 200;

/// Bounds on what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub log_max_age_ms: i64,
    pub log_max_entries: i64,
    pub dlq_max_age_ms: i64,
    pub dlq_max_entries: i64,
}

/// Rows removed by one purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Log rows: an attempt's entries are one row.
    pub events: usize,
    pub dlq: usize,
    pub dedup: usize,
    /// Ended workflow runs, each with its run log.
    pub runs: usize,
    /// Entries of schedules' fire histories, which follow the log's age.
    pub firings: usize,
}

/// Deletes rows of `table` (whose key is `seq`) older than `age` by
/// column `time`, or beyond the newest `max`: at most `CHUNK`. Two
/// statements, each on an index: by age through the time index, by count as
/// a range of `seq`. One query with `OR` scanned the whole table.
fn bounded(
    conn: &crate::store::db::Conn,
    table: &str,
    time: &str,
    now: Millis,
    age: i64,
    max: i64,
) -> Result<usize, StoreError> {
    let by_age = format!(
        "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} WHERE {time} < ?1 LIMIT ?2)"
    );
    let by_count = format!(
        "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} \
         WHERE seq <= (SELECT seq FROM {table} ORDER BY seq DESC LIMIT 1 OFFSET ?1) \
         ORDER BY seq LIMIT ?2)"
    );
    let aged = conn
        .prepare_cached(&by_age)?
        .execute(params![now - age, CHUNK])?;
    let counted = conn
        .prepare_cached(&by_count)?
        .execute(params![max, CHUNK - aged as i64])?;
    Ok(aged + counted)
}

/// Deletes log rows older than `age` by their time (an attempt's end: its
/// entries go together), or beyond the newest `max` entries (counting an
/// attempt row as the two or three entries it lists as; a row that would
/// cross the bound goes whole): at most `CHUNK` rows. Then the settings of
/// the messages left without rows. Both deletes walk an index: the time
/// index by age; by count, the rowid from the row `events::count_cut`
/// finds by a binary search on the running entry count. A row purged by
/// age out of seq order still counts in the newer rows' running count, so
/// the count bound may then keep a few entries fewer than `max`, never more.
fn bounded_log(
    conn: &crate::store::db::Conn,
    now: Millis,
    age: i64,
    max: i64,
) -> Result<usize, StoreError> {
    let mut ids: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM log WHERE seq IN (SELECT seq FROM log WHERE time < ?1 LIMIT ?2) \
             RETURNING message_id",
        )?
        .query_map(params![now - age, CHUNK], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let cut = events::count_cut(conn, max)?;
    if let Some(cut) = cut {
        let counted: Vec<String> = conn
            .prepare_cached(
                "DELETE FROM log WHERE seq IN \
                 (SELECT seq FROM log WHERE seq <= ?1 ORDER BY seq LIMIT ?2) RETURNING message_id",
            )?
            .query_map(params![cut, CHUNK - ids.len() as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.extend(counted);
    }
    let deleted = ids.len();
    ids.sort_unstable();
    ids.dedup();
    log_messages::drop_orphans(conn, &ids)?;
    Ok(deleted)
}

impl Store {
    /// Deletes log entries and DLQ entries beyond their age or count bound,
    /// expired deduplication keys, and workflow runs that ended longer ago
    /// than the log's age bound. A failed run is kept as long as a DLQ entry
    /// may still resume or restart it (the DLQ's age bound).
    pub async fn purge(&self, now: Millis, r: Retention) -> Result<Purged, StoreError> {
        let mut total = Purged::default();
        loop {
            let round = self
                .write(move |tx| {
                    Ok(Purged {
                        events: bounded_log(tx, now, r.log_max_age_ms, r.log_max_entries)?,
                        dlq: bounded(
                            tx,
                            "dlq",
                            "failed_at",
                            now,
                            r.dlq_max_age_ms,
                            r.dlq_max_entries,
                        )?,
                        dedup: dedup::purge(tx, now, CHUNK)?,
                        firings: firings::purge(tx, now - r.log_max_age_ms, CHUNK)?,
                        runs: runs::purge_ended(
                            tx,
                            now - r.log_max_age_ms,
                            now - r.log_max_age_ms.max(r.dlq_max_age_ms),
                            RUN_CHUNK,
                        )?,
                    })
                })
                .await?;
            total.events += round.events;
            total.dlq += round.dlq;
            total.dedup += round.dedup;
            total.runs += round.runs;
            total.firings += round.firings;
            let chunk = CHUNK as usize;
            if round.events < chunk
                && round.dlq < chunk
                && round.dedup < chunk
                && round.runs < RUN_CHUNK as usize
                && round.firings < chunk
            {
                return Ok(total);
            }
        }
    }
}
