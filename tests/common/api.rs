//! Calling the API of a `ServerProcess` with the token, reading JSON back.
#![allow(dead_code)]

use serde_json::Value;

use super::ServerProcess;

/// Sends `method path` with the server's token and `headers`; returns the
/// status and the body parsed as JSON (`Value::Null` when empty).
pub fn call(
    server: &ServerProcess,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let auth = format!("Bearer {}", server.token);
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let (status, text) = server
        .raw_request(method, path, &all, body)
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
pub fn create_schedule(
    server: &ServerProcess,
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
