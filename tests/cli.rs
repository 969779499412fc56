//! The `cronhook` client commands, run as the real binary against a real
//! server and a real sink: `schedules`, `publish`, `dlq`, `logs`, `backup`,
//! and the offline `cron`. `--json` output is parsed; failures must exit
//! non-zero with the server's error text.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use common::api::{call, create_schedule, enc, publish};
use common::wait::{wait_until, WAIT};
use common::ServerProcess;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cronhook");

/// The server's address and token, for a thread of its own.
struct Remote {
    addr: std::net::SocketAddr,
    token: String,
}

impl common::Target for Remote {
    fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    fn token(&self) -> &str {
        &self.token
    }
}

/// `cronhook ARGS` with the server's address and token in the
/// environment, as a user would set them.
fn cli(server: &ServerProcess, args: &[&str]) -> Output {
    cli_at(&server.url, &server.token, args)
}

fn cli_at(url: &str, token: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for k in common::SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    cmd.env("QSTASH_URL", url)
        .env("QSTASH_TOKEN", token)
        .args(args)
        .stdin(Stdio::null());
    cmd.output().expect("running cronhook")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; its stdout.
fn ok(server: &ServerProcess, args: &[&str]) -> String {
    let o = cli(server, args);
    assert!(
        o.status.success(),
        "cronhook {args:?} failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs a command with `--json` that must succeed; its JSON.
fn json(server: &ServerProcess, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(server, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Runs a command that must fail with `code`; its stderr.
fn fails(server: &ServerProcess, args: &[&str], code: i32) -> String {
    let o = cli(server, args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "cronhook {args:?}: {}",
        stderr(&o)
    );
    stderr(&o)
}

/// A cron that does not fire during a test: once a year.
const YEARLY: &str = "0 0 1 1 *";

#[test]
fn help_lists_every_subcommand_and_each_has_examples() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    let help = stdout(&o);
    for sub in [
        "serve",
        "schedules",
        "publish",
        "dlq",
        "logs",
        "cron",
        "backup",
        "migrate",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing from cronhook --help:\n{help}"
        );
    }
    for sub in [
        &["schedules"][..],
        &["schedules", "create"],
        &["publish"],
        &["dlq"],
        &["logs"],
        &["cron"],
        &["backup"],
        &["migrate"],
    ] {
        let o = Command::new(BIN).args(sub).arg("--help").output().unwrap();
        let help = stdout(&o);
        assert!(
            help.contains("Examples:"),
            "cronhook {sub:?} --help:\n{help}"
        );
        assert!(
            help.contains("cronhook "),
            "cronhook {sub:?} --help:\n{help}"
        );
    }
}

#[test]
fn schedules_create_sends_every_setting_and_get_json_shows_them() {
    let (_dir, server, sink) = common::start();
    let dest = sink.url("/cli-create");
    let created = json(
        &server,
        &[
            "schedules",
            "create",
            &dest,
            "--cron",
            "CRON_TZ=Europe/Berlin 0 9 * * 1",
            "--id",
            "weekly-report",
            "--body",
            "{\"kind\":\"weekly\"}",
            "--header",
            "Content-Type:application/json",
            "--header",
            "X-Team: reports",
            "--method",
            "PUT",
            "--retries",
            "5",
            "--delay",
            "10s",
            "--timeout",
            "30s",
            "--callback",
            &sink.url("/cb"),
            "--failure-callback",
            &sink.url("/fcb"),
            "--label",
            "reports",
            "--label",
            "weekly",
            "--queue",
            "reports-queue",
            "--start-at",
            "2030-01-01T00:00:00Z",
            "--end-at",
            "1924992000",
        ],
    );
    assert_eq!(created["scheduleId"], "weekly-report");
    let s = json(&server, &["schedules", "get", "weekly-report"]);
    assert_eq!(s["cron"], "CRON_TZ=Europe/Berlin 0 9 * * 1");
    assert_eq!(s["destination"], dest);
    assert_eq!(s["method"], "PUT");
    assert_eq!(s["retries"], 5);
    assert_eq!(s["delay"], 10);
    assert_eq!(s["timeout"], 30);
    assert_eq!(s["callback"], sink.url("/cb"));
    assert_eq!(s["failureCallback"], sink.url("/fcb"));
    assert_eq!(s["body"], "{\"kind\":\"weekly\"}");
    assert_eq!(s["labels"], serde_json::json!(["reports", "weekly"]));
    assert_eq!(s["header"]["X-Team"], serde_json::json!(["reports"]));
    assert_eq!(
        s["header"]["Content-Type"],
        serde_json::json!(["application/json"])
    );
    assert_eq!(s["queueName"], "reports-queue");
    assert_eq!(s["startAt"], 1_893_456_000_000_i64);
    assert_eq!(s["endAt"], 1_924_992_000_000_i64);
    assert_eq!(s["timezone"], "Europe/Berlin");
    assert!(s["description"].as_str().unwrap().contains("Monday"), "{s}");
}

#[test]
fn schedules_create_with_seconds_reads_a_six_field_cron() {
    let (_dir, server, sink) = common::start();
    let dest = sink.url("/secs");
    let reply = json(
        &server,
        &[
            "schedules",
            "create",
            &dest,
            "--cron",
            "30 0 0 1 1 *",
            "--seconds",
        ],
    );
    let id = reply["scheduleId"].as_str().unwrap();
    let s = json(&server, &["schedules", "get", id]);
    assert_eq!(s["cronSeconds"], true);
    let err = fails(
        &server,
        &["schedules", "create", &dest, "--cron", "30 0 0 1 1 *"],
        1,
    );
    assert!(err.contains("Cronhook-Cron-Seconds"), "{err}");
}

#[test]
fn schedules_list_is_a_table_for_people_and_the_servers_array_with_json() {
    let (_dir, server, sink) = common::start();
    let id = create_schedule(
        &server,
        &sink.url("/a"),
        &[
            ("Upstash-Cron", YEARLY),
            ("Upstash-Schedule-Id", "yearly-a"),
        ],
        b"",
    );
    let table = ok(&server, &["schedules", "list"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for col in ["ID", "CRON", "DESTINATION", "STATE", "NEXT"] {
        assert!(header.contains(col), "{table}");
    }
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&id) && row.contains(YEARLY) && row.contains("active"),
        "{table}"
    );
    let all = json(&server, &["schedules", "list"]);
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scheduleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
}

#[test]
fn pause_resume_and_delete_change_the_schedule_on_the_server() {
    let (_dir, server, sink) = common::start();
    let id = create_schedule(&server, &sink.url("/p"), &[("Upstash-Cron", YEARLY)], b"");
    assert!(ok(&server, &["schedules", "pause", &id]).contains("Paused"));
    assert_eq!(json(&server, &["schedules", "get", &id])["isPaused"], true);
    assert!(ok(&server, &["schedules", "list"]).contains("paused"));
    json(&server, &["schedules", "resume", &id]);
    assert_eq!(json(&server, &["schedules", "get", &id])["isPaused"], false);
    ok(&server, &["schedules", "delete", &id]);
    let (status, _) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert_eq!(status, 404);
}

#[test]
fn trigger_delivers_the_schedule_now() {
    let (_dir, server, sink) = common::start();
    let id = create_schedule(
        &server,
        &sink.url("/now"),
        &[("Upstash-Cron", YEARLY)],
        b"run me",
    );
    let reply = json(&server, &["schedules", "trigger", &id]);
    let message = reply["messageId"].as_str().expect("messageId");
    let got = sink.wait_for("/now", 1, WAIT);
    assert_eq!(&got[0].body[..], b"run me");
    assert_eq!(got[0].header("Upstash-Message-Id"), Some(message));
    assert!(ok(&server, &["schedules", "trigger", &id]).contains("Triggered schedule"));
}

#[test]
fn an_unknown_schedule_exits_1_with_the_servers_error() {
    let (_dir, server, _sink) = common::start();
    for action in ["get", "pause", "resume", "delete", "trigger"] {
        let err = fails(&server, &["schedules", action, "no-such-schedule"], 1);
        assert!(
            err.contains("schedule \"no-such-schedule\" not found") && err.contains("404"),
            "{action}: {err}"
        );
    }
}

#[test]
fn a_bad_cron_on_create_exits_1_with_the_text_the_api_gives() {
    let (_dir, server, sink) = common::start();
    let dest = sink.url("/x");
    let (status, api) = call(
        &server,
        "POST",
        &format!("/v2/schedules/{dest}"),
        &[("Upstash-Cron", "0 0 32 * *")],
        b"",
    );
    assert_eq!(status, 400);
    let api = api["error"].as_str().unwrap();
    let err = fails(
        &server,
        &["schedules", "create", &dest, "--cron", "0 0 32 * *"],
        1,
    );
    assert!(err.contains(api), "CLI said {err:?}, the API {api:?}");
}

#[test]
fn a_wrong_token_exits_1_with_the_servers_refusal() {
    let (_dir, server, _sink) = common::start();
    let o = cli_at(&server.url, "not-the-token", &["schedules", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("401"), "{}", stderr(&o));
}

#[test]
fn an_unreachable_server_exits_3_and_says_where_it_looked() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.db");
    for args in [
        &["schedules", "list"][..],
        &["publish", "http://example.com/"],
        &["dlq", "list"],
        &["logs"],
        &["backup", out.to_str().unwrap()],
    ] {
        let o = cli_at(&url, "t", args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot reach cronhook at {url}")) && err.contains("QSTASH_URL"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file is left"
    );
}

#[test]
fn publish_delivers_the_body_and_forwards_the_headers() {
    let (_dir, server, sink) = common::start();
    let reply = json(
        &server,
        &[
            "publish",
            &sink.url("/pub"),
            "--body",
            "hello",
            "--header",
            "X-Thing: one",
            "--header",
            "Content-Type:text/plain",
            "--retries",
            "0",
        ],
    );
    let id = reply["messageId"].as_str().expect("messageId");
    let got = sink.wait_for("/pub", 1, WAIT);
    assert_eq!(&got[0].body[..], b"hello");
    assert_eq!(got[0].header("X-Thing"), Some("one"));
    assert_eq!(got[0].header("Content-Type"), Some("text/plain"));
    assert_eq!(got[0].header("Upstash-Message-Id"), Some(id));
    assert!(ok(&server, &["publish", &sink.url("/pub")]).starts_with("Published message msg_"));
}

#[test]
fn publish_with_a_delay_is_not_delivered_yet() {
    let (_dir, server, sink) = common::start();
    let reply = json(&server, &["publish", &sink.url("/later"), "--delay", "1h"]);
    let id = reply["messageId"].as_str().unwrap();
    let (status, m) = call(&server, "GET", &format!("/v2/messages/{id}"), &[], b"");
    assert_eq!(status, 200);
    assert!(m["notBefore"].as_i64().unwrap() > m["createdAt"].as_i64().unwrap() + 3_000_000);
}

/// Publishes to a path the sink fails, without retries, and waits for its
/// DLQ entry; its dlqId.
fn dead_letter(server: &ServerProcess, sink: &common::sink::Sink, path: &str) -> String {
    sink.answer(path, 500, &[]);
    let id = publish(
        server,
        &sink.url(path),
        &[("Upstash-Retries", "0")],
        b"dead",
    );
    let entries = common::api::wait_for_dlq(server, &[&id]);
    entries[0]["dlqId"].as_str().unwrap().to_owned()
}

#[test]
fn dlq_list_retry_and_delete_act_on_the_named_entries() {
    let (_dir, server, sink) = common::start();
    let first = dead_letter(&server, &sink, "/dead-1");
    let second = dead_letter(&server, &sink, "/dead-2");
    let page = json(&server, &["dlq", "list"]);
    let mut ids: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["dlqId"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![first.as_str(), second.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let table = ok(&server, &["dlq", "list"]);
    assert!(table.contains(&first) && table.contains("500"), "{table}");

    sink.answer("/dead-1", 200, &[]);
    let out = ok(&server, &["dlq", "retry", &first, "--json"]);
    let retried: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(retried["dlqId"], first.as_str());
    assert!(retried["messageId"].as_str().unwrap().starts_with("msg_"));
    wait_until(WAIT, "the retried delivery", || {
        sink.received("/dead-1")
            .iter()
            .find(|r| r.header("Upstash-Message-Id") == retried["messageId"].as_str())
            .cloned()
    });

    assert!(ok(&server, &["dlq", "delete", &second]).contains(&format!("Deleted {second}")));
    let page = json(&server, &["dlq", "list"]);
    assert_eq!(page["messages"].as_array().unwrap().len(), 0, "{page}");
}

#[test]
fn dlq_retry_and_delete_of_an_unknown_id_exit_1_after_doing_the_known_ones() {
    let (_dir, server, sink) = common::start();
    let known = dead_letter(&server, &sink, "/dead");
    let o = cli(&server, &["dlq", "delete", "no-such-entry", &known]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("\"no-such-entry\" not found"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains(&format!("Deleted {known}")),
        "{}",
        stdout(&o)
    );
    let err = fails(&server, &["dlq", "retry", &known], 1);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn logs_filter_by_message_and_show_its_states_oldest_first() {
    let (_dir, server, sink) = common::start();
    let id = publish(&server, &sink.url("/logged"), &[], b"x");
    let _other = publish(&server, &sink.url("/other"), &[], b"y");
    common::api::wait_for_state(&server, &id, "DELIVERED");
    let page = json(&server, &["logs", "--message", &id]);
    let events = page["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["messageId"] == id.as_str()),
        "{page}"
    );
    let states: Vec<&str> = events
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.first(),
        Some(&"DELIVERED"),
        "newest first from the server: {states:?}"
    );

    let table = ok(&server, &["logs", "--message", &id]);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(rows.first().unwrap().contains("CREATED"), "{table}");
    assert!(rows.last().unwrap().contains("DELIVERED"), "{table}");
    let by_url = json(&server, &["logs", "--destination", &sink.url("/other")]);
    let by_url = by_url["events"].as_array().unwrap();
    assert!(!by_url.is_empty(), "the /other message was logged");
    assert!(by_url
        .iter()
        .all(|e| e["url"] == sink.url("/other").as_str()));
    let delivered = json(&server, &["logs", "--state", "DELIVERED", "--count", "1"]);
    assert_eq!(delivered["events"].as_array().unwrap().len(), 1);
}

#[test]
fn logs_follow_prints_new_entries_oldest_first_as_they_come() {
    let (_dir, server, sink) = common::start();
    let dest = sink.url("/followed");
    let mut child = Command::new(BIN)
        .env("QSTASH_URL", &server.url)
        .env("QSTASH_TOKEN", &server.token)
        .args([
            "logs",
            "--follow",
            "--json",
            "--interval",
            "100ms",
            "--destination",
            &dest,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let id = publish(&server, &dest, &[], b"watch me");
    let mut seen: Vec<Value> = Vec::new();
    wait_until(WAIT, "DELIVERED in the followed log", || {
        while let Ok(line) = lines.try_recv() {
            seen.push(serde_json::from_str(&line).expect("one JSON object per line"));
        }
        seen.iter().any(|e| e["state"] == "DELIVERED").then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    let states: Vec<&str> = seen
        .iter()
        .filter(|e| e["messageId"] == id.as_str())
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.first(), Some(&"CREATED"), "{states:?}");
    assert_eq!(states.last(), Some(&"DELIVERED"), "{states:?}");
    let mut unique = states.clone();
    unique.dedup();
    assert_eq!(unique.len(), states.len(), "no entry twice: {states:?}");
}

/// `cronhook cron` for one zone around one clock change: the fire time on
/// the change day carries a note of `kind`, on `day` (local), and the table
/// flags it with the note under it.
fn assert_flags_change(expr: &str, zone: &str, from: &str, day: &str, kind: &str, said: &str) {
    let args = ["cron", expr, "--tz", zone, "--from", from, "--count", "3"];
    let o = Command::new(BIN).args(args).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(p["timezone"], zone);
    let notes = p["dst"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{p}");
    assert_eq!(notes[0]["kind"], kind, "{p}");
    assert!(
        p["next"].as_array().unwrap().contains(&notes[0]["slot"]),
        "{p}"
    );

    let o = Command::new(BIN).args(args).output().unwrap();
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    let flagged: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].ends_with("DST"))
        .collect();
    assert_eq!(flagged.len(), 1, "{text}");
    assert!(lines[flagged[0]].contains(day), "{text}");
    assert!(lines[flagged[0] + 1].contains(said), "{text}");
    assert!(
        lines[flagged[0] + 1].contains(notes[0]["text"].as_str().unwrap()),
        "{text}"
    );
}

#[test]
fn cron_flags_the_dst_change_in_four_zones() {
    // Spring forward: 02:30 does not exist, fires at 03:00 +02:00.
    assert_flags_change(
        "30 2 * * *",
        "Europe/Berlin",
        "2027-03-27T00:00:00Z",
        "2027-03-28 03:00 +02:00",
        "forward",
        "forward",
    );
    // Fall back: 01:30 happens twice, fires at the first (EDT).
    assert_flags_change(
        "30 1 * * *",
        "America/New_York",
        "2027-11-06T00:00:00Z",
        "2027-11-07 01:30 -04:00",
        "back",
        "back",
    );
    // The southern spring, in October.
    assert_flags_change(
        "30 2 * * *",
        "Australia/Sydney",
        "2027-10-01T12:00:00Z",
        "2027-10-03 03:00 +11:00",
        "forward",
        "forward",
    );
    // Santiago turns back at 24:00: the evening's 23:30 happens twice.
    assert_flags_change(
        "30 23 * * *",
        "America/Santiago",
        "2027-04-02T12:00:00Z",
        "2027-04-03 23:30 -03:00",
        "back",
        "back",
    );
}

#[test]
fn cron_says_the_expression_in_words_as_the_console_does() {
    let (_dir, server, _sink) = common::start();
    let expr = "CRON_TZ=America/New_York */15 9-17 * * 1-5";
    let (status, api) = call(
        &server,
        "GET",
        &format!("/cronhook/v1/cron?expr={}", enc(expr)),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let o = Command::new(BIN)
        .args(["cron", expr, "--json", "--count", "10"])
        .output()
        .unwrap();
    let offline: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(offline["description"], api["description"]);
    assert_eq!(offline["expression"], api["expression"]);
    assert_eq!(offline["next"].as_array().unwrap().len(), 10);
    let text = stdout(&Command::new(BIN).args(["cron", expr]).output().unwrap());
    assert!(
        text.contains(api["description"].as_str().unwrap()),
        "{text}"
    );
}

#[test]
fn cron_with_a_bad_expression_exits_1_with_the_apis_error_text() {
    let (_dir, server, _sink) = common::start();
    for expr in [
        "0 0 32 * *",
        "CRON_TZ=Mars/Olympus 0 9 * * *",
        "0 0 30 2 *",
        "* * *",
    ] {
        let (status, api) = call(
            &server,
            "GET",
            &format!("/cronhook/v1/cron?expr={}", enc(expr)),
            &[],
            b"",
        );
        assert_eq!(status, 400, "{expr}");
        let o = Command::new(BIN).args(["cron", expr]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{expr}");
        assert!(
            stderr(&o).contains(api["error"].as_str().unwrap()),
            "{expr}: {}",
            stderr(&o)
        );
    }
    let o = Command::new(BIN)
        .args(["cron", "0 9 * * *", "--tz", "Mars/Olympus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown time zone \\\"Mars/Olympus\\\"")
            || stderr(&o).contains("unknown time zone \"Mars/Olympus\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn backup_of_a_server_under_load_holds_every_schedule_created_before_it() {
    if common::skip_on_postgres(
        "backup copies the SQLite file; on PostgreSQL it answers 400 (use pg_dump)",
    ) {
        return;
    }
    let (dir, server, sink) = common::start();
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    for i in 0..30 {
        let id = format!("before-{i}");
        create_schedule(
            &server,
            &sink.url("/load"),
            &[("Upstash-Cron", YEARLY), ("Upstash-Schedule-Id", &id)],
            b"",
        );
        created.lock().unwrap().push(id);
    }
    // The load: schedules created and messages published, one after another,
    // until the backup is done (bounded by a count as well).
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, created) = (stop.clone(), created.clone());
        let (addr, token, dest) = (server.addr, server.token.clone(), sink.url("/load"));
        std::thread::spawn(move || {
            let target = Remote { addr, token };
            for i in 0..5_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = format!("during-{i}");
                create_schedule(
                    &target,
                    &dest,
                    &[("Upstash-Cron", YEARLY), ("Upstash-Schedule-Id", &id)],
                    b"",
                );
                created.lock().unwrap().push(id);
                publish(&target, &dest, &[], b"load");
            }
        })
    };
    wait_until(WAIT, "the load to be under way", || {
        (created.lock().unwrap().len() >= 40).then_some(())
    });
    let before: Vec<String> = created.lock().unwrap().clone();
    let out = dir.path().join("backup.db");
    let said = ok(&server, &["backup", out.to_str().unwrap()]);
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(
        said.starts_with(&format!("Wrote {}", out.display())),
        "{said}"
    );

    let copy =
        rusqlite::Connection::open_with_flags(&out, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = copy.prepare("SELECT id FROM schedules").unwrap();
    let stored: std::collections::HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let missing: Vec<&String> = before.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "the backup lacks {missing:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".backup-") || n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_backup_starts_a_server_with_the_same_schedules() {
    if common::skip_on_postgres(
        "backup copies the SQLite file; on PostgreSQL it answers 400 (use pg_dump)",
    ) {
        return;
    }
    let (dir, server, sink) = common::start();
    let id = create_schedule(
        &server,
        &sink.url("/kept"),
        &[("Upstash-Cron", YEARLY)],
        b"",
    );
    let out = dir.path().join("copy.db");
    let said = json(&server, &["backup", out.to_str().unwrap()]);
    assert_eq!(
        said["bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    // Another backup to the same file needs --force.
    let err = fails(&server, &["backup", out.to_str().unwrap()], 1);
    assert!(err.contains("--force"), "{err}");
    ok(&server, &["backup", out.to_str().unwrap(), "--force"]);

    let restored = ServerProcess::start(&out);
    let got = json(&restored, &["schedules", "get", &id]);
    assert_eq!(got["destination"], sink.url("/kept"));
}
