//! Publishing (§4.1), enqueueing (§4.2) and batches (§4.3). With
//! `Upstash-Cron`, a publish creates a schedule instead.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::destination;
use super::headers::{self, workflow::link_from_headers};
use super::schedules::create_schedule;
use super::{caller_ip, read_body, ApiError, ApiResult, AppState};
use crate::model::{canonical_header_name, is_transport_or_delivery_header, Destination};
use crate::service::PublishRequest;
use crate::store::{NewMessage, Published, PublishedItem};
use crate::workflow::invoke;

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
    let target = destination::parse(&destination).map_err(ApiError::BadRequest)?;
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let item = prepare(&state, target, &headers, body, ip, None)?;
    let (status, body) = publish_all(&state, vec![item]).await?.remove(0)?;
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
    headers::validate_queue_name(queue)?;
    let destination = destination::from_path(destination, uri.query());
    let target = destination::parse(&destination).map_err(ApiError::BadRequest)?;
    let headers = headers::with_query(request.headers(), uri.query())?;
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let item = prepare(&state, target, &headers, body, ip, Some(queue.to_owned()))?;
    let (status, body) = publish_all(&state, vec![item]).await?.remove(0)?;
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

/// `POST /v2/batch`: one response element per item, in order (a nested array
/// for an item to a URL group); a bad item, or one to a group that does not
/// exist, gets an `{"error"}` element and the others still go out.
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
        let item = batch_item(&state, raw, ip.clone()).map_err(|e| format!("item {i}: {e}"));
        slots.push(item.map(|m| valid.push(m)));
    }
    let mut answers = publish_all(&state, valid).await?.into_iter();
    let out = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(()) => match answers.next().expect("one answer per item") {
                Ok((_, answer)) => answer,
                Err(e) => json!({ "error": e.to_string() }),
            },
            Err(e) => json!({ "error": e }),
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

fn batch_item(state: &AppState, raw: Value, ip: Option<String>) -> ApiResult<NewMessage> {
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
    let target = destination::parse(&item.destination).map_err(ApiError::BadRequest)?;
    let body = Bytes::from(item.body.unwrap_or_default());
    let queue = item.queue.filter(|q| !q.is_empty());
    if let Some(q) = &queue {
        headers::validate_queue_name(q)?;
    }
    prepare(state, target, &headers, body, ip, queue)
}

/// Reads the message settings of a publish from its headers and has the
/// service build the message.
fn prepare(
    state: &AppState,
    destination: Destination,
    headers: &HeaderMap,
    body: Bytes,
    caller_ip: Option<String>,
    queue: Option<String>,
) -> ApiResult<NewMessage> {
    let p = headers::publish(headers)?;
    let mut delivery = p.delivery;
    if p.forward_all_headers {
        forward_all(headers, &state.token, &mut delivery.headers);
    }
    delivery.workflow = link_from_headers(headers, &delivery, destination.as_str())?;
    let body = unwrap_invoke(headers, &mut delivery, body)?;
    Ok(state.service.prepare_message(PublishRequest {
        destination,
        delivery,
        body: body.to_vec(),
        not_before: p.not_before,
        deduplication_id: p.deduplication_id,
        content_based_deduplication: p.content_based_deduplication,
        caller_ip,
        queue,
    })?)
}

/// An Init message with `Upstash-Workflow-Invoke: true` (`context.invoke`,
/// workflow-wire §3.8) carries an envelope instead of the child's payload:
/// the child run starts with the envelope's `body`, and remembers the
/// parent, with the settings of the result delivery read from the parent's
/// step headers as a batch item's would be. Any other message is unchanged.
fn unwrap_invoke(
    headers: &HeaderMap,
    delivery: &mut crate::model::Delivery,
    body: Bytes,
) -> ApiResult<Bytes> {
    let invoked = headers
        .get(invoke::INVOKE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let Some(init) = delivery
        .workflow
        .as_mut()
        .and_then(|l| l.init.as_mut())
        .filter(|_| invoked)
    else {
        return Ok(body);
    };
    let envelope = invoke::Envelope::parse(&body).map_err(ApiError::BadRequest)?;
    let url = destination::checked(&envelope.workflow_url)
        .map_err(|e| ApiError::BadRequest(format!("invoke body: workflowUrl: {e}")))?;
    let parent_headers = super::wait::to_http(&envelope.headers)
        .map_err(|e| ApiError::BadRequest(format!("invoke body: headers: {e}")))?;
    let mut parent_delivery = headers::publish(&parent_headers)?.delivery;
    parent_delivery.workflow = None;
    init.parent = Some(crate::model::InvokeParent {
        run_id: envelope.workflow_run_id,
        url,
        step: envelope.step,
        delivery: parent_delivery,
    });
    Ok(Bytes::from(envelope.body.unwrap_or_default()))
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
        let Ok(v) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        if n == "authorization" && v == bearer {
            continue;
        }
        out.entry(canonical_header_name(n))
            .or_default()
            .push(v.to_owned());
    }
}

/// Stores the messages (one transaction) and answers each as §4.1 does
/// (`{messageId, url}`, 201; a duplicate 202 with the first message's id and
/// `deduplicated: true`), in order. An item to a URL group answers an array,
/// one element per endpoint (202 only if every one was a duplicate), or a
/// 404 error when the group does not exist.
async fn publish_all(
    state: &AppState,
    items: Vec<NewMessage>,
) -> ApiResult<Vec<ApiResult<(StatusCode, Value)>>> {
    let published = state.service.publish(items).await?;
    Ok(published
        .into_iter()
        .map(|item| match item {
            PublishedItem::One(p) => Ok(answer(p)),
            PublishedItem::Group(all) => {
                let status = if all.iter().all(|p| p.duplicate) {
                    StatusCode::ACCEPTED
                } else {
                    StatusCode::CREATED
                };
                let answers = all.into_iter().map(|p| answer(p).1).collect();
                Ok((status, Value::Array(answers)))
            }
            PublishedItem::NoSuchGroup(name) => Err(ApiError::NotFound(format!(
                "URL group {name:?} not found (destination {name:?} is not an http(s) URL, \
                 so it names a URL group)"
            ))),
        })
        .collect())
}

fn answer(Published { id, url, duplicate }: Published) -> (StatusCode, Value) {
    if duplicate {
        (
            StatusCode::ACCEPTED,
            json!({ "messageId": id, "url": url, "deduplicated": true }),
        )
    } else {
        (StatusCode::CREATED, json!({ "messageId": id, "url": url }))
    }
}
