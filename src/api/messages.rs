//! Messages (§4.4, §6.1): get one in flight, cancel one, cancel many.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde_json::{json, Value};

use super::query::{ids_from_body, Query, MESSAGE_FILTERS};
use super::view::message_json;
use super::{read_body, ApiResult, AppState};
use crate::service::MessageSelector;

/// Most messages one bulk cancel may name when it gives a `count`.
const MAX_COUNT: usize = 10_000;

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let m = state.service.message(&id).await?;
    Ok(Json(message_json(&m)))
}

/// `DELETE /v2/messages/{id}` → `{"cancelled": 1}` (a JS test relies on it).
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.service.cancel_message(&id).await?;
    Ok(Json(json!({ "cancelled": 1 })))
}

/// `DELETE /v2/messages`, in every form of the §4.4 table: ids in the query
/// or in a JSON body, filters with `count`, or nothing at all (= every
/// pending message, up to `count`). Anything else is refused, naming it.
pub async fn cancel_many(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let mut allowed = vec!["messageIds", "count"];
    allowed.extend(MESSAGE_FILTERS);
    query.only(&allowed, "DELETE /v2/messages")?;
    let body = read_body(request.into_body(), state.max_body).await?;
    let mut ids = query.all("messageIds");
    ids.extend(ids_from_body(&body, "messageIds")?.unwrap_or_default());
    let limit = query.count(usize::MAX, MAX_COUNT)?;
    let selector = if !ids.is_empty() {
        MessageSelector::Ids(ids)
    } else if query.has_any(&MESSAGE_FILTERS) {
        MessageSelector::Filter {
            filter: Box::new(query.filter()?),
            limit,
        }
    } else {
        MessageSelector::All { limit }
    };
    let cancelled = state.service.cancel_messages(selector).await?;
    Ok(Json(json!({ "cancelled": cancelled })))
}
