//! The workflow tables (workflow-wire §3): `workflow_runs`, their logs
//! (`workflow_steps`), `workflow_waiters` and `workflow_notices`.

use crate::store::db::{params, Conn, OptionalExtension, Row};

use crate::model::Millis;
use crate::store::codec::{from_json, to_json};
use crate::store::StoreError;
use crate::workflow::run_log::StepEntry;
use crate::workflow::{Run, RunState, Waiter};

const RUN_COLUMNS: &str = "run_id, url, state, created_at, ended_at, config, init_message_id, \
     initial_body, response, caller_ip, failure_message_id, parent";

fn run_row(row: &Row) -> crate::store::db::Result<Run> {
    let state: String = row.get(2)?;
    let config: String = row.get(5)?;
    Ok(Run {
        run_id: row.get(0)?,
        url: row.get(1)?,
        state: RunState::parse(&state).unwrap_or(RunState::Started),
        created_at: row.get(3)?,
        ended_at: row.get(4)?,
        config: from_json(5, &config)?,
        init_message_id: row.get(6)?,
        initial_body: row.get(7)?,
        response: row.get(8)?,
        caller_ip: row.get(9)?,
        failure_message_id: row.get(10)?,
        parent: match row.get::<_, Option<String>>(11)? {
            Some(p) => Some(from_json(11, &p)?),
            None => None,
        },
    })
}

pub(in crate::store) fn get(conn: &Conn, run_id: &str) -> Result<Option<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE run_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([run_id], run_row)
        .optional()?)
}

/// Stores a new, running run.
pub(in crate::store) fn insert(conn: &Conn, run: &Run) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO workflow_runs (run_id, url, state, created_at, config, init_message_id, \
         initial_body, caller_ip, parent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        run.run_id,
        run.url,
        run.state.as_str(),
        run.created_at,
        to_json(&run.config)?,
        run.init_message_id,
        run.initial_body,
        run.caller_ip,
        run.parent.as_ref().map(to_json).transpose()?,
    ])?;
    Ok(())
}

/// Remembers the run's latest failure-function call.
pub(in crate::store) fn set_failure_message(
    conn: &Conn,
    run_id: &str,
    message_id: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE workflow_runs SET failure_message_id = ?2 WHERE run_id = ?1")?
        .execute(params![run_id, message_id])?;
    Ok(())
}

/// Forgets the run's invoking parent (its result has been handed over).
pub(in crate::store) fn clear_parent(conn: &Conn, run_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE workflow_runs SET parent = NULL WHERE run_id = ?1")?
        .execute([run_id])?;
    Ok(())
}

/// Ends the run in `state`, with its waiters and lookback notices.
pub(in crate::store) fn end(
    conn: &Conn,
    run_id: &str,
    state: RunState,
    now: Millis,
    response: Option<&[u8]>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE workflow_runs SET state = ?2, ended_at = ?3, response = ?4 WHERE run_id = ?1",
    )?
    .execute(params![run_id, state.as_str(), now, response])?;
    conn.prepare_cached("DELETE FROM workflow_waiters WHERE run_id = ?1")?
        .execute([run_id])?;
    conn.prepare_cached("DELETE FROM workflow_notices WHERE run_id = ?1")?
        .execute([run_id])?;
    Ok(())
}

/// Makes an ended run running again, with `run.config`.
pub(in crate::store) fn revive(conn: &Conn, run: &Run) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE workflow_runs SET state = ?2, ended_at = NULL, config = ?3 WHERE run_id = ?1",
    )?
    .execute(params![
        run.run_id,
        RunState::Started.as_str(),
        to_json(&run.config)?
    ])?;
    Ok(())
}

