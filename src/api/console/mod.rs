//! The web console's own endpoints, under `/cronhook/v1/…`, and its files.
//! QStash routes stay QStash: whatever the console needs beyond them is here.

pub mod assets;
pub mod session;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::query::Query;
use super::view::schedule_json;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::cron::{CronSpec, DstChange};
use crate::model::{Firing, Millis, Schedule, ScheduleState};
use crate::service::{CronPreview, MAX_PREVIEW};

/// `GET /cronhook/v1/session`: whether this browser has a session, and
/// its CSRF token. With the public dev token on a loopback address (a local
/// dev tool) a session is opened without asking.
pub async fn session(State(state): State<AppState>, request: Request) -> Response {
    if let Some(csrf) =
        session::session_cookie(request.headers()).and_then(|id| state.sessions.csrf_of(&id))
    {
        return Json(json!({ "authenticated": true, "csrf": csrf, "devMode": state.open_console }))
            .into_response();
    }
    if state.open_console {
        return opened(&state);
    }
    Json(json!({ "authenticated": false, "devMode": false })).into_response()
}

/// A new session for this browser: the cookie and the CSRF token.
fn opened(state: &AppState) -> Response {
    let (id, csrf) = state.sessions.open();
    let mut response =
        Json(json!({ "authenticated": true, "csrf": csrf, "devMode": state.open_console }))
            .into_response();
    if let Ok(v) = session::set_cookie(&id).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// `POST /cronhook/v1/session` `{"token": "…"}`: logs in with the API token.
pub async fn login(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let body = read_body(request.into_body(), 64 * 1024).await?;
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("request body: expected {{\"token\": \"…\"}} ({e})"))
    })?;
    if !bool::from(login.token.trim().as_bytes().ct_eq(state.token.as_bytes())) {
        return Err(ApiError::Unauthorized("invalid token"));
    }
    Ok(opened(&state))
}

