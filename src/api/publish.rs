//! Publishing (§4.1), enqueueing (§4.2) and batches (§4.3). With
//! `Upstash-Cron`, a publish creates a schedule instead.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::destination;
use super::headers::{self, HeaderError};
use super::schedules::create_schedule;
use super::{caller_ip, read_body, ApiError, ApiResult, AppState};
use crate::ids;
use crate::model::{canonical_header_name, is_transport_or_delivery_header, Message, Millis};
use crate::store::Published;

/// `POST /v2/publish/{destination}`.
pub async fn publish(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let uri = request.uri().clone();
    let rest = uri.path().strip_prefix("/v2/publish/").unwrap_or("");
    let destination = destination::from_path(rest, uri.query());
    let headers = headers::with_query(request.headers(), uri.query())?;
    if headers.contains_key("upstash-cron") {
        let settings = headers::schedule(&headers)?;
        return create_schedule(&state, destination, settings, request)
            .await
            .map(IntoResponse::into_response);
    }
    let url = destination::checked(&destination).map_err(ApiError::BadRequest)?;
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let (m, keys) = build(&state, url, &headers, body, ip, None)?;
    let (status, body) = publish_all(&state, vec![(m, keys)]).await?.remove(0);
    Ok((status, Json(body)).into_response())
}

/// `POST /v2/enqueue/{queue}/{destination}`: a publish into a FIFO queue,
/// created with parallelism 1 on first use.
pub async fn enqueue(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let uri = request.uri().clone();
    let rest = uri.path().strip_prefix("/v2/enqueue/").unwrap_or("");
    let Some((queue, destination)) = rest.split_once('/') else {
        return Err(ApiError::BadRequest(
            "use /v2/enqueue/{queueName}/{destination}".into(),
        ));
    };
    let destination = destination::from_path(destination, uri.query());
    let url = destination::checked(&destination).map_err(ApiError::BadRequest)?;
    let headers = headers::with_query(request.headers(), uri.query())?;
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let (m, keys) = build(&state, url, &headers, body, ip, Some(queue.to_owned()))?;
    ensure_queue(&state, queue).await?;
    let (status, body) = publish_all(&state, vec![(m, keys)]).await?.remove(0);
    Ok((status, Json(body)).into_response())
}

/// One item of `POST /v2/batch` (§4.3): JS sends lower-case header names,
/// Python canonical ones and explicit `null`s.
#[derive(Deserialize)]
struct BatchItem {
    destination: String,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    queue: Option<String>,
}

/// `POST /v2/batch`: one response element per item, in order; a bad item gets
/// an `{"error"}` element and the others still go out.
pub async fn batch(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let items: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("batch body must be a JSON array of messages: {e}"))
    })?;
    // Each item's place: published (its answer comes from `publish_all`, in
    // order) or refused with its error.
    let mut slots: Vec<Result<(), String>> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    for (i, raw) in items.into_iter().enumerate() {
        let item = batch_item(&state, raw, ip.clone())
            .await
            .map_err(|e| format!("item {i}: {e}"));
        slots.push(item.map(|m| valid.push(m)));
    }
    let mut answers = publish_all(&state, valid).await?.into_iter();
    let out = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(()) => answers.next().expect("one answer per item").1,
            Err(e) => json!({ "error": e }),
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn batch_item(
    state: &AppState,
    raw: Value,
    ip: Option<String>,
) -> ApiResult<(Message, Vec<String>)> {
    let item: BatchItem = serde_json::from_value(raw)
        .map_err(|e| ApiError::BadRequest(format!("not a batch message: {e}")))?;
    let mut headers = HeaderMap::new();
    for (name, value) in item.headers.unwrap_or_default() {
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "header {name}: value must be a string"
                )))
            }
        };
        let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&text),
        ) else {
            return Err(ApiError::BadRequest(format!(
                "header {name}: not a valid header name or value"
            )));
        };
        headers.append(n, v);
    }
    let url = destination::checked(&item.destination).map_err(ApiError::BadRequest)?;
    let body = Bytes::from(item.body.unwrap_or_default());
    let queue = item.queue.filter(|q| !q.is_empty());
    let built = build(state, url, &headers, body, ip, queue.clone())?;
    if let Some(q) = &queue {
        ensure_queue(state, q).await?;
    }
    Ok(built)
}

