//! Logs (§4.9, §6.6): `GET /v2/events` (the SDKs) and `GET /v2/logs` (the
//! openapi), each answering with the list under both keys (§12.1).

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::query::Query;
use super::view::log_json;
use super::{ApiError, ApiResult, AppState};
use crate::store::LogCursor;

/// Default page size; the SDKs document 1000 as the most.
const DEFAULT_COUNT: usize = 100;
const MAX_COUNT: usize = 1000;

pub async fn list(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let query = Query::parse(request.uri().query())?;
    let count = query.count(DEFAULT_COUNT, MAX_COUNT)?;
    let (entries, next) = state
        .service
        .events(query.filter()?, log_cursor(&query)?, count)
        .await?;
    let list: Vec<Value> = entries.iter().map(log_json).collect();
    Ok(Json(Page {
        cursor: next.map(|(time, seq)| format!("{time}-{seq}")),
        events: &list,
        logs: &list,
    })
    .into_response())
}

/// One page of the log, under both keys the SDKs read (§12), without
/// copying it.
#[derive(Serialize)]
struct Page<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    events: &'a [Value],
    logs: &'a [Value],
}

/// The log's cursor is `<time>-<seq>`: the position where the last page
/// stopped (opaque to clients).
fn log_cursor(query: &Query) -> Result<Option<LogCursor>, ApiError> {
    let Some(raw) = query.one("cursor") else {
        return Ok(None);
    };
    raw.split_once('-')
        .and_then(|(t, s)| Some((t.parse().ok()?, s.parse().ok()?)))
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cursor: \"{raw}\" is not a cursor this server gave out"
            ))
        })
}
