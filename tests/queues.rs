//! Queues (§4.2, §4.6, §6.4, §9.5): first in, first out; at most
//! `parallelism` of a queue's messages active, each holding its place
//! through its retries; a paused queue stores and delivers nothing until
//! resumed; `lag` is exact; deleting a queue cancels what it still holds;
//! all of it survives a kill -9. Seen at a real sink, against the real
//! binary or the app in-process on a manual clock where time matters.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::api::{assert_error, call, create_schedule, states, wait_for_retry};
use common::inproc::InProcess;
use common::sink::Sink;
use common::wait::{wait_until, WAIT};
use common::{ServerProcess, Target};

/// `POST /v2/queues` with `body`; panics unless 200.
fn upsert<S: Target>(server: &S, body: Value) {
    let (status, json) = call(
        server,
        "POST",
        "/v2/queues",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "upsert {body}: {json}");
}

/// Enqueues `body` to `url` through `queue`; the message id.
fn enqueue<S: Target>(server: &S, queue: &str, url: &str, body: &str) -> String {
    let (status, json) = call(
        server,
        "POST",
        &format!("/v2/enqueue/{queue}/{url}"),
        &[],
        body.as_bytes(),
    );
    assert_eq!(status, 201, "enqueue to {queue}: {json}");
    json["messageId"].as_str().unwrap().to_owned()
}

