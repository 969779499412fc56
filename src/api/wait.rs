//! `waitForEvent` and `notify` (workflow-wire §1 rows 6–9, §3.7).

use axum::extract::{Path, Request, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::headers;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::model::HeaderMap;
use crate::service::WaitRequest;
use crate::workflow::{Waiter, WorkflowError};

/// The body of `POST /v2/wait/{eventId}` (`WaitRequest` in the SDK).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitBody {
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
        .ok_or(crate::service::ServiceError::Workflow(
            WorkflowError::MissingRunId("a wait"),
        ))?;
    let body = read_body(request.into_body(), state.max_body).await?;
    let req: WaitBody = serde_json::from_slice(&body)
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
    let wait_ms = headers::delay("timeout", &timeout)?;
    state
        .service
        .wait(WaitRequest {
            run_id,
            event_id,
            url,
            timeout_url,
            timeout,
            wait_ms,
            // The timeout is delivered with `timeoutHeaders` as its message headers.
            timeout_delivery: headers::delivery(
                &to_http(&req.timeout_headers)
                    .map_err(|e| ApiError::BadRequest(format!("timeoutHeaders: {e}")))?,
            )?,
            timeout_headers: req.timeout_headers,
            // The notify result is delivered with the wait request's headers.
            notify_delivery: headers::delivery(&raw)?,
            step: req.step,
            caller_ip: ip,
        })
        .await?;
    Ok(Json(json!({})))
}

/// `{name: [values]}` as request headers, so `headers::delivery` reads them.
pub(super) fn to_http(map: &HeaderMap) -> ApiResult<http::HeaderMap> {
    let mut out = http::HeaderMap::new();
    for (name, values) in map {
        for v in values {
            let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                http::HeaderValue::from_str(v),
            ) else {
                return Err(ApiError::BadRequest(format!(
                    "{name} is not a valid header"
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

/// Answers `NotifyResponse[]` (workflow-wire §1 row 7): one element per
/// woken waiter.
async fn notify_with(
    state: AppState,
    event_id: String,
    run_id: Option<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let data = read_body(request.into_body(), state.max_body).await?;
    let done = state
        .service
        .notify(&event_id, run_id, data.to_vec())
        .await?;
    let out: Vec<Value> = done
        .woken
        .iter()
        .map(|(w, id)| json!({ "waiter": w.to_json(), "messageId": id, "error": "" }))
        .collect();
    Ok(Json(Value::Array(out)))
}

/// `GET /v2/waiters/{eventId}`: `Waiter[]`.
pub async fn waiters(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let all = state.service.waiters(&event_id).await?;
    Ok(Json(Value::Array(
        all.iter().map(Waiter::to_json).collect(),
    )))
}
