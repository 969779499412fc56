//! Schedules as code: `cronhook apply FILE` against a running server, and
//! `serve --schedules FILE` at start (README "Schedules as code").

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::api::call;
use common::{run_with_timeout, ServerOptions, ServerProcess, SCRUBBED_ENV};
use serde_json::Value;

/// Runs `cronhook apply <file> --url <server> [args]`: (success, stdout, stderr).
fn apply(server: &ServerProcess, file: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.arg("apply").arg(file).arg("--url").arg(&server.url);
    cmd.args(args);
    for k in SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    let (status, out, err) = run_with_timeout(cmd, Duration::from_secs(30));
    let status = status.expect("cronhook apply did not finish within 30 s");
    (status.success(), out, err)
}

fn applied(server: &ServerProcess, file: &Path, args: &[&str]) -> String {
    let (ok, out, err) = apply(server, file, args);
    assert!(ok, "cronhook apply failed:\n{out}\n{err}");
    out
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn schedule(server: &ServerProcess, id: &str) -> Option<Value> {
    let (status, json) = call(server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    match status {
        200 => Some(json),
        404 => None,
        other => panic!("GET schedule {id}: {other} {json}"),
    }
}

fn ids(server: &ServerProcess) -> Vec<String> {
    let (status, json) = call(server, "GET", "/v2/schedules", &[], b"");
    assert_eq!(status, 200, "{json}");
    let mut ids: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scheduleId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Two daily schedules (they never fire during a test) to a host that
/// does not exist.
fn two(retries: u32) -> String {
    format!(
        r#"
[schedules.nightly-report]
destination = "http://127.0.0.1:9/report"
cron = "0 3 * * *"
method = "PUT"
body = '{{"kind":"nightly"}}'
content_type = "application/json"
headers = {{ X-Team = "ops" }}
retries = {retries}
labels = ["reports"]

[schedules.weekly]
destination = "http://127.0.0.1:9/weekly"
cron = "0 9 * * 1"
paused = true
"#
    )
}

#[test]
fn apply_creates_the_declared_schedules_with_their_settings() {
    let (dir, server, _sink) = common::start();
    let file = write(dir.path(), "s.toml", &two(2));
    let out = applied(&server, &file, &[]);
    assert!(out.contains("create     nightly-report"), "{out}");
    assert!(out.contains("create     weekly"), "{out}");
    let s = schedule(&server, "nightly-report").expect("created");
    assert_eq!(s["cron"], "0 3 * * *");
    assert_eq!(s["destination"], "http://127.0.0.1:9/report");
    assert_eq!(s["method"], "PUT");
    assert_eq!(s["retries"], 2);
    assert_eq!(s["body"], r#"{"kind":"nightly"}"#);
    assert_eq!(s["header"]["X-Team"][0], "ops");
    assert_eq!(s["header"]["Content-Type"][0], "application/json");
    assert_eq!(s["labels"][0], "reports");
    assert_eq!(s["isPaused"], false);
    let w = schedule(&server, "weekly").expect("created");
    assert_eq!(w["isPaused"], true, "{w}");
    assert!(
        w.get("nextScheduleTime").is_none(),
        "paused, not armed: {w}"
    );
}

#[test]
fn applying_the_same_file_again_changes_nothing() {
    let (dir, server, _sink) = common::start();
    let file = write(dir.path(), "s.toml", &two(2));
    applied(&server, &file, &[]);
    let before = schedule(&server, "nightly-report").unwrap();
    let out = applied(&server, &file, &[]);
    assert!(out.contains("unchanged  nightly-report"), "{out}");
    assert!(out.contains("unchanged  weekly"), "{out}");
    assert!(out.contains("nothing to change"), "{out}");
    let after = schedule(&server, "nightly-report").unwrap();
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_eq!(after["nextScheduleTime"], before["nextScheduleTime"]);
}

#[test]
fn apply_updates_what_changed_and_keeps_created_at() {
    let (dir, server, _sink) = common::start();
    applied(&server, &write(dir.path(), "a.toml", &two(2)), &[]);
    let before = schedule(&server, "nightly-report").unwrap();
    let out = applied(&server, &write(dir.path(), "b.toml", &two(5)), &[]);
    assert!(out.contains("update     nightly-report: retries"), "{out}");
    assert!(out.contains("unchanged  weekly"), "{out}");
    assert!(out.contains("1 updated"), "{out}");
    let after = schedule(&server, "nightly-report").unwrap();
    assert_eq!(after["retries"], 5);
    assert_eq!(after["createdAt"], before["createdAt"]);
}

#[test]
fn schedules_not_in_the_file_are_left_alone_without_prune() {
    let (dir, server, sink) = common::start();
    let other = common::api::create_schedule(
        &server,
        &sink.url("/other"),
        &[("Upstash-Cron", "0 0 1 1 *")],
        b"",
    );
    let out = applied(&server, &write(dir.path(), "s.toml", &two(2)), &[]);
    assert!(
        out.contains(&format!("untouched  {other} (not in the file")),
        "{out}"
    );
    assert_eq!(ids(&server), sorted(&["nightly-report", "weekly", &other]));
}

#[test]
fn prune_lists_the_schedules_it_deletes_then_deletes_them() {
    let (dir, server, sink) = common::start();
    let other = common::api::create_schedule(
        &server,
        &sink.url("/other"),
        &[("Upstash-Cron", "0 0 1 1 *")],
        b"",
    );
    let out = applied(&server, &write(dir.path(), "s.toml", &two(2)), &["--prune"]);
    let listed = out
        .find(&format!("delete     {other}"))
        .unwrap_or_else(|| panic!("{out}"));
    let done = out.find("applied: ").unwrap_or_else(|| panic!("{out}"));
    assert!(listed < done, "listed before applying: {out}");
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(ids(&server), vec!["nightly-report", "weekly"]);
}

#[test]
fn dry_run_shows_the_changes_and_makes_none() {
    let (dir, server, sink) = common::start();
    let other = common::api::create_schedule(
        &server,
        &sink.url("/other"),
        &[("Upstash-Cron", "0 0 1 1 *")],
        b"",
    );
    applied(&server, &write(dir.path(), "a.toml", &two(2)), &[]);
    let before = schedule(&server, "nightly-report").unwrap();
    let extra = format!(
        "{}\n[schedules.added]\ndestination = \"http://127.0.0.1:9/x\"\ncron = \"0 4 * * *\"\n",
        two(7)
    );
    let out = applied(
        &server,
        &write(dir.path(), "b.toml", &extra),
        &["--dry-run", "--prune"],
    );
    assert!(out.contains("update     nightly-report: retries"), "{out}");
    assert!(out.contains("create     added"), "{out}");
    assert!(out.contains(&format!("delete     {other}")), "{out}");
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    assert_eq!(schedule(&server, "nightly-report").unwrap(), before);
    assert_eq!(ids(&server), sorted(&["nightly-report", "weekly", &other]));
}

/// A valid first table, then a problem in a later one.
fn refused(text: &str, line: usize, problem: &str) {
    let (dir, server, _sink) = common::start();
    let file = write(dir.path(), "bad.toml", text);
    let (ok, out, err) = apply(&server, &file, &[]);
    assert!(!ok, "a bad file must be refused:\n{out}\n{err}");
    let at = format!("{}:{line}: ", file.display());
    assert!(err.contains(&at), "names line {line}:\n{err}");
    assert!(
        err.contains(problem),
        "names the problem {problem:?}:\n{err}"
    );
    assert!(err.contains("nothing was applied"), "{err}");
    assert_eq!(ids(&server), Vec::<String>::new(), "nothing applied");
}

const GOOD_FIRST: &str =
    "[schedules.first]\ndestination = \"http://127.0.0.1:9/a\"\ncron = \"0 3 * * *\"\n\n";

#[test]
fn a_bad_cron_is_refused_with_its_line_and_nothing_is_applied() {
    refused(
        &format!("{GOOD_FIRST}[schedules.second]\ndestination = \"http://127.0.0.1:9/b\"\ncron = \"0 25 * * *\"\n"),
        7,
        "schedule \"second\", cron: ",
    );
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_nothing_is_applied() {
    refused(
        &format!("{GOOD_FIRST}[schedules.second]\ndestination = \"http://127.0.0.1:9/b\"\ncron = \"0 4 * * *\"\nretires = 3\n"),
        8,
        "unknown field `retires`",
    );
}

#[test]
fn bad_toml_is_refused_with_its_line_and_nothing_is_applied() {
    refused(
        &format!("{GOOD_FIRST}[schedules.second]\ndestination = http://127.0.0.1:9/b\n"),
        6,
        "string values must be quoted",
    );
}

#[test]
fn serve_applies_the_schedules_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let sink = common::sink::Sink::start();
    let file = write(
        dir.path(),
        "s.toml",
        &format!(
            "[schedules.tick]\ndestination = \"{}\"\ncron = \"* * * * * *\"\nseconds = true\nbody = \"tick\"\n",
            sink.url("/tick")
        ),
    );
    let server = ServerProcess::start_with(
        dir.path().join("cronhook.db"),
        ServerOptions::default().arg("--schedules").arg(&file),
    );
    let s = schedule(&server, "tick").expect("applied at start");
    assert_eq!(s["cron"], "* * * * * *");
    let got = sink.wait_for("/tick", 1, common::wait::WAIT);
    assert!(!got.is_empty(), "the declared schedule fires");
    assert_eq!(&got[0].body[..], b"tick");
    common::wait::wait_until(common::wait::WAIT, "the applied log line", || {
        server
            .stderr_text()
            .contains("schedules file applied")
            .then_some(())
    });
}

#[test]
fn serve_refuses_to_start_with_a_bad_schedules_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        &format!("{GOOD_FIRST}[schedules.second]\ndestination = \"ftp://nowhere\"\ncron = \"0 4 * * *\"\n"),
    );
    let db = dir.path().join("cronhook.db");
    let (db_arg, schema) = common::backend::db_arg(&db);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--schedules"])
        .arg(&file)
        .arg("--db")
        .arg(&db_arg);
    let (status, _out, err) = run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!status.expect("exits").success(), "{err}");
    assert!(err.contains(&format!("{}:6: ", file.display())), "{err}");
    assert!(err.contains("schedule \"second\", destination: "), "{err}");
    match schema {
        None => assert!(!db.exists(), "not started: no database was made"),
        Some(schema) => {
            let tables: i64 = schema
                .client()
                .query_one(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
                    &[&schema.name],
                )
                .unwrap()
                .get(0);
            assert_eq!(tables, 0, "not started: no table was made");
        }
    }
}

#[test]
fn the_example_schedules_file_applies() {
    let (_dir, server, _sink) = common::start();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/schedules.toml");
    let out = applied(&server, &example, &["--dry-run"]);
    assert!(out.contains("create     nightly-report"), "{out}");
    assert!(out.contains("dry run: nothing was changed"), "{out}");
}

#[test]
fn prune_with_a_file_that_declares_nothing_deletes_nothing() {
    let (dir, server, sink) = common::start();
    let other = common::api::create_schedule(
        &server,
        &sink.url("/other"),
        &[("Upstash-Cron", "0 0 1 1 *")],
        b"",
    );
    let file = write(dir.path(), "empty.toml", "# nothing yet\n");
    let (ok, out, err) = apply(&server, &file, &["--prune"]);
    assert!(!ok, "refused:\n{out}\n{err}");
    assert!(err.contains("would delete every schedule"), "{err}");
    assert_eq!(ids(&server), vec![other]);
}

/// Apply reads the stored schedules a chunk at a time: with more of them
/// than one chunk (256), the declared ones still compare as unchanged, and
/// prune deletes exactly the others.
#[test]
fn prune_over_more_stored_schedules_than_one_chunk_deletes_exactly_the_undeclared() {
    let (dir, server, sink) = common::start();
    let file = write(dir.path(), "s.toml", &two(2));
    applied(&server, &file, &[]);
    for _ in 0..300 {
        common::api::create_schedule(
            &server,
            &sink.url("/other"),
            &[("Upstash-Cron", "0 0 1 1 *")],
            b"",
        );
    }
    // 302 stored: the two declared ones in the first chunk, and undeclared
    // ones in both chunks.
    let out = applied(&server, &file, &["--prune"]);
    assert!(out.contains("300 deleted"), "{out}");
    assert!(out.contains("2 unchanged"), "{out}");
    assert_eq!(ids(&server), vec!["nightly-report", "weekly"]);
}
