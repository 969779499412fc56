//! What the console reads beyond the QStash API, and "run now": counts, a
//! paged and searchable schedule list, the next firings, a schedule's fire
//! history, and the log as a histogram. Each read is bounded: a page, a
//! count, or an indexed range; nothing loads a whole table.

use crate::store::db::{params, Conn};

use crate::model::{Firing, FiringKind, Message, Millis, Schedule, ScheduleState};
use crate::store::codec::{self, SCHEDULE_COLUMNS};
use crate::store::rows::{events, firings, schedules};
use crate::store::{steps, Store, StoreError};

/// Counts for the overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub active_schedules: i64,
    pub paused_schedules: i64,
    /// Past their end (`Schedule::state`): kept, never fired again.
    pub ended_schedules: i64,
    pub pending_messages: i64,
    pub dlq: i64,
    /// `(run state, runs)`.
    pub runs: Vec<(String, i64)>,
}

/// Outcomes per time bucket: `(bucket start, delivered, failed attempts)`.
pub type Activity = Vec<(Millis, i64, i64)>;

/// A schedule as the next firings list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextFiring {
    pub schedule_id: String,
    pub destination: String,
    pub at: Millis,
}

/// Where a page of schedules ended: the last one's creation time and id.
pub type ScheduleCursor = (Millis, String);

/// `(bucket start, state, count)` rows of a log histogram.
pub type Histogram = Vec<(Millis, String, i64)>;

fn count(conn: &Conn, sql: &str) -> Result<i64, StoreError> {
    Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
}

/// The SQL condition for schedules in `state` at `?1`, the time (the same
/// rule as `Schedule::state`). Every condition reads `?1`, so a statement
/// built on one always takes the time: PostgreSQL types each parameter from
/// the statement, and the active state, which does not depend on the time,
/// reads it in a check that always holds.
fn state_sql(state: ScheduleState) -> &'static str {
    match state {
        ScheduleState::Active => {
            "(CAST(?1 AS BIGINT) IS NOT NULL AND paused = 0 AND next_fire_at IS NOT NULL)"
        }
        ScheduleState::Paused => "(paused = 1 AND (end_at IS NULL OR end_at >= ?1))",
        ScheduleState::Ended => {
            "((paused = 0 AND next_fire_at IS NULL) OR (paused = 1 AND end_at < ?1))"
        }
    }
}

fn count_in(conn: &Conn, state: ScheduleState, now: Millis) -> Result<i64, StoreError> {
    let sql = format!("SELECT count(*) FROM schedules WHERE {}", state_sql(state));
    Ok(conn.prepare_cached(&sql)?.query_row([now], |r| r.get(0))?)
}

