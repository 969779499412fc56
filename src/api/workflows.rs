//! Workflow runs: the run log, ending and cancelling runs, their logs, and
//! the workflow DLQ calls (workflow-wire §1 rows 3–5, 10–12; §3.10).

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Map, Value};

use super::query::{dlq_filters, Query};
use super::view::dlq_json;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::service::{WorkflowDlqEntry, WorkflowDlqFilter};
use crate::store::{FailureInfo, Revive, ReviveOverrides, RunCursor, RunSelection};
use crate::workflow::run_log::{failure_json, raw_steps, step_logs, RunLog};
use crate::workflow::{Run, RunState};

/// `GET /v2/workflows/runs/{id}`: the whole log as `RawStep[]`, for the
/// SDK's lazy fetch. 404 once the run has ended: the SDK reads that as
/// "workflow already ended" (workflow-wire §1 row 5).
pub async fn get_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<(StatusCode, Vec<u8>)> {
    let log = state.service.run_log(&run_id).await?;
    Ok((StatusCode::OK, raw_steps(&log)))
}

/// `DELETE /v2/workflows/runs/{id}?cancel=false|true`: the SDK's "done"
/// (with the route's result as body) or `context.cancel()`. Always 2xx, also
/// for an ended or unknown run: the SDK deletes twice and treats any error
/// here as its own failure (workflow-wire §1 row 3).
pub async fn end_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let cancel = query.boolean("cancel")?.unwrap_or(false);
    let body = read_body(request.into_body(), state.max_body).await?;
    let response = (!body.is_empty()).then(|| body.to_vec());
    state.service.end_run(&run_id, cancel, response).await?;
    Ok(Json(json!({})))
}

/// The query keys a bulk cancel understands. Any other key, and a key
/// without a value, is refused rather than ignored: ignoring a filter would
/// cancel more than asked.
const CANCEL_KEYS: [&str; 8] = [
    "workflowRunIds",
    "workflowUrl",
    "workflowUrlExactMatch",
    "label",
    "fromDate",
    "toDate",
    "count",
    "cursor",
];

/// `DELETE /v2/workflows/runs?workflowRunIds=…|workflowUrl=…[&workflowUrlExactMatch=true]|…`
/// (`client.cancel`, workflow-wire §1 row 10): `{cancelled: n}`. No filter
/// means every running run (`{all: true}` sends only `count`).
pub async fn cancel_many(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    query.only(&CANCEL_KEYS, "workflow cancel")?;
    let selection = selection(&query)?;
    let limit = query.count(usize::MAX, usize::MAX)?;
    let cancelled = state.service.cancel_runs(selection, limit).await?;
    Ok(Json(json!({ "cancelled": cancelled })))
}

fn selection(query: &Query) -> ApiResult<RunSelection> {
    let mut run_ids = query.all("workflowRunIds");
    run_ids.extend(query.all("workflowRunId"));
    let states = query
        .all("state")
        .iter()
        .map(|s| {
            RunState::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "state: \"{s}\" is not one of RUN_STARTED, RUN_SUCCESS, RUN_FAILED, RUN_CANCELED"
                ))
            })
        })
        .collect::<ApiResult<_>>()?;
    let mut from = query.int("fromDate")?;
    let mut to = query.int("toDate")?;
    if let Some(at) = query.int("workflowCreatedAt")? {
        (from, to) = (Some(at), Some(at));
    }
    Ok(RunSelection {
        run_ids,
        url: query.one("workflowUrl").map(str::to_owned),
        url_exact: query
            .one("workflowUrlExactMatch")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        labels: query.all("label"),
        states,
        from,
        to,
    })
}

/// Page size of `client.logs` when `count` is not given.
const LOGS_PAGE: usize = 10;

