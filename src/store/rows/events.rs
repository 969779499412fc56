//! `events`: the log (§6.6, §9.6), one row per state change.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::filter::{Filter, Subject};
use crate::model::{AttemptResponse, LogEntry, LogState, Message, Millis};
use crate::store::codec::{self, to_json};
use crate::store::StoreError;

/// What a state change adds to the bare event.
#[derive(Default)]
pub(in crate::store) struct Details<'a> {
    pub body: bool,
    pub error: Option<&'a str>,
    pub next_delivery_time: Option<Millis>,
    pub response: Option<&'a AttemptResponse>,
}

/// Writes one log row. `delivery` is `m.delivery` already encoded: a state
/// change writes several rows for one message, and encoding once per change
/// instead of once per row is a measurable part of the writer's time.
pub(in crate::store) fn insert(
    conn: &Connection,
    time: Millis,
    m: &Message,
    delivery: &str,
    state: LogState,
    details: Details,
) -> Result<(), StoreError> {
    let response = details.response;
    conn.prepare_cached(
        "INSERT INTO events (time, message_id, state, url, schedule_id, caller_ip, delivery, body, \
         error, next_delivery_time, response_status, response_headers, response_body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        time,
        m.id,
        state.as_str(),
        m.url,
        m.schedule_id,
        m.caller_ip,
        delivery,
        details.body.then_some(&m.body),
        details.error,
        details.next_delivery_time,
        response.and_then(|r| r.status),
        response.map(|r| to_json(&r.headers)).transpose()?,
        response.map(|r| &r.body),
    ])?;
    Ok(())
}

const COLUMNS: &str = "seq, time, message_id, state, url, schedule_id, caller_ip, delivery, body, \
     error, next_delivery_time, response_status, response_headers, response_body";

fn entry(row: &Row) -> rusqlite::Result<LogEntry> {
    let state: String = row.get(3)?;
    let delivery: String = row.get(7)?;
    let headers: Option<String> = row.get(12)?;
    let response = match headers {
        Some(h) => Some(AttemptResponse {
            status: row.get(11)?,
            headers: codec::header_map(12, &h)?,
            body: row.get::<_, Option<Vec<u8>>>(13)?.unwrap_or_default(),
            error: String::new(),
        }),
        None => None,
    };
    Ok(LogEntry {
        seq: row.get(0)?,
        time: row.get(1)?,
        message_id: row.get(2)?,
        state: codec::log_state(3, &state)?,
        url: row.get(4)?,
        schedule_id: row.get(5)?,
        caller_ip: row.get(6)?,
        delivery: codec::from_json(7, &delivery)?,
        body: row.get(8)?,
        error: row.get(9)?,
        next_delivery_time: row.get(10)?,
        response,
    })
}

/// Rows scanned per query while filtering a page.
const SCAN_CHUNK: i64 = 1000;

/// Where a page of the log starts: entries strictly older than this
/// (time, seq) position.
pub type LogCursor = (Millis, i64);

/// A page of the log, newest first by time (then seq): entries older than
/// `before` that match `filter`, at most `count`, and the next page's start.
pub(in crate::store) fn page(
    conn: &Connection,
    filter: &Filter,
    before: Option<LogCursor>,
    count: usize,
) -> Result<(Vec<LogEntry>, Option<LogCursor>), StoreError> {
    let mut page = Vec::with_capacity(count.min(1000));
    let mut cursor = before.unwrap_or((i64::MAX, i64::MAX));
    // Narrow in SQL where an index helps; the rest in `Filter::matches`.
    let by_message = !filter.message_ids.is_empty();
    let sql = if by_message {
        format!(
            "SELECT {COLUMNS} FROM events WHERE (time, seq) < (?1, ?2) AND message_id IN \
             (SELECT value FROM json_each(?4)) ORDER BY time DESC, seq DESC LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM events WHERE (time, seq) < (?1, ?2) \
             ORDER BY time DESC, seq DESC LIMIT ?3"
        )
    };
    let ids = to_json(&filter.message_ids)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    loop {
        let rows: Vec<LogEntry> = if by_message {
            stmt.query_map(params![cursor.0, cursor.1, SCAN_CHUNK, ids], entry)?
                .collect::<Result<_, _>>()?
        } else {
            stmt.query_map(params![cursor.0, cursor.1, SCAN_CHUNK], entry)?
                .collect::<Result<_, _>>()?
        };
        let exhausted = (rows.len() as i64) < SCAN_CHUNK;
        for e in rows {
            cursor = (e.time, e.seq);
            let subject = Subject {
                message_id: &e.message_id,
                dlq_id: None,
                url: &e.url,
                schedule_id: e.schedule_id.as_deref(),
                caller_ip: e.caller_ip.as_deref(),
                delivery: &e.delivery,
                state: Some(e.state),
                response_status: e.response.as_ref().and_then(|r| r.status),
                time: e.time,
            };
            if filter.matches(&subject) {
                if page.len() == count {
                    // One more exists: the next page starts after the last one kept.
                    let next = page.last().map(|l: &LogEntry| (l.time, l.seq));
                    return Ok((page, next));
                }
                page.push(e);
            }
        }
        if exhausted {
            return Ok((page, None));
        }
    }
}

