//! One delivery attempt (§7): sign, send, decide, record (with log entries
//! and callback messages), re-arm.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::callback;
use crate::engine::client::{Outgoing, Reply};
use crate::engine::outcome::{decide, Decision};
use crate::engine::{Ctx, TimerKey, STORE_RETRY};
use crate::ids;
use crate::model::{
    canonical_header_name, is_transport_or_delivery_header, Attempt, AttemptResponse, HeaderMap,
    Message,
};
use crate::signing::{sign, Claims};

use super::workflow as wf;

pub(super) async fn deliver(ctx: &Arc<Ctx>, id: &str) {
    let cached = ctx.take_cached(id).map(|m| Ok(Some(m)));
    let loaded = match cached {
        Some(hit) => hit,
        None => ctx.store.message(id).await,
    };
    let mut message = match loaded {
        Ok(Some(m)) => m,
        Ok(None) => {
            // Cancelled, or already done: its queue place is free.
            ctx.finished(id);
            return;
        }
        Err(e) => {
            tracing::error!(message = %id, error = %e, "loading a due message failed; trying again shortly");
            rearm(ctx, id, ctx.clock.now_ms() + STORE_RETRY);
            return;
        }
    };
    let mut workflow = match message.delivery.workflow.clone() {
        None => None,
        Some(link) => match wf::prepare(ctx, &mut message, link).await {
            Ok(Some(w)) => Some(w),
            Ok(None) => {
                // Its run has ended: the message goes with it (§3.10).
                let now = ctx.clock.now_ms();
                if let Err(e) = ctx
                    .store
                    .cancel(vec![id.to_owned()], Default::default(), 1, now)
                    .await
                {
                    tracing::error!(message = %id, error = %e, "dropping a message of an ended workflow run failed; trying again shortly");
                    rearm(ctx, id, now + STORE_RETRY);
                    return;
                }
                ctx.finished(id);
                return;
            }
            Err(e) => {
                tracing::error!(message = %id, error = %e, "loading a workflow run failed; trying again shortly");
                rearm(ctx, id, ctx.clock.now_ms() + STORE_RETRY);
                return;
            }
        },
    };
    let started_at = ctx.clock.now_ms();
    let (body, extra) = match workflow.as_mut() {
        Some(w) => (w.body.take(), w.headers()),
        None => (None, Vec::new()),
    };
    let body = body.unwrap_or_else(|| message.body.clone());
    let reply = attempt(ctx, &message, body, extra).await;
    let now = ctx.clock.now_ms();
    let decision = decide(&message, &reply, now, ctx.settings.retry_scale);
    let attempt = Attempt {
        started_at,
        ended_at: now,
        response: response_of(&reply),
    };
    let final_outcome = !matches!(decision, Decision::Retry { .. });
    let after_attempt = |a: &Attempt| {
        // A `context.call` reports to its workflow once, on the final
        // outcome (§3.6), and that report is a message of the run.
        if workflow.as_ref().is_some_and(|w| w.is_call()) && !final_outcome {
            return Vec::new();
        }
        callback::after_attempt(&message, &a.response, now)
            .into_iter()
            .map(|cb| match &workflow {
                Some(w) => w.callback_of_call(cb),
                None => cb,
            })
            .collect::<Vec<_>>()
    };
    let recorded = match decision {
        Decision::Delivered => {
            tracing::debug!(message = %id, retried = message.retried, "delivered");
            let callbacks = after_attempt(&attempt);
            ctx.store
                .record_delivered(message, attempt, callbacks)
                .await
        }
        Decision::Retry { due_at } => {
            tracing::info!(message = %id, retried = message.retried, error = %attempt.response.error, next_attempt = due_at, "attempt failed; will retry");
            let callbacks = after_attempt(&attempt);
            let recorded = ctx
                .store
                .record_retry(message, attempt, due_at, callbacks)
                .await;
            if let Ok(Some(_)) = recorded {
                rearm(ctx, id, due_at);
            }
            recorded
        }
        Decision::Failed => {
            let after = after_attempt(&attempt);
            let run = workflow;
            ctx.store
                .record_failed(message, attempt, move |entry| {
                    let failure = callback::failure(entry, now).map(|f| match &run {
                        Some(w) => w.failure_callback(f),
                        None => f,
                    });
                    after.into_iter().chain(failure).collect()
                })
                .await
        }
    };
    match recorded {
        Ok(Some(r)) => {
            if let Some(entry) = &r.dlq {
                tracing::warn!(message = %id, dlq = %entry.dlq_id, error = %entry.response.error, "message failed; moved to the DLQ");
            }
            ctx.arm_messages(r.created);
            for dropped in &r.dropped {
                ctx.timer
                    .disarm(&TimerKey::Message(dropped.as_str().into()));
                ctx.take_cached(dropped);
                ctx.finished(dropped);
            }
            if !matches!(decision, Decision::Retry { .. }) {
                ctx.finished(id);
            }
            ctx.maybe_purge();
        }
        Ok(None) => ctx.finished(id), // cancelled while the attempt was out
        Err(e) => {
            // The attempt happened but its outcome is not stored: attempt again
            // (at-least-once; the receiver dedups on Upstash-Message-Id).
            tracing::error!(message = %id, error = %e, "recording an attempt failed; the message will be attempted again");
            rearm(ctx, id, now + STORE_RETRY);
        }
    }
}

