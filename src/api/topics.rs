//! URL groups, QStash's "topics" (§4.7, §6.5): endpoints are added and
//! removed with a JSON body (also on DELETE), groups listed, read and
//! deleted.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::destination::validate_url;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::model::{Endpoint, EndpointSelector, UrlGroup};

/// A group as §6.5 shows it; an endpoint's `name` is omitted when it has none.
fn group_json(g: &UrlGroup) -> Value {
    let endpoints: Vec<Value> = g
        .endpoints
        .iter()
        .map(|e| {
            let mut o = Map::new();
            if let Some(n) = &e.name {
                o.insert("name".into(), json!(n));
            }
            o.insert("url".into(), json!(e.url));
            Value::Object(o)
        })
        .collect();
    json!({
        "name": g.name,
        "createdAt": g.created_at,
        "updatedAt": g.updated_at,
        "endpoints": endpoints,
    })
}

fn bad(field: &str, problem: &str) -> ApiError {
    ApiError::BadRequest(format!("{field}: {problem}"))
}

/// One entry of `endpoints`: `name` and `url`, each a string if present.
/// `url`, when given, must be an absolute http(s) URL.
fn entry(i: usize, raw: &Value) -> ApiResult<EndpointSelector> {
    let Some(o) = raw.as_object() else {
        return Err(bad(
            &format!("endpoints[{i}]"),
            "must be an object {\"name\"?, \"url\"}",
        ));
    };
    if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "name" | "url")) {
        return Err(bad(
            &format!("endpoints[{i}].{k}"),
            "unknown field (an endpoint has only name and url)",
        ));
    }
    let text = |key: &str| -> ApiResult<Option<String>> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => {
                Err(bad(&format!("endpoints[{i}].{key}"), "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("endpoints[{i}].{key}"), "must be a string")),
        }
    };
    let name = text("name")?;
    let url = text("url")?
        .map(|u| validate_url(&u).map_err(|e| bad(&format!("endpoints[{i}].url"), &e)))
        .transpose()?;
    Ok(EndpointSelector { name, url })
}

/// The `endpoints` array of a request body.
async fn endpoints_of(state: &AppState, request: Request) -> ApiResult<Vec<EndpointSelector>> {
    let body = read_body(request.into_body(), state.max_body).await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body must be JSON {{\"endpoints\":[{{\"name\"?, \"url\"}}]}}: {e}"
        ))
    })?;
    let Some(list) = value.get("endpoints") else {
        return Err(bad("endpoints", "missing"));
    };
    let Some(list) = list.as_array() else {
        return Err(bad("endpoints", "must be an array"));
    };
    list.iter().enumerate().map(|(i, e)| entry(i, e)).collect()
}

/// `POST /v2/topics/{name}/endpoints`: creates the group if needed and
/// adds or updates the endpoints; every endpoint needs a `url`.
pub async fn add_endpoints(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let mut endpoints = Vec::new();
    for (i, s) in endpoints_of(&state, request).await?.into_iter().enumerate() {
        let Some(url) = s.url else {
            return Err(bad(&format!("endpoints[{i}].url"), "missing"));
        };
        endpoints.push(Endpoint { name: s.name, url });
    }
    let group = state.service.upsert_endpoints(&name, endpoints).await?;
    Ok(Json(group_json(&group)))
}

/// `DELETE /v2/topics/{name}/endpoints`: removes the endpoints named by
/// `name`, `url` or both; answers how many went.
pub async fn remove_endpoints(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let selectors = endpoints_of(&state, request).await?;
    let removed = state.service.remove_endpoints(&name, selectors).await?;
    Ok(Json(json!({ "removed": removed })))
}

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let all = state.service.url_groups().await?;
    Ok(Json(Value::Array(all.iter().map(group_json).collect())))
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(group_json(&state.service.url_group(&name).await?)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.service.delete_url_group(&name).await?;
    Ok(Json(json!({})))
}
