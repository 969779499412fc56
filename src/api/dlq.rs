//! The dead-letter queue (§4.8, §6.2): list, get, delete, retry.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::headers;
use super::query::{cursor_json, ids_from_body, Query};
use super::view::dlq_json;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::ids;
use crate::model::{DlqEntry, Message, Millis};
use crate::store::DlqSelection;

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
        .store
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
    match state.store.dlq_entry(&id).await? {
        Some(e) => Ok(Json(dlq_json(&e))),
        None => Err(not_found(&id)),
    }
}

/// `DELETE /v2/dlq/{id}`: 404 when absent (a JS test relies on it).
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (deleted, _) = state
        .store
        .dlq_delete(DlqSelection {
            ids: vec![id.clone()],
            ..Default::default()
        })
        .await?;
    if deleted == 0 {
        return Err(not_found(&id));
    }
    Ok(Json(json!({ "deleted": deleted })))
}

/// Which entries a bulk call means: `dlqIds` in the query or a JSON body, else
/// the filters with `count` and `cursor`; nothing at all means every entry.
async fn selection(state: &AppState, request: Request) -> ApiResult<DlqSelection> {
    let query = Query::parse(request.uri().query())?;
    let body = read_body(request.into_body(), state.max_body).await?;
    let mut ids = query.all("dlqIds");
    ids.extend(ids_from_body(&body, "dlqIds")?);
    Ok(DlqSelection {
        filter: if ids.is_empty() {
            query.filter()?
        } else {
            Default::default()
        },
        before: query.cursor()?,
        count: query.count(usize::MAX, usize::MAX)?,
        ids,
    })
}

/// `DELETE /v2/dlq` → `{"deleted": n, "cursor"?}`.
pub async fn delete_many(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let selection = selection(&state, request).await?;
    let (deleted, next) = state.store.dlq_delete(selection).await?;
    let mut o = Map::new();
    o.insert("deleted".into(), json!(deleted));
    if let Some(c) = cursor_json(next) {
        o.insert("cursor".into(), c);
    }
    Ok(Json(Value::Object(o)))
}

/// `POST /v2/dlq/retry` → `{"responses": [{"messageId"}], "cursor"?}`.
pub async fn retry_many(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let request_headers = request.headers().clone();
    let selection = selection(&state, request).await?;
    let (created, next) = retry(&state, selection, &request_headers).await?;
    let mut o = Map::new();
    o.insert(
        "responses".into(),
        Value::Array(
            created
                .iter()
                .map(|m| json!({ "messageId": m.id, "url": m.url }))
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
    let selection = DlqSelection {
        ids: vec![id.clone()],
        ..Default::default()
    };
    let (created, _) = retry(&state, selection, request.headers()).await?;
    match created.first() {
        Some(m) => Ok((
            StatusCode::CREATED,
            Json(json!({ "messageId": m.id, "url": m.url })),
        )),
        None => Err(not_found(&id)),
    }
}

/// Re-publishes entries as new messages: same body and settings, with the
/// retry request's `Upstash-*` headers overriding (§4.8).
async fn retry(
    state: &AppState,
    selection: DlqSelection,
    request_headers: &http::HeaderMap,
) -> ApiResult<(Vec<Message>, Option<i64>)> {
    // Only `Upstash-*` headers override: the retry request's own
    // `Content-Type` describes that request (often its JSON body), not the
    // message being retried.
    let overrides: http::HeaderMap = request_headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("upstash-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // Validate the overrides once, before anything is taken out of the DLQ.
    headers::delivery_onto(&overrides, Default::default())?;
    let now = state.clock.now_ms();
    let (created, next) = state
        .store
        .dlq_retry(selection, move |e| republished(e, &overrides, now))
        .await?;
    state.engine.messages_added(created.clone());
    Ok((created, next))
}

fn republished(e: &DlqEntry, overrides: &http::HeaderMap, now: Millis) -> Message {
    let delivery = headers::delivery_onto(overrides, e.message.delivery.clone())
        .unwrap_or_else(|_| e.message.delivery.clone());
    let due = now
        + if overrides.contains_key("upstash-delay") {
            delivery.delay_ms as Millis
        } else {
            0
        };
    Message {
        id: ids::message_id(),
        retried: 0,
        created_at: now,
        not_before: due,
        due_at: due,
        delivery,
        ..e.message.clone()
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("DLQ message {id:?} not found"))
}
