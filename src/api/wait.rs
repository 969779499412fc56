//! `waitForEvent` and `notify` (workflow-wire §1 rows 6–9, §3.7).
//!
//! A wait registers a waiter and, in the same transaction, a pending timeout
//! message due at the deadline: the engine's timer and the restart logic
//! that already re-arm pending messages carry the deadline, so nothing new
//! has to survive a restart. A notify removes the waiter and its timeout
//! message and stores the delivery of the event, also in one transaction.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::headers;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::ids;
use crate::model::{HeaderMap, Message, Millis};
use crate::store::WaitOutcome;
use crate::workflow::run_log::wait_result;
use crate::workflow::{Role, Waiter, WorkflowError, WorkflowLink};

/// The body of `POST /v2/wait/{eventId}` (`WaitRequest` in the SDK).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitRequest {
    url: String,
    timeout: Option<String>,
    timeout_url: Option<String>,
    #[serde(default)]
    timeout_headers: HeaderMap,
    step: Value,
}

/// `POST /v2/wait/{eventId}`.
pub async fn wait(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let raw = request.headers().clone();
    let ip = super::caller_ip(&request);
    let run_id = raw
        .get("upstash-workflow-runid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or(WorkflowError::MissingRunId("a wait"))?;
    let body = read_body(request.into_body(), state.max_body).await?;
    let req: WaitRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("wait body: {e}")))?;
    let url = super::destination::checked(&req.url)
        .map_err(|e| ApiError::BadRequest(format!("url: {e}")))?;
    let timeout_url = match &req.timeout_url {
        Some(u) => super::destination::checked(u)
            .map_err(|e| ApiError::BadRequest(format!("timeoutUrl: {e}")))?,
        None => url.clone(),
    };
    if !req.step.is_object() {
        return Err(ApiError::BadRequest("step: must be a JSON object".into()));
    }
    let timeout = req.timeout.unwrap_or_else(|| "7d".into());
    // At most a year, like `Upstash-Delay`.
    let wait_ms = super::headers::delay("timeout", &timeout)?;
    let now = state.clock.now_ms();
    let deadline = now + wait_ms as Millis;
    let link = WorkflowLink {
        run_id: run_id.clone(),
        role: Role::Timeout,
        init: None,
    };
    // The timeout is delivered with `timeoutHeaders` as its message headers.
    let mut timeout_delivery = headers::delivery(&to_http(&req.timeout_headers)?)?;
    timeout_delivery.workflow = Some(link);
    let timeout_message = Message {
        id: ids::message_id(),
        url: timeout_url.clone(),
        schedule_id: None,
        slot_at: None,
        delivery: timeout_delivery,
        body: wait_result(&req.step, &event_id, &timeout, None),
        created_at: now,
        not_before: deadline,
        due_at: deadline,
        retried: 0,
        caller_ip: ip,
    };
    let waiter = Waiter {
        timeout_message_id: timeout_message.id.clone(),
        event_id,
        run_id,
        url,
        // The notify result is delivered with the wait request's headers.
        delivery: headers::delivery(&raw)?,
        step: req.step,
        timeout,
        timeout_url,
        timeout_headers: req.timeout_headers,
        deadline,
        created_at: now,
    };
    match state
        .store
        .workflow_wait(waiter, timeout_message, now)
        .await?
    {
        WaitOutcome::Waiting(m) | WaitOutcome::Notified(m) => {
            state.engine.messages_added(vec![m]);
        }
    }
    Ok(Json(json!({})))
}

/// `{name: [values]}` as request headers, so `headers::delivery` reads them.
fn to_http(map: &HeaderMap) -> ApiResult<http::HeaderMap> {
    let mut out = http::HeaderMap::new();
    for (name, values) in map {
        for v in values {
            let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                http::HeaderValue::from_str(v),
            ) else {
                return Err(ApiError::BadRequest(format!(
                    "timeoutHeaders: {name} is not a valid header"
                )));
            };
            out.append(n, v);
        }
    }
    Ok(out)
}

/// `POST /v2/notify/{eventId}`: every run waiting for the event.
pub async fn notify(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    notify_with(state, event_id, None, request).await
}

/// `POST /v2/notify/{workflowRunId}/{eventId}`: one run; kept for its next
/// wait if it is not waiting yet (lookback).
pub async fn notify_run(
    State(state): State<AppState>,
    Path((run_id, event_id)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Json<Value>> {
    notify_with(state, event_id, Some(run_id), request).await
}

/// Answers `NotifyResponse[]` (§1 row 7): one element per woken waiter.
async fn notify_with(
    state: AppState,
    event_id: String,
    run_id: Option<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let data = read_body(request.into_body(), state.max_body).await?;
    let now = state.clock.now_ms();
    let done = state
        .store
        .workflow_notify(&event_id, run_id, data.to_vec(), now)
        .await?;
    state.engine.messages_cancelled(&done.dropped);
    let created: Vec<Message> = done.woken.iter().map(|(_, m)| m.clone()).collect();
    state.engine.messages_added(created);
    let out: Vec<Value> = done
        .woken
        .iter()
        .map(|(w, m)| json!({ "waiter": w.to_json(), "messageId": m.id, "error": "" }))
        .collect();
    Ok(Json(Value::Array(out)))
}

/// `GET /v2/waiters/{eventId}`: `Waiter[]`.
pub async fn waiters(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let all = state.store.workflow_waiters(&event_id).await?;
    Ok(Json(Value::Array(
        all.iter().map(Waiter::to_json).collect(),
    )))
}
