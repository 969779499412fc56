//! Bad input to the message endpoints (publish, enqueue, batch, messages,
//! DLQ, logs): a 4xx whose error names the problem, and nothing stored,
//! cancelled or sent (§2.4).
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! The real binary, a real database and a real sink on 127.0.0.1.

mod common;

use common::api::{assert_error, call, events, pending, publish, states};
use common::db::rows;
use common::{start_with, ServerOptions};

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
        (
            &[("Upstash-Flow-Control-Value", "parallelism=1")],
            &["Upstash-Flow-Control-Value", "Upstash-Flow-Control-Key"],
        ),
        (
            &[
                ("Upstash-Flow-Control-Key", "k"),
                ("Upstash-Flow-Control-Value", "parallelism=0"),
            ],
            &["Upstash-Flow-Control-Value", "parallelism"],
        ),
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
