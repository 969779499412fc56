//! One delivery attempt (§7): sign, send, decide, record, re-arm.

use std::time::Duration;

use bytes::Bytes;

use crate::engine::client::{Outgoing, Reply};
use crate::engine::outcome::{decide, Decision};
use crate::engine::{Ctx, TimerKey, STORE_RETRY};
use crate::ids;
use crate::model::{FailedResponse, HeaderMap, Message};
use crate::signing::{sign, Claims};

pub(super) async fn deliver(ctx: &Ctx, id: &str) {
    let message = match ctx.store.message(id).await {
        Ok(Some(m)) => m,
        Ok(None) => return, // cancelled or already done
        Err(e) => {
            tracing::error!(message = %id, error = %e, "loading a due message failed; trying again shortly");
            rearm(ctx, id, ctx.clock.now_ms() + STORE_RETRY);
            return;
        }
    };
    let reply = attempt(ctx, &message).await;
    let now = ctx.clock.now_ms();
    let decision = decide(&message, &reply, now, ctx.settings.retry_scale);
    let recorded = match &decision {
        Decision::Delivered => {
            tracing::debug!(message = %id, retried = message.retried, "delivered");
            ctx.store.record_delivered(id).await.map(|_| ())
        }
        Decision::Retry { due_at } => {
            tracing::info!(message = %id, retried = message.retried, error = %describe(&reply), next_attempt = due_at, "attempt failed; will retry");
            match ctx
                .store
                .record_retry(id, message.retried + 1, *due_at)
                .await
            {
                Ok(true) => {
                    rearm(ctx, id, *due_at);
                    Ok(())
                }
                Ok(false) => Ok(()), // cancelled meanwhile
                Err(e) => Err(e),
            }
        }
        Decision::Failed => {
            let response = failed_response(&reply);
            ctx.store
                .record_failed(id, message.retried, now, response)
                .await
                .map(|entry| {
                    if let Some(entry) = entry {
                        tracing::warn!(message = %id, dlq = %entry.dlq_id, error = %describe(&reply), "message failed; moved to the DLQ");
                    }
                })
        }
    };
    if let Err(e) = recorded {
        // The attempt happened but its outcome is not stored: attempt again
        // (at-least-once; the receiver dedups on Upstash-Message-Id).
        tracing::error!(message = %id, error = %e, "recording an attempt failed; the message will be attempted again");
        rearm(ctx, id, now + STORE_RETRY);
    }
}

fn rearm(ctx: &Ctx, id: &str, at: i64) {
    ctx.timer.arm(TimerKey::Message(id.into()), at);
}

/// Sends the attempt with the headers of §7.2 and a fresh signature.
async fn attempt(ctx: &Ctx, m: &Message) -> Reply {
    let signing_key = ctx
        .keys
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .current
        .clone();
    let now_secs = ctx.clock.now_ms() / 1000;
    let claims = Claims::new(&m.url, &m.body, now_secs, ids::jwt_id());
    let mut headers: Vec<(String, String)> = m
        .delivery
        .headers
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
        .collect();
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
            body: Bytes::copy_from_slice(&m.body),
            timeout,
        })
        .await
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Response { status, .. } => format!("HTTP {status}"),
        Reply::NoResponse(e) => e.clone(),
    }
}

fn failed_response(reply: &Reply) -> FailedResponse {
    match reply {
        Reply::Response {
            status,
            headers,
            body,
        } => {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.entry(crate::model::canonical_header_name(name.as_str()))
                    .or_default()
                    .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
            FailedResponse {
                status: Some(*status),
                headers: map,
                body: body.to_vec(),
                error: format!("HTTP {status}"),
            }
        }
        Reply::NoResponse(e) => FailedResponse {
            error: e.clone(),
            ..FailedResponse::default()
        },
    }
}