/// `GET /v2/workflows/events?groupBy=workflowRunId&…` (`client.logs`,
/// workflow-wire §1 row 11): `{cursor?, runs: WorkflowRunLog[]}`, newest run first.
pub async fn logs(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let mut selection = selection(&query)?;
    // In the logs a workflowUrl filter is the whole URL.
    selection.url_exact = selection.url.is_some();
    let count = query.count(LOGS_PAGE, 1000)?;
    let (runs, next) = state
        .service
        .logs_page(selection, run_cursor(&query)?, count)
        .await?;
    let mut o = Map::new();
    if let Some((created, run_id)) = next {
        o.insert("cursor".into(), json!(format!("{created}-{run_id}")));
    }
    o.insert(
        "runs".into(),
        Value::Array(runs.iter().map(run_json).collect()),
    );
    Ok(Json(Value::Object(o)))
}

/// The runs cursor is `<createdAt>-<runId>`: where the last page stopped
/// (opaque to clients).
fn run_cursor(query: &Query) -> ApiResult<Option<RunCursor>> {
    let Some(raw) = query.one("cursor") else {
        return Ok(None);
    };
    raw.split_once('-')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cursor: \"{raw}\" is not a cursor this server gave out"
            ))
        })
}

/// `WorkflowRunLog` with the fields the SDK's type declares. `invoker` is
/// left out (the parent is known, but the logs contract is silent on it).
fn run_json(r: &RunLog) -> Value {
    let (run, log, trail) = (&r.run, &r.log, &r.trail);
    let mut o = Map::new();
    o.insert("workflowRunId".into(), json!(run.run_id));
    o.insert("workflowUrl".into(), json!(run.url));
    o.insert("workflowState".into(), json!(run.state.as_str()));
    o.insert("workflowRunCreatedAt".into(), json!(run.created_at));
    if let Some(t) = run.ended_at {
        o.insert("workflowRunCompletedAt".into(), json!(t));
    }
    o.insert("steps".into(), Value::Array(step_logs(run, log, trail)));
    if let Some(id) = &trail.dlq_id {
        o.insert("dlqId".into(), json!(id));
    }
    if let Some(f) = &trail.failure {
        o.insert("failureFunction".into(), failure_json(f));
    }
    if let Some(r) = &run.response {
        let text = String::from_utf8(r.clone()).unwrap_or_else(|_| STANDARD.encode(r));
        o.insert("workflowRunResponse".into(), json!(text));
    }
    if let Some(first) = run.config.labels.first() {
        o.insert("label".into(), json!(first));
        o.insert("labels".into(), json!(run.config.labels));
    }
    Value::Object(o)
}

/// The keys a `client.dlq` call may send.
fn workflow_dlq_keys() -> Vec<&'static str> {
    let mut keys = vec![
        "dlqIds",
        "workflowRunId",
        "workflowUrl",
        "workflowCreatedAt",
        "count",
        "cursor",
    ];
    keys.extend(dlq_filters());
    keys
}

/// The failed steps a `client.dlq` call means: `dlqIds`, or the filters
/// (`workflowRunId`, `workflowUrl`, `workflowCreatedAt` and the usual DLQ
/// ones).
fn workflow_dlq_filter(query: &Query) -> ApiResult<WorkflowDlqFilter> {
    Ok(WorkflowDlqFilter {
        ids: query.all("dlqIds"),
        filter: query.filter()?,
        cursor: query.cursor()?,
        run_ids: query.all("workflowRunId"),
        url: query.one("workflowUrl").map(str::to_owned),
        created_at: query.int("workflowCreatedAt")?,
    })
}

/// `GET /v2/dlq?source=workflow` (`client.dlq.list`): `{messages:
/// PublicDLQMessage[], cursor?}`, the failed steps with their run's fields.
pub async fn dlq_list(state: &AppState, query: &Query) -> ApiResult<Json<Value>> {
    let count = query.count(100, 100)?;
    let mut all = state
        .service
        .workflow_dlq(&workflow_dlq_filter(query)?)
        .await?;
    let next = (all.len() > count).then(|| all[count - 1].entry.seq);
    all.truncate(count);
    let messages: Vec<Value> = all.iter().map(workflow_dlq_json).collect();
    let mut o = Map::new();
    o.insert("messages".into(), Value::Array(messages));
    if let Some(n) = next {
        o.insert("cursor".into(), json!(n.to_string()));
    }
    Ok(Json(Value::Object(o)))
}

