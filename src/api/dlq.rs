//! The dead-letter queue (§4.8, §6.2): list, get, delete, retry.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::headers;
use super::query::{cursor_json, dlq_filters, ids_from_body, Query};
use super::view::dlq_json;
use super::{read_body, ApiResult, AppState};
use crate::service::{DlqSelector, Overrides};

/// Page size of `GET /v2/dlq` (default and most, per the openapi).
const PAGE: usize = 100;

pub async fn list(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    if query.one("source") == Some("workflow") {
        // `client.dlq.list` of the Workflow SDK (workflow-wire §1 row 12).
        return super::workflows::dlq_list(&state, &query).await;
    }
    let count = query.count(PAGE, PAGE)?;
    let (entries, next) = state
        .service
        .dlq_page(query.filter()?, query.cursor()?, count)
        .await?;
    let mut o = Map::new();
    o.insert(
        "messages".into(),
        Value::Array(entries.iter().map(dlq_json).collect()),
    );
    if let Some(c) = cursor_json(next) {
        o.insert("cursor".into(), c);
    }
    Ok(Json(Value::Object(o)))
}

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let e = state.service.dlq_entry(&id).await?;
    Ok(Json(dlq_json(&e)))
}

/// `DELETE /v2/dlq/{id}`: 404 when absent (a JS test relies on it).
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.service.delete_dlq_entry(&id).await?;
    Ok(Json(json!({ "deleted": 1 })))
}

/// Which entries a bulk call means: `dlqIds` in the query or a JSON body, else
/// the filters with `count` and `cursor`; no selector at all means every
/// entry. Unknown keys, empty values and other bodies are refused.
async fn selector(state: &AppState, request: Request, what: &str) -> ApiResult<DlqSelector> {
    let query = Query::parse(request.uri().query())?;
    let filters = dlq_filters();
    let mut allowed = vec!["dlqIds", "count", "cursor"];
    allowed.extend(&filters);
    query.only(&allowed, what)?;
    let body = read_body(request.into_body(), state.max_body).await?;
    let mut ids = query.all("dlqIds");
    ids.extend(ids_from_body(&body, "dlqIds")?.unwrap_or_default());
    let count = query.count(usize::MAX, usize::MAX)?;
    let cursor = query.cursor()?;
    Ok(if !ids.is_empty() {
        DlqSelector::Ids(ids)
    } else if query.has_any(&filters) {
        DlqSelector::Filter {
            filter: Box::new(query.filter()?),
            cursor,
            count,
        }
    } else {
        DlqSelector::All { cursor, count }
    })
}

/// `DELETE /v2/dlq` → `{"deleted": n, "cursor"?}`.
pub async fn delete_many(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let selector = selector(&state, request, "DELETE /v2/dlq").await?;
    let (deleted, next) = state.service.delete_dlq(selector).await?;
    let mut o = Map::new();
    o.insert("deleted".into(), json!(deleted));
    if let Some(c) = cursor_json(next) {
        o.insert("cursor".into(), c);
    }
    Ok(Json(Value::Object(o)))
}

/// `POST /v2/dlq/retry` → `{"responses": [{"messageId"}], "cursor"?}`.
pub async fn retry_many(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let overrides = overrides(request.headers())?;
    let selector = selector(&state, request, "POST /v2/dlq/retry").await?;
    let (created, next) = state.service.retry_dlq(selector, overrides).await?;
    let mut o = Map::new();
    o.insert(
        "responses".into(),
        Value::Array(
            created
                .iter()
                .map(|(id, url)| json!({ "messageId": id, "url": url }))
                .collect(),
        ),
    );
    if let Some(c) = cursor_json(next) {
        o.insert("cursor".into(), c);
    }
    Ok(Json(Value::Object(o)))
}

/// `POST /v2/dlq/retry/{id}` → 201 `{"messageId"}`, 404 when absent.
pub async fn retry_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let overrides = overrides(request.headers())?;
    let (message_id, url) = state.service.retry_dlq_entry(&id, overrides).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "messageId": message_id, "url": url })),
    ))
}

/// The retry request's `Upstash-*` headers, which override the original
/// settings (§4.8). Only those: the request's own `Content-Type` describes
/// the request (often its JSON body), not the message being retried. They
/// are checked here, before anything is taken out of the DLQ.
fn overrides(request_headers: &http::HeaderMap) -> ApiResult<Overrides> {
    let given: http::HeaderMap = request_headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("upstash-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    headers::delivery_onto(&given, Default::default())?;
    let delay = given.contains_key("upstash-delay");
    Ok(Overrides {
        apply: Box::new(move |d| headers::delivery_onto(&given, d.clone()).unwrap_or(d)),
        delay,
    })
}
