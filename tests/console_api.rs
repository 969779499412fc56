//! The console's own endpoints (`/cronhook/v1/…`) and its security: a
//! session cookie instead of the token, a CSRF token on every request that
//! may change something, a strict Content-Security-Policy on its page.

mod common;

use std::time::Duration;

use common::api::{assert_error, call, create_schedule, publish};
use common::inproc::InProcess;
use common::sink::Sink;
use common::wait::{wait_until, WAIT};
use serde_json::Value;

/// A request without the token, with `headers` (cookies, CSRF).
fn bare(
    server: &InProcess,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    common::request(server.addr, method, path, headers, body).unwrap()
}

/// The raw response head and body of `GET path` (for headers).
fn raw_get(server: &InProcess, path: &str, headers: &[(&str, &str)]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn cookie_of(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|v| v.split(';').next())
        .expect("a Set-Cookie")
        .to_owned()
}

fn json_body(raw: &str) -> Value {
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn the_cron_preview_says_what_an_expression_means_or_why_it_is_wrong() {
    let server = InProcess::start();
    let expr = common::api::enc("CRON_TZ=Europe/Berlin 30 9 * * 1");
    let (status, p) = call(
        &server,
        "GET",
        &format!("/cronhook/v1/cron?expr={expr}&count=3"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["timezone"], "Europe/Berlin");
    assert!(p["description"].as_str().unwrap().contains("Monday"), "{p}");
    assert_eq!(p["next"].as_array().unwrap().len(), 3);
    let (status, p) = call(
        &server,
        "GET",
        "/cronhook/v1/cron?expr=0%200%20*%20*%2025",
        &[],
        b"",
    );
    assert_error(status, &p, 400, &["Upstash-Cron", "day-of-week"]);
    let (status, p) = call(&server, "GET", "/cronhook/v1/cron", &[], b"");
    assert_error(status, &p, 400, &["expr"]);
}

#[test]
fn run_now_fires_once_without_moving_the_next_slot_and_shows_in_the_history() {
    let server = InProcess::start();
    let sink = Sink::start();
    let id = create_schedule(
        &server,
        &sink.url("/daily"),
        &[("Upstash-Cron", "0 3 * * *")],
        b"now",
    );
    let (_, before) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    let (status, run) = call(
        &server,
        "POST",
        &format!("/cronhook/v1/schedules/{id}/trigger"),
        &[],
        b"",
    );
    assert_eq!(status, 201, "{run}");
    let got = sink.wait_for("/daily", 1, WAIT);
    assert_eq!(&got[0].body[..], b"now");
    assert_eq!(got[0].header("upstash-schedule-id"), Some(id.as_str()));
    let (_, after) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert_eq!(
        after["nextScheduleTime"], before["nextScheduleTime"],
        "the next slot did not move"
    );
    let history = wait_until(WAIT, "the run's outcome in the history", || {
        let (_, h) = call(
            &server,
            "GET",
            &format!("/cronhook/v1/schedules/{id}/history"),
            &[],
            b"",
        );
        (h["firings"][0]["state"] == "DELIVERED").then_some(h)
    });
    let f = &history["firings"][0];
    assert_eq!(f["kind"], "manual");
    assert_eq!(f["messageId"], run["messageId"]);
    assert_eq!(f["attempts"], 1);
    assert_eq!(f["status"], 200);
    let (status, json) = call(
        &server,
        "POST",
        "/cronhook/v1/schedules/nope/trigger",
        &[],
        b"",
    );
    assert_error(status, &json, 404, &["nope"]);
}

#[test]
fn the_history_keeps_fired_slots_with_their_lateness_and_missed_slots_with_the_reason() {
    let mut server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    let id = create_schedule(
        &server,
        &sink.url("/m"),
        &[("Upstash-Cron", "* * * * *"), ("Cronhook-Misfire", "once")],
        b"",
    );
    server.advance(Duration::from_secs(60));
    sink.wait_for("/m", 1, WAIT);
    server.stop();
    // Up again half a minute after the slot at 4 min.
    server.advance(Duration::from_secs(3 * 60 + 30));
    server.start_again();
    sink.wait_for("/m", 2, WAIT);
    let h = wait_until(WAIT, "four entries", || {
        let (_, h) = call(
            &server,
            "GET",
            &format!("/cronhook/v1/schedules/{id}/history"),
            &[],
            b"",
        );
        (h["firings"].as_array().unwrap().len() >= 4).then_some(h)
    });
    let kinds: Vec<(&str, i64)> = h["firings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["slot"].as_i64().unwrap() - t0,
            )
        })
        .collect();
    // Newest first: the latest missed slot fired (once), the two before it
    // were missed while cronhook was down, the first slot fired on time.
    assert_eq!(
        kinds,
        [
            ("slot", 240_000),
            ("missed", 180_000),
            ("missed", 120_000),
            ("slot", 60_000)
        ]
    );
    let missed = &h["firings"][1];
    assert!(
        missed["reason"].as_str().unwrap().contains("down"),
        "{missed}"
    );
    let on_time = wait_until(WAIT, "the first slot's outcome", || {
        let (_, h) = call(
            &server,
            "GET",
            &format!("/cronhook/v1/schedules/{id}/history"),
            &[],
            b"",
        );
        let f = h["firings"][3].clone();
        (f["state"] == "DELIVERED").then_some(f)
    });
    assert_eq!(
        on_time["latenessMs"], 0,
        "the manual clock did not move during the attempt"
    );
}

