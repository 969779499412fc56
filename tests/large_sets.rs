//! Listings and bulk calls over more rows than one chunk: `GET /v2/schedules`
//! streams every schedule in order and reads only as fast as its client;
//! a bulk cancel works through several transactions and loses nothing.
//!
//! In-process on the manual clock (`common::inproc`): the schedules are
//! created through the service (thousands of HTTP creates would only slow
//! the test down), listed and cancelled over real HTTP.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::api::{call, events};
use common::inproc::InProcess;
use common::wait::{wait_until, WAIT};
use cronhook::cron::CronSpec;
use cronhook::model::{Delivery, Misfire};
use cronhook::service::{ScheduleRequest, LIST_CHUNK};
use cronhook::store::{CANCEL_CHUNK, DLQ_CHUNK};
use serde_json::{json, Value};

/// A schedule that never fires during a test.
fn request(id: &str, body: &[u8]) -> ScheduleRequest {
    ScheduleRequest {
        destination: format!("https://example.com/{id}"),
        cron: CronSpec::parse("0 0 1 1 *", false).unwrap(),
        schedule_id: Some(id.to_owned()),
        misfire: Misfire::default(),
        delivery: Delivery::default(),
        body: body.to_vec(),
        caller_ip: None,
        start_at: None,
        end_at: None,
    }
}

/// Creates the schedules `ids` through the service, `per_second` at each
/// instant of the manual clock (so `createdAt` both ties and differs).
fn create(p: &InProcess, ids: &[String], per_second: usize, body: &[u8]) {
    for batch in ids.chunks(per_second) {
        p.block_on(async {
            let service = p.app().service();
            let all = batch
                .iter()
                .map(|id| service.create_schedule(request(id, body)));
            for created in futures_util::future::join_all(all).await {
                created.unwrap();
            }
        });
        p.advance(Duration::from_secs(1));
    }
}

#[test]
fn listing_twenty_thousand_schedules_gives_each_once_oldest_first() {
    let p = InProcess::start();
    let n = 20_000;
    // Ids in an order unlike their creation order, so that within one
    // `createdAt` the listing must order by id.
    let ids: Vec<String> = (0..n).map(|i| format!("s-{:05}", (i * 7919) % n)).collect();
    create(&p, &ids, 1_500, b"{\"n\":1}");
    // Every third one paused: the listing merges both halves of its index.
    p.block_on(async {
        let service = p.app().service();
        let paused: Vec<&String> = ids.iter().step_by(3).collect();
        for batch in paused.chunks(1_000) {
            let all = batch.iter().map(|id| service.set_paused(id, true));
            for done in futures_util::future::join_all(all).await {
                done.unwrap();
            }
        }
    });
    assert!(n > 10 * LIST_CHUNK, "more than a few chunks");

    let (status, list) = call(&p, "GET", "/v2/schedules", &[], b"");
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), n, "every schedule once");
    let listed: Vec<(i64, String)> = list
        .iter()
        .map(|s| {
            let id = s["scheduleId"].as_str().unwrap().to_owned();
            (s["createdAt"].as_i64().unwrap(), id)
        })
        .collect();
    let mut expected = listed.clone();
    expected.sort();
    assert_eq!(listed, expected, "oldest first, then by id");
    let seen: HashSet<&str> = listed.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(seen.len(), n);
    for s in list.iter().step_by(997) {
        let id = s["scheduleId"].as_str().unwrap();
        let position = ids.iter().position(|i| i == id).unwrap();
        assert_eq!(s["destination"], format!("https://example.com/{id}"));
        assert_eq!(s["cron"], "0 0 1 1 *");
        assert_eq!(s["body"], "{\"n\":1}");
        assert_eq!(s["isPaused"], json!(position % 3 == 0), "{s}");
    }
}

#[test]
fn the_streamed_array_is_byte_for_byte_the_array_of_the_single_views() {
    let p = InProcess::start();
    let ids: Vec<String> = (0..LIST_CHUNK + 3).map(|i| format!("b-{i:04}")).collect();
    create(&p, &ids, 100, b"{\"n\":1}");
    p.block_on(p.app().service().set_paused("b-0002", true))
        .unwrap();
    let auth = format!("Bearer {}", p.token);
    let get = |path: &str| {
        let (status, text) =
            common::request(p.addr, "GET", path, &[("Authorization", &auth)], b"").unwrap();
        assert_eq!(status, 200, "{path}: {text}");
        text
    };
    let singles: Vec<String> = ids
        .iter()
        .map(|id| get(&format!("/v2/schedules/{id}")))
        .collect();
    assert_eq!(get("/v2/schedules"), format!("[{}]", singles.join(",")));
}

#[test]
fn an_empty_listing_is_an_empty_array() {
    let p = InProcess::start();
    let (status, list) = call(&p, "GET", "/v2/schedules", &[], b"");
    assert_eq!((status, list), (200, json!([])));
}

