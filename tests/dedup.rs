//! Deduplication (§9.7): by id and by content, within the window.
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! The real binary, a real database and a real sink on 127.0.0.1.

mod common;

use std::time::Duration;

use common::api::{call, publish, states, wait_for_state};
use common::wait::{now_ms, WAIT};
use common::{start, start_with, ServerOptions};

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

#[test]
fn after_a_short_dedup_window_the_same_id_publishes_again() {
    // A window long enough that the second publish is inside it even on a
    // stalled machine, short enough to wait out.
    let (_dir, server, sink) = start_with(ServerOptions::default().arg("--dedup-window").arg("3s"));
    let url = sink.url("/window");
    let h = [("Upstash-Deduplication-Id", "tick")];
    let t0 = now_ms();
    let first = publish(&server, &url, &h, b"1");
    let (status, json) = call(&server, "POST", &format!("/v2/publish/{url}"), &h, b"2");
    let t1 = now_ms();
    assert!(
        t1 - t0 < 2500,
        "the machine stalled for {} ms; the check needs the window",
        t1 - t0
    );
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["messageId"], first);
    std::thread::sleep(Duration::from_millis((t0 + 3300 - now_ms()).max(0) as u64));
    let (status, json) = call(&server, "POST", &format!("/v2/publish/{url}"), &h, b"3");
    assert_eq!(status, 201, "the window is over: {json}");
    let third = json["messageId"].as_str().unwrap();
    assert_ne!(third, first);
    let got = sink.wait_for("/window", 2, WAIT);
    let mut bodies: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
    bodies.sort();
    assert_eq!(bodies, [&b"1"[..], &b"3"[..]]);
}
