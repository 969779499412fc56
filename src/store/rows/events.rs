//! `log`: the log (§6.6, §9.6). An attempt is one row; every other state
//! change is one row; a message's settings are in `log_messages`.
//!
//! An attempt row stands for two or three entries: ACTIVE at its start,
//! then DELIVERED, or ERROR and RETRY / FAILED, at its end. The listing
//! reads rows by their time and attempts' ACTIVE entries by their start
//! (two indexes, merged), so every entry sits at its own time, as when each
//! had its own row. An entry's position (`LogEntry::seq`, the cursor's
//! second half) is `4 × row seq + k`, `k` counting the row's entries in
//! state order (ACTIVE 0, DELIVERED / ERROR 1, RETRY / FAILED 2): entries
//! at one time list newest row first, a row's own in reverse state order,
//! which is the order the per-state rows had.

use std::rc::Rc;

use crate::store::db::{params, Conn, OptionalExtension, Row};

use super::log_messages::{Cache, Settings};
use crate::filter::{Filter, Subject};
use crate::model::{Attempt, AttemptResponse, LogEntry, LogState, Millis};
use crate::store::codec::{self, to_json};
use crate::store::StoreError;

/// Entries per row, at most: the position's multiplier.
const SLOTS: i64 = 4;

/// The entries logged so far: the newest row's running count (a lookup of
/// the last rowid).
const TOTAL: &str = "coalesce((SELECT total FROM log ORDER BY seq DESC LIMIT 1), 0)";

/// What a single state change adds to the bare entry.
#[derive(Default)]
pub(in crate::store) struct Details<'a> {
    pub error: Option<&'a str>,
    pub next_delivery_time: Option<Millis>,
}

/// Writes the row of one state change that is not an attempt (CREATED,
/// CANCEL_REQUESTED, CANCELED).
pub(in crate::store) fn insert(
    conn: &Conn,
    time: Millis,
    message_id: &str,
    state: LogState,
    details: Details,
) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO log (message_id, state, time, error, next_delivery_time, total) \
         VALUES (?1, ?2, ?3, ?4, ?5, {TOTAL} + 1)"
    ))?
    .execute(params![
        message_id,
        state.as_str(),
        time,
        details.error,
        details.next_delivery_time,
    ])?;
    Ok(())
}

/// How an attempt ended, as its row records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum AttemptEnd {
    Delivered,
    Retry { due_at: Millis },
    Failed,
}

/// Writes the one row of an attempt of message `message_id`.
pub(in crate::store) fn insert_attempt(
    conn: &Conn,
    message_id: &str,
    attempt: &Attempt,
    end: AttemptEnd,
) -> Result<(), StoreError> {
    let r = &attempt.response;
    let (state, error, next) = match end {
        AttemptEnd::Delivered => (LogState::Delivered, None, None),
        AttemptEnd::Retry { due_at } => (LogState::Retry, Some(&r.error), Some(due_at)),
        AttemptEnd::Failed => (LogState::Failed, Some(&r.error), None),
    };
    let entries = if end == AttemptEnd::Delivered { 2 } else { 3 };
    conn.prepare_cached(&format!(
        "INSERT INTO log (message_id, state, time, started_at, error, next_delivery_time, \
         response_status, response_headers, response_body, total) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, {TOTAL} + ?10)"
    ))?
    .execute(params![
        message_id,
        state.as_str(),
        attempt.ended_at,
        attempt.started_at,
        error,
        next,
        r.status,
        to_json(&r.headers)?,
        r.body,
        entries,
    ])?;
    Ok(())
}

