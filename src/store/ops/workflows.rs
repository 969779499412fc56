//! Workflow runs, their logs, waiters and lookback notices (workflow-wire
//! §3). Runs change inside the same transactions as their messages: a step
//! and its log entry, a run's end and the drop of its pending messages, a
//! notify and the delivery it creates commit together.

use crate::model::{AttemptResponse, Delivery, FlowControl, LogState, Message, Millis, Role};
use crate::store::rows::{dlq, events, messages, runs};
use crate::store::{steps, Store, StoreError};
use crate::workflow::run_log::{FailureTrail, NextStep, RunLog, RunTrail, StepEntry};
use crate::workflow::webhook::{is_webhook_wait, notice_key, WAIT_STEP_TYPE};
use crate::workflow::{Run, RunState, Waiter, WorkflowError};

pub use crate::store::rows::runs::{RunCursor, RunPage};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Registered; its timeout message is pending.
    Waiting,
    /// A lookback notice was waiting already: delivered at once.
    Notified,
}

/// What a notify did.
#[derive(Debug, Clone, Default)]
pub struct Notified {
    /// Each woken waiter and the id of the message delivering the event to it.
    pub woken: Vec<(Waiter, String)>,
    /// Whether the event was kept for a later wait (lookback).
    pub stored: bool,
}

/// What a webhook call did (workflow-wire §3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hooked {
    /// No such run, or it has ended: the hook URL is dead.
    NoRun,
    /// The run's `waitForWebhook` was woken; the id of the delivering message.
    Delivered(String),
    /// The run is not waiting yet: the call is kept for its next wait.
    Kept,
}

/// How a dead-lettered workflow step comes back (`client.dlq`,
/// workflow-wire §1 row 12).
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
    pub flow_control: Option<FlowControl>,
}

/// How a failure-function call went (`failureCallbackInfo`, workflow-wire
/// §1 row 12).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureInfo {
    /// `CALLBACK_INPROGRESS`, `CALLBACK_SUCCESS`, `CALLBACK_FAIL` or `CALLBACK_CANCELED`.
    pub state: &'static str,
    pub response: Option<AttemptResponse>,
}

/// The message that starts run `run` over from its trigger payload.
fn restart_message(run: &Run, link: &crate::model::WorkflowLink, now: Millis) -> Message {
    let mut delivery = Delivery::default();
    delivery
        .headers
        .insert("Upstash-Workflow-Sdk-Version".into(), vec!["1".into()]);
    delivery.workflow = Some(link.derived(Role::Step));
    Message::new(
        run.url.clone(),
        delivery,
        run.initial_body.clone(),
        now,
        now,
    )
    .from_caller(run.caller_ip.clone())
}

impl Store {
    /// The state of failure-callback message `message_id`, from its log
    /// entries; `None` once they are purged.
    pub async fn workflow_failure_info(
        &self,
        message_id: &str,
    ) -> Result<Option<FailureInfo>, StoreError> {
        let id = message_id.to_owned();
        self.read_api(move |conn| failure_info(conn, &id)).await
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
    ) -> Result<Vec<Run>, StoreError> {
        self.write(move |tx| {
            let mut out = Vec::new();
            for dlq_id in &dlq_ids {
                let Some(entry) = dlq::get(tx, dlq_id)? else {
                    continue;
                };
                let Some(link) = entry.message.failing_step().cloned() else {
                    continue;
                };
                let Some(mut run) = runs::get(tx, &link.run_id)? else {
                    continue;
                };
                dlq::remove(tx, dlq_id)?;
                if let Some(r) = overrides.retries {
                    run.config.retries = r;
                }
                if let Some(fc) = &overrides.flow_control {
                    run.config.flow_control = Some(fc.clone());
                }
                match how {
                    Revive::Resume => {
                        let m = entry
                            .message
                            .again(entry.message.delivery.clone(), now, now);
                        steps::resume_failed_step(tx, &run, &entry.message.id, m)?;
                    }
                    Revive::Restart => {
                        runs::revive(tx, &run)?;
                        let m = restart_message(&run, &link, now);
                        runs::cut_to_init(tx, &run.run_id, &m.id)?;
                        steps::add_message(tx, m)?;
                    }
                }
                run.state = RunState::Started;
                run.ended_at = None;
                out.push(run);
            }
            Ok(out)
        })
        .await
    }

