//! `cronhook migrate --from cronhook.db --to postgres://…`: a SQLite
//! database made by the real binary through its API arrives in PostgreSQL
//! table by table, row by row, every column as it was, and a cronhook started
//! on the copy answers the API as the SQLite one did. The PostgreSQL tests
//! run when `CRONHOOK_TEST_POSTGRES` holds a URL (each in a schema of its
//! own, `common::backend`); without it they say so and pass. The refusals of
//! the source need no PostgreSQL. The source is always a SQLite file
//! (`ServerProcess::start_sqlite`), whichever backend the suite runs on.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::api::{call, create_schedule, publish, wait_for_dlq, wait_for_state};
use common::backend::{self, PgSchema};
use common::sink::Sink;
use common::wait::WAIT;
use common::ServerProcess;
use postgres::Client;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cronhook");

/// A URL nothing listens on: the source is refused before it is used.
const NOWHERE: &str = "postgres://postgres@127.0.0.1:1/postgres";

/// A schema of its own on the test server, `None` (with a note) when the
/// suite runs without PostgreSQL.
fn target(why: &str) -> Option<std::sync::Arc<PgSchema>> {
    if common::skip_on_sqlite(why) {
        return None;
    }
    Some(std::sync::Arc::new(PgSchema::create()))
}

/// `cronhook migrate --from FROM --to TO`.
fn migrate(from: &Path, to: &str) -> Output {
    let mut cmd = Command::new(BIN);
    for k in common::SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    cmd.env_remove("CRONHOOK_MIGRATE_TO")
        .arg("migrate")
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to)
        .stdin(Stdio::null())
        .output()
        .expect("running cronhook migrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A database with a fresh schema and signing keys: a server started on it
/// and stopped.
fn fresh_sqlite(path: &Path) {
    let mut server = ServerProcess::start_sqlite(path);
    server.terminate();
}

/// One batch item of a workflow run's message (workflow-wire §3).
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
        },
        "body": body,
    })
}

fn ok(result: (u16, Value), what: &str) -> Value {
    assert!((200..300).contains(&result.0), "{what}: {result:?}");
    result.1
}

