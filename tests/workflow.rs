//! Upstash Workflow end to end: the official SDK (npm `@upstash/workflow`
//! 1.3.3 on `@upstash/qstash` 2.12.0) runs the example app of
//! examples/workflow against the real binary; smaller programs
//! (webhook.test.mjs, serve-many.test.mjs, logs.test.mjs, sharing
//! harness.mjs) run webhooks, serveMany/invoke and `client.logs` the same way.
//!
//! The test runs sdk-tests/setup-workflow.sh (which installs the example's
//! pinned packages once and is a no-op after that), then the Node program
//! sdk-tests/workflow/workflow.test.mjs with `CRONHOOK_BIN` set to the binary
//! cargo built. The Node program starts `cronhook serve` itself (temporary
//! database, a free port, `--retry-scale 0.01`), because it must kill it with
//! SIGKILL in the middle of a run and restart it on the same database and
//! port. Its checks (issue #5) are listed at the top of that file; it ends
//! with `N passed, N failed` and exits non-zero when any check fails.
//!
//! Every cronhook the program starts is recorded in a pid file; if the
//! program itself has to be killed, those pids (and only those, after
//! checking that each still runs this binary) are killed here.
//!
//! Needs node (20.6 or later) and npm on PATH, and the npm registry the first
//! time. Loopback only.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run_setup, run_with_timeout};

/// The Node program gives up by itself after 100 s; this is the backstop.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(115);

/// webhook.test.mjs and serve-many.test.mjs give up after 60 s.
const SMALL_PROGRAM_TIMEOUT: Duration = Duration::from_secs(75);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Kills the cronhook processes listed in `pidfile` that are still running
/// this test's binary (a pid may have been reused by then).
fn kill_leftovers(pidfile: &Path) {
    let Ok(text) = std::fs::read_to_string(pidfile) else {
        return;
    };
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_cronhook")).ok();
    for pid in text.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        if exe.is_some() && exe == bin {
            eprintln!("killing leftover cronhook pid {pid}");
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[test]
fn workflow_sdk_end_to_end() {
    run_program("workflow.test.mjs", PROGRAM_TIMEOUT);
}

/// `createWebhook` + `waitForWebhook`: the test calls the webhook URL with
/// plain fetch and no token, and the run completes with the recorded
/// request (workflow-wire §3.7).
#[test]
fn workflow_sdk_webhook() {
    run_program("webhook.test.mjs", SMALL_PROGRAM_TIMEOUT);
}

/// serveMany with `context.invoke`: a child's success, failure and cancel
/// each reach the invoking workflow (workflow-wire §3.8).
#[test]
fn workflow_sdk_serve_many_invoke() {
    run_program("serve-many.test.mjs", SMALL_PROGRAM_TIMEOUT);
}

/// `client.logs` for each run state: a retrying step (the `next` group with
/// its errors), a cancelled, a successful and two failed runs (dlqId, the
/// failed step, the failure function that answered 200 and one that did not).
#[test]
fn workflow_sdk_logs() {
    run_program("logs.test.mjs", SMALL_PROGRAM_TIMEOUT);
}

/// Runs one program of sdk-tests/workflow against the binary cargo built.
fn run_program(file: &str, timeout: Duration) {
    run_setup("setup-workflow.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("cronhook.pids");
    let program = root().join("sdk-tests").join("workflow").join(file);
    let mut cmd = Command::new("node");
    cmd.arg(&program)
        .current_dir(root().join("sdk-tests").join("workflow"))
        .env("CRONHOOK_BIN", env!("CARGO_BIN_EXE_cronhook"))
        .env("WORK_DIR", dir.path())
        .env("CRONHOOK_PIDFILE", &pidfile);
    // The program sets the app's QSTASH_* from the server it starts; nothing
    // of the caller's shell (dev mode, regions, proxies) may leak in.
    for k in [
        "QSTASH_URL",
        "QSTASH_TOKEN",
        "QSTASH_CURRENT_SIGNING_KEY",
        "QSTASH_NEXT_SIGNING_KEY",
        "QSTASH_DEV",
        "QSTASH_DEV_PORT",
        "QSTASH_REGION",
        "UPSTASH_REGION",
        "UPSTASH_WORKFLOW_URL",
    ] {
        cmd.env_remove(k);
    }
    common::loopback_only(&mut cmd);

    let (status, out, err) = run_with_timeout(cmd, timeout);
    kill_leftovers(&pidfile);
    match status {
        Some(s) if s.success() => eprintln!("{out}"),
        other => panic!(
            "{file} {}\n--- stdout ---\n{out}\n--- stderr ---\n{err}",
            match other {
                Some(s) => format!("exited with {s}"),
                None => format!("timed out after {timeout:?} and was killed"),
            }
        ),
    }
}

/// The example app in the JS SDK's dev mode (`QSTASH_DEV=true`,
/// `QSTASH_DEV_PORT`, no URL, token or keys) finds this cronhook, runs a whole
/// workflow on it and verifies every delivery with dev user 1's keys; nothing
/// is downloaded or spawned (docs/qstash-wire.md §11.3).
#[test]
fn workflow_sdk_dev_mode() {
    run_setup("setup-workflow.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::ServerProcess::start(dir.path().join("cronhook.db"));
    let program = root()
        .join("sdk-tests")
        .join("workflow")
        .join("dev_mode.test.mjs");
    let mut cmd = Command::new("node");
    cmd.arg(&program)
        .current_dir(root().join("sdk-tests").join("workflow"));
    common::dev_mode::dev_mode_env(&mut cmd, server.addr.port(), dir.path());
    let (status, out, err) = run_with_timeout(cmd, PROGRAM_TIMEOUT);
    match status {
        Some(s) if s.success() => eprintln!("{out}"),
        other => panic!(
            "dev_mode.test.mjs {other:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n\
             --- cronhook stderr ---\n{}",
            server.stderr_text()
        ),
    }
}