fn queue<S: Target>(server: &S, name: &str) -> Value {
    let (status, json) = call(server, "GET", &format!("/v2/queues/{name}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    json
}

fn post<S: Target>(server: &S, path: &str) {
    let (status, json) = call(server, "POST", path, &[], b"");
    assert_eq!(status, 200, "{path}: {json}");
}

fn lag<S: Target>(server: &S, name: &str) -> u64 {
    queue(server, name)["lag"].as_u64().expect("lag")
}

fn wait_for_lag<S: Target>(server: &S, name: &str, want: u64) {
    wait_until(WAIT, &format!("{name} to have lag {want}"), || {
        (lag(server, name) == want).then_some(())
    });
}

/// The bodies `path` received, in arrival order.
fn bodies(sink: &Sink, path: &str) -> Vec<String> {
    sink.received(path)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i}")).collect()
}

fn start() -> (tempfile::TempDir, ServerProcess, Sink) {
    common::start()
}

#[test]
fn messages_of_a_queue_arrive_one_at_a_time_in_enqueue_order() {
    let (_dir, server, sink) = start();
    // Held briefly, so a second message sent too early would overlap.
    sink.answer_after("/fifo", 200, &[], Duration::from_millis(50));
    let sent = numbered(8);
    for body in &sent {
        enqueue(&server, "fifo", &sink.url("/fifo"), body);
    }
    sink.wait_for("/fifo", sent.len(), WAIT);
    assert_eq!(bodies(&sink, "/fifo"), sent);
    assert_eq!(sink.max_concurrent("/fifo"), 1, "parallelism 1");
    wait_for_lag(&server, "fifo", 0);
}

#[test]
fn parallelism_n_keeps_n_deliveries_in_flight_and_never_more() {
    let (_dir, server, sink) = start();
    sink.answer_after("/wide", 200, &[], Duration::from_millis(600));
    // Paused while filling, so all nine wait and resume admits three at once.
    upsert(
        &server,
        json!({"queueName": "wide", "parallelism": 3, "paused": true}),
    );
    for body in numbered(9) {
        enqueue(&server, "wide", &sink.url("/wide"), &body);
    }
    post(&server, "/v2/queues/wide/resume");
    sink.wait_for("/wide", 9, WAIT);
    wait_for_lag(&server, "wide", 0);
    assert_eq!(sink.received("/wide").len(), 9);
    assert_eq!(sink.max_concurrent("/wide"), 3);
}

#[test]
fn raising_parallelism_by_upsert_admits_more_at_once() {
    let (_dir, server, sink) = start();
    sink.answer_after("/grow", 200, &[], Duration::from_millis(800));
    upsert(&server, json!({"queueName": "grow", "parallelism": 1}));
    for body in numbered(6) {
        enqueue(&server, "grow", &sink.url("/grow"), &body);
    }
    sink.wait_for("/grow", 1, WAIT);
    upsert(&server, json!({"queueName": "grow", "parallelism": 3}));
    assert_eq!(queue(&server, "grow")["parallelism"], 3);
    sink.wait_for("/grow", 6, WAIT);
    wait_for_lag(&server, "grow", 0);
    assert_eq!(sink.max_concurrent("/grow"), 3);
}

#[test]
fn lowering_parallelism_lets_the_active_finish_and_then_admits_fewer() {
    let (_dir, server, sink) = start();
    let hold = Duration::from_millis(1000);
    sink.answer_after("/before", 200, &[], hold);
    sink.answer_after("/after", 200, &[], hold);
    upsert(
        &server,
        json!({"queueName": "shrink", "parallelism": 3, "paused": true}),
    );
    for body in numbered(3) {
        enqueue(&server, "shrink", &sink.url("/before"), &body);
    }
    for body in numbered(3) {
        enqueue(&server, "shrink", &sink.url("/after"), &body);
    }
    post(&server, "/v2/queues/shrink/resume");
    sink.wait_for("/before", 3, WAIT);
    // All three places are taken for `hold`: lower the limit meanwhile.
    upsert(&server, json!({"queueName": "shrink", "parallelism": 1}));
    sink.wait_for("/after", 3, WAIT);
    wait_for_lag(&server, "shrink", 0);
    assert_eq!(sink.max_concurrent("/before"), 3);
    assert_eq!(
        sink.max_concurrent("/after"),
        1,
        "one at a time once lowered"
    );
    assert_eq!(bodies(&sink, "/after"), numbered(3));
}

#[test]
fn a_paused_queue_stores_and_delivers_nothing_until_resumed_then_all_in_order() {
    let (_dir, server, sink) = start();
    upsert(&server, json!({"queueName": "held", "paused": true}));
    let sent = numbered(5);
    for body in &sent {
        enqueue(&server, "held", &sink.url("/held"), body);
    }
    sink.assert_stays("/held", 0, "the queue is paused");
    let q = queue(&server, "held");
    assert_eq!(
        (q["paused"].clone(), q["lag"].clone()),
        (json!(true), json!(5))
    );

    post(&server, "/v2/queues/held/resume");
    sink.wait_for("/held", sent.len(), WAIT);
    assert_eq!(bodies(&sink, "/held"), sent);
    assert_eq!(queue(&server, "held")["paused"], false);
    wait_for_lag(&server, "held", 0);
}

#[test]
fn pause_and_resume_are_idempotent() {
    let server = InProcess::start();
    upsert(&server, json!({"queueName": "idem"}));
    server.advance(Duration::from_secs(1));
    post(&server, "/v2/queues/idem/pause");
    let paused = queue(&server, "idem");
    server.advance(Duration::from_secs(1));
    post(&server, "/v2/queues/idem/pause");
    assert_eq!(
        queue(&server, "idem"),
        paused,
        "a second pause changes nothing"
    );
    post(&server, "/v2/queues/idem/resume");
    let resumed = queue(&server, "idem");
    assert_eq!(resumed["paused"], false);
    server.advance(Duration::from_secs(1));
    post(&server, "/v2/queues/idem/resume");
    assert_eq!(queue(&server, "idem"), resumed);
}

#[test]
fn lag_counts_exactly_the_queues_unfinished_messages() {
    let (_dir, server, sink) = start();
    upsert(&server, json!({"queueName": "lagging", "paused": true}));
    upsert(&server, json!({"queueName": "other", "paused": true}));
    assert_eq!(lag(&server, "lagging"), 0);
    let ids: Vec<String> = numbered(3)
        .iter()
        .map(|b| enqueue(&server, "lagging", &sink.url("/lag"), b))
        .collect();
    enqueue(&server, "other", &sink.url("/other"), "x");
    assert_eq!(lag(&server, "lagging"), 3);
    assert_eq!(lag(&server, "other"), 1);

    let (status, json) = call(
        &server,
        "DELETE",
        &format!("/v2/messages/{}", ids[1]),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        lag(&server, "lagging"),
        2,
        "a cancelled message is finished"
    );

    post(&server, "/v2/queues/lagging/resume");
    sink.wait_for("/lag", 2, WAIT);
    wait_for_lag(&server, "lagging", 0);
    assert_eq!(bodies(&sink, "/lag"), ["m0", "m2"]);
    assert_eq!(lag(&server, "other"), 1, "another queue's messages stay");
    let (status, list) = call(&server, "GET", "/v2/queues", &[], b"");
    assert_eq!(status, 200);
    let lags: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["name"].as_str().unwrap().into(),
                q["lag"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lags, [("lagging".into(), 0), ("other".into(), 1)]);
}

#[test]
fn the_next_message_waits_for_the_retries_of_the_one_before() {
    let server = InProcess::start();
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);
    let retried = [("Upstash-Retries", "1"), ("Upstash-Retry-Delay", "1000")];
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/enqueue/strict/{}", sink.url("/fail")),
        &retried,
        b"first",
    );
    assert_eq!(status, 201, "{json}");
    let first = json["messageId"].as_str().unwrap().to_owned();
    enqueue(&server, "strict", &sink.url("/ok"), "second");

    wait_for_retry(&server, &first, 1);
    sink.assert_stays("/ok", 0, "the first still holds the queue's place");
    server.advance(Duration::from_millis(1000));
    sink.wait_for("/fail", 2, WAIT);
    sink.wait_for("/ok", 1, WAIT);
    assert!(states(&server, &first).contains(&"FAILED".to_owned()));
    assert_eq!(bodies(&sink, "/ok"), ["second"]);
}

