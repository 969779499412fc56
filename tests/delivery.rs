//! What the destination receives (§7, §8), schedules firing and pausing
//! (§10), and how failures are retried (§9.1–9.3).
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! On-time firing, slow and unreachable destinations run against the real
//! binary, a real database and a real sink on 127.0.0.1, with wide timing
//! margins so they hold on a slow, busy machine. Pausing and the retry
//! delays run in-process on the manual clock (`common::inproc`): the clock
//! is moved to 1 ms before each due time (nothing arrives) and then to it
//! (the attempt arrives), so the delays are checked to the millisecond
//! without waiting for them.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use common::api::{call, create_schedule, publish, states, wait_for_retry, wait_for_state};
use common::db::{row, rows};
use common::inproc::InProcess;
use common::sink::{Received, Sink};
use common::start;
use common::wait::{wait_until, WAIT};
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

/// Waits for the DLQ row of `message_id`: (retried, response_status, response_body).
fn wait_for_dlq_row(db: &Path, message_id: &str) -> (u32, Option<u16>, Vec<u8>) {
    wait_until(WAIT, &format!("a DLQ row for {message_id}"), || {
        row(
            db,
            "SELECT retried, response_status, response_body FROM dlq WHERE message_id = ?1",
            &[message_id],
        )
        .map(|r| (r.int(0) as u32, r.opt_int(1).map(|s| s as u16), r.bytes(2)))
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
    wait_for_dlq_row(&server.db, &message_id);
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
    let schedule = row(
        &server.db,
        "SELECT schedule_id FROM dlq WHERE message_id = ?1",
        &[&message_id],
    )
    .expect("a DLQ row")
    .text(0);
    assert_eq!(schedule, id);
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
    let (_, status, _) = wait_for_dlq_row(&server.db, &slow_id);
    assert_eq!(status, None, "a timeout has no response status");
    let error = row(
        &server.db,
        "SELECT error FROM dlq WHERE message_id = ?1",
        &[&slow_id],
    )
    .expect("a DLQ row")
    .text(0);
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
    let (_, status, _) = wait_for_dlq_row(&server.db, &id);
    assert_eq!(status, None);
}

// ------------------------------------------------------ on the manual clock

/// Pausing disarms the schedule: no slot fires while it is paused, and
/// resuming goes on from the next slot after the resume, none caught up.
#[test]
fn a_paused_schedule_does_not_fire_and_resume_does_not_catch_up() {
    let p = InProcess::start();
    let sink = Sink::start();
    // Half a second into a whole second: the first slot is 500 ms away.
    let t0 = p.now_ms();
    p.advance(Duration::from_millis(500));
    let id = create_schedule(&p, &sink.url("/p"), &EVERY_SECOND, b"");
    let got = p.expect_arrival_at(&sink, "/p", t0 + 1000);
    assert_eq!(header_i64(&got[0], "cronhook-slot-time"), t0 + 1000);
    wait_for_state(
        &p,
        got[0].header("upstash-message-id").unwrap(),
        "DELIVERED",
    );

    let (status, json) = call(&p, "PATCH", &format!("/v2/schedules/{id}/pause"), &[], b"");
    assert_eq!(status, 200, "{json}");
    // Five slots pass while paused.
    p.advance_to(t0 + 6500);
    sink.assert_stays("/p", 1, "nothing fires while paused");
    assert_eq!(rows(&p.db(), "messages"), 0, "no slot fired while paused");

    let resumed_at = p.now_ms();
    let (status, json) = call(&p, "PATCH", &format!("/v2/schedules/{id}/resume"), &[], b"");
    assert_eq!(status, 200, "{json}");
    p.expect_arrival_at(&sink, "/p", t0 + 7000);
    let got = p.expect_arrival_at(&sink, "/p", t0 + 8000);
    let slots: Vec<i64> = got
        .iter()
        .map(|r| header_i64(r, "cronhook-slot-time"))
        .collect();
    assert_eq!(
        slots,
        [t0 + 1000, t0 + 7000, t0 + 8000],
        "no paused slot was caught up"
    );
    assert!(slots[1..].iter().all(|&s| s >= resumed_at));
}

/// Checks the retries of `id`, which fails on `path` every time: after each
/// attempt the log plans the next one `delays[n]` ms later (`nextDeliveryTime`,
/// §9.6), and it arrives exactly then with `Upstash-Retried: n + 1`.
fn expect_retries(p: &InProcess, sink: &Sink, path: &str, id: &str, delays: &[i64]) {
    let first = sink.wait_for(path, 1, WAIT);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].header("upstash-retried"), Some("0"));
    let mut due = p.now_ms();
    for (n, delay) in (1..).zip(delays) {
        let retry = wait_for_retry(p, id, n);
        assert_eq!(retry["time"], due, "attempt {n} was made when due: {retry}");
        assert_eq!(retry["nextDeliveryTime"], due + delay, "retry {n}: {retry}");
        due += delay;
        let got = p.expect_arrival_at(sink, path, due);
        assert_eq!(
            got[n].header("upstash-retried"),
            Some(n.to_string().as_str())
        );
    }
    let got = sink.received(path);
    assert!(got
        .iter()
        .all(|r| r.header("upstash-message-id") == Some(id)));
}

