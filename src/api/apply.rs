//! `POST /cronhook/v1/apply`: schedules as code over the API (`cronhook
//! apply`).
//!
//! Each declared schedule comes as the parts of a schedule create (its
//! destination, its `Upstash-*` headers, its body) and is parsed by the
//! same code as `POST /v2/schedules/{destination}`, so a schedules file
//! means exactly what the same create requests would. The comparison with
//! what is stored happens here, in the server, on the stored settings
//! (`Service::apply_schedules`): a client could only compare the Schedule
//! JSON, which rounds durations to seconds and leaves out callback options.

use axum::extract::{Request, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{destination, headers, read_body, ApiError, ApiResult, AppState};
use crate::service::{check_declared, Applied, DeclaredSchedule, ScheduleRequest};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApplyBody {
    schedules: Vec<Entry>,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    dry_run: bool,
}

/// One declared schedule, as the parts of its create request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    pub destination: String,
    /// `[name, value]` pairs: `Upstash-Cron`, `Upstash-Retries`,
    /// `Upstash-Forward-*`, `Content-Type`, …; `Upstash-Schedule-Id` is `id`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub paused: bool,
}

pub async fn apply(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let body = read_body(request.into_body(), state.max_body).await?;
    let body: ApplyBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?;
    let mut declared = Vec::with_capacity(body.schedules.len());
    for (i, entry) in body.schedules.into_iter().enumerate() {
        let id = entry.id.clone();
        declared.push(
            declaration(entry)
                .map_err(|why| ApiError::BadRequest(format!("schedules[{i}] ({id:?}): {why}")))?,
        );
    }
    let applied = state
        .service
        .apply_schedules(declared, body.prune, body.dry_run)
        .await?;
    Ok(Json(applied_json(&applied)))
}

/// A declaration that cannot be a schedule: `field` is the header (or
/// `id`, `destination`) it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct DeclarationError {
    pub field: String,
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> DeclarationError {
    DeclarationError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Parses one entry like a schedule create request, with the service's
/// own checks of a create.
pub fn declaration(entry: Entry) -> Result<DeclaredSchedule, DeclarationError> {
    headers::validate_schedule_id(&entry.id).map_err(|p| bad("id", p))?;
    let mut map = http::HeaderMap::new();
    for (name, value) in &entry.headers {
        let header = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad(name, "is not a valid header name"))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| {
            bad(
                name,
                "the value may not hold line breaks or control characters",
            )
        })?;
        map.append(header, value);
    }
    let id = http::HeaderValue::from_str(&entry.id).map_err(|_| bad("id", "is not a valid id"))?;
    map.insert("upstash-schedule-id", id);
    let settings = headers::schedule(&map).map_err(|e| bad(&e.header, e.problem))?;
    let destination = destination::parse(&entry.destination)
        .map_err(|p| bad("destination", p))?
        .as_str()
        .to_owned();
    let declared = DeclaredSchedule {
        request: ScheduleRequest {
            destination,
            cron: settings.cron,
            schedule_id: settings.schedule_id,
            misfire: settings.misfire,
            delivery: settings.delivery,
            body: entry.body.into_bytes(),
            caller_ip: None,
            start_at: settings.start_at,
            end_at: settings.end_at,
        },
        paused: entry.paused,
    };
    check_declared(&declared).map_err(|e| {
        let text = e.to_string();
        match text.split_once(": ") {
            Some((field, problem)) => bad(field, problem),
            None => bad("settings", text),
        }
    })?;
    Ok(declared)
}

/// The answer: `{applied, created, updated: [{id, changed}], unchanged,
/// pruned, untouched}`.
pub fn applied_json(a: &Applied) -> Value {
    json!({
        "applied": a.applied,
        "created": a.created,
        "updated": a.updated.iter().map(|(id, changed)| json!({"id": id, "changed": changed})).collect::<Vec<_>>(),
        "unchanged": a.unchanged,
        "pruned": a.pruned,
        "untouched": a.untouched,
    })
}
