//! Workflow runs, their logs, waiters and lookback notices (workflow-wire
//! §3). Runs change inside the same transactions as their messages: a step
//! and its log entry, a run's end and the drop of its pending messages, a
//! notify and the delivery it creates commit together.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::codec::{from_json, to_json, MESSAGE_COLUMNS};
use super::events::{log, Details};
use super::messages::{insert as insert_message, take};
use super::{codec, Store, StoreError};
use crate::model::{state, Message, Millis};
use crate::workflow::run_log::StepEntry;
use crate::workflow::{Role, Run, RunState, Waiter, WorkflowError};

const RUN_COLUMNS: &str = "run_id, url, state, created_at, ended_at, config, init_message_id, \
     initial_body, response, caller_ip, failure_message_id";

/// Where a page of runs ended: the last run's creation time and id.
pub type RunCursor = (Millis, String);

fn run_row(row: &Row) -> rusqlite::Result<Run> {
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
    })
}

fn get_run(conn: &Connection, run_id: &str) -> Result<Option<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE run_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([run_id], run_row)
        .optional()?)
}

fn entries(conn: &Connection, run_id: &str) -> Result<Vec<StepEntry>, StoreError> {
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

fn append_entry(
    conn: &Connection,
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

/// Checks a published workflow message against its run before it is stored
/// (§TL;DR 2): an Init creates the run, or answers the run's Init message id
/// when it exists already (`deduplicated: true`); any other message needs a
/// run that is still going, else the publish fails with 400.
pub(super) fn admit(conn: &Connection, m: &Message) -> Result<Option<String>, StoreError> {
    let Some(link) = &m.delivery.workflow else {
        return Ok(None);
    };
    let existing = get_run(conn, &link.run_id)?;
    if let Some(init) = &link.init {
        if let Some(run) = existing {
            return Ok(Some(run.init_message_id));
        }
        conn.prepare_cached(
            "INSERT INTO workflow_runs (run_id, url, state, created_at, config, init_message_id, \
             initial_body, caller_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            link.run_id,
            init.url,
            RunState::Started.as_str(),
            m.created_at,
            to_json(&init.config)?,
            m.id,
            m.body,
            m.caller_ip,
        ])?;
        return Ok(None);
    }
    match existing {
        Some(run) if run.state == RunState::Started => Ok(None),
        // A failure function is called after its run failed (§3.9).
        Some(_) if link.role == Role::Failure => Ok(None),
        _ => Err(WorkflowError::RunNotActive(link.run_id.clone()).into()),
    }
}

/// Adds the log entry a new message makes (see `Role::call_type_on_insert`);
/// called for every message stored, in its transaction.
pub(super) fn on_insert(conn: &Connection, m: &Message) -> Result<(), StoreError> {
    let Some(link) = &m.delivery.workflow else {
        return Ok(());
    };
    if link.role == Role::Failure {
        // Remembered so the DLQ can report how the failure function did.
        conn.prepare_cached("UPDATE workflow_runs SET failure_message_id = ?2 WHERE run_id = ?1")?
            .execute(params![link.run_id, m.id])?;
    }
    let Some(call_type) = link.role.call_type_on_insert() else {
        return Ok(());
    };
    // A message resumed from the DLQ took over its predecessor's entry.
    let logged: Option<i64> = conn
        .prepare_cached("SELECT seq FROM workflow_steps WHERE message_id = ?1")?
        .query_row([&m.id], |r| r.get(0))
        .optional()?;
    if logged.is_none() {
        append_entry(conn, &link.run_id, &m.id, call_type, &m.body, m.created_at)?;
    }
    Ok(())
}

/// Drops a pending message for good, logged as cancelled.
fn drop_message(conn: &Connection, id: &str, now: Millis) -> Result<bool, StoreError> {
    let Some(m) = take(conn, id)? else {
        return Ok(false);
    };
    let delivery = to_json(&m.delivery)?;
    for state in [state::CANCEL_REQUESTED, state::CANCELED] {
        log(conn, now, &m, &delivery, state, Details::default())?;
    }
    Ok(true)
}

/// Ends a running run in `end` state: drops its pending messages (but not a
/// failure callback), waiters and notices (§3.10). Returns the dropped
/// message ids, or `None` when there is no such run. Ending an ended run
/// changes nothing (DELETE is idempotent).
pub(super) fn end_run(
    conn: &Connection,
    run_id: &str,
    end: RunState,
    now: Millis,
    response: Option<&[u8]>,
) -> Result<Option<Vec<String>>, StoreError> {
    let Some(run) = get_run(conn, run_id)? else {
        return Ok(None);
    };
    if run.state != RunState::Started {
        return Ok(Some(Vec::new()));
    }
    conn.prepare_cached(
        "UPDATE workflow_runs SET state = ?2, ended_at = ?3, response = ?4 WHERE run_id = ?1",
    )?
    .execute(params![run_id, end.as_str(), now, response])?;
    conn.prepare_cached("DELETE FROM workflow_waiters WHERE run_id = ?1")?
        .execute([run_id])?;
    conn.prepare_cached("DELETE FROM workflow_notices WHERE run_id = ?1")?
        .execute([run_id])?;
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
         WHERE json_extract(delivery, '$.workflow.runId') = ?1"
    );
    let pending: Vec<Message> = conn
        .prepare_cached(&sql)?
        .query_map([run_id], codec::message)?
        .collect::<Result<_, _>>()?;
    let mut dropped = Vec::new();
    for m in pending {
        let failure = m
            .delivery
            .workflow
            .as_ref()
            .is_some_and(|l| l.role == Role::Failure);
        if !failure && drop_message(conn, &m.id, now)? {
            dropped.push(m.id);
        }
    }
    Ok(Some(dropped))
}

