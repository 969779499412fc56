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
use common::wait::WAIT;
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
        .env("SCREENSHOT_DIR", &shots)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    for k in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(k);
    }
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

/// A run whose steps are a webhook made, the call it got, and an invoked
/// child run, as the SDK and cronhook record them (workflow-wire §3.7, §3.8):
/// the run page shows the request and links the child.
fn webhook_and_invoke_run(server: &ServerProcess, sink: &Sink, run_id: &str) {
    let url = sink.url("/wf");
    let before = sink.received("/wf").len();
    batch(server, workflow_item(&url, run_id, true, r#"{"order":7}"#));
    sink.wait_for("/wf", before + 1, WAIT);
    let hook = format!(
        "{}/v2/workflows/hooks/defaultUser/{run_id}/evt_1",
        server.url
    );
    let request = json!({
        "method": "POST",
        "header": {"Content-Type": ["application/json"], "X-Evil": [XSS[1]]},
        "body": common::api::b64(format!("{{\"paid\":true,\"note\":{}}}", serde_json::to_string(XSS[0]).unwrap()).as_bytes()),
        "proto": "HTTP/1.1",
        "host": "127.0.0.1",
        "url": "/v2/workflows/hooks/defaultUser/evt_1?from=payments",
    });
    let steps = [
        json!({"stepId": 1, "stepName": "make-hook", "stepType": "CreateWebhook", "concurrent": 1,
               "out": json!({"webhookUrl": hook, "eventId": "evt_1"}).to_string()}),
        json!({"stepId": 2, "stepName": "await-payment", "stepType": "WaitForWebhook", "concurrent": 1,
               "out": common::api::b64(request.to_string().as_bytes())}),
        json!({"stepId": 3, "stepName": "ship", "stepType": "Invoke", "concurrent": 1,
               "out": json!({"body": {"shipped": true}, "workflowRunId": "wfr_console_child"}).to_string()}),
    ];
    for (i, step) in steps.iter().enumerate() {
        batch(
            server,
            workflow_item(&url, run_id, false, &step.to_string()),
        );
        sink.wait_for("/wf", before + 2 + i, WAIT);
    }
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
        .env("SCREENSHOT_DIR", &shots)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    for k in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(k);
    }
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
        "not-available",
    ] {
        for width in [1280, 390] {
            let png = shots.join(format!("{name}-{width}.png"));
            assert!(png.is_file(), "{} was written", png.display());
        }
    }
}
