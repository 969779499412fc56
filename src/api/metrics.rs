//! `GET /metrics`: Prometheus text of every `cronhook_*` family. On the
//! main listener it is behind the token like the API; `metrics_router`
//! serves it alone, without one, for `--metrics-listen`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::{not_found, ApiResult, AppState};

pub(super) async fn scrape(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let text = state.service.metrics_text().await?;
    Ok(([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text))
}

/// The router of the metrics-only listener: `/metrics`, nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .with_state(state)
}
