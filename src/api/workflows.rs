//! Workflow runs: the run log, ending and cancelling runs, their logs, and
//! the workflow DLQ calls (workflow-wire §1 rows 3–5, 10–12; §3.10).

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Map, Value};

use super::query::Query;
use super::view::dlq_json;
use super::{read_body, ApiError, ApiResult, AppState};
use crate::engine::callback;
use crate::model::DlqEntry;
use crate::store::{DlqSelection, FailureInfo, Revive, ReviveOverrides, RunCursor, RunSelection};
use crate::workflow::run_log::{failure_call, raw_steps, step_logs};
use crate::workflow::{Run, RunState};

/// `GET /v2/workflows/runs/{id}`: the whole log as `RawStep[]`, for the
/// SDK's lazy fetch. 404 once the run has ended: the SDK reads that as
/// "workflow already ended" (§1 row 5).
pub async fn get_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<(StatusCode, Vec<u8>)> {
    match state.store.workflow_run_with_log(&run_id).await? {
        Some((run, log)) if run.state == RunState::Started => Ok((StatusCode::OK, raw_steps(&log))),
        _ => Err(ApiError::NotFound(format!(
            "workflow run {run_id} has ended or does not exist"
        ))),
    }
}

/// `DELETE /v2/workflows/runs/{id}?cancel=false|true`: the SDK's "done"
/// (with the route's result as body) or `context.cancel()`. Always 2xx, also
/// for an ended or unknown run: the SDK deletes twice and treats any error
/// here as its own failure (§1 row 3).
pub async fn end_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let cancel = match query.one("cancel") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "cancel: \"{v}\" is not true or false"
            )))
        }
    };
    let body = read_body(request.into_body(), state.max_body).await?;
    let end = if cancel {
        RunState::Canceled
    } else {
        RunState::Success
    };
    let response = (!body.is_empty()).then(|| body.to_vec());
    let dropped = state
        .store
        .end_workflow_run(&run_id, end, state.clock.now_ms(), response)
        .await?
        .unwrap_or_default();
    state.engine.messages_cancelled(&dropped);
    Ok(Json(json!({})))
}