/// The newest state logged for message `id`.
pub(in crate::store) fn last_state(
    conn: &Connection,
    id: &str,
) -> Result<Option<LogState>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT state FROM events WHERE message_id = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(text.and_then(|t| LogState::parse(&t)))
}

/// The newest response logged for message `id`.
pub(in crate::store) fn last_response(
    conn: &Connection,
    id: &str,
) -> Result<Option<AttemptResponse>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT response_status, response_headers, response_body FROM events \
             WHERE message_id = ?1 AND response_headers IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([id], |r| {
            let headers: String = r.get(1)?;
            Ok(AttemptResponse {
                status: r.get(0)?,
                headers: codec::header_map(1, &headers)?,
                body: r.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default(),
                error: String::new(),
            })
        })
        .optional()?)
}

/// How message `id` did, from its log entries: `None` when it has none.
pub(in crate::store) fn outcome_of(
    conn: &Connection,
    id: &str,
) -> Result<Option<crate::model::FiringOutcome>, StoreError> {
    let rows: Vec<(String, Millis, Option<u16>)> = conn
        .prepare_cached(
            "SELECT state, time, response_status FROM events WHERE message_id = ?1 ORDER BY seq",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut out: Option<crate::model::FiringOutcome> = None;
    let mut attempt_started = None;
    for (state, time, status) in rows {
        let Some(state) = LogState::parse(&state) else {
            continue;
        };
        let o = out.get_or_insert(crate::model::FiringOutcome {
            first_attempt_at: None,
            attempts: 0,
            state,
            status: None,
            response_ms: None,
        });
        o.state = state;
        match state {
            LogState::Active => {
                o.attempts += 1;
                o.first_attempt_at.get_or_insert(time);
                attempt_started = Some(time);
            }
            LogState::Delivered | LogState::Error => {
                o.status = status.or(o.status);
                o.response_ms = attempt_started.map(|t| time - t);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The failed attempts of message `id`, oldest first: when each ended and
/// what came back (`client.logs` step errors).
pub(in crate::store) fn errors(
    conn: &Connection,
    id: &str,
) -> Result<Vec<crate::workflow::run_log::StepError>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT time, response_status, response_headers, response_body, error FROM events \
             WHERE message_id = ?1 AND state = ?2 ORDER BY seq",
        )?
        .query_map(params![id, LogState::Error.as_str()], |r| {
            let headers: Option<String> = r.get(2)?;
            Ok(crate::workflow::run_log::StepError {
                time: r.get(0)?,
                response: AttemptResponse {
                    status: r.get(1)?,
                    headers: match headers {
                        Some(h) => codec::header_map(2, &h)?,
                        None => Default::default(),
                    },
                    body: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
                    error: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                },
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The delivery settings message `id` was first logged with.
pub(in crate::store) fn first_delivery(
    conn: &Connection,
    id: &str,
) -> Result<Option<crate::model::Delivery>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT delivery FROM events WHERE message_id = ?1 ORDER BY seq LIMIT 1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    text.map(|t| codec::from_json(0, &t).map_err(StoreError::from))
        .transpose()
}

/// The URL message `id` was first logged with.
pub(in crate::store) fn first_url(
    conn: &Connection,
    id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT url FROM events WHERE message_id = ?1 ORDER BY seq LIMIT 1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}