/// `DELETE /cronhook/v1/session`: logs out.
pub async fn logout(State(state): State<AppState>, request: Request) -> Response {
    if let Some(id) = session::session_cookie(request.headers()) {
        state.sessions.close(&id);
    }
    let mut response = Json(json!({})).into_response();
    if let Ok(v) = session::clear_cookie().parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `GET /cronhook/v1/overview`: counts, the last 24 h, the next firings and
/// the lines to paste into an app's environment.
pub async fn overview(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let o = state.service.overview(10).await?;
    let keys = state.service.signing_keys();
    let runs: Map<String, Value> = o
        .counts
        .runs
        .iter()
        .map(|(s, n)| (s.clone(), json!(n)))
        .collect();
    let mut env = vec![json!({ "name": "QSTASH_URL", "value": &*state.base_url })];
    if state.open_console {
        env.push(json!({ "name": "QSTASH_TOKEN", "value": state.token.as_ref() }));
    }
    env.push(json!({ "name": "QSTASH_CURRENT_SIGNING_KEY", "value": keys.current }));
    env.push(json!({ "name": "QSTASH_NEXT_SIGNING_KEY", "value": keys.next }));
    Ok(Json(json!({
        "schedules": {
            "active": o.counts.active_schedules,
            "paused": o.counts.paused_schedules,
            "ended": o.counts.ended_schedules,
        },
        "pendingMessages": o.counts.pending_messages,
        "dlq": o.counts.dlq,
        "runs": runs,
        "activity": o.activity.iter().map(|(at, delivered, failed)| {
            json!({ "from": at, "delivered": delivered, "failed": failed })
        }).collect::<Vec<_>>(),
        "nextFirings": o.next_firings.iter().map(|n| {
            json!({ "scheduleId": n.schedule_id, "destination": n.destination, "at": n.at })
        }).collect::<Vec<_>>(),
        "env": env,
        "tokenShown": state.open_console,
    })))
}

/// `GET /cronhook/v1/cron?expr=…[&seconds=true][&count=10]`: the
/// expression validated as `Upstash-Cron` is, in words, its next fire
/// times and notes on DST changes next to them. A bad expression is a 400
/// with the same error the create request gives.
pub async fn cron(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    query.only(&["expr", "seconds", "count"], "GET /cronhook/v1/cron")?;
    let Some(expr) = query.one("expr") else {
        return Err(ApiError::BadRequest(
            "expr: the cron expression is required".into(),
        ));
    };
    let seconds = query.boolean("seconds")?.unwrap_or(false);
    let count = query.count(10, MAX_PREVIEW)?;
    let p = state.service.cron_preview(expr, seconds, count)?;
    Ok(Json(cron_preview_json(&p)))
}

/// The JSON of a cron preview; the offline `cronhook cron --json` prints
/// the same object.
pub fn cron_preview_json(p: &CronPreview) -> Value {
    json!({
        "expression": p.expression,
        "description": p.description,
        "timezone": p.timezone,
        "next": p.next,
        "dst": p.notes.iter().map(|n| json!({
            "slot": n.slot,
            "changeAt": n.change_at,
            "kind": match n.kind {
                DstChange::Forward => "forward",
                DstChange::Back => "back",
            },
            "text": n.text,
        })).collect::<Vec<_>>(),
    })
}

/// A schedule with the console's extras: its cron in words.
fn listed(s: &Schedule, now: Millis) -> Value {
    let mut v = schedule_json(s, now);
    if let (Value::Object(o), Ok(spec)) = (&mut v, CronSpec::parse(&s.cron, s.cron_seconds)) {
        o.insert("description".into(), json!(spec.describe()));
        o.insert("timezone".into(), json!(spec.timezone().name()));
        o.insert("cronSeconds".into(), json!(s.cron_seconds));
    }
    v
}

/// `GET /cronhook/v1/schedules?state=active|paused|ended[&q=…][&cursor=…][&count=50]`:
/// a page of schedules, oldest first, and how many are active, paused and
/// ended.
pub async fn schedules(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let wanted = match query.one("state").unwrap_or("active") {
        "active" => ScheduleState::Active,
        "paused" => ScheduleState::Paused,
        "ended" => ScheduleState::Ended,
        other => {
            return Err(ApiError::BadRequest(format!(
                "state: \"{other}\" is not active, paused or ended"
            )))
        }
    };
    let cursor = match query.one("cursor") {
        None => None,
        Some(c) => Some(
            c.split_once('~')
                .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "cursor: \"{c}\" is not a cursor this server gave out"
                    ))
                })?,
        ),
    };
    let count = query.count(50, 500)?;
    let (page, next) = state
        .service
        .schedules_page(wanted, query.one("q").map(str::to_owned), cursor, count)
        .await?;
    let counts = state.service.counts().await?;
    let now = state.service.now();
    let mut o = Map::new();
    o.insert(
        "schedules".into(),
        Value::Array(page.iter().map(|s| listed(s, now)).collect()),
    );
    o.insert(
        "counts".into(),
        json!({
            "active": counts.active_schedules,
            "paused": counts.paused_schedules,
            "ended": counts.ended_schedules,
        }),
    );
    if let Some((t, id)) = next {
        o.insert("cursor".into(), json!(format!("{t}~{id}")));
    }
    Ok(Json(Value::Object(o)))
}

/// `GET /cronhook/v1/schedules/{id}`: the schedule, its next fire times
/// and its cron in words.
pub async fn schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = state.service.schedule(&id).await?;
    let mut v = listed(&s, state.service.now());
    if let Value::Object(o) = &mut v {
        if !s.paused {
            // Within its bounds: empty once it has ended.
            o.insert("next".into(), json!(state.service.schedule_next(&s, 10)));
        }
    }
    Ok(Json(v))
}