fn waiter_row(row: &Row) -> rusqlite::Result<Waiter> {
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

const WAITER_COLUMNS: &str = "timeout_message_id, event_id, run_id, url, delivery, step, timeout, \
     timeout_url, timeout_headers, deadline, created_at";

/// Which runs a bulk cancel or a log listing means.
#[derive(Debug, Clone, Default)]
pub struct RunSelection {
    pub run_ids: Vec<String>,
    /// Prefix of the workflow URL, or the whole URL with `url_exact`.
    pub url: Option<String>,
    pub url_exact: bool,
    pub labels: Vec<String>,
    pub states: Vec<RunState>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

impl RunSelection {
    fn matches(&self, r: &Run) -> bool {
        (self.run_ids.is_empty() || self.run_ids.contains(&r.run_id))
            && self.url.as_ref().is_none_or(|u| {
                if self.url_exact {
                    r.url == *u
                } else {
                    r.url.starts_with(u.as_str())
                }
            })
            && (self.labels.is_empty() || r.config.labels.iter().any(|l| self.labels.contains(l)))
            && (self.states.is_empty() || self.states.contains(&r.state))
            && self.from.is_none_or(|f| r.created_at >= f)
            && self.to.is_none_or(|t| r.created_at <= t)
    }
}

/// The result of a wait request.
#[derive(Debug, Clone)]
pub enum WaitOutcome {
    /// Registered; its timeout message is pending.
    Waiting(Message),
    /// A lookback notice was waiting already: delivered at once.
    Notified(Message),
}

/// What a notify did.
#[derive(Debug, Clone, Default)]
pub struct Notified {
    /// Each woken waiter and the message delivering the event to it.
    pub woken: Vec<(Waiter, Message)>,
    /// Their timeout messages, now dropped.
    pub dropped: Vec<String>,
    /// Whether the event was kept for a later wait (lookback).
    pub stored: bool,
}

/// How a dead-lettered workflow step comes back (`client.dlq`, §1 row 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revive {
    /// Deliver the failed step again, with the log up to it.
    Resume,
    /// Start the run over from its Init entry (the log is cut back to it).
    Restart,
}

/// Overrides a resume or restart request may carry.
#[derive(Debug, Clone, Default)]
pub struct ReviveOverrides {
    pub retries: Option<u32>,
    pub flow_control: Option<crate::model::FlowControl>,
}

/// How a failure-function call went (`failureCallbackInfo`, §1 row 12).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureInfo {
    /// `CALLBACK_INPROGRESS`, `CALLBACK_SUCCESS`, `CALLBACK_FAIL` or `CALLBACK_CANCELED`.
    pub state: &'static str,
    pub response: Option<crate::model::AttemptResponse>,
}

