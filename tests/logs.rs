//! The log (§4.9, §6.6, §9.6): every state change, newest first, with its
//! filters and paging; and retention (§9.8).
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! Listing and the purge at start-up run against the real binary, a real
//! database and a real sink on 127.0.0.1; the purge after activity and the
//! age bounds run in-process on the manual clock (`common::inproc`), where
//! a minute or two weeks pass in one step.

mod common;

use common::api::{b64, call, dlq, enc, events, publish, states, wait_for_state};
use common::db::rows;
use common::inproc::InProcess;
use common::sink::{Sink, QUIET};
use common::wait::{wait_until, WAIT};
use common::{start, start_with, ServerOptions, ServerProcess};
use serde_json::Value;

const STATES: [&str; 9] = [
    "CREATED",
    "ACTIVE",
    "RETRY",
    "ERROR",
    "DELIVERED",
    "FAILED",
    "CANCEL_REQUESTED",
    "CANCELED",
    "IN_PROGRESS",
];

#[test]
fn the_log_lists_every_state_change_newest_first_with_filters_and_paging() {
    let (_dir, server, sink) = start();
    sink.answer("/bad", 500, &[]);
    let ok = publish(&server, &sink.url("/ok"), &[], b"fine");
    let expr = "100 * (retried + 1)";
    let bad = publish(
        &server,
        &sink.url("/bad"),
        &[("Upstash-Retries", "1"), ("Upstash-Retry-Delay", expr)],
        b"broken",
    );
    let gone = publish(
        &server,
        &sink.url("/never"),
        &[("Upstash-Delay", "1h")],
        b"",
    );
    let (status, _) = call(&server, "DELETE", &format!("/v2/messages/{gone}"), &[], b"");
    assert_eq!(status, 200);
    wait_for_state(&server, &ok, "DELIVERED");
    wait_for_state(&server, &bad, "FAILED");

    assert_eq!(states(&server, &ok), ["DELIVERED", "ACTIVE", "CREATED"]);
    assert_eq!(
        states(&server, &bad),
        ["FAILED", "ERROR", "ACTIVE", "RETRY", "ERROR", "ACTIVE", "CREATED"]
    );
    assert_eq!(
        states(&server, &gone),
        ["CANCELED", "CANCEL_REQUESTED", "CREATED"]
    );

    let (all, cursor) = events(&server, "");
    assert_eq!(all.len(), 13);
    assert!(cursor.is_none(), "no cursor on the last page");
    for e in &all {
        assert!(e["time"].is_i64(), "{e}");
        assert!(e["messageId"].is_string(), "{e}");
        assert!(e["url"].is_string(), "{e}");
        assert!(STATES.contains(&e["state"].as_str().unwrap()), "{e}");
    }
    let times: Vec<i64> = all.iter().map(|e| e["time"].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    // The openapi's /v2/logs answers the same, under both keys too.
    let (status, json) = call(&server, "GET", "/v2/logs", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(json["logs"], Value::Array(all.clone()));
    assert_eq!(json["events"], json["logs"]);

    // The failed message's entries in detail.
    let (log, _) = events(&server, &format!("messageId={bad}"));
    for e in &log {
        assert_eq!(e["retryDelayExpr"], expr, "{e}");
        assert_eq!(e["retryDelayExpression"], expr, "{e}");
        assert_eq!(e["maxRetries"], 1);
        assert_eq!(e["method"], "POST");
        assert_eq!(e["url"], sink.url("/bad"));
    }
    let [failed, error2, active2, retry, error1, active1, created] = &log[..] else {
        panic!("{log:?}")
    };
    assert_eq!(created["body"], b64(b"broken"), "the log's body is base64");
    for error in [error1, error2] {
        assert_eq!(error["responseStatus"], 500);
        assert_eq!(error["responseBody"], b64(b"sink says 500"));
        assert!(error["error"].as_str().unwrap().contains("500"), "{error}");
    }
    // §9.2: `retried` is 0 when the first retry's delay is computed: 100 ms.
    let next = retry["nextDeliveryTime"]
        .as_i64()
        .expect("nextDeliveryTime");
    assert_eq!(next, retry["time"].as_i64().unwrap() + 100);
    assert!(active2["time"].as_i64().unwrap() >= next);
    assert!(active1["time"].as_i64().unwrap() >= created["time"].as_i64().unwrap());
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()));

    // Filters.
    let (in_progress, _) = events(&server, "state=IN_PROGRESS");
    assert_eq!(in_progress.len(), 6, "one ACTIVE for ok, five for bad");
    assert!(in_progress
        .iter()
        .all(|e| ["ACTIVE", "RETRY", "ERROR"].contains(&e["state"].as_str().unwrap())));
    let (log, _) = events(&server, &format!("messageId={bad}&state=IN_PROGRESS"));
    let s: Vec<&str> = log.iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(s, ["ERROR", "ACTIVE", "RETRY", "ERROR", "ACTIVE"]);
    let (delivered, _) = events(&server, "state=DELIVERED");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["messageId"], ok);
    let (done, _) = events(&server, "state=DELIVERED&state=FAILED&state=CANCELED");
    assert_eq!(done.len(), 3);
    let (two, _) = events(&server, &format!("messageIds={ok}&messageIds={gone}"));
    assert_eq!(two.len(), 6);
    assert!(two
        .iter()
        .all(|e| e["messageId"] == ok || e["messageId"] == gone));
    let (by_url, _) = events(&server, &format!("url={}", enc(&sink.url("/bad"))));
    assert_eq!(by_url.len(), 7);

    // Paging with count=2 walks the whole log, without overlap.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            None => "count=2".to_owned(),
            Some(c) => format!("count=2&cursor={}", enc(c)),
        };
        let (page, next) = events(&server, &q);
        pages += 1;
        assert!(pages <= 20, "the cursor never ends");
        match next {
            Some(c) => {
                assert_eq!(page.len(), 2);
                walked.extend(page);
                cursor = Some(c);
            }
            None => {
                assert_eq!(page.len(), 1, "13 entries: the last page has one");
                walked.extend(page);
                break;
            }
        }
    }
    assert_eq!(pages, 7);
    assert_eq!(walked, all);
}

