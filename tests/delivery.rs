//! What the destination receives (§7, §8) and how failures are retried (§9),
//! against the real binary, a real database and a real sink on 127.0.0.1.
//! Timing assertions have wide margins: they must hold on a slow, busy machine.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use common::api::{call, create_schedule, publish};
use common::db::{open, rows};
use common::sink::Received;
use common::start;
use common::wait::{now_ms, wait_until, WAIT};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

const EVERY_SECOND: [(&str, &str); 2] = [
    ("Upstash-Cron", "* * * * * *"),
    ("Cronhook-Cron-Seconds", "true"),
];

fn header_i64(r: &Received, name: &str) -> i64 {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .parse()
        .unwrap()
}

#[test]
fn a_seconds_schedule_fires_on_time_with_the_right_request() {
    let (_dir, server, sink) = start();
    let url = sink.url("/hook?x=1");
    let mut headers = EVERY_SECOND.to_vec();
    headers.extend([
        ("Content-Type", "application/json"),
        ("Upstash-Forward-Test-Header", "v1"),
        ("Upstash-Method", "PUT"),
    ]);
    let id = create_schedule(&server, &url, &headers, br#"{"hello":"world"}"#);
    let got = sink.wait_for("/hook", 3, Duration::from_secs(15));
    assert!(got.len() >= 3, "only {} deliveries", got.len());

    let mut ids = std::collections::HashSet::new();
    for r in &got {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.target, "/hook?x=1");
        assert_eq!(&r.body[..], br#"{"hello":"world"}"#);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("test-header"), Some("v1"));
        assert_eq!(r.header("user-agent"), Some("Upstash-QStash"));
        assert_eq!(r.header("upstash-schedule-id"), Some(id.as_str()));
        assert_eq!(r.header("upstash-retried"), Some("0"));
        assert!(r.headers.get("upstash-forward-test-header").is_none());
        assert!(
            ids.insert(r.header("upstash-message-id").unwrap().to_owned()),
            "a new message per slot"
        );

        // Fires at the slot: a whole second, and arrives after it, not long after.
        let slot = header_i64(r, "cronhook-slot-time");
        assert_eq!(slot % 1000, 0);
        assert!(r.at_ms >= slot, "arrived before its slot");
        assert!(r.at_ms - slot < 2000, "arrived {} ms late", r.at_ms - slot);

        // §8: HS256 over the exact body, keyed with the current signing key.
        let token = r.header("upstash-signature").unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&["Upstash"]);
        v.validate_nbf = true;
        let claims = decode::<Value>(
            token,
            &DecodingKey::from_secret(server.current_signing_key.as_bytes()),
            &v,
        )
        .expect("signature verifies with the current key")
        .claims;
        assert_eq!(claims["sub"], url.as_str());
        assert_eq!(claims["body"], URL_SAFE.encode(Sha256::digest(&r.body)));
        assert_eq!(claims["nbf"], 0);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
        assert!(decode::<Value>(token, &DecodingKey::from_secret(b"sig_wrong"), &v).is_err());
    }
    let slots: Vec<i64> = got
        .iter()
        .map(|r| header_i64(r, "cronhook-slot-time"))
        .collect();
    assert!(
        slots.windows(2).all(|w| w[1] > w[0]),
        "slots strictly increase: {slots:?}"
    );

    let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert!(s["lastScheduleTime"].as_i64().unwrap() >= slots[0]);
    assert!(s["nextScheduleTime"].as_i64().unwrap() > s["lastScheduleTime"].as_i64().unwrap());
    let states = s["lastScheduleStates"].as_object().unwrap();
    assert_eq!(states.len(), 1);
    assert!(["IN_PROGRESS", "SUCCESS"].contains(&states.values().next().unwrap().as_str().unwrap()));
}

