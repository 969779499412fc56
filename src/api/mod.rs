//! The QStash v2 REST API (axum), one file per resource.
//!
//! Handlers are small functions from request parts to typed responses: they
//! parse, call one `Service` method, and render. Every failure is an
//! `ApiError`, mapped to a status and `{"error": "..."}` here and nowhere
//! else; the few answers axum makes itself (a path it cannot decode) are
//! given the same shape by `json_errors`.

pub mod apply;
mod cluster;
pub mod console;
pub mod destination;
mod dlq;
mod flow_control;
pub mod headers;
mod hooks;
mod keys;
mod logs;
mod messages;
mod metrics;
mod publish;
mod query;
mod queues;
mod schedules;
pub mod server;
mod topics;
mod view;
mod wait;
mod workflows;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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

pub use metrics::metrics_router;

use crate::service::{Service, ServiceError};
use headers::HeaderError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub token: Arc<str>,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// The console's sessions.
    pub sessions: Arc<console::session::Sessions>,
    /// The public dev token on a loopback address: the console opens
    /// without a login, as a local dev tool should.
    pub open_console: bool,
    /// `http://<addr>`, the `QSTASH_URL` the console shows (shared: the
    /// state is cloned for every request).
    pub base_url: Arc<str>,
}

/// How long a request body may take to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

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
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("request body is larger than the limit of {limit} bytes (see --max-body)")]
    TooLarge { limit: usize },
    #[error("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs())]
    BodyTimeout,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Header(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Service(e) => match e {
                ServiceError::Invalid(_) | ServiceError::Workflow(_) => StatusCode::BAD_REQUEST,
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::Unavailable(why) => {
                    tracing::warn!(error = %why, "a write was refused: the database cannot be written");
                    StatusCode::SERVICE_UNAVAILABLE
                }
                ServiceError::Store(e) => {
                    tracing::error!(error = %e, "request failed in the store");
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({ "error": "internal error; see cronhook's log" })),
                    )
                        .into_response();
                }
            },
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
        .route("/v2/queues", get(queues::list).post(queues::upsert))
        .route("/v2/queues/", get(queues::list).post(queues::upsert))
        .route("/v2/queues/{name}", get(queues::get).delete(queues::delete))
        .route("/v2/queues/{name}/pause", post(queues::pause))
        .route("/v2/queues/{name}/resume", post(queues::resume))
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
        .route("/v2/topics", get(topics::list))
        .route("/v2/topics/{name}", get(topics::get).delete(topics::delete))
        .route(
            "/v2/topics/{name}/endpoints",
            post(topics::add_endpoints).delete(topics::remove_endpoints),
        )
        .route("/v2/flowControl", get(flow_control::list))
        .route("/v2/flowControl/{key}", get(flow_control::get))
        .route("/v2/flowControl/{key}/{action}", post(flow_control::action))
        .route(
            "/v2/globalParallelism",
            get(flow_control::global_parallelism),
        )
        .route("/v2/keys", get(keys::get))
        .route("/v2/keys/rotate", post(keys::rotate))
        .route("/cronhook/v1/session", delete(console::logout))
        .route("/cronhook/v1/overview", get(console::overview))
        .route("/cronhook/v1/cron", get(console::cron))
        .route("/cronhook/v1/schedules", get(console::schedules))
        .route("/cronhook/v1/schedules/{id}", get(console::schedule))
        .route("/cronhook/v1/schedules/{id}/history", get(console::history))
        .route(
            "/cronhook/v1/schedules/{id}/trigger",
            post(console::trigger),
        )
        .route("/cronhook/v1/logs/histogram", get(console::histogram))
        .route("/cronhook/v1/settings", get(console::settings))
        .route("/cronhook/v1/backup", post(console::backup))
        .route("/cronhook/v1/cluster", get(cluster::get))
        .route("/metrics", get(metrics::scrape))
        .route("/cronhook/v1/apply", post(apply::apply))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(health))
        .route("/", get(console::assets::index))
        .route("/console/{*path}", get(console::assets::file))
        .route(
            "/cronhook/v1/session",
            get(console::session).post(console::login),
        )
        // Called by third parties without a token: the URL is the secret
        // (workflow-wire §3.7).
        .route("/v2/workflows/hooks/{user}/{run}/{event}", any(hooks::call))
        .merge(v2)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// Ready (200) while the database takes writes; 503 with the reason while
/// it does not (a read-only mount, a full disk), so a load balancer or an
/// orchestrator stops sending writes that would fail.
async fn health(State(state): State<AppState>) -> Response {
    match state.service.readiness().await {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": why })),
        )
            .into_response(),
    }
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

/// Gives the error answers axum makes by itself (a path segment that is
/// not valid percent-encoding, say) the API's `{"error": "..."}` shape.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let body = match Limited::new(response.into_body(), 16 * 1024)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let text = if body.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        body.trim().to_owned()
    };
    (status, Json(json!({ "error": text }))).into_response()
}

/// The token of `?qstash_token=…`, percent-decoded (URL libraries encode the
/// dev token's trailing `=` as `%3D`). A `+` stays a `+`: tokens are base64,
/// and decoding it to a space, as HTML forms would, breaks them.
fn query_token(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let raw = pair.strip_prefix("qstash_token=")?;
        Some(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned(),
        )
    })
}

/// `Authorization: Bearer <token>` or `?qstash_token=<token>` (§3), compared
/// in constant time; or the console's session cookie, with its CSRF token
/// in `X-Cronhook-Csrf` on every request that may change something.
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
    let given = from_header.or_else(|| request.uri().query().and_then(query_token));
    let Some(given) = given else {
        return by_session(&state, request, next).await;
    };
    if !bool::from(given.as_bytes().ct_eq(state.token.as_bytes())) {
        return Err(ApiError::Unauthorized("invalid token"));
    }
    Ok(next.run(request).await)
}

/// Lets a request with a console session through; one that may change
/// something must also carry the session's CSRF token, which another site
/// cannot know (the cookie alone, which a browser sends along, is not
/// enough).
async fn by_session(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(id) = console::session::session_cookie(request.headers()) else {
        return Err(ApiError::Unauthorized(
            "missing token: send Authorization: Bearer <QSTASH_TOKEN>",
        ));
    };
    let Some(csrf) = state.sessions.csrf_of(&id) else {
        return Err(ApiError::Unauthorized(
            "the console session has expired: log in again",
        ));
    };
    let safe = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
    let sent = request
        .headers()
        .get(console::session::CSRF_HEADER)
        .map(|v| v.as_bytes().ct_eq(csrf.as_bytes()).into())
        .unwrap_or(false);
    if !safe && !sent {
        return Err(ApiError::Forbidden(
            "missing or wrong X-Cronhook-Csrf header: requests that change something need \
             the console session's CSRF token",
        ));
    }
    Ok(next.run(request).await)
}

/// Reads the whole body, refusing more than `limit` bytes with a 413 and a
/// body that takes longer than `BODY_TIMEOUT` with a 408 (a slow sender
/// must not hold a connection and its memory forever).
pub(crate) async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::TooLarge { limit })
        }
        Ok(Err(e)) => Err(ApiError::BadRequest(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_token_is_percent_decoded_but_plus_stays_plus() {
        let table = [
            ("qstash_token=abc%3D", Some("abc=")),
            ("x=1&qstash_token=a+b", Some("a+b")),
            ("qstash_token=plain", Some("plain")),
            ("other=1", None),
        ];
        for (query, want) in table {
            assert_eq!(query_token(query).as_deref(), want, "{query}");
        }
    }
}