#[test]
fn schedules_page_searches_and_counts_without_listing_everything() {
    let server = InProcess::start();
    for i in 0..7 {
        create_schedule(
            &server,
            &format!(
                "http://127.0.0.1:1/team-{}/{i}",
                if i % 2 == 0 { "red" } else { "blue" }
            ),
            &[
                ("Upstash-Cron", "0 3 * * *"),
                ("Upstash-Schedule-Id", &format!("s{i}")),
            ],
            b"",
        );
    }
    call(&server, "PATCH", "/v2/schedules/s6/pause", &[], b"");
    let (_, page) = call(
        &server,
        "GET",
        "/cronhook/v1/schedules?state=active&count=4",
        &[],
        b"",
    );
    assert_eq!(page["counts"]["active"], 6);
    assert_eq!(page["counts"]["paused"], 1);
    assert_eq!(page["schedules"].as_array().unwrap().len(), 4);
    let cursor = page["cursor"].as_str().unwrap();
    let (_, rest) = call(
        &server,
        "GET",
        &format!(
            "/cronhook/v1/schedules?state=active&count=4&cursor={}",
            common::api::enc(cursor)
        ),
        &[],
        b"",
    );
    assert_eq!(rest["schedules"].as_array().unwrap().len(), 2);
    assert!(rest.get("cursor").is_none());
    let (_, found) = call(
        &server,
        "GET",
        "/cronhook/v1/schedules?q=team-blue",
        &[],
        b"",
    );
    let ids: Vec<&str> = found["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scheduleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s1", "s3", "s5"]);
    assert!(found["schedules"][0]["description"].as_str().is_some());
    // ASCII letters match in either case, on SQLite and PostgreSQL alike.
    let (_, upper) = call(
        &server,
        "GET",
        "/cronhook/v1/schedules?q=TEAM-Blue",
        &[],
        b"",
    );
    assert_eq!(upper["schedules"], found["schedules"]);
    let (_, paused) = call(
        &server,
        "GET",
        "/cronhook/v1/schedules?state=paused",
        &[],
        b"",
    );
    assert_eq!(paused["schedules"][0]["scheduleId"], "s6");
}

#[test]
fn the_overview_counts_and_lists_the_next_firings() {
    let server = InProcess::start();
    create_schedule(
        &server,
        "http://127.0.0.1:1/a",
        &[("Upstash-Cron", "0 3 * * *")],
        b"",
    );
    publish(
        &server,
        "http://127.0.0.1:1/later",
        &[("Upstash-Delay", "1d")],
        b"",
    );
    let (status, o) = call(&server, "GET", "/cronhook/v1/overview", &[], b"");
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["schedules"]["active"], 1);
    assert_eq!(o["pendingMessages"], 1);
    assert_eq!(o["nextFirings"].as_array().unwrap().len(), 1);
    let names: Vec<&str> = o["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"QSTASH_URL") && names.contains(&"QSTASH_CURRENT_SIGNING_KEY"));
}

#[test]
fn with_the_dev_token_on_loopback_the_console_opens_without_a_login() {
    let server = InProcess::start();
    let raw = raw_get(&server, "/cronhook/v1/session", &[]);
    let session = json_body(&raw);
    assert_eq!(session["authenticated"], true, "{session}");
    let cookie = cookie_of(&raw);
    assert!(
        raw.to_ascii_lowercase()
            .contains("httponly; samesite=strict"),
        "{raw}"
    );
    let (status, _) = bare(
        &server,
        "GET",
        "/cronhook/v1/overview",
        &[("Cookie", &cookie)],
        b"",
    );
    assert_eq!(status, 200);
}