/// `%text%` for LIKE, with the wildcards in `text` taken literally.
fn like(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// Starts a run of schedule `id` now, by hand: one message from the
    /// schedule's settings (one per endpoint for a URL group; the first
    /// one's id is returned), due at once, recorded in its fire history as
    /// manual. The schedule's next slot does not move. `None` when there
    /// is no such schedule.
    pub async fn trigger_schedule(
        &self,
        id: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let Some(s) = schedules::get(tx, &id)? else {
                return Ok(None);
            };
            let mut m = Message::new(
                s.destination.clone(),
                s.delivery.clone(),
                s.body.clone(),
                now,
                now,
            )
            .from_caller(s.caller_ip.clone());
            m.schedule_id = Some(s.id.clone());
            let messages = steps::schedule_messages(tx, &s, m)?.map_err(StoreError::NotFound)?;
            let message_id = messages[0].id.clone();
            for m in messages {
                firings::insert(tx, &s.id, None, FiringKind::Manual, Some(&m.id), None, now)?;
                steps::add_message(tx, m)?;
            }
            Ok(Some(message_id))
        })
        .await
    }

    /// A page of schedule `id`'s fire history, newest first, each entry with
    /// how its message did (while the log keeps its entries).
    pub async fn schedule_history(
        &self,
        id: &str,
        before: Option<i64>,
        count: usize,
    ) -> Result<(Vec<Firing>, Option<i64>), StoreError> {
        let id = id.to_owned();
        self.read_api(move |conn| {
            let (mut page, next) = firings::page(conn, &id, before, count)?;
            for f in &mut page {
                if let Some(message_id) = &f.message_id {
                    f.outcome = events::outcome_of(conn, message_id)?;
                }
            }
            Ok((page, next))
        })
        .await
    }

    /// Schedules by state at `now`, pending messages, the DLQ and runs by state.
    pub async fn counts(&self, now: Millis) -> Result<Counts, StoreError> {
        self.read_api(move |conn| {
            let runs = conn
                .prepare_cached("SELECT state, count(*) FROM workflow_runs GROUP BY state")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(Counts {
                active_schedules: count_in(conn, ScheduleState::Active, now)?,
                paused_schedules: count_in(conn, ScheduleState::Paused, now)?,
                ended_schedules: count_in(conn, ScheduleState::Ended, now)?,
                pending_messages: count(conn, "SELECT count(*) FROM messages")?,
                dlq: count(conn, "SELECT count(*) FROM dlq")?,
                runs,
            })
        })
        .await
    }

    /// Deliveries and failed attempts per `bucket` ms from `from` to `to`.
    pub async fn activity(
        &self,
        from: Millis,
        to: Millis,
        bucket: Millis,
    ) -> Result<Activity, StoreError> {
        self.read_api(move |conn| {
            let rows = conn
                .prepare_cached(
                    // An attempt row that failed is one ERROR entry; a
                    // version-9 row may be an ERROR of its own.
                    "SELECT ?1 + ((time - ?1) / ?3) * ?3 AS b, \
                     sum(CASE WHEN state = 'DELIVERED' THEN 1 ELSE 0 END), \
                     sum(CASE WHEN state = 'ERROR' OR started_at IS NOT NULL \
                     AND state IN ('RETRY', 'FAILED') THEN 1 ELSE 0 END) \
                     FROM log WHERE time >= ?1 AND time < ?2 \
                     AND (state IN ('DELIVERED', 'ERROR') \
                          OR started_at IS NOT NULL AND state IN ('RETRY', 'FAILED')) \
                     GROUP BY b ORDER BY b",
                )?
                .query_map(params![from, to, bucket.max(1)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The next `count` firings across all schedules, soonest first.
    pub async fn next_firings(&self, count: usize) -> Result<Vec<NextFiring>, StoreError> {
        self.read_api(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT id, destination, next_fire_at FROM schedules \
                     WHERE paused = 0 AND next_fire_at IS NOT NULL \
                     ORDER BY next_fire_at LIMIT ?1",
                )?
                .query_map([count as i64], |r| {
                    Ok(NextFiring {
                        schedule_id: r.get(0)?,
                        destination: r.get(1)?,
                        at: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// A page of schedules, oldest first: those in `state` at `now`, those
    /// whose id, destination or settings (labels) contain `search` when
    /// given, after `after`, at most `count`, and the next page's cursor.
    pub async fn schedules_page(
        &self,
        state: ScheduleState,
        now: Millis,
        search: Option<String>,
        after: Option<ScheduleCursor>,
        count: usize,
    ) -> Result<(Vec<Schedule>, Option<ScheduleCursor>), StoreError> {
        self.read_api(move |conn| {
            let state = state_sql(state);
            // SQLite's LIKE folds ASCII case; PostgreSQL's ILIKE does the
            // same on these "C"-collated columns.
            let matches = conn.pick("LIKE", "ILIKE");
            let sql = format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {state} \
                 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)) \
                 AND (CAST(?4 AS TEXT) IS NULL OR id {matches} ?4 ESCAPE '\\' \
                      OR destination {matches} ?4 ESCAPE '\\' OR delivery {matches} ?4 ESCAPE '\\') \
                 ORDER BY created_at, id LIMIT ?5"
            );
            let (created, id) = after.unwrap_or((Millis::MIN, String::new()));
            let pattern = search.as_deref().map(like);
            let mut page: Vec<Schedule> = conn
                .prepare_cached(&sql)?
                .query_map(
                    params![now, created, id, pattern, count as i64 + 1],
                    codec::schedule,
                )?
                .collect::<Result<_, _>>()?;
            let next = (page.len() > count).then(|| {
                page.truncate(count);
                page.last()
                    .map(|s| (s.created_at, s.id.clone()))
                    .unwrap_or_default()
            });
            Ok((page, next))
        })
        .await
    }

    /// Log entries per `bucket` ms and state from `from` to `to`, of
    /// schedule `schedule_id` only when given. An attempt row counts as its
    /// entries: ACTIVE at its start, the others at its end.
    pub async fn log_histogram(
        &self,
        from: Millis,
        to: Millis,
        bucket: Millis,
        schedule_id: Option<String>,
    ) -> Result<Histogram, StoreError> {
        self.read_api(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT b, state, sum(n) FROM ( \
                     SELECT ?1 + ((time - ?1) / ?3) * ?3 AS b, state, count(*) AS n FROM log \
                     WHERE time >= ?1 AND time < ?2 AND (CAST(?4 AS TEXT) IS NULL OR message_id IN \
                     (SELECT id FROM log_messages WHERE schedule_id = ?4)) GROUP BY b, state \
                     UNION ALL \
                     SELECT ?1 + ((time - ?1) / ?3) * ?3 AS b, 'ERROR', count(*) FROM log \
                     WHERE time >= ?1 AND time < ?2 AND started_at IS NOT NULL \
                     AND state IN ('RETRY', 'FAILED') AND (CAST(?4 AS TEXT) IS NULL OR message_id IN \
                     (SELECT id FROM log_messages WHERE schedule_id = ?4)) GROUP BY b \
                     UNION ALL \
                     SELECT ?1 + ((started_at - ?1) / ?3) * ?3 AS b, 'ACTIVE', count(*) FROM log \
                     WHERE started_at >= ?1 AND started_at < ?2 AND (CAST(?4 AS TEXT) IS NULL OR message_id IN \
                     (SELECT id FROM log_messages WHERE schedule_id = ?4)) GROUP BY b) AS h \
                     GROUP BY b, state ORDER BY b, state",
                )?
                .query_map(params![from, to, bucket.max(1), schedule_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The database's size on disk, bytes: on SQLite the file and its WAL;
    /// on PostgreSQL what the server reports for the database (0 when it
    /// cannot be asked).
    pub async fn size_on_disk(&self) -> u64 {
        let Some(db) = self.target().sqlite_path() else {
            let size = self
                .read_api(|conn| {
                    let bytes: i64 =
                        conn.query_row("SELECT pg_database_size(current_database())", [], |r| {
                            r.get(0)
                        })?;
                    Ok(bytes)
                })
                .await;
            return size.map_or(0, |b| u64::try_from(b).unwrap_or(0));
        };
        let wal = db.with_extension(format!(
            "{}-wal",
            db.extension().and_then(|e| e.to_str()).unwrap_or("db")
        ));
        [db.to_path_buf(), wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}