    /// A run, without its log, for the API.
    pub async fn workflow_run(&self, run_id: &str) -> Result<Option<Run>, StoreError> {
        let run_id = run_id.to_owned();
        self.read_api(move |conn| runs::get(conn, &run_id)).await
    }

    /// A run and its whole log, for the API.
    pub async fn workflow_run_with_log(
        &self,
        run_id: &str,
    ) -> Result<Option<(Run, Vec<StepEntry>)>, StoreError> {
        let run_id = run_id.to_owned();
        self.read_api(move |conn| run_and_log(conn, &run_id)).await
    }

    /// A run, for an attempt of one of its messages.
    pub async fn run_for_attempt(&self, run_id: &str) -> Result<Option<Run>, StoreError> {
        let run_id = run_id.to_owned();
        self.read_engine(move |conn| runs::get(conn, &run_id)).await
    }

    /// A run and its log, for the attempt of a step.
    pub async fn run_with_log_for_attempt(
        &self,
        run_id: &str,
    ) -> Result<Option<(Run, Vec<StepEntry>)>, StoreError> {
        let run_id = run_id.to_owned();
        self.read_engine(move |conn| run_and_log(conn, &run_id))
            .await
    }

    /// A timeout message is due: if its waiter is still waiting, the wait
    /// ends here and the timeout result joins the log (workflow-wire §3.7).
    /// True when the timeout stands (also on a retry of its delivery), false
    /// when a notify came first.
    pub async fn workflow_timeout_fired(
        &self,
        m: Message,
        now: Millis,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            if runs::has_entry(tx, &m.id)? {
                return Ok(true);
            }
            if !runs::take_waiter_of_timeout(tx, &m.id)? {
                return Ok(false);
            }
            let Some(link) = &m.delivery.workflow else {
                return Ok(false);
            };
            runs::append_entry(tx, &link.run_id, &m.id, "step", &m.body, now)?;
            Ok(true)
        })
        .await
    }

    /// Ends a run (`DELETE /v2/workflows/runs/{id}`), dropping its pending
    /// messages but the one the SDK is answering (its latest entry), and
    /// hands an invoked run's result to its parent; `None` when there is no
    /// such run.
    pub async fn end_workflow_run(
        &self,
        run_id: &str,
        end: RunState,
        now: Millis,
        response: Option<Vec<u8>>,
    ) -> Result<Option<usize>, StoreError> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            let how = steps::RunEnd {
                state: end,
                response: response.as_deref(),
                child_result: response.as_deref(),
                keep_latest: true,
            };
            steps::end_run(tx, &run_id, how, now)
        })
        .await
    }

    /// Drops a message whose run has ended (found at its attempt): it goes
    /// with its run (workflow-wire §3.10).
    pub async fn drop_message_of_ended_run(&self, id: &str, now: Millis) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |tx| steps::drop_message(tx, &id, now).map(|_| ()))
            .await
    }

    /// Cancels the running runs `selection` picks, at most `limit`. Returns
    /// how many runs were cancelled.
    pub async fn cancel_workflow_runs(
        &self,
        selection: RunSelection,
        limit: usize,
        now: Millis,
    ) -> Result<usize, StoreError> {
        self.write(move |tx| {
            let running = runs::running(tx)?;
            let mut cancelled = 0;
            for run in running.iter().filter(|r| selection.matches(r)).take(limit) {
                if steps::end_run(
                    tx,
                    &run.run_id,
                    steps::RunEnd::plain(RunState::Canceled),
                    now,
                )?
                .is_some()
                {
                    cancelled += 1;
                }
            }
            Ok(cancelled)
        })
        .await
    }

    /// Runs newest first (ties by run id), the page after `after` (the last
    /// run of the previous page: its creation time and id), at most
    /// `count`, plus the next cursor. Both parts are needed: runs created in
    /// the same millisecond (one batch of triggers) would otherwise be
    /// skipped at a page break.
    /// A page of runs like `workflow_runs_page`, each with its `RunTrail`
    /// (`client.logs`), read in one go so a run and its trail agree.
    pub async fn workflow_logs_page(
        &self,
        selection: RunSelection,
        after: Option<RunCursor>,
        count: usize,
    ) -> Result<(Vec<RunLog>, Option<RunCursor>), StoreError> {
        self.read_api(move |conn| {
            let (runs, next) = runs::page(conn, |r| selection.matches(r), after, count)?;
            let mut out = Vec::with_capacity(runs.len());
            for (run, log) in runs {
                let trail = run_trail(conn, &run)?;
                out.push(RunLog { run, log, trail });
            }
            Ok((out, next))
        })
        .await
    }

    pub async fn workflow_runs_page(
        &self,
        selection: RunSelection,
        after: Option<RunCursor>,
        count: usize,
    ) -> Result<RunPage, StoreError> {
        self.read_api(move |conn| runs::page(conn, |r| selection.matches(r), after, count))
            .await
    }

    /// Registers a waiter with its pending timeout message, or, when a
    /// lookback notice for this run and event is already here, consumes it
    /// and stores the delivery of the event instead (workflow-wire §3.7).
    pub async fn workflow_wait(
        &self,
        waiter: Waiter,
        timeout_message: Message,
        now: Millis,
    ) -> Result<WaitOutcome, StoreError> {
        self.write(move |tx| {
            match runs::get(tx, &waiter.run_id)? {
                Some(run) if run.state == RunState::Started => {}
                _ => return Err(WorkflowError::RunNotActive(waiter.run_id.clone()).into()),
            }
            let notice = if is_webhook_wait(&waiter.step) {
                notice_key(&waiter.event_id)
            } else {
                waiter.event_id.clone()
            };
            if let Some(data) = runs::take_notice(tx, &waiter.run_id, &notice)? {
                steps::add_message(tx, waiter.notify_message(&data, now))?;
                return Ok(WaitOutcome::Notified);
            }
            runs::insert_waiter(tx, &waiter)?;
            steps::add_message(tx, timeout_message)?;
            Ok(WaitOutcome::Waiting)
        })
        .await
    }

    /// Delivers `data` to every waiter of `event_id` (of `run_id` only, when
    /// given); with `run_id` and nobody waiting, keeps the event for that
    /// run's next wait (workflow-wire §1 row 8).
    pub async fn workflow_notify(
        &self,
        event_id: &str,
        run_id: Option<String>,
        data: Vec<u8>,
        now: Millis,
    ) -> Result<Notified, StoreError> {
        let event_id = event_id.to_owned();
        self.write(move |tx| {
            let mut out = Notified::default();
            for w in runs::take_waiters(tx, &event_id, run_id.as_deref())? {
                steps::drop_message(tx, &w.timeout_message_id, now)?;
                let m = w.notify_message(&data, now);
                let id = m.id.clone();
                steps::add_message(tx, m)?;
                out.woken.push((w, id));
            }
            if let (true, Some(run_id)) = (out.woken.is_empty(), &run_id) {
                let running = runs::get(tx, run_id)?.is_some_and(|r| r.state == RunState::Started);
                if running {
                    runs::put_notice(tx, run_id, &event_id, &data, now)?;
                    out.stored = true;
                }
            }
            Ok(out)
        })
        .await
    }

    /// Hands a webhook call's `record` to run `run_id`'s `waitForWebhook`
    /// of `event_id`, or keeps it for that wait if it is not registered yet
    /// (like a lookback notify, but kept apart from notified events, see
    /// `webhook::notice_key`); a call to an unknown or ended run does
    /// nothing. One transaction, like a notify.
    pub async fn workflow_webhook(
        &self,
        run_id: &str,
        event_id: &str,
        record: Vec<u8>,
        now: Millis,
    ) -> Result<Hooked, StoreError> {
        let (run_id, event_id) = (run_id.to_owned(), event_id.to_owned());
        self.write(move |tx| {
            let running = runs::get(tx, &run_id)?.is_some_and(|r| r.state == RunState::Started);
            if !running {
                return Ok(Hooked::NoRun);
            }
            let waiters = runs::take_waiters_of_type(tx, &event_id, &run_id, WAIT_STEP_TYPE)?;
            let mut delivered = None;
            for w in waiters {
                steps::drop_message(tx, &w.timeout_message_id, now)?;
                let m = w.notify_message(&record, now);
                delivered.get_or_insert(m.id.clone());
                steps::add_message(tx, m)?;
            }
            if let Some(id) = delivered {
                return Ok(Hooked::Delivered(id));
            }
            runs::put_notice(tx, &run_id, &notice_key(&event_id), &record, now)?;
            Ok(Hooked::Kept)
        })
        .await
    }

    /// The waiters of `event_id`, oldest first.
    pub async fn workflow_waiters(&self, event_id: &str) -> Result<Vec<Waiter>, StoreError> {
        let event_id = event_id.to_owned();
        self.read_api(move |conn| runs::waiters(conn, &event_id))
            .await
    }
}

