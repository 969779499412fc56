//! `dlq`: messages that ran out of attempts, with their last response
//! (§4.8, §6.2).

use crate::store::db::{params, Conn, OptionalExtension, Row};

use crate::filter::{Filter, Subject};
use crate::model::{AttemptResponse, DlqEntry, Message, Millis};
use crate::store::codec::{self, to_json};
use crate::store::StoreError;

const COLUMNS: &str = "seq, dlq_id, message_id, url, schedule_id, delivery, body, created_at, \
     not_before, retried, caller_ip, failed_at, response_status, response_headers, \
     response_body, error";

fn entry(row: &Row) -> crate::store::db::Result<DlqEntry> {
    let delivery: String = row.get(5)?;
    let headers: String = row.get(13)?;
    Ok(DlqEntry {
        seq: row.get(0)?,
        dlq_id: row.get(1)?,
        message: Message {
            id: row.get(2)?,
            url: row.get(3)?,
            schedule_id: row.get(4)?,
            slot_at: None,
            delivery: codec::from_json(5, &delivery)?,
            body: row.get(6)?,
            created_at: row.get(7)?,
            not_before: row.get(8)?,
            due_at: row.get(8)?,
            retried: row.get(9)?,
            caller_ip: row.get(10)?,
        },
        failed_at: row.get(11)?,
        response: AttemptResponse {
            status: row.get(12)?,
            headers: codec::header_map(13, &headers)?,
            body: row.get(14)?,
            error: row.get(15)?,
        },
    })
}

fn subject(e: &DlqEntry) -> Subject<'_> {
    Subject {
        message_id: &e.message.id,
        dlq_id: Some(&e.dlq_id),
        url: &e.message.url,
        schedule_id: e.message.schedule_id.as_deref(),
        caller_ip: e.message.caller_ip.as_deref(),
        delivery: &e.message.delivery,
        state: None,
        response_status: e.response.status,
        time: e.failed_at,
    }
}

/// Moves a failed message into the DLQ; its id is QStash-like
/// `"<failed ms>-<n>"`, unique through the row id.
pub(in crate::store) fn insert(
    conn: &Conn,
    m: &Message,
    failed_at: Millis,
    response: &AttemptResponse,
) -> Result<DlqEntry, StoreError> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO dlq (dlq_id, message_id, url, schedule_id, delivery, body, created_at, \
         not_before, retried, caller_ip, failed_at, response_status, response_headers, \
         response_body, error) \
         VALUES ('', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING seq",
        )?
        .query_row(
            params![
                m.id,
                m.url,
                m.schedule_id,
                to_json(&m.delivery)?,
                m.body,
                m.created_at,
                m.not_before,
                m.retried,
                m.caller_ip,
                failed_at,
                response.status,
                to_json(&response.headers)?,
                response.body,
                response.error,
            ],
            |r| r.get(0),
        )?;
    let dlq_id = format!("{failed_at}-{seq}");
    conn.prepare_cached("UPDATE dlq SET dlq_id = ?1 WHERE seq = ?2")?
        .execute(params![dlq_id, seq])?;
    Ok(DlqEntry {
        dlq_id,
        seq,
        message: m.clone(),
        failed_at,
        response: response.clone(),
    })
}

/// Newest-first entries with `seq < before` matching `filter`; at most
/// `count`, plus the next page's `before` when there is more.
pub(in crate::store) fn page(
    conn: &Conn,
    filter: &Filter,
    before: Option<i64>,
    count: usize,
) -> Result<(Vec<DlqEntry>, Option<i64>), StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dlq WHERE seq < ?1 ORDER BY seq DESC LIMIT 1000");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut cursor = before.unwrap_or(i64::MAX);
    let mut found = Vec::new();
    loop {
        let rows: Vec<DlqEntry> = stmt.query_map([cursor], entry)?.collect::<Result<_, _>>()?;
        let exhausted = rows.len() < 1000;
        for e in rows {
            cursor = e.seq;
            if filter.matches(&subject(&e)) {
                if found.len() == count {
                    let next = found.last().map(|l: &DlqEntry| l.seq);
                    return Ok((found, next));
                }
                found.push(e);
            }
        }
        if exhausted {
            return Ok((found, None));
        }
    }
}

pub(in crate::store) fn get(conn: &Conn, dlq_id: &str) -> Result<Option<DlqEntry>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dlq WHERE dlq_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([dlq_id], entry)
        .optional()?)
}

/// The newest entry of a failed step of workflow run `run_id` (the step
/// that failed the run), if it is still in the DLQ.
pub(in crate::store) fn failed_step_of_run(
    conn: &Conn,
    run_id: &str,
) -> Result<Option<DlqEntry>, StoreError> {
    // PostgreSQL: the expression of the `dlq_workflow_run` index.
    let run = conn.pick(
        "json_extract(delivery, '$.workflow.runId')",
        "((delivery::jsonb) #>> '{workflow,runId}')",
    );
    let sql = format!("SELECT {COLUMNS} FROM dlq WHERE {run} = ?1 ORDER BY seq DESC");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([run_id], entry)?;
    for e in rows {
        let e = e?;
        if e.message.failing_step().is_some() {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

pub(in crate::store) fn remove(conn: &Conn, dlq_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM dlq WHERE dlq_id = ?1")?
        .execute([dlq_id])?
        > 0)
}