#[test]
fn retention_keeps_only_the_newest_log_and_dlq_entries() {
    let opts = ServerOptions::default()
        .arg("--log-max-entries")
        .arg("20")
        .arg("--dlq-max-entries")
        .arg("3");
    let (dir, mut server, sink) = start_with(opts.clone());
    sink.answer("/fail", 500, &[]);
    // One message at a time, each finished before the next: 5 × 3 + 5 × 4 entries.
    for _ in 0..5 {
        let ok = publish(&server, &sink.url("/ok"), &[], b"ok");
        wait_for_state(&server, &ok, "DELIVERED");
        let failed = publish(
            &server,
            &sink.url("/fail"),
            &[("Upstash-Retries", "0")],
            b"no",
        );
        wait_for_state(&server, &failed, "FAILED");
    }
    let (before, cursor) = events(&server, "count=1000");
    assert_eq!(before.len(), 35, "no purge yet (at most one a minute)");
    assert!(cursor.is_none());
    let (dlq_before, _) = dlq(&server, "");
    assert_eq!(dlq_before.len(), 5);

    // A purge runs at start-up: restart on the same database.
    server.terminate();
    let server = ServerProcess::start_with(dir.path().join("cronhook.db"), opts);
    let after = wait_until(WAIT, "the log purge", || {
        let (log, _) = events(&server, "count=1000");
        (log.len() <= 20).then_some(log)
    });
    assert_eq!(after, before[..20], "the 20 newest entries are kept");
    let dlq_after = wait_until(WAIT, "the DLQ purge", || {
        let (entries, _) = dlq(&server, "");
        (entries.len() <= 3).then_some(entries)
    });
    assert_eq!(
        dlq_after,
        dlq_before[..3],
        "the 3 newest DLQ entries are kept"
    );
    // 20 entries are 11 rows: a message's attempt is one row, its CREATED
    // another; the messages left without rows lose their settings too.
    assert_eq!(rows(&server.db, "log"), 11);
    assert_eq!(rows(&server.db, "log_messages"), 6);
    assert_eq!(rows(&server.db, "dlq"), 3);
}

