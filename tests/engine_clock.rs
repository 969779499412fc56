//! The engine on a manual clock: behaviour that depends on time, checked
//! by moving the clock instead of waiting for it. § numbers cite
//! docs/qstash-wire.md.

mod common;

use std::time::Duration;

use common::api::{assert_error, call, create_schedule, events, publish, wait_for_state};
use common::inproc::InProcess;
use common::sink::{Received, Sink};
use common::wait::WAIT;

/// How long "nothing arrives" is watched for, in real time.
const QUIET: Duration = Duration::from_millis(300);

fn slot(r: &Received) -> i64 {
    r.header("cronhook-slot-time")
        .and_then(|v| v.parse().ok())
        .expect("a Cronhook-Slot-Time")
}

#[test]
fn slots_that_pass_while_cronhook_is_up_but_behind_fire_late_none_skipped() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    create_schedule(
        &server,
        &sink.url("/tick"),
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Cronhook-Cron-Seconds", "true"),
            // Even the strictest policy: it is for time cronhook was down.
            ("Cronhook-Misfire", "skip"),
        ],
        b"",
    );
    // Ten seconds pass in one step: the engine is ten slots behind.
    server.advance(Duration::from_millis(10_500));
    let got = sink.wait_for("/tick", 10, WAIT);
    let mut slots: Vec<i64> = got.iter().map(slot).collect();
    slots.sort();
    let want: Vec<i64> = (1..=10).map(|s| t0 + s * 1000).collect();
    assert_eq!(slots, want, "every slot fired once, late, in order");
    std::thread::sleep(QUIET);
    assert_eq!(sink.received("/tick").len(), 10, "and no other");
}

#[test]
fn messages_due_at_their_publish_arrive_while_the_clock_stands_still() {
    let server = InProcess::start();
    let sink = Sink::start();
    let now = server.now_ms();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let not_before = (now / 1000 - i).to_string();
            let headers: &[(&str, &str)] = if i == 0 {
                &[]
            } else {
                &[("Upstash-Not-Before", not_before.as_str())]
            };
            publish(&server, &sink.url("/now"), headers, b"x")
        })
        .collect();
    // No `advance`: a message due when committed goes from its commit to
    // dispatch, whatever the clock does afterwards.
    let got = sink.wait_for("/now", 3, WAIT);
    let mut arrived: Vec<&str> = got
        .iter()
        .filter_map(|r| r.header("upstash-message-id"))
        .collect();
    arrived.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(arrived, want);
    assert_eq!(server.now_ms(), now, "the clock did not move");
}

#[test]
fn a_message_delayed_by_a_day_arrives_when_the_clock_gets_there() {
    let server = InProcess::start();
    let sink = Sink::start();
    let id = publish(
        &server,
        &sink.url("/later"),
        &[("Upstash-Delay", "1d")],
        b"x",
    );
    server.advance(Duration::from_secs(86_399));
    std::thread::sleep(QUIET);
    assert!(
        sink.received("/later").is_empty(),
        "delivered before its time"
    );
    server.advance(Duration::from_secs(2));
    let got = sink.wait_for("/later", 1, WAIT);
    assert_eq!(got[0].header("upstash-message-id"), Some(id.as_str()));
}

#[test]
fn messages_due_beyond_the_timer_window_are_read_in_as_it_moves_on() {
    let server = InProcess::start();
    let sink = Sink::start();
    // Due at 30 s, 2 min, 5 min: one inside the first window, two after it.
    let due = [("/a", 30), ("/b", 120), ("/c", 300)];
    for (path, secs) in due {
        publish(
            &server,
            &sink.url(path),
            &[("Upstash-Delay", &format!("{secs}s"))],
            b"",
        );
    }
    for step in 1..=6 * 4 {
        server.advance(Duration::from_secs(15));
        // A moment of real time for the engine to act on the step.
        std::thread::sleep(Duration::from_millis(30));
        for (path, secs) in due {
            if step * 15 < secs {
                assert!(
                    sink.received(path).is_empty(),
                    "{path} came before its time"
                );
            }
        }
    }
    for (path, _) in due {
        assert_eq!(
            sink.wait_for(path, 1, WAIT).len(),
            1,
            "{path} delivered once"
        );
    }
}

#[test]
fn x_ratelimit_reset_given_as_a_unix_time_sets_the_next_attempt() {
    let server = InProcess::start();
    let sink = Sink::start();
    let reset_s = server.now_ms() / 1000 + 30;
    sink.answer(
        "/limited",
        429,
        &[("X-RateLimit-Reset", &reset_s.to_string())],
    );
    let id = publish(&server, &sink.url("/limited"), &[], b"");
    wait_for_state(&server, &id, "RETRY");
    let (log, _) = events(&server, &format!("messageId={id}&state=RETRY"));
    assert_eq!(
        log[0]["nextDeliveryTime"].as_i64(),
        Some(reset_s * 1000),
        "the reset instant, not 'that many seconds from now'"
    );
    sink.answer("/limited", 200, &[]);
    server.advance(Duration::from_secs(29));
    std::thread::sleep(QUIET);
    assert_eq!(
        sink.received("/limited").len(),
        1,
        "retried before the reset"
    );
    server.advance(Duration::from_secs(2));
    sink.wait_for("/limited", 2, WAIT);
}