/// Every running run, oldest first.
pub(in crate::store) fn running(conn: &Conn) -> Result<Vec<Run>, StoreError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE state = ?1 ORDER BY created_at");
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([RunState::Started.as_str()], run_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Where a page of runs ended: the last run's creation time and id.
pub type RunCursor = (Millis, String);

/// A page of runs, each with its log, and the next page's cursor.
pub type RunPage = (Vec<(Run, Vec<StepEntry>)>, Option<RunCursor>);

/// Runs newest first (ties by id) after `after` that `keep` accepts, at most
/// `count`, each with its log, and the next page's cursor.
pub(in crate::store) fn page(
    conn: &Conn,
    keep: impl Fn(&Run) -> bool,
    after: Option<RunCursor>,
    count: usize,
) -> Result<RunPage, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM workflow_runs \
         WHERE created_at < ?1 OR (created_at = ?1 AND run_id > ?2) \
         ORDER BY created_at DESC, run_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let (created, run_id) = after.unwrap_or((Millis::MAX, String::new()));
    let rows = stmt.query_map(params![created, run_id], run_row)?;
    let mut found = Vec::new();
    let mut next = None;
    for row in rows {
        let run = row?;
        if !keep(&run) {
            continue;
        }
        if found.len() == count {
            next = found
                .last()
                .map(|(r, _): &(Run, _)| (r.created_at, r.run_id.clone()));
            break;
        }
        let log = entries(conn, &run.run_id)?;
        found.push((run, log));
    }
    Ok((found, next))
}

