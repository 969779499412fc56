//! Getting one waiting message (§4.4, §6.1) and cancelling it, singly or in
//! bulk in every form the SDKs send (§4.4).
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! The real binary, a real database and a real sink on 127.0.0.1; "never
//! delivered" runs in-process on the manual clock (`common::inproc`), where
//! the due time can be left far behind without waiting for it.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::api::{assert_error, call, enc, events, pending, publish, states};
use common::inproc::InProcess;
use common::sink::Sink;
use common::start;
use common::wait::now_ms;
use serde_json::{json, Value};

#[test]
fn a_waiting_message_shows_every_field_and_is_gone_after_cancel() {
    let (_dir, server, sink) = start();
    let url = sink.url("/later?v=2");
    let cb = sink.url("/cb");
    let fcb = sink.url("/fcb");
    let t0 = now_ms();
    let id = publish(
        &server,
        &url,
        &[
            ("Content-Type", "text/plain"),
            ("Upstash-Method", "PATCH"),
            ("Upstash-Forward-Test-Header", "v1"),
            ("Upstash-Delay", "1h"),
            ("Upstash-Retries", "2"),
            ("Upstash-Retry-Delay", "1000 * retried"),
            ("Upstash-Timeout", "5s"),
            ("Upstash-Callback", &cb),
            ("Upstash-Failure-Callback", &fcb),
            ("Upstash-Callback-Forward-Cb-Auth", "t"),
            ("Upstash-Failure-Callback-Forward-Fcb-Auth", "f"),
            ("Upstash-Label", "billing,eu"),
        ],
        b"hello",
    );
    let t1 = now_ms();

    let (status, m) = call(&server, "GET", &format!("/v2/messages/{id}"), &[], b"");
    assert_eq!(status, 200, "{m}");
    common::api::assert_has_fields(&m, &common::api::PY_MESSAGE_FIELDS);
    for (key, value) in m.as_object().unwrap() {
        assert!(!value.is_null(), "{key} is null: absent fields are omitted");
    }
    assert_eq!(m["messageId"], id);
    assert_eq!(m["url"], url);
    assert_eq!(m["method"], "PATCH");
    assert_eq!(m["maxRetries"], 2);
    let created = m["createdAt"].as_i64().unwrap();
    assert!((t0..=t1).contains(&created), "{created} not in {t0}..={t1}");
    assert_eq!(m["notBefore"], created + 3_600_000);
    assert_eq!(
        m["header"],
        json!({ "Content-Type": ["text/plain"], "Test-Header": ["v1"] })
    );
    assert_eq!(m["body"], "hello");
    assert!(m.get("bodyBase64").is_none());
    assert_eq!(m["retryDelayExpression"], "1000 * retried");
    assert_eq!(m["callback"], cb);
    assert_eq!(m["failureCallback"], fcb);
    assert_eq!(m["callbackHeader"], json!({ "Cb-Auth": ["t"] }));
    assert_eq!(m["failureCallbackHeader"], json!({ "Fcb-Auth": ["f"] }));
    assert_eq!(m["label"], "billing");
    assert_eq!(m["labels"], json!(["billing", "eu"]));
    assert_eq!(m["callerIP"], "127.0.0.1");
    assert_eq!(m["callerIp"], "127.0.0.1");
    assert!(m.get("scheduleId").is_none());

    // A body that is not UTF-8 is shown as bodyBase64 instead.
    let binary = publish(
        &server,
        &sink.url("/bin"),
        &[("Upstash-Delay", "1h")],
        &[0xff, 0x00, 0x01],
    );
    let (_, m) = call(&server, "GET", &format!("/v2/messages/{binary}"), &[], b"");
    assert_eq!(m["bodyBase64"], "/wAB");
    assert!(m.get("body").is_none());
    assert_eq!(m["method"], "POST", "the default method");
    assert_eq!(m["maxRetries"], 3, "the default retries");
    assert_eq!(m["header"], json!({}));

    let (status, json) = call(&server, "DELETE", &format!("/v2/messages/{id}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({ "cancelled": 1 }));
    let (status, json) = call(&server, "GET", &format!("/v2/messages/{id}"), &[], b"");
    assert_error(status, &json, 404, &[&id]);
    assert!(pending(&server, &binary), "only the one was cancelled");
}

/// A cancelled message is never attempted, also once its due time has long
/// passed; a second cancel finds nothing. In-process on the manual clock.
#[test]
fn a_cancelled_message_is_never_delivered_and_a_second_cancel_is_404() {
    let p = InProcess::start();
    let sink = Sink::start();
    let t0 = p.now_ms();
    let later = [("Upstash-Delay", "1s")];
    let cancelled = publish(&p, &sink.url("/cancelled"), &later, b"no");
    let control = publish(&p, &sink.url("/control"), &later, b"yes");
    let (status, json) = call(&p, "DELETE", &format!("/v2/messages/{cancelled}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({ "cancelled": 1 }));

    // The other message, due at the same time, comes; then a day passes.
    let got = p.expect_arrival_at(&sink, "/control", t0 + 1000);
    assert_eq!(got[0].header("upstash-message-id"), Some(control.as_str()));
    p.advance(Duration::from_secs(86_400));
    sink.assert_stays("/cancelled", 0, "a cancelled message was delivered");
    assert_eq!(
        states(&p, &cancelled),
        ["CANCELED", "CANCEL_REQUESTED", "CREATED"]
    );

    let (status, json) = call(&p, "DELETE", &format!("/v2/messages/{cancelled}"), &[], b"");
    assert_error(status, &json, 404, &[&cancelled]);
}

#[test]
fn bulk_cancel_accepts_every_form_of_the_table() {
    let (_dir, server, sink) = start();
    let mut all = Vec::new();
    let mut p = |path: &str, extra: &[(&str, &str)]| -> String {
        let mut headers = vec![("Upstash-Delay", "1h")];
        headers.extend_from_slice(extra);
        let id = publish(&server, &sink.url(path), &headers, b"");
        all.push(id.clone());
        id
    };
    let cancel = |query: &str, headers: &[(&str, &str)], body: &[u8]| -> Value {
        let (status, json) = call(
            &server,
            "DELETE",
            &format!("/v2/messages{query}"),
            headers,
            body,
        );
        assert_eq!(status, 200, "DELETE /v2/messages{query}: {json}");
        json
    };

    // JS ≥ 2.10 cancel([ids]): repeated query keys; comma-separated too.
    let ids: Vec<String> = (0..4).map(|_| p("/ids", &[])).collect();
    let q = format!("?messageIds={}&messageIds={}", ids[0], ids[1]);
    assert_eq!(cancel(&q, &[], b""), json!({ "cancelled": 2 }));
    let q = format!("?messageIds={},msg_unknown", ids[2]);
    assert_eq!(cancel(&q, &[], b""), json!({ "cancelled": 1 }));
    assert!(!pending(&server, &ids[0]) && !pending(&server, &ids[1]) && !pending(&server, &ids[2]));
    assert!(pending(&server, &ids[3]));

    // Python cancel_many / JS ≤ 2.9 deleteMany: a JSON body.
    let a = p("/body", &[]);
    let b = p("/body", &[]);
    let body = json!({ "messageIds": [a, b] }).to_string();
    let json = cancel("", &[("Content-Type", "application/json")], body.as_bytes());
    assert_eq!(json, json!({ "cancelled": 2 }));
    assert!(!pending(&server, &a) && !pending(&server, &b));

    // JS ≥ 2.10 cancel({filter, count}): by url, at most count.
    let by_url: Vec<String> = (0..3).map(|_| p("/by-url", &[])).collect();
    let q = format!("?url={}&count=2", enc(&sink.url("/by-url")));
    assert_eq!(cancel(&q, &[], b""), json!({ "cancelled": 2 }));
    assert_eq!(by_url.iter().filter(|id| pending(&server, id)).count(), 1);
    let q = format!("?url={}", enc(&sink.url("/by-url")));
    assert_eq!(cancel(&q, &[], b""), json!({ "cancelled": 1 }));
    assert!(by_url.iter().all(|id| !pending(&server, id)));

    // By label.
    let nightly = [
        p("/l", &[("Upstash-Label", "nightly,eu")]),
        p("/l", &[("Upstash-Label", "nightly")]),
    ];
    let other = p("/l", &[("Upstash-Label", "other")]);
    assert_eq!(
        cancel("?label=nightly", &[], b""),
        json!({ "cancelled": 2 })
    );
    assert!(nightly.iter().all(|id| !pending(&server, id)));
    assert!(pending(&server, &other));

    // JS ≥ 2.10 cancel({all: true}): only count, meaning "all, up to count".
    p("/rest", &[]);
    p("/rest", &[]);
    let waiting = |ids: &[String]| ids.iter().filter(|id| pending(&server, id)).count();
    assert_eq!(waiting(&all), 4);
    assert_eq!(cancel("?count=3", &[], b""), json!({ "cancelled": 3 }));
    assert_eq!(waiting(&all), 1);

    // JS ≤ 2.9 deleteAll / Python cancel_all: no query, no body.
    assert_eq!(cancel("", &[], b""), json!({ "cancelled": 1 }));
    assert_eq!(waiting(&all), 0);
    assert_eq!(cancel("", &[], b""), json!({ "cancelled": 0 }));

    // Each was logged as cancelled, once.
    let (log, _) = events(&server, "state=CANCELED&count=1000");
    let logged: HashSet<&str> = log
        .iter()
        .map(|e| e["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(log.len(), all.len());
    assert!(all.iter().all(|id| logged.contains(id.as_str())));
    for path in ["/ids", "/body", "/by-url", "/l", "/rest"] {
        assert!(sink.received(path).is_empty());
    }
}
