//! Callbacks (§9.4): a signed report after every attempt, and the failure
//! callback once after the last one, with the DLQ id.
//!
//! § numbers cite docs/qstash-wire.md, the wire contract.
//!
//! In-process on the manual clock (`common::inproc`), with a real database
//! and a real sink on 127.0.0.1: the retries between the reports are moved
//! to without waiting, and "once" is checked a day after the last attempt.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::api::{b64, dlq_entry_of, publish, wait_for_dlq, wait_for_retry, wait_for_state};
use common::inproc::InProcess;
use common::signature::assert_signed;
use common::sink::{Received, Sink};
use common::wait::WAIT;
use serde_json::{json, Value};

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
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/flaky", 500, &[]);
    let url = sink.url("/flaky");
    let cb = sink.url("/cb?source=flaky");
    let t0 = p.now_ms();
    let id = publish(
        &p,
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
    let t1 = p.now_ms();
    // The first attempt fails; the retry, 2 s later, succeeds.
    sink.wait_for("/flaky", 1, WAIT);
    wait_for_retry(&p, &id, 1);
    sink.answer("/flaky", 200, &[]);
    let attempts = p.expect_arrival_at(&sink, "/flaky", t0 + 2000);
    assert_eq!(attempts[1].header("upstash-retried"), Some("1"));
    sink.wait_for("/cb", 2, WAIT);
    wait_for_state(&p, &id, "DELIVERED");
    // Nothing more, a day later: no attempt, no report.
    p.advance(Duration::from_secs(86_400));
    sink.assert_stays("/flaky", 2, "delivered on the retry");
    sink.assert_stays("/cb", 2, "one callback per attempt");
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
        assert_signed(r, &p.current_signing_key(), &cb);
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
        assert_eq!(created, t0, "the source's creation, not the attempt's");
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
    let p = InProcess::start();
    let sink = Sink::start();
    sink.answer("/down", 503, &[]);
    let url = sink.url("/down");
    let fcb = sink.url("/fcb");
    let cb = sink.url("/cb");
    let t0 = p.now_ms();
    let id = publish(
        &p,
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
    sink.wait_for("/down", 1, WAIT);
    sink.assert_stays("/fcb", 0, "not after the first attempt");
    wait_for_retry(&p, &id, 1);
    p.expect_arrival_at(&sink, "/down", t0 + 100);
    let all = wait_for_dlq(&p, &[&id]);
    let entry = dlq_entry_of(&all, &id);
    sink.wait_for("/fcb", 1, WAIT);
    sink.wait_for("/cb", 2, WAIT);
    // A day later: no more attempts, and still one failure callback.
    p.advance(Duration::from_secs(86_400));
    sink.assert_stays("/down", 2, "retries 1: two attempts");
    sink.assert_stays("/fcb", 1, "the failure callback is called once");
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
    assert_signed(r, &p.current_signing_key(), &fcb);
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