/// Reads from `stream` until `buf` holds `\r\n\r\n`; returns the head.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return head;
        }
        let n = stream.read(&mut chunk).expect("reading the head");
        assert!(n > 0, "connection closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The payload of a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16)
            .expect("chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[test]
fn a_client_that_stops_reading_holds_the_listing_back() {
    let p = InProcess::start();
    // Some 25 MB of JSON: far more than the socket buffers between the
    // server and a client that reads nothing.
    let n = 6_000;
    let ids: Vec<String> = (0..n).map(|i| format!("big-{i:05}")).collect();
    create(&p, &ids, 2_000, &[b'x'; 4096]);

    let mut stream = TcpStream::connect(p.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /v2/schedules HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        p.addr, p.token
    )
    .unwrap();
    let mut raw = Vec::new();
    let head = read_head(&mut stream, &mut raw).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");

    // The client has the head and reads nothing more. A server that had
    // read every row before answering (or read ahead without bound) would
    // not show a schedule created now, which sorts after all the others.
    p.block_on(p.app().service().create_schedule(request("late", b"{}")))
        .unwrap();

    stream.read_to_end(&mut raw).unwrap();
    let list: Value = serde_json::from_slice(&dechunk(&raw)).expect("the whole array");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), n + 1, "every schedule, and the late one");
    assert_eq!(
        list[n]["scheduleId"], "late",
        "read when the client got there"
    );
    assert_eq!(list[0]["scheduleId"], "big-00000");
}

/// Publishes `n` messages to `url`, delayed by a day, in batches; their ids
/// in publish order.
fn publish_delayed(p: &InProcess, url: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(500) {
        let items: Vec<Value> = (start..n.min(start + 500))
            .map(|_| json!({ "destination": url, "headers": { "Upstash-Delay": "1d" }, "body": "x" }))
            .collect();
        let (status, answer) = call(
            p,
            "POST",
            "/v2/batch",
            &[("Content-Type", "application/json")],
            Value::Array(items).to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        ids.extend(
            answer
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["messageId"].as_str().unwrap().to_owned()),
        );
    }
    ids
}

/// The ids of every message logged CANCELED, walking all pages.
fn cancelled_in_log(p: &InProcess) -> Vec<String> {
    let mut ids = Vec::new();
    let mut query = "state=CANCELED&count=1000".to_owned();
    loop {
        let (page, cursor) = events(p, &query);
        ids.extend(
            page.iter()
                .map(|e| e["messageId"].as_str().unwrap().to_owned()),
        );
        match cursor {
            Some(c) => query = format!("state=CANCELED&count=1000&cursor={c}"),
            None => return ids,
        }
    }
}

#[test]
fn cancelling_all_over_several_chunks_cancels_and_logs_every_message() {
    let p = InProcess::start();
    let n = 2 * CANCEL_CHUNK + 321;
    let ids = publish_delayed(&p, "https://example.com/later", n);

    let (status, answer) = call(&p, "DELETE", "/v2/messages", &[], b"");
    assert_eq!((status, answer), (200, json!({ "cancelled": n })));
    assert_eq!(
        common::db::rows(&p.db(), "messages"),
        0,
        "none left pending"
    );
    let logged: HashSet<String> = cancelled_in_log(&p).into_iter().collect();
    assert_eq!(logged, ids.into_iter().collect(), "each logged CANCELED");
}

#[test]
fn a_filtered_cancel_with_a_count_takes_the_oldest_matches_across_chunks() {
    let p = InProcess::start();
    let (a, b) = ("https://a.example.com/x", "https://b.example.com/x");
    // Interleaved, so every chunk holds matches and others.
    let mut a_ids = Vec::new();
    let mut b_ids = Vec::new();
    for _ in 0..3 {
        a_ids.extend(publish_delayed(&p, a, CANCEL_CHUNK / 2));
        b_ids.extend(publish_delayed(&p, b, CANCEL_CHUNK / 2));
    }
    let count = CANCEL_CHUNK + 100;
    let (status, answer) = call(
        &p,
        "DELETE",
        &format!("/v2/messages?url={}&count={count}", common::api::enc(a)),
        &[],
        b"",
    );
    assert_eq!((status, answer), (200, json!({ "cancelled": count })));
    let logged: HashSet<String> = cancelled_in_log(&p).into_iter().collect();
    let oldest: HashSet<String> = a_ids[..count].iter().cloned().collect();
    assert_eq!(logged, oldest, "the oldest matches, each logged");
    let left = common::db::rows(&p.db(), "messages") as usize;
    assert_eq!(left, a_ids.len() - count + b_ids.len(), "the rest pending");
}

#[test]
fn deleting_the_dlq_over_several_chunks_deletes_each_entry_once() {
    let p = InProcess::start();
    let n = 2 * DLQ_CHUNK + 300;
    // Nothing listens on port 9 of loopback: each message fails at once.
    for start in (0..n).step_by(500) {
        let items: Vec<Value> = (start..n.min(start + 500))
            .map(|_| json!({ "destination": "http://127.0.0.1:9/dead", "headers": { "Upstash-Retries": "0" } }))
            .collect();
        let (status, answer) = call(
            &p,
            "POST",
            "/v2/batch",
            &[("Content-Type", "application/json")],
            Value::Array(items).to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let dlq = |p: &InProcess| common::db::rows(&p.db(), "dlq") as usize;
    wait_until(WAIT * 4, "every message dead-lettered", || {
        (dlq(&p) == n).then_some(())
    });

    let first = DLQ_CHUNK + 200;
    let (status, answer) = call(&p, "DELETE", &format!("/v2/dlq?count={first}"), &[], b"");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"], first, "{answer}");
    assert!(answer["cursor"].is_string(), "entries are left: {answer}");
    assert_eq!(dlq(&p), n - first);

    let (status, answer) = call(&p, "DELETE", "/v2/dlq", &[], b"");
    assert_eq!((status, answer), (200, json!({ "deleted": n - first })));
    assert_eq!(dlq(&p), 0);
}
