//! Schedule bounds (`Cronhook-Start-At`, `Cronhook-End-At`): no slot before
//! the start, none after the end, and after it the schedule is ended: kept,
//! listed with its state, never armed again, also across restarts. Time is
//! moved on the manual clock (`InProcess`), except in the one test that
//! kills the real binary in the middle of a window.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use common::api::{assert_error, call, create_schedule};
use common::inproc::InProcess;
use common::sink::{Received, Sink, QUIET};
use common::wait::{now_ms, wait_until, WAIT};
use common::ServerProcess;

const SECOND: i64 = 1000;

fn slot(r: &Received) -> i64 {
    r.header("cronhook-slot-time")
        .and_then(|v| v.parse().ok())
        .expect("a Cronhook-Slot-Time")
}

fn slots(sink: &Sink, path: &str) -> Vec<i64> {
    let mut s: Vec<i64> = sink.received(path).iter().map(slot).collect();
    s.sort();
    s
}

fn get<S: common::Target>(server: &S, id: &str) -> Value {
    let (status, json) = call(server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    json
}

/// An every-second schedule bounded to `[start, end]` (Unix seconds).
fn bounded_every_second<S: common::Target>(
    server: &S,
    sink: &Sink,
    path: &str,
    start: i64,
    end: i64,
) -> String {
    let (start, end) = (start.to_string(), end.to_string());
    create_schedule(
        server,
        &sink.url(path),
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Cronhook-Cron-Seconds", "true"),
            ("Cronhook-Start-At", &start),
            ("Cronhook-End-At", &end),
        ],
        b"",
    )
}

#[test]
fn a_bounded_schedule_fires_only_inside_its_window_then_is_ended_and_kept() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    let (start, end) = (t0 + 3 * SECOND, t0 + 6 * SECOND);
    let id = bounded_every_second(&server, &sink, "/w", start / 1000, end / 1000);

    let before = get(&server, &id);
    assert_eq!(before["state"], "active", "{before}");
    assert_eq!(before["startAt"], start);
    assert_eq!(before["endAt"], end);
    assert_eq!(
        before["nextScheduleTime"], start,
        "the first slot is the start's"
    );

    // Slots t0+1 s and t0+2 s pass before the start: none fires.
    for at in [start, t0 + 4 * SECOND, t0 + 5 * SECOND, end] {
        let got = server.expect_arrival_at(&sink, "/w", at);
        let last = got.last().unwrap();
        assert_eq!(slot(last), at);
        assert_eq!(last.header("upstash-schedule-id"), Some(id.as_str()));
    }
    server.advance_to(end + 20 * SECOND);
    sink.assert_stays("/w", 4, "nothing after the end");
    assert_eq!(
        slots(&sink, "/w"),
        vec![start, start + SECOND, start + 2 * SECOND, end]
    );

    let after = get(&server, &id);
    assert_eq!(after["state"], "ended", "{after}");
    assert!(after.get("nextScheduleTime").is_none(), "{after}");
    assert_eq!(after["lastScheduleTime"], end);
    let (_, list) = call(&server, "GET", "/v2/schedules", &[], b"");
    let listed: Vec<&Value> = list.as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "kept: {list}");
    assert_eq!(listed[0]["state"], "ended");

    // Resuming or pausing an ended schedule does not bring it back.
    for action in ["pause", "resume"] {
        let (status, json) = call(
            &server,
            "PATCH",
            &format!("/v2/schedules/{id}/{action}"),
            &[],
            b"",
        );
        assert_eq!(status, 200, "{action}: {json}");
        assert_eq!(get(&server, &id)["state"], "ended", "after {action}");
    }
    server.advance(Duration::from_secs(5));
    sink.assert_stays("/w", 4, "still nothing after a resume");
}

#[test]
fn a_restart_inside_the_window_keeps_to_it_and_an_ended_schedule_is_not_armed_again() {
    let mut server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    let (start, end) = (t0 + 3 * SECOND, t0 + 6 * SECOND);
    let id = bounded_every_second(&server, &sink, "/r", start / 1000, end / 1000);
    server.expect_arrival_at(&sink, "/r", start);
    server.expect_arrival_at(&sink, "/r", start + SECOND);

    // Down from t0+4.5 s to long after the end: the default misfire policy
    // (once) fires the latest missed slot inside the window, not a later one.
    server.stop();
    server.advance_to(end + 30 * SECOND);
    server.start_again();
    sink.wait_for("/r", 3, WAIT);
    std::thread::sleep(QUIET);
    assert_eq!(slots(&sink, "/r"), vec![start, start + SECOND, end]);
    assert_eq!(get(&server, &id)["state"], "ended");

    // Ended: a second restart arms nothing, and it is still there.
    server.stop();
    server.advance(Duration::from_secs(60));
    server.start_again();
    server.advance(Duration::from_secs(5));
    sink.assert_stays("/r", 3, "an ended schedule is not armed at start");
    let s = get(&server, &id);
    assert_eq!(
        (s["state"].as_str(), s["endAt"].as_i64()),
        (Some("ended"), Some(end))
    );
}

