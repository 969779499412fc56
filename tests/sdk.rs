//! Official-SDK compatibility tests: the Python SDK (PyPI `qstash` 3.4.0) and
//! the JS SDK (npm `@upstash/qstash` 2.12.0) run their programs in sdk-tests/
//! (schedules; messages, DLQ, logs, callbacks and keys; queues) against a fresh
//! `cronhook serve`.
//!
//! Each test first runs its setup script (sdk-tests/setup-python.sh or
//! setup-node.sh), which installs the pinned SDK once and is a no-op after
//! that, so `cargo test` alone is enough. Needs python3 (with venv) and
//! node/npm on PATH, and the package registries the first time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_setup, run_with_timeout, ServerProcess};

const PROGRAM_TIMEOUT: Duration = Duration::from_secs(120);

fn sdk_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests")
}

/// Starts a server on a temporary database, runs `program args...` with the
/// server's QSTASH_* variables, asserts that it exits 0 and returns its stdout.
fn run_sdk_program(name: &str, program: &Path, args: &[&Path], cwd: &Path) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    eprintln!(
        "[{name}] cronhook serve pid {} at {}",
        server.pid, server.url
    );

    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd);
    for (k, v) in server.sdk_env() {
        cmd.env(k, v);
    }
    // Keep the SDKs away from dev mode, regions and proxies of the caller's
    // shell: everything must go to the server started above.
    for k in [
        "QSTASH_DEV",
        "QSTASH_DEV_PORT",
        "QSTASH_REGION",
        "UPSTASH_REGION",
    ] {
        cmd.env_remove(k);
    }
    common::loopback_only(&mut cmd);
    cmd.env("PYTHONUNBUFFERED", "1");

    let (status, out, err) = run_with_timeout(cmd, PROGRAM_TIMEOUT);
    let ok = matches!(status, Some(s) if s.success());
    if ok {
        eprintln!("[{name}] passed:\n{out}");
        return out;
    }
    let why = match status {
        Some(s) => format!("exited with {s}"),
        None => format!("timed out after {PROGRAM_TIMEOUT:?} and was killed"),
    };
    let server_log = server.stderr_text();
    panic!(
        "[{name}] SDK program {why}\n\
         --- program stdout ---\n{out}\n\
         --- program stderr ---\n{err}\n\
         --- cronhook stderr (last 20000 chars) ---\n{}",
        tail(&server_log, 20000)
    );
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[test]
fn python_sdk_schedules() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = dir.join("test_schedules.py");
    run_sdk_program("python", &python, &[&script], &dir);
}

#[test]
fn node_sdk_schedules() {
    run_setup("setup-node.sh");
    let dir = sdk_tests_dir().join("node");
    let script = dir.join("schedules.test.mjs");
    run_sdk_program("node", Path::new("node"), &[&script], &dir);
}

#[test]
fn python_sdk_messages() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = dir.join("test_messages.py");
    run_sdk_program("python messages", &python, &[&script], &dir);
}

#[test]
fn node_sdk_messages() {
    run_setup("setup-node.sh");
    let dir = sdk_tests_dir().join("node");
    let script = dir.join("messages.test.mjs");
    run_sdk_program("node messages", Path::new("node"), &[&script], &dir);
}

#[test]
fn python_sdk_queues() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = dir.join("test_queues.py");
    run_sdk_program("python queues", &python, &[&script], &dir);
}

#[test]
fn node_sdk_queues() {
    run_setup("setup-node.sh");
    let dir = sdk_tests_dir().join("node");
    let script = dir.join("queues.test.mjs");
    run_sdk_program("node queues", Path::new("node"), &[&script], &dir);
}

#[test]
fn python_sdk_url_groups() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = dir.join("test_url_groups.py");
    run_sdk_program("python url groups", &python, &[&script], &dir);
}

#[test]
fn node_sdk_url_groups() {
    run_setup("setup-node.sh");
    let dir = sdk_tests_dir().join("node");
    let script = dir.join("url_groups.test.mjs");
    run_sdk_program("node url groups", Path::new("node"), &[&script], &dir);
}

#[test]
fn python_sdk_flow_control() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = dir.join("test_flow_control.py");
    run_sdk_program("python flow control", &python, &[&script], &dir);
}

#[test]
fn node_sdk_flow_control() {
    run_setup("setup-node.sh");
    let dir = sdk_tests_dir().join("node");
    let script = dir.join("flow_control.test.mjs");
    run_sdk_program("node flow control", Path::new("node"), &[&script], &dir);
}

/// What both README examples print once the schedule exists on the server.
const EXAMPLE_OUTPUT: &str = "created user-summary-ann@example.com: \
     CRON_TZ=Europe/Berlin 30 9 * * 1 -> http://127.0.0.1:3000/api/send-weekly-summary";

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn python_readme_example_works_as_written() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = example("examples/python/weekly_summary.py");
    let out = run_sdk_program("python example", &python, &[&script], &dir);
    assert!(out.contains(EXAMPLE_OUTPUT), "{out}");
}

#[test]
fn node_readme_example_works_as_written() {
    // `sdk-tests/setup-node.sh` runs `npm ci` in examples/node, as the
    // README tells a user to; then the example runs from the repository
    // root, as written there.
    run_setup("setup-node.sh");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = Path::new("examples/node/weekly-summary.mjs");
    let out = run_sdk_program("node example", Path::new("node"), &[script], root);
    assert!(out.contains(EXAMPLE_OUTPUT), "{out}");
}

/// Runs `node program args...` in dev mode against `port`; panics with the
/// output (and `server`'s log) unless it exits 0.
fn run_in_dev_mode(name: &str, program: &Path, args: &[&str], port: u16, server: &ServerProcess) {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new("node");
    cmd.arg(program)
        .args(args)
        .current_dir(program.parent().expect("program dir"));
    common::dev_mode::dev_mode_env(&mut cmd, port, home.path());
    let (status, out, err) = run_with_timeout(cmd, PROGRAM_TIMEOUT);
    if matches!(status, Some(s) if s.success()) {
        eprintln!("[{name}] passed:\n{out}");
        return;
    }
    panic!(
        "[{name}] {status:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n\
         --- cronhook stderr (last 20000 chars) ---\n{}",
        tail(&server.stderr_text(), 20000)
    );
}

/// `QSTASH_DEV=true QSTASH_DEV_PORT=<port>` with no URL or token: the JS
/// client finds cronhook by its `/v2/keys`, publishes and schedules there,
/// and `new Receiver()` verifies the deliveries with the dev keys; with
/// nothing on the dev port the same program fails fast instead of
/// downloading Upstash's dev server (§11.3).
#[test]
fn node_sdk_dev_mode() {
    run_setup("setup-node.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    let program = sdk_tests_dir().join("node").join("dev_mode.test.mjs");
    run_in_dev_mode("node dev mode", &program, &[], server.addr.port(), &server);
    let dead = common::dev_mode::dead_port();
    run_in_dev_mode(
        "node dev mode, dead port",
        &program,
        &["dead-port"],
        dead,
        &server,
    );
}

#[test]
fn python_sdk_schedule_bounds() {
    run_setup("setup-python.sh");
    let dir = sdk_tests_dir().join("python");
    let python = dir.join(".venv").join("bin").join("python");
    let script = dir.join("test_bounds.py");
    run_sdk_program("python bounds", &python, &[&script], &dir);
}

#[test]
fn node_sdk_schedule_bounds() {
    run_setup("setup-node.sh");
    let dir = sdk_tests_dir().join("node");
    let script = dir.join("bounds.test.mjs");
    run_sdk_program("node bounds", Path::new("node"), &[&script], &dir);
}
