//! Schedules (§4.5, §6.3): create, list, get, delete, pause, resume.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream;
use serde_json::{json, Value};

use super::destination;
use super::headers::{self, validate_schedule_id};
use super::view::schedule_json;
use super::{caller_ip, read_body, ApiError, ApiResult, AppState};
use crate::model::{Millis, Schedule};
use crate::service::{ScheduleListing, ScheduleRequest};

/// `GET /v2/schedules`: the JSON array of every schedule, oldest first,
/// streamed (chunked) a [`LIST_CHUNK`](crate::service::LIST_CHUNK) at a
/// time, so memory does not grow with the number of schedules and the first
/// byte does not wait for the last row.
///
/// The body is pulled: hyper asks for the next part only when the socket
/// took the last, and only then is the next chunk read, so a slow client
/// slows the listing down instead of making the server buffer it. The first
/// chunk is read before answering, so a store that cannot be read is an
/// error status; a failure later is logged once and cuts the body off
/// (no terminating chunk), which a client sees as a truncated response.
pub async fn list(State(state): State<AppState>) -> ApiResult<Response> {
    let mut listing = state.service.schedule_listing();
    let first = listing.next_chunk().await?;
    let streamed = Streamed {
        listing,
        now: state.service.now(),
        first,
        opened: false,
        ended: false,
    };
    let body = stream::unfold(streamed, Streamed::next_part);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// A listing being rendered: `[`, the rows separated by commas, `]`: the
/// same bytes as serialising the whole array at once.
struct Streamed {
    listing: ScheduleListing,
    /// One instant for every row's `state`, as one array would have.
    now: Millis,
    /// The chunk read before answering (`None` once sent, or when there
    /// was none: the listing is then over and reads nothing more).
    first: Option<Vec<Schedule>>,
    /// Whether `[` has been sent.
    opened: bool,
    ended: bool,
}

impl Streamed {
    async fn next_part(mut self) -> Option<(std::io::Result<Bytes>, Streamed)> {
        if self.ended {
            return None;
        }
        let chunk = match self.first.take() {
            Some(first) => Ok(Some(first)),
            None => self.listing.next_chunk().await,
        };
        let part = match chunk {
            Ok(Some(rows)) => {
                let mut out = Vec::with_capacity(rows.len() * 512);
                out.push(if self.opened { b',' } else { b'[' });
                self.opened = true;
                for (i, s) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &schedule_json(s, self.now))
                        .expect("JSON values serialise");
                }
                Ok(Bytes::from(out))
            }
            Ok(None) => {
                self.ended = true;
                Ok(Bytes::from_static(if self.opened { b"]" } else { b"[]" }))
            }
            Err(e) => {
                self.ended = true;
                tracing::error!(error = %e, "GET /v2/schedules: the listing failed part way; the response is cut off");
                Err(std::io::Error::other("the listing failed part way"))
            }
        };
        Some((part, self))
    }
}

/// Everything under `/v2/schedules/…`, routed by hand because the rest of the
/// path is either a destination URL (with `//` and a query) or `{id}[/action]`
/// (§2.3).
pub async fn by_path(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<axum::response::Response> {
    let path = request.uri().path();
    let rest = path.strip_prefix("/v2/schedules/").unwrap_or("").to_owned();
    let is_url = destination::looks_like_url(&rest);
    let action = rest
        .rsplit_once('/')
        .filter(|(id, action)| {
            !is_url && validate_schedule_id(id).is_ok() && matches!(*action, "pause" | "resume")
        })
        .map(|(id, action)| (id.to_owned(), action == "pause"));
    let method = request.method().clone();
    match (method, action) {
        (Method::POST | Method::PATCH, Some((id, pause))) => {
            state.service.set_paused(&id, pause).await?;
            Ok(Json(json!({})).into_response())
        }
        (Method::POST, None) => create(state, request)
            .await
            .map(IntoResponse::into_response),
        (Method::GET, None) => {
            let s = state.service.schedule(&rest).await?;
            Ok(Json(schedule_json(&s, state.service.now())).into_response())
        }
        (Method::DELETE, None) => {
            state.service.delete_schedule(&rest).await?;
            Ok(Json(json!({})).into_response())
        }
        (m, _) => Err(ApiError::MethodNotAllowed(format!(
            "{m} is not allowed on {path}"
        ))),
    }
}

/// `POST /v2/schedules/{destination}`: create, or overwrite by `Upstash-Schedule-Id`.
async fn create(state: AppState, request: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let rest = request
        .uri()
        .path()
        .strip_prefix("/v2/schedules/")
        .unwrap_or("");
    let destination = destination::from_path(rest, request.uri().query());
    // `?upstash-*` settings work here as on publish; `from_path` took them
    // out of the destination. Without a query there is nothing to merge, and
    // the header map is read as it is instead of copied.
    let settings = match request.uri().query() {
        None => headers::schedule(request.headers())?,
        query => headers::schedule(&headers::with_query(request.headers(), query)?)?,
    };
    create_schedule(&state, destination, settings, request).await
}

/// Creates a schedule from parsed settings; shared with `POST /v2/publish` +
/// `Upstash-Cron` (§4.1).
pub(super) async fn create_schedule(
    state: &AppState,
    destination: String,
    settings: headers::ScheduleHeaders,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // A URL group's endpoints are read at each firing (§10), so the group
    // need not exist yet.
    let destination = destination::parse(&destination)
        .map_err(ApiError::BadRequest)?
        .as_str()
        .to_owned();
    let ip = caller_ip(&request);
    let body = read_body(request.into_body(), state.max_body).await?;
    let created = state
        .service
        .create_schedule(ScheduleRequest {
            destination,
            cron: settings.cron,
            schedule_id: settings.schedule_id,
            misfire: settings.misfire,
            delivery: settings.delivery,
            body: body.to_vec(),
            caller_ip: ip,
            start_at: settings.start_at,
            end_at: settings.end_at,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "scheduleId": created.id,
            "cron": created.cron,
            "nextScheduleTimes": created.upcoming,
        })),
    ))
}