/// After activity a purge runs at most once a minute (on the engine's
/// clock): entries beyond the bounds stay for the rest of the minute since
/// the last purge (here the one at start-up), and the first outcome after
/// it purges them. In-process on the manual clock.
#[test]
fn retention_runs_after_activity_at_most_once_a_minute() {
    let p = InProcess::start_with(|c| {
        c.log_max_entries = 20;
        c.dlq_max_entries = 3;
    });
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);
    let t0 = p.now_ms();
    // 5 × 3 + 5 × 4 entries, and 5 DLQ entries, at the start-up purge's time.
    for _ in 0..5 {
        let ok = publish(&p, &sink.url("/ok"), &[], b"ok");
        wait_for_state(&p, &ok, "DELIVERED");
        let failed = publish(&p, &sink.url("/fail"), &[("Upstash-Retries", "0")], b"no");
        wait_for_state(&p, &failed, "FAILED");
    }
    // 1 ms before the minute is over, one more delivery purges nothing.
    p.advance_to(t0 + 59_999);
    let ok = publish(&p, &sink.url("/ok"), &[], b"ok");
    wait_for_state(&p, &ok, "DELIVERED");
    std::thread::sleep(QUIET);
    let (before, _) = events(&p, "count=1000");
    assert_eq!(before.len(), 38, "no purge within the minute");
    let (dlq_before, _) = dlq(&p, "");
    assert_eq!(dlq_before.len(), 5);

    p.advance_to(t0 + 60_000);
    let last = publish(&p, &sink.url("/ok"), &[], b"ok");
    wait_for_state(&p, &last, "DELIVERED");
    let after = wait_until(WAIT, "the log purge", || {
        let (log, _) = events(&p, "count=1000");
        (log.len() <= 20).then_some(log)
    });
    // The 20 newest: the last message's 3 entries, then the 17 newest before.
    let newest: Vec<&Value> = after[..3].iter().map(|e| &e["messageId"]).collect();
    assert_eq!(newest, [&Value::from(last.as_str()); 3]);
    assert_eq!(after[3..], before[..17], "the 20 newest entries are kept");
    let (dlq_after, _) = dlq(&p, "");
    assert_eq!(
        dlq_after,
        dlq_before[..3],
        "the 3 newest DLQ entries are kept"
    );
    // 20 entries are 12 rows (an attempt is one, a CREATED another) of 6
    // messages, whose settings alone are left.
    assert_eq!(rows(&p.db(), "log"), 12);
    assert_eq!(rows(&p.db(), "log_messages"), 6);
    assert_eq!(rows(&p.db(), "dlq"), 3);
}

/// Log and DLQ entries are kept 14 days by default (§9.8): older ones are
/// purged, one exactly 14 days old is kept. In-process on the manual clock.
#[test]
fn retention_purges_log_and_dlq_entries_older_than_14_days() {
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);
    let t0 = p.now_ms();
    let old_ok = publish(&p, &sink.url("/ok"), &[], b"old");
    wait_for_state(&p, &old_ok, "DELIVERED");
    let old_failed = publish(&p, &sink.url("/fail"), &[("Upstash-Retries", "0")], b"old");
    wait_for_state(&p, &old_failed, "FAILED");

    // A minute later (a purge may run again): entries that will be exactly
    // 14 days old at the next purge.
    const DAY: i64 = 86_400_000;
    p.advance_to(t0 + 61_000);
    let edge = publish(&p, &sink.url("/ok"), &[], b"edge");
    wait_for_state(&p, &edge, "DELIVERED");
    let edge_failed = publish(&p, &sink.url("/fail"), &[("Upstash-Retries", "0")], b"edge");
    wait_for_state(&p, &edge_failed, "FAILED");
    assert_eq!(
        events(&p, "count=1000").0.len(),
        14,
        "nothing is 14 days old yet"
    );

    // 14 days after the edge entries, activity triggers a purge.
    p.advance_to(t0 + 61_000 + 14 * DAY);
    let new = publish(&p, &sink.url("/ok"), &[], b"new");
    wait_for_state(&p, &new, "DELIVERED");
    wait_until(WAIT, "the purge of the old entries", || {
        states(&p, &old_ok).is_empty().then_some(())
    });
    assert!(states(&p, &old_failed).is_empty());
    assert_eq!(states(&p, &edge), ["DELIVERED", "ACTIVE", "CREATED"]);
    assert_eq!(
        states(&p, &edge_failed),
        ["FAILED", "ERROR", "ACTIVE", "CREATED"]
    );
    assert_eq!(states(&p, &new), ["DELIVERED", "ACTIVE", "CREATED"]);
    let (left, _) = dlq(&p, "");
    let left: Vec<&Value> = left.iter().map(|e| &e["messageId"]).collect();
    assert_eq!(
        left,
        [&Value::from(edge_failed.as_str())],
        "the old DLQ entry went"
    );
}