#[test]
fn a_paused_queue_starts_no_retry_until_resumed() {
    let server = InProcess::start();
    let sink = Sink::start();
    sink.answer("/flaky", 500, &[]);
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/enqueue/flaky/{}", sink.url("/flaky")),
        &[("Upstash-Retries", "2"), ("Upstash-Retry-Delay", "1000")],
        b"",
    );
    assert_eq!(status, 201, "{json}");
    let id = json["messageId"].as_str().unwrap().to_owned();
    wait_for_retry(&server, &id, 1);

    post(&server, "/v2/queues/flaky/pause");
    server.advance(Duration::from_secs(5));
    sink.assert_stays("/flaky", 1, "the retry is due, but the queue is paused");
    assert_eq!(lag(&server, "flaky"), 1);

    sink.answer("/flaky", 200, &[]);
    post(&server, "/v2/queues/flaky/resume");
    sink.wait_for("/flaky", 2, WAIT);
    wait_for_lag(&server, "flaky", 0);
    assert_eq!(sink.received("/flaky").len(), 2);
}

#[test]
fn a_kill_9_keeps_a_paused_queues_messages_paused_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    let mut first = ServerProcess::start(&db);
    upsert(
        &first,
        json!({"queueName": "durable", "parallelism": 2, "paused": true}),
    );
    let sent = numbered(6);
    for body in &sent {
        enqueue(&first, "durable", &sink.url("/durable"), body);
    }
    first.kill9();

    let second = ServerProcess::start(&db);
    sink.assert_stays("/durable", 0, "still paused after the restart");
    let q = queue(&second, "durable");
    assert_eq!(
        (
            q["paused"].clone(),
            q["parallelism"].clone(),
            q["lag"].clone()
        ),
        (json!(true), json!(2), json!(6))
    );

    // One at a time, so the arrival order is the delivery order.
    upsert(
        &second,
        json!({"queueName": "durable", "parallelism": 1, "paused": false}),
    );
    sink.wait_for("/durable", sent.len(), WAIT);
    assert_eq!(bodies(&sink, "/durable"), sent);
    wait_for_lag(&second, "durable", 0);
}

#[test]
fn deleting_a_queue_cancels_its_messages_with_log_entries() {
    let (_dir, server, sink) = start();
    upsert(&server, json!({"queueName": "doomed", "paused": true}));
    let ids: Vec<String> = numbered(3)
        .iter()
        .map(|b| enqueue(&server, "doomed", &sink.url("/doomed"), b))
        .collect();

    let (status, json) = call(&server, "DELETE", "/v2/queues/doomed", &[], b"");
    assert_eq!((status, json), (200, json!({"cancelled": 3})));
    let (status, json) = call(&server, "GET", "/v2/queues/doomed", &[], b"");
    assert_error(status, &json, 404, &["doomed"]);
    for id in &ids {
        assert_eq!(states(&server, id)[..2], ["CANCELED", "CANCEL_REQUESTED"]);
    }
    sink.assert_stays("/doomed", 0, "cancelled, never delivered");

    // The name is free again: a new enqueue makes a fresh queue.
    enqueue(&server, "doomed", &sink.url("/doomed"), "again");
    sink.wait_for("/doomed", 1, WAIT);
    assert_eq!(bodies(&sink, "/doomed"), ["again"]);
    let q = queue(&server, "doomed");
    assert_eq!(
        (q["parallelism"].clone(), q["paused"].clone()),
        (json!(1), json!(false))
    );
}

