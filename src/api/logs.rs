//! Logs (§4.9, §6.6): `GET /v2/events` (the SDKs) and `GET /v2/logs` (the
//! openapi), each answering with the list under both keys (§12.1).

use axum::extract::{Request, State};
use axum::Json;
use serde_json::{Map, Value};

use super::query::{cursor_json, Query};
use super::view::log_json;
use super::{ApiResult, AppState};

/// Default page size; the SDKs document 1000 as the most.
const DEFAULT_COUNT: usize = 100;
const MAX_COUNT: usize = 1000;

pub async fn list(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let count = query.count(DEFAULT_COUNT, MAX_COUNT)?;
    let (entries, next) = state
        .store
        .events(query.filter()?, query.cursor()?, count)
        .await?;
    let list = Value::Array(entries.iter().map(log_json).collect());
    let mut o = Map::new();
    o.insert("events".into(), list.clone());
    o.insert("logs".into(), list);
    if let Some(c) = cursor_json(next) {
        o.insert("cursor".into(), c);
    }
    Ok(Json(Value::Object(o)))
}
