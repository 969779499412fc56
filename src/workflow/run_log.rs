//! The run log and the bodies built from it.
//!
//! A delivery to the workflow URL carries the log *up to and including* the
//! message being delivered (§3.1 prefix rule). The SDK reads the last entry
//! to know what this call is for; delivering the whole log to two parallel
//! plan messages makes one branch run twice and the other never (run3.log).

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Map, Value};

use super::{Role, Run, WorkflowLink};
use crate::model::{AttemptResponse, HeaderMap, Message, Millis};

/// One entry of a run's log, in append order (`seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEntry {
    pub seq: i64,
    pub message_id: String,
    /// `step`, `toCallback` or `fromCallback` (§3.1 `RawStep.callType`).
    pub call_type: String,
    /// The exact body the message was published with (the step JSON, the
    /// initial payload for entry 0, the callback JSON for `fromCallback`).
    pub body: Vec<u8>,
    pub created_at: Millis,
}

/// The entries a delivery of `message_id` carries: those up to and
/// including its own, in append order. `None` when the message has no entry.
pub fn prefix<'a>(entries: &'a [StepEntry], message_id: &str) -> Option<Vec<&'a StepEntry>> {
    let mut sorted: Vec<&StepEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    let end = sorted.iter().position(|e| e.message_id == message_id)?;
    sorted.truncate(end + 1);
    Some(sorted)
}

/// `JSON.stringify(RawStep[])` (§3.1): standard base64, since the SDK decodes
/// with `atob`.
pub fn raw_steps<'a>(entries: impl IntoIterator<Item = &'a StepEntry>) -> Vec<u8> {
    let steps: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            json!({
                "messageId": e.message_id,
                "body": STANDARD.encode(&e.body),
                "callType": e.call_type,
            })
        })
        .collect();
    serde_json::to_vec(&steps).expect("JSON of strings")
}

/// The delivery body of `message_id`: its log prefix as `RawStep[]`.
pub fn delivery_body(entries: &[StepEntry], message_id: &str) -> Option<Vec<u8>> {
    prefix(entries, message_id).map(raw_steps)
}

/// The result step of a wait (§3.7): the wait's step with the event data as
/// base64 `out` on notify, or `waitTimeout: true` and no `out` on timeout.
/// The SDK decodes `out` with `decodeBase64` and then tries JSON.
pub fn wait_result(
    step: &Value,
    event_id: &str,
    timeout: &str,
    event_data: Option<&[u8]>,
) -> Vec<u8> {
    let mut o = step.as_object().cloned().unwrap_or_default();
    o.insert("waitEventId".into(), json!(event_id));
    o.insert("timeout".into(), json!(timeout));
    match event_data {
        Some(data) => {
            o.insert("out".into(), json!(STANDARD.encode(data)));
            o.insert("waitTimeout".into(), json!(false));
        }
        None => {
            o.remove("out");
            o.insert("waitTimeout".into(), json!(true));
        }
    }
    serde_json::to_vec(&Value::Object(o)).expect("JSON")
}

/// A failure callback of step `link` turned into its run's failure-function
/// call (§3.9): the workflow fields in its body, and the `Failure` role, so
/// it is delivered after the run failed.
pub fn failure_call(mut failure: Message, run: &Run, link: &WorkflowLink) -> Message {
    if let Ok(plain) = serde_json::from_slice(&failure.body) {
        if let Ok(body) = serde_json::to_vec(&failure_body(plain, run)) {
            failure.body = body;
        }
    }
    failure.delivery.workflow = Some(link.derived(Role::Failure));
    failure
}

/// Turns the plain failure-callback body (§9.4) into the workflow one
/// (§3.9): `sourceBody` is the run's *initial payload* (the `InitialBody`
/// feature), plus the run's id and creation time.
pub fn failure_body(mut callback: Value, run: &Run) -> Value {
    if let Some(o) = callback.as_object_mut() {
        o.insert(
            "sourceBody".into(),
            json!(STANDARD.encode(&run.initial_body)),
        );
        o.insert("workflowRunId".into(), json!(run.run_id));
        o.insert("workflowCreatedAt".into(), json!(run.created_at));
        o.insert("url".into(), json!(run.url));
    }
    callback
}

/// A run as `client.logs` reports it.
#[derive(Debug, Clone)]
pub struct RunLog {
    pub run: Run,
    pub log: Vec<StepEntry>,
    pub trail: RunTrail,
}

