//! Pieces of transactions that several operations share: storing a message
//! with everything that goes with it, dropping one, ending a workflow run.
//! Each takes the open transaction and names its timer changes on it.

use super::codec::to_json;
use super::rows::events::{self, Details};
use super::rows::{flow_control, log_messages, messages, queues, runs, url_groups};
use super::{StoreError, Tx};
use crate::model::{Destination, LogState, Message, Millis, Role, Schedule};
use crate::workflow::{invoke, Run, RunState, WorkflowError};

/// Stores a new message: its row, its settings in the log and its CREATED
/// log entry, its queue if that
/// is new (parallelism 1, §4.2), its flow-control limits as its key's
/// latest (§9.5) and, for a workflow message, its run-log entry. The timer
/// learns of it at commit.
pub(super) fn add_message(tx: &mut Tx, m: Message) -> Result<(), StoreError> {
    if let Some(fc) = &m.delivery.flow_control {
        // §9.5: the latest limits a key receives are its limits.
        let settings = flow_control::received(tx, fc, m.created_at)?;
        tx.flow(settings, false);
    }
    if let Some(queue) = &m.delivery.queue_name {
        if !queues::exists(tx, queue)? {
            queues::create(tx, queue, m.created_at)?;
            tx.queue(queue, 1, false);
        }
    }
    let delivery = to_json(&m.delivery)?;
    messages::insert(tx, &m, &delivery)?;
    add_run_entry(tx, &m)?;
    let next = (m.due_at > m.created_at).then_some(m.due_at);
    log_messages::insert(tx, &m, &delivery)?;
    events::insert(
        tx,
        m.created_at,
        &m.id,
        LogState::Created,
        Details {
            next_delivery_time: next,
            ..Details::default()
        },
    )?;
    tx.pending(m);
    Ok(())
}

/// The run-log entry a new workflow message makes (see
/// `Role::call_type_on_insert`).
fn add_run_entry(tx: &Tx, m: &Message) -> Result<(), StoreError> {
    let Some(link) = &m.delivery.workflow else {
        return Ok(());
    };
    if link.role == Role::Failure {
        // Remembered so the DLQ can report how the failure function did.
        runs::set_failure_message(tx, &link.run_id, &m.id)?;
    }
    let Some(call_type) = link.role.call_type_on_insert() else {
        return Ok(());
    };
    // A message resumed from the DLQ took over its predecessor's entry.
    if !runs::has_entry(tx, &m.id)? {
        runs::append_entry(tx, &link.run_id, &m.id, call_type, &m.body, m.created_at)?;
    }
    Ok(())
}

/// Brings failed run `run` back with `m`, the new message of its failed
/// step (`failed_id`): the run is running again (with `run.config`), and
/// `m` takes over the failed step's log entry, so its delivery carries the
/// log up to that step again. Used by the workflow DLQ's resume and by a
/// plain DLQ retry of a workflow step, which QStash treats the same way.
pub(super) fn resume_failed_step(
    tx: &mut Tx,
    run: &Run,
    failed_id: &str,
    m: Message,
) -> Result<(), StoreError> {
    runs::revive(tx, run)?;
    runs::move_entry(tx, failed_id, &m.id)?;
    add_message(tx, m)
}

/// Logs that `m` was cancelled at `now` (CANCEL_REQUESTED, then CANCELED).
pub(super) fn log_cancelled(tx: &Tx, m: &Message, now: Millis) -> Result<(), StoreError> {
    for state in [LogState::CancelRequested, LogState::Canceled] {
        events::insert(tx, now, &m.id, state, Details::default())?;
    }
    Ok(())
}

/// Drops pending message `id` for good, logged as cancelled; false if it
/// was not pending.
pub(super) fn drop_message(tx: &mut Tx, id: &str, now: Millis) -> Result<bool, StoreError> {
    let Some(m) = messages::take(tx, id)? else {
        return Ok(false);
    };
    log_cancelled(tx, &m, now)?;
    tx.gone(id);
    Ok(true)
}

