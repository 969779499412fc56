//! Messages (§4.4, §6.1): get one in flight, cancel one, cancel many.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde_json::{json, Value};

use super::query::{ids_from_body, Query};
use super::view::message_json;
use super::{read_body, ApiError, ApiResult, AppState};

/// Most messages one bulk cancel may name when it gives a `count`.
const MAX_COUNT: usize = 10_000;

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    match state.store.message(&id).await? {
        Some(m) => Ok(Json(message_json(&m))),
        None => Err(not_found(&id)),
    }
}

/// `DELETE /v2/messages/{id}` → `{"cancelled": 1}` (a JS test relies on it).
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let cancelled = state
        .store
        .cancel(
            vec![id.clone()],
            Default::default(),
            1,
            state.clock.now_ms(),
        )
        .await?;
    if cancelled.is_empty() {
        return Err(not_found(&id));
    }
    state.engine.messages_cancelled(&cancelled);
    Ok(Json(json!({ "cancelled": cancelled.len() })))
}

/// `DELETE /v2/messages`: ids in the query or in a JSON body, or filters, or
/// nothing at all (= every pending message), in every form of the §4.4 table.
pub async fn cancel_many(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let body = read_body(request.into_body(), state.max_body).await?;
    let mut ids = query.all("messageIds");
    ids.extend(ids_from_body(&body, "messageIds")?);
    let filter = if ids.is_empty() {
        query.filter()?
    } else {
        Default::default()
    };
    let limit = query.count(usize::MAX, MAX_COUNT).map(|n| n.max(1))?;
    let cancelled = state
        .store
        .cancel(ids, filter, limit, state.clock.now_ms())
        .await?;
    state.engine.messages_cancelled(&cancelled);
    Ok(Json(json!({ "cancelled": cancelled.len() })))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "message {id:?} not found (it may have been delivered, cancelled or moved to the DLQ)"
    ))
}