/// Runs the real server on `path` and makes, through its API, a row of
/// every table: schedules (plain, paused, bounded, one that has fired),
/// pending delayed messages (one with a binary body), a paused queue's
/// messages, a DLQ entry, delivered messages and their log, a URL group,
/// a flow-control key, a dedup id, rotated keys, and a workflow run that
/// waits for an event and has a lookback notice. Then reads back what the
/// API lists (`LISTED`) and stops it; those answers.
fn every_kind_of_row(path: &Path) -> Vec<(String, Value)> {
    let mut server = ServerProcess::start_sqlite(path);
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);

    create_schedule(
        &server,
        &sink.url("/yearly"),
        &[("Upstash-Cron", "0 0 1 1 *")],
        b"y",
    );
    let paused = create_schedule(
        &server,
        &sink.url("/paused"),
        &[("Upstash-Cron", "0 * * * *")],
        b"",
    );
    ok(
        call(
            &server,
            "POST",
            &format!("/v2/schedules/{paused}/pause"),
            &[],
            b"",
        ),
        "pause",
    );
    let now = common::wait::now_ms();
    let (start, end) = (
        (now / 1000 + 3_600).to_string(),
        (now / 1000 + 7_200).to_string(),
    );
    create_schedule(
        &server,
        &sink.url("/bounded"),
        &[
            ("Upstash-Cron", "*/5 * * * *"),
            ("Cronhook-Start-At", &start),
            ("Cronhook-End-At", &end),
        ],
        b"",
    );
    // A schedule that fires every second, paused once it has: fired slots
    // and a fire history.
    let ticking = create_schedule(
        &server,
        &sink.url("/tick"),
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Cronhook-Cron-Seconds", "true"),
        ],
        b"tick",
    );
    sink.wait_for("/tick", 1, WAIT);
    ok(
        call(
            &server,
            "POST",
            &format!("/v2/schedules/{ticking}/pause"),
            &[],
            b"",
        ),
        "pause the ticking schedule",
    );

    let later = publish(
        &server,
        &sink.url("/later"),
        &[("Upstash-Delay", "1h")],
        b"\x00\xffbinary",
    );
    publish(
        &server,
        &sink.url("/later"),
        &[
            ("Upstash-Delay", "2h"),
            ("Upstash-Deduplication-Id", "dedup-1"),
        ],
        b"second",
    );
    ok(
        call(
            &server,
            "POST",
            "/v2/queues",
            &[("Content-Type", "application/json")],
            json!({"queueName": "jobs", "parallelism": 2, "paused": true})
                .to_string()
                .as_bytes(),
        ),
        "queue",
    );
    for n in 0..3 {
        let (status, json) = call(
            &server,
            "POST",
            &format!("/v2/enqueue/jobs/{}", sink.url("/jobs")),
            &[],
            format!("job {n}").as_bytes(),
        );
        assert_eq!(status, 201, "{json}");
    }
    let failed = publish(
        &server,
        &sink.url("/fail"),
        &[("Upstash-Retries", "0")],
        b"fails",
    );
    wait_for_dlq(&server, &[&failed]);
    let delivered = publish(
        &server,
        &sink.url("/ok"),
        &[("Upstash-Method", "PUT")],
        b"ok",
    );
    wait_for_state(&server, &delivered, "DELIVERED");
    let flowed = publish(
        &server,
        &sink.url("/fc"),
        &[
            ("Upstash-Flow-Control-Key", "fk"),
            ("Upstash-Flow-Control-Value", "parallelism=2, rate=10"),
        ],
        b"",
    );
    wait_for_state(&server, &flowed, "DELIVERED");
    ok(
        call(
            &server,
            "POST",
            "/v2/topics/grp/endpoints",
            &[("Content-Type", "application/json")],
            json!({"endpoints": [{"name": "b", "url": sink.url("/b")}, {"url": sink.url("/a")}]})
                .to_string()
                .as_bytes(),
        ),
        "URL group",
    );
    // A URL group's deduplication keys hold NUL on SQLite, U+0001 on
    // PostgreSQL: the one value migrate changes.
    let (status, json) = call(
        &server,
        "POST",
        "/v2/publish/grp",
        &[("Upstash-Deduplication-Id", "dedup-grp")],
        b"to the group",
    );
    assert_eq!(status, 201, "group publish: {json}");
    // Delivered and logged before the listing below, or the copy's log
    // would hold rows the listing did not.
    for m in json.as_array().expect("one message per endpoint") {
        wait_for_state(&server, m["messageId"].as_str().unwrap(), "DELIVERED");
    }
    ok(call(&server, "POST", "/v2/keys/rotate", &[], b""), "rotate");

    let run = "wfr_migrated";
    let url = sink.url("/wf");
    let started = ok(
        call(
            &server,
            "POST",
            "/v2/batch",
            &[("Content-Type", "application/json")],
            json!([workflow_item(&url, run, true, r#"{"order":1}"#)])
                .to_string()
                .as_bytes(),
        ),
        "workflow run",
    );
    let step = started[0]["messageId"]
        .as_str()
        .expect("the run's message id");
    wait_for_state(&server, step, "DELIVERED");
    let wait = json!({
        "url": url, "timeout": "1h", "timeoutUrl": url,
        "timeoutHeaders": {"Upstash-Workflow-Runid": [run]},
        "step": {"stepId": 1, "stepType": "Wait", "stepName": "await", "concurrent": 1},
    });
    ok(
        call(
            &server,
            "POST",
            "/v2/wait/evt_1",
            &[
                ("Upstash-Workflow-RunId", run),
                ("Upstash-Forward-Upstash-Workflow-Sdk-Version", "1"),
                ("Upstash-Workflow-CallType", "step"),
            ],
            wait.to_string().as_bytes(),
        ),
        "wait for an event",
    );
    ok(
        call(
            &server,
            "POST",
            &format!("/v2/notify/{run}/evt_2"),
            &[],
            b"early",
        ),
        "lookback notice",
    );
    let mut listed: Vec<String> = LISTED.iter().map(|p| p.to_string()).collect();
    listed.push(format!("/v2/messages/{later}"));
    listed.push(format!("/v2/logs?messageId={delivered}"));
    let answers = listed
        .into_iter()
        .map(|path| {
            let json = ok(call(&server, "GET", &path, &[], b""), &path);
            (path, json)
        })
        .collect();
    server.terminate();
    answers
}

/// What the API lists of every kind of row; the same on the copy.
const LISTED: &[&str] = &[
    "/v2/schedules",
    "/v2/dlq",
    "/v2/logs",
    "/v2/topics",
    "/v2/keys",
    "/v2/queues",
    "/v2/flowControl",
    "/v2/waiters/evt_1",
    "/v2/workflows/events?workflowRunId=wfr_migrated",
];

/// A value as both sides hold it, comparable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// `(column, SQLite declared type)` of `table`, plus `rowid` where the
/// PostgreSQL schema keeps it as a column.
fn columns(conn: &rusqlite::Connection, table: &str) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = conn
        .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
        .unwrap()
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    if table == "messages" || table == "url_group_endpoints" {
        cols.push(("rowid".into(), "INTEGER".into()));
    }
    cols
}

fn sqlite_tables(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn select(table: &str, cols: &[(String, String)]) -> String {
    let names: Vec<String> = cols.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    format!("SELECT {} FROM \"{table}\"", names.join(", "))
}

/// Every row of `table`, sorted.
fn sqlite_rows(conn: &rusqlite::Connection, table: &str) -> Vec<Vec<V>> {
    let cols = columns(conn, table);
    let mut rows: Vec<Vec<V>> = conn
        .prepare(&select(table, &cols))
        .unwrap()
        .query_map([], |r| {
            (0..cols.len())
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => V::Null,
                        rusqlite::types::ValueRef::Integer(n) => V::Int(n),
                        rusqlite::types::ValueRef::Text(t) => {
                            let t = String::from_utf8(t.to_vec()).unwrap();
                            // The one mapped value (see the fixture).
                            if table == "dedup" {
                                V::Text(t.replace('\0', "\u{1}"))
                            } else {
                                V::Text(t)
                            }
                        }
                        rusqlite::types::ValueRef::Blob(b) => V::Bytes(b.to_vec()),
                        rusqlite::types::ValueRef::Real(x) => panic!("{table}: a REAL {x}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

/// Every row of PostgreSQL's `table`, read by SQLite's column types, sorted.
fn postgres_rows(client: &mut Client, table: &str, cols: &[(String, String)]) -> Vec<Vec<V>> {
    let mut rows: Vec<Vec<V>> = client
        .query(&select(table, cols), &[])
        .unwrap_or_else(|e| panic!("{table}: {e:?}"))
        .iter()
        .map(|r| {
            cols.iter()
                .enumerate()
                .map(|(i, (_, ty))| match ty.as_str() {
                    "INTEGER" => r.get::<_, Option<i64>>(i).map_or(V::Null, V::Int),
                    "TEXT" => r.get::<_, Option<String>>(i).map_or(V::Null, V::Text),
                    _ => r.get::<_, Option<Vec<u8>>>(i).map_or(V::Null, V::Bytes),
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn every_table_arrives_row_by_row_with_every_column() {
    let Some(pg) = target("cronhook migrate copies into PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    every_kind_of_row(&db);

    let out = migrate(&db, &pg.url);
    assert!(
        out.status.success(),
        "migrate failed: {}",
        text(&out.stderr)
    );
    let printed = text(&out.stdout);

    let conn = common::db::open(&db);
    let mut client = pg.client();
    let tables = sqlite_tables(&conn);
    assert_eq!(tables.len(), 17, "{tables:?}");
    for table in &tables {
        let sqlite = sqlite_rows(&conn, table);
        assert!(!sqlite.is_empty(), "the fixture made no row of {table}");
        let postgres = postgres_rows(&mut client, table, &columns(&conn, table));
        assert_eq!(postgres, sqlite, "table {table}");
        let line = printed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table.as_str()))
            .unwrap_or_else(|| panic!("{table} is not in the report: {printed}"));
        assert!(
            line.ends_with(&format!(" {}", sqlite.len())),
            "{line} (want {})",
            sqlite.len()
        );
    }
    // The queue's order is its rowid order, kept.
    let queued: Vec<Vec<u8>> = client
        .query(
            "SELECT body FROM messages WHERE queue_name = 'jobs' ORDER BY rowid",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        queued,
        [b"job 0".to_vec(), b"job 1".to_vec(), b"job 2".to_vec()]
    );
}

/// An answer without what lives in the engine's memory, not in the
/// database: a flow-control key's live counters and rate period (§4.11),
/// which start afresh with every start.
fn stored(path: &str, mut answer: Value) -> Value {
    if path == "/v2/flowControl" {
        for key in answer.as_array_mut().unwrap() {
            for live in ["parallelismCount", "rateCount", "ratePeriodStart"] {
                key.as_object_mut().unwrap().remove(live);
            }
        }
    }
    answer
}

/// A cronhook started on the copy lists what the SQLite one listed:
/// schedules, a pending message, the DLQ, the log, URL groups, keys,
/// queues, flow-control keys, waiters and a workflow run's log.
#[test]
fn a_cronhook_on_the_copy_answers_the_api_as_the_sqlite_one_did() {
    if common::skip_on_sqlite("cronhook migrate copies into PostgreSQL") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let answers = every_kind_of_row(&db);
    // The schema the suite's servers use for this path, so that a server
    // started on it below serves the copy.
    let copy = dir.path().join("copy.db");
    let pg = backend::for_path(&copy);
    let out = migrate(&db, &pg.url);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut server = ServerProcess::start(&copy);
    for (path, sqlite) in &answers {
        let (status, postgres) = call(&server, "GET", path, &[], b"");
        assert_eq!(
            status,
            200,
            "GET {path}: {postgres}\nserver log:\n{}",
            server.stderr_text()
        );
        assert_eq!(
            stored(path, postgres),
            stored(path, sqlite.clone()),
            "GET {path}"
        );
    }
    // The signing keys are the rotated ones, which the apps verify with.
    let keys = answers.iter().find(|(p, _)| p == "/v2/keys").unwrap();
    assert_eq!(server.current_signing_key, keys.1["current"], "{}", keys.1);
    server.terminate();
}

/// An identity sequence continues past every number SQLite handed out,
/// also one whose row was deleted (AUTOINCREMENT never reuses it, and
/// clients may hold it in a cursor).
#[test]
fn new_rows_take_numbers_past_every_one_sqlite_handed_out() {
    let Some(pg) = target("cronhook migrate copies into PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    fresh_sqlite(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "INSERT INTO log (message_id, state, time) VALUES ('a', 'CREATED', 1), ('b', 'CREATED', 2),
                                                               ('c', 'CREATED', 3);
             DELETE FROM log WHERE seq = 3;
             INSERT INTO messages (id, url, delivery, body, created_at, not_before, due_at)
             VALUES ('m1', 'http://127.0.0.1:1/', '{}', x'', 1, 1, 1),
                    ('m2', 'http://127.0.0.1:1/', '{}', x'', 1, 1, 1);",
        )
        .unwrap();
    let out = migrate(&db, &pg.url);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut client = pg.client();
    let seq: i64 = client
        .query_one(
            "INSERT INTO log (message_id, state, time) VALUES ('d', 'CREATED', 4) RETURNING seq",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(seq, 4, "past the deleted 3");
    let rowid: i64 = client
        .query_one(
            "INSERT INTO messages (id, url, delivery, body, created_at, not_before, due_at) \
             VALUES ('m3', 'u', '{}', '', 1, 1, 1) RETURNING rowid",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rowid, 3, "after the copied rowids 1 and 2");
    let dlq: i64 = client
        .query_one(
            "INSERT INTO dlq (dlq_id, message_id, url, delivery, body, created_at, not_before, \
             retried, failed_at, response_body) VALUES ('d1', 'm', 'u', '{}', '', 1, 1, 0, 1, '') \
             RETURNING seq",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dlq, 1, "an empty table starts at 1");
}

#[test]
fn a_target_with_rows_is_refused_naming_the_table_and_left_as_it_was() {
    let Some(pg) = target("cronhook migrate copies into PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    fresh_sqlite(&db);
    let first = migrate(&db, &pg.url);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let mut client = pg.client();
    client
        .batch_execute(
            "INSERT INTO schedules (id, destination, cron, delivery, body, created_at) \
             VALUES ('scd_there', 'http://127.0.0.1:1/', '* * * * *', '{}', '', 1)",
        )
        .unwrap();
    let keys_before: Vec<String> = client
        .query("SELECT value FROM meta ORDER BY key", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    let out = migrate(&db, &pg.url);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("the target is not empty") && err.contains("schedules"),
        "{err}"
    );
    let schedules: i64 = client
        .query_one("SELECT count(*) FROM schedules", &[])
        .unwrap()
        .get(0);
    assert_eq!(schedules, 1);
    let keys_after: Vec<String> = client
        .query("SELECT value FROM meta ORDER BY key", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys_after, keys_before);
}

/// The copy is one transaction: a row PostgreSQL refuses (text with a NUL
/// character, which SQLite stores and PostgreSQL's text cannot) leaves the
/// target empty, the tables copied before it included.
#[test]
fn a_copy_that_fails_midway_leaves_the_target_empty() {
    let Some(pg) = target("cronhook migrate copies into PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    fresh_sqlite(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "INSERT INTO schedules (id, destination, cron, delivery, body, created_at)
             VALUES ('scd_1', 'http://127.0.0.1:1/', '* * * * *', '{}', x'', 1);
             INSERT INTO messages (id, url, delivery, body, created_at, not_before, due_at, caller_ip)
             VALUES ('m1', 'http://127.0.0.1:1/', '{}', x'', 1, 1, 1, 'ip' || char(0));",
        )
        .unwrap();
    let out = migrate(&db, &pg.url);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("copying table messages"), "{err}");
    let mut client = pg.client();
    for table in ["meta", "schedules", "messages"] {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
}

#[test]
fn a_sqlite_file_a_cronhook_is_serving_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let mut server = ServerProcess::start_sqlite(&db);
    let out = migrate(&db, NOWHERE);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("a cronhook is serving it"), "{err}");
    assert!(server.is_running());
    server.terminate();
}

#[test]
fn a_missing_from_file_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nothing-here.db");
    let out = migrate(&db, NOWHERE);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("nothing-here.db") && err.contains("no such file"),
        "{err}"
    );
    assert!(!db.exists());
}

#[test]
fn a_to_that_is_not_a_postgres_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    fresh_sqlite(&db);
    let out = migrate(&db, "other.db");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("postgres://"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_to_whose_schema_does_not_exist_is_refused_with_a_hint() {
    let Some(pg) = target("cronhook migrate copies into PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    fresh_sqlite(&db);
    let missing = pg.url.replace(&pg.name, &format!("{}_missing", pg.name));
    let out = migrate(&db, &missing);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("CREATE SCHEMA"), "{err}");
}
