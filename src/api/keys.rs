//! Signing keys (§4.10). The JS SDK's dev mode probes `GET /v2/keys` and only
//! accepts a server whose keys are exactly the dev user's (§1 rule 8).

use axum::extract::State;
use axum::Json;
use rand::Rng;
use serde_json::{json, Value};

use super::{ApiResult, AppState};

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    let keys = state.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
    Json(json!({ "current": keys.current, "next": keys.next }))
}

/// The old next key becomes current; a new next key is made. Persisted, and
/// used for every delivery signed from now on.
pub async fn rotate(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rotated = state.store.rotate_keys(new_key()).await?;
    *state.keys.write().unwrap_or_else(|p| p.into_inner()) = rotated.clone();
    tracing::info!("signing keys rotated");
    Ok(Json(
        json!({ "current": rotated.current, "next": rotated.next }),
    ))
}

/// `sig_` and 28 base58 characters, like QStash's keys.
fn new_key() -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..28)
        .map(|_| BASE58[rng.random_range(0..BASE58.len())] as char)
        .collect();
    format!("sig_{tail}")
}
