//! Messages end to end: publish, enqueue and batch (§4.1–4.3), get and cancel
//! (§4.4, §6.1), retries into the DLQ and out again (§4.8, §6.2), callbacks
//! (§9.4), deduplication (§9.7), signing keys (§4.10), and the log with its
//! states, filters, paging and retention (§4.9, §6.6, §9.6).
//!
//! The real binary, a real database and a real sink on 127.0.0.1. Timing
//! assertions check invariants ("not before", "one after another") with wide
//! upper margins, so they hold on a slow, busy machine.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::api::{
    assert_error, b64, call, dlq, dlq_entry_of, enc, events, pending, publish, states,
    wait_for_dlq, wait_for_state,
};
use common::db::rows;
use common::signature::{assert_signed, verify};
use common::sink::{Received, Sink};
use common::wait::{now_ms, wait_until, WAIT};
use common::{start, start_with, ServerOptions, ServerProcess};
use serde_json::{json, Value};

/// How late a delayed delivery may arrive and still count as on time.
const LATE_MS: i64 = 5000;

fn received_with_id(sink: &Sink, path: &str, message_id: &str) -> Vec<Received> {
    sink.received(path)
        .into_iter()
        .filter(|r| r.header("upstash-message-id") == Some(message_id))
        .collect()
}

// ---------------------------------------------------------------- publish

#[test]
fn publish_answers_201_with_the_id_and_delivers_the_request_as_published() {
    let (_dir, server, sink) = start();
    let url = sink.url("/orders?x=1");
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{url}"),
        &[
            ("Content-Type", "application/json"),
            ("Upstash-Method", "PUT"),
            ("Upstash-Forward-Test-Header", "v1"),
            ("Upstash-Forward-X-Two", "a"),
        ],
        br#"{"order":42}"#,
    );
    assert_eq!(status, 201, "{json}");
    let id = json["messageId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(json, json!({ "messageId": id, "url": url }));

    let got = sink.wait_for("/orders", 1, WAIT);
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.target, "/orders?x=1");
    assert_eq!(&r.body[..], br#"{"order":42}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("test-header"), Some("v1"));
    assert_eq!(r.header("x-two"), Some("a"));
    assert_eq!(r.header("user-agent"), Some("Upstash-QStash"));
    assert_eq!(r.header("upstash-message-id"), Some(id.as_str()));
    assert_eq!(r.header("upstash-retried"), Some("0"));
    assert_eq!(r.header("upstash-caller-ip"), Some("127.0.0.1"));
    for name in r.headers.keys() {
        let n = name.as_str();
        assert!(
            !n.starts_with("upstash-forward-") && n != "upstash-method" && n != "authorization",
            "{n} must not reach the destination"
        );
    }
    assert_signed(r, &server.current_signing_key, &url);

    // §9.8: a delivered message is removed; GET answers 404 shortly after.
    let json = wait_until(WAIT, "the delivered message to be gone", || {
        let (status, json) = call(&server, "GET", &format!("/v2/messages/{id}"), &[], b"");
        (status == 404).then_some(json)
    });
    assert_error(404, &json, 404, &[&id]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.received("/orders").len(), 1, "delivered once");
}

#[test]
fn delay_not_before_and_their_query_forms_set_the_delivery_time() {
    let (_dir, server, sink) = start();
    let t0 = now_ms();
    // Upstash-Not-Before is Unix seconds: 2 to 3 s from now.
    let nb_secs = t0 / 1000 + 3;
    let nb = nb_secs.to_string();
    // GET shows the times while the messages wait (asked at once: they are
    // due seconds later).
    let get = |id: &str| -> Value {
        let (status, m) = call(&server, "GET", &format!("/v2/messages/{id}"), &[], b"");
        assert_eq!(status, 200, "{m}");
        m
    };
    let delayed = publish(
        &server,
        &sink.url("/delay"),
        &[("Upstash-Delay", "2s")],
        b"d",
    );
    let m = get(&delayed);
    assert_eq!(
        m["notBefore"].as_i64().unwrap() - m["createdAt"].as_i64().unwrap(),
        2000
    );
    let pinned = publish(
        &server,
        &sink.url("/not-before"),
        &[("Upstash-Delay", "1h"), ("Upstash-Not-Before", &nb)],
        b"n",
    );
    assert_eq!(get(&pinned)["notBefore"], nb_secs * 1000);
    let by_query = publish(
        &server,
        &format!("{}?upstash-delay=1s&keep=yes", sink.url("/query")),
        &[],
        b"q",
    );
    let nb_by_query = publish(
        &server,
        &format!("{}?upstash-not-before={nb}", sink.url("/query-nb")),
        &[],
        b"qn",
    );

    // The CREATED entry says when the first attempt is due.
    let due = |id: &str| -> (i64, i64) {
        let (log, _) = events(&server, &format!("messageId={id}&state=CREATED"));
        assert_eq!(log.len(), 1, "{log:?}");
        let created = log[0]["time"].as_i64().unwrap();
        (
            created,
            log[0]["nextDeliveryTime"]
                .as_i64()
                .expect("nextDeliveryTime"),
        )
    };
    let (delayed_created, delayed_due) = due(&delayed);
    assert!(delayed_created >= t0);
    assert_eq!(delayed_due, delayed_created + 2000);
    let (_, pinned_due) = due(&pinned);
    assert_eq!(
        pinned_due,
        nb_secs * 1000,
        "Not-Before overrides the 1h delay"
    );
    let (query_created, query_due) = due(&by_query);
    assert_eq!(query_due, query_created + 1000);
    assert_eq!(due(&nb_by_query).1, nb_secs * 1000);

    assert_eq!(m["notBefore"], delayed_due);
    assert_eq!(m["createdAt"], delayed_created);

    for (path, not_before) in [
        ("/delay", delayed_due),
        ("/not-before", nb_secs * 1000),
        ("/query", query_due),
        ("/query-nb", nb_secs * 1000),
    ] {
        let got = sink.wait_for(path, 1, WAIT);
        assert_eq!(got.len(), 1, "{path}");
        let at = got[0].at_ms;
        assert!(
            at >= not_before,
            "{path} arrived {} ms early",
            not_before - at
        );
        assert!(
            at < not_before + LATE_MS,
            "{path} arrived {} ms late",
            at - not_before
        );
    }
    // The query keys configure the message; they are not part of the destination.
    assert_eq!(sink.received("/query")[0].target, "/query?keep=yes");
    assert_eq!(sink.received("/query-nb")[0].target, "/query-nb");
}