#[test]
fn killed_and_started_again_between_start_and_end_the_real_binary_keeps_to_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    let mut first = ServerProcess::start(&db);
    let now_s = now_ms() / 1000;
    let (start, end) = ((now_s + 3) * SECOND, (now_s + 6) * SECOND);
    let id = bounded_every_second(&first, &sink, "/k", start / 1000, end / 1000);

    wait_until(WAIT, "the first slot's delivery", || {
        (!sink.received("/k").is_empty()).then_some(())
    });
    first.kill9();
    let second = ServerProcess::start(&db);
    wait_until(WAIT, "the schedule ended", || {
        (now_ms() > end && get(&second, &id)["state"] == "ended").then_some(())
    });
    // Let anything already fired arrive, then check every arrival.
    std::thread::sleep(QUIET);
    let got: BTreeSet<i64> = sink.received("/k").iter().map(slot).collect();
    assert!(!got.is_empty());
    for s in &got {
        assert!(
            (start..=end).contains(s) && s % SECOND == 0,
            "slot {s} outside [{start}, {end}]: {got:?}"
        );
    }
    let s = get(&second, &id);
    assert_eq!(s["state"], "ended", "{s}");
    assert!(s.get("nextScheduleTime").is_none(), "{s}");
    let (_, list) = call(&second, "GET", "/v2/schedules", &[], b"");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "kept: {list}");
}

type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>);

#[test]
fn bad_bounds_are_refused_naming_the_header() {
    let server = InProcess::start();
    let sink = Sink::start();
    let now_s = server.now_ms() / 1000;
    let (past, soon, later) = (
        (now_s - 60).to_string(),
        (now_s + 60).to_string(),
        (now_s + 3600).to_string(),
    );
    let cron = ("Upstash-Cron", "* * * * *");
    // (request headers, what the error must mention)
    let cases: Vec<Case> = vec![
        (
            vec![cron, ("Cronhook-Start-At", "tomorrow")],
            vec!["Cronhook-Start-At", "\"tomorrow\"", "RFC 3339"],
        ),
        (
            vec![cron, ("Cronhook-End-At", "2026-13-01T00:00:00Z")],
            vec!["Cronhook-End-At", "Unix time in seconds"],
        ),
        (
            vec![cron, ("Cronhook-End-At", "99999999999999")],
            vec!["Cronhook-End-At"],
        ),
        (
            vec![
                cron,
                ("Cronhook-Start-At", &later),
                ("Cronhook-End-At", &soon),
            ],
            vec!["Cronhook-End-At", "is before Cronhook-Start-At"],
        ),
        (
            vec![cron, ("Cronhook-End-At", &past)],
            vec!["Cronhook-End-At", "in the past"],
        ),
        (
            // Daily at 03:00 UTC, in a window of one minute that holds no 03:00.
            vec![
                ("Upstash-Cron", "0 3 31 12 *"),
                ("Cronhook-Start-At", &soon),
                ("Cronhook-End-At", &soon),
            ],
            vec!["Cronhook-End-At", "no slot of", "never fire"],
        ),
    ];
    for (headers, needles) in cases {
        let (status, json) = call(
            &server,
            "POST",
            &format!("/v2/schedules/{}", sink.url("/x")),
            &headers,
            b"",
        );
        assert_error(status, &json, 400, &needles);
    }
    // The query-string form is checked the same way.
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/schedules/{}?cronhook-start-at=soon", sink.url("/x")),
        &[cron],
        b"",
    );
    assert_error(status, &json, 400, &["Cronhook-Start-At", "\"soon\""]);
    // A plain message has no bounds: it says what to use instead.
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/x")),
        &[("Cronhook-End-At", &later)],
        b"",
    );
    assert_error(
        status,
        &json,
        400,
        &["Cronhook-End-At", "only for schedules"],
    );
    let (_, list) = call(&server, "GET", "/v2/schedules", &[], b"");
    assert_eq!(list, serde_json::json!([]), "nothing was stored");
}

#[test]
fn bounds_come_as_rfc_3339_or_as_query_parameters_on_both_create_routes() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    let start = t0 + 7 * 86_400_000;
    let start_rfc = chrono::DateTime::from_timestamp_millis(start)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    // A header in RFC 3339, on /v2/publish with Upstash-Cron.
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/p")),
        &[
            ("Upstash-Cron", "* * * * *"),
            ("Cronhook-Start-At", &start_rfc),
        ],
        b"",
    );
    assert_eq!(status, 201, "{json}");
    let s = get(&server, json["scheduleId"].as_str().unwrap());
    assert_eq!(s["startAt"], start);
    assert_eq!(
        s["nextScheduleTime"], start,
        "a whole minute: the start's slot"
    );
    assert_eq!(json["nextScheduleTimes"][0], start);

    // Query parameters on the destination (what the SDKs can send): they
    // are the API's, not the destination's.
    let (status, json) = call(
        &server,
        "POST",
        &format!(
            "/v2/schedules/{}?keep=1&cronhook-start-at={}&cronhook-end-at={}",
            sink.url("/q"),
            start / 1000,
            start / 1000 + 7200
        ),
        &[("Upstash-Cron", "* * * * *")],
        b"",
    );
    assert_eq!(status, 201, "{json}");
    let s = get(&server, json["scheduleId"].as_str().unwrap());
    assert_eq!(s["destination"], format!("{}?keep=1", sink.url("/q")));
    assert_eq!(
        (s["startAt"].as_i64(), s["endAt"].as_i64()),
        (Some(start), Some(start + 7_200_000))
    );
}

