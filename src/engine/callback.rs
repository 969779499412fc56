//! Callback and failure-callback messages (§9.4): each is a message of its
//! own (own id, signature, retries and log entries) whose JSON body reports
//! one attempt of the source message.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Map, Value};

use crate::model::{
    AttemptResponse, CallbackOptions, Delivery, DlqEntry, HeaderMap, Message, Millis,
};

/// Which callback to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Upstash-Callback`, after every attempt.
    AfterAttempt,
    /// `Upstash-Failure-Callback`, once after the last attempt failed.
    Failure,
}

/// The `Upstash-Callback` message reporting `response` to an attempt of
/// `source`, if `source` asks for one.
pub fn after_attempt(source: &Message, response: &AttemptResponse, now: Millis) -> Option<Message> {
    message(Kind::AfterAttempt, source, response, None, now)
}

/// The `Upstash-Failure-Callback` message for a message that failed into
/// DLQ entry `entry` (which holds the message and its last response), if
/// the message asks for one. It alone carries the DLQ id (§9.4).
pub fn failure(entry: &DlqEntry, now: Millis) -> Option<Message> {
    message(
        Kind::Failure,
        &entry.message,
        &entry.response,
        Some(entry),
        now,
    )
}

fn message(
    kind: Kind,
    source: &Message,
    response: &AttemptResponse,
    dlq: Option<&DlqEntry>,
    now: Millis,
) -> Option<Message> {
    let d = &source.delivery;
    let (url, headers, options) = match kind {
        Kind::AfterAttempt => (
            d.callback.as_ref()?,
            &d.callback_headers,
            &d.callback_options,
        ),
        Kind::Failure => (
            d.failure_callback.as_ref()?,
            &d.failure_callback_headers,
            &d.failure_callback_options,
        ),
    };
    let body = serde_json::to_vec(&body(source, response, dlq)).expect("JSON of plain values");
    let mut forwarded: HeaderMap = headers.clone();
    forwarded.insert("Content-Type".into(), vec!["application/json".into()]);
    let due = now + options.delay_ms.unwrap_or(0) as Millis;
    Some(
        Message::new(url.clone(), delivery(d, options, forwarded), body, now, due)
            .from_caller(source.caller_ip.clone()),
    )
}

/// A callback is delivered like any message, but never has callbacks itself.
fn delivery(source: &Delivery, o: &CallbackOptions, headers: HeaderMap) -> Delivery {
    Delivery {
        method: o.method.clone().unwrap_or_else(|| "POST".into()),
        headers,
        retries: o.retries.unwrap_or(source.retries),
        retry_delay: o.retry_delay.clone(),
        timeout_ms: o.timeout_ms,
        delay_ms: o.delay_ms.unwrap_or(0),
        labels: source.labels.clone(),
        ..Delivery::default()
    }
}

/// The documented callback body (§9.4). With no response (timeout, refused
/// connection) `status` is 0 and `error` says why.
fn body(source: &Message, r: &AttemptResponse, dlq: Option<&DlqEntry>) -> Value {
    let mut o = Map::new();
    o.insert("status".into(), json!(r.status.unwrap_or(0)));
    o.insert("header".into(), json!(r.headers));
    o.insert("body".into(), json!(STANDARD.encode(&r.body)));
    if r.status.is_none() {
        o.insert("error".into(), json!(r.error));
    }
    o.insert("retried".into(), json!(source.retried));
    o.insert("maxRetries".into(), json!(source.delivery.retries));
    o.insert("sourceMessageId".into(), json!(source.id));
    o.insert("url".into(), json!(source.url));
    o.insert("method".into(), json!(source.delivery.method));
    o.insert("sourceHeader".into(), json!(source.delivery.headers));
    o.insert("sourceBody".into(), json!(STANDARD.encode(&source.body)));
    o.insert("notBefore".into(), json!(source.not_before));
    o.insert("createdAt".into(), json!(source.created_at));
    if let Some(s) = &source.schedule_id {
        o.insert("scheduleId".into(), json!(s));
    }
    if let Some(ip) = &source.caller_ip {
        o.insert("callerIP".into(), json!(ip));
    }
    if let Some(e) = dlq {
        o.insert("dlqId".into(), json!(e.dlq_id));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attempt;

    fn source() -> Message {
        let mut d = Delivery {
            retries: 2,
            callback: Some("http://127.0.0.1:1/cb".into()),
            failure_callback: Some("http://127.0.0.1:1/fail".into()),
            labels: vec!["l".into()],
            ..Delivery::default()
        };
        d.headers
            .insert("Content-Type".into(), vec!["text/plain".into()]);
        d.callback_headers
            .insert("Cb-Auth".into(), vec!["t".into()]);
        d.failure_callback_options.method = Some("PUT".into());
        d.failure_callback_options.retries = Some(0);
        Message {
            id: "msg_src".into(),
            schedule_id: Some("scd_1".into()),
            retried: 1,
            ..Message::new(
                "http://127.0.0.1:1/dest".into(),
                d,
                b"hello".to_vec(),
                100,
                200,
            )
            .from_caller(Some("127.0.0.1".into()))
        }
    }

    fn attempt(status: Option<u16>) -> Attempt {
        let mut headers = HeaderMap::new();
        headers.insert("X-R".into(), vec!["1".into()]);
        Attempt {
            started_at: 300,
            ended_at: 310,
            response: AttemptResponse {
                status,
                headers,
                body: b"nope".to_vec(),
                error: if status.is_some() {
                    "HTTP 500".into()
                } else {
                    "timed out".into()
                },
            },
        }
    }

    #[test]
    fn the_callback_reports_the_attempt_with_the_documented_fields() {
        let m = after_attempt(&source(), &attempt(Some(500)).response, 1000).unwrap();
        assert_eq!(m.url, "http://127.0.0.1:1/cb");
        assert_eq!(m.delivery.method, "POST");
        assert_eq!(m.delivery.retries, 2, "defaults to the source's retries");
        assert_eq!(m.delivery.headers["Content-Type"], ["application/json"]);
        assert_eq!(m.delivery.headers["Cb-Auth"], ["t"]);
        assert!(m.delivery.callback.is_none(), "a callback has no callback");
        let body: Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(
            body,
            json!({
                "status": 500, "header": {"X-R": ["1"]}, "body": "bm9wZQ==",
                "retried": 1, "maxRetries": 2, "sourceMessageId": "msg_src",
                "url": "http://127.0.0.1:1/dest", "method": "POST",
                "sourceHeader": {"Content-Type": ["text/plain"]}, "sourceBody": "aGVsbG8=",
                "notBefore": 200, "createdAt": 100, "scheduleId": "scd_1", "callerIP": "127.0.0.1"
            })
        );
    }

    #[test]
    fn the_failure_callback_carries_the_dlq_id_and_its_own_settings() {
        let src = source();
        let a = attempt(None);
        let entry = DlqEntry {
            dlq_id: "310-7".into(),
            seq: 7,
            message: src.clone(),
            failed_at: 310,
            response: a.response.clone(),
        };
        let m = failure(&entry, 1000).unwrap();
        assert_eq!(m.url, "http://127.0.0.1:1/fail");
        assert_eq!((m.delivery.method.as_str(), m.delivery.retries), ("PUT", 0));
        let body: Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(body["dlqId"], "310-7");
        assert_eq!(body["status"], 0);
        assert_eq!(body["error"], "timed out");
    }

    #[test]
    fn no_callback_url_means_no_message() {
        let mut src = source();
        src.delivery.callback = None;
        assert!(after_attempt(&src, &attempt(Some(200)).response, 0).is_none());
    }
}
