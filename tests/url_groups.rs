//! URL groups (QStash topics): managing endpoints, fanning a publish, an
//! enqueue, a batch item and each schedule firing out to them. In-process
//! app on a manual clock, real sinks on 127.0.0.1, real SQLite. § numbers
//! cite docs/qstash-wire.md.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::api::{
    assert_error, call, create_schedule, dlq, dlq_entry_of, events, wait_for_dlq, wait_for_state,
};
use common::inproc::InProcess;
use common::sink::Sink;
use common::wait::{wait_until, WAIT};

/// How long "nothing arrives" is watched for, in real time.
const QUIET: Duration = Duration::from_millis(300);

fn add(server: &InProcess, group: &str, endpoints: Value) -> (u16, Value) {
    let body = json!({ "endpoints": endpoints }).to_string();
    call(
        server,
        "POST",
        &format!("/v2/topics/{group}/endpoints"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn remove(server: &InProcess, group: &str, endpoints: Value) -> (u16, Value) {
    let body = json!({ "endpoints": endpoints }).to_string();
    call(
        server,
        "DELETE",
        &format!("/v2/topics/{group}/endpoints"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn get(server: &InProcess, group: &str) -> (u16, Value) {
    call(server, "GET", &format!("/v2/topics/{group}"), &[], b"")
}

fn endpoints(group: &Value) -> Value {
    group["endpoints"].clone()
}

fn ok(result: (u16, Value)) -> Value {
    assert_eq!(result.0, 200, "{}", result.1);
    result.1
}

/// A server with group `g` of two sink endpoints, `/a` and `/b`.
fn group_of_a_and_b() -> (InProcess, Sink) {
    let server = InProcess::start();
    let sink = Sink::start();
    ok(add(
        &server,
        "g",
        json!([{"url": sink.url("/a")}, {"url": sink.url("/b")}]),
    ));
    (server, sink)
}

#[test]
fn endpoints_are_upserted_by_name_or_url_and_the_group_is_listed() {
    let server = InProcess::start();
    let t0 = server.now_ms();
    ok(add(
        &server,
        "team",
        json!([{"name": "a", "url": "http://127.0.0.1:1/a"}, {"url": "http://127.0.0.1:1/plain"}]),
    ));
    // The same name again moves endpoint "a" to a new URL, in its place.
    server.advance(Duration::from_secs(5));
    ok(add(
        &server,
        "team",
        json!([{"name": "a", "url": "http://127.0.0.1:1/a2"}, {"url": "http://127.0.0.1:1/plain"}]),
    ));
    let group = ok(get(&server, "team"));
    assert_eq!(group["name"], "team");
    assert_eq!(group["createdAt"], t0);
    assert_eq!(group["updatedAt"], t0 + 5000);
    assert_eq!(
        endpoints(&group),
        json!([{"name": "a", "url": "http://127.0.0.1:1/a2"}, {"url": "http://127.0.0.1:1/plain"}])
    );
    let (status, list) = call(&server, "GET", "/v2/topics", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(list, json!([group]));
}

#[test]
fn a_named_endpoint_takes_the_place_of_an_unnamed_one_with_its_url() {
    let server = InProcess::start();
    ok(add(&server, "g", json!([{"url": "http://127.0.0.1:1/x"}])));
    ok(add(
        &server,
        "g",
        json!([{"name": "x", "url": "http://127.0.0.1:1/x"}]),
    ));
    let group = ok(get(&server, "g"));
    assert_eq!(
        endpoints(&group),
        json!([{"name": "x", "url": "http://127.0.0.1:1/x"}])
    );
}

#[test]
fn endpoints_are_removed_by_name_or_url_and_the_last_one_takes_the_group() {
    let server = InProcess::start();
    ok(add(
        &server,
        "g",
        json!([
            {"name": "a", "url": "http://127.0.0.1:1/a"},
            {"name": "b", "url": "http://127.0.0.1:1/b"},
            {"url": "http://127.0.0.1:1/c"}
        ]),
    ));
    assert_eq!(
        ok(remove(&server, "g", json!([{"name": "a"}])))["removed"],
        1
    );
    assert_eq!(
        ok(remove(
            &server,
            "g",
            json!([{"url": "http://127.0.0.1:1/c"}])
        ))["removed"],
        1
    );
    // An endpoint that is not there is no error and removes nothing.
    assert_eq!(
        ok(remove(&server, "g", json!([{"name": "zzz"}])))["removed"],
        0
    );
    assert_eq!(
        endpoints(&ok(get(&server, "g"))),
        json!([{"name": "b", "url": "http://127.0.0.1:1/b"}])
    );
    ok(remove(
        &server,
        "g",
        json!([{"name": "b", "url": "http://127.0.0.1:1/b"}]),
    ));
    let (status, json) = get(&server, "g");
    assert_error(status, &json, 404, &["URL group", "\"g\""]);
    let (status, json) = remove(&server, "g", json!([{"name": "b"}]));
    assert_error(status, &json, 404, &["\"g\""]);
}

#[test]
fn deleting_a_group_keeps_its_messages_in_flight() {
    let server = InProcess::start();
    let sink = Sink::start();
    ok(add(&server, "g", json!([{"url": sink.url("/late")}])));
    let (status, answer) = call(
        &server,
        "POST",
        "/v2/publish/g",
        &[("Upstash-Delay", "10s")],
        b"x",
    );
    assert_eq!(status, 201, "{answer}");
    let (status, json) = call(&server, "DELETE", "/v2/topics/g", &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_error(get(&server, "g").0, &get(&server, "g").1, 404, &["\"g\""]);
    let (status, json) = call(&server, "DELETE", "/v2/topics/g", &[], b"");
    assert_error(status, &json, 404, &["\"g\""]);
    server.advance(Duration::from_secs(10));
    let got = sink.wait_for("/late", 1, WAIT);
    assert_eq!(got[0].header("upstash-topic-name"), Some("g"));
    assert_eq!(
        got[0].header("upstash-message-id"),
        answer[0]["messageId"].as_str()
    );
}

#[test]
fn a_publish_to_a_group_fans_out_and_a_failing_endpoint_alone_goes_to_the_dlq() {
    let server = InProcess::start();
    let sink = Sink::start();
    sink.answer("/bad", 500, &[]);
    ok(add(
        &server,
        "fan",
        json!([
            {"name": "one", "url": sink.url("/one")},
            {"url": sink.url("/two")},
            {"name": "bad", "url": sink.url("/bad")}
        ]),
    ));
    let (status, answer) = call(
        &server,
        "POST",
        "/v2/publish/fan",
        &[("Upstash-Retries", "0"), ("Content-Type", "text/plain")],
        b"hello",
    );
    assert_eq!(status, 201, "{answer}");
    let answer = answer
        .as_array()
        .expect("an array, one element per endpoint");
    let urls: Vec<&str> = answer.iter().map(|a| a["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [sink.url("/one"), sink.url("/two"), sink.url("/bad")]);
    let ids: Vec<&str> = answer
        .iter()
        .map(|a| a["messageId"].as_str().unwrap())
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);

    for (path, id) in [("/one", ids[0]), ("/two", ids[1])] {
        let got = sink.wait_for(path, 1, WAIT);
        assert_eq!(got[0].header("upstash-topic-name"), Some("fan"), "{path}");
        assert_eq!(got[0].header("upstash-message-id"), Some(id), "{path}");
        assert_eq!(&got[0].body[..], b"hello");
        wait_for_state(&server, id, "DELIVERED");
    }
    let entries = wait_for_dlq(&server, &[ids[2]]);
    assert_eq!(entries.len(), 1, "only the failing endpoint: {entries:?}");
    let entry = dlq_entry_of(&entries, ids[2]);
    assert_eq!(entry["topicName"], "fan");
    assert_eq!(entry["endpointName"], "bad");
    assert_eq!(entry["url"], sink.url("/bad"));
    assert_eq!(entry["responseStatus"], 500);

    // The log shows the group and the endpoint, and filters by group.
    let (log, _) = events(&server, &format!("messageId={}", ids[0]));
    assert!(log.iter().all(|e| e["topicName"] == "fan"), "{log:?}");
    assert!(log.iter().all(|e| e["endpointName"] == "one"), "{log:?}");
    let (unnamed, _) = events(&server, &format!("messageId={}", ids[1]));
    assert!(unnamed.iter().all(|e| e.get("endpointName").is_none()));
    let (by_group, _) = events(&server, "topicName=fan&state=DELIVERED");
    assert_eq!(by_group.len(), 2, "{by_group:?}");
    let (none, _) = dlq(&server, "topicName=other");
    assert!(none.is_empty());
}

#[test]
fn a_publish_to_a_group_that_does_not_exist_is_404_and_stores_nothing() {
    let server = InProcess::start();
    let (status, json) = call(&server, "POST", "/v2/publish/nobody", &[], b"x");
    assert_error(status, &json, 404, &["URL group", "\"nobody\""]);
    let (log, _) = events(&server, "");
    assert!(log.is_empty(), "{log:?}");
}

#[test]
fn an_enqueue_to_a_group_queues_one_message_per_endpoint() {
    let (server, sink) = group_of_a_and_b();
    let (status, answer) = call(&server, "POST", "/v2/enqueue/jobs/g", &[], b"x");
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
    for (i, path) in ["/a", "/b"].iter().enumerate() {
        let got = sink.wait_for(path, 1, WAIT);
        assert_eq!(got[0].header("upstash-topic-name"), Some("g"));
        let id = answer[i]["messageId"].as_str().unwrap();
        let (log, _) = events(&server, &format!("messageId={id}"));
        assert!(!log.is_empty(), "no events for {id}");
        assert!(log.iter().all(|e| e["queueName"] == "jobs"), "{log:?}");
    }
}

#[test]
fn a_batch_item_to_a_group_answers_a_nested_array_in_its_place() {
    let (server, sink) = group_of_a_and_b();
    let batch = json!([
        {"destination": sink.url("/single"), "body": "1"},
        {"destination": "g", "body": "2"},
        {"destination": "missing", "body": "3"},
    ])
    .to_string();
    let (status, answer) = call(
        &server,
        "POST",
        "/v2/batch",
        &[("Content-Type", "application/json")],
        batch.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["url"], sink.url("/single"));
    let nested = answer[1].as_array().expect("a nested array");
    assert_eq!(nested.len(), 2);
    assert_eq!(nested[0]["url"], sink.url("/a"));
    assert_eq!(nested[1]["url"], sink.url("/b"));
    assert!(
        answer[2]["error"].as_str().unwrap().contains("\"missing\""),
        "{answer}"
    );
    for path in ["/single", "/a", "/b"] {
        sink.wait_for(path, 1, WAIT);
    }
}

#[test]
fn a_deduplication_id_applies_to_each_endpoint_message() {
    let server = InProcess::start();
    let sink = Sink::start();
    ok(add(
        &server,
        "g",
        json!([{"name": "a", "url": sink.url("/a")}]),
    ));
    let dedup = [("Upstash-Deduplication-Id", "once")];
    let (status, first) = call(&server, "POST", "/v2/publish/g", &dedup, b"x");
    assert_eq!(status, 201, "{first}");
    // Endpoint "b" joins: a repeat is a duplicate for "a" and new for "b".
    ok(add(
        &server,
        "g",
        json!([{"name": "b", "url": sink.url("/b")}]),
    ));
    let (status, again) = call(&server, "POST", "/v2/publish/g", &dedup, b"x");
    assert_eq!(status, 201, "{again}");
    assert_eq!(again[0]["messageId"], first[0]["messageId"]);
    assert_eq!(again[0]["deduplicated"], true);
    assert!(again[1].get("deduplicated").is_none(), "{again}");
    let (status, third) = call(&server, "POST", "/v2/publish/g", &dedup, b"x");
    assert_eq!(
        status, 202,
        "every endpoint's message is a duplicate: {third}"
    );
    sink.wait_for("/a", 1, WAIT);
    sink.wait_for("/b", 1, WAIT);
    std::thread::sleep(QUIET);
    assert_eq!(sink.received("/a").len(), 1);
}

#[test]
fn a_schedule_to_a_group_reads_its_endpoints_at_each_firing() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    ok(add(&server, "g", json!([{"url": sink.url("/first")}])));
    let id = create_schedule(&server, "g", &[("Upstash-Cron", "* * * * *")], b"tick");
    let (_, schedule) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert_eq!(schedule["destination"], "g");
    ok(add(
        &server,
        "g",
        json!([{"name": "late", "url": sink.url("/added")}]),
    ));
    server.advance_to(t0 + 60_000);
    let first = sink.wait_for("/first", 1, WAIT);
    let added = sink.wait_for("/added", 1, WAIT);
    for got in [&first[0], &added[0]] {
        assert_eq!(got.header("upstash-topic-name"), Some("g"));
        assert_eq!(got.header("upstash-schedule-id"), Some(id.as_str()));
        assert_eq!(&got.body[..], b"tick");
    }
    let states = wait_until(WAIT, "both messages of the run to succeed", || {
        let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
        let states = s["lastScheduleStates"].as_object().cloned()?;
        (states.len() == 2 && states.values().all(|v| v == "SUCCESS")).then_some(states)
    });
    let ids: Vec<&str> = [&first[0], &added[0]]
        .iter()
        .map(|r| r.header("upstash-message-id").unwrap())
        .collect();
    for m in ids {
        assert!(states.contains_key(m), "{states:?} lacks {m}");
    }
}

#[test]
fn a_schedule_whose_group_is_gone_creates_nothing_says_why_and_keeps_its_slots() {
    let server = InProcess::start();
    let sink = Sink::start();
    let t0 = server.now_ms();
    ok(add(&server, "g", json!([{"url": sink.url("/x")}])));
    let id = create_schedule(&server, "g", &[("Upstash-Cron", "* * * * *")], b"");
    let (status, _) = call(&server, "DELETE", "/v2/topics/g", &[], b"");
    assert_eq!(status, 200);
    server.advance_to(t0 + 60_000);
    let schedule = wait_until(WAIT, "the firing to record its error", || {
        let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
        (s["lastScheduleTime"] == t0 + 60_000).then_some(s)
    });
    let error = schedule["error"].as_str().expect("an error field");
    assert!(
        error.contains("\"g\"") && error.contains("not found"),
        "{error}"
    );
    assert_eq!(schedule["lastScheduleStates"], json!({}));
    assert_eq!(schedule["nextScheduleTime"], t0 + 120_000);
    std::thread::sleep(QUIET);
    assert!(sink.received("/x").is_empty());

    // The group comes back: the next firing reaches it and clears the error.
    ok(add(&server, "g", json!([{"url": sink.url("/x")}])));
    server.advance_to(t0 + 120_000);
    sink.wait_for("/x", 1, WAIT);
    let (_, s) = call(&server, "GET", &format!("/v2/schedules/{id}"), &[], b"");
    assert!(s.get("error").is_none(), "{s}");
    assert_eq!(
        s["lastScheduleStates"].as_object().map(|o| o.len()),
        Some(1)
    );
}

#[test]
fn bad_endpoint_requests_are_refused_naming_the_field() {
    let server = InProcess::start();
    let url = "http://127.0.0.1:1/x";
    let cases: Vec<(&str, &str, String, &[&str])> = vec![
        ("POST", "bad*name", json!({"endpoints": [{"url": url}]}).to_string(), &["name", "bad*name"]),
        ("POST", "g", "not json".into(), &["JSON"]),
        ("POST", "g", json!({}).to_string(), &["endpoints", "missing"]),
        ("POST", "g", json!({"endpoints": {}}).to_string(), &["endpoints", "array"]),
        ("POST", "g", json!({"endpoints": []}).to_string(), &["endpoints", "at least one"]),
        ("POST", "g", json!({"endpoints": [{"url": url}, {"name": "n"}]}).to_string(), &["endpoints[1].url", "missing"]),
        ("POST", "g", json!({"endpoints": [{"url": "ftp://x"}]}).to_string(), &["endpoints[0].url", "http"]),
        ("POST", "g", json!({"endpoints": [{"url": "example.com"}]}).to_string(), &["endpoints[0].url"]),
        ("POST", "g", json!({"endpoints": [{"url": 5}]}).to_string(), &["endpoints[0].url", "string"]),
        ("POST", "g", json!({"endpoints": [{"url": url, "name": "a b"}]}).to_string(), &["endpoints[0].name"]),
        ("POST", "g", json!({"endpoints": [{"url": url, "nmae": "a"}]}).to_string(), &["endpoints[0].nmae", "unknown"]),
        ("POST", "g", json!({"endpoints": ["x"]}).to_string(), &["endpoints[0]", "object"]),
        (
            "POST",
            "g",
            json!({"endpoints": [{"name": "a", "url": url}, {"name": "a", "url": "http://127.0.0.1:1/y"}]}).to_string(),
            &["endpoints[1]", "twice"],
        ),
        ("POST", "g", json!({"endpoints": [{"url": url}, {"url": url}]}).to_string(), &["endpoints[1]", "twice"]),
        ("DELETE", "g", json!({"endpoints": [{}]}).to_string(), &["endpoints[0]", "name or url"]),
        ("DELETE", "g", json!({"endpoints": []}).to_string(), &["endpoints", "at least one"]),
        ("DELETE", "g", "".into(), &["JSON"]),
    ];
    for (method, group, body, needles) in cases {
        let (status, json) = call(
            &server,
            method,
            &format!("/v2/topics/{group}/endpoints"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_error(status, &json, 400, needles);
    }
    // Nothing was created by any of them.
    let (_, list) = call(&server, "GET", "/v2/topics", &[], b"");
    assert_eq!(list, json!([]));
    let (status, json) = get(&server, "nothing");
    assert_error(status, &json, 404, &["\"nothing\""]);
}

#[test]
fn a_destination_that_is_neither_a_url_nor_a_group_name_is_refused() {
    let server = InProcess::start();
    for path in [
        "/v2/publish/not*a-name",
        "/v2/enqueue/q/not*a-name",
        "/v2/schedules/not*a-name",
    ] {
        let (status, json) = call(&server, "POST", path, &[("Upstash-Cron", "* * * * *")], b"");
        assert_error(
            status,
            &json,
            400,
            &["invalid destination", "URL group name"],
        );
    }
}

#[test]
fn running_a_group_schedule_by_hand_fans_out_too() {
    let (server, sink) = group_of_a_and_b();
    let id = create_schedule(&server, "g", &[("Upstash-Cron", "0 0 1 1 *")], b"now");
    let (status, json) = call(
        &server,
        "POST",
        &format!("/cronhook/v1/schedules/{id}/trigger"),
        &[],
        b"",
    );
    assert_eq!(status, 201, "{json}");
    let a = sink.wait_for("/a", 1, WAIT);
    let b = sink.wait_for("/b", 1, WAIT);
    assert_eq!(
        a[0].header("upstash-message-id"),
        json["messageId"].as_str()
    );
    assert_eq!(b[0].header("upstash-topic-name"), Some("g"));
    // Without its group a run by hand is refused and creates nothing.
    call(&server, "DELETE", "/v2/topics/g", &[], b"");
    let (status, json) = call(
        &server,
        "POST",
        &format!("/cronhook/v1/schedules/{id}/trigger"),
        &[],
        b"",
    );
    assert_error(status, &json, 404, &["URL group", "\"g\""]);
}

#[test]
fn a_workflow_message_to_a_group_is_refused() {
    let server = InProcess::start();
    ok(add(&server, "g", json!([{"url": "http://127.0.0.1:1/wf"}])));
    let (status, json) = call(
        &server,
        "POST",
        "/v2/publish/g",
        &[
            ("Upstash-Workflow-RunId", "wfr_1"),
            ("Upstash-Workflow-Init", "true"),
        ],
        b"{}",
    );
    assert_error(status, &json, 400, &["destination", "URL group"]);
}