/// The query keys a bulk cancel understands. Any other key is refused
/// rather than ignored: ignoring a filter would cancel more than asked.
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
/// (`client.cancel`, §1 row 10): `{cancelled: n}`. No filter means every
/// running run (`{all: true}` sends only `count`).
pub async fn cancel_many(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    // `qstash_token` is the token, not a filter (authentication read it).
    if let Some(key) = query
        .keys()
        .find(|k| !CANCEL_KEYS.contains(k) && *k != "qstash_token")
    {
        return Err(ApiError::BadRequest(format!(
            "{key}: not a filter of workflow cancel; use {}",
            CANCEL_KEYS.join(", ")
        )));
    }
    let selection = selection(&query)?;
    let limit = query.count(usize::MAX, usize::MAX)?;
    let (cancelled, dropped) = state
        .store
        .cancel_workflow_runs(selection, limit, state.clock.now_ms())
        .await?;
    state.engine.messages_cancelled(&dropped);
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

/// `GET /v2/workflows/events?groupBy=workflowRunId&…` (`client.logs`, §1
/// row 11): `{cursor?, runs: WorkflowRunLog[]}`, newest run first.
pub async fn logs(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let mut selection = selection(&query)?;
    // In the logs a workflowUrl filter is the whole URL.
    selection.url_exact = selection.url.is_some();
    let count = query.count(LOGS_PAGE, 1000)?;
    let (runs, next) = state
        .store
        .workflow_runs_page(selection, run_cursor(&query)?, count)
        .await?;
    let mut o = Map::new();
    if let Some((created, run_id)) = next {
        o.insert("cursor".into(), json!(format!("{created}-{run_id}")));
    }
    o.insert(
        "runs".into(),
        Value::Array(runs.iter().map(|(r, log)| run_json(r, log)).collect()),
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

/// `WorkflowRunLog` with the fields the SDK's type declares.
fn run_json(run: &Run, log: &[crate::workflow::run_log::StepEntry]) -> Value {
    let mut o = Map::new();
    o.insert("workflowRunId".into(), json!(run.run_id));
    o.insert("workflowUrl".into(), json!(run.url));
    o.insert("workflowState".into(), json!(run.state.as_str()));
    o.insert("workflowRunCreatedAt".into(), json!(run.created_at));
    if let Some(t) = run.ended_at {
        o.insert("workflowRunCompletedAt".into(), json!(t));
    }
    o.insert("steps".into(), Value::Array(step_logs(run, log)));
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

/// The workflow entries of the DLQ a `client.dlq` call means: `dlqIds`, or
/// the filters (`workflowRunId`, `workflowUrl`, `workflowCreatedAt` and the
/// usual DLQ ones), newest first, with the run each belongs to.
async fn workflow_dlq(state: &AppState, query: &Query) -> ApiResult<Vec<(DlqEntry, Run)>> {
    let ids = query.all("dlqIds");
    let filter = if ids.is_empty() {
        query.filter()?
    } else {
        Default::default()
    };
    let (entries, _) = state
        .store
        .dlq_page(filter, query.cursor()?, usize::MAX)
        .await?;
    let run_ids = query.all("workflowRunId");
    let url = query.one("workflowUrl");
    let created = query.int("workflowCreatedAt")?;
    let mut out = Vec::new();
    for e in entries {
        if !ids.is_empty() && !ids.contains(&e.dlq_id) {
            continue;
        }
        let Some(link) = e
            .message
            .delivery
            .workflow
            .as_ref()
            .filter(|l| l.role.fails_run())
        else {
            continue;
        };
        let Some(run) = state.store.workflow_run(&link.run_id).await? else {
            continue;
        };
        let keep = (run_ids.is_empty() || run_ids.contains(&run.run_id))
            && url.is_none_or(|u| run.url == u)
            && created.is_none_or(|c| run.created_at == c);
        if keep {
            out.push((e, run));
        }
    }
    Ok(out)
}

/// `GET /v2/dlq?source=workflow` (`client.dlq.list`): `{messages:
/// PublicDLQMessage[], cursor?}`, the failed steps with their run's fields.
pub async fn dlq_list(state: &AppState, query: &Query) -> ApiResult<Json<Value>> {
    let count = query.count(100, 100)?;
    let mut all = workflow_dlq(state, query).await?;
    let next = (all.len() > count).then(|| all[count - 1].0.seq);
    all.truncate(count);
    let mut messages = Vec::with_capacity(all.len());
    for (e, run) in &all {
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
        if let Some(id) = &run.failure_message_id {
            if let Some(info) = state.store.workflow_failure_info(id).await? {
                o.insert("failureCallbackInfo".into(), failure_info_json(&info));
            }
        }
        messages.push(Value::Object(o));
    }
    let mut o = Map::new();
    o.insert("messages".into(), Value::Array(messages));
    if let Some(n) = next {
        o.insert("cursor".into(), json!(n.to_string()));
    }
    Ok(Json(Value::Object(o)))
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
    let raw = request.headers().clone();
    let parsed = super::headers::delivery(&raw)?;
    let overrides = ReviveOverrides {
        retries: raw
            .contains_key("upstash-retries")
            .then_some(parsed.retries),
        flow_control: parsed.flow_control,
    };
    let selected = workflow_dlq(&state, &query).await?;
    let count = query.count(usize::MAX, usize::MAX)?;
    let ids = selected
        .iter()
        .take(count)
        .map(|(e, _)| e.dlq_id.clone())
        .collect();
    let revived = state
        .store
        .workflow_dlq_revive(ids, how, overrides, state.clock.now_ms())
        .await?;
    let messages: Vec<_> = revived.iter().map(|(_, m)| m.clone()).collect();
    state.engine.messages_added(messages);
    let runs: Vec<Value> = revived.iter().map(|(r, _)| revived_json(r)).collect();
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
    let Some(e) = state.store.dlq_entry(&dlq_id).await? else {
        return Err(ApiError::NotFound(format!(
            "DLQ message {dlq_id:?} not found"
        )));
    };
    let Some(link) = e
        .message
        .delivery
        .workflow
        .clone()
        .filter(|l| l.role.fails_run())
    else {
        return Err(ApiError::BadRequest(format!(
            "DLQ message {dlq_id:?} is not a workflow step"
        )));
    };
    let Some(run) = state.store.workflow_run(&link.run_id).await? else {
        return Err(ApiError::NotFound(format!(
            "workflow run {} not found",
            link.run_id
        )));
    };
    let now = state.clock.now_ms();
    let Some(failure) = callback::failure(&e, now) else {
        return Err(ApiError::BadRequest(format!(
            "workflow run {} has no failure function (Upstash-Failure-Callback)",
            run.run_id
        )));
    };
    let failure = failure_call(failure, &run, &link);
    let stored = state
        .store
        .publish(vec![(failure, Vec::new())], now)
        .await?;
    state
        .engine
        .messages_added(stored.into_iter().map(|(m, _)| m).collect());
    Ok(Json(revived_json(&run)))
}

/// `DELETE /v2/workflows/dlq?dlqIds=…` (or filters): `{deleted: n}`.
pub async fn dlq_delete(State(state): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let query = Query::parse(request.uri().query())?;
    let count = query.count(usize::MAX, usize::MAX)?;
    let ids = workflow_dlq(&state, &query)
        .await?
        .into_iter()
        .take(count)
        .map(|(e, _)| e.dlq_id)
        .collect();
    let (deleted, _) = state
        .store
        .dlq_delete(DlqSelection {
            ids,
            ..Default::default()
        })
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}
