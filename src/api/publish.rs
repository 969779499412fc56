//! `POST /v2/publish/{destination}` (§4.1). With `Upstash-Cron` it creates a
//! schedule instead (§4.1, "Extra documented behaviour").

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::destination;
use super::headers::{self, HeaderError};
use super::schedules::create_schedule;
use super::{caller_ip, read_body, ApiError, ApiResult, AppState};
use crate::ids;
use crate::model::{Message, Millis};

pub async fn publish(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on /v2/publish; use POST",
            request.method()
        )));
    }
    let rest = request
        .uri()
        .path()
        .strip_prefix("/v2/publish/")
        .unwrap_or("");
    let destination = destination::from_path(rest, request.uri().query());
    if request.headers().contains_key("upstash-cron") {
        let settings = headers::schedule(request.headers())?;
        return create_schedule(&state, destination, settings, request)
            .await
            .map(IntoResponse::into_response);
    }
    let url = destination::checked(&destination).map_err(ApiError::BadRequest)?;
    let delivery = headers::delivery(request.headers())?;
    let now = state.clock.now_ms();
    let not_before = not_before(request.headers())?.unwrap_or(now + delivery.delay_ms as Millis);
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let message = Message {
        id: ids::message_id(),
        url: url.clone(),
        schedule_id: None,
        slot_at: None,
        delivery,
        body: body.to_vec(),
        created_at: now,
        not_before,
        due_at: not_before,
        retried: 0,
        caller_ip: ip,
    };
    state.store.insert_message(message.clone()).await?;
    state.engine.message_added(&message.id, message.due_at);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "messageId": message.id, "url": url })),
    )
        .into_response())
}

/// `Upstash-Not-Before`: Unix seconds; overrides `Upstash-Delay` (§5.1).
fn not_before(headers: &http::HeaderMap) -> Result<Option<Millis>, HeaderError> {
    let Some(v) = headers.get("upstash-not-before") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    text.parse::<i64>()
        .ok()
        .filter(|s| (0..=253_402_300_799).contains(s))
        .map(|s| Some(s * 1000))
        .ok_or_else(|| HeaderError {
            header: "Upstash-Not-Before".into(),
            problem: format!("\"{text}\" is not a Unix time in seconds"),
        })
}