#[test]
fn an_overwrite_replaces_the_bounds_like_every_other_setting() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    let (start, end) = ((t0 + 3600 * SECOND) / 1000, (t0 + 7200 * SECOND) / 1000);
    let (start_s, end_s) = (start.to_string(), end.to_string());
    let bounded = [
        ("Upstash-Cron", "* * * * *"),
        ("Upstash-Schedule-Id", "bounded"),
        ("Cronhook-Start-At", start_s.as_str()),
        ("Cronhook-End-At", end_s.as_str()),
    ];
    create_schedule(&server, &sink.url("/o"), &bounded, b"");
    let s = get(&server, "bounded");
    assert_eq!(s["nextScheduleTime"], start * 1000);

    // Overwritten without bounds: unbounded, the next minute fires.
    create_schedule(
        &server,
        &sink.url("/o"),
        &[
            ("Upstash-Cron", "* * * * *"),
            ("Upstash-Schedule-Id", "bounded"),
        ],
        b"",
    );
    let s = get(&server, "bounded");
    assert!(
        s.get("startAt").is_none() && s.get("endAt").is_none(),
        "{s}"
    );
    assert_eq!(s["nextScheduleTime"], t0 + 60 * SECOND);
    server.expect_arrival_at(&sink, "/o", t0 + 60 * SECOND);

    // And bounded again: the bounds are back, the next slot waits for them.
    create_schedule(&server, &sink.url("/o"), &bounded, b"");
    let s = get(&server, "bounded");
    assert_eq!(
        (s["startAt"].as_i64(), s["endAt"].as_i64()),
        (Some(start * 1000), Some(end * 1000))
    );
    assert_eq!(s["nextScheduleTime"], start * 1000);
    server.advance(Duration::from_secs(120));
    sink.assert_stays("/o", 1, "nothing before the new start");
}

#[test]
fn the_console_lists_an_ended_schedule_under_ended_with_no_next_firings() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    let ended = bounded_every_second(&server, &sink, "/c", t0 / 1000 + 1, t0 / 1000 + 2);
    let waiting = create_schedule(
        &server,
        &sink.url("/later"),
        &[
            ("Upstash-Cron", "* * * * *"),
            ("Cronhook-Start-At", &(t0 / 1000 + 3600).to_string()),
        ],
        b"",
    );
    server.expect_arrival_at(&sink, "/c", t0 + SECOND);
    server.expect_arrival_at(&sink, "/c", t0 + 2 * SECOND);
    server.advance(Duration::from_secs(5));
    wait_until(WAIT, "the schedule ended", || {
        (get(&server, &ended)["state"] == "ended").then_some(())
    });

    let page = |state: &str| {
        let (status, json) = call(
            &server,
            "GET",
            &format!("/cronhook/v1/schedules?state={state}"),
            &[],
            b"",
        );
        assert_eq!(status, 200, "{json}");
        json
    };
    let ids = |json: &Value| -> Vec<String> {
        json["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["scheduleId"].as_str().unwrap().to_owned())
            .collect()
    };
    let e = page("ended");
    assert_eq!(ids(&e), vec![ended.clone()]);
    assert_eq!(e["schedules"][0]["state"], "ended");
    assert_eq!(
        (
            &e["counts"]["active"],
            &e["counts"]["paused"],
            &e["counts"]["ended"]
        ),
        (&Value::from(1), &Value::from(0), &Value::from(1))
    );
    let a = page("active");
    assert_eq!(
        ids(&a),
        vec![waiting.clone()],
        "one that starts later is active"
    );
    assert_eq!(a["schedules"][0]["startAt"], (t0 / 1000 + 3600) * 1000);

    let (_, detail) = call(
        &server,
        "GET",
        &format!("/cronhook/v1/schedules/{ended}"),
        &[],
        b"",
    );
    assert_eq!(detail["next"], serde_json::json!([]), "{detail}");
    let (_, detail) = call(
        &server,
        "GET",
        &format!("/cronhook/v1/schedules/{waiting}"),
        &[],
        b"",
    );
    assert_eq!(
        detail["next"][0],
        (t0 / 1000 + 3600) * 1000,
        "the next firings start at the start"
    );
}
