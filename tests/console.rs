//! The web console in a real browser: Debian's headless Chromium, driven by
//! playwright-core (sdk-tests/console/console.test.mjs), against the real
//! binary and a sink on 127.0.0.1.
//!
//! The test first runs sdk-tests/setup-console.sh, which installs Chromium
//! (apt-get, as root) and playwright-core once and is a no-op after that.
//! Here the servers are started and seeded with what the browser cannot
//! make by itself: a message that failed into the DLQ (the sink answers
//! it with a hostile body), a finished and a running workflow run (the
//! workflow wire protocol by hand, as in tests/workflow_api.rs). The
//! browser program does the rest through the pages and writes screenshots
//! to target/console-screenshots/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::api::{call, publish, wait_for_dlq};
use common::sink::Sink;
use common::wait::{wait_until, WAIT};
use common::{run_setup, run_with_timeout, ServerOptions, ServerProcess};
use serde_json::{json, Value};

/// The whole browser program, setup excluded.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(200);

/// Values that would run script if the console ever put data into HTML.
const XSS: [&str; 3] = [
    "<script>window.__xss=1</script>",
    "\"><img src=x onerror=\"window.__xss=1\">",
    "javascript:window.__xss=1",
];

/// The token of the second server, which asks for it.
const LOCKED_TOKEN: &str = "console-test-token-7f3a9c";

fn xss_text() -> String {
    XSS.join("\n")
}

/// One workflow message as the SDK batches it (workflow-wire §2.1).
fn workflow_item(url: &str, run_id: &str, init: bool, body: &str) -> Value {
    json!({
        "destination": url,
        "headers": {
            "upstash-workflow-runid": run_id,
            "upstash-workflow-init": init.to_string(),
            "upstash-workflow-url": url,
            "upstash-workflow-sdk-version": "1",
            "upstash-forward-upstash-workflow-sdk-version": "1",
            "upstash-method": "POST",
            "content-type": "application/json",
            "upstash-label": "console-test",
        },
        "body": body,
    })
}

