//! The schedules API (§4.5, §6.3) against the real binary and a real database.

mod common;

use common::api::{assert_error, call, create_schedule};
use common::start;
use serde_json::Value;
use std::time::Duration;

const DEST: &str = "http://127.0.0.1:9/api/send-weekly-summary";

#[test]
fn create_get_list_pause_resume_delete() {
    let (_dir, server, _sink) = start();
    let (status, created) = call(
        &server,
        "POST",
        &format!("/v2/schedules/{DEST}"),
        &[
            ("Upstash-Cron", "  CRON_TZ=Europe/Berlin 30 9 * * 1 "),
            ("Upstash-Schedule-Id", "user-summary-ann@example.com"),
            ("Content-Type", "application/json"),
            ("Upstash-Forward-Test-Header", "v1"),
            ("Upstash-Retries", "5"),
            ("Upstash-Delay", "10s"),
        ],
        br#"{"userId": 42}"#,
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["scheduleId"], "user-summary-ann@example.com");
    let upcoming = created["nextScheduleTimes"].as_array().unwrap();
    assert_eq!(upcoming.len(), 5);
    // Mondays 09:30 in Berlin: a week apart (no DST change in between is
    // guaranteed, so allow the one-hour shift).
    let t: Vec<i64> = upcoming.iter().map(|v| v.as_i64().unwrap()).collect();
    for w in t.windows(2) {
        let gap = w[1] - w[0];
        assert!((gap - 7 * 86_400_000).abs() <= 3_600_000, "{gap}");
    }

    let (status, s) = call(
        &server,
        "GET",
        "/v2/schedules/user-summary-ann@example.com",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(s["cron"], "CRON_TZ=Europe/Berlin 30 9 * * 1");
    assert_eq!(s["destination"], DEST);
    assert_eq!(s["method"], "POST");
    assert_eq!(s["retries"], 5);
    assert_eq!(s["delay"], 10);
    assert_eq!(s["isPaused"], false);
    assert_eq!(s["body"], r#"{"userId": 42}"#);
    assert_eq!(s["header"]["Content-Type"][0], "application/json");
    assert_eq!(s["header"]["Test-Header"][0], "v1");
    assert_eq!(s["nextScheduleTime"], t[0]);
    assert!(s["createdAt"].as_i64().unwrap() > 0);
    assert_eq!(s["lastScheduleStates"], serde_json::json!({}));

    let (_, list) = call(&server, "GET", "/v2/schedules", &[], b"");
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Each method pauses and resumes; a repeated pause changes nothing.
    for method in ["PATCH", "POST"] {
        for (action, paused) in [("pause", true), ("pause", true), ("resume", false)] {
            let (status, _) = call(
                &server,
                method,
                &format!("/v2/schedules/user-summary-ann@example.com/{action}"),
                &[],
                b"",
            );
            assert_eq!(status, 200, "{method} {action}");
            let (_, s) = call(
                &server,
                "GET",
                "/v2/schedules/user-summary-ann@example.com",
                &[],
                b"",
            );
            assert_eq!(s["isPaused"], paused, "{method} {action}");
            if paused {
                assert!(
                    s.get("nextScheduleTime").is_none(),
                    "a paused schedule has no next time"
                );
            } else {
                assert_eq!(s["nextScheduleTime"], t[0]);
            }
        }
    }

    let (status, _) = call(
        &server,
        "DELETE",
        "/v2/schedules/user-summary-ann@example.com",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let (status, json) = call(
        &server,
        "GET",
        "/v2/schedules/user-summary-ann@example.com",
        &[],
        b"",
    );
    assert_error(status, &json, 404, &["not found"]);
    let (status, json) = call(
        &server,
        "DELETE",
        "/v2/schedules/user-summary-ann@example.com",
        &[],
        b"",
    );
    assert_error(status, &json, 404, &["not found"]);
    let (status, json) = call(&server, "PATCH", "/v2/schedules/nope/pause", &[], b"");
    assert_error(status, &json, 404, &["nope"]);
}

#[test]
fn overwrite_by_id_replaces_every_setting() {
    let (_dir, server, _sink) = start();
    let id = create_schedule(
        &server,
        DEST,
        &[
            ("Upstash-Cron", "0 * * * *"),
            ("Upstash-Schedule-Id", "same"),
            ("Upstash-Method", "PUT"),
        ],
        b"first",
    );
    call(&server, "PATCH", "/v2/schedules/same/pause", &[], b"");
    create_schedule(
        &server,
        "http://127.0.0.1:9/other",
        &[
            ("Upstash-Cron", "*/10 * * * *"),
            ("Upstash-Schedule-Id", &id),
        ],
        b"",
    );
    let (_, list) = call(&server, "GET", "/v2/schedules", &[], b"");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let s = &list[0];
    assert_eq!(s["destination"], "http://127.0.0.1:9/other");
    assert_eq!(s["cron"], "*/10 * * * *");
    assert_eq!(s["method"], "POST");
    assert!(s.get("body").is_none());
    assert_eq!(s["isPaused"], false);
}

#[test]
fn publish_with_upstash_cron_creates_a_schedule() {
    let (_dir, server, _sink) = start();
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{DEST}?page=2"),
        &[("Upstash-Cron", "*/5 * * * *")],
        b"x",
    );
    assert_eq!(status, 201, "{json}");
    let id = json["scheduleId"].as_str().unwrap();
    let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert_eq!(s["destination"], format!("{DEST}?page=2"));
}

#[test]
fn schedule_settings_also_work_as_query_parameters() {
    let (_dir, server, _sink) = start();
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/schedules/{DEST}?page=2&upstash-retries=1&upstash-delay=10s"),
        &[("Upstash-Cron", "*/5 * * * *")],
        b"",
    );
    assert_eq!(status, 201, "{json}");
    let id = json["scheduleId"].as_str().unwrap();
    let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert_eq!(s["destination"], format!("{DEST}?page=2"));
    assert_eq!(s["retries"], 1, "{s}");
    assert_eq!(s["delay"], 10, "{s}");
}

#[test]
fn bad_input_is_a_4xx_that_names_the_problem_and_stores_nothing() {
    let (_dir, server, _sink) = start();
    /// destination, headers, expected status, words the error must contain
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a [&'a str]);
    let cases: &[Case] = &[
        (
            DEST,
            &[("Upstash-Cron", "0 0 * * 25")],
            400,
            &["Upstash-Cron", "day-of-week", "0–7"],
        ),
        (DEST, &[("Upstash-Cron", "61 * * * *")], 400, &["minute"]),
        (
            DEST,
            &[("Upstash-Cron", "* * * * * *")],
            400,
            &["Cronhook-Cron-Seconds"],
        ),
        (
            DEST,
            &[("Upstash-Cron", "CRON_TZ=Mars/Base * * * * *")],
            400,
            &["Mars/Base"],
        ),
        (DEST, &[], 400, &["Upstash-Cron", "required"]),
        (
            "example.com/x",
            &[("Upstash-Cron", "* * * * *")],
            400,
            &["invalid destination url", "http://"],
        ),
        (
            DEST,
            &[
                ("Upstash-Cron", "* * * * *"),
                ("Upstash-Schedule-Id", "a b"),
            ],
            400,
            &["Upstash-Schedule-Id"],
        ),
        (
            DEST,
            &[("Upstash-Cron", "* * * * *"), ("Upstash-Retries", "many")],
            400,
            &["Upstash-Retries", "many"],
        ),
        (
            DEST,
            &[
                ("Upstash-Cron", "* * * * *"),
                ("Upstash-Retry-Delay", "1000 *"),
            ],
            400,
            &["Upstash-Retry-Delay"],
        ),
        (
            DEST,
            &[("Upstash-Cron", "* * * * *"), ("Upstash-Delay", "tomorrow")],
            400,
            &["Upstash-Delay"],
        ),
        (
            DEST,
            &[("Upstash-Cron", "* * * * *"), ("Upstash-Timeout", "-5s")],
            400,
            &["Upstash-Timeout"],
        ),
        (
            DEST,
            &[("Upstash-Cron", "* * * * *"), ("Upstash-Method", "TRACE")],
            400,
            &["Upstash-Method"],
        ),
        (
            DEST,
            &[
                ("Upstash-Cron", "* * * * *"),
                ("Upstash-Callback", "not-a-url"),
            ],
            400,
            &["Upstash-Callback"],
        ),
        (
            DEST,
            &[("Upstash-Cron", "* * * * *"), ("Cronhook-Misfire", "maybe")],
            400,
            &["Cronhook-Misfire"],
        ),
    ];
    for (dest, headers, want, needles) in cases {
        let (status, json) = call(
            &server,
            "POST",
            &format!("/v2/schedules/{dest}"),
            headers,
            b"",
        );
        assert_error(status, &json, *want, needles);
    }
    let (_, list) = call(&server, "GET", "/v2/schedules", &[], b"");
    assert_eq!(list, Value::Array(vec![]), "nothing may be stored");
}

#[test]
fn auth_is_required_and_checked() {
    let (_dir, server, _sink) = start();
    let (status, body) = server
        .raw_request("GET", "/v2/schedules", &[], b"")
        .unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (status, _) = server
        .raw_request(
            "GET",
            "/v2/schedules",
            &[("Authorization", "Bearer wrong")],
            b"",
        )
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) = server
        .raw_request(
            "GET",
            &format!("/v2/schedules?qstash_token={}", server.token),
            &[],
            b"",
        )
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = server.get("/healthz").unwrap();
    assert_eq!(status, 200, "health needs no token");
}

#[test]
fn oversized_bodies_and_unknown_routes_get_json_errors() {
    let (_dir, server, _sink) = common::start_with(
        common::ServerOptions::default()
            .arg("--max-body")
            .arg("100"),
    );
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/schedules/{DEST}"),
        &[("Upstash-Cron", "* * * * *")],
        &[b'x'; 101],
    );
    assert_error(status, &json, 413, &["100 bytes"]);
    let (status, json) = call(&server, "GET", "/v2/nothing-here", &[], b"");
    assert_error(status, &json, 404, &["/v2/nothing-here"]);
    let (status, json) = call(&server, "PUT", "/v2/schedules/abc", &[], b"");
    assert_error(status, &json, 405, &["PUT"]);
    let (_, list) = call(&server, "GET", "/v2/schedules", &[], b"");
    assert_eq!(list, Value::Array(vec![]));
}

#[test]
fn keys_are_the_dev_keys_by_default() {
    let (_dir, server, _sink) = start();
    let (status, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(keys["current"], "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r");
    assert_eq!(keys["next"], "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs");
}

#[test]
fn the_public_dev_token_is_refused_on_a_reachable_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("c.db"));
    for k in common::SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    // Bounded: should the refusal break, the server is killed, not left
    // listening on every address with the public token.
    let (status, _, err) = common::run_with_timeout(cmd, Duration::from_secs(30));
    let status = status.expect("the server kept running instead of refusing to start");
    assert!(!status.success());
    assert!(err.contains("public QStash dev token"), "{err}");
    assert!(err.contains("QSTASH_TOKEN"), "{err}");
}
