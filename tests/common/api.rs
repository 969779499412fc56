//! Calling the API of a test server with its token, reading JSON back.
#![allow(dead_code)]

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use super::wait::{wait_until, WAIT};
use super::Target;

/// Sends `method path` with the server's token and `headers`; returns the
/// status and the body parsed as JSON (`Value::Null` when empty).
pub fn call<S: Target + ?Sized>(
    server: &S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let auth = format!("Bearer {}", server.token());
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let (status, text) = super::request(server.addr(), method, path, &all, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {text}"))
    };
    (status, json)
}

/// Creates a schedule to `destination` with `headers`; panics unless 2xx.
pub fn create_schedule<S: Target + ?Sized>(
    server: &S,
    destination: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let (status, json) = call(
        server,
        "POST",
        &format!("/v2/schedules/{destination}"),
        headers,
        body,
    );
    assert!(
        (200..300).contains(&status),
        "create failed: {status} {json}"
    );
    json["scheduleId"].as_str().unwrap().to_owned()
}

/// Publishes to `url`; panics unless 201. Returns the message id.
pub fn publish<S: Target + ?Sized>(
    server: &S,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let (status, json) = call(server, "POST", &format!("/v2/publish/{url}"), headers, body);
    assert_eq!(status, 201, "publish to {url}: {json}");
    json["messageId"].as_str().unwrap().to_owned()
}

/// Asserts a 4xx whose `{"error"}` mentions every one of `needles`.
pub fn assert_error(status: u16, json: &Value, want: u16, needles: &[&str]) {
    assert_eq!(status, want, "{json}");
    let error = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {json}"));
    for n in needles {
        assert!(error.contains(n), "error {error:?} does not mention {n:?}");
    }
}

/// `GET /v2/events?<query>`: the entries and the cursor, after checking that
/// `logs` holds the same list (§12.1).
pub fn events<S: Target + ?Sized>(server: &S, query: &str) -> (Vec<Value>, Option<String>) {
    let (status, json) = call(server, "GET", &format!("/v2/events?{query}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["events"], json["logs"], "both keys hold the list");
    let list = json["events"].as_array().expect("events array").clone();
    let cursor = json
        .get("cursor")
        .map(|c| c.as_str().expect("cursor is a string").to_owned());
    (list, cursor)
}

/// The states logged for message `id`, newest first.
pub fn states<S: Target + ?Sized>(server: &S, id: &str) -> Vec<String> {
    events(server, &format!("messageId={id}"))
        .0
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until message `id` has been logged in `state`; its states then.
pub fn wait_for_state<S: Target + ?Sized>(server: &S, id: &str, state: &str) -> Vec<String> {
    wait_until(WAIT, &format!("{id} to be logged {state}"), || {
        let s = states(server, id);
        s.iter().any(|x| x == state).then_some(s)
    })
}

/// Waits until message `id` has `n` RETRY entries in the log (its `n`th
/// failed attempt is recorded); the newest of them.
pub fn wait_for_retry<S: Target + ?Sized>(server: &S, id: &str, n: usize) -> Value {
    wait_until(WAIT, &format!("retry {n} of {id} to be logged"), || {
        let (log, _) = events(server, &format!("messageId={id}&state=RETRY"));
        (log.len() >= n).then(|| {
            assert_eq!(log.len(), n, "more retries than expected: {log:?}");
            log[0].clone()
        })
    })
}

/// `GET /v2/dlq?<query>`: the entries and the cursor.
pub fn dlq<S: Target + ?Sized>(server: &S, query: &str) -> (Vec<Value>, Option<String>) {
    let (status, json) = call(server, "GET", &format!("/v2/dlq?{query}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    let list = json["messages"].as_array().expect("messages array").clone();
    let cursor = json
        .get("cursor")
        .map(|c| c.as_str().expect("cursor is a string").to_owned());
    (list, cursor)
}

/// Waits until the DLQ holds an entry for each of `message_ids`.
pub fn wait_for_dlq<S: Target + ?Sized>(server: &S, message_ids: &[&str]) -> Vec<Value> {
    wait_until(WAIT, "the DLQ entries", || {
        let (all, _) = dlq(server, "");
        let have: HashSet<&str> = all.iter().filter_map(|e| e["messageId"].as_str()).collect();
        message_ids
            .iter()
            .all(|id| have.contains(id))
            .then_some(all)
    })
}

/// The DLQ entry of `message_id` among `entries`.
pub fn dlq_entry_of<'a>(entries: &'a [Value], message_id: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["messageId"] == message_id)
        .unwrap_or_else(|| panic!("no DLQ entry for {message_id}"))
}

/// Whether `GET /v2/messages/{id}` finds the message (200) or not (404).
pub fn pending<S: Target + ?Sized>(server: &S, id: &str) -> bool {
    let (status, json) = call(server, "GET", &format!("/v2/messages/{id}"), &[], b"");
    assert!(status == 200 || status == 404, "{status} {json}");
    status == 200
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Standard base64, as the log and the callback reports carry bodies.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The fields the Python SDK requires of a Message (§6.1), and of a DLQ
/// entry, which adds `responseStatus` (§6.2): it fails on a missing one.
pub const PY_MESSAGE_FIELDS: [&str; 6] = [
    "messageId",
    "url",
    "method",
    "maxRetries",
    "notBefore",
    "createdAt",
];

/// Asserts that `v` has every one of `keys`.
pub fn assert_has_fields(v: &Value, keys: &[&str]) {
    for key in keys {
        assert!(v.get(key).is_some(), "PY-REQ field {key} missing: {v}");
    }
}