fn rearm(ctx: &Ctx, id: &str, at: i64) {
    ctx.timer.arm(TimerKey::Message(id.into()), at);
}

/// Sends the attempt with the headers of §7.2 and a fresh signature over
/// `body` (the message body, or a workflow delivery's run log). `extra` are
/// headers cronhook adds for this delivery (`Upstash-Workflow-RunId`).
async fn attempt(ctx: &Ctx, m: &Message, body: Vec<u8>, extra: Vec<(String, String)>) -> Reply {
    let signing_key = ctx
        .keys
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .current
        .clone();
    let now_secs = ctx.clock.now_ms() / 1000;
    let claims = Claims::new(&m.url, &body, now_secs, ids::jwt_id());
    // Headers cronhook sets itself win over forwarded ones of the same name,
    // and framing headers are never forwarded: a first invocation forwards
    // every header it got, a stale Content-Length included (workflow-wire §7.1).
    let mut headers: Vec<(String, String)> = m
        .delivery
        .headers
        .iter()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !is_transport_or_delivery_header(&lower)
                && !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(&lower))
        })
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
        .collect();
    headers.extend(extra);
    headers.push(("User-Agent".into(), "Upstash-QStash".into()));
    headers.push(("Upstash-Signature".into(), sign(&claims, &signing_key)));
    headers.push(("Upstash-Message-Id".into(), m.id.clone()));
    headers.push(("Upstash-Retried".into(), m.retried.to_string()));
    if let Some(schedule_id) = &m.schedule_id {
        headers.push(("Upstash-Schedule-Id".into(), schedule_id.clone()));
    }
    if let Some(slot) = m.slot_at {
        // Not QStash's: tells the receiver which slot this is, also when it
        // arrives late (misfire, retries).
        headers.push(("Cronhook-Slot-Time".into(), slot.to_string()));
    }
    if let Some(ip) = &m.caller_ip {
        headers.push(("Upstash-Caller-Ip".into(), ip.clone()));
    }
    let timeout = m
        .delivery
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(ctx.settings.default_timeout);
    ctx.client
        .send(Outgoing {
            method: &m.delivery.method,
            url: &m.url,
            headers,
            body: Bytes::from(body),
            timeout,
        })
        .await
}

/// What an attempt got back, as logged and kept in the DLQ.
fn response_of(reply: &Reply) -> AttemptResponse {
    match reply {
        Reply::Response {
            status,
            headers,
            body,
        } => {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.entry(canonical_header_name(name.as_str()))
                    .or_default()
                    .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
            AttemptResponse {
                status: Some(*status),
                headers: map,
                body: body.to_vec(),
                error: if (200..300).contains(status) {
                    String::new()
                } else {
                    format!("HTTP {status}")
                },
            }
        }
        Reply::NoResponse(e) => AttemptResponse {
            error: e.clone(),
            ..AttemptResponse::default()
        },
    }
}
