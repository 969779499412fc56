//! Webhooks (`context.createWebhook` / `context.waitForWebhook`,
//! workflow-wire §3.7, §1 row 13).
//!
//! The SDK mints the URL itself, as a step result:
//! `{QSTASH_URL}/v2/workflows/hooks/{userId}/{runId}/{eventId}`, where
//! `userId` is the `UserID` field of `QSTASH_TOKEN` read as base64 JSON.
//! Anyone holding the URL may call it, with any method and no token: the URL
//! is the secret. cronhook records the call and hands the record to the
//! run's `WaitForWebhook` waiter as its event data, so the SDK rebuilds the
//! request from it (`LazyWaitForWebhookStep.safeParseOut`).

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Value};

use crate::model::{canonical_header_name, is_hop_header, HeaderMap};

/// The `stepType` of the waiters a webhook call may wake.
pub const WAIT_STEP_TYPE: &str = "WaitForWebhook";

/// Whether a wait's step is a `waitForWebhook`.
pub fn is_webhook_wait(step: &Value) -> bool {
    step.get("stepType").and_then(Value::as_str) == Some(WAIT_STEP_TYPE)
}

/// The key under which a webhook call that came before its wait is kept.
/// Apart from the events a notify keeps: a token-free call must not answer a
/// later `waitForEvent` of the same (user-chosen, maybe guessable) ids.
pub fn notice_key(event_id: &str) -> String {
    format!("webhook:{event_id}")
}

/// The `UserID` inside a QStash-style token (base64 of a JSON object), as
/// the SDK reads it to build webhook URLs; `None` for any other token, in
/// which case the SDK's `createWebhook` throws and no hook URL can exist.
pub fn user_id_of_token(token: &str) -> Option<String> {
    let trimmed = token.trim();
    let bytes = STANDARD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("UserID")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// One webhook call as the waiting run receives it: `{method, header:
/// {name: [values]}, body: base64(body), proto, host, url: "/path?query"}`.
/// `proto` is the scheme (`http`, or `https` behind a proxy that says so):
/// the SDK builds `${proto}://${host}${url}` from it.
pub fn record(
    method: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    path_and_query: &str,
) -> Vec<u8> {
    let mut header = HeaderMap::new();
    for (name, value) in headers {
        if is_hop_header(name.as_str()) {
            continue;
        }
        let Ok(v) = value.to_str() else {
            continue;
        };
        header
            .entry(canonical_header_name(name.as_str()))
            .or_default()
            .push(v.to_owned());
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let proto = match text("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = text("host").unwrap_or("localhost");
    serde_json::to_vec(&json!({
        "method": method,
        "header": header,
        "body": STANDARD.encode(body),
        "proto": proto,
        "host": host,
        "url": path_and_query,
    }))
    .expect("JSON of strings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_id_comes_from_a_base64_json_token() {
        let dev = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0=";
        assert_eq!(user_id_of_token(dev).as_deref(), Some("defaultUser"));
        assert_eq!(user_id_of_token("plain-secret"), None);
        assert_eq!(
            user_id_of_token(&STANDARD.encode("{\"UserID\":\"\"}")),
            None
        );
        assert_eq!(user_id_of_token(&STANDARD.encode("[1]")), None);
    }

    #[test]
    fn a_call_is_recorded_with_its_headers_body_and_path() {
        let mut h = http::HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        h.insert("content-length", "2".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        h.append("x-tag", "a".parse().unwrap());
        h.append("x-tag", "b".parse().unwrap());
        let r: Value =
            serde_json::from_slice(&record("PUT", &h, b"{}", "/v2/workflows/hooks/u/r/e?x=1"))
                .unwrap();
        assert_eq!(r["method"], "PUT");
        assert_eq!(r["proto"], "http");
        assert_eq!(r["host"], "127.0.0.1:8080");
        assert_eq!(r["url"], "/v2/workflows/hooks/u/r/e?x=1");
        assert_eq!(r["body"], STANDARD.encode("{}"));
        assert_eq!(r["header"]["Content-Type"], json!(["application/json"]));
        assert_eq!(r["header"]["X-Tag"], json!(["a", "b"]));
        assert!(r["header"].get("Content-Length").is_none());
        assert!(r["header"].get("Host").is_none());
    }
}
