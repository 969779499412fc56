//! Upstash Workflow, server side, spoken by hand (workflow-wire.md, cited
//! as §n): the messages the SDK publishes are sent here as `POST /v2/batch`
//! and `/v2/publish`, and a real sink on 127.0.0.1 plays the workflow
//! endpoint, so each test pins one rule of the contract without the SDK.
//!
//! The real binary and a real database; waits and their timeouts run
//! in-process on the manual clock (`common::inproc`), so a deadline is
//! checked to the millisecond and can be passed without waiting for it.
//! Waits are bounded.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::api::{assert_error, call, dlq, publish, wait_for_dlq, wait_for_state};
use common::inproc::InProcess;
use common::sink::{Received, Sink};
use common::wait::{wait_until, WAIT};
use common::{start, ServerProcess, Target};
use serde_json::{json, Value};

/// Headers of a workflow message as the SDK sends them in a batch (§2.1).
fn wf_headers(run_id: &str, init: bool, url: &str) -> serde_json::Map<String, Value> {
    let mut h = serde_json::Map::new();
    h.insert("upstash-workflow-runid".into(), json!(run_id));
    h.insert("upstash-workflow-init".into(), json!(init.to_string()));
    h.insert("upstash-workflow-url".into(), json!(url));
    h.insert("upstash-workflow-sdk-version".into(), json!("1"));
    h.insert(
        "upstash-forward-upstash-workflow-sdk-version".into(),
        json!("1"),
    );
    h.insert("upstash-method".into(), json!("POST"));
    h.insert("content-type".into(), json!("application/json"));
    h
}

fn batch(server: &dyn Target, items: Value) -> (u16, Value) {
    call(
        server,
        "POST",
        "/v2/batch",
        &[("Content-Type", "application/json")],
        items.to_string().as_bytes(),
    )
}

/// Publishes one batch item; panics unless accepted. Returns its response element.
fn send(
    server: &dyn Target,
    url: &str,
    headers: serde_json::Map<String, Value>,
    body: &str,
) -> Value {
    let (status, json) = batch(
        server,
        json!([{ "destination": url, "headers": headers, "body": body }]),
    );
    assert_eq!(status, 200, "{json}");
    json[0].clone()
}

/// Starts a run with `extra` trigger headers; returns the Init message id.
fn trigger(
    server: &dyn Target,
    url: &str,
    run_id: &str,
    extra: &[(&str, &str)],
    payload: &str,
) -> String {
    let mut h = wf_headers(run_id, true, url);
    for (k, v) in extra {
        h.insert((*k).into(), json!(v));
    }
    let r = send(server, url, h, payload);
    assert!(r.get("deduplicated").is_none(), "{r}");
    r["messageId"].as_str().unwrap().to_owned()
}

