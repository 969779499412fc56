//! Signing keys (§4.10). The JS SDK's dev mode probes this endpoint and only
//! accepts a server whose keys are exactly the dev user's (§1 rule 8).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    let keys = state.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
    Json(json!({ "current": keys.current, "next": keys.next }))
}
