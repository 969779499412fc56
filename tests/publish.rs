//! Publishing (§4.1): the request the destination receives, delays and
//! not-before (§5.1), header forwarding (§7.2), enqueue into a FIFO queue
//! (§4.2, §9.5) and batches (§4.3).
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! Most tests run the real binary, a real database and a real sink on
//! 127.0.0.1; "one after another" is checked as a lower bound, so it holds
//! on a slow, busy machine. Due times (delays, not-before, a queued
//! message behind a retry) run in-process on the manual clock
//! (`common::inproc`), where "not before" is checked to the millisecond.

mod common;

use std::time::Duration;

use common::api::{assert_error, call, events, publish, states, wait_for_retry, wait_for_state};
use common::inproc::InProcess;
use common::signature::assert_signed;
use common::sink::Sink;
use common::start;
use common::wait::{now_ms, wait_until, WAIT};
use serde_json::{json, Value};

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
    sink.assert_stays("/orders", 1, "delivered once");
}

/// §5.1: `Upstash-Delay` delays the first attempt from the publish,
/// `Upstash-Not-Before` (Unix seconds) pins it and wins over a delay, and
/// both work as query keys, which are not part of the destination. GET and
/// the CREATED entry show the due time; the attempt comes exactly then.
/// In-process on the manual clock.
#[test]
fn delay_not_before_and_their_query_forms_set_the_delivery_time() {
    let p = InProcess::start();
    let sink = Sink::start();
    let t0 = p.now_ms();
    // Upstash-Not-Before is Unix seconds: 3 s from now (t0 is a whole minute).
    let nb_secs = t0 / 1000 + 3;
    let nb = nb_secs.to_string();
    let get = |id: &str| -> Value {
        let (status, m) = call(&p, "GET", &format!("/v2/messages/{id}"), &[], b"");
        assert_eq!(status, 200, "{m}");
        m
    };
    let delayed = publish(&p, &sink.url("/delay"), &[("Upstash-Delay", "2s")], b"d");
    let m = get(&delayed);
    assert_eq!(m["createdAt"], t0);
    assert_eq!(
        m["notBefore"].as_i64().unwrap() - m["createdAt"].as_i64().unwrap(),
        2000
    );
    let pinned = publish(
        &p,
        &sink.url("/not-before"),
        &[("Upstash-Delay", "1h"), ("Upstash-Not-Before", &nb)],
        b"n",
    );
    assert_eq!(get(&pinned)["notBefore"], nb_secs * 1000);
    let by_query = publish(
        &p,
        &format!("{}?upstash-delay=1s&keep=yes", sink.url("/query")),
        &[],
        b"q",
    );
    let nb_by_query = publish(
        &p,
        &format!("{}?upstash-not-before={nb}", sink.url("/query-nb")),
        &[],
        b"qn",
    );

    // The CREATED entry says when the first attempt is due.
    let due = |id: &str| -> (i64, i64) {
        let (log, _) = events(&p, &format!("messageId={id}&state=CREATED"));
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
    assert_eq!(delayed_created, t0);
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

    // Each arrives at its due time, not 1 ms before.
    for (path, at) in [("/query", query_due), ("/delay", delayed_due)] {
        let got = p.expect_arrival_at(&sink, path, at);
        assert_eq!(got.len(), 1, "{path}");
    }
    let pinned_paths = ["/not-before", "/query-nb"];
    p.advance_to(nb_secs * 1000 - 1);
    for path in pinned_paths {
        sink.assert_stays(path, 0, "not before Upstash-Not-Before");
    }
    p.advance_to(nb_secs * 1000);
    for path in pinned_paths {
        assert_eq!(sink.wait_for(path, 1, WAIT).len(), 1, "{path}");
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

/// §9.5: with parallelism 1 the next queued message waits for the one
/// before it to be FAILED or DELIVERED, retries included. In-process on the
/// manual clock: the first message's retry is a minute away, and the second
/// waits that minute out.
#[test]
fn a_queued_message_waits_for_the_retries_of_the_one_before() {
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/first", 500, &[]);
    let t0 = p.now_ms();
    let enqueue = |path: &str, headers: &[(&str, &str)]| -> String {
        let url = sink.url(path);
        let (status, json) = call(&p, "POST", &format!("/v2/enqueue/q1/{url}"), headers, b"");
        assert_eq!(status, 201, "{json}");
        json["messageId"].as_str().unwrap().to_owned()
    };
    let first = enqueue(
        "/first",
        &[("Upstash-Retries", "1"), ("Upstash-Retry-Delay", "60000")],
    );
    let second = enqueue("/second", &[]);

    sink.wait_for("/first", 1, WAIT);
    let retry = wait_for_retry(&p, &first, 1);
    assert_eq!(retry["nextDeliveryTime"], t0 + 60_000, "{retry}");
    sink.assert_stays("/second", 0, "the first is still retrying");
    p.advance_to(t0 + 59_999);
    sink.assert_stays("/second", 0, "the first is still retrying");
    assert_eq!(states(&p, &second), ["CREATED"]);

    // The last attempt fails: the first is done, the second goes.
    let got = p.expect_arrival_at(&sink, "/first", t0 + 60_000);
    assert_eq!(got[1].header("upstash-retried"), Some("1"));
    let got = sink.wait_for("/second", 1, WAIT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("upstash-message-id"), Some(second.as_str()));
    wait_for_state(&p, &second, "DELIVERED");
    let (failed, _) = events(&p, &format!("messageId={first}&state=FAILED"));
    let (active, _) = events(&p, &format!("messageId={second}&state=ACTIVE"));
    assert!(
        active[0]["time"].as_i64() >= failed[0]["time"].as_i64(),
        "{active:?} {failed:?}"
    );
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