async fn ensure_queue(state: &AppState, queue: &str) -> ApiResult<()> {
    headers::validate_queue_name(queue)?;
    let parallelism = state
        .store
        .ensure_queue(queue, state.clock.now_ms())
        .await?;
    state.engine.queue_configured(queue, parallelism);
    Ok(())
}

/// Builds the message and its deduplication keys from the request.
fn build(
    state: &AppState,
    url: String,
    headers: &HeaderMap,
    body: Bytes,
    caller_ip: Option<String>,
    queue: Option<String>,
) -> ApiResult<(Message, Vec<String>)> {
    let p = headers::publish(headers)?;
    let mut delivery = p.delivery;
    if queue.is_some() && (p.not_before.is_some() || delivery.delay_ms > 0) {
        // §4.2: the server rejects delays on enqueue.
        return Err(HeaderError {
            header: "Upstash-Delay".into(),
            problem: "delay and not-before are not supported for enqueue".into(),
        }
        .into());
    }
    if let Some(q) = queue {
        delivery.queue_name = Some(q);
    }
    if p.forward_all_headers {
        forward_all(headers, &state.token, &mut delivery.headers);
    }
    delivery.workflow = crate::workflow::link_from_headers(headers, &delivery, &url)?;
    let now = state.clock.now_ms();
    let due = p.not_before.unwrap_or(now + delivery.delay_ms as Millis);
    let message = Message {
        id: ids::message_id(),
        url,
        schedule_id: None,
        slot_at: None,
        delivery,
        body: body.to_vec(),
        created_at: now,
        not_before: due,
        due_at: due,
        retried: 0,
        caller_ip,
    };
    let mut keys = Vec::new();
    if let Some(id) = p.deduplication_id {
        keys.push(format!("id:{id}"));
    }
    if p.content_based_deduplication {
        keys.push(format!("content:{}", content_hash(&message)));
    }
    Ok((message, keys))
}

/// §9.7: destination, body, and the forwarded headers (Content-Type included).
fn content_hash(m: &Message) -> String {
    let mut h = Sha256::new();
    h.update(m.url.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(&m.delivery.headers).expect("JSON of strings"));
    h.update([0]);
    h.update(&m.body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Webhook mode (`Upstash-Header-Forward: true`): every incoming header goes
/// to the destination, except transport headers, cronhook's own settings and
/// the cronhook token.
fn forward_all(headers: &HeaderMap, token: &str, out: &mut crate::model::HeaderMap) {
    let bearer = format!("Bearer {token}");
    for (name, value) in headers {
        let n = name.as_str();
        if is_transport_or_delivery_header(n)
            || n.starts_with("upstash-")
            || n.starts_with("cronhook-")
        {
            continue;
        }
        let Ok(v) = value.to_str() else { continue };
        if n == "authorization" && v == bearer {
            continue;
        }
        out.entry(canonical_header_name(n))
            .or_default()
            .push(v.to_owned());
    }
}

/// Stores the messages (one transaction), arms the new ones, and answers
/// each as §4.1 does (`{messageId, url}`, 201; a duplicate 202 with the
/// first message's id and `deduplicated: true`), in order.
async fn publish_all(
    state: &AppState,
    items: Vec<(Message, Vec<String>)>,
) -> ApiResult<Vec<(StatusCode, Value)>> {
    let expires = state.clock.now_ms() + state.dedup_window_ms;
    let published = state.store.publish(items, expires).await?;
    let answers = published
        .iter()
        .map(|(m, p)| match p {
            Published::New => (
                StatusCode::CREATED,
                json!({ "messageId": m.id, "url": m.url }),
            ),
            Published::Duplicate { message_id } => (
                StatusCode::ACCEPTED,
                json!({ "messageId": message_id, "url": m.url, "deduplicated": true }),
            ),
        })
        .collect();
    let new = published
        .into_iter()
        .filter(|(_, p)| *p == Published::New)
        .map(|(m, _)| m)
        .collect();
    state.engine.messages_added(new);
    Ok(answers)
}