/// The state of failure-callback message `id`, from its log entries.
fn failure_info(
    conn: &crate::store::db::Conn,
    id: &str,
) -> Result<Option<FailureInfo>, StoreError> {
    let Some(last) = events::last_state(conn, id)? else {
        return Ok(None);
    };
    let state = match last {
        LogState::Delivered => "CALLBACK_SUCCESS",
        LogState::Failed => "CALLBACK_FAIL",
        LogState::Canceled | LogState::CancelRequested => "CALLBACK_CANCELED",
        _ => "CALLBACK_INPROGRESS",
    };
    Ok(Some(FailureInfo {
        state,
        response: events::last_response(conn, id)?,
    }))
}

/// What `client.logs` shows of `run` besides its log (see `RunTrail`).
fn run_trail(conn: &crate::store::db::Conn, run: &Run) -> Result<RunTrail, StoreError> {
    let init_headers = match messages::get(conn, &run.init_message_id)? {
        Some(m) => Some(m.delivery.headers),
        None => events::first_delivery(conn, &run.init_message_id)?.map(|d| d.headers),
    };
    let mut pending = messages::of_run(conn, &run.run_id)?;
    pending.retain(|m| m.failing_step().is_some());
    pending.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut next = Vec::new();
    for m in pending {
        next.push(NextStep {
            state: if m.retried > 0 {
                "STEP_RETRY"
            } else {
                "STEP_PROGRESS"
            },
            retries: m.delivery.retries,
            retry_delay: m.delivery.retry_delay.clone(),
            errors: events::errors(conn, &m.id)?,
            message_id: m.id,
        });
    }
    let failed = match run.state {
        RunState::Failed => dlq::failed_step_of_run(conn, &run.run_id)?,
        _ => None,
    };
    if let Some(e) = &failed {
        next.push(NextStep {
            message_id: e.message.id.clone(),
            state: "STEP_FAILED",
            retries: e.message.delivery.retries,
            retry_delay: e.message.delivery.retry_delay.clone(),
            errors: events::errors(conn, &e.message.id)?,
        });
    }
    let dlq_id = failed.as_ref().map(|e| e.dlq_id.clone());
    let failure = match &run.failure_message_id {
        Some(id) => {
            let info = failure_info(conn, id)?;
            let pending = messages::get(conn, id)?;
            let next_delivery_time = pending.as_ref().map(|m| m.due_at);
            let url = match pending {
                Some(m) => m.url,
                None => events::first_url(conn, id)?
                    .or_else(|| run.config.failure_callback.clone())
                    .unwrap_or_default(),
            };
            Some(FailureTrail {
                message_id: id.clone(),
                url,
                state: info.as_ref().map_or("CALLBACK_INPROGRESS", |i| i.state),
                fail: failed.as_ref().map(|e| e.response.clone()),
                dlq_id: dlq_id.clone(),
                response: info.and_then(|i| i.response),
                errors: events::errors(conn, id)?,
                next_delivery_time,
            })
        }
        None => None,
    };
    Ok(RunTrail {
        init_headers,
        next,
        dlq_id,
        failure,
    })
}

fn run_and_log(
    conn: &crate::store::db::Conn,
    run_id: &str,
) -> Result<Option<(Run, Vec<StepEntry>)>, StoreError> {
    let Some(run) = runs::get(conn, run_id)? else {
        return Ok(None);
    };
    Ok(Some((run, runs::entries(conn, run_id)?)))
}
