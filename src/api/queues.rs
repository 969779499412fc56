//! Queues (§4.6, §6.4): upsert, list, get, delete, pause, resume.
//!
//! Names in the path and in the upsert body follow the rule of §2.2
//! (`[A-Za-z0-9._-]`, 1 to 200 characters); a bad one is a 400 that names
//! it, an unknown one a 404.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::headers::{validate_name, validate_queue_name};
use super::{read_body, ApiError, ApiResult, AppState};
use crate::model::{Queue, MAX_QUEUE_PARALLELISM};

/// A queue as `GET /v2/queues/{name}` shows it (§6.4); every field is one
/// the Python SDK requires.
fn queue_json(q: &Queue) -> Value {
    json!({
        "name": q.name,
        "createdAt": q.created_at,
        "updatedAt": q.updated_at,
        "parallelism": q.parallelism,
        "lag": q.lag,
        "paused": q.paused,
    })
}

/// What `POST /v2/queues` asks for; the SDKs always send all three.
#[derive(Debug, PartialEq, Eq)]
struct Upsert {
    name: String,
    parallelism: u32,
    paused: bool,
}

const UPSERT_FIELDS: &str = "queueName, parallelism, paused";

/// Parses the upsert body: `queueName` required; `parallelism` (default 1)
/// and `paused` (default false) as in both SDKs. Other fields are refused,
/// so a misspelt setting is not silently ignored.
fn parse_upsert(body: &[u8]) -> ApiResult<Upsert> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body: must be a JSON object {{{UPSERT_FIELDS}}}: {e}"
        ))
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::BadRequest(format!(
            "body: must be a JSON object {{{UPSERT_FIELDS}}}, got {value}"
        )));
    };
    if let Some(other) = fields
        .keys()
        .find(|k| !["queueName", "parallelism", "paused"].contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "{other}: unknown field; the fields are {UPSERT_FIELDS}"
        )));
    }
    let name = match fields.get("queueName") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::BadRequest("queueName: missing".into()));
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "queueName: must be a string, got {other}"
            )));
        }
    };
    validate_name("queueName", &name)?;
    Ok(Upsert {
        name,
        parallelism: parallelism(&fields)?,
        paused: match fields.get("paused") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "paused: must be true or false, got {other}"
                )));
            }
        },
    })
}

/// `parallelism`: a whole number (the range is the service's rule; one
/// beyond `u32` is refused here with the same words).
fn parallelism(fields: &Map<String, Value>) -> ApiResult<u32> {
    let out_of_range = |got: &Value| {
        ApiError::BadRequest(format!(
            "parallelism: must be a whole number from 1 to {MAX_QUEUE_PARALLELISM}, got {got}"
        ))
    };
    match fields.get("parallelism") {
        None | Some(Value::Null) => Ok(1),
        Some(v @ Value::Number(n)) => match n.as_u64() {
            Some(n) => u32::try_from(n).map_err(|_| out_of_range(v)),
            None => Err(out_of_range(v)),
        },
        Some(other) => Err(out_of_range(other)),
    }
}

/// `POST /v2/queues`: creates the queue or replaces its settings.
pub async fn upsert(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let body = read_body(request.into_body(), state.max_body).await?;
    let u = parse_upsert(&body)?;
    state
        .service
        .upsert_queue(&u.name, u.parallelism, u.paused)
        .await?;
    Ok(Json(json!({})))
}

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let all = state.service.queues().await?;
    Ok(Json(Value::Array(all.iter().map(queue_json).collect())))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    validate_queue_name(&name)?;
    Ok(Json(queue_json(&state.service.queue(&name).await?)))
}

/// `DELETE /v2/queues/{name}`: the queue goes, and its pending messages
/// are cancelled (`{"cancelled": n}`, which the SDKs ignore).
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    validate_queue_name(&name)?;
    let cancelled = state.service.delete_queue(&name).await?;
    Ok(Json(json!({ "cancelled": cancelled })))
}

pub async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    validate_queue_name(&name)?;
    state.service.set_queue_paused(&name, true).await?;
    Ok(Json(json!({})))
}

pub async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    validate_queue_name(&name)?;
    state.service.set_queue_paused(&name, false).await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(body: &str) -> String {
        parse_upsert(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn the_sdk_bodies_parse_and_omitted_settings_take_the_sdk_defaults() {
        let want = |name: &str, parallelism, paused| Upsert {
            name: name.into(),
            parallelism,
            paused,
        };
        let table = [
            (
                r#"{"queueName":"q","parallelism":3,"paused":true}"#,
                want("q", 3, true),
            ),
            (r#"{"queueName":"a.b_c-1"}"#, want("a.b_c-1", 1, false)),
            (
                r#"{"queueName":"q","parallelism":null,"paused":null}"#,
                want("q", 1, false),
            ),
        ];
        for (body, expected) in table {
            assert_eq!(parse_upsert(body.as_bytes()).unwrap(), expected, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_refused_naming_the_field() {
        let table = [
            ("", "body"),
            ("[]", "body"),
            (r#"{"parallelism":2}"#, "queueName: missing"),
            (r#"{"queueName":7}"#, "queueName: must be a string"),
            (r#"{"queueName":""}"#, "queueName"),
            (r#"{"queueName":"a/b"}"#, "queueName: character '/'"),
            (r#"{"queueName":"q","parallelism":1.5}"#, "parallelism"),
            (r#"{"queueName":"q","parallelism":-1}"#, "parallelism"),
            (r#"{"queueName":"q","parallelism":"2"}"#, "parallelism"),
            (
                r#"{"queueName":"q","parallelism":99999999999}"#,
                "parallelism",
            ),
            (r#"{"queueName":"q","paused":"yes"}"#, "paused"),
            (
                r#"{"queueName":"q","parallelizm":2}"#,
                "parallelizm: unknown field",
            ),
        ];
        for (body, needle) in table {
            let error = error_of(body);
            assert!(error.contains(needle), "{body}: {error:?} lacks {needle:?}");
        }
    }
}