fn workflow_dlq_json(w: &WorkflowDlqEntry) -> Value {
    let (e, run) = (&w.entry, &w.run);
    let mut o = match dlq_json(e) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    o.insert("workflowRunId".into(), json!(run.run_id));
    o.insert("workflowUrl".into(), json!(run.url));
    o.insert("workflowCreatedAt".into(), json!(run.created_at));
    if let Some(f) = &e.message.delivery.failure_callback {
        o.insert("failureCallback".into(), json!(f));
    }
    if let Some(first) = run.config.labels.first() {
        o.insert("label".into(), json!(first));
        o.insert("labels".into(), json!(run.config.labels));
    }
    if let Some(info) = &w.failure {
        o.insert("failureCallbackInfo".into(), failure_info_json(info));
    }
    Value::Object(o)
}

/// `FailureCallbackInfo` of the SDK's `DLQMessage`.
fn failure_info_json(info: &FailureInfo) -> Value {
    let mut o = Map::new();
    o.insert("state".into(), json!(info.state));
    if let Some(r) = &info.response {
        if let Some(s) = r.status {
            o.insert("responseStatus".into(), json!(s));
        }
        o.insert("responseHeaders".into(), json!(r.headers));
        o.insert(
            "responseBody".into(),
            json!(String::from_utf8_lossy(&r.body)),
        );
    }
    Value::Object(o)
}

/// `DLQResumeRestartResponse`: the SDK declares `workflowCreatedAt` a string.
fn revived_json(run: &Run) -> Value {
    json!({ "workflowRunId": run.run_id, "workflowCreatedAt": run.created_at.to_string() })
}

async fn revive(state: AppState, request: Request, how: Revive) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    query.only(&workflow_dlq_keys(), "workflow DLQ resume and restart")?;
    let raw = request.headers().clone();
    let parsed = super::headers::delivery(&raw)?;
    let overrides = ReviveOverrides {
        retries: raw
            .contains_key("upstash-retries")
            .then_some(parsed.retries),
        flow_control: parsed.flow_control,
    };
    let count = query.count(usize::MAX, usize::MAX)?;
    let revived = state
        .service
        .revive_runs(&workflow_dlq_filter(&query)?, count, how, overrides)
        .await?;
    let runs: Vec<Value> = revived.iter().map(revived_json).collect();
    Ok(Json(json!({ "workflowRuns": runs })))
}

/// `POST /v2/workflows/dlq/resume?dlqIds=…` (or filters): continue each
/// failed run from the step that failed.
pub async fn dlq_resume(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    revive(state, request, Revive::Resume).await
}

/// `POST /v2/workflows/dlq/restart?dlqIds=…` (or filters): start each failed
/// run over from its trigger payload.
pub async fn dlq_restart(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    revive(state, request, Revive::Restart).await
}

/// `POST /v2/workflows/dlq/callback/{dlqId}`: call the failure function of
/// a failed run again; the entry stays in the DLQ.
pub async fn dlq_callback(
    State(state): State<AppState>,
    Path(dlq_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let run = state.service.call_failure_function(&dlq_id).await?;
    Ok(Json(revived_json(&run)))
}

/// `DELETE /v2/workflows/dlq?dlqIds=…` (or filters): `{deleted: n}`.
pub async fn dlq_delete(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    query.only(&workflow_dlq_keys(), "DELETE /v2/workflows/dlq")?;
    let count = query.count(usize::MAX, usize::MAX)?;
    let deleted = state
        .service
        .delete_workflow_dlq(&workflow_dlq_filter(&query)?, count)
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}