#[test]
fn with_a_token_of_its_own_the_console_asks_for_it_and_refuses_a_wrong_one() {
    let server = InProcess::start_with(|c| c.token = "console-secret-token-42".into());
    let session = json_body(&raw_get(&server, "/cronhook/v1/session", &[]));
    assert_eq!(session["authenticated"], false);
    let (status, body) = bare(
        &server,
        "POST",
        "/cronhook/v1/session",
        &[],
        br#"{"token":"wrong"}"#,
    );
    assert_eq!(status, 401, "{body}");
    let (status, _) = bare(&server, "GET", "/cronhook/v1/overview", &[], b"");
    assert_eq!(status, 401);
}

#[test]
fn a_state_changing_request_by_cookie_needs_the_csrf_token() {
    let server = InProcess::start();
    let raw = raw_get(&server, "/cronhook/v1/session", &[]);
    let cookie = cookie_of(&raw);
    let csrf = json_body(&raw)["csrf"].as_str().unwrap().to_owned();
    let path = "/v2/publish/http://127.0.0.1:1/x";
    // As another site's form would send it: the cookie, no CSRF token.
    let (status, body) = bare(&server, "POST", path, &[("Cookie", &cookie)], b"");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("X-Cronhook-Csrf"), "{body}");
    let (status, _) = bare(
        &server,
        "POST",
        path,
        &[("Cookie", &cookie), ("X-Cronhook-Csrf", "guess")],
        b"",
    );
    assert_eq!(status, 403);
    let (status, body) = bare(
        &server,
        "POST",
        path,
        &[("Cookie", &cookie), ("X-Cronhook-Csrf", &csrf)],
        b"",
    );
    assert_eq!(status, 201, "{body}");
    // Reading needs no CSRF token; logging out ends the session.
    assert_eq!(
        bare(&server, "GET", "/v2/schedules", &[("Cookie", &cookie)], b"").0,
        200
    );
    assert_eq!(
        bare(
            &server,
            "DELETE",
            "/cronhook/v1/session",
            &[("Cookie", &cookie), ("X-Cronhook-Csrf", &csrf)],
            b""
        )
        .0,
        200
    );
    assert_eq!(
        bare(&server, "GET", "/v2/schedules", &[("Cookie", &cookie)], b"").0,
        401
    );
}

#[test]
fn the_console_page_is_served_with_a_strict_content_security_policy() {
    let server = InProcess::start();
    let raw = raw_get(&server, "/", &[]).to_ascii_lowercase();
    assert!(raw.starts_with("http/1.1 200"), "{raw}");
    assert!(
        raw.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{raw}"
    );
    assert!(!raw.contains("unsafe-inline"), "{raw}");
    let (status, _) = bare(&server, "GET", "/console/../Cargo.toml", &[], b"");
    assert_ne!(status, 200);
}

#[test]
fn the_settings_page_shows_the_production_settings_in_force() {
    fn adjust(c: &mut cronhook::Config) {
        c.metrics_listen = Some("127.0.0.1:0".into());
        c.log_format = cronhook::config::LogFormat::Json;
    }
    let server = InProcess::start_with(adjust);
    let (status, s) = call(&server, "GET", "/cronhook/v1/settings", &[], b"");
    assert_eq!(status, 200, "{s}");
    let value = |name: &str| {
        s["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name:?} in {s}"))["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(value("metrics listen"), "127.0.0.1:0");
    assert_eq!(value("log format"), "json");
    assert_eq!(value("schedules file"), "-");
    assert!(
        !s.to_string().contains(cronhook::config::DEV_TOKEN),
        "no secrets: {s}"
    );
}

#[test]
fn the_cluster_endpoint_names_this_node_and_who_leads() {
    let server = InProcess::start();
    let (status, _) = bare(&server, "GET", "/cronhook/v1/cluster", &[], b"");
    assert_eq!(
        status, 401,
        "it needs the token like every /cronhook/v1 call"
    );
    let (status, json) = call(&server, "GET", "/cronhook/v1/cluster", &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        json["leader"], true,
        "one node, and it runs the engine: {json}"
    );
    if common::backend::on_postgres() {
        let node = json["node"].as_str().expect("a node id on PostgreSQL");
        let nodes = json["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "{json}");
        assert_eq!(nodes[0]["node"], node);
        assert_eq!(nodes[0]["self"], true);
        assert_eq!(nodes[0]["leader"], true, "it holds the lease");
        assert!(nodes[0]["seenAt"].as_i64().unwrap() >= nodes[0]["startedAt"].as_i64().unwrap());
    } else {
        assert_eq!(json["node"], Value::Null, "SQLite has no election: {json}");
        assert_eq!(json["nodes"], serde_json::json!([]));
    }
}