#[test]
fn header_forward_true_forwards_incoming_headers_but_never_the_token() {
    let (_dir, server, sink) = start();
    let url = sink.url("/webhook");
    publish(
        &server,
        &url,
        &[
            ("Upstash-Header-Forward", "true"),
            ("X-Github-Event", "push"),
            ("Content-Type", "application/json"),
            ("Upstash-Forward-Extra", "e"),
            ("Upstash-Retries", "0"),
        ],
        b"{}",
    );
    // A webhook sender that cannot set headers: token and settings in the
    // query. Its own (non-bearer) Authorization belongs to the destination.
    let (status, body) = server
        .raw_request(
            "POST",
            &format!(
                "/v2/publish/{url}?qstash_token={}&upstash-header-forward=true",
                server.token
            ),
            &[
                ("Authorization", "Basic dXNlcjpwdw=="),
                ("X-Stripe-Signature", "t=1"),
            ],
            b"second",
        )
        .unwrap();
    assert_eq!(status, 201, "{body}");

    let got = sink.wait_for("/webhook", 2, WAIT);
    assert_eq!(got.len(), 2);
    let by_body = |b: &[u8]| got.iter().find(|r| &r.body[..] == b).unwrap();
    let first = by_body(b"{}");
    assert_eq!(first.header("x-github-event"), Some("push"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("extra"), Some("e"));
    assert!(first.headers.get("authorization").is_none(), "the token");
    let second = by_body(b"second");
    assert_eq!(second.header("x-stripe-signature"), Some("t=1"));
    assert_eq!(second.header("authorization"), Some("Basic dXNlcjpwdw=="));
    assert_eq!(second.target, "/webhook", "the token is not in the URL");
    for r in &got {
        for (name, value) in &r.headers {
            let n = name.as_str();
            assert!(
                !n.starts_with("upstash-")
                    || ["signature", "message-id", "retried", "caller-ip"]
                        .iter()
                        .any(|k| n == format!("upstash-{k}")),
                "setting {n} was forwarded"
            );
            let v = String::from_utf8_lossy(value.as_bytes());
            assert!(!v.contains(&server.token), "{n} carries the token");
        }
    }
    // Nor is the token stored.
    let (log, _) = events(&server, "");
    assert!(!log.is_empty());
    assert!(!Value::Array(log).to_string().contains(&server.token));
}

// ------------------------------------------------------ get and cancel

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
    for key in [
        "messageId",
        "url",
        "method",
        "maxRetries",
        "notBefore",
        "createdAt",
    ] {
        assert!(m.get(key).is_some(), "PY-REQ field {key} missing: {m}");
    }
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

#[test]
fn a_cancelled_message_is_never_delivered_and_a_second_cancel_is_404() {
    let (_dir, server, sink) = start();
    let later = [("Upstash-Delay", "1s")];
    let cancelled = publish(&server, &sink.url("/cancelled"), &later, b"no");
    let control = publish(&server, &sink.url("/control"), &later, b"yes");
    let (status, json) = call(
        &server,
        "DELETE",
        &format!("/v2/messages/{cancelled}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({ "cancelled": 1 }));

    // The other message, due at the same time, comes; then a good while more.
    let got = sink.wait_for("/control", 1, WAIT);
    assert_eq!(got[0].header("upstash-message-id"), Some(control.as_str()));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        sink.received("/cancelled").is_empty(),
        "a cancelled message was delivered"
    );

    let (status, json) = call(
        &server,
        "DELETE",
        &format!("/v2/messages/{cancelled}"),
        &[],
        b"",
    );
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

// ------------------------------------------------------------------- DLQ

#[test]
fn failed_messages_land_in_the_dlq_and_a_retry_publishes_them_anew() {
    let (_dir, server, sink) = start();
    sink.answer("/flaky", 500, &[]);
    let url = sink.url("/flaky");
    let published: Vec<String> = (0..3)
        .map(|i| {
            publish(
                &server,
                &url,
                &[
                    ("Upstash-Retries", "1"),
                    ("Upstash-Retry-Delay", "100"),
                    ("Content-Type", "text/plain"),
                    ("Upstash-Forward-N", &i.to_string()),
                ],
                format!("body {i}").as_bytes(),
            )
        })
        .collect();
    let ids: Vec<&str> = published.iter().map(String::as_str).collect();
    let all = wait_for_dlq(&server, &ids);
    assert_eq!(all.len(), 3);
    assert_eq!(sink.received("/flaky").len(), 6, "two attempts each");

    for (i, id) in published.iter().enumerate() {
        let e = dlq_entry_of(&all, id);
        for key in [
            "messageId",
            "url",
            "method",
            "maxRetries",
            "notBefore",
            "createdAt",
            "responseStatus",
        ] {
            assert!(e.get(key).is_some(), "PY-REQ field {key} missing: {e}");
        }
        assert!(e["dlqId"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
        assert_eq!(e["url"], url);
        assert_eq!(e["method"], "POST");
        assert_eq!(e["maxRetries"], 1);
        assert_eq!(e["retryDelayExpression"], "100");
        assert_eq!(e["responseStatus"], 500);
        assert_eq!(e["responseBody"], "sink says 500");
        assert_eq!(
            e["responseHeader"]["Content-Type"],
            json!(["text/plain; charset=utf-8"])
        );
        assert_eq!(e["body"], format!("body {i}"));
        assert_eq!(
            e["header"],
            json!({ "Content-Type": ["text/plain"], "N": [i.to_string()] })
        );
        assert_eq!(e["notBefore"], e["createdAt"]);
        assert_eq!(e["callerIP"], "127.0.0.1");
        let (status, one) = call(
            &server,
            "GET",
            &format!("/v2/dlq/{}", e["dlqId"].as_str().unwrap()),
            &[],
            b"",
        );
        assert_eq!(status, 200);
        assert_eq!(&one, e);
    }

    // Paging with count=1: a cursor on every page but the last.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            None => "count=1".to_owned(),
            Some(c) => format!("count=1&cursor={}", enc(c)),
        };
        let (page, next) = dlq(&server, &q);
        assert_eq!(page.len(), 1, "{page:?}");
        walked.push(page[0].clone());
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(walked.len() < 10, "the cursor never ends");
    }
    assert_eq!(walked, all, "the pages are the whole list, in order");
    let dlq_id = |id: &str| dlq_entry_of(&all, id)["dlqId"].as_str().unwrap().to_owned();
    let (d0, d1, d2) = (dlq_id(ids[0]), dlq_id(ids[1]), dlq_id(ids[2]));

    // Bulk retry (JS dlq.retry): ids in the query; the request's
    // Upstash-Retries: 0 overrides the original 1, its Content-Type does not.
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/dlq/retry?dlqIds={d1}&dlqIds={d2}"),
        &[
            ("Upstash-Retries", "0"),
            ("Content-Type", "application/json"),
        ],
        b"",
    );
    assert!((200..300).contains(&status), "{status} {json}");
    assert!(json.get("cursor").is_none(), "{json}");
    let responses = json["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 2, "{json}");
    let again: Vec<String> = responses
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .collect();
    for id in &again {
        assert!(!published.contains(id), "a retry is a new message");
    }
    let again_ids: Vec<&str> = again.iter().map(String::as_str).collect();
    let after = wait_for_dlq(&server, &again_ids);
    assert_eq!(after.len(), 3, "d0 plus the two retried ones");
    for (id, source) in again.iter().zip([1, 2]) {
        let e = dlq_entry_of(&after, id);
        assert_eq!(e["maxRetries"], 0, "the override shows in the new message");
        assert_eq!(e["body"], format!("body {source}"), "same body");
        assert_eq!(
            e["header"]["N"],
            json!([source.to_string()]),
            "same headers"
        );
        assert_eq!(e["retryDelayExpression"], "100", "other settings kept");
        assert_eq!(
            e["header"]["Content-Type"],
            json!(["text/plain"]),
            "the retry request's own Content-Type is not an override"
        );
        let attempts = received_with_id(&sink, "/flaky", id);
        assert_eq!(attempts.len(), 1, "no retries after the override");
        assert_eq!(attempts[0].header("upstash-retried"), Some("0"));
    }
    for d in [&d1, &d2] {
        let (status, json) = call(&server, "GET", &format!("/v2/dlq/{d}"), &[], b"");
        assert_error(status, &json, 404, &[d]);
    }

    // The destination recovers; a single retry delivers a NEW message.
    sink.answer("/flaky", 200, &[]);
    let (status, json) = call(&server, "POST", &format!("/v2/dlq/retry/{d0}"), &[], b"");
    assert_eq!(status, 201, "{json}");
    let new_id = json["messageId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, published[0]);
    assert_eq!(json["url"], url);
    let delivered = wait_until(WAIT, "the retried message", || {
        let got = received_with_id(&sink, "/flaky", &new_id);
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(&delivered[0].body[..], b"body 0");
    assert_eq!(delivered[0].header("n"), Some("0"));
    assert_eq!(delivered[0].header("content-type"), Some("text/plain"));
    wait_for_state(&server, &new_id, "DELIVERED");
    let (status, json) = call(&server, "GET", &format!("/v2/dlq/{d0}"), &[], b"");
    assert_error(status, &json, 404, &[&d0]);
    let (status, json) = call(&server, "POST", &format!("/v2/dlq/retry/{d0}"), &[], b"");
    assert_error(status, &json, 404, &[&d0]);
    let (left, _) = dlq(&server, "");
    let left: HashSet<&str> = left
        .iter()
        .map(|e| e["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(left, again_ids.iter().copied().collect());
}

#[test]
fn dlq_entries_can_be_deleted_singly_by_id_list_filter_and_all_at_once() {
    let (_dir, server, sink) = start();
    sink.answer("/gone", 404, &[]);
    sink.answer("/gone-too", 410, &[]);
    let no_retries = [("Upstash-Retries", "0")];
    let published: Vec<String> = (0..6)
        .map(|_| publish(&server, &sink.url("/gone"), &no_retries, b""))
        .collect();
    let others: Vec<String> = (0..4)
        .map(|_| publish(&server, &sink.url("/gone-too"), &no_retries, b""))
        .collect();
    let ids: Vec<&str> = published
        .iter()
        .chain(&others)
        .map(String::as_str)
        .collect();
    wait_for_dlq(&server, &ids);

    // §4.8 filters on the list.
    let (gone, _) = dlq(&server, "responseStatus=404");
    assert_eq!(gone.len(), 6);
    assert!(gone.iter().all(|e| e["url"] == sink.url("/gone")));
    let (too, _) = dlq(&server, &format!("url={}", enc(&sink.url("/gone-too"))));
    assert_eq!(too.len(), 4);
    assert!(too.iter().all(|e| e["responseStatus"] == 410));
    let (one, _) = dlq(&server, &format!("messageId={}", others[0]));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["messageId"], others[0]);

    // JS ≥ 2.10 delete({filter, count}): page by page until no cursor.
    let filter = format!("url={}&count=3", enc(&sink.url("/gone-too")));
    let (status, json) = call(&server, "DELETE", &format!("/v2/dlq?{filter}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["deleted"], 3);
    let cursor = json["cursor"]
        .as_str()
        .expect("a cursor: more match")
        .to_owned();
    let (_, json) = call(
        &server,
        "DELETE",
        &format!("/v2/dlq?{filter}&cursor={}", enc(&cursor)),
        &[],
        b"",
    );
    assert_eq!(json, json!({ "deleted": 1 }), "the last page has no cursor");
    assert!(dlq(&server, "responseStatus=410").0.is_empty());

    let d: Vec<String> = gone
        .iter()
        .map(|e| e["dlqId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        dlq(&server, "").0,
        gone,
        "only the filtered ones were deleted"
    );

    let (status, json) = call(&server, "DELETE", &format!("/v2/dlq/{}", d[0]), &[], b"");
    assert_eq!(status, 200, "{json}");
    let (status, json) = call(&server, "DELETE", &format!("/v2/dlq/{}", d[0]), &[], b"");
    assert_error(status, &json, 404, &[&d[0]]);

    // Python delete_many / JS ≤ 2.9: a JSON body.
    let body = json!({ "dlqIds": [d[1], d[2]] }).to_string();
    let (status, json) = call(
        &server,
        "DELETE",
        "/v2/dlq",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({ "deleted": 2 }));

    // JS ≥ 2.10 delete([ids]): the query.
    let (_, json) = call(
        &server,
        "DELETE",
        &format!("/v2/dlq?dlqIds={}", d[3]),
        &[],
        b"",
    );
    assert_eq!(json, json!({ "deleted": 1 }));

    // Nothing at all: everything.
    let (status, json) = call(&server, "DELETE", "/v2/dlq", &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({ "deleted": 2 }));
    let (status, json) = call(&server, "GET", "/v2/dlq", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(
        json,
        json!({ "messages": [] }),
        "messages present, no cursor"
    );
    let (_, json) = call(&server, "DELETE", "/v2/dlq", &[], b"");
    assert_eq!(json, json!({ "deleted": 0 }));
    for id in &d {
        let (status, _) = call(&server, "GET", &format!("/v2/dlq/{id}"), &[], b"");
        assert_eq!(status, 404);
    }
}

// ------------------------------------------------------------- callbacks

/// The callback requests received on `path`, with their parsed bodies, by `retried`.
fn reports(sink: &Sink, path: &str) -> Vec<(Value, Received)> {
    let mut out: Vec<(Value, Received)> = sink
        .received(path)
        .into_iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body)
                .unwrap_or_else(|e| panic!("callback body is not JSON ({e}): {:?}", r.body));
            (body, r)
        })
        .collect();
    out.sort_by_key(|(b, _)| b["retried"].as_i64());
    out
}

#[test]
fn the_callback_gets_a_signed_report_after_every_attempt() {
    let (_dir, server, sink) = start();
    sink.answer("/flaky", 500, &[]);
    let url = sink.url("/flaky");
    let cb = sink.url("/cb?source=flaky");
    let t0 = now_ms();
    let id = publish(
        &server,
        &url,
        &[
            ("Content-Type", "text/plain"),
            ("Upstash-Forward-Src", "s"),
            ("Upstash-Retries", "2"),
            ("Upstash-Retry-Delay", "2000"),
            ("Upstash-Callback", &cb),
            ("Upstash-Callback-Forward-X-Cb-Token", "cb-secret"),
        ],
        b"source body",
    );
    let t1 = now_ms();
    // The first attempt fails; the retry, 2 s later, succeeds.
    sink.wait_for("/flaky", 1, WAIT);
    sink.answer("/flaky", 200, &[]);
    let attempts = sink.wait_for("/flaky", 2, WAIT);
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].header("upstash-retried"), Some("1"));
    sink.wait_for("/cb", 2, WAIT);
    wait_for_state(&server, &id, "DELIVERED");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.received("/flaky").len(), 2);
    let calls = reports(&sink, "/cb");
    assert_eq!(calls.len(), 2, "one callback per attempt");

    let mut callback_ids = HashSet::new();
    for (i, (report, r)) in calls.iter().enumerate() {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/cb?source=flaky");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-cb-token"), Some("cb-secret"));
        assert!(
            r.headers.get("src").is_none(),
            "the source's headers stay with it"
        );
        assert_signed(r, &server.current_signing_key, &cb);
        // A callback is a message of its own.
        let own = r.header("upstash-message-id").unwrap();
        assert!(own.starts_with("msg_") && own != id, "{own}");
        callback_ids.insert(own.to_owned());

        let status = [500, 200][i];
        assert_eq!(report["status"], status, "{report}");
        assert_eq!(
            report["header"]["Content-Type"],
            json!(["text/plain; charset=utf-8"])
        );
        assert_eq!(
            report["body"],
            b64(format!("sink says {status}").as_bytes())
        );
        assert_eq!(report["retried"], i);
        assert_eq!(report["maxRetries"], 2);
        assert_eq!(report["sourceMessageId"], id);
        assert_eq!(report["url"], url);
        assert_eq!(report["method"], "POST");
        assert_eq!(
            report["sourceHeader"],
            json!({ "Content-Type": ["text/plain"], "Src": ["s"] })
        );
        assert_eq!(report["sourceBody"], b64(b"source body"));
        let created = report["createdAt"].as_i64().expect("createdAt in ms");
        assert!((t0..=t1).contains(&created), "{created} not in {t0}..={t1}");
        assert_eq!(report["notBefore"], created, "no delay: due when created");
        assert_eq!(report["callerIP"], "127.0.0.1");
        assert!(
            report.get("dlqId").is_none(),
            "only the failure callback has it"
        );
    }
    assert_eq!(callback_ids.len(), 2);
}

#[test]
fn the_failure_callback_is_called_once_after_the_last_attempt_with_the_dlq_id() {
    let (_dir, server, sink) = start();
    sink.answer("/down", 503, &[]);
    let url = sink.url("/down");
    let fcb = sink.url("/fcb");
    let cb = sink.url("/cb");
    let id = publish(
        &server,
        &url,
        &[
            ("Upstash-Retries", "1"),
            ("Upstash-Retry-Delay", "100"),
            ("Upstash-Failure-Callback", &fcb),
            ("Upstash-Failure-Callback-Forward-X-Fail", "f"),
            ("Upstash-Callback", &cb),
            ("Upstash-Callback-Forward-X-Each", "e"),
        ],
        b"doomed",
    );
    let all = wait_for_dlq(&server, &[&id]);
    let entry = dlq_entry_of(&all, &id);
    sink.wait_for("/fcb", 1, WAIT);
    sink.wait_for("/cb", 2, WAIT);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(sink.received("/down").len(), 2);
    let failure = reports(&sink, "/fcb");
    assert_eq!(
        failure.len(),
        1,
        "the failure callback is called exactly once"
    );

    let (report, r) = &failure[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("x-fail"), Some("f"));
    assert!(r.headers.get("x-each").is_none());
    assert_signed(r, &server.current_signing_key, &fcb);
    assert_eq!(report["dlqId"], entry["dlqId"], "{report}");
    assert_eq!(report["status"], 503, "from the last attempt");
    assert_eq!(report["body"], b64(b"sink says 503"));
    assert_eq!(report["retried"], 1);
    assert_eq!(report["maxRetries"], 1);
    assert_eq!(report["sourceMessageId"], id);
    assert_eq!(report["url"], url);
    assert_eq!(report["sourceBody"], b64(b"doomed"));
    assert_eq!(report["createdAt"], entry["createdAt"]);
    assert_eq!(report["notBefore"], entry["notBefore"]);

    let each = reports(&sink, "/cb");
    assert_eq!(each.len(), 2, "the callback still reports each attempt");
    for (i, (report, r)) in each.iter().enumerate() {
        assert_eq!(report["retried"], i);
        assert_eq!(report["status"], 503);
        assert!(report.get("dlqId").is_none());
        assert_eq!(r.header("x-each"), Some("e"));
        assert!(r.headers.get("x-fail").is_none());
    }
}

// ---------------------------------------------------------- deduplication

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

// ------------------------------------------------------------- signing keys

#[test]
fn rotating_keys_signs_with_the_old_next_key_and_survives_a_restart() {
    let (dir, mut server, sink) = start();
    let (status, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(keys["current"], server.current_signing_key);
    assert_eq!(keys["next"], server.next_signing_key);
    let old_current = server.current_signing_key.clone();
    let old_next = server.next_signing_key.clone();

    let (status, rotated) = call(&server, "POST", "/v2/keys/rotate", &[], b"");
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["current"], old_next.as_str());
    let new_next = rotated["next"].as_str().unwrap().to_owned();
    assert!(
        new_next.starts_with("sig_") && new_next.len() == 32,
        "{new_next}"
    );
    assert!(new_next[4..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c)));
    assert!(new_next != old_current && new_next != old_next);
    let (_, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(keys, json!({ "current": old_next, "next": new_next }));

    let url = sink.url("/signed");
    publish(&server, &url, &[], b"after rotation");
    let got = sink.wait_for("/signed", 1, WAIT);
    assert_signed(&got[0], &old_next, &url);
    assert!(
        verify(&got[0], &old_current).is_err(),
        "still signed with the old key"
    );

    // A restart on the same database keeps the rotated keys.
    server.terminate();
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    let (_, keys) = call(&server, "GET", "/v2/keys", &[], b"");
    assert_eq!(keys, json!({ "current": old_next, "next": new_next }));
    assert_eq!(
        server.current_signing_key, old_next,
        "the printed env agrees"
    );
    assert_eq!(server.next_signing_key, new_next);
    publish(&server, &url, &[], b"after restart");
    let got = sink.wait_for("/signed", 2, WAIT);
    let r = got
        .iter()
        .find(|r| &r.body[..] == b"after restart")
        .unwrap();
    assert_signed(r, &old_next, &url);
    assert!(verify(r, &old_current).is_err());
}

// --------------------------------------------------------------------- logs

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
    assert_eq!(rows(&server.db, "events"), 20);
    assert_eq!(rows(&server.db, "dlq"), 3);
}

// ------------------------------------------------------------ enqueue, batch

#[test]
fn an_enqueued_queue_delivers_one_message_at_a_time_in_enqueue_order() {
    let (_dir, server, sink) = start();
    let url = sink.url("/slow");
    // §4.2: no delay on enqueue, in any form.
    let future = (now_ms() / 1000 + 60).to_string();
    /// A destination, its headers, and what the refusal must mention.
    type Refusal<'a> = (String, Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let refused: [Refusal; 3] = [
        (
            url.clone(),
            vec![("Upstash-Delay", "1s")],
            &["Upstash-Delay", "enqueue"],
        ),
        (
            url.clone(),
            vec![("Upstash-Not-Before", &future)],
            &["not-before", "enqueue"],
        ),
        (
            format!("{url}?upstash-delay=1s"),
            vec![],
            &["Upstash-Delay", "enqueue"],
        ),
    ];
    for (dest, headers, needles) in &refused {
        let (status, json) = call(
            &server,
            "POST",
            &format!("/v2/enqueue/q1/{dest}"),
            headers,
            b"x",
        );
        assert_error(status, &json, 400, needles);
    }
    assert!(events(&server, "").0.is_empty(), "nothing stored");

    sink.answer_after("/slow", 200, &[], Duration::from_millis(300));
    let ids: Vec<String> = (1..=3)
        .map(|i| {
            let (status, json) = call(
                &server,
                "POST",
                &format!("/v2/enqueue/q1/{url}"),
                &[],
                i.to_string().as_bytes(),
            );
            assert_eq!(status, 201, "{json}");
            assert_eq!(json["url"], url);
            json["messageId"].as_str().unwrap().to_owned()
        })
        .collect();
    let got = sink.wait_for("/slow", 3, WAIT);
    assert_eq!(got.len(), 3);
    let order: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
    assert_eq!(order, [b"1", b"2", b"3"], "enqueue order");
    for (r, id) in got.iter().zip(&ids) {
        assert_eq!(r.header("upstash-message-id"), Some(id.as_str()));
    }
    for w in got.windows(2) {
        let gap = w[1].at_ms - w[0].at_ms;
        assert!(
            gap >= 295,
            "parallelism 1: the next came {gap} ms after the previous"
        );
    }
    for id in &ids {
        wait_for_state(&server, id, "DELIVERED");
        let (log, _) = events(&server, &format!("messageId={id}&state=CREATED"));
        assert_eq!(log[0]["queueName"], "q1");
    }
}

#[test]
fn a_batch_answers_in_order_and_a_bad_item_does_not_stop_the_others() {
    let (_dir, server, sink) = start();
    let items = json!([
        // Python: canonical names, explicit nulls.
        {
            "destination": sink.url("/py"),
            "headers": {
                "Content-Type": "text/plain",
                "Upstash-Method": "PUT",
                "Upstash-Forward-Origin": "python"
            },
            "body": "from python",
            "queue": null
        },
        { "destination": "example.com/no-scheme", "body": "lost" },
        // JS: lower-case names, no queue key.
        {
            "destination": sink.url("/js"),
            "headers": {
                "content-type": "application/json",
                "upstash-method": "PATCH",
                "upstash-forward-origin": "js",
                "upstash-telemetry-sdk": "upstash-qstash-js@2.12.0"
            },
            "body": "{\"n\":2}"
        },
        {
            "destination": sink.url("/bad-header"),
            "headers": { "Upstash-Retries": "lots" },
            "body": null,
            "queue": null
        },
        { "destination": sink.url("/empty"), "body": null, "queue": null },
        { "destination": sink.url("/queued"), "headers": {}, "body": "q", "queue": "batch-q" }
    ]);
    let (status, out) = call(
        &server,
        "POST",
        "/v2/batch",
        &[("Content-Type", "application/json")],
        items.to_string().as_bytes(),
    );
    assert!((200..300).contains(&status), "{status} {out}");
    let out = out.as_array().expect("an array").clone();
    assert_eq!(out.len(), 6, "one element per item: {out:?}");
    let ok = [0, 2, 4, 5];
    for i in ok {
        assert!(
            out[i]["messageId"]
                .as_str()
                .is_some_and(|m| m.starts_with("msg_")),
            "{out:?}"
        );
        assert!(out[i].get("error").is_none());
        assert_eq!(out[i]["url"], items[i]["destination"]);
    }
    for (i, needle) in [(1, "invalid destination url"), (3, "Upstash-Retries")] {
        let e = out[i]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{out:?}"));
        assert!(e.contains(needle), "{e}");
        assert!(e.contains(&format!("item {i}")), "{e}");
        assert!(out[i].get("messageId").is_none());
    }
    let id = |i: usize| out[i]["messageId"].as_str().unwrap().to_owned();

    let py = sink.wait_for("/py", 1, WAIT);
    assert_eq!(py[0].method, "PUT");
    assert_eq!(&py[0].body[..], b"from python");
    assert_eq!(py[0].header("content-type"), Some("text/plain"));
    assert_eq!(py[0].header("origin"), Some("python"));
    assert_eq!(py[0].header("upstash-message-id"), Some(id(0).as_str()));
    let js = sink.wait_for("/js", 1, WAIT);
    assert_eq!(js[0].method, "PATCH");
    assert_eq!(&js[0].body[..], br#"{"n":2}"#);
    assert_eq!(js[0].header("content-type"), Some("application/json"));
    assert_eq!(js[0].header("origin"), Some("js"));
    assert!(js[0]
        .headers
        .keys()
        .all(|k| !k.as_str().contains("telemetry")));
    let empty = sink.wait_for("/empty", 1, WAIT);
    assert_eq!(empty[0].method, "POST");
    assert!(empty[0].body.is_empty());
    let queued = sink.wait_for("/queued", 1, WAIT);
    assert_eq!(&queued[0].body[..], b"q");
    for i in ok {
        wait_for_state(&server, &id(i), "DELIVERED");
    }
    let (log, _) = events(&server, &format!("messageId={}&state=CREATED", id(5)));
    assert_eq!(log[0]["queueName"], "batch-q");
    // The bad items stored nothing.
    let (log, _) = events(&server, "count=1000");
    assert_eq!(
        log.len(),
        12,
        "three entries for each of the four good items"
    );
    assert!(sink.received("/bad-header").is_empty());
}

// ------------------------------------------------------------- bad input

#[test]
fn bad_input_is_a_4xx_that_names_the_problem_and_stores_nothing() {
    let (_dir, server, sink) = start_with(ServerOptions::default().arg("--max-body").arg("100"));
    // One waiting message: no bad bulk request may cancel it.
    let keep = publish(&server, &sink.url("/keep"), &[("Upstash-Delay", "1h")], b"");
    let url = sink.url("/x");

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let publish_cases: &[Case] = &[
        (
            &[("Upstash-Delay", "tomorrow")],
            &["Upstash-Delay", "tomorrow"],
        ),
        (&[("Upstash-Delay", "-5s")], &["Upstash-Delay", "negative"]),
        (
            &[("Upstash-Not-Before", "soon")],
            &["Upstash-Not-Before", "soon"],
        ),
        (
            &[("Upstash-Retry-Delay", "1000 *")],
            &["Upstash-Retry-Delay"],
        ),
        (
            &[("Upstash-Retry-Delay", "fib(retried)")],
            &["Upstash-Retry-Delay", "fib"],
        ),
        (
            &[("Upstash-Retry-Delay", "1000 * tries")],
            &["Upstash-Retry-Delay", "tries"],
        ),
        (
            &[("Upstash-Callback", "not-a-url")],
            &["Upstash-Callback", "http"],
        ),
        (
            &[("Upstash-Failure-Callback", "ftp://example.com/x")],
            &["Upstash-Failure-Callback"],
        ),
        (
            &[("Upstash-Callback-Retries", "x")],
            &["Upstash-Callback-Retries"],
        ),
        (&[("Upstash-Timeout", "0s")], &["Upstash-Timeout"]),
        (&[("Upstash-Retries", "-1")], &["Upstash-Retries", "-1"]),
        (&[("Upstash-Method", "TRACE")], &["Upstash-Method", "TRACE"]),
        (
            &[("Upstash-Content-Based-Deduplication", "maybe")],
            &["Upstash-Content-Based-Deduplication"],
        ),
        (
            &[("Upstash-Header-Forward", "yes")],
            &["Upstash-Header-Forward", "yes"],
        ),
        (&[("Upstash-Label", "a b")], &["Upstash-Label"]),
    ];
    for (headers, needles) in publish_cases {
        let (status, json) = call(&server, "POST", &format!("/v2/publish/{url}"), headers, b"");
        assert_eq!(status, 400, "{headers:?}: {json}");
        // Header names are case-insensitive: any spelling names the header.
        let error = json["error"].as_str().unwrap_or_else(|| panic!("{json}"));
        for n in *needles {
            assert!(
                error.to_lowercase().contains(&n.to_lowercase()),
                "error {error:?} does not mention {n:?}"
            );
        }
    }
    // The query forms are checked the same way.
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{url}?upstash-delay=soon"),
        &[],
        b"",
    );
    assert_error(status, &json, 400, &["Upstash-Delay", "soon"]);
    let (status, json) = call(&server, "POST", "/v2/publish/example.com/x", &[], b"");
    assert_error(status, &json, 400, &["invalid destination url", "http://"]);
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{url}"),
        &[],
        &[b'x'; 101],
    );
    assert_error(status, &json, 413, &["100 bytes"]);
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/enqueue/bad!name/{url}"),
        &[],
        b"",
    );
    assert_error(status, &json, 400, &["queue name", "!"]);

    // Unknown ids.
    for (method, path) in [
        ("GET", "/v2/messages/msg_nope"),
        ("DELETE", "/v2/messages/msg_nope"),
        ("GET", "/v2/dlq/1-1"),
        ("DELETE", "/v2/dlq/1-1"),
        ("POST", "/v2/dlq/retry/1-1"),
    ] {
        let (status, json) = call(&server, method, path, &[], b"");
        let id = path.rsplit('/').next().unwrap();
        assert_error(status, &json, 404, &[id]);
    }

    // Malformed bodies.
    let as_json = [("Content-Type", "application/json")];
    type BodyCase<'a> = (&'a str, &'a str, &'a [u8], u16, &'a [&'a str]);
    let body_cases: &[BodyCase] = &[
        ("POST", "/v2/batch", b"[{", 400, &["JSON array"]),
        (
            "POST",
            "/v2/batch",
            br#"{"destination":"http://127.0.0.1:9/"}"#,
            400,
            &["JSON array"],
        ),
        ("POST", "/v2/batch", &[b' '; 101], 413, &["100 bytes"]),
        ("DELETE", "/v2/messages", b"{not json", 400, &["JSON"]),
        (
            "DELETE",
            "/v2/messages",
            br#"{"messageIds":"a"}"#,
            400,
            &["messageIds"],
        ),
        ("DELETE", "/v2/messages", &[b' '; 101], 413, &["100 bytes"]),
        ("DELETE", "/v2/dlq", b"{", 400, &["JSON"]),
        (
            "DELETE",
            "/v2/dlq",
            br#"{"dlqIds":[1,2]}"#,
            400,
            &["dlqIds"],
        ),
        (
            "POST",
            "/v2/dlq/retry",
            br#"{"dlqIds":"x"}"#,
            400,
            &["dlqIds"],
        ),
    ];
    for (method, path, body, want, needles) in body_cases {
        let (status, json) = call(&server, method, path, &as_json, body);
        assert_error(status, &json, *want, needles);
    }

    // Bad query values.
    let query_cases: &[(&str, &str, &[&str])] = &[
        ("GET", "/v2/events?count=0", &["count"]),
        ("GET", "/v2/events?count=many", &["count", "many"]),
        ("GET", "/v2/events?count=1001", &["count", "1001"]),
        (
            "GET",
            "/v2/events?cursor=yesterday",
            &["cursor", "yesterday"],
        ),
        ("GET", "/v2/events?state=CANCELLED", &["state", "CANCELLED"]),
        ("GET", "/v2/logs?state=DONE", &["state", "DONE"]),
        ("GET", "/v2/events?fromDate=monday", &["fromDate", "monday"]),
        ("GET", "/v2/dlq?count=101", &["count", "101"]),
        ("GET", "/v2/dlq?cursor=abc", &["cursor", "abc"]),
        (
            "GET",
            "/v2/dlq?responseStatus=teapot",
            &["responseStatus", "teapot"],
        ),
        ("DELETE", "/v2/messages?count=0", &["count"]),
        ("DELETE", "/v2/messages?toDate=later", &["toDate", "later"]),
        ("DELETE", "/v2/dlq?cursor=abc", &["cursor"]),
        ("POST", "/v2/dlq/retry?count=-1", &["count"]),
    ];
    for (method, path, needles) in query_cases {
        let (status, json) = call(&server, method, path, &[], b"");
        assert_error(status, &json, 400, needles);
    }
    let (status, json) = call(
        &server,
        "POST",
        "/v2/dlq/retry",
        &[("Upstash-Retries", "many")],
        b"",
    );
    assert_error(status, &json, 400, &["Upstash-Retries", "many"]);

    // Nothing stored, nothing cancelled, nothing sent.
    assert!(pending(&server, &keep));
    assert_eq!(states(&server, &keep), ["CREATED"]);
    assert_eq!(events(&server, "").0.len(), 1);
    assert_eq!(rows(&server.db, "messages"), 1);
    assert_eq!(rows(&server.db, "dlq"), 0);
    assert!(sink.received("/x").is_empty());
}