/// Checks a workflow message against its run before it is stored
/// (workflow-wire §TL;DR 2): an Init creates the run, or answers the run's
/// Init message id when it exists already (a duplicate); any other message
/// needs a run that is still going, else the write fails with 400.
pub(super) fn admit_to_run(tx: &Tx, m: &Message) -> Result<Option<String>, StoreError> {
    let Some(link) = &m.delivery.workflow else {
        return Ok(None);
    };
    let existing = runs::get(tx, &link.run_id)?;
    if let Some(init) = &link.init {
        if let Some(run) = existing {
            return Ok(Some(run.init_message_id));
        }
        runs::insert(
            tx,
            &Run {
                run_id: link.run_id.clone(),
                url: init.url.clone(),
                state: RunState::Started,
                created_at: m.created_at,
                ended_at: None,
                config: init.config.clone(),
                init_message_id: m.id.clone(),
                initial_body: m.body.clone(),
                response: None,
                caller_ip: m.caller_ip.clone(),
                failure_message_id: None,
                parent: init.parent.clone(),
            },
        )?;
        return Ok(None);
    }
    match existing {
        Some(run) if run.state == RunState::Started => Ok(None),
        // A failure function is called after its run failed (§3.9).
        Some(_) if link.role == Role::Failure => Ok(None),
        _ => Err(WorkflowError::RunNotActive(link.run_id.clone()).into()),
    }
}

/// How a run ends: its state, the body kept as its response (the route's
/// result on success), the result its parent gets when it was invoked
/// (§3.8), and whether the message of its latest log entry stays.
pub(super) struct RunEnd<'a> {
    pub state: RunState,
    pub response: Option<&'a [u8]>,
    pub child_result: Option<&'a [u8]>,
    /// The SDK ends a run (`DELETE /v2/workflows/runs/{id}`) while it is
    /// still answering the delivery of the run's latest entry: that message
    /// is in flight and is recorded by its own outcome (delivered), not
    /// dropped as cancelled.
    pub keep_latest: bool,
}

impl<'a> RunEnd<'a> {
    /// An end with no result for a parent and no message kept.
    pub fn plain(state: RunState) -> RunEnd<'a> {
        RunEnd {
            state,
            response: None,
            child_result: None,
            keep_latest: false,
        }
    }
}

/// Ends a running run: drops its pending messages (but not a failure
/// callback), waiters and notices (workflow-wire §3.10) and, for a run that
/// `context.invoke` started, adds the result step to its parent (§3.8), all
/// in the caller's transaction. Returns how many messages were dropped, or
/// `None` when there is no such run. Ending an ended run changes nothing
/// (DELETE is idempotent).
pub(super) fn end_run(
    tx: &mut Tx,
    run_id: &str,
    end: RunEnd<'_>,
    now: Millis,
) -> Result<Option<usize>, StoreError> {
    let Some(run) = runs::get(tx, run_id)? else {
        return Ok(None);
    };
    if run.state != RunState::Started {
        return Ok(Some(0));
    }
    runs::end(tx, run_id, end.state, now, end.response)?;
    let kept = if end.keep_latest {
        runs::latest_entry_message(tx, run_id)?
    } else {
        None
    };
    let mut dropped = 0;
    for m in messages::of_run(tx, run_id)? {
        let failure = m
            .delivery
            .workflow
            .as_ref()
            .is_some_and(|l| l.role == Role::Failure);
        if failure || kept.as_deref() == Some(m.id.as_str()) {
            continue;
        }
        if drop_message(tx, &m.id, now)? {
            dropped += 1;
        }
    }
    if let Some(parent) = &run.parent {
        let parent_running =
            runs::get(tx, &parent.run_id)?.is_some_and(|p| p.state == RunState::Started);
        if parent_running {
            let m = invoke::result_message(parent, end.child_result, end.state, now);
            add_message(tx, m)?;
        }
        // One result per invoke: a child revived from the DLQ that ends
        // again must not add a second result step to the parent's log.
        runs::clear_parent(tx, run_id)?;
    }
    Ok(Some(dropped))
}

/// The messages `template` (addressed to URL group `group`) becomes: one per
/// endpoint, read in the caller's transaction, so a concurrent change to
/// the group is seen whole or not at all. `None` when there is no such
/// group.
pub(super) fn fan_out(
    tx: &Tx,
    template: &Message,
    group: &str,
) -> Result<Option<Vec<Message>>, StoreError> {
    let endpoints = url_groups::endpoints(tx, group)?;
    if endpoints.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        endpoints
            .iter()
            .map(|e| template.for_endpoint(group, e))
            .collect(),
    ))
}

/// The messages one run of schedule `s` creates from `template` (its
/// settings for the run): the template itself for a URL destination, one
/// per endpoint for a URL group; `Err` with the reason when the group is
/// gone (docs/qstash-wire.md §10).
pub(super) fn schedule_messages(
    tx: &Tx,
    s: &Schedule,
    template: Message,
) -> Result<Result<Vec<Message>, String>, StoreError> {
    match Destination::of_stored(&s.destination) {
        Destination::Url(_) => Ok(Ok(vec![template])),
        Destination::Group(group) => Ok(fan_out(tx, &template, &group)?
            .ok_or_else(|| format!("URL group {group:?} not found: this run created no message"))),
    }
}