impl Store {
    /// The state of failure-callback message `message_id`, from its log
    /// entries; `None` once they are purged.
    pub async fn workflow_failure_info(
        &self,
        message_id: &str,
    ) -> Result<Option<FailureInfo>, StoreError> {
        let id = message_id.to_owned();
        self.read(move |conn| {
            let last: Option<String> = conn
                .prepare_cached(
                    "SELECT state FROM events WHERE message_id = ?1 ORDER BY seq DESC LIMIT 1",
                )?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            let Some(last) = last else {
                return Ok(None);
            };
            let response = conn
                .prepare_cached(
                    "SELECT response_status, response_headers, response_body FROM events \
                     WHERE message_id = ?1 AND response_headers IS NOT NULL \
                     ORDER BY seq DESC LIMIT 1",
                )?
                .query_row([&id], |r| {
                    let headers: String = r.get(1)?;
                    Ok(crate::model::AttemptResponse {
                        status: r.get(0)?,
                        headers: codec::header_map(1, &headers)?,
                        body: r.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default(),
                        error: String::new(),
                    })
                })
                .optional()?;
            let state = match last.as_str() {
                state::DELIVERED => "CALLBACK_SUCCESS",
                state::FAILED => "CALLBACK_FAIL",
                state::CANCELED | state::CANCEL_REQUESTED => "CALLBACK_CANCELED",
                _ => "CALLBACK_INPROGRESS",
            };
            Ok(Some(FailureInfo { state, response }))
        })
        .await
    }

    /// Takes the given workflow entries out of the DLQ and brings their runs
    /// back: the run is running again (with the overrides in its config)
    /// and one new message takes over the failed step's log entry (resume)
    /// or the Init entry (restart). Entries of other messages are left alone.
    pub async fn workflow_dlq_revive(
        &self,
        dlq_ids: Vec<String>,
        how: Revive,
        overrides: ReviveOverrides,
        now: Millis,
    ) -> Result<Vec<(Run, Message)>, StoreError> {
        self.write(move |conn| {
            let mut out = Vec::new();
            for dlq_id in &dlq_ids {
                let Some(entry) = super::dlq::get(conn, dlq_id)? else {
                    continue;
                };
                let Some(link) = entry.message.delivery.workflow.as_ref().filter(|l| l.role.fails_run()).cloned()
                else {
                    continue;
                };
                let Some(mut run) = get_run(conn, &link.run_id)? else {
                    continue;
                };
                super::dlq::remove(conn, dlq_id)?;
                if let Some(r) = overrides.retries {
                    run.config.retries = r;
                }
                if let Some(fc) = &overrides.flow_control {
                    run.config.flow_control = Some(fc.clone());
                }
                run.state = RunState::Started;
                run.ended_at = None;
                conn.prepare_cached(
                    "UPDATE workflow_runs SET state = ?2, ended_at = NULL, config = ?3 \
                     WHERE run_id = ?1",
                )?
                .execute(params![run.run_id, run.state.as_str(), to_json(&run.config)?])?;
                let id = crate::ids::message_id();
                let m = match how {
                    Revive::Resume => {
                        conn.prepare_cached(
                            "UPDATE workflow_steps SET message_id = ?2 WHERE message_id = ?1",
                        )?
                        .execute(params![entry.message.id, id])?;
                        Message {
                            id,
                            retried: 0,
                            created_at: now,
                            not_before: now,
                            due_at: now,
                            ..entry.message.clone()
                        }
                    }
                    Revive::Restart => {
                        conn.prepare_cached(
                            "DELETE FROM workflow_steps WHERE run_id = ?1 AND seq > 0",
                        )?
                        .execute([&run.run_id])?;
                        conn.prepare_cached(
                            "UPDATE workflow_steps SET message_id = ?2 WHERE run_id = ?1 AND seq = 0",
                        )?
                        .execute(params![run.run_id, id])?;
                        let mut delivery = crate::model::Delivery::default();
                        delivery.headers.insert(
                            "Upstash-Workflow-Sdk-Version".into(),
                            vec!["1".into()],
                        );
                        delivery.workflow = Some(link.derived(Role::Step));
                        Message {
                            id,
                            url: run.url.clone(),
                            schedule_id: None,
                            slot_at: None,
                            delivery,
                            body: run.initial_body.clone(),
                            created_at: now,
                            not_before: now,
                            due_at: now,
                            retried: 0,
                            caller_ip: run.caller_ip.clone(),
                        }
                    }
                };
                insert_message(conn, &m)?;
                out.push((run, m));
            }
            Ok(out)
        })
        .await
    }

