//! `GET /cronhook/v1/cluster`: this node, whether it leads, and every node
//! on the database (README, "Running on PostgreSQL"). On SQLite: no id, the
//! one node leads, an empty list.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiResult, AppState};

pub async fn get(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let view = state.service.cluster().await?;
    let nodes: Vec<Value> = view
        .nodes
        .iter()
        .map(|n| {
            json!({
                "node": n.node,
                "url": n.url,
                "startedAt": n.started_at,
                "seenAt": n.seen_at,
                "leader": n.leader,
                "self": view.node.as_deref() == Some(n.node.as_str()),
            })
        })
        .collect();
    Ok(Json(json!({
        "node": view.node,
        "leader": view.leader,
        "nodes": nodes,
    })))
}