/// What `client.logs` shows of a run besides its log: the parts that
/// explain why it is stuck or failed. Built by the store from the run's
/// pending messages, its DLQ entry and the delivery log (`events`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTrail {
    /// The headers the trigger was delivered with (the Init message's
    /// `Delivery.headers`); `None` once its log rows are purged.
    pub init_headers: Option<HeaderMap>,
    /// The steps being delivered now, or the one that failed the run.
    pub next: Vec<NextStep>,
    /// The failed step's DLQ entry, while it is in the DLQ.
    pub dlq_id: Option<String>,
    /// The run's failure-function call, once the run failed with one.
    pub failure: Option<FailureTrail>,
}

/// One message of the run that has not finished: pending (maybe retrying)
/// or, for a failed run, the step in the DLQ.
#[derive(Debug, Clone, PartialEq)]
pub struct NextStep {
    pub message_id: String,
    /// `STEP_PROGRESS` (no attempt failed yet), `STEP_RETRY` or `STEP_FAILED`.
    pub state: &'static str,
    pub retries: u32,
    pub retry_delay: Option<String>,
    pub errors: Vec<StepError>,
}

/// A failed attempt, as `StepError` of the SDK's types.
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    pub time: Millis,
    pub response: AttemptResponse,
}

/// The failure-function call of a failed run (`FailureFunctionLog`).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureTrail {
    pub message_id: String,
    pub url: String,
    /// `CALLBACK_INPROGRESS`, `CALLBACK_SUCCESS`, `CALLBACK_FAIL` or
    /// `CALLBACK_CANCELED`.
    pub state: &'static str,
    /// The last response of the step that failed the run (from its DLQ
    /// entry); `None` once the entry left the DLQ.
    pub fail: Option<AttemptResponse>,
    pub dlq_id: Option<String>,
    /// The failure function's own last response.
    pub response: Option<AttemptResponse>,
    pub errors: Vec<StepError>,
    /// When the call is next due, while it is pending.
    pub next_delivery_time: Option<Millis>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `StepError`: `status` is 0 when no response arrived (timeout,
/// connection error); the SDK declares it a number, the contract is silent.
fn step_error_json(e: &StepError) -> Value {
    let r = &e.response;
    json!({
        "status": r.status.unwrap_or(0),
        "error": r.error,
        "body": text(&r.body),
        "headers": r.headers,
        "time": e.time,
    })
}

/// The `type: "next"` group: the steps in flight (or the failed one).
/// `retries` is the step's configured retries, like `retries` of the
/// logged steps; `stepName` is given when the SDK named the failing step
/// in an `Upstash-Error-Step-Name` response header.
pub fn next_group(next: &[NextStep]) -> Option<Value> {
    if next.is_empty() {
        return None;
    }
    let steps: Vec<Value> = next
        .iter()
        .map(|s| {
            let mut o = Map::new();
            o.insert("messageId".into(), json!(s.message_id));
            o.insert("state".into(), json!(s.state));
            o.insert("retries".into(), json!(s.retries));
            if let Some(d) = &s.retry_delay {
                o.insert("retryDelay".into(), json!(d));
            }
            let name = s.errors.iter().rev().find_map(|e| {
                e.response
                    .headers
                    .get("Upstash-Error-Step-Name")
                    .and_then(|v| v.first())
            });
            if let Some(name) = name {
                o.insert("stepName".into(), json!(name));
            }
            if !s.errors.is_empty() {
                o.insert(
                    "errors".into(),
                    Value::Array(s.errors.iter().map(step_error_json).collect()),
                );
            }
            Value::Object(o)
        })
        .collect();
    Some(json!({"type": "next", "steps": steps}))
}

/// `FailureFunctionLog`. `failStatus`/`failResponse`/`failHeaders` describe
/// the failed step (what the failure function was told); `response*` the
/// failure function's own answer. Once the failed step left the DLQ the
/// `fail*` fields are 0 / empty (the contract is silent on that case).
pub fn failure_json(f: &FailureTrail) -> Value {
    let mut o = Map::new();
    o.insert("messageId".into(), json!(f.message_id));
    o.insert("url".into(), json!(f.url));
    o.insert("state".into(), json!(f.state));
    let fail = f.fail.clone().unwrap_or_default();
    o.insert("failStatus".into(), json!(fail.status.unwrap_or(0)));
    o.insert("failResponse".into(), json!(text(&fail.body)));
    o.insert("failHeaders".into(), json!(fail.headers));
    o.insert("dlqId".into(), json!(f.dlq_id.clone().unwrap_or_default()));
    if let Some(r) = &f.response {
        if let Some(s) = r.status {
            o.insert("responseStatus".into(), json!(s));
        }
        o.insert("responseBody".into(), json!(text(&r.body)));
        o.insert("responseHeaders".into(), json!(r.headers));
    }
    if !f.errors.is_empty() {
        o.insert(
            "errors".into(),
            Value::Array(f.errors.iter().map(step_error_json).collect()),
        );
    }
    if let Some(t) = f.next_delivery_time {
        o.insert("nextDeliveryTime".into(), json!(t));
    }
    Value::Object(o)
}

/// `steps` of a run in `client.logs` (§1 row 11): each logged step as a
/// sequential group, parallel results (`concurrent > 1`) grouped together,
/// then the `next` group of `trail`. Entry 0 (the trigger) is reported as
/// the `Initial` step, with the trigger's headers and no `stepId` (QStash
/// sends none for it). Entries whose body is not a step (call requests,
/// callbacks) are left out: the step they lead to carries the result.
pub fn step_logs(run: &Run, entries: &[StepEntry], trail: &RunTrail) -> Vec<Value> {
    let mut sorted: Vec<&StepEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    let mut groups: Vec<Value> = Vec::new();
    let mut parallel: Vec<Value> = Vec::new();
    let flush = |parallel: &mut Vec<Value>, groups: &mut Vec<Value>| {
        if !parallel.is_empty() {
            groups.push(json!({"type": "parallel", "steps": std::mem::take(parallel)}));
        }
    };
    for e in sorted {
        let mut log = if e.seq == 0 {
            let mut o = Map::new();
            o.insert("stepName".into(), json!("init"));
            o.insert("stepType".into(), json!("Initial"));
            o.insert("out".into(), json!(String::from_utf8_lossy(&e.body)));
            o.insert("concurrent".into(), json!(1));
            let headers = trail.init_headers.as_ref().unwrap_or(&run.config.headers);
            o.insert("headers".into(), json!(headers));
            o
        } else {
            if e.call_type != "step" {
                continue;
            }
            let Ok(Value::Object(mut step)) = serde_json::from_slice::<Value>(&e.body) else {
                continue;
            };
            let planned = step.get("stepId").and_then(Value::as_i64) == Some(0);
            if planned {
                continue; // a parallel plan, not a result
            }
            step.insert("headers".into(), json!(run.config.headers));
            step
        };
        log.insert("messageId".into(), json!(e.message_id));
        log.insert("callType".into(), json!(e.call_type));
        log.insert("state".into(), json!("STEP_SUCCESS"));
        log.insert("createdAt".into(), json!(e.created_at));
        log.insert("retries".into(), json!(run.config.retries));
        if let Some(d) = &run.config.retry_delay {
            log.insert("retryDelay".into(), json!(d));
        }
        let concurrent = log.get("concurrent").and_then(Value::as_i64).unwrap_or(1);
        if concurrent > 1 {
            parallel.push(Value::Object(log));
            continue;
        }
        flush(&mut parallel, &mut groups);
        groups.push(json!({"type": "sequential", "steps": [Value::Object(log)]}));
    }
    flush(&mut parallel, &mut groups);
    groups.extend(next_group(&trail.next));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunConfig;
    use crate::workflow::RunState;

    fn entry(seq: i64, id: &str, call_type: &str, body: &str) -> StepEntry {
        StepEntry {
            seq,
            message_id: id.into(),
            call_type: call_type.into(),
            body: body.as_bytes().to_vec(),
            created_at: 1000 + seq,
        }
    }

    fn decoded(body: &[u8]) -> Vec<(String, String, String)> {
        let v: Vec<Value> = serde_json::from_slice(body).unwrap();
        v.iter()
            .map(|s| {
                let b = STANDARD.decode(s["body"].as_str().unwrap()).unwrap();
                (
                    s["messageId"].as_str().unwrap().to_owned(),
                    String::from_utf8(b).unwrap(),
                    s["callType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// A run with a step, then two parallel plan messages: each plan's
    /// delivery ends with that plan (§3.5), also when the log is read back
    /// out of order.
    #[test]
    fn each_delivery_carries_the_log_up_to_its_own_entry() {
        let log = vec![
            entry(3, "plan_b", "step", r#"{"stepId":0,"targetStep":3}"#),
            entry(0, "init", "step", "payload"),
            entry(2, "plan_a", "step", r#"{"stepId":0,"targetStep":2}"#),
            entry(1, "s1", "step", r#"{"stepId":1}"#),
        ];
        let ids = |id: &str| -> Vec<String> {
            decoded(&delivery_body(&log, id).unwrap())
                .into_iter()
                .map(|(id, _, _)| id)
                .collect()
        };
        assert_eq!(ids("init"), ["init"]);
        assert_eq!(ids("s1"), ["init", "s1"]);
        assert_eq!(ids("plan_a"), ["init", "s1", "plan_a"]);
        assert_eq!(ids("plan_b"), ["init", "s1", "plan_a", "plan_b"]);
        assert_eq!(delivery_body(&log, "unknown"), None);
    }

    #[test]
    fn raw_steps_use_standard_base64_and_keep_the_call_type() {
        let log = vec![
            entry(0, "init", "step", "ü?>"),
            entry(1, "c", "toCallback", "x"),
        ];
        let body = delivery_body(&log, "c").unwrap();
        let v: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(v[0]["body"], "w7w/Pg==", "standard alphabet, padded");
        assert_eq!(
            decoded(&body),
            [
                ("init".into(), "ü?>".into(), "step".into()),
                ("c".into(), "x".into(), "toCallback".into())
            ]
        );
    }

    #[test]
    fn wait_results_carry_the_event_or_the_timeout() {
        let step = json!({"stepId": 2, "stepName": "w", "stepType": "Wait", "concurrent": 1});
        let notified: Value =
            serde_json::from_slice(&wait_result(&step, "evt", "7d", Some(b"{\"a\":1}"))).unwrap();
        assert_eq!(notified["out"], STANDARD.encode("{\"a\":1}"));
        assert_eq!(notified["waitTimeout"], false);
        assert_eq!(notified["waitEventId"], "evt");
        assert_eq!(notified["stepName"], "w");
        let timed_out: Value =
            serde_json::from_slice(&wait_result(&step, "evt", "2s", None)).unwrap();
        assert_eq!(timed_out["waitTimeout"], true);
        assert!(timed_out.get("out").is_none());
        assert_eq!(timed_out["timeout"], "2s");
    }

    fn run() -> Run {
        Run {
            run_id: "wfr_1".into(),
            url: "http://127.0.0.1:1/wf".into(),
            state: RunState::Started,
            created_at: 42,
            ended_at: None,
            config: RunConfig::default(),
            init_message_id: "init".into(),
            initial_body: b"first".to_vec(),
            response: None,
            caller_ip: None,
            failure_message_id: None,
            parent: None,
        }
    }

    #[test]
    fn the_failure_body_reports_the_initial_payload_and_the_run() {
        let plain = json!({"status": 500, "sourceBody": "c3RlcA==", "sourceMessageId": "m"});
        let b = failure_body(plain, &run());
        assert_eq!(b["sourceBody"], STANDARD.encode("first"));
        assert_eq!(b["workflowRunId"], "wfr_1");
        assert_eq!(b["workflowCreatedAt"], 42);
        assert_eq!(b["url"], "http://127.0.0.1:1/wf");
        assert_eq!(b["status"], 500);
        assert_eq!(b["sourceMessageId"], "m");
    }

    #[test]
    fn step_logs_group_parallel_results_and_skip_plans_and_calls() {
        let log = vec![
            entry(0, "init", "step", "payload"),
            entry(
                1,
                "s1",
                "step",
                r#"{"stepId":1,"stepName":"a","stepType":"Run","out":"1","concurrent":1}"#,
            ),
            entry(
                2,
                "p1",
                "step",
                r#"{"stepId":0,"stepName":"x","concurrent":2,"targetStep":2}"#,
            ),
            entry(
                3,
                "p2",
                "step",
                r#"{"stepId":0,"stepName":"y","concurrent":2,"targetStep":3}"#,
            ),
            entry(
                4,
                "r1",
                "step",
                r#"{"stepId":2,"stepName":"x","concurrent":2}"#,
            ),
            entry(
                5,
                "r2",
                "step",
                r#"{"stepId":3,"stepName":"y","concurrent":2}"#,
            ),
            entry(6, "call", "toCallback", "raw"),
            entry(7, "cb", "fromCallback", "{}"),
        ];
        let groups = step_logs(&run(), &log, &RunTrail::default());
        let shape: Vec<(String, usize)> = groups
            .iter()
            .map(|g| {
                (
                    g["type"].as_str().unwrap().to_owned(),
                    g["steps"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("sequential".into(), 1),
                ("sequential".into(), 1),
                ("parallel".into(), 2)
            ]
        );
        assert_eq!(groups[0]["steps"][0]["stepType"], "Initial");
        assert_eq!(groups[1]["steps"][0]["messageId"], "s1");
        assert_eq!(groups[1]["steps"][0]["state"], "STEP_SUCCESS");
    }

    fn response(status: u16, body: &str) -> AttemptResponse {
        let mut headers = HeaderMap::new();
        headers.insert("Upstash-Error-Step-Name".into(), vec!["pay".into()]);
        AttemptResponse {
            status: Some(status),
            headers,
            body: body.as_bytes().to_vec(),
            error: format!("HTTP {status}"),
        }
    }

    #[test]
    fn the_initial_step_has_the_trigger_headers_and_no_step_id() {
        let mut headers = HeaderMap::new();
        headers.insert("Upstash-Workflow-Sdk-Version".into(), vec!["1".into()]);
        let trail = RunTrail {
            init_headers: Some(headers.clone()),
            ..RunTrail::default()
        };
        let mut r = run();
        r.config.retry_delay = Some("1000".into());
        let groups = step_logs(&r, &[entry(0, "init", "step", "p")], &trail);
        let init = &groups[0]["steps"][0];
        assert!(init.get("stepId").is_none());
        assert_eq!(init["headers"], json!(headers));
        assert_eq!(init["retryDelay"], "1000");
    }

    #[test]
    fn steps_in_flight_come_last_as_the_next_group_with_their_errors() {
        let trail = RunTrail {
            next: vec![NextStep {
                message_id: "m".into(),
                state: "STEP_RETRY",
                retries: 3,
                retry_delay: None,
                errors: vec![StepError {
                    time: 7,
                    response: response(500, "boom"),
                }],
            }],
            ..RunTrail::default()
        };
        let groups = step_logs(&run(), &[entry(0, "init", "step", "p")], &trail);
        assert_eq!(groups.len(), 2);
        let next = &groups[1];
        assert_eq!(next["type"], "next");
        let s = &next["steps"][0];
        assert_eq!(
            (&s["messageId"], &s["state"], &s["retries"]),
            (&json!("m"), &json!("STEP_RETRY"), &json!(3))
        );
        assert!(s.get("retryDelay").is_none());
        assert_eq!(s["stepName"], "pay", "named by Upstash-Error-Step-Name");
        assert_eq!(
            s["errors"][0],
            json!({"status": 500, "error": "HTTP 500", "body": "boom",
                   "headers": {"Upstash-Error-Step-Name": ["pay"]}, "time": 7})
        );
        assert_eq!(next_group(&[]), None);
    }

    #[test]
    fn the_failure_function_reports_the_failed_step_and_its_own_answer() {
        let f = FailureTrail {
            message_id: "f".into(),
            url: "http://127.0.0.1:1/fail".into(),
            state: "CALLBACK_SUCCESS",
            fail: Some(response(400, "bad")),
            dlq_id: Some("1-1".into()),
            response: Some(response(200, "ok")),
            errors: Vec::new(),
            next_delivery_time: None,
        };
        let v = failure_json(&f);
        assert_eq!(v["failStatus"], 400);
        assert_eq!(v["failResponse"], "bad");
        assert_eq!(v["failHeaders"]["Upstash-Error-Step-Name"], json!(["pay"]));
        assert_eq!(v["dlqId"], "1-1");
        assert_eq!(
            (&v["responseStatus"], &v["responseBody"]),
            (&json!(200), &json!("ok"))
        );
        assert!(v.get("errors").is_none());
        assert!(
            v.get("nextDeliveryTime").is_none(),
            "delivered: nothing is due"
        );
        let gone = failure_json(&FailureTrail {
            fail: None,
            dlq_id: None,
            ..f
        });
        assert_eq!(
            (&gone["failStatus"], &gone["dlqId"]),
            (&json!(0), &json!(""))
        );
    }
}