/// §9.1: 3 retries by default, `e^(2.5·n)` s apart (12.18 s, 2 m 28 s,
/// 30 m 8 s); then FAILED, one DLQ row with the last response, and nothing
/// pending.
#[test]
fn a_failing_destination_gets_retries_at_the_expected_delays_then_the_dlq() {
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);
    let id = publish(&p, &sink.url("/fail"), &[], b"payload");
    // e^2.5, e^5 and e^7.5 seconds, in whole milliseconds.
    expect_retries(&p, &sink, "/fail", &id, &[12_182, 148_413, 1_808_042]);
    let row = wait_for_dlq_row(&p.db(), &id);
    assert_eq!(row, (3, Some(500), b"sink says 500".to_vec()));
    assert_eq!(rows(&p.db(), "messages"), 0);
    // The longest backoff is a day: two days later, still no attempt.
    p.advance(Duration::from_secs(2 * 86_400));
    sink.assert_stays("/fail", 4, "no attempt after the last");
}

/// §9.2: `Upstash-Retry-Delay` is evaluated after each failed attempt, with
/// `retried` the retries made so far, 0 for the first retry's delay:
/// `400 * (retried + 1)` waits 400 ms, then 800 ms.
#[test]
fn a_retry_delay_expression_sets_each_delay_with_retried_from_0() {
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);
    let id = publish(
        &p,
        &sink.url("/fail"),
        &[
            ("Upstash-Retries", "2"),
            ("Upstash-Retry-Delay", "400 * (retried + 1)"),
        ],
        b"payload",
    );
    expect_retries(&p, &sink, "/fail", &id, &[400, 800]);
    let row = wait_for_dlq_row(&p.db(), &id);
    assert_eq!(row, (2, Some(500), b"sink says 500".to_vec()));
    assert_eq!(rows(&p.db(), "messages"), 0);
    p.advance(Duration::from_secs(86_400));
    sink.assert_stays("/fail", 3, "no attempt after the last");
}

/// §9.3: 489 with `Upstash-NonRetryable-Error: true` fails the message at
/// once, retries left or not.
#[test]
fn status_489_with_the_non_retryable_header_fails_at_once() {
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/stop", 489, &[("Upstash-NonRetryable-Error", "true")]);
    let id = publish(&p, &sink.url("/stop"), &[("Upstash-Retries", "3")], b"");
    assert_eq!(
        wait_for_dlq_row(&p.db(), &id),
        (0, Some(489), b"sink says 489".to_vec())
    );
    assert_eq!(states(&p, &id), ["FAILED", "ERROR", "ACTIVE", "CREATED"]);
    // Longer than every default backoff together.
    p.advance(Duration::from_secs(3 * 86_400));
    sink.assert_stays("/stop", 1, "no retry after a 489");
}

/// §9.3: a failed reply's `Retry-After` fixes the next attempt's time, in
/// place of the message's own retry delay.
#[test]
fn retry_after_from_the_destination_sets_the_next_attempt() {
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/busy", 429, &[("Retry-After", "2")]);
    let t0 = p.now_ms();
    let id = publish(
        &p,
        &sink.url("/busy"),
        &[("Upstash-Retries", "1"), ("Upstash-Retry-Delay", "50")],
        b"",
    );
    sink.wait_for("/busy", 1, WAIT);
    let retry = wait_for_retry(&p, &id, 1);
    assert_eq!(retry["nextDeliveryTime"], t0 + 2000, "{retry}");
    let got = p.expect_arrival_at(&sink, "/busy", t0 + 2000);
    assert_eq!(got[1].header("upstash-retried"), Some("1"));
}
