//! `ANY /v2/workflows/hooks/{userId}/{runId}/{eventId}`: webhook calls
//! (`context.createWebhook` / `waitForWebhook`, workflow-wire §1 row 13,
//! §3.7).
//!
//! Third parties call this URL, so it takes no token: the SDK mints it with
//! the run id and a random event id, and holding it is the permission.
//! It sits outside the authenticated routes, but reads its body under the
//! same size and time limits as a publish. Every refusal is the same 404,
//! whether the user id, the run or its state is wrong, so the answer tells
//! a guesser nothing.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde_json::{json, Value};

use super::{read_body, ApiError, ApiResult, AppState};
use crate::store::Hooked;
use crate::workflow::webhook;

fn no_hook() -> ApiError {
    ApiError::NotFound("no workflow run is waiting on this webhook URL".into())
}

pub async fn call(
    State(state): State<AppState>,
    Path((user_id, run_id, event_id)): Path<(String, String, String)>,
    request: Request,
) -> ApiResult<Json<Value>> {
    if webhook::user_id_of_token(&state.token).as_deref() != Some(user_id.as_str()) {
        return Err(no_hook());
    }
    let method = request.method().as_str().to_owned();
    let headers = request.headers().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let body = read_body(request.into_body(), state.max_body).await?;
    let record = webhook::record(&method, &headers, &body, &path_and_query);
    match state.service.webhook(&run_id, &event_id, record).await? {
        Hooked::NoRun => Err(no_hook()),
        Hooked::Delivered(message_id) => Ok(Json(json!({ "messageId": message_id }))),
        Hooked::Kept => Ok(Json(json!({}))),
    }
}