/// The newest of the rows that must go for only the newest `max` entries
/// to stay: every row at or before it goes, also a row that would cross the
/// bound (an attempt goes whole). `None` when nothing needs to go. Each
/// row's running count grows with seq, so this is a binary search on the
/// rowid, a few dozen lookups whatever the log's size.
pub(in crate::store) fn count_cut(conn: &Conn, max: i64) -> Result<Option<i64>, StoreError> {
    let newest: Option<(i64, i64)> = conn
        .prepare_cached("SELECT seq, total FROM log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((last_seq, newest_total)) = newest else {
        return Ok(None);
    };
    // A row goes when its first entry is not among the newest `max`: when
    // the count before it is below `keep_from`.
    let keep_from = newest_total - max.max(0);
    let mut at_or_after = conn.prepare_cached(
        "SELECT seq, total - CASE WHEN started_at IS NULL THEN 1 \
         WHEN state = 'DELIVERED' THEN 2 ELSE 3 END \
         FROM log WHERE seq >= ?1 ORDER BY seq LIMIT 1",
    )?;
    let mut probe = |s: i64| -> Result<Option<(i64, i64)>, StoreError> {
        Ok(at_or_after
            .query_row([s], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    };
    let Some((first_seq, first_before)) = probe(i64::MIN)? else {
        return Ok(None);
    };
    if first_before >= keep_from {
        return Ok(None);
    }
    // `lo` is a row that goes; rows from `hi` on stay.
    let (mut lo, mut hi) = (first_seq, last_seq + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match probe(mid)? {
            Some((s, before)) if s < hi && before < keep_from => lo = s,
            _ => hi = mid,
        }
    }
    Ok(Some(lo))
}

/// One stored row.
struct LogRow {
    seq: i64,
    message_id: String,
    state: LogState,
    time: Millis,
    started_at: Option<Millis>,
    error: Option<String>,
    next_delivery_time: Option<Millis>,
    response: Option<AttemptResponse>,
    /// Settings of a converted version-9 row that differ from its message's.
    delivery: Option<crate::model::Delivery>,
}

const ROW_COLUMNS: &str = "seq, message_id, state, time, started_at, error, next_delivery_time, \
     response_status, response_headers, response_body, delivery";

/// Reads `response_status, response_headers, response_body` starting at
/// column `at`: `None` when the row holds no response.
fn response_at(row: &Row, at: usize) -> crate::store::db::Result<Option<AttemptResponse>> {
    let Some(headers) = row.get::<_, Option<String>>(at + 1)? else {
        return Ok(None);
    };
    Ok(Some(AttemptResponse {
        status: row.get(at)?,
        headers: codec::header_map(at + 1, &headers)?,
        body: row.get::<_, Option<Vec<u8>>>(at + 2)?.unwrap_or_default(),
        error: String::new(),
    }))
}

/// Reads `ROW_COLUMNS` starting at column `at`.
fn log_row(row: &Row, at: usize) -> crate::store::db::Result<LogRow> {
    let state: String = row.get(at + 2)?;
    let response = response_at(row, at + 7)?;
    let delivery: Option<String> = row.get(at + 10)?;
    Ok(LogRow {
        seq: row.get(at)?,
        message_id: row.get(at + 1)?,
        state: codec::log_state(at + 2, &state)?,
        time: row.get(at + 3)?,
        started_at: row.get(at + 4)?,
        error: row.get(at + 5)?,
        next_delivery_time: row.get(at + 6)?,
        response,
        delivery: delivery
            .map(|d| codec::from_json(at + 10, &d))
            .transpose()?,
    })
}

/// Which of a row's entries: those at its own time, or an attempt's ACTIVE
/// at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Own,
    Start,
    All,
}

/// One entry of a row before its settings are filled in.
struct Bare {
    k: i64,
    state: LogState,
    time: Millis,
    error: Option<String>,
    next_delivery_time: Option<Millis>,
    response: Option<AttemptResponse>,
}

/// The entries of `row` in `part`, in state order (oldest first).
fn expand(row: &LogRow, part: Part) -> Vec<Bare> {
    let bare = |k, state, time| Bare {
        k,
        state,
        time,
        error: None,
        next_delivery_time: None,
        response: None,
    };
    let Some(started_at) = row.started_at else {
        return vec![Bare {
            error: row.error.clone(),
            next_delivery_time: row.next_delivery_time,
            response: row.response.clone(),
            ..bare(0, row.state, row.time)
        }];
    };
    let mut out = Vec::with_capacity(3);
    if part != Part::Own {
        out.push(bare(0, LogState::Active, started_at));
    }
    if part == Part::Start {
        return out;
    }
    if row.state == LogState::Delivered {
        out.push(Bare {
            response: row.response.clone(),
            ..bare(1, LogState::Delivered, row.time)
        });
        return out;
    }
    out.push(Bare {
        error: Some(row.error.clone().unwrap_or_default()),
        response: row.response.clone(),
        ..bare(1, LogState::Error, row.time)
    });
    out.push(match row.state {
        LogState::Retry => Bare {
            next_delivery_time: row.next_delivery_time,
            ..bare(2, LogState::Retry, row.time)
        },
        state => Bare {
            error: Some(row.error.clone().unwrap_or_default()),
            ..bare(2, state, row.time)
        },
    });
    out
}

/// The states an attempt logs, which show the attempts' settings.
fn attempt_state(state: LogState) -> bool {
    matches!(
        state,
        LogState::Active
            | LogState::Error
            | LogState::Retry
            | LogState::Delivered
            | LogState::Failed
    )
}

/// The settings `row`'s entries show.
fn delivery_of<'a>(row: &'a LogRow, s: &'a Settings) -> &'a crate::model::Delivery {
    row.delivery
        .as_ref()
        .unwrap_or_else(|| s.delivery_for(attempt_state(row.state)))
}

fn entry(row: &LogRow, s: &Settings, b: Bare) -> LogEntry {
    LogEntry {
        seq: row.seq * SLOTS + b.k,
        time: b.time,
        message_id: row.message_id.clone(),
        state: b.state,
        url: s.url.clone(),
        schedule_id: s.schedule_id.clone(),
        caller_ip: s.caller_ip.clone(),
        delivery: delivery_of(row, s).clone(),
        body: (b.state == LogState::Created)
            .then(|| s.body.clone())
            .flatten(),
        error: b.error,
        next_delivery_time: b.next_delivery_time,
        response: b.response,
    }
}

/// Rows scanned per query while filtering a page.
const SCAN_CHUNK: i64 = 1000;

/// Where a page of the log starts: entries strictly older than this
/// (time, position) pair.
pub type LogCursor = (Millis, i64);

/// The listing: rows by their time and attempts by their start, merged,
/// newest first, at or before `(?1, ?2)` (a row position; entries are cut
/// exactly afterwards).
fn listing_sql(conn: &Conn, by_message: bool) -> String {
    let ids = if by_message {
        conn.pick(
            " AND message_id IN (SELECT value FROM json_each(?4))",
            " AND message_id IN (SELECT jsonb_array_elements_text(CAST(?4 AS jsonb)))",
        )
    } else {
        ""
    };
    format!(
        "SELECT time AS t, 0 AS part, {ROW_COLUMNS} FROM log \
         WHERE (time, seq) <= (?1, ?2){ids} \
         UNION ALL \
         SELECT started_at AS t, 1 AS part, {ROW_COLUMNS} FROM log \
         WHERE started_at IS NOT NULL AND (started_at, seq) <= (?1, ?2){ids} \
         ORDER BY t DESC, seq DESC, part ASC LIMIT ?3"
    )
}

/// Bodies (the message's and the responses') a page holds at most, about:
/// a page ends early, with a cursor, once its entries carry this many
/// bytes, so `count=1000` over messages of a megabyte does not build a
/// gigabyte answer. At least one entry is always returned.
pub const PAGE_BYTES: usize = 8 << 20;

/// The body bytes entry `e` holds.
fn entry_bytes(e: &LogEntry) -> usize {
    e.body.as_ref().map_or(0, Vec::len) + e.response.as_ref().map_or(0, |r| r.body.len())
}

/// A page of the log, newest first by time (then position): entries older
/// than `before` that match `filter`, at most `count`, and the next page's
/// start.
pub(in crate::store) fn page(
    conn: &Conn,
    filter: &Filter,
    before: Option<LogCursor>,
    count: usize,
) -> Result<(Vec<LogEntry>, Option<LogCursor>), StoreError> {
    let mut page: Vec<LogEntry> = Vec::with_capacity(count.min(1000));
    // Entries are kept strictly before `cursor`; rows are read from the
    // row holding it.
    let mut cursor = before.unwrap_or((i64::MAX, i64::MAX));
    let by_message = !filter.message_ids.is_empty();
    let ids = to_json(&filter.message_ids)?;
    let mut settings = Cache::default();
    let mut bytes = 0;
    let mut stmt = conn.prepare_cached(&listing_sql(conn, by_message))?;
    loop {
        let row_at = cursor.1.div_euclid(SLOTS);
        let read = |r: &Row| Ok((r.get::<_, i64>(1)? == 1, log_row(r, 2)?));
        let rows: Vec<(bool, LogRow)> = if by_message {
            stmt.query_map(params![cursor.0, row_at, SCAN_CHUNK, ids], read)?
                .collect::<Result<_, _>>()?
        } else {
            stmt.query_map(params![cursor.0, row_at, SCAN_CHUNK], read)?
                .collect::<Result<_, _>>()?
        };
        let exhausted = (rows.len() as i64) < SCAN_CHUNK;
        let mut scanned = cursor;
        for (start, row) in rows {
            let part = if start { Part::Start } else { Part::Own };
            let s: Rc<Settings> = settings.get(conn, &row.message_id)?;
            let delivery = delivery_of(&row, &s);
            for b in expand(&row, part).into_iter().rev() {
                let at = (b.time, row.seq * SLOTS + b.k);
                if at >= cursor {
                    continue;
                }
                scanned = scanned.min(at);
                let subject = Subject {
                    message_id: &row.message_id,
                    dlq_id: None,
                    url: &s.url,
                    schedule_id: s.schedule_id.as_deref(),
                    caller_ip: s.caller_ip.as_deref(),
                    delivery,
                    state: Some(b.state),
                    response_status: b.response.as_ref().and_then(|r| r.status),
                    time: b.time,
                };
                if filter.matches(&subject) {
                    if page.len() == count || bytes >= PAGE_BYTES {
                        // One more exists: the next page starts after the last one kept.
                        let next = page.last().map(|l| (l.time, l.seq));
                        return Ok((page, next));
                    }
                    let e = entry(&row, &s, b);
                    bytes += entry_bytes(&e);
                    page.push(e);
                }
            }
        }
        if exhausted {
            return Ok((page, None));
        }
        cursor = scanned;
    }
}

/// Message `id`'s first `limit` rows (all when negative), oldest first.
fn rows_of(conn: &Conn, id: &str, limit: i64) -> Result<Vec<LogRow>, StoreError> {
    let limit = if limit < 0 { i64::MAX } else { limit };
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM log WHERE message_id = ?1 ORDER BY seq LIMIT ?2"
        ))?
        .query_map(params![id, limit], |r| log_row(r, 0))?
        .collect::<Result<_, _>>()?)
}

