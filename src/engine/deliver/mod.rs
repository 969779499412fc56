//! One delivery attempt (§7): load, sign, send, decide, record. The record's
//! commit arms what follows (a retry, callbacks, the next queued message).

mod request;

use std::sync::Arc;

use bytes::Bytes;

use crate::engine::callback;
use crate::engine::outcome::{decide, Decision};
use crate::engine::{Ctx, STORE_RETRY};
use crate::metrics::DeliveryOutcome;
use crate::model::{Attempt, DlqEntry, Message};
use crate::store::Outcome;

use super::workflow as wf;

/// Makes the attempt of message `id`. `lane` is its destination's slot,
/// given back (dropped) as soon as the exchange is over; any guard will do,
/// so delivery needs nothing of dispatch. `flow` is the flow-control key
/// whose permit dispatch got for it, if any.
pub(super) async fn deliver<Slot: Send>(ctx: &Arc<Ctx>, id: &str, flow: Option<&str>, lane: Slot) {
    let Some(mut message) = load(ctx, id).await else {
        return;
    };
    let now = ctx.clock.now_ms();
    if message.due_at > now {
        // Armed again by a window read after its attempt moved it on:
        // the stored due time is the truth.
        ctx.offer(message);
        return;
    }
    if let Some(queue) = message.delivery.queue_name.as_deref() {
        let key = Ctx::key_of(&message.id, &message.url);
        if ctx.queues.hold_if_paused(queue, &key, message.due_at) {
            // §9.5: a paused queue starts no attempt; resuming arms it again.
            return;
        }
    }
    let timeout_role = message
        .delivery
        .workflow
        .as_ref()
        .is_some_and(|l| l.role == crate::model::Role::Timeout);
    if !timeout_role && ctx.needs_permit(&message, flow) {
        return;
    }
    if !writable(ctx).await {
        // An outcome could not be stored, so the attempt would be made
        // again and again: hold deliveries until the database takes writes.
        ctx.retry_later(&message.id, &message.url, now + STORE_RETRY);
        return;
    }
    let mut workflow = match message.delivery.workflow.clone() {
        None => None,
        Some(link) => match wf::prepare(ctx, &mut message, link).await {
            Ok(Some(w)) => Some(w),
            Ok(None) => {
                // Its run has ended: the message goes with it (workflow-wire §3.10).
                if let Err(e) = ctx.store.drop_message_of_ended_run(id, now).await {
                    tracing::error!(message_id = %id, error = %e, "dropping a message of an ended workflow run failed; trying again shortly");
                    ctx.retry_later(id, &message.url, now + STORE_RETRY);
                }
                return;
            }
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "loading a workflow run failed; trying again shortly");
                ctx.retry_later(id, &message.url, now + STORE_RETRY);
                return;
            }
        },
    };
    if !timeout_role && ctx.needs_permit(&message, flow) {
        // Its run gave it a flow-control key (§3.2 config replay). A
        // timeout is not held back: its deadline has passed once already.
        return;
    }
    let started_at = now;
    let (body, extra) = match workflow.as_mut() {
        Some(w) => (w.body.take(), w.headers()),
        None => (None, Vec::new()),
    };
    // The message's own body is lent to the request, not copied: it comes
    // back once the exchange is over (a copy only if hyper still holds it).
    let lent = body.is_none();
    let body = Bytes::from(body.unwrap_or_else(|| std::mem::take(&mut message.body)));
    if message.slot_at.is_some() && message.retried == 0 {
        ctx.metrics.fire_lateness(started_at - message.due_at);
    }
    let out = ctx.metrics.attempt_out();
    let sent = std::time::Instant::now();
    let reply = tokio::select! {
        reply = request::send(ctx, &message, body.clone(), extra) => reply,
        // Shutdown's grace ran out: the message stays pending, and is
        // attempted again on the next start.
        _ = ctx.abort.cancelled() => return,
    };
    if lent {
        message.body = Vec::from(body);
    }
    let exchange = sent.elapsed().as_secs_f64();
    drop(out);
    drop(lane);
    let ended_at = ctx.clock.now_ms();
    let decision = decide(&message, &reply, ended_at, ctx.settings.retry_scale);
    let attempt = Attempt {
        started_at,
        ended_at,
        response: request::response_of(&reply),
    };
    let outcome = match decision {
        Decision::Delivered => Outcome::Delivered,
        Decision::Retry { due_at } => Outcome::Retry { due_at },
        Decision::Failed => Outcome::Failed,
    };
    if outcome != Outcome::Delivered {
        tracing::info!(
            message_id = %id,
            schedule = message.schedule_id.as_deref().unwrap_or("-"),
            destination = %request::shown(&message.url),
            retried = message.retried,
            error = %attempt.response.error,
            next_attempt = ?match outcome { Outcome::Retry { due_at } => Some(due_at), _ => None },
            "attempt failed"
        );
    }
    // A `context.call` reports to its workflow once, on the final outcome
    // (workflow-wire §3.6), and that report is a message of the run.
    let is_final = !matches!(outcome, Outcome::Retry { .. });
    let reports_now = is_final || !workflow.as_ref().is_some_and(|w| w.is_call());
    let after: Vec<Message> = if reports_now {
        callback::after_attempt(&message, &attempt.response, ended_at)
            .into_iter()
            .map(|cb| match &workflow {
                Some(w) => w.callback_of_call(cb),
                None => cb,
            })
            .collect()
    } else {
        Vec::new()
    };
    let url = message.url.clone();
    let counted = match outcome {
        Outcome::Delivered => DeliveryOutcome::Delivered,
        Outcome::Retry { .. } => DeliveryOutcome::Retry,
        Outcome::Failed => DeliveryOutcome::Failed,
    };
    let status = attempt.response.status;
    let callbacks = move |entry: Option<&DlqEntry>| {
        let failure = entry
            .and_then(|e| callback::failure(e, ended_at))
            .map(|f| match &workflow {
                Some(w) => w.failure_callback(f),
                None => f,
            });
        after.into_iter().chain(failure).collect()
    };
    match ctx
        .store
        .record_outcome(message, attempt, outcome, callbacks)
        .await
    {
        Ok(Some(recorded)) => {
            ctx.metrics.delivery(counted, status, exchange);
            if let Some(dlq_id) = &recorded.dlq_id {
                tracing::warn!(message_id = %id, dlq = %dlq_id, destination = %request::shown(&url), "message failed; moved to the DLQ");
            }
            ctx.maybe_purge();
        }
        Ok(None) => {} // cancelled while the attempt was out
        Err(e) => {
            // The attempt happened but its outcome is not stored: attempt again
            // (at-least-once; the receiver dedups on Upstash-Message-Id).
            tracing::error!(message_id = %id, error = %e, "recording an attempt failed; the message will be attempted again");
            ctx.retry_later(id, &url, ended_at + STORE_RETRY);
        }
    }
}

/// The message to attempt: from memory if it was kept there, else from the
/// database. `None` when it is no longer pending (cancelled, or done).
async fn load(ctx: &Arc<Ctx>, id: &str) -> Option<Message> {
    if let Some(m) = ctx.take_cached(id) {
        return Some(m);
    }
    match ctx.store.message_to_attempt(id).await {
        Ok(Some(m)) => Some(m),
        Ok(None) => {
            // Cancelled, or already done: its queue place is free.
            ctx.finished(id);
            None
        }
        Err(e) => {
            tracing::error!(message_id = %id, error = %e, "loading a due message failed; trying again shortly");
            // The lane is unknown without the message; any lane serves.
            ctx.retry_later(id, "", ctx.clock.now_ms() + STORE_RETRY);
            None
        }
    }
}

/// Whether outcomes can be stored: the last commit succeeded, or a probe
/// write does now.
async fn writable(ctx: &Ctx) -> bool {
    if ctx.store.write_fault().is_none() {
        return true;
    }
    ctx.store.probe_writes().await.is_ok()
}
