//! The QStash v2 REST API (axum), one file per resource.
//!
//! Handlers are small functions from request parts to typed responses; every
//! failure is an `ApiError`, mapped to a status and `{"error": "..."}` here and
//! nowhere else.

mod destination;
mod dlq;
pub mod headers;
mod keys;
mod logs;
mod messages;
mod publish;
mod query;
mod schedules;
mod view;
mod wait;
mod workflows;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::engine::EngineHandle;
use crate::model::SigningKeys;
use crate::store::{Store, StoreError};
use crate::workflow::WorkflowError;
use headers::HeaderError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: EngineHandle,
    pub clock: Arc<dyn Clock>,
    pub token: Arc<str>,
    pub keys: Arc<RwLock<SigningKeys>>,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a deduplication key suppresses repeats (§9.7).
    pub dedup_window_ms: i64,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("request body is larger than the limit of {limit} bytes (see --max-body)")]
    TooLarge { limit: usize },
    #[error("storage failed: {0}")]
    Store(StoreError),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

impl From<StoreError> for ApiError {
    /// A workflow rule the store enforces is the client's mistake (400),
    /// any other store failure is ours (500).
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Workflow(w) => ApiError::Workflow(w),
            other => ApiError::Store(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Header(_) | ApiError::BadRequest(_) | ApiError::Workflow(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Store(e) => {
                tracing::error!(error = %e, "request failed in the store");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/v2/schedules", get(schedules::list))
        .route("/v2/schedules/{*rest}", any(schedules::by_path))
        .route("/v2/publish/{*rest}", post(publish::publish))
        .route("/v2/enqueue/{*rest}", post(publish::enqueue))
        .route("/v2/batch", post(publish::batch))
        .route("/v2/messages", delete(messages::cancel_many))
        .route(
            "/v2/messages/{id}",
            get(messages::get).delete(messages::cancel),
        )
        .route("/v2/dlq", get(dlq::list).delete(dlq::delete_many))
        .route("/v2/dlq/retry", post(dlq::retry_many))
        .route("/v2/dlq/retry/{id}", post(dlq::retry_one))
        .route("/v2/dlq/{id}", get(dlq::get).delete(dlq::delete))
        .route("/v2/events", get(logs::list))
        .route("/v2/logs", get(logs::list))
        .route("/v2/workflows/runs", delete(workflows::cancel_many))
        .route(
            "/v2/workflows/runs/{id}",
            get(workflows::get_run).delete(workflows::end_run),
        )
        .route("/v2/workflows/events", get(workflows::logs))
        .route("/v2/workflows/dlq", delete(workflows::dlq_delete))
        .route("/v2/workflows/dlq/resume", post(workflows::dlq_resume))
        .route("/v2/workflows/dlq/restart", post(workflows::dlq_restart))
        .route(
            "/v2/workflows/dlq/callback/{id}",
            post(workflows::dlq_callback),
        )
        .route("/v2/wait/{event}", post(wait::wait))
        .route("/v2/notify/{event}", post(wait::notify))
        .route("/v2/notify/{run}/{event}", post(wait::notify_run))
        .route("/v2/waiters/{event}", get(wait::waiters))
        .route("/v2/keys", get(keys::get))
        .route("/v2/keys/rotate", post(keys::rotate))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(health))
        .merge(v2)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
}

/// `Authorization: Bearer <token>` or `?qstash_token=<token>` (§3), compared
/// in constant time.
async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let from_header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let from_query = || {
        request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("qstash_token="))
                .map(str::to_owned)
        })
    };
    let Some(given) = from_header.or_else(from_query) else {
        return Err(ApiError::Unauthorized(
            "missing token: send Authorization: Bearer <QSTASH_TOKEN>",
        ));
    };
    if !bool::from(given.as_bytes().ct_eq(state.token.as_bytes())) {
        return Err(ApiError::Unauthorized("invalid token"));
    }
    Ok(next.run(request).await)
}

/// Reads the whole body, refusing more than `limit` bytes with a 413.
pub(crate) async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::TooLarge { limit })
        }
        Err(e) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// The client's address, as QStash reports it (`callerIP`).
pub(crate) fn caller_ip(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}