#[test]
fn a_retry_delay_that_gives_a_negative_or_nan_delay_is_refused_at_publish() {
    let server = InProcess::start();
    let table = [
        ("1000 - retried * 2000", "3", "retried = 1"),
        ("sqrt(0 - 1)", "1", "not a number"),
        (
            "1000 / (retried - 2) + 1000",
            "3",
            "retried = 2 is infinite",
        ),
    ];
    for (expr, retries, names) in table {
        let headers = [("Upstash-Retry-Delay", expr), ("Upstash-Retries", retries)];
        let (status, json) = call(
            &server,
            "POST",
            "/v2/publish/http://127.0.0.1:1/x",
            &headers,
            b"",
        );
        assert_error(status, &json, 400, &["Upstash-Retry-Delay", names]);
        let (status, json) = call(
            &server,
            "POST",
            "/v2/schedules/http://127.0.0.1:1/x",
            &[headers[0], headers[1], ("Upstash-Cron", "* * * * *")],
            b"",
        );
        assert_error(status, &json, 400, &["Upstash-Retry-Delay", names]);
    }
    // An expression that stays at or above zero for the retries given is fine.
    let ok = [
        ("Upstash-Retry-Delay", "1000 - retried * 400"),
        ("Upstash-Retries", "3"),
    ];
    publish(&server, "http://127.0.0.1:1/x", &ok, b"");
}

#[test]
fn a_forwarded_header_value_in_utf8_is_forwarded_as_is() {
    let server = InProcess::start();
    let sink = Sink::start();
    publish(
        &server,
        &sink.url("/utf8"),
        &[("Upstash-Forward-X-Name", "Zoë Ørsted — 東京")],
        b"",
    );
    let got = sink.wait_for("/utf8", 1, WAIT);
    let raw = got[0].headers.get("x-name").expect("forwarded").as_bytes();
    assert_eq!(std::str::from_utf8(raw).unwrap(), "Zoë Ørsted — 東京");
}

#[test]
fn the_token_in_the_query_string_is_percent_decoded() {
    let server = InProcess::start();
    let encoded = server.token.replace('=', "%3D");
    assert!(encoded.contains("%3D"), "the dev token ends in '='");
    let (status, _) = common::request(
        server.addr,
        "GET",
        &format!("/v2/schedules?qstash_token={encoded}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    let (status, body) = common::request(
        server.addr,
        "GET",
        "/v2/schedules?qstash_token=wrong%3D",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(status, 401, "{body}");
}

#[test]
fn errors_the_router_itself_makes_are_json_with_an_error_field() {
    let server = InProcess::start();
    for path in ["/v2/messages/%FF", "/v2/dlq/%C3%28"] {
        let (status, json) = call(&server, "GET", path, &[], b"");
        assert_eq!(status, 400, "{path}: {json}");
        assert!(json["error"].is_string(), "{path}: {json}");
    }
}

#[test]
fn the_misfire_policy_decides_only_for_slots_missed_while_cronhook_was_down() {
    // (policy, how many of the five missed minutes fire)
    for (policy, fired) in [("skip", 0), ("once", 1), ("all", 5)] {
        let mut server = InProcess::start();
        let sink = Sink::start();
        let t0 = server.now_ms();
        create_schedule(
            &server,
            &sink.url("/minutely"),
            &[("Upstash-Cron", "* * * * *"), ("Cronhook-Misfire", policy)],
            b"",
        );
        // Down for five slots (t0 + 1 min … t0 + 5 min), up again just after.
        server.stop();
        server.advance(Duration::from_secs(5 * 60 + 30));
        server.start_again();
        let got = sink.wait_for("/minutely", fired, WAIT);
        std::thread::sleep(QUIET);
        let mut slots: Vec<i64> = sink.received("/minutely").iter().map(slot).collect();
        slots.sort();
        let want: Vec<i64> = (6 - fired as i64..=5).map(|m| t0 + m * 60_000).collect();
        assert_eq!(slots, want, "{policy}: {} arrived", got.len());
        // The next slot, while up, fires whatever the policy.
        server.advance(Duration::from_secs(30));
        let after = sink.wait_for("/minutely", fired + 1, WAIT);
        assert_eq!(
            after.len(),
            fired + 1,
            "{policy}: the slot after the restart"
        );
    }
}

#[test]
fn retries_due_at_once_are_each_made_none_lost() {
    // `Retry-After: 0` makes each retry due the moment the failure is
    // committed, often before the attempt's task has reported back.
    let server = InProcess::start();
    let sink = Sink::start();
    sink.answer("/again", 503, &[("Retry-After", "0")]);
    let ids: Vec<String> = (0..20)
        .map(|_| {
            publish(
                &server,
                &sink.url("/again"),
                &[("Upstash-Retries", "4")],
                b"",
            )
        })
        .collect();
    let got = sink.wait_for("/again", 100, WAIT);
    assert_eq!(got.len(), 100, "five attempts each");
    for id in &ids {
        let tries = got
            .iter()
            .filter(|r| r.header("upstash-message-id") == Some(id.as_str()))
            .count();
        assert_eq!(tries, 5, "{id}");
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    common::api::wait_for_dlq(&server, &refs);
}