/// Deletes up to `limit` runs that succeeded or were cancelled before
/// `ended_before`, or failed before `failed_before`, with their logs.
pub(in crate::store) fn purge_ended(
    conn: &Conn,
    ended_before: Millis,
    failed_before: Millis,
    limit: i64,
) -> Result<usize, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM workflow_runs WHERE run_id IN (SELECT run_id FROM workflow_runs \
             WHERE ended_at IS NOT NULL AND ((state != 'RUN_FAILED' AND ended_at < ?1) \
             OR ended_at < ?2) LIMIT ?3) RETURNING run_id",
        )?
        .query_map(params![ended_before, failed_before, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut steps = conn.prepare_cached("DELETE FROM workflow_steps WHERE run_id = ?1")?;
    for id in &ids {
        steps.execute([id])?;
    }
    Ok(ids.len())
}

/// A run's whole log, in append order.
pub(in crate::store) fn entries(conn: &Conn, run_id: &str) -> Result<Vec<StepEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, message_id, call_type, body, created_at FROM workflow_steps \
         WHERE run_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([run_id], |r| {
        Ok(StepEntry {
            seq: r.get(0)?,
            message_id: r.get(1)?,
            call_type: r.get(2)?,
            body: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Appends an entry to the run's log.
pub(in crate::store) fn append_entry(
    conn: &Conn,
    run_id: &str,
    message_id: &str,
    call_type: &str,
    body: &[u8],
    now: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO workflow_steps (run_id, seq, message_id, call_type, body, created_at) \
         SELECT ?1, COALESCE(MAX(seq) + 1, 0), ?2, ?3, ?4, ?5 FROM workflow_steps WHERE run_id = ?1",
    )?
    .execute(params![run_id, message_id, call_type, body, now])?;
    Ok(())
}

/// The message of the run's latest log entry.
pub(in crate::store) fn latest_entry_message(
    conn: &Conn,
    run_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT message_id FROM workflow_steps WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([run_id], |r| r.get(0))
        .optional()?)
}

/// Whether message `message_id` has a log entry.
pub(in crate::store) fn has_entry(conn: &Conn, message_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM workflow_steps WHERE message_id = ?1")?
        .query_row([message_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Hands the log entry of message `from` over to message `to`.
pub(in crate::store) fn move_entry(conn: &Conn, from: &str, to: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE workflow_steps SET message_id = ?2 WHERE message_id = ?1")?
        .execute(params![from, to])?;
    Ok(())
}

/// Cuts the run's log back to its Init entry, now owned by `init_message_id`.
pub(in crate::store) fn cut_to_init(
    conn: &Conn,
    run_id: &str,
    init_message_id: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM workflow_steps WHERE run_id = ?1 AND seq > 0")?
        .execute([run_id])?;
    conn.prepare_cached("UPDATE workflow_steps SET message_id = ?2 WHERE run_id = ?1 AND seq = 0")?
        .execute(params![run_id, init_message_id])?;
    Ok(())
}

const WAITER_COLUMNS: &str = "timeout_message_id, event_id, run_id, url, delivery, step, timeout, \
     timeout_url, timeout_headers, deadline, created_at";

fn waiter_row(row: &Row) -> crate::store::db::Result<Waiter> {
    let delivery: String = row.get(4)?;
    let step: String = row.get(5)?;
    let headers: String = row.get(8)?;
    Ok(Waiter {
        timeout_message_id: row.get(0)?,
        event_id: row.get(1)?,
        run_id: row.get(2)?,
        url: row.get(3)?,
        delivery: from_json(4, &delivery)?,
        step: from_json(5, &step)?,
        timeout: row.get(6)?,
        timeout_url: row.get(7)?,
        timeout_headers: from_json(8, &headers)?,
        deadline: row.get(9)?,
        created_at: row.get(10)?,
    })
}

pub(in crate::store) fn insert_waiter(conn: &Conn, w: &Waiter) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO workflow_waiters ({WAITER_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        w.timeout_message_id,
        w.event_id,
        w.run_id,
        w.url,
        to_json(&w.delivery)?,
        to_json(&w.step)?,
        w.timeout,
        w.timeout_url,
        to_json(&w.timeout_headers)?,
        w.deadline,
        w.created_at,
    ])?;
    Ok(())
}

/// Removes and returns the waiters of `event_id` (of `run_id` only, when given).
pub(in crate::store) fn take_waiters(
    conn: &Conn,
    event_id: &str,
    run_id: Option<&str>,
) -> Result<Vec<Waiter>, StoreError> {
    let sql = format!(
        "DELETE FROM workflow_waiters WHERE event_id = ?1 \
         AND (CAST(?2 AS TEXT) IS NULL OR run_id = ?2) \
         RETURNING {WAITER_COLUMNS}"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![event_id, run_id], waiter_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Removes and returns run `run_id`'s waiters of `event_id` whose step is
/// of `step_type` (a webhook wakes only `WaitForWebhook` waits).
pub(in crate::store) fn take_waiters_of_type(
    conn: &Conn,
    event_id: &str,
    run_id: &str,
    step_type: &str,
) -> Result<Vec<Waiter>, StoreError> {
    let type_of_step = conn.pick(
        "json_extract(step, '$.stepType')",
        "((step::jsonb) #>> '{stepType}')",
    );
    let sql = format!(
        "DELETE FROM workflow_waiters WHERE event_id = ?1 AND run_id = ?2 \
         AND {type_of_step} = ?3 RETURNING {WAITER_COLUMNS}"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![event_id, run_id, step_type], waiter_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Removes the waiter whose timeout message is `timeout_message_id`; false
/// if it was gone (notified).
pub(in crate::store) fn take_waiter_of_timeout(
    conn: &Conn,
    timeout_message_id: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM workflow_waiters WHERE timeout_message_id = ?1")?
        .execute([timeout_message_id])?
        > 0)
}

/// The waiters of `event_id`, oldest first.
pub(in crate::store) fn waiters(conn: &Conn, event_id: &str) -> Result<Vec<Waiter>, StoreError> {
    let sql = format!(
        "SELECT {WAITER_COLUMNS} FROM workflow_waiters WHERE event_id = ?1 ORDER BY created_at"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([event_id], waiter_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Takes the lookback notice for `run_id` and `event_id`, if one is kept.
pub(in crate::store) fn take_notice(
    conn: &Conn,
    run_id: &str,
    event_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM workflow_notices WHERE run_id = ?1 AND event_id = ?2 RETURNING data",
        )?
        .query_row(params![run_id, event_id], |r| r.get(0))
        .optional()?)
}

/// Keeps an event for the run's next wait (the newest data wins).
pub(in crate::store) fn put_notice(
    conn: &Conn,
    run_id: &str,
    event_id: &str,
    data: &[u8],
    now: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO workflow_notices (run_id, event_id, data, created_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, event_id) \
         DO UPDATE SET data = excluded.data, created_at = excluded.created_at",
    )?
    .execute(params![run_id, event_id, data, now])?;
    Ok(())
}