fn batch(server: &ServerProcess, item: Value) {
    let (status, json) = call(
        server,
        "POST",
        "/v2/batch",
        &[("Content-Type", "application/json")],
        json!([item]).to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{json}");
    assert!(json[0]["messageId"].is_string(), "{json}");
}

/// A run with its trigger and one step, ended with a result.
fn finished_run(server: &ServerProcess, sink: &Sink, run_id: &str) {
    let url = sink.url("/wf");
    let before = sink.received("/wf").len();
    batch(server, workflow_item(&url, run_id, true, r#"{"order":42}"#));
    sink.wait_for("/wf", before + 1, WAIT);
    let out = serde_json::to_string(&xss_text()).unwrap();
    let step = json!({
        "stepId": 1, "stepName": "charge-card", "stepType": "Run", "out": out, "concurrent": 1,
    });
    batch(
        server,
        workflow_item(&url, run_id, false, &step.to_string()),
    );
    sink.wait_for("/wf", before + 2, WAIT);
    let (status, json) = call(
        server,
        "DELETE",
        &format!("/v2/workflows/runs/{run_id}?cancel=false"),
        &[],
        xss_text().as_bytes(),
    );
    assert_eq!(status, 200, "{json}");
}

/// A run whose trigger the destination refuses (400, no retries) and whose
/// failure URL answers 200: `client.logs` has its failed step with the
/// error and the failure function's call, which the run page shows.
fn failed_run(server: &ServerProcess, sink: &Sink, run_id: &str) {
    let url = sink.url("/wf-refuses");
    sink.answer_with_body(
        "/wf-refuses",
        400,
        &[("X-Why", "on-purpose")],
        b"refused here",
    );
    let mut item = workflow_item(&url, run_id, true, r#"{"order":9}"#);
    item["headers"]["upstash-retries"] = json!("0");
    item["headers"]["upstash-failure-callback"] = json!(sink.url("/wf-failure"));
    batch(server, item);
    wait_until(WAIT, "the failure function's call succeeded", || {
        let (_, json) = call(
            server,
            "GET",
            &format!("/v2/workflows/events?workflowRunId={run_id}"),
            &[],
            b"",
        );
        (json["runs"][0]["failureFunction"]["state"] == "CALLBACK_SUCCESS").then_some(())
    });
}

fn screenshot_dir() -> PathBuf {
    // target/<profile>/cronhook → target/console-screenshots
    Path::new(env!("CARGO_BIN_EXE_cronhook"))
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("console-screenshots"))
        .expect("the target directory")
}

#[test]
fn the_console_works_in_a_real_browser() {
    run_setup("setup-console.sh");
    let dir = tempfile::tempdir().unwrap();
    // The public dev token on a loopback address: the console opens at once.
    let server = ServerProcess::start(dir.path().join("open.db"));
    // A token of its own: the console asks for it.
    let locked = ServerProcess::start_with(
        dir.path().join("locked.db"),
        ServerOptions::default().env("QSTASH_TOKEN", LOCKED_TOKEN),
    );
    let sink = Sink::start();
    sink.answer_with_body(
        "/fail",
        500,
        &[("X-Evil", XSS[1])],
        format!("upstream broke: {}", xss_text()).as_bytes(),
    );

    let failed = publish(
        &server,
        &sink.url("/fail"),
        &[
            ("Upstash-Retries", "0"),
            ("Content-Type", "text/plain"),
            ("Upstash-Forward-X-Evil", XSS[1]),
        ],
        xss_text().as_bytes(),
    );
    wait_for_dlq(&server, &[&failed]);
    finished_run(&server, &sink, "wfr_console_done");
    batch(
        &server,
        workflow_item(&sink.url("/wf"), "wfr_console_running", true, "{}"),
    );

    let shots = screenshot_dir();
    // Fresh each run: what is there was written by this run.
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let program_dir = root.join("sdk-tests").join("console");
    let mut cmd = Command::new("node");
    cmd.arg(program_dir.join("console.test.mjs"))
        .current_dir(&program_dir)
        .env("CONSOLE_URL", &server.url)
        .env("CONSOLE_TOKEN", &server.token)
        .env("LOCKED_URL", &locked.url)
        .env("LOCKED_TOKEN", LOCKED_TOKEN)
        .env("SINK_URL", sink.url(""))
        .env("DLQ_MESSAGE_ID", &failed)
        .env("WORKFLOW_RUN_ID", "wfr_console_done")
        .env("RUNNING_RUN_ID", "wfr_console_running")
        .env("SCREENSHOT_DIR", &shots);
    common::loopback_only(&mut cmd);
    let started = std::time::Instant::now();
    let (status, out, err) = run_with_timeout(cmd, PROGRAM_TIMEOUT);
    let ok = matches!(status, Some(s) if s.success());
    if !ok {
        panic!(
            "the browser test {}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n\
             --- cronhook stderr ---\n{}",
            match status {
                Some(s) => format!("exited with {s}"),
                None => format!("timed out after {PROGRAM_TIMEOUT:?}"),
            },
            server.stderr_text()
        );
    }
    eprintln!(
        "browser test passed in {:.1} s:\n{out}",
        started.elapsed().as_secs_f64()
    );

    // What the browser did reached the sink: the seconds schedule fired,
    // and the edited retry went to the fixed URL with the original body.
    assert!(
        sink.received("/tick").len() >= 2,
        "the seconds schedule fired"
    );
    let fixed = sink.received("/fixed");
    assert_eq!(fixed.len(), 1, "the edited retry was delivered once");
    assert_eq!(&fixed[0].body[..], xss_text().as_bytes());
    assert_eq!(fixed[0].header("x-evil"), Some(XSS[1]));
    for name in [
        "overview",
        "schedules",
        "schedule-form",
        "schedule-detail",
        "logs",
        "message",
        "dlq",
        "workflows",
        "workflow-run",
        "settings",
        "login",
    ] {
        for width in [1280, 390] {
            let png = shots.join(format!("{name}-{width}.png"));
            assert!(png.is_file(), "{} was written", png.display());
        }
    }
}

/// A run with a webhook and an invoked child, through cronhook's own paths
/// (workflow-wire §3.7, §3.8): the SDK's CreateWebhook step, a
/// waitForWebhook wait, a token-free call to the hook URL (cronhook records
/// it as the wait's result), and a child run started by invoke whose end
/// cronhook reports to the parent as its Invoke step. The run page shows the
/// recorded request and the child's result.
fn webhook_and_invoke_run(server: &ServerProcess, sink: &Sink, run_id: &str) {
    let url = sink.url("/wf");
    let delivered = |n: usize| sink.wait_for("/wf", n, WAIT);
    batch(server, workflow_item(&url, run_id, true, r#"{"order":7}"#));
    delivered(1);
    let hook = format!("/v2/workflows/hooks/defaultUser/{run_id}/evt_1");
    let made = json!({"stepId": 1, "stepName": "make-hook", "stepType": "CreateWebhook", "concurrent": 1,
        "out": json!({"webhookUrl": format!("{}{hook}", server.url), "eventId": "evt_1"}).to_string()});
    batch(
        server,
        workflow_item(&url, run_id, false, &made.to_string()),
    );
    delivered(2);
    let wait = json!({
        "url": url, "timeout": "1h", "timeoutUrl": url,
        "timeoutHeaders": {"Upstash-Forward-Upstash-Workflow-Sdk-Version": ["1"], "Upstash-Workflow-Runid": [run_id]},
        "step": {"stepId": 2, "stepType": "WaitForWebhook", "stepName": "await-payment", "concurrent": 1},
    });
    let (status, json) = call(
        server,
        "POST",
        "/v2/wait/evt_1",
        &[
            ("Upstash-Workflow-RunId", run_id),
            ("Upstash-Forward-Upstash-Workflow-Sdk-Version", "1"),
            ("Upstash-Workflow-CallType", "step"),
        ],
        wait.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{json}");
    // The third party's call: no token, a hostile header and body.
    let body = format!(
        "{{\"paid\":true,\"note\":{}}}",
        serde_json::to_string(XSS[0]).unwrap()
    );
    let (status, text) = common::request(
        server.addr,
        "POST",
        &format!("{hook}?from=payments"),
        &[("Content-Type", "application/json"), ("X-Evil", XSS[1])],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    delivered(3);
    // invoke: the child gets the envelope's body; its end reaches the parent.
    let child = sink.url("/child");
    let envelope = json!({
        "body": r#"{"ship":"now"}"#,
        "headers": {
            "Upstash-Workflow-Init": ["false"], "Upstash-Workflow-RunId": [run_id],
            "Upstash-Workflow-Url": [url], "Upstash-Workflow-Sdk-Version": ["1"],
            "Upstash-Forward-Upstash-Workflow-Sdk-Version": ["1"],
        },
        "workflowRunId": run_id, "workflowRunCreatedAt": 1_700_000_000_000u64, "workflowUrl": url,
        "step": {"stepId": 3, "stepName": "ship", "stepType": "Invoke", "concurrent": 1},
    });
    publish(
        server,
        &child,
        &[
            ("Upstash-Workflow-RunId", "wfr_console_child"),
            ("Upstash-Workflow-Init", "true"),
            ("Upstash-Workflow-Url", child.as_str()),
            ("Upstash-Workflow-Invoke", "true"),
            ("Upstash-Workflow-Sdk-Version", "1"),
            ("Upstash-Forward-Upstash-Workflow-Sdk-Version", "1"),
            ("Upstash-Method", "POST"),
        ],
        envelope.to_string().as_bytes(),
    );
    sink.wait_for("/child", 1, WAIT);
    let (status, json) = call(
        server,
        "DELETE",
        "/v2/workflows/runs/wfr_console_child?cancel=false",
        &[],
        br#"{"shipped":true}"#,
    );
    assert_eq!(status, 200, "{json}");
    delivered(4);
}

/// Queues, URL groups and flow control in the console, and the schedule form's
/// queue destination and flow-control fields (sdk-tests/console/surface.test.mjs).
/// Also: the same pages against a server without those endpoints (the browser
/// answers them 404 itself) say "not available on this server".
#[test]
fn the_console_manages_queues_url_groups_and_flow_control() {
    run_setup("setup-console.sh");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path().join("surface.db"));
    let sink = Sink::start();
    // Deliveries to /fc hang a while, so a key with parallelism 1 has one
    // message in flight and the next in its waitlist.
    sink.answer_after("/fc", 200, &[], Duration::from_secs(20));
    webhook_and_invoke_run(&server, &sink, "wfr_console_hooks");
    failed_run(&server, &sink, "wfr_console_failed");

    let shots = screenshot_dir().with_file_name("console-screenshots-surface");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let program_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sdk-tests")
        .join("console");
    let mut cmd = Command::new("node");
    cmd.arg(program_dir.join("surface.test.mjs"))
        .current_dir(&program_dir)
        .env("CONSOLE_URL", &server.url)
        .env("CONSOLE_TOKEN", &server.token)
        .env("SINK_URL", sink.url(""))
        .env("HOOKS_RUN_ID", "wfr_console_hooks")
        .env("FAILED_RUN_ID", "wfr_console_failed")
        .env("SCREENSHOT_DIR", &shots);
    common::loopback_only(&mut cmd);
    let (status, out, err) = run_with_timeout(cmd, PROGRAM_TIMEOUT);
    if !matches!(status, Some(s) if s.success()) {
        panic!(
            "surface.test.mjs {status:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n\
             --- cronhook stderr ---\n{}",
            server.stderr_text()
        );
    }
    eprintln!("{out}");
    // The schedule the form made fired through its queue.
    sink.wait_for("/queued", 1, WAIT);
    for name in [
        "queues",
        "url-groups",
        "flow-control",
        "schedule-form-queue",
        "workflow-run-hooks",
        "workflow-run-failed",
        "not-available",
    ] {
        for width in [1280, 390] {
            let png = shots.join(format!("{name}-{width}.png"));
            assert!(png.is_file(), "{} was written", png.display());
        }
    }
}
