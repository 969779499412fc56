//! Keeping the log, the DLQ, the deduplication keys and ended workflow runs
//! bounded.
//!
//! Deletion runs as small write jobs (at most `CHUNK` rows each), so a large
//! purge never holds the writer long and the hot path keeps flowing between
//! chunks.

use rusqlite::params;

use super::{Store, StoreError};
use crate::model::Millis;

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
    pub events: usize,
    pub dlq: usize,
    pub dedup: usize,
    /// Ended workflow runs, each with its run log.
    pub runs: usize,
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
                .write(move |conn| {
                    // Two statements, each on an index: by age through the
                    // time index, by count as a range of `seq`. One query
                    // with `OR` scanned the whole table on every purge.
                    let bounded = |table: &str, time: &str, age: i64, max: i64| {
                        let by_age = format!(
                            "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} \
                             WHERE {time} < ?1 LIMIT ?2)"
                        );
                        let by_count = format!(
                            "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} \
                             WHERE seq <= (SELECT seq FROM {table} ORDER BY seq DESC \
                             LIMIT 1 OFFSET ?1) ORDER BY seq LIMIT ?2)"
                        );
                        let aged = conn
                            .prepare_cached(&by_age)?
                            .execute(params![now - age, CHUNK])?;
                        let counted = conn
                            .prepare_cached(&by_count)?
                            .execute(params![max, CHUNK - aged as i64])?;
                        Ok::<_, rusqlite::Error>(aged + counted)
                    };
                    Ok(Purged {
                        events: bounded("events", "time", r.log_max_age_ms, r.log_max_entries)?,
                        dlq: bounded("dlq", "failed_at", r.dlq_max_age_ms, r.dlq_max_entries)?,
                        dedup: conn
                            .prepare_cached(
                                "DELETE FROM dedup WHERE key IN \
                                 (SELECT key FROM dedup WHERE expires_at <= ?1 LIMIT ?2)",
                            )?
                            .execute(params![now, CHUNK])?,
                        runs: purge_ended_runs(
                            conn,
                            now - r.log_max_age_ms,
                            now - r.log_max_age_ms.max(r.dlq_max_age_ms),
                        )?,
                    })
                })
                .await?;
            total.events += round.events;
            total.dlq += round.dlq;
            total.dedup += round.dedup;
            total.runs += round.runs;
            let chunk = CHUNK as usize;
            if round.events < chunk
                && round.dlq < chunk
                && round.dedup < chunk
                && round.runs < RUN_CHUNK as usize
            {
                return Ok(total);
            }
        }
    }
}

/// Deletes up to `RUN_CHUNK` runs that succeeded or were cancelled before
/// `ended_before`, or failed before `failed_before`, with their run logs.
fn purge_ended_runs(
    conn: &rusqlite::Connection,
    ended_before: Millis,
    failed_before: Millis,
) -> Result<usize, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM workflow_runs WHERE run_id IN (SELECT run_id FROM workflow_runs \
             WHERE ended_at IS NOT NULL AND ((state != 'RUN_FAILED' AND ended_at < ?1) \
             OR ended_at < ?2) LIMIT ?3) RETURNING run_id",
        )?
        .query_map(params![ended_before, failed_before, RUN_CHUNK], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    let mut steps = conn.prepare_cached("DELETE FROM workflow_steps WHERE run_id = ?1")?;
    for id in &ids {
        steps.execute([id])?;
    }
    Ok(ids.len())
}