/// The newest state logged for message `id`: its last row's (an attempt's
/// last state is its row's).
pub(in crate::store) fn last_state(conn: &Conn, id: &str) -> Result<Option<LogState>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT state FROM log WHERE message_id = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(text.and_then(|t| LogState::parse(&t)))
}

/// The newest response logged for message `id`.
pub(in crate::store) fn last_response(
    conn: &Conn,
    id: &str,
) -> Result<Option<AttemptResponse>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT response_status, response_headers, response_body FROM log \
             WHERE message_id = ?1 AND response_headers IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([id], |r| response_at(r, 0))
        .optional()?
        .flatten())
}

/// How message `id` did, from its log entries: `None` when it has none.
pub(in crate::store) fn outcome_of(
    conn: &Conn,
    id: &str,
) -> Result<Option<crate::model::FiringOutcome>, StoreError> {
    let mut out: Option<crate::model::FiringOutcome> = None;
    let mut attempt_started = None;
    for row in rows_of(conn, id, -1)? {
        for b in expand(&row, Part::All) {
            let o = out.get_or_insert(crate::model::FiringOutcome {
                first_attempt_at: None,
                attempts: 0,
                state: b.state,
                status: None,
                response_ms: None,
            });
            o.state = b.state;
            match b.state {
                LogState::Active => {
                    o.attempts += 1;
                    o.first_attempt_at.get_or_insert(b.time);
                    attempt_started = Some(b.time);
                }
                LogState::Delivered | LogState::Error => {
                    o.status = b.response.and_then(|r| r.status).or(o.status);
                    o.response_ms = attempt_started.map(|t| b.time - t);
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The failed attempts of message `id`, oldest first: when each ended and
/// what came back (`client.logs` step errors).
pub(in crate::store) fn errors(
    conn: &Conn,
    id: &str,
) -> Result<Vec<crate::workflow::run_log::StepError>, StoreError> {
    let mut out = Vec::new();
    for row in rows_of(conn, id, -1)? {
        for b in expand(&row, Part::Own) {
            if b.state != LogState::Error {
                continue;
            }
            let mut response = b.response.unwrap_or_default();
            response.error = b.error.unwrap_or_default();
            out.push(crate::workflow::run_log::StepError {
                time: b.time,
                response,
            });
        }
    }
    Ok(out)
}

/// The delivery settings message `id` was first logged with.
pub(in crate::store) fn first_delivery(
    conn: &Conn,
    id: &str,
) -> Result<Option<crate::model::Delivery>, StoreError> {
    let Some(first) = rows_of(conn, id, 1)?.pop() else {
        return Ok(None);
    };
    let s = super::log_messages::get(conn, id)?.unwrap_or_default();
    Ok(Some(delivery_of(&first, &s).clone()))
}

/// The URL message `id` was logged with.
pub(in crate::store) fn first_url(conn: &Conn, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT url FROM log_messages WHERE id = ?1 \
             AND EXISTS (SELECT 1 FROM log WHERE message_id = ?1)",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?)
}