#[test]
fn a_schedule_with_a_queue_name_enqueues_what_it_fires() {
    let server = InProcess::start();
    let sink = Sink::start();
    upsert(&server, json!({"queueName": "nightly", "paused": true}));
    create_schedule(
        &server,
        &sink.url("/sched"),
        &[
            ("Upstash-Cron", "* * * * *"),
            ("Upstash-Queue-Name", "nightly"),
        ],
        b"tick",
    );
    server.advance(Duration::from_secs(60));
    wait_for_lag(&server, "nightly", 1);
    sink.assert_stays("/sched", 0, "the fired message waits in the paused queue");
    post(&server, "/v2/queues/nightly/resume");
    let got = sink.wait_for("/sched", 1, WAIT);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].body[..], b"tick");
    wait_for_lag(&server, "nightly", 0);
}

#[test]
fn upsert_creates_then_replaces_the_settings_and_keeps_created_at() {
    let server = InProcess::start();
    let t0 = server.now_ms();
    upsert(&server, json!({"queueName": "shape"}));
    assert_eq!(
        queue(&server, "shape"),
        json!({"name": "shape", "createdAt": t0, "updatedAt": t0,
               "parallelism": 1, "lag": 0, "paused": false})
    );
    server.advance(Duration::from_secs(1));
    upsert(
        &server,
        json!({"queueName": "shape", "parallelism": 5, "paused": true}),
    );
    let (status, list) = call(&server, "GET", "/v2/queues", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([{"name": "shape", "createdAt": t0, "updatedAt": t0 + 1000,
                "parallelism": 5, "lag": 0, "paused": true}])
    );
}

#[test]
fn unknown_queues_are_404_naming_the_queue() {
    let (_dir, server, _sink) = start();
    for (method, path) in [
        ("GET", "/v2/queues/nope"),
        ("DELETE", "/v2/queues/nope"),
        ("POST", "/v2/queues/nope/pause"),
        ("POST", "/v2/queues/nope/resume"),
    ] {
        let (status, json) = call(&server, method, path, &[], b"");
        assert_error(status, &json, 404, &["queue", "nope"]);
    }
    let (status, json) = call(&server, "GET", "/v2/queues", &[], b"");
    assert_eq!((status, json), (200, json!([])));
}

#[test]
fn bad_input_on_every_queue_endpoint_is_a_400_naming_the_field() {
    let (_dir, server, _sink) = start();
    let bodies: [(&str, &[&str]); 9] = [
        ("", &["body"]),
        ("[1]", &["body"]),
        (r#"{"parallelism": 2}"#, &["queueName", "missing"]),
        (r#"{"queueName": "a b"}"#, &["queueName", "' '"]),
        (
            r#"{"queueName": "q", "parallelism": 0}"#,
            &["parallelism", "1 to 1000"],
        ),
        (
            r#"{"queueName": "q", "parallelism": 1001}"#,
            &["parallelism", "1001"],
        ),
        (
            r#"{"queueName": "q", "parallelism": 2.5}"#,
            &["parallelism"],
        ),
        (r#"{"queueName": "q", "paused": "no"}"#, &["paused"]),
        (
            r#"{"queueName": "q", "parallelizm": 2}"#,
            &["parallelizm", "unknown"],
        ),
    ];
    for (body, needles) in bodies {
        let (status, json) = call(&server, "POST", "/v2/queues", &[], body.as_bytes());
        assert_error(status, &json, 400, needles);
    }
    for (method, path) in [
        ("GET", "/v2/queues/a%20b"),
        ("DELETE", "/v2/queues/a%20b"),
        ("POST", "/v2/queues/a%20b/pause"),
        ("POST", "/v2/queues/a%20b/resume"),
    ] {
        let (status, json) = call(&server, method, path, &[], b"");
        assert_error(status, &json, 400, &["queue name", "' '"]);
    }
    let (status, json) = call(&server, "GET", "/v2/queues", &[], b"");
    assert_eq!((status, json), (200, json!([])), "nothing was created");
}