/// Appends a step (`Init: false`); returns its message id.
fn step(
    server: &dyn Target,
    url: &str,
    run_id: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> String {
    let mut h = wf_headers(run_id, false, url);
    for (k, v) in extra {
        h.insert((*k).into(), json!(v));
    }
    send(server, url, h, body)["messageId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A delivery body as `(messageId, decoded body, callType)` per RawStep (§3.1).
fn raw_steps(body: &[u8]) -> Vec<(String, String, String)> {
    let v: Vec<Value> = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not RawStep[]: {e}: {}", String::from_utf8_lossy(body)));
    v.iter()
        .map(|s| {
            let b = STANDARD
                .decode(s["body"].as_str().unwrap())
                .expect("standard base64");
            (
                s["messageId"].as_str().unwrap().to_owned(),
                String::from_utf8(b).unwrap(),
                s["callType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ids(body: &[u8]) -> Vec<String> {
    raw_steps(body).into_iter().map(|(id, _, _)| id).collect()
}

fn delivery_of<'a>(all: &'a [Received], message_id: &str) -> &'a Received {
    all.iter()
        .find(|r| r.header("upstash-message-id") == Some(message_id))
        .unwrap_or_else(|| panic!("no delivery of {message_id}"))
}

/// `DELETE /v2/workflows/runs/{run_id}?cancel=…`, the SDK's end of a run
/// (`cancel=false`, with the run's result as body) or `client.cancel`;
/// always 200, for an ended or unknown run too.
fn end_run(server: &dyn Target, run_id: &str, cancel: bool, body: &[u8]) {
    let (status, json) = call(
        server,
        "DELETE",
        &format!("/v2/workflows/runs/{run_id}?cancel={cancel}"),
        &[],
        body,
    );
    assert_eq!(status, 200, "ending {run_id}: {json}");
}

/// `client.logs` for one run (§1 row 11).
fn run_log(server: &dyn Target, run_id: &str) -> Value {
    let (status, json) = call(
        server,
        "GET",
        &format!("/v2/workflows/events?groupBy=workflowRunId&workflowRunId={run_id}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{json}");
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{json}");
    runs[0].clone()
}

fn all_headers(r: &Received, name: &str) -> Vec<String> {
    r.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Init → the delivery is `[init]` with the RunId and the user's headers,
/// and without the framing headers a first invocation forwards (§3.2, §7.1);
/// a step → `[init, step]` with the user's headers replayed (§TL;DR 4).
#[test]
fn init_and_steps_are_delivered_with_their_log_prefix_and_the_trigger_headers() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    let init = trigger(
        &server,
        &url,
        "wfr_a",
        &[
            ("upstash-forward-x-auth", "secret"),
            ("upstash-forward-host", "elsewhere:1"),
            ("upstash-forward-content-length", "9999"),
            ("upstash-forward-upstash-signature", "stale.jwt"),
            ("upstash-forward-upstash-label", "nightly"),
        ],
        r#"{"n":42}"#,
    );
    let first = sink.wait_for("/wf", 1, WAIT).remove(0);
    assert_eq!(
        raw_steps(&first.body),
        [(init.clone(), r#"{"n":42}"#.to_owned(), "step".to_owned())]
    );
    assert_eq!(first.header("upstash-workflow-runid"), Some("wfr_a"));
    assert_eq!(first.header("upstash-workflow-sdk-version"), Some("1"));
    assert_eq!(first.header("x-auth"), Some("secret"));
    assert_eq!(first.header("upstash-label"), Some("nightly"));
    assert_eq!(first.header("upstash-message-id"), Some(init.as_str()));
    assert_eq!(all_headers(&first, "upstash-signature").len(), 1);
    assert_ne!(first.header("upstash-signature"), Some("stale.jwt"));
    assert_ne!(first.header("host"), Some("elsewhere:1"));
    assert_eq!(
        first.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );

    let s1 = step(
        &server,
        &url,
        "wfr_a",
        &[],
        r#"{"stepId":1,"stepName":"one","stepType":"Run","out":"1","concurrent":1}"#,
    );
    let second = sink.wait_for("/wf", 2, WAIT).remove(1);
    assert_eq!(ids(&second.body), [init.clone(), s1.clone()]);
    assert_eq!(
        raw_steps(&second.body)[1].1,
        r#"{"stepId":1,"stepName":"one","stepType":"Run","out":"1","concurrent":1}"#
    );
    assert_eq!(second.header("x-auth"), Some("secret"), "replayed");
    assert_eq!(second.header("upstash-workflow-runid"), Some("wfr_a"));

    // The lazy fetch sees the whole log (§1 row 5).
    let (status, json) = call(&server, "GET", "/v2/workflows/runs/wfr_a", &[], b"");
    assert_eq!(status, 200, "{json}");
    let got: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(got, [init.as_str(), s1.as_str()]);
}

/// A repeated Init answers `deduplicated: true` with the run's Init message
/// and creates nothing; after the run ends, appends are refused with 400,
/// GET is 404, and DELETE stays 2xx (§1 rows 1, 3, 5; §3.10).
#[test]
fn init_dedup_end_of_run_and_idempotent_delete() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    let init = trigger(&server, &url, "wfr_b", &[], "p");
    let again = send(&server, &url, wf_headers("wfr_b", true, &url), "p");
    assert_eq!(again["deduplicated"], true, "{again}");
    assert_eq!(again["messageId"], init.as_str());
    sink.wait_for("/wf", 1, WAIT);

    end_run(&server, "wfr_b", false, br#"{"done":true}"#);
    end_run(&server, "wfr_b", false, b""); // deleting twice succeeds
    end_run(&server, "nobody", true, b""); // an unknown run too
    let (status, json) = call(&server, "GET", "/v2/workflows/runs/wfr_b", &[], b"");
    assert_error(status, &json, 404, &["wfr_b"]);

    // The whole batch fails, so the SDK's `workflow-was-finished` applies.
    let (status, json) = batch(
        &server,
        json!([
            { "destination": url, "headers": wf_headers("wfr_b", false, &url), "body": "{}" },
        ]),
    );
    assert_error(status, &json, 400, &["wfr_b", "ended"]);
    let (status, json) = call(
        &server,
        "DELETE",
        "/v2/workflows/runs/wfr_b?cancel=maybe",
        &[],
        b"",
    );
    assert_error(status, &json, 400, &["cancel"]);

    let log = run_log(&server, "wfr_b");
    assert_eq!(log["workflowState"], "RUN_SUCCESS");
    assert_eq!(log["workflowRunResponse"], r#"{"done":true}"#);
    assert!(log["workflowRunCompletedAt"].as_i64().is_some());
    sink.assert_stays("/wf", 1, "nothing more was delivered");
}

/// Two parallel plan messages published in one batch each get the log up to
/// their own entry, not the whole log (§3.1, §3.5).
#[test]
fn parallel_plans_each_get_their_own_prefix() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    let init = trigger(&server, &url, "wfr_p", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    let plan = |k: u32| {
        json!({
            "destination": url,
            "headers": wf_headers("wfr_p", false, &url),
            "body": format!(r#"{{"stepId":0,"stepName":"s{k}","stepType":"Run","concurrent":2,"targetStep":{k}}}"#),
        })
    };
    let (status, json) = batch(&server, json!([plan(1), plan(2)]));
    assert_eq!(status, 200, "{json}");
    let a = json[0]["messageId"].as_str().unwrap().to_owned();
    let b = json[1]["messageId"].as_str().unwrap().to_owned();
    let all = sink.wait_for("/wf", 3, WAIT);
    assert_eq!(ids(&delivery_of(&all, &a).body), [init.clone(), a.clone()]);
    assert_eq!(ids(&delivery_of(&all, &b).body), [init, a, b]);
}

/// `context.call`: the third party gets the call with no run headers; the
/// workflow gets one callback, after the last attempt, with the run's
/// headers and no Sdk-Version, logged as `fromCallback` (§3.6).
#[test]
fn a_call_reaches_the_third_party_bare_and_reports_once_to_the_workflow() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    sink.answer("/third", 500, &[]);
    trigger(
        &server,
        &url,
        "wfr_c",
        &[("upstash-forward-x-auth", "secret")],
        "p",
    );
    sink.wait_for("/wf", 1, WAIT);
    let mut h = serde_json::Map::new();
    for (k, v) in [
        ("upstash-workflow-runid", "wfr_c"),
        ("upstash-workflow-init", "false"),
        ("upstash-workflow-url", url.as_str()),
        ("upstash-workflow-calltype", "toCallback"),
        ("upstash-feature-set", "WF_NoDelete,InitialBody"),
        ("upstash-method", "PUT"),
        ("upstash-retries", "1"),
        ("upstash-retry-delay", "100"),
        ("upstash-forward-call-auth", "for-the-api"),
        ("upstash-callback", url.as_str()),
        ("upstash-callback-workflow-runid", "wfr_c"),
        ("upstash-callback-workflow-calltype", "fromCallback"),
        ("upstash-callback-workflow-init", "false"),
        ("upstash-callback-workflow-url", url.as_str()),
        ("upstash-callback-feature-set", "LazyFetch,InitialBody"),
        ("upstash-callback-forward-upstash-workflow-callback", "true"),
        ("upstash-callback-forward-upstash-workflow-stepid", "1"),
        ("upstash-callback-forward-upstash-workflow-stepname", "api"),
        ("upstash-callback-forward-upstash-workflow-steptype", "Call"),
        ("upstash-callback-forward-upstash-workflow-concurrent", "1"),
        ("content-type", "text/plain"),
    ] {
        h.insert(k.into(), json!(v));
    }
    let call_id = send(&server, &sink.url("/third"), h, "call body")["messageId"]
        .as_str()
        .unwrap()
        .to_owned();

    let tries = sink.wait_for("/third", 2, WAIT);
    for t in &tries {
        assert_eq!(t.method, "PUT");
        assert_eq!(&t.body[..], b"call body");
        assert_eq!(t.header("call-auth"), Some("for-the-api"));
        assert_eq!(t.header("upstash-workflow-runid"), None);
        assert_eq!(
            t.header("x-auth"),
            None,
            "no user headers for the call target"
        );
    }
    let deliveries = sink.wait_for("/wf", 2, WAIT);
    let cb = &deliveries[1];
    assert_eq!(cb.header("upstash-workflow-runid"), Some("wfr_c"));
    assert_eq!(cb.header("upstash-workflow-sdk-version"), None);
    assert_eq!(cb.header("x-auth"), Some("secret"));
    assert_eq!(cb.header("upstash-workflow-callback"), Some("true"));
    assert_eq!(cb.header("upstash-workflow-stepname"), Some("api"));
    assert_eq!(
        cb.header("workflow-runid"),
        None,
        "settings are not headers"
    );
    assert_eq!(cb.header("feature-set"), None);
    let body: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["status"], 500);
    assert_eq!(body["retried"], 1);
    assert_eq!(body["maxRetries"], 1);
    assert_eq!(body["sourceMessageId"], call_id.as_str());
    assert_eq!(
        STANDARD.decode(body["body"].as_str().unwrap()).unwrap(),
        b"sink says 500"
    );
    assert_eq!(
        body["header"]["Content-Type"][0]
            .as_str()
            .map(|s| s.starts_with("text/plain")),
        Some(true)
    );

    let (_, json) = call(&server, "GET", "/v2/workflows/runs/wfr_c", &[], b"");
    let types: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["callType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["step", "toCallback", "fromCallback"]);
    let last = json.as_array().unwrap().last().unwrap();
    assert_eq!(last["messageId"], cb.header("upstash-message-id").unwrap());
    sink.assert_stays("/wf", 2, "one callback, not one per attempt");
}

/// A step out of attempts fails the run and calls the failure function with
/// the body of §3.9, built from the trigger's failure-callback headers.
#[test]
fn a_failing_step_fails_the_run_and_calls_the_failure_function() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    sink.answer("/wf", 500, &[]);
    let init = trigger(
        &server,
        &url,
        "wfr_f",
        &[
            ("upstash-retries", "1"),
            ("upstash-retry-delay", "100"),
            ("upstash-forward-x-auth", "secret"),
            ("upstash-failure-callback", &sink.url("/fail")),
            ("upstash-failure-callback-workflow-runid", "wfr_f"),
            ("upstash-failure-callback-workflow-calltype", "failureCall"),
            ("upstash-failure-callback-workflow-init", "false"),
            ("upstash-failure-callback-feature-set", "LazyFetch"),
            (
                "upstash-failure-callback-forward-upstash-workflow-is-failure",
                "true",
            ),
            (
                "upstash-failure-callback-forward-upstash-workflow-failure-callback",
                "true",
            ),
            ("upstash-failure-callback-forward-x-auth", "secret"),
        ],
        "first payload",
    );
    let fail = sink.wait_for("/fail", 1, WAIT).remove(0);
    assert_eq!(sink.received("/wf").len(), 2, "retries 1: two attempts");
    assert_eq!(fail.header("upstash-workflow-runid"), Some("wfr_f"));
    assert_eq!(fail.header("upstash-workflow-is-failure"), Some("true"));
    assert_eq!(fail.header("x-auth"), Some("secret"));
    assert_eq!(fail.header("workflow-calltype"), None);
    assert!(fail.header("upstash-signature").is_some());
    let body: Value = serde_json::from_slice(&fail.body).unwrap();
    assert_eq!(body["status"], 500);
    assert_eq!(body["url"], url.as_str());
    assert_eq!(body["workflowRunId"], "wfr_f");
    assert_eq!(body["sourceMessageId"], init.as_str());
    assert!(body["workflowCreatedAt"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        STANDARD
            .decode(body["sourceBody"].as_str().unwrap())
            .unwrap(),
        b"first payload"
    );
    assert_eq!(
        STANDARD.decode(body["body"].as_str().unwrap()).unwrap(),
        b"sink says 500"
    );
    assert!(body["sourceHeader"].is_object());
    assert!(body["header"].is_object());

    let log = run_log(&server, "wfr_f");
    assert_eq!(log["workflowState"], "RUN_FAILED");
    let (status, _) = call(&server, "GET", "/v2/workflows/runs/wfr_f", &[], b"");
    assert_eq!(status, 404);
    let (entries, _) = dlq(&server, "");
    assert!(
        entries.iter().any(|m| m["messageId"] == init.as_str()),
        "{entries:?}"
    );
}

/// The body of `POST /v2/wait/{eventId}` as the SDK sends it (§1 row 6).
fn wait_body(url: &str, timeout: &str, step_id: u32) -> Vec<u8> {
    json!({
        "url": url,
        "timeout": timeout,
        "timeoutUrl": url,
        "timeoutHeaders": {
            "Upstash-Forward-Upstash-Workflow-Sdk-Version": ["1"],
            "Upstash-Workflow-Runid": ["wfr_w"],
            "Upstash-Workflow-CallType": ["step"],
        },
        "step": {"stepId": step_id, "stepType": "Wait", "stepName": "wait", "concurrent": 1},
    })
    .to_string()
    .into_bytes()
}

fn wait(server: &dyn Target, run_id: &str, event: &str, body: &[u8]) -> u16 {
    let (status, json) = call(
        server,
        "POST",
        &format!("/v2/wait/{event}"),
        &[
            ("Upstash-Workflow-RunId", run_id),
            ("Upstash-Forward-Upstash-Workflow-Sdk-Version", "1"),
            ("Upstash-Workflow-CallType", "step"),
        ],
        body,
    );
    assert!(status == 200 || status >= 400, "{json}");
    status
}

/// waitForEvent + notify: the waiter is listed, the notify answers
/// `NotifyResponse[]` and delivers `[…, {…step, out: base64(data)}]`, and
/// the wait's timeout is gone with it (§3.7). In-process on the manual
/// clock, so the deadline can be passed.
#[test]
fn notify_wakes_the_waiting_run_with_the_event_data() {
    let p = InProcess::start();
    let sink = Sink::start();
    let url = sink.url("/wf");
    trigger(
        &p,
        &url,
        "wfr_w",
        &[("upstash-forward-x-auth", "secret")],
        "p",
    );
    sink.wait_for("/wf", 1, WAIT);
    let asked = p.now_ms();
    assert_eq!(wait(&p, "wfr_w", "evt-1", &wait_body(&url, "30s", 1)), 200);
    let (status, waiters) = call(&p, "GET", "/v2/waiters/evt-1", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(waiters.as_array().unwrap().len(), 1, "{waiters}");
    assert_eq!(waiters[0]["url"], url.as_str());
    assert_eq!(waiters[0]["deadline"], asked + 30_000, "{waiters}");

    let (status, out) = call(&p, "POST", "/v2/notify/evt-1", &[], br#"{"hello":1}"#);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out[0]["error"], "");
    assert_eq!(out[0]["waiter"]["url"], url.as_str());
    let delivered = sink.wait_for("/wf", 2, WAIT).remove(1);
    assert_eq!(
        delivered.header("upstash-message-id"),
        out[0]["messageId"].as_str()
    );
    assert_eq!(delivered.header("upstash-workflow-sdk-version"), Some("1"));
    assert_eq!(delivered.header("x-auth"), Some("secret"));
    let steps = raw_steps(&delivered.body);
    assert_eq!(steps.len(), 2);
    let result: Value = serde_json::from_str(&steps[1].1).unwrap();
    assert_eq!(result["stepName"], "wait");
    assert_eq!(result["waitEventId"], "evt-1");
    assert_eq!(result["waitTimeout"], false);
    assert_eq!(
        STANDARD.decode(result["out"].as_str().unwrap()).unwrap(),
        br#"{"hello":1}"#
    );
    let (_, waiters) = call(&p, "GET", "/v2/waiters/evt-1", &[], b"");
    assert_eq!(waiters, json!([]));
    let (_, again) = call(&p, "POST", "/v2/notify/evt-1", &[], b"x");
    assert_eq!(again, json!([]), "nobody waits any more");
    // The timeout went with the waiter: its deadline passes, nothing comes.
    p.advance_to(asked + 31_000);
    sink.assert_stays("/wf", 2, "no timeout after the notify");
}

/// A wait nobody notifies ends at its deadline with `waitTimeout: true`,
/// delivered to `timeoutUrl` with `timeoutHeaders` (§3.7); a wait without a
/// RunId, or for an unknown run, is refused. In-process on the manual clock.
#[test]
fn a_wait_times_out_at_its_deadline() {
    let p = InProcess::start();
    let sink = Sink::start();
    let url = sink.url("/wf");
    trigger(
        &p,
        &url,
        "wfr_w",
        &[("upstash-forward-x-auth", "secret")],
        "p",
    );
    sink.wait_for("/wf", 1, WAIT);
    let asked = p.now_ms();
    assert_eq!(wait(&p, "wfr_w", "evt-t", &wait_body(&url, "1s", 2)), 200);
    let (_, waiters) = call(&p, "GET", "/v2/waiters/evt-t", &[], b"");
    assert_eq!(waiters[0]["deadline"], asked + 1000, "{waiters}");
    // Not 1 ms before the deadline; at it.
    let delivered = p.expect_arrival_at(&sink, "/wf", asked + 1000).remove(1);
    assert_eq!(delivered.header("upstash-workflow-sdk-version"), Some("1"));
    assert_eq!(delivered.header("upstash-workflow-runid"), Some("wfr_w"));
    assert_eq!(delivered.header("x-auth"), Some("secret"));
    let steps = raw_steps(&delivered.body);
    let result: Value = serde_json::from_str(&steps[1].1).unwrap();
    assert_eq!(result["waitTimeout"], true);
    assert!(result.get("out").is_none());
    let (_, waiters) = call(&p, "GET", "/v2/waiters/evt-t", &[], b"");
    assert_eq!(waiters, json!([]));

    let (status, json) = call(&p, "POST", "/v2/wait/e", &[], &wait_body(&url, "1s", 3));
    assert_error(status, &json, 400, &["Upstash-Workflow-RunId"]);
    assert_eq!(wait(&p, "no-such-run", "e", &wait_body(&url, "1s", 3)), 400);
    assert_eq!(wait(&p, "wfr_w", "e", b"{\"url\": 1}"), 400);
}

/// Lookback: a notify for a run that is not waiting yet is kept, and the
/// run's next wait for that event is answered at once (§1 row 8).
#[test]
fn a_lookback_notify_is_kept_for_the_next_wait() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_w", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    let (status, out) = call(&server, "POST", "/v2/notify/wfr_w/evt-l", &[], b"early");
    assert_eq!((status, out), (200, json!([])));
    assert_eq!(
        wait(&server, "wfr_w", "evt-l", &wait_body(&url, "30s", 1)),
        200
    );
    let delivered = sink.wait_for("/wf", 2, WAIT).remove(1);
    let result: Value = serde_json::from_str(&raw_steps(&delivered.body)[1].1).unwrap();
    assert_eq!(
        STANDARD.decode(result["out"].as_str().unwrap()).unwrap(),
        b"early"
    );
    let (_, waiters) = call(&server, "GET", "/v2/waiters/evt-l", &[], b"");
    assert_eq!(waiters, json!([]), "consumed, nobody left waiting");
}

/// `client.cancel`: by ids, by URL prefix or exact URL, everything; pending
/// messages of a cancelled run are never delivered (§1 row 10, §3.10).
#[test]
fn bulk_cancel_by_ids_url_and_all() {
    let (_dir, server, sink) = start();
    let delayed = [("upstash-delay", "30s")];
    let m1 = trigger(&server, &sink.url("/a/x"), "r1", &delayed, "p");
    trigger(&server, &sink.url("/a/y"), "r2", &delayed, "p");
    trigger(&server, &sink.url("/a"), "r3", &delayed, "p");
    trigger(&server, &sink.url("/b"), "r4", &delayed, "p");
    trigger(&server, &sink.url("/c"), "r5", &delayed, "p");

    let cancel = |query: &str| {
        let (status, json) = call(
            &server,
            "DELETE",
            &format!("/v2/workflows/runs?{query}"),
            &[],
            b"",
        );
        assert_eq!(status, 200, "{query}: {json}");
        json["cancelled"].as_u64().unwrap()
    };
    let exact = format!("workflowUrl={}&workflowUrlExactMatch=true", sink.url("/a"));
    assert_eq!(cancel(&exact), 1, "only r3");
    assert_eq!(
        cancel(&format!("workflowUrl={}", sink.url("/a/"))),
        2,
        "r1, r2"
    );
    assert_eq!(
        cancel("workflowRunIds=r4&workflowRunIds=r1"),
        1,
        "r1 is already cancelled"
    );
    let (status, json) = call(&server, "DELETE", "/v2/workflows/runs?host=x", &[], b"");
    assert_error(status, &json, 400, &["host"]);
    assert_eq!(cancel("count=100"), 1, "all that is left: r5");
    assert_eq!(cancel(""), 0);
    for r in ["r1", "r2", "r3", "r4", "r5"] {
        assert_eq!(run_log(&server, r)["workflowState"], "RUN_CANCELED", "{r}");
    }
    let (status, _) = call(&server, "GET", &format!("/v2/messages/{m1}"), &[], b"");
    assert_eq!(status, 404, "the pending Init went with its run");
}

/// `client.logs`: state filter, newest first, paging with a cursor, steps.
/// In-process on the manual clock, which orders the runs' creation.
#[test]
fn workflow_events_report_runs_with_their_states_and_steps() {
    let p = InProcess::start();
    let sink = Sink::start();
    let url = sink.url("/wf");
    trigger(&p, &url, "l1", &[("upstash-label", "team-a")], "p");
    sink.wait_for("/wf", 1, WAIT);
    let s1 = step(
        &p,
        &url,
        "l1",
        &[],
        r#"{"stepId":1,"stepName":"one","stepType":"Run","out":"\"x\"","concurrent":1}"#,
    );
    sink.wait_for("/wf", 2, WAIT);
    // One run per millisecond, so "newest first" has one answer.
    p.advance(Duration::from_millis(1));
    trigger(&p, &url, "l2", &[], "p");
    p.advance(Duration::from_millis(1));
    trigger(&p, &url, "l3", &[], "p");
    end_run(&p, "l3", true, b"");

    let l1 = run_log(&p, "l1");
    assert_eq!(l1["workflowState"], "RUN_STARTED");
    assert_eq!(l1["workflowUrl"], url.as_str());
    assert_eq!(l1["label"], "team-a");
    assert!(l1["workflowRunCreatedAt"].as_i64().is_some());
    let steps = l1["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{l1}");
    assert_eq!(steps[0]["steps"][0]["stepType"], "Initial");
    assert_eq!(steps[1]["type"], "sequential");
    assert_eq!(steps[1]["steps"][0]["messageId"], s1.as_str());
    assert_eq!(steps[1]["steps"][0]["stepName"], "one");

    let (_, page) = call(&p, "GET", "/v2/workflows/events?count=2", &[], b"");
    let names: Vec<&str> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["workflowRunId"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["l3", "l2"], "newest first");
    let cursor = page["cursor"].as_str().expect("a next page").to_owned();
    let (_, rest) = call(
        &p,
        "GET",
        &format!("/v2/workflows/events?count=2&cursor={cursor}"),
        &[],
        b"",
    );
    assert_eq!(rest["runs"][0]["workflowRunId"], "l1");
    assert!(rest.get("cursor").is_none());

    let (_, canceled) = call(
        &p,
        "GET",
        "/v2/workflows/events?state=RUN_CANCELED",
        &[],
        b"",
    );
    assert_eq!(canceled["runs"].as_array().unwrap().len(), 1);
    assert_eq!(canceled["runs"][0]["workflowRunId"], "l3");
    let (status, json) = call(&p, "GET", "/v2/workflows/events?state=DONE", &[], b"");
    assert_error(status, &json, 400, &["state"]);
}

/// A run survives a crash mid-sleep: the sleeping step is delivered after
/// the restart with its log prefix and the trigger's headers (§TL;DR 2).
#[test]
fn a_restart_mid_sleep_continues_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    let url = sink.url("/wf");
    let mut server = ServerProcess::start(&db);
    let init = trigger(
        &server,
        &url,
        "wfr_s",
        &[
            ("upstash-forward-x-auth", "secret"),
            ("upstash-retries", "2"),
        ],
        "p",
    );
    sink.wait_for("/wf", 1, WAIT);
    let nap = step(
        &server,
        &url,
        "wfr_s",
        &[("upstash-delay", "2s")],
        r#"{"stepId":1,"stepName":"nap","stepType":"SleepFor","sleepFor":2,"concurrent":1}"#,
    );
    server.kill9();
    let server = ServerProcess::start(&db);
    let woke = sink.wait_for("/wf", 2, WAIT).remove(1);
    assert_eq!(ids(&woke.body), [init, nap]);
    assert_eq!(woke.header("x-auth"), Some("secret"));
    assert_eq!(woke.header("upstash-workflow-runid"), Some("wfr_s"));
    assert_eq!(run_log(&server, "wfr_s")["workflowState"], "RUN_STARTED");
}

/// A plain publish to a workflow endpoint (or a schedule's message) is a
/// first invocation to the SDK: it must carry no workflow headers (§3.2).
#[test]
fn a_plain_publish_carries_no_workflow_headers() {
    let (_dir, server, sink) = start();
    publish(
        &server,
        &sink.url("/wf"),
        &[("Content-Type", "application/json")],
        br#"{"n":1}"#,
    );
    let got = sink.wait_for("/wf", 1, WAIT).remove(0);
    assert_eq!(&got.body[..], br#"{"n":1}"#);
    let workflow: Vec<&str> = got
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("upstash-workflow"))
        .collect();
    assert!(workflow.is_empty(), "{workflow:?}");
}

/// `client.dlq`: the failed step is listed with its run, the failure
/// function can be called again, resume delivers the failed step again with
/// its log, restart starts over from the Init entry, delete removes
/// (§1 row 12).
#[test]
fn the_workflow_dlq_lists_resumes_restarts_and_deletes_failed_runs() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    sink.answer("/wf", 500, &[]);
    let fail_headers = [
        ("upstash-retries", "0"),
        ("upstash-failure-callback", &*sink.url("/fail")),
        ("upstash-forward-x-auth", "secret"),
    ];
    let init = trigger(&server, &url, "wfr_d", &fail_headers, "payload");
    sink.wait_for("/fail", 1, WAIT);
    let list = |query: &str| {
        let (status, json) = call(
            &server,
            "GET",
            &format!("/v2/dlq?source=workflow{query}"),
            &[],
            b"",
        );
        assert_eq!(status, 200, "{json}");
        json["messages"].as_array().unwrap().clone()
    };
    sink.answer("/plain", 500, &[]);
    let plain = publish(
        &server,
        &sink.url("/plain"),
        &[("Upstash-Retries", "0")],
        b"x",
    );
    // The plain message reaches the DLQ first, so the workflow filter below
    // has something to leave out; the plain DLQ lists it.
    wait_for_dlq(&server, &[&plain]);
    let entries = wait_until(WAIT, "the workflow DLQ entry", || {
        let l = list("");
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(entries.len(), 1, "only workflow steps: {entries:?}");
    let e = &entries[0];
    assert_eq!(e["workflowRunId"], "wfr_d");
    assert_eq!(e["workflowUrl"], url.as_str());
    assert_eq!(e["messageId"], init.as_str());
    assert!(e["workflowCreatedAt"].as_i64().is_some());
    assert_eq!(list("&workflowRunId=other").len(), 0);
    let dlq_id = e["dlqId"].as_str().unwrap().to_owned();
    let info = wait_until(WAIT, "the failure function's outcome", || {
        let l = list("");
        let info = l.first()?.get("failureCallbackInfo")?.clone();
        (info["state"] == "CALLBACK_SUCCESS").then_some(info)
    });
    assert_eq!(info["responseStatus"], 200);

    // The failure function again.
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/workflows/dlq/callback/{dlq_id}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["workflowRunId"], "wfr_d");
    let again = sink.wait_for("/fail", 2, WAIT).remove(1);
    let body: Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(
        STANDARD
            .decode(body["sourceBody"].as_str().unwrap())
            .unwrap(),
        b"payload"
    );

    // Resume: the failed Init is delivered again, the run is running again.
    sink.answer("/wf", 200, &[]);
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/workflows/dlq/resume?dlqIds={dlq_id}"),
        &[("Upstash-Retries", "2")],
        b"",
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["workflowRuns"][0]["workflowRunId"], "wfr_d");
    let resumed = sink.wait_for("/wf", 2, WAIT).remove(1);
    let steps = raw_steps(&resumed.body);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].1, "payload");
    assert_eq!(steps[0].0, resumed.header("upstash-message-id").unwrap());
    assert_eq!(resumed.header("x-auth"), Some("secret"));
    assert_eq!(run_log(&server, "wfr_d")["workflowState"], "RUN_STARTED");
    assert!(list("").is_empty(), "resumed entries leave the DLQ");

    // Restart: a second run fails after a step and starts over from [init].
    sink.answer("/wf2", 500, &[]);
    let url2 = sink.url("/wf2");
    let init2 = trigger(
        &server,
        &url2,
        "wfr_r",
        &[("upstash-retries", "0")],
        "again",
    );
    let entry = wait_until(WAIT, "the second run's DLQ entry", || {
        list("&workflowRunId=wfr_r").first().cloned()
    });
    assert_eq!(entry["messageId"], init2.as_str());
    sink.answer("/wf2", 200, &[]);
    let (status, json) = call(
        &server,
        "POST",
        &format!(
            "/v2/workflows/dlq/restart?dlqIds={}",
            entry["dlqId"].as_str().unwrap()
        ),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{json}");
    let restarted = sink.wait_for("/wf2", 2, WAIT).remove(1);
    let steps = raw_steps(&restarted.body);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].1, "again");
    assert_eq!(restarted.header("upstash-workflow-sdk-version"), Some("1"));

    // Delete: fail a third run, then remove its entry.
    sink.answer("/wf3", 500, &[]);
    trigger(
        &server,
        &sink.url("/wf3"),
        "wfr_x",
        &[("upstash-retries", "0")],
        "p",
    );
    wait_until(WAIT, "the third run's DLQ entry", || {
        (!list("&workflowRunId=wfr_x").is_empty()).then_some(())
    });
    let (status, json) = call(
        &server,
        "DELETE",
        "/v2/workflows/dlq?workflowRunId=wfr_x",
        &[],
        b"",
    );
    assert_eq!((status, json["deleted"].as_u64()), (200, Some(1)), "{json}");
    assert!(list("").is_empty());
}

/// The `UserID` of the server's token, as the SDK puts it in webhook URLs
/// (base64 JSON, §3.7).
fn user_id(server: &dyn Target) -> String {
    let raw = STANDARD.decode(server.token()).unwrap();
    let v: Value = serde_json::from_slice(&raw).unwrap();
    v["UserID"].as_str().unwrap().to_owned()
}

/// Calls a webhook URL the way a third party does: no token.
fn hook(
    server: &dyn Target,
    path: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let (status, text) = common::request(server.addr(), method, path, headers, body).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

/// `POST /v2/wait/{eventId}` of `waitForWebhook` (§1 row 6).
fn webhook_wait_body(url: &str, run_id: &str) -> Vec<u8> {
    json!({
        "url": url,
        "timeout": "30s",
        "timeoutUrl": url,
        "timeoutHeaders": {
            "Upstash-Forward-Upstash-Workflow-Sdk-Version": ["1"],
            "Upstash-Workflow-Runid": [run_id],
        },
        "step": {"stepId": 2, "stepType": "WaitForWebhook", "stepName": "hook", "concurrent": 1},
    })
    .to_string()
    .into_bytes()
}

/// The record a webhook result step carries: `out` is base64 of the JSON
/// `{method, header, body: base64, proto, host, url}` (§3.7).
fn webhook_record(delivery: &Received) -> Value {
    let steps = raw_steps(&delivery.body);
    let result: Value = serde_json::from_str(&steps.last().unwrap().1).unwrap();
    assert_eq!(result["stepType"], "WaitForWebhook");
    assert_eq!(result["waitTimeout"], false);
    let out = STANDARD.decode(result["out"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// A run waits on its webhook; a call without any token, with any method,
/// wakes it with the recorded request, and the wait's timeout goes with it.
#[test]
fn a_webhook_call_without_a_token_resumes_the_waiting_run() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(
        &server,
        &url,
        "wfr_h",
        &[("upstash-forward-x-auth", "secret")],
        "p",
    );
    sink.wait_for("/wf", 1, WAIT);
    let event = "evt_Zx4mQ2pL9aT7bYc";
    assert_eq!(
        wait(&server, "wfr_h", event, &webhook_wait_body(&url, "wfr_h")),
        200
    );
    let path = format!(
        "/v2/workflows/hooks/{}/wfr_h/{event}?order=7",
        user_id(&server)
    );
    let (status, json) = hook(
        &server,
        &path,
        "PUT",
        &[("Content-Type", "application/json"), ("X-Tag", "a")],
        br#"{"paid":true}"#,
    );
    assert_eq!(status, 200, "{json}");
    let delivered = sink.wait_for("/wf", 2, WAIT).remove(1);
    assert_eq!(
        delivered.header("upstash-message-id"),
        json["messageId"].as_str()
    );
    assert_eq!(delivered.header("x-auth"), Some("secret"));
    let record = webhook_record(&delivered);
    assert_eq!(record["method"], "PUT");
    assert_eq!(record["url"], path.as_str());
    assert_eq!(record["proto"], "http");
    assert_eq!(record["host"], server.addr().to_string());
    assert_eq!(record["header"]["X-Tag"], json!(["a"]));
    assert_eq!(
        record["header"]["Content-Type"],
        json!(["application/json"])
    );
    assert_eq!(
        STANDARD.decode(record["body"].as_str().unwrap()).unwrap(),
        br#"{"paid":true}"#
    );
    let (_, waiters) = call(&server, "GET", &format!("/v2/waiters/{event}"), &[], b"");
    assert_eq!(waiters, json!([]));
}

/// A wrong user id, an unknown run and an ended run all get the same 404
/// with `{"error"}`, and nothing reaches the workflow.
#[test]
fn webhook_calls_for_a_wrong_user_an_unknown_or_an_ended_run_are_404() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_e", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    assert_eq!(
        wait(&server, "wfr_e", "evt_1", &webhook_wait_body(&url, "wfr_e")),
        200
    );
    let user = user_id(&server);
    for path in [
        "/v2/workflows/hooks/someoneElse/wfr_e/evt_1".to_owned(),
        format!("/v2/workflows/hooks/{user}/wfr_nope/evt_1"),
    ] {
        let (status, json) = hook(&server, &path, "POST", &[], b"x");
        assert_error(status, &json, 404, &["webhook"]);
    }
    end_run(&server, "wfr_e", false, b"");
    let (status, json) = hook(
        &server,
        &format!("/v2/workflows/hooks/{user}/wfr_e/evt_1"),
        "POST",
        &[],
        b"x",
    );
    assert_error(status, &json, 404, &["webhook"]);
    sink.assert_stays("/wf", 1, "no webhook call reached the run");
}

/// The token-free hook route reads bodies under the same limit as a
/// publish (`--max-body`): 413, and the waiting run is not woken.
#[test]
fn a_webhook_body_over_the_limit_is_refused() {
    let (_dir, server, sink) = common::start_with(
        common::ServerOptions::default()
            .arg("--max-body")
            .arg("4000"),
    );
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_b", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    assert_eq!(
        wait(&server, "wfr_b", "evt_b", &webhook_wait_body(&url, "wfr_b")),
        200
    );
    let path = format!("/v2/workflows/hooks/{}/wfr_b/evt_b", user_id(&server));
    let (status, json) = hook(&server, &path, "POST", &[], &[b'x'; 4001]);
    assert_error(status, &json, 413, &["--max-body"]);
    sink.assert_stays("/wf", 1, "the waiting run was not woken");
}

/// A call that comes before `waitForWebhook` registers is kept for the run
/// and answers the wait at once.
#[test]
fn a_webhook_call_before_the_wait_is_kept_and_consumed_by_it() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_k", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    let path = format!("/v2/workflows/hooks/{}/wfr_k/evt_early", user_id(&server));
    let (status, json) = hook(&server, &path, "GET", &[], b"");
    assert_eq!(status, 200, "{json}");
    sink.assert_stays("/wf", 1, "nobody waits yet");
    assert_eq!(
        wait(
            &server,
            "wfr_k",
            "evt_early",
            &webhook_wait_body(&url, "wfr_k")
        ),
        200
    );
    let delivered = sink.wait_for("/wf", 2, WAIT).remove(1);
    let record = webhook_record(&delivered);
    assert_eq!(record["method"], "GET");
    assert_eq!(record["url"], path.as_str());
    let (_, waiters) = call(&server, "GET", "/v2/waiters/evt_early", &[], b"");
    assert_eq!(waiters, json!([]), "consumed, nobody left waiting");
}

/// The parent step headers of an invoke envelope (`LazyInvokeStep.getBody`).
fn invoke_envelope(parent_url: &str, payload: &str, step_id: u32) -> String {
    json!({
        "body": payload,
        "headers": {
            "Upstash-Workflow-Init": ["false"],
            "Upstash-Workflow-RunId": ["wfr_parent"],
            "Upstash-Workflow-Url": [parent_url],
            "Upstash-Feature-Set": ["LazyFetch,InitialBody,WF_DetectTrigger,WF_TriggerOnConfig"],
            "Upstash-Workflow-Sdk-Version": ["1"],
            "Upstash-Forward-Upstash-Workflow-Sdk-Version": ["1"],
            "Upstash-Workflow-Runid": ["wfr_parent"],
        },
        "workflowRunId": "wfr_parent",
        "workflowRunCreatedAt": 1_700_000_000_000u64,
        "workflowUrl": parent_url,
        "step": {"stepId": step_id, "stepName": "child", "stepType": "Invoke", "concurrent": 1},
    })
    .to_string()
}

/// Starts a parent run and invokes a child the way the SDK publishes it
/// (§3.8); returns (parent URL, child URL) once the child got its Init.
fn invoke_child(server: &dyn Target, sink: &Sink, extra: &[(&str, &str)]) -> (String, String) {
    let parent = sink.url("/app/parent");
    let child = sink.url("/app/child");
    trigger(
        server,
        &parent,
        "wfr_parent",
        &[("upstash-forward-x-auth", "p-secret")],
        "parent payload",
    );
    sink.wait_for("/app/parent", 1, WAIT);
    let mut headers = vec![
        ("Upstash-Workflow-RunId", "wfr_child"),
        ("Upstash-Workflow-Init", "true"),
        ("Upstash-Workflow-Url", child.as_str()),
        ("Upstash-Workflow-Invoke", "true"),
        ("Upstash-Workflow-Sdk-Version", "1"),
        ("Upstash-Forward-Upstash-Workflow-Sdk-Version", "1"),
        ("Upstash-Forward-Upstash-Workflow-Invoke-Count", "1"),
        ("Upstash-Forward-X-Child", "c"),
        ("Upstash-Failure-Callback", child.as_str()),
        ("Upstash-Method", "POST"),
    ];
    headers.extend_from_slice(extra);
    publish(
        server,
        &child,
        &headers,
        invoke_envelope(&parent, r#"{"n":5}"#, 1).as_bytes(),
    );
    (parent, child)
}

/// The `out` of the invoke result step delivered to the parent.
fn invoke_result(sink: &Sink) -> Value {
    let delivered = sink.wait_for("/app/parent", 2, WAIT).remove(1);
    assert_eq!(
        delivered.header("upstash-workflow-runid"),
        Some("wfr_parent")
    );
    assert_eq!(
        delivered.header("x-auth"),
        Some("p-secret"),
        "the parent's headers"
    );
    let steps = raw_steps(&delivered.body);
    assert_eq!(steps.len(), 2, "[parent init, invoke result]");
    assert_eq!(steps[0].1, "parent payload");
    let result: Value = serde_json::from_str(&steps[1].1).unwrap();
    assert_eq!(result["stepId"], 1);
    assert_eq!(result["stepName"], "child");
    assert_eq!(result["stepType"], "Invoke");
    serde_json::from_str(result["out"].as_str().unwrap()).unwrap()
}

/// The child starts with the envelope's `body` and its own headers; its
/// successful end (the SDK's DELETE with the result) is delivered to the
/// parent as the invoke step's result.
#[test]
fn an_invoked_child_gets_the_payload_and_its_success_reaches_the_parent() {
    let (_dir, server, sink) = start();
    invoke_child(&server, &sink, &[]);
    let init = sink.wait_for("/app/child", 1, WAIT).remove(0);
    assert_eq!(raw_steps(&init.body)[0].1, r#"{"n":5}"#);
    assert_eq!(init.header("upstash-workflow-runid"), Some("wfr_child"));
    assert_eq!(init.header("x-child"), Some("c"));
    assert_eq!(init.header("upstash-workflow-invoke-count"), Some("1"));
    end_run(&server, "wfr_child", false, br#"{"doubled":10}"#);
    assert_eq!(invoke_result(&sink), json!({"body": "{\"doubled\":10}"}));
    // Deleting again delivers nothing more.
    end_run(&server, "wfr_child", false, b"");
    sink.assert_stays("/app/parent", 2, "one result per child");
}

/// A child that runs out of attempts fails and gives the parent
/// `isFailed: true` with the failed response's body.
#[test]
fn a_failed_child_reports_is_failed_to_the_parent() {
    let (_dir, server, sink) = start();
    sink.answer("/app/child", 500, &[]);
    invoke_child(&server, &sink, &[("Upstash-Retries", "0")]);
    assert_eq!(
        invoke_result(&sink),
        json!({"body": "sink says 500", "isFailed": true})
    );
    assert_eq!(run_log(&server, "wfr_child")["workflowState"], "RUN_FAILED");
}

/// A cancelled child gives the parent `isCanceled: true`.
#[test]
fn a_cancelled_child_reports_is_canceled_to_the_parent() {
    let (_dir, server, sink) = start();
    invoke_child(&server, &sink, &[]);
    sink.wait_for("/app/child", 1, WAIT);
    end_run(&server, "wfr_child", true, b"");
    assert_eq!(invoke_result(&sink), json!({"isCanceled": true}));
}

/// An invoke whose body is not an envelope is refused, naming the header.
#[test]
fn an_invoke_without_an_envelope_is_refused() {
    let (_dir, server, sink) = start();
    let child = sink.url("/child");
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{child}"),
        &[
            ("Upstash-Workflow-RunId", "wfr_bad"),
            ("Upstash-Workflow-Init", "true"),
            ("Upstash-Workflow-Invoke", "true"),
        ],
        b"just a payload",
    );
    assert_error(
        status,
        &json,
        400,
        &["invoke body", "Upstash-Workflow-Invoke"],
    );
}

/// The SDK ends a run while it answers the delivery of its last step: that
/// step is logged as delivered, not cancelled with the run's leftovers.
#[test]
fn the_step_answered_while_the_run_ends_is_logged_delivered() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_l", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    sink.answer_after("/wf", 200, &[], Duration::from_millis(500));
    let last = step(
        &server,
        &url,
        "wfr_l",
        &[],
        r#"{"stepId":1,"stepName":"one","stepType":"Run","out":"1","concurrent":1}"#,
    );
    sink.wait_for("/wf", 2, WAIT); // in flight: the sink holds its answer
    end_run(&server, "wfr_l", false, b"\"done\"");
    let states = wait_for_state(&server, &last, "DELIVERED");
    assert!(!states.iter().any(|s| s == "CANCELED"), "{states:?}");
    assert_eq!(run_log(&server, "wfr_l")["workflowState"], "RUN_SUCCESS");
}

/// A plain `POST /v2/dlq/retry/{dlqId}` of a failed workflow step resumes
/// the run: the step is delivered again with the log up to it.
#[test]
fn a_plain_dlq_retry_of_a_workflow_step_resumes_the_run() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    sink.answer("/wf", 500, &[]);
    let init = trigger(
        &server,
        &url,
        "wfr_q",
        &[("upstash-retries", "0"), ("upstash-forward-x-auth", "s")],
        "payload",
    );
    let entries = wait_for_dlq(&server, &[&init]);
    let dlq_id = entries
        .iter()
        .find(|e| e["messageId"] == init.as_str())
        .unwrap()["dlqId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(run_log(&server, "wfr_q")["workflowState"], "RUN_FAILED");
    sink.answer("/wf", 200, &[]);
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/dlq/retry/{dlq_id}"),
        &[],
        b"",
    );
    assert_eq!(status, 201, "{json}");
    let again = sink.wait_for("/wf", 2, WAIT).remove(1);
    let steps = raw_steps(&again.body);
    assert_eq!(steps.len(), 1, "the log up to the failed step, once");
    assert_eq!(steps[0].1, "payload");
    assert_eq!(
        Some(steps[0].0.as_str()),
        again.header("upstash-message-id")
    );
    assert_eq!(again.header("x-auth"), Some("s"));
    assert_eq!(run_log(&server, "wfr_q")["workflowState"], "RUN_STARTED");
}

/// A child that ends after its parent has ended adds nothing to the
/// parent: there is no running run to continue.
#[test]
fn a_child_ending_after_its_parent_reports_nothing() {
    let (_dir, server, sink) = start();
    invoke_child(&server, &sink, &[]);
    sink.wait_for("/app/child", 1, WAIT);
    end_run(&server, "wfr_parent", true, b"");
    end_run(&server, "wfr_child", false, b"1");
    assert_eq!(
        run_log(&server, "wfr_child")["workflowState"],
        "RUN_SUCCESS"
    );
    sink.assert_stays("/app/parent", 1, "the parent had ended");
}

/// A webhook wakes only `waitForWebhook`: a `waitForEvent` of the same run
/// and event id keeps waiting (its ids are the user's, the hook needs none).
#[test]
fn a_webhook_call_does_not_wake_a_wait_for_event() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_w", &[], "p");
    sink.wait_for("/wf", 1, WAIT);
    assert_eq!(
        wait(&server, "wfr_w", "order-1", &wait_body(&url, "30s", 1)),
        200
    );
    let path = format!("/v2/workflows/hooks/{}/wfr_w/order-1", user_id(&server));
    let (status, json) = hook(&server, &path, "POST", &[], b"x");
    assert_eq!(status, 200, "{json}");
    sink.assert_stays("/wf", 1, "the waitForEvent was not woken");
    let (_, waiters) = call(&server, "GET", "/v2/waiters/order-1", &[], b"");
    assert_eq!(waiters.as_array().unwrap().len(), 1, "{waiters}");
    // Nor is the call kept for a later waitForEvent of those ids.
    let (status, _) = hook(
        &server,
        &path.replace("order-1", "order-2"),
        "POST",
        &[],
        b"y",
    );
    assert_eq!(status, 200);
    assert_eq!(
        wait(&server, "wfr_w", "order-2", &wait_body(&url, "30s", 2)),
        200
    );
    sink.assert_stays("/wf", 1, "the later waitForEvent still waits");
}

/// `client.logs` of a sleeping run: the step that waits for its delay is the
/// `next` group's `STEP_PROGRESS` step, with no errors (§3.4, §3.11).
#[test]
fn a_sleeping_step_is_in_progress_in_the_logs() {
    let (_dir, server, sink) = start();
    let url = sink.url("/wf");
    trigger(&server, &url, "wfr_sleepy", &[], "{}");
    sink.wait_for("/wf", 1, WAIT);
    let s1 = step(
        &server,
        &url,
        "wfr_sleepy",
        &[("upstash-delay", "1h")],
        r#"{"stepId":1,"stepName":"nap","stepType":"SleepFor","sleepFor":3600,"concurrent":1}"#,
    );
    let run = run_log(&server, "wfr_sleepy");
    let steps = run["steps"].as_array().unwrap();
    let next = steps.last().unwrap();
    assert_eq!(next["type"], "next", "{run}");
    assert_eq!(
        next["steps"],
        json!([{"messageId": s1, "state": "STEP_PROGRESS", "retries": 3}]),
        "{run}"
    );
    assert!(run.get("dlqId").is_none() && run.get("failureFunction").is_none());
}

/// Once the failed step is deleted from the DLQ the run has no `dlqId` and
/// no failed step to show; its failure function's call stays, without the
/// failed step's answer (§3.11: the contract is silent here).
#[test]
fn a_failed_step_deleted_from_the_dlq_leaves_the_failure_function_only() {
    let (_dir, server, sink) = start();
    sink.answer_with_body("/refuses", 400, &[], b"nope");
    let url = sink.url("/refuses");
    let failure_url = sink.url("/failure");
    trigger(
        &server,
        &url,
        "wfr_gone",
        &[
            ("upstash-retries", "0"),
            ("upstash-failure-callback", failure_url.as_str()),
        ],
        "{}",
    );
    let run = wait_until(WAIT, "the failure function's call succeeded", || {
        let run = run_log(&server, "wfr_gone");
        (run["failureFunction"]["state"] == "CALLBACK_SUCCESS").then_some(run)
    });
    let dlq_id = run["dlqId"].as_str().expect("dlqId").to_owned();
    assert_eq!(run["failureFunction"]["dlqId"], dlq_id.as_str());
    assert_eq!(run["failureFunction"]["failStatus"], 400);
    let (status, json) = call(&server, "DELETE", &format!("/v2/dlq/{dlq_id}"), &[], b"");
    assert!(status < 300, "{status} {json}");

    let run = run_log(&server, "wfr_gone");
    assert_eq!(run["workflowState"], "RUN_FAILED");
    assert!(run.get("dlqId").is_none(), "{run}");
    let types: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["sequential"], "no next group: {run}");
    let f = &run["failureFunction"];
    assert_eq!(
        (&f["state"], &f["url"], &f["failStatus"], &f["dlqId"]),
        (
            &json!("CALLBACK_SUCCESS"),
            &json!(failure_url),
            &json!(0),
            &json!("")
        ),
        "{run}"
    );
}
