//! `serve --config FILE`, `--print-config` and `--log-format` (README
//! "Config file", "Logs"): the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_with_timeout, ServerOptions, ServerProcess, SCRUBBED_ENV};
use serde_json::Value;

/// Runs `cronhook <args>` with `env`: (exit code, stdout, stderr).
fn cronhook(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.args(args);
    for k in SCRUBBED_ENV.iter().chain(&[
        "CRONHOOK_LISTEN",
        "CRONHOOK_DB",
        "CRONHOOK_LOG_FORMAT",
        "CRONHOOK_CONFIG",
    ]) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (status, out, err) = run_with_timeout(cmd, Duration::from_secs(30));
    let code = status.expect("cronhook finished").code().unwrap_or(-1);
    (code, out, err)
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("cronhook.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `--print-config` as a table: key → (value, source comment).
fn effective(file: &Path, flags: &[&str], env: &[(&str, &str)]) -> toml::Table {
    let mut args = vec![
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--print-config",
    ];
    args.extend_from_slice(flags);
    let (code, out, err) = cronhook(&args, env);
    assert_eq!(code, 0, "{out}\n{err}");
    toml::from_str(&out).unwrap_or_else(|e| panic!("--print-config is TOML: {e}\n{out}"))
}

fn source_of<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .and_then(|l| l.rsplit_once("# "))
        .map(|(_, source)| source)
        .unwrap_or_else(|| panic!("no {key} line in\n{printed}"))
}

#[test]
fn a_flag_beats_the_environment_beats_the_file_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "listen = \"127.0.0.1:7001\"\ndb = \"file.db\"\nmax-in-flight = 7\n",
    );
    let env = [
        ("CRONHOOK_LISTEN", "127.0.0.1:7002"),
        ("CRONHOOK_DB", "env.db"),
    ];
    let flags = ["--listen", "127.0.0.1:7003", "--max-in-flight", "9"];

    let all = effective(&file, &flags, &env);
    assert_eq!(
        all["listen"].as_str(),
        Some("127.0.0.1:7003"),
        "flag over env"
    );
    assert_eq!(all["max_in_flight"].as_integer(), Some(9), "flag over file");
    assert_eq!(all["db"].as_str(), Some("env.db"), "env over file");

    let no_flags = effective(&file, &[], &env);
    assert_eq!(
        no_flags["listen"].as_str(),
        Some("127.0.0.1:7002"),
        "env over file"
    );
    assert_eq!(
        no_flags["max_in_flight"].as_integer(),
        Some(7),
        "file over default"
    );

    let file_only = effective(&file, &[], &[]);
    assert_eq!(
        file_only["listen"].as_str(),
        Some("127.0.0.1:7001"),
        "file over default"
    );
    assert_eq!(
        file_only["db"].as_str(),
        Some("file.db"),
        "file over default"
    );
    assert_eq!(
        file_only["max_in_flight_per_destination"].as_integer(),
        Some(32),
        "the default where nothing sets it"
    );
}

#[test]
fn print_config_says_where_each_value_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "db = \"file.db\"\nmax_in_flight = 7\n");
    let (code, out, err) = cronhook(
        &[
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--print-config",
            "--max-in-flight",
            "9",
        ],
        &[("CRONHOOK_LISTEN", "127.0.0.1:7002")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(source_of(&out, "max_in_flight"), "flag");
    assert_eq!(source_of(&out, "listen"), "environment");
    assert_eq!(source_of(&out, "db"), "file");
    assert_eq!(source_of(&out, "sync"), "default");
}

#[test]
fn print_config_masks_the_token_and_the_signing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "token = \"file-secret-token\"\n");
    let (code, out, err) = cronhook(
        &[
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--print-config",
            "--current-signing-key",
            "sig_flag_secret",
        ],
        &[("QSTASH_NEXT_SIGNING_KEY", "sig_env_secret")],
    );
    assert_eq!(code, 0, "{err}");
    for secret in ["file-secret-token", "sig_flag_secret", "sig_env_secret"] {
        assert!(!out.contains(secret), "{secret} is printed:\n{out}");
    }
    let table: toml::Table = toml::from_str(&out).unwrap();
    for key in ["token", "current_signing_key", "next_signing_key"] {
        assert_eq!(table[key].as_str(), Some("********"), "{key}:\n{out}");
    }
    assert_eq!(source_of(&out, "token"), "file, masked");
}

#[test]
fn an_unknown_key_is_refused_by_name_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "db = \"x.db\"\nmax_inflight = 7\n");
    let (code, out, err) = cronhook(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert_ne!(code, 0, "{out}");
    let at = format!("{}:2: unknown key \"max_inflight\"", file.display());
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("max_in_flight"), "lists the keys: {err}");
}

#[test]
fn a_bad_value_is_refused_with_its_key_and_the_flags_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "\nmax_in_flight = 0\n");
    let (code, _out, err) = cronhook(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("{}:2: max_in_flight: ", file.display())),
        "{err}"
    );
    assert!(err.contains("1..=100000"), "{err}");
}

#[test]
fn a_running_server_uses_the_files_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "max_body = 100\n");
    let server = ServerProcess::start_with(
        dir.path().join("cronhook.db"),
        ServerOptions::default().arg("--config").arg(&file),
    );
    let sink = common::sink::Sink::start();
    let (status, json) = common::api::call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/x")),
        &[],
        &[b'a'; 200],
    );
    assert_eq!(status, 413, "max_body from the file: {json}");
}

#[test]
fn the_example_config_file_is_read_whole() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cronhook.toml");
    let (code, out, err) = cronhook(
        &[
            "serve",
            "--config",
            example.to_str().unwrap(),
            "--print-config",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let keys: toml::Table = toml::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    for key in keys.keys() {
        assert_eq!(source_of(&out, key), "file", "{key}:\n{out}");
    }
}

/// The server's stderr once its ready line is in (stderr is drained by a
/// thread of its own, so it may lag the stdout the start waited for).
fn stderr_when_ready(server: &ServerProcess) -> String {
    common::wait::wait_until(common::wait::WAIT, "the ready log line", || {
        let text = server.stderr_text();
        text.contains("cronhook is ready").then_some(text)
    })
}

fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn assert_log_fields(lines: &[Value]) {
    assert!(!lines.is_empty());
    for line in lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        let ts = line["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "RFC 3339: {ts}"
        );
    }
}

#[test]
fn json_logs_are_one_object_per_line_with_the_shippers_fields() {
    let (_dir, server, _sink) =
        common::start_with(ServerOptions::default().arg("--log-format").arg("json"));
    let lines = json_lines(&stderr_when_ready(&server));
    assert_log_fields(&lines);
    let ready = lines
        .iter()
        .find(|l| l["message"] == "cronhook is ready")
        .expect("the ready line");
    assert_eq!(ready["level"], "INFO");
    assert_eq!(ready["target"], "cronhook");
    assert_eq!(
        ready["addr"],
        server.addr.to_string(),
        "fields at the top level"
    );
}

#[test]
fn the_log_format_comes_from_the_environment_too() {
    let (_dir, server, _sink) =
        common::start_with(ServerOptions::default().env("CRONHOOK_LOG_FORMAT", "json"));
    assert_log_fields(&json_lines(&stderr_when_ready(&server)));
}

#[test]
fn logs_are_text_unless_json_is_asked_for() {
    let (_dir, server, _sink) = common::start();
    let text = stderr_when_ready(&server);
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "{text}"
    );
}
