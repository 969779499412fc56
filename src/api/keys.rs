//! Signing keys (§4.10). The JS SDK's dev mode probes `GET /v2/keys` and only
//! accepts a server whose keys are exactly the dev user's (§1 rule 8).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiResult, AppState};

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    let keys = state.service.signing_keys();
    Json(json!({ "current": keys.current, "next": keys.next }))
}

/// The old next key becomes current; a new next key is made (§4.10).
pub async fn rotate(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rotated = state.service.rotate_keys().await?;
    Ok(Json(
        json!({ "current": rotated.current, "next": rotated.next }),
    ))
}
