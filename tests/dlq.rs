//! Failed messages in the DLQ (§4.8, §6.2, §9.3): listing, filters, paging,
//! retrying them as new messages, and deleting them singly and in bulk.
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! The real binary, a real database and a real sink on 127.0.0.1.

mod common;

use std::collections::HashSet;

use common::api::{
    assert_error, call, dlq, dlq_entry_of, enc, publish, wait_for_dlq, wait_for_state,
};
use common::sink::{Received, Sink};
use common::start;
use common::wait::{wait_until, WAIT};
use serde_json::json;

fn received_with_id(sink: &Sink, path: &str, message_id: &str) -> Vec<Received> {
    sink.received(path)
        .into_iter()
        .filter(|r| r.header("upstash-message-id") == Some(message_id))
        .collect()
}

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
        common::api::assert_has_fields(e, &common::api::PY_MESSAGE_FIELDS);
        common::api::assert_has_fields(e, &["responseStatus"]);
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
