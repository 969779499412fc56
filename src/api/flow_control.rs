//! Flow control (§4.11): `GET /v2/flowControl[/{key}]`,
//! `GET /v2/globalParallelism` and the actions on a key. Query values are
//! strict: a bad one is a 400 that names its parameter.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::query::Query;
use super::{ApiError, ApiResult, AppState};
use crate::duration::parse_duration;
use crate::model::{FlowAction, FlowPin};
use crate::service::FlowInfo;

/// The longest rate period (§5.1).
const MAX_PERIOD_S: u64 = 7 * 86_400;

/// FlowControlInfo (§6.7). Unlimited is 0; `ratePeriodStart` is in Unix
/// seconds, 0 while no period is running.
fn info_json(i: &FlowInfo) -> Value {
    json!({
        "flowControlKey": i.key,
        "waitListSize": i.live.waiting,
        "parallelismMax": i.limits.parallelism.unwrap_or(0),
        "parallelismCount": i.live.in_flight,
        "rateMax": i.limits.rate.unwrap_or(0),
        "rateCount": i.live.rate_count,
        "ratePeriod": i.limits.period,
        "ratePeriodStart": i.period_start() / 1000,
        "isPaused": i.paused,
        "isPinnedParallelism": i.pinned_parallelism,
        "isPinnedRate": i.pinned_rate,
    })
}

/// `GET /v2/flowControl?search=`: every key whose name contains `search`.
pub async fn list(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    query.only(&["search"], "GET /v2/flowControl")?;
    let keys = state
        .service
        .flow_keys(query.one("search").unwrap_or(""))
        .await?;
    Ok(Json(Value::Array(keys.iter().map(info_json).collect())))
}

pub async fn get(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(info_json(&state.service.flow_key(&key).await?)))
}

pub async fn global_parallelism(State(state): State<AppState>) -> Json<Value> {
    let (max, count) = state.service.global_parallelism();
    Json(json!({ "parallelismMax": max, "parallelismCount": count }))
}

/// `POST /v2/flowControl/{key}/{action}`.
pub async fn action(
    State(state): State<AppState>,
    Path((key, action)): Path<(String, String)>,
    request: Request,
) -> ApiResult<StatusCode> {
    let query = Query::parse(request.uri().query())?;
    let action = parse_action(&action, &query)?;
    state.service.flow_action(&key, action).await?;
    Ok(StatusCode::OK)
}

fn parse_action(name: &str, query: &Query) -> Result<FlowAction, ApiError> {
    let what = format!("POST /v2/flowControl/{{key}}/{name}");
    let action = match name {
        "pause" | "resume" | "resetRate" => {
            query.only(&[], &what)?;
            match name {
                "pause" => FlowAction::Pause,
                "resume" => FlowAction::Resume,
                _ => FlowAction::ResetRate,
            }
        }
        "pin" => {
            query.only(&["parallelism", "rate", "period"], &what)?;
            FlowAction::Pin(FlowPin {
                parallelism: positive(query, "parallelism")?,
                rate: positive(query, "rate")?,
                period: period(query)?,
            })
        }
        "unpin" => {
            query.only(&["parallelism", "rate"], &what)?;
            let parallelism = query.boolean("parallelism")?;
            let rate = query.boolean("rate")?;
            if parallelism.is_none() && rate.is_none() {
                return Err(ApiError::BadRequest(
                    "unpin: give parallelism=true or rate=true".into(),
                ));
            }
            FlowAction::Unpin {
                parallelism: parallelism.unwrap_or(false),
                rate: rate.unwrap_or(false),
            }
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no such flow-control action \"{other}\"; use pause, resume, resetRate, pin, unpin"
            )))
        }
    };
    Ok(action)
}

fn positive(query: &Query, key: &str) -> Result<Option<u32>, ApiError> {
    let Some(v) = query.one(key) else {
        return Ok(None);
    };
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest(format!("{key}: \"{v}\" is not a whole number > 0")))
}

/// Seconds, or a duration such as `1m`; from 1 s to 1 week.
fn period(query: &Query) -> Result<Option<u64>, ApiError> {
    let Some(v) = query.one("period") else {
        return Ok(None);
    };
    let v = v.trim();
    let secs = match v.parse::<u64>() {
        Ok(n) => n,
        Err(_) => parse_duration(v)
            .map_err(|e| ApiError::BadRequest(format!("period: \"{v}\": {e}")))?
            .as_secs(),
    };
    if secs == 0 || secs > MAX_PERIOD_S {
        return Err(ApiError::BadRequest(format!(
            "period: \"{v}\" must be from 1s to 1 week"
        )));
    }
    Ok(Some(secs))
}