    /// A run, without its log.
    pub async fn workflow_run(&self, run_id: &str) -> Result<Option<Run>, StoreError> {
        let run_id = run_id.to_owned();
        self.read(move |conn| get_run(conn, &run_id)).await
    }

    /// A run and its whole log.
    pub async fn workflow_run_with_log(
        &self,
        run_id: &str,
    ) -> Result<Option<(Run, Vec<StepEntry>)>, StoreError> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let Some(run) = get_run(conn, &run_id)? else {
                return Ok(None);
            };
            let log = entries(conn, &run_id)?;
            Ok(Some((run, log)))
        })
        .await
    }

    /// A timeout message is due: if its waiter is still waiting, the wait
    /// ends here and the timeout result joins the log (§3.7). True when the
    /// timeout stands (also on a retry of its delivery), false when a notify
    /// came first.
    pub async fn workflow_timeout_fired(
        &self,
        m: Message,
        now: Millis,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let logged: Option<i64> = conn
                .prepare_cached("SELECT seq FROM workflow_steps WHERE message_id = ?1")?
                .query_row([&m.id], |r| r.get(0))
                .optional()?;
            if logged.is_some() {
                return Ok(true);
            }
            let removed = conn
                .prepare_cached("DELETE FROM workflow_waiters WHERE timeout_message_id = ?1")?
                .execute([&m.id])?;
            if removed == 0 {
                return Ok(false);
            }
            let Some(link) = &m.delivery.workflow else {
                return Ok(false);
            };
            append_entry(conn, &link.run_id, &m.id, "step", &m.body, now)?;
            Ok(true)
        })
        .await
    }

    /// Ends a run (`DELETE /v2/workflows/runs/{id}`); see `end_run`.
    pub async fn end_workflow_run(
        &self,
        run_id: &str,
        end: RunState,
        now: Millis,
        response: Option<Vec<u8>>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let run_id = run_id.to_owned();
        self.write(move |conn| end_run(conn, &run_id, end, now, response.as_deref()))
            .await
    }

    /// Cancels the running runs `selection` picks, at most `limit`. Returns
    /// how many runs were cancelled and the messages dropped with them.
    pub async fn cancel_workflow_runs(
        &self,
        selection: RunSelection,
        limit: usize,
        now: Millis,
    ) -> Result<(usize, Vec<String>), StoreError> {
        self.write(move |conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE state = ?1 ORDER BY created_at"
            );
            let running: Vec<Run> = conn
                .prepare_cached(&sql)?
                .query_map([RunState::Started.as_str()], run_row)?
                .collect::<Result<_, _>>()?;
            let mut cancelled = 0;
            let mut dropped = Vec::new();
            for run in running.iter().filter(|r| selection.matches(r)).take(limit) {
                if let Some(ids) = end_run(conn, &run.run_id, RunState::Canceled, now, None)? {
                    cancelled += 1;
                    dropped.extend(ids);
                }
            }
            Ok((cancelled, dropped))
        })
        .await
    }

    /// Runs newest first (ties by run id), the page after `after` (the last
    /// run of the previous page: its creation time and id), at most
    /// `count`, plus the next cursor. Both parts are needed: runs created in
    /// the same millisecond (one batch of triggers) would otherwise be
    /// skipped at a page break.
    pub async fn workflow_runs_page(
        &self,
        selection: RunSelection,
        after: Option<RunCursor>,
        count: usize,
    ) -> Result<(Vec<(Run, Vec<StepEntry>)>, Option<RunCursor>), StoreError> {
        self.read(move |conn| {
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
                if !selection.matches(&run) {
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
        })
        .await
    }

    /// Registers a waiter with its pending timeout message, or, when a
    /// lookback notice for this run and event is already here, consumes it
    /// and stores the delivery of the event instead (§3.7).
    pub async fn workflow_wait(
        &self,
        waiter: Waiter,
        timeout_message: Message,
        now: Millis,
    ) -> Result<WaitOutcome, StoreError> {
        self.write(move |conn| {
            match get_run(conn, &waiter.run_id)? {
                Some(run) if run.state == RunState::Started => {}
                _ => return Err(WorkflowError::RunNotActive(waiter.run_id.clone()).into()),
            }
            let notice: Option<Vec<u8>> = conn
                .prepare_cached(
                    "DELETE FROM workflow_notices WHERE run_id = ?1 AND event_id = ?2 \
                     RETURNING data",
                )?
                .query_row(params![waiter.run_id, waiter.event_id], |r| r.get(0))
                .optional()?;
            if let Some(data) = notice {
                let m = waiter.notify_message(&data, now);
                insert_message(conn, &m)?;
                return Ok(WaitOutcome::Notified(m));
            }
            conn.prepare_cached(&format!(
                "INSERT INTO workflow_waiters ({WAITER_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                waiter.timeout_message_id,
                waiter.event_id,
                waiter.run_id,
                waiter.url,
                to_json(&waiter.delivery)?,
                to_json(&waiter.step)?,
                waiter.timeout,
                waiter.timeout_url,
                to_json(&waiter.timeout_headers)?,
                waiter.deadline,
                waiter.created_at,
            ])?;
            insert_message(conn, &timeout_message)?;
            Ok(WaitOutcome::Waiting(timeout_message))
        })
        .await
    }

    /// Delivers `data` to every waiter of `event_id` (of `run_id` only, when
    /// given); with `run_id` and nobody waiting, keeps the event for that
    /// run's next wait (§1 row 8).
    pub async fn workflow_notify(
        &self,
        event_id: &str,
        run_id: Option<String>,
        data: Vec<u8>,
        now: Millis,
    ) -> Result<Notified, StoreError> {
        let event_id = event_id.to_owned();
        self.write(move |conn| {
            let sql = format!(
                "DELETE FROM workflow_waiters WHERE event_id = ?1 AND (?2 IS NULL OR run_id = ?2) \
                 RETURNING {WAITER_COLUMNS}"
            );
            let waiters: Vec<Waiter> = conn
                .prepare_cached(&sql)?
                .query_map(params![event_id, run_id], waiter_row)?
                .collect::<Result<_, _>>()?;
            let mut out = Notified::default();
            for w in waiters {
                if drop_message(conn, &w.timeout_message_id, now)? {
                    out.dropped.push(w.timeout_message_id.clone());
                }
                let m = w.notify_message(&data, now);
                insert_message(conn, &m)?;
                out.woken.push((w, m));
            }
            if let (true, Some(run_id)) = (out.woken.is_empty(), &run_id) {
                let running = get_run(conn, run_id)?.is_some_and(|r| r.state == RunState::Started);
                if running {
                    conn.prepare_cached(
                        "INSERT INTO workflow_notices (run_id, event_id, data, created_at) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, event_id) \
                         DO UPDATE SET data = excluded.data, created_at = excluded.created_at",
                    )?
                    .execute(params![run_id, event_id, data, now])?;
                    out.stored = true;
                }
            }
            Ok(out)
        })
        .await
    }

    /// The waiters of `event_id`, oldest first.
    pub async fn workflow_waiters(&self, event_id: &str) -> Result<Vec<Waiter>, StoreError> {
        let event_id = event_id.to_owned();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {WAITER_COLUMNS} FROM workflow_waiters WHERE event_id = ?1 \
                 ORDER BY created_at"
            );
            let rows = conn
                .prepare_cached(&sql)?
                .query_map([event_id], waiter_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