fn firing_json(f: &Firing) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), json!(f.kind.as_str()));
    o.insert("firedAt".into(), json!(f.fired_at));
    if let Some(slot) = f.slot_at {
        o.insert("slot".into(), json!(slot));
    }
    if let Some(m) = &f.message_id {
        o.insert("messageId".into(), json!(m));
    }
    if let Some(r) = &f.reason {
        o.insert("reason".into(), json!(r));
    }
    if let Some(out) = &f.outcome {
        o.insert("state".into(), json!(out.state.as_str()));
        o.insert("attempts".into(), json!(out.attempts));
        if let Some(t) = out.first_attempt_at {
            o.insert("firstAttemptAt".into(), json!(t));
            let planned = f.slot_at.unwrap_or(f.fired_at);
            o.insert("latenessMs".into(), json!(t - planned));
        }
        if let Some(s) = out.status {
            o.insert("status".into(), json!(s));
        }
        if let Some(ms) = out.response_ms {
            o.insert("responseMs".into(), json!(ms));
        }
    }
    Value::Object(o)
}

/// `GET /cronhook/v1/schedules/{id}/history[?cursor=…][&count=50]`: the
/// schedule's fire history, newest first: fired slots, manual runs and
/// missed slots with the reason, each with how its message did.
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let count = query.count(50, 500)?;
    let (page, next) = state
        .service
        .schedule_history(&id, query.cursor()?, count)
        .await?;
    let mut o = Map::new();
    o.insert(
        "firings".into(),
        Value::Array(page.iter().map(firing_json).collect()),
    );
    if let Some(n) = next {
        o.insert("cursor".into(), json!(n.to_string()));
    }
    Ok(Json(Value::Object(o)))
}

/// `POST /cronhook/v1/schedules/{id}/trigger`: runs the schedule now, once
/// (its next slot does not move): 201 `{messageId}`.
pub async fn trigger(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let message_id = state.service.trigger_schedule(&id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "messageId": message_id })),
    ))
}

/// `GET /cronhook/v1/logs/histogram?fromDate=…&toDate=…[&buckets=48][&scheduleId=…]`:
/// log entries per time bucket and state.
pub async fn histogram(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    query.only(
        &["fromDate", "toDate", "buckets", "scheduleId"],
        "GET /cronhook/v1/logs/histogram",
    )?;
    let need = |key: &str| {
        query
            .int(key)?
            .ok_or_else(|| ApiError::BadRequest(format!("{key}: required (Unix ms)")))
    };
    let (from, to) = (need("fromDate")?, need("toDate")?);
    let buckets = query.int("buckets")?.unwrap_or(48);
    if !(1..=500).contains(&buckets) {
        return Err(ApiError::BadRequest(format!(
            "buckets: {buckets} is not from 1 to 500"
        )));
    }
    let rows = state
        .service
        .log_histogram(
            from,
            to,
            buckets as usize,
            query.one("scheduleId").map(str::to_owned),
        )
        .await?;
    let mut buckets: Vec<(i64, Map<String, Value>)> = Vec::new();
    for (at, st, n) in rows {
        if buckets.last().is_none_or(|(b, _)| *b != at) {
            buckets.push((at, Map::new()));
        }
        if let Some((_, counts)) = buckets.last_mut() {
            counts.insert(st, json!(n));
        }
    }
    Ok(Json(json!({
        "buckets": buckets.into_iter().map(|(at, counts)| json!({ "from": at, "counts": counts })).collect::<Vec<_>>(),
    })))
}

/// `GET /cronhook/v1/settings`: the version, the database and the settings
/// in force (no secrets).
pub async fn settings(State(state): State<AppState>) -> Json<Value> {
    let (shown, path, bytes) = state.service.shown_settings().await;
    Json(json!({
        "version": shown.version,
        "database": { "path": path, "bytes": bytes },
        "settings": shown.settings.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>(),
    }))
}

/// `POST /cronhook/v1/backup`: a consistent copy of the whole database,
/// made while cronhook runs (SQLite's online backup, in one read
/// snapshot), streamed as `application/vnd.sqlite3`. A POST because it
/// does work (a copy the size of the database), not a page to fetch.
pub async fn backup(State(state): State<AppState>) -> ApiResult<Response> {
    let (file, len) = state.service.backup().await?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/vnd.sqlite3".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cronhook-backup.db\"".to_owned(),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
