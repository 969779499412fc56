//! Bulk calls act only on what they name (§4.4, §4.8): an unknown key, a
//! selector without a value, an empty list or a body of another shape is a
//! 400 that names it, and nothing is cancelled, deleted or re-published.
//! "All" is only a request that names no selector at all, as the SDKs send
//! it. § numbers cite docs/qstash-wire.md.

mod common;

use common::api::{assert_error, call, dlq, pending, publish, wait_for_dlq};
use common::inproc::InProcess;

/// Three messages that stay pending (delayed by a day).
fn three_pending(server: &InProcess) -> Vec<String> {
    (0..3)
        .map(|i| {
            publish(
                server,
                &format!("http://127.0.0.1:1/later/{i}"),
                &[("Upstash-Delay", "1d")],
                b"",
            )
        })
        .collect()
}

/// Three DLQ entries: messages with no retries to a port nobody listens on.
fn three_dead(server: &InProcess) -> Vec<String> {
    let ids: Vec<String> = (0..3)
        .map(|i| {
            publish(
                server,
                &format!("http://127.0.0.1:1/dead/{i}"),
                &[("Upstash-Retries", "0")],
                b"",
            )
        })
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_for_dlq(server, &refs);
    ids
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// (query, body, what the error must name)
const BAD_CANCELS: [(&str, &str, &str); 9] = [
    ("?messageIds=", "", "messageIds"),
    ("", r#"{"messageIds":[]}"#, "messageIds"),
    ("?messageid=x", "", "messageid"),
    ("?foo=bar", "", "foo"),
    ("", "{}", "messageIds"),
    ("", "null", "messageIds"),
    ("", "[]", "messageIds"),
    ("?count=", "", "count"),
    ("", r#"{"ids":["a"]}"#, "\"ids\""),
];

#[test]
fn a_bulk_cancel_with_an_empty_or_misspelled_selector_is_refused_and_cancels_nothing() {
    let server = InProcess::start();
    let ids = three_pending(&server);
    for (query, body, names) in BAD_CANCELS {
        let (status, json) = call(
            &server,
            "DELETE",
            &format!("/v2/messages{query}"),
            &[JSON],
            body.as_bytes(),
        );
        assert_error(status, &json, 400, &[names]);
    }
    for id in &ids {
        assert!(
            pending(&server, id),
            "{id} was cancelled by a refused request"
        );
    }
}

#[test]
fn a_bulk_cancel_that_names_no_selector_cancels_all() {
    let server = InProcess::start();
    let ids = three_pending(&server);
    let (status, json) = call(&server, "DELETE", "/v2/messages?count=2", &[], b"");
    assert_eq!(
        (status, json["cancelled"].as_i64()),
        (200, Some(2)),
        "{json}"
    );
    let (status, json) = call(&server, "DELETE", "/v2/messages", &[], b"");
    assert_eq!(
        (status, json["cancelled"].as_i64()),
        (200, Some(1)),
        "{json}"
    );
    assert!(ids.iter().all(|id| !pending(&server, id)));
}

#[test]
fn a_bulk_cancel_by_ids_or_filter_cancels_only_those() {
    let server = InProcess::start();
    let ids = three_pending(&server);
    let (status, json) = call(
        &server,
        "DELETE",
        "/v2/messages",
        &[JSON],
        format!(r#"{{"messageIds":["{}"]}}"#, ids[0]).as_bytes(),
    );
    assert_eq!(
        (status, json["cancelled"].as_i64()),
        (200, Some(1)),
        "{json}"
    );
    let (status, json) = call(&server, "DELETE", "/v2/messages?path=/later/1", &[], b"");
    assert_eq!(
        (status, json["cancelled"].as_i64()),
        (200, Some(1)),
        "{json}"
    );
    assert!(!pending(&server, &ids[0]) && !pending(&server, &ids[1]));
    assert!(pending(&server, &ids[2]), "the third was named by neither");
}

/// (method, path with query, body, what the error must name)
const BAD_DLQ_CALLS: [(&str, &str, &str, &str); 8] = [
    ("DELETE", "/v2/dlq?dlqId=x", "", "dlqId"),
    ("DELETE", "/v2/dlq?dlqIds=", "", "dlqIds"),
    ("DELETE", "/v2/dlq", r#"{"dlqIds":[]}"#, "dlqIds"),
    ("DELETE", "/v2/dlq", "{}", "dlqIds"),
    ("POST", "/v2/dlq/retry?dlqIds=", "", "dlqIds"),
    ("POST", "/v2/dlq/retry", r#"{"dlqIds":[]}"#, "dlqIds"),
    ("POST", "/v2/dlq/retry?dlqid=x", "", "dlqid"),
    ("POST", "/v2/dlq/retry", "null", "dlqIds"),
];

#[test]
fn a_bulk_dlq_call_with_an_empty_or_misspelled_selector_is_refused_and_changes_nothing() {
    let server = InProcess::start();
    let ids = three_dead(&server);
    for (method, path, body, names) in BAD_DLQ_CALLS {
        let (status, json) = call(&server, method, path, &[JSON], body.as_bytes());
        assert_error(status, &json, 400, &[names]);
    }
    let (left, _) = dlq(&server, "");
    assert_eq!(left.len(), 3, "every entry is still there");
    for id in &ids {
        assert!(
            !pending(&server, id),
            "{id} was re-published by a refused retry"
        );
    }
}

#[test]
fn a_bulk_dlq_delete_that_names_no_selector_deletes_all() {
    let server = InProcess::start();
    three_dead(&server);
    let (status, json) = call(&server, "DELETE", "/v2/dlq", &[], b"");
    assert_eq!((status, json["deleted"].as_i64()), (200, Some(3)), "{json}");
    assert!(dlq(&server, "").0.is_empty());
}

#[test]
fn workflow_bulk_calls_refuse_empty_selectors_too() {
    let server = InProcess::start();
    for (method, path) in [
        ("DELETE", "/v2/workflows/runs?workflowRunIds="),
        ("DELETE", "/v2/workflows/runs?workflowRunId=x"),
        ("DELETE", "/v2/workflows/dlq?dlqIds="),
        ("POST", "/v2/workflows/dlq/resume?dlqIds="),
        ("POST", "/v2/workflows/dlq/restart?dlqid=x"),
    ] {
        let (status, json) = call(&server, method, path, &[], b"");
        assert_error(
            status,
            &json,
            400,
            &[path.split(['?', '=']).nth(1).unwrap()],
        );
    }
}
