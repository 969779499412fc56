//! Deduplication (§9.7): by id and by content, within the window.
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! The real binary, a real database and a real sink on 127.0.0.1; the
//! window runs in-process on the manual clock (`common::inproc`).

mod common;

use std::time::Duration;

use common::api::{call, publish, states, wait_for_state};
use common::inproc::InProcess;
use common::sink::Sink;
use common::start;
use common::wait::WAIT;

#[test]
fn a_repeated_deduplication_id_or_content_is_accepted_but_delivered_once() {
    let (_dir, server, sink) = start();
    let url = sink.url("/dedup");
    let h = [("Upstash-Deduplication-Id", "order-42")];
    let first = publish(&server, &url, &h, b"first");
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{url}"),
        &h,
        b"other body",
    );
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["messageId"], first);
    assert_eq!(json["deduplicated"], true);

    // Content-based: same destination and body (and content type) → duplicate.
    let content = sink.url("/content");
    let on = |v: &'static str| {
        [
            ("Upstash-Content-Based-Deduplication", v),
            ("Content-Type", "text/plain"),
        ]
    };
    let same = publish(&server, &content, &on("true"), b"same");
    // Python sends "True".
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{content}"),
        &on("True"),
        b"same",
    );
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["messageId"], same);
    assert_eq!(json["deduplicated"], true);
    let different = publish(&server, &content, &on("true"), b"different");
    assert_ne!(different, same);
    let elsewhere = publish(&server, &sink.url("/content-2"), &on("true"), b"same");
    assert_ne!(elsewhere, same);

    for (path, n) in [("/dedup", 1), ("/content", 2), ("/content-2", 1)] {
        sink.wait_for(path, n, WAIT);
    }
    wait_for_state(&server, &first, "DELIVERED");
    std::thread::sleep(Duration::from_millis(500));
    let bodies = |path: &str| -> Vec<Vec<u8>> {
        let mut b: Vec<Vec<u8>> = sink
            .received(path)
            .iter()
            .map(|r| r.body.to_vec())
            .collect();
        b.sort();
        b
    };
    assert_eq!(bodies("/dedup"), [b"first".to_vec()]);
    assert_eq!(
        bodies("/content"),
        [b"different".to_vec(), b"same".to_vec()]
    );
    assert_eq!(bodies("/content-2"), [b"same".to_vec()]);
    // A duplicate leaves no trace in the log.
    assert_eq!(states(&server, &first), ["DELIVERED", "ACTIVE", "CREATED"]);
    assert_eq!(states(&server, &same), ["DELIVERED", "ACTIVE", "CREATED"]);
}

/// The window is 10 minutes from the first publish (cronhook's default,
/// §9.7): a repeat 1 ms before its end is still a duplicate, one at its end
/// publishes anew. In-process on the manual clock.
#[test]
fn after_the_dedup_window_the_same_id_publishes_again() {
    let p = InProcess::start();
    let sink = Sink::start();
    let url = sink.url("/window");
    let h = [("Upstash-Deduplication-Id", "tick")];
    let t0 = p.now_ms();
    let first = publish(&p, &url, &h, b"1");
    let again = |body: &[u8]| call(&p, "POST", &format!("/v2/publish/{url}"), &h, body);
    let (status, json) = again(b"2");
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["messageId"], first);
    p.advance_to(t0 + 10 * 60_000 - 1);
    let (status, json) = again(b"2b");
    assert_eq!(status, 202, "still inside the window: {json}");
    assert_eq!(json["messageId"], first);

    p.advance_to(t0 + 10 * 60_000);
    let (status, json) = again(b"3");
    assert_eq!(status, 201, "the window is over: {json}");
    let third = json["messageId"].as_str().unwrap();
    assert_ne!(third, first);
    let got = sink.wait_for("/window", 2, WAIT);
    let mut bodies: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
    bodies.sort();
    assert_eq!(bodies, [&b"1"[..], &b"3"[..]]);
    wait_for_state(&p, third, "DELIVERED");
    sink.assert_stays("/window", 2, "the duplicates were not delivered");
}
