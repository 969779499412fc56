//! Keeping the log, the DLQ and the deduplication keys bounded.
//!
//! Deletion runs as small write jobs (at most `CHUNK` rows each), so a large
//! purge never holds the writer long and the hot path keeps flowing between
//! chunks.

use rusqlite::params;

use super::{Store, StoreError};
use crate::model::Millis;

const CHUNK: i64 = 5000;

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
}

impl Store {
    /// Deletes log entries and DLQ entries beyond their age or count bound,
    /// and expired deduplication keys.
    pub async fn purge(&self, now: Millis, r: Retention) -> Result<Purged, StoreError> {
        let mut total = Purged::default();
        loop {
            let round = self
                .write(move |conn| {
                    let bounded = |table: &str, time: &str, age: i64, max: i64| {
                        let sql = format!(
                            "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} \
                             WHERE {time} < ?1 OR seq <= (SELECT seq FROM {table} \
                             ORDER BY seq DESC LIMIT 1 OFFSET ?2) ORDER BY seq LIMIT ?3)"
                        );
                        conn.prepare_cached(&sql)?
                            .execute(params![now - age, max, CHUNK])
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
                    })
                })
                .await?;
            total.events += round.events;
            total.dlq += round.dlq;
            total.dedup += round.dedup;
            let chunk = CHUNK as usize;
            if round.events < chunk && round.dlq < chunk && round.dedup < chunk {
                return Ok(total);
            }
        }
    }
}