/// A database written by the previous release (schema 9, a row per state
/// change, each with the message's settings; `tests/fixtures/make_v9_db.py`
/// made it through the API, with what that release served) is converted at
/// start to a row per attempt, and then serves what that release served:
/// every recorded listing (all, each state, message ids, URL, schedule,
/// label, queue, status, time ranges), page by page, entry by entry; a
/// workflow run's logs; a schedule's fire history; the console's histogram
/// and activity. On a manual clock at the moment of the recording.
#[test]
fn a_log_written_by_the_previous_release_reads_back_as_it_was_served() {
    if common::skip_on_postgres(
        "replays a SQLite schema-9 file (tests/fixtures/v9.db) through its migration",
    ) {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("v9-events.json")).unwrap())
            .unwrap();
    let p = InProcess::start_on_copy(&dir.join("v9.db"), fixture["recorded_at"].as_i64().unwrap());
    // Converted: 33 rows (16 attempts, 17 other state changes) for the 55
    // of version 9, and the settings of its 15 messages once each.
    assert_eq!(rows(&p.db(), "log"), 33);
    assert_eq!(
        common::db::int(
            &p.db(),
            "SELECT count(*) FROM log WHERE started_at IS NOT NULL",
            &[]
        ),
        16
    );
    assert_eq!(rows(&p.db(), "log_messages"), 15);
    assert_eq!(
        common::db::int(
            &p.db(),
            "SELECT count(*) FROM log WHERE delivery IS NOT NULL",
            &[]
        ),
        0,
        "every converted row's settings are its message's"
    );

    let queries = fixture["queries"].as_array().unwrap();
    let others = fixture["others"].as_object().unwrap();
    // An empty recording would compare nothing and pass.
    assert!(
        queries.len() >= 40 && others.len() >= 7,
        "the recording holds {} listings and {} other answers",
        queries.len(),
        others.len()
    );
    for listing in queries {
        let query = listing["query"].as_str().unwrap();
        let count = listing["count"].as_i64().unwrap();
        let recorded = listing["pages"].as_array().unwrap();
        assert!(!recorded.is_empty(), "{query}: no page recorded");
        let mut cursor: Option<String> = None;
        for (i, want) in recorded.iter().enumerate() {
            let mut q = format!("count={count}");
            if !query.is_empty() {
                q += &format!("&{query}");
            }
            if let Some(c) = &cursor {
                q += &format!("&cursor={}", enc(c));
            }
            let (page, next) = events(&p, &q);
            let want = want.as_array().unwrap();
            assert_eq!(page.len(), want.len(), "{q}: page {i}");
            for (got, want) in page.iter().zip(want) {
                assert_eq!(got, want, "{q}: page {i}");
            }
            assert_eq!(next.is_some(), i + 1 < recorded.len(), "{q}: page {i}");
            cursor = next;
        }
    }
    for (path, want) in others {
        let (route, part) = path.split_once('#').unwrap_or((path, ""));
        let (status, got) = call(&p, "GET", route, &[], b"");
        assert_eq!(status, 200, "{path}: {got}");
        let got = if part.is_empty() {
            got
        } else {
            got[part].clone()
        };
        assert_eq!(&got, want, "{path}");
    }
}

/// A workflow step runs with its run's trigger settings (retries, forwarded
/// headers), put on at attempt time: its attempt entries show those, its
/// CREATED entry what was published, as when every row had its own copy.
/// The settings are stored once more for the message, not per attempt.
#[test]
fn a_workflow_step_s_attempt_entries_show_the_settings_it_ran_with() {
    let (_dir, server, sink) = start();
    let app = sink.url("/wf/app");
    let item = |init: bool, extra: &[(&str, &str)], body: &str| {
        let mut h = serde_json::Map::new();
        for (k, v) in [
            ("upstash-workflow-runid", "wfr_settings"),
            ("upstash-workflow-init", if init { "true" } else { "false" }),
            ("upstash-workflow-url", app.as_str()),
            ("upstash-workflow-sdk-version", "1"),
            ("upstash-forward-upstash-workflow-sdk-version", "1"),
            ("upstash-method", "POST"),
        ]
        .iter()
        .chain(extra)
        {
            h.insert((*k).into(), Value::from(*v));
        }
        let items = serde_json::json!([{ "destination": app, "headers": h, "body": body }]);
        let (status, json) = call(
            &server,
            "POST",
            "/v2/batch",
            &[("Content-Type", "application/json")],
            items.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{json}");
        json[0]["messageId"].as_str().unwrap().to_owned()
    };
    let init = item(
        true,
        &[("upstash-retries", "1"), ("upstash-forward-x-run", "r1")],
        "{}",
    );
    wait_for_state(&server, &init, "DELIVERED");
    let step = item(false, &[], r#"{"stepId":1}"#);
    wait_for_state(&server, &step, "DELIVERED");
    let (log, _) = events(&server, &format!("messageId={step}"));
    let [delivered, active, created] = &log[..] else {
        panic!("{log:?}")
    };
    assert_eq!(created["maxRetries"], 3, "as published: {created}");
    assert!(created["header"].get("X-Run").is_none(), "{created}");
    for e in [active, delivered] {
        assert_eq!(e["maxRetries"], 1, "the run's: {e}");
        assert_eq!(e["header"]["X-Run"], serde_json::json!(["r1"]), "{e}");
    }
}