#[test]
fn a_paused_schedule_does_not_fire_and_resume_does_not_catch_up() {
    let (_dir, server, sink) = start();
    let id = create_schedule(&server, &sink.url("/p"), &EVERY_SECOND, b"");
    sink.wait_for("/p", 1, Duration::from_secs(10));
    let (status, _) = call(
        &server,
        "PATCH",
        &format!("/v2/schedules/{id}/pause"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let paused_at = now_ms();
    std::thread::sleep(Duration::from_millis(2500));
    // Messages fired before the pause may still arrive; nothing fired after it.
    for r in sink.received("/p") {
        assert!(
            // A slot fires FIRE_LEAD ahead, so one that close may already exist.
            header_i64(&r, "cronhook-slot-time") <= paused_at + cronhook::engine::FIRE_LEAD,
            "fired while paused"
        );
    }
    let before_resume = sink.received("/p").len();
    call(
        &server,
        "PATCH",
        &format!("/v2/schedules/{id}/resume"),
        &[],
        b"",
    );
    let resumed_at = now_ms();
    let got = sink.wait_for("/p", before_resume + 2, Duration::from_secs(10));
    let after: Vec<_> = got[before_resume..].to_vec();
    assert!(after.len() >= 2);
    for r in after {
        assert!(
            header_i64(&r, "cronhook-slot-time") > resumed_at - 1000,
            "a paused slot was caught up"
        );
    }
}

#[test]
fn a_failing_destination_gets_retries_at_the_expected_delays_then_the_dlq() {
    let (_dir, server, sink) = start();
    sink.answer("/fail", 500, &[]);
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/fail")),
        &[
            ("Upstash-Retries", "2"),
            ("Upstash-Retry-Delay", "400 * (retried + 1)"),
        ],
        b"payload",
    );
    assert_eq!(status, 201, "{json}");
    let message_id = json["messageId"].as_str().unwrap().to_owned();
    let got = sink.wait_for("/fail", 3, Duration::from_secs(15));
    assert_eq!(got.len(), 3);
    let retried: Vec<_> = got
        .iter()
        .map(|r| r.header("upstash-retried").unwrap())
        .collect();
    assert_eq!(retried, ["0", "1", "2"]);
    assert!(got
        .iter()
        .all(|r| r.header("upstash-message-id") == Some(message_id.as_str())));
    // §9.2: `retried` is 0 for the first retry's delay: 400 ms, then 800 ms.
    for (i, want) in [(1, 400), (2, 800)] {
        let gap = got[i].at_ms - got[i - 1].at_ms;
        assert!(
            gap >= want - 20,
            "retry {i} came after {gap} ms, want {want}"
        );
        assert!(
            gap < want + 3000,
            "retry {i} came after {gap} ms, want {want}"
        );
    }
    // Exhausted: one DLQ row with the last response; the hot table is empty.
    let row = wait_for_dlq(&server.db, &message_id);
    assert_eq!(row, (2, Some(500), b"sink says 500".to_vec()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received("/fail").len(), 3, "no attempt after the last");
    assert_eq!(rows(&server.db, "messages"), 0);
}

/// Waits for the DLQ row of `message_id`: (retried, response_status, response_body).
fn wait_for_dlq(db: &Path, message_id: &str) -> (u32, Option<u16>, Vec<u8>) {
    wait_until(WAIT, &format!("a DLQ row for {message_id}"), || {
        open(db)
            .query_row(
                "SELECT retried, response_status, response_body FROM dlq WHERE message_id = ?1",
                [message_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok()
    })
}

#[test]
fn a_failing_schedule_run_is_reported_as_fail() {
    let (_dir, server, sink) = start();
    sink.answer("/down", 503, &[]);
    let mut headers = EVERY_SECOND.to_vec();
    headers.push(("Upstash-Retries", "0"));
    let id = create_schedule(&server, &sink.url("/down"), &headers, b"");
    let first = sink.wait_for("/down", 1, Duration::from_secs(10));
    call(
        &server,
        "PATCH",
        &format!("/v2/schedules/{id}/pause"),
        &[],
        b"",
    );
    let message_id = first[0].header("upstash-message-id").unwrap().to_owned();
    wait_for_dlq(&server.db, &message_id);
    // Whatever fired last before the pause fails too: wait until nothing
    // is pending (bounded), not for a fixed time.
    wait_until(WAIT, "no message pending", || {
        (rows(&server.db, "messages") == 0).then_some(())
    });
    let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    let states = s["lastScheduleStates"].as_object().unwrap();
    assert!(!states.is_empty());
    assert!(states.values().all(|v| v == "FAIL"), "{states:?}");
    // The DLQ row names the schedule.
    let schedule: String = open(&server.db)
        .query_row(
            "SELECT schedule_id FROM dlq WHERE message_id = ?1",
            [&message_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(schedule, id);
}

#[test]
fn status_489_with_the_non_retryable_header_fails_at_once() {
    let (_dir, server, sink) = start();
    sink.answer("/stop", 489, &[("Upstash-NonRetryable-Error", "true")]);
    let (_, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/stop")),
        &[("Upstash-Retries", "3")],
        b"",
    );
    let message_id = json["messageId"].as_str().unwrap();
    assert_eq!(wait_for_dlq(&server.db, message_id).1, Some(489));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.received("/stop").len(), 1);
}

#[test]
fn retry_after_from_the_destination_sets_the_next_attempt() {
    let (_dir, server, sink) = start();
    sink.answer("/busy", 429, &[("Retry-After", "2")]);
    call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/busy")),
        &[("Upstash-Retries", "1"), ("Upstash-Retry-Delay", "50")],
        b"",
    );
    let got = sink.wait_for("/busy", 2, Duration::from_secs(15));
    assert_eq!(got.len(), 2);
    let gap = got[1].at_ms - got[0].at_ms;
    assert!(gap >= 1950, "Retry-After: 2 was not honoured ({gap} ms)");
}

#[test]
fn a_hanging_destination_times_out_and_delays_no_one_else() {
    let (_dir, server, sink) = start();
    sink.answer_after("/slow", 200, &[], Duration::from_secs(8));
    let slow_id = publish(
        &server,
        &sink.url("/slow"),
        &[("Upstash-Timeout", "5s"), ("Upstash-Retries", "0")],
        b"",
    );
    // Once the slow attempt hangs, a seconds schedule elsewhere stays on
    // time for its whole 5 s: fast slots come due while it hangs, and
    // waiting behind it would make them seconds late.
    sink.wait_for("/slow", 1, Duration::from_secs(10));
    let id = create_schedule(&server, &sink.url("/fast"), &EVERY_SECOND, b"");
    let fast = sink.wait_for("/fast", 3, Duration::from_secs(10));
    assert!(fast.len() >= 3);
    for r in &fast {
        let late = r.at_ms - header_i64(r, "cronhook-slot-time");
        assert!(
            late < 2500,
            "a fast delivery waited behind the slow one ({late} ms)"
        );
    }
    call(&server, "DELETE", &format!("/v2/schedules/{id}"), &[], b"");
    let (_, status, _) = wait_for_dlq(&server.db, &slow_id);
    assert_eq!(status, None, "a timeout has no response status");
    let error: String = open(&server.db)
        .query_row(
            "SELECT error FROM dlq WHERE message_id = ?1",
            [&slow_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(error.contains("timed out"), "{error}");
}

#[test]
fn a_connection_refused_is_a_failed_attempt() {
    let (_dir, server, _sink) = start();
    // Port 9 (discard) on loopback: nothing listens there.
    let id = publish(
        &server,
        "http://127.0.0.1:9/none",
        &[("Upstash-Retries", "0")],
        b"",
    );
    let (_, status, _) = wait_for_dlq(&server.db, &id);
    assert_eq!(status, None);
}
