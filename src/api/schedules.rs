//! Schedules (§4.5, §6.3): create, list, get, delete, pause, resume.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::destination;
use super::headers::{self, validate_schedule_id};
use super::view::schedule_json;
use super::{caller_ip, read_body, ApiError, ApiResult, AppState};
use crate::cron::CronSpec;
use crate::ids;
use crate::model::Schedule;

/// How many upcoming fire times a create response shows.
const UPCOMING: usize = 5;

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let all = state.store.schedules().await?;
    Ok(Json(Value::Array(all.iter().map(schedule_json).collect())))
}

/// Everything under `/v2/schedules/…`, routed by hand because the rest of the
/// path is either a destination URL (with `//` and a query) or `{id}[/action]`
/// (§2.3).
pub async fn by_path(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<axum::response::Response> {
    let path = request.uri().path();
    let rest = path.strip_prefix("/v2/schedules/").unwrap_or("").to_owned();
    let is_url = destination::looks_like_url(&rest);
    let action = rest
        .rsplit_once('/')
        .filter(|(id, action)| {
            !is_url && validate_schedule_id(id).is_ok() && matches!(*action, "pause" | "resume")
        })
        .map(|(id, action)| (id.to_owned(), action == "pause"));
    let method = request.method().clone();
    match (method, action) {
        (Method::POST | Method::PATCH, Some((id, pause))) => set_paused(&state, &id, pause)
            .await
            .map(IntoResponse::into_response),
        (Method::POST, None) => create(state, request)
            .await
            .map(IntoResponse::into_response),
        (Method::GET, None) => get(&state, &rest).await.map(IntoResponse::into_response),
        (Method::DELETE, None) => delete(&state, &rest).await.map(IntoResponse::into_response),
        (m, _) => Err(ApiError::MethodNotAllowed(format!(
            "{m} is not allowed on {path}"
        ))),
    }
}

/// `POST /v2/schedules/{destination}`: create, or overwrite by `Upstash-Schedule-Id`.
async fn create(state: AppState, request: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let rest = request
        .uri()
        .path()
        .strip_prefix("/v2/schedules/")
        .unwrap_or("");
    let destination = destination::from_path(rest, request.uri().query());
    // `?upstash-*` settings work here as on publish; `from_path` took them
    // out of the destination.
    let settings = headers::schedule(&headers::with_query(
        request.headers(),
        request.uri().query(),
    )?)?;
    create_schedule(&state, destination, settings, request).await
}

/// Creates a schedule from parsed settings; shared with `POST /v2/publish` +
/// `Upstash-Cron` (§4.1).
pub(super) async fn create_schedule(
    state: &AppState,
    destination: String,
    settings: headers::ScheduleHeaders,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let destination = destination::checked(&destination).map_err(ApiError::BadRequest)?;
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let now = state.clock.now_ms();
    let cron = &settings.cron;
    let schedule = Schedule {
        id: settings.schedule_id.unwrap_or_else(ids::schedule_id),
        destination,
        cron: cron.expression().to_owned(),
        cron_seconds: cron.has_seconds(),
        delivery: settings.delivery,
        body: body.to_vec(),
        misfire: settings.misfire,
        paused: false,
        created_at: now,
        next_fire_at: cron.next_after(now),
        last_fire_at: None,
        last_states: Default::default(),
        caller_ip: ip,
    };
    let stored = state.store.put_schedule(schedule).await?;
    state
        .engine
        .schedule_changed(&stored.id, stored.next_fire_at);
    let upcoming = cron.upcoming(now, UPCOMING);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "scheduleId": stored.id,
            "cron": stored.cron,
            "nextScheduleTimes": upcoming,
        })),
    ))
}

async fn get(state: &AppState, id: &str) -> ApiResult<Json<Value>> {
    match state.store.schedule(id).await? {
        Some(s) => Ok(Json(schedule_json(&s))),
        None => Err(not_found(id)),
    }
}

async fn delete(state: &AppState, id: &str) -> ApiResult<Json<Value>> {
    if !state.store.delete_schedule(id).await? {
        return Err(not_found(id));
    }
    state.engine.schedule_changed(id, None);
    Ok(Json(json!({})))
}

/// Pause and resume are idempotent (§4.5). Resuming does not catch up on the
/// slots that passed while paused: it arms the next slot after now.
async fn set_paused(state: &AppState, id: &str, pause: bool) -> ApiResult<Json<Value>> {
    let now = state.clock.now_ms();
    let updated = state
        .store
        .set_paused(id, pause, move |s| {
            CronSpec::parse(&s.cron, s.cron_seconds)
                .ok()
                .and_then(|spec| spec.next_after(now))
        })
        .await?;
    let Some(s) = updated else {
        return Err(not_found(id));
    };
    state.engine.schedule_changed(&s.id, s.next_fire_at);
    Ok(Json(json!({})))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("schedule {id:?} not found"))
}
