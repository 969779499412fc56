//! Logs (§4.9, §6.6): `GET /v2/events` (the SDKs) and `GET /v2/logs` (the
//! openapi), each answering with the list under both keys (§12.1).

use axum::extract::{Request, State};
use axum::Json;
use serde_json::{Map, Value};

use super::query::Query;
use super::view::log_json;
use super::{ApiError, ApiResult, AppState};
use crate::store::LogCursor;

/// Default page size; the SDKs document 1000 as the most.
const DEFAULT_COUNT: usize = 100;
const MAX_COUNT: usize = 1000;

pub async fn list(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let count = query.count(DEFAULT_COUNT, MAX_COUNT)?;
    let (entries, next) = state
        .store
        .events(query.filter()?, log_cursor(&query)?, count)
        .await?;
    let list = Value::Array(entries.iter().map(log_json).collect());
    let mut o = Map::new();
    o.insert("events".into(), list.clone());
    o.insert("logs".into(), list);
    if let Some((time, seq)) = next {
        o.insert("cursor".into(), Value::String(format!("{time}-{seq}")));
    }
    Ok(Json(Value::Object(o)))
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
