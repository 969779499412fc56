//! Domain → QStash JSON (§6). Absent optional fields are omitted, never null.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::model::{Delivery, DlqEntry, HeaderMap, LogEntry, Message, Millis, Schedule};

/// A schedule as `GET /v2/schedules/{id}` shows it (§6.3).
pub fn schedule_json(s: &Schedule, now: Millis) -> Value {
    let d = &s.delivery;
    let mut o = Map::new();
    o.insert("scheduleId".into(), json!(s.id));
    o.insert("cron".into(), json!(s.cron));
    o.insert("destination".into(), json!(s.destination));
    o.insert("createdAt".into(), json!(s.created_at));
    o.insert("isPaused".into(), json!(s.paused));
    o.insert("retries".into(), json!(d.retries));
    delivery_fields(&mut o, d);
    body_fields(&mut o, &s.body, d);
    if d.delay_ms > 0 {
        o.insert("delay".into(), json!(d.delay_ms.div_ceil(1000)));
    }
    if let Some(ip) = &s.caller_ip {
        o.insert("callerIP".into(), json!(ip));
        o.insert("callerIp".into(), json!(ip));
    }
    if let Some(t) = s.last_fire_at {
        o.insert("lastScheduleTime".into(), json!(t));
    }
    if let Some(t) = s.next_fire_at {
        o.insert("nextScheduleTime".into(), json!(t));
    }
    o.insert("lastScheduleStates".into(), json!(s.last_states));
    o.insert("misfire".into(), json!(s.misfire.as_str()));
    // cronhook's bounds and the state they lead to (the SDKs ignore them).
    if let Some(t) = s.start_at {
        o.insert("startAt".into(), json!(t));
    }
    if let Some(t) = s.end_at {
        o.insert("endAt".into(), json!(t));
    }
    o.insert("state".into(), json!(s.state(now).as_str()));
    if let Some(e) = &s.last_error {
        o.insert("error".into(), json!(e));
    }
    Value::Object(o)
}

/// A message as `GET /v2/messages/{id}` shows it (§6.1).
pub fn message_json(m: &Message) -> Value {
    Value::Object(message_fields(m))
}

fn message_fields(m: &Message) -> Map<String, Value> {
    let d = &m.delivery;
    let mut o = Map::new();
    o.insert("messageId".into(), json!(m.id));
    o.insert("url".into(), json!(m.url));
    o.insert("maxRetries".into(), json!(d.retries));
    o.insert("notBefore".into(), json!(m.not_before));
    o.insert("createdAt".into(), json!(m.created_at));
    delivery_fields(&mut o, d);
    body_fields(&mut o, &m.body, d);
    if let Some(s) = &m.schedule_id {
        o.insert("scheduleId".into(), json!(s));
    }
    if let Some(ip) = &m.caller_ip {
        o.insert("callerIP".into(), json!(ip));
        o.insert("callerIp".into(), json!(ip));
    }
    o
}

/// A DLQ entry (§6.2): the message plus the last response.
pub fn dlq_json(e: &DlqEntry) -> Value {
    let mut o = message_fields(&e.message);
    o.insert("dlqId".into(), json!(e.dlq_id));
    // Python requires responseStatus; 0 when no response came back.
    o.insert(
        "responseStatus".into(),
        json!(e.response.status.unwrap_or(0)),
    );
    o.insert("responseHeader".into(), json!(e.response.headers));
    match std::str::from_utf8(&e.response.body) {
        Ok(text) => o.insert("responseBody".into(), json!(text)),
        Err(_) => o.insert(
            "responseBodyBase64".into(),
            json!(STANDARD.encode(&e.response.body)),
        ),
    };
    if !e.response.error.is_empty() {
        o.insert("error".into(), json!(e.response.error));
    }
    o.insert("retried".into(), json!(e.message.retried));
    Value::Object(o)
}

/// A log entry (§6.6). Bodies are base64 here, unlike in a Message; both
/// spellings of the keys the openapi and Python disagree on are emitted (§12.10).
pub fn log_json(e: &LogEntry) -> Value {
    let d = &e.delivery;
    let mut o = Map::new();
    o.insert("time".into(), json!(e.time));
    o.insert("messageId".into(), json!(e.message_id));
    o.insert("state".into(), json!(e.state.as_str()));
    o.insert("url".into(), json!(e.url));
    o.insert("method".into(), json!(d.method));
    o.insert("maxRetries".into(), json!(d.retries));
    o.insert("header".into(), json!(redacted_headers(&d.headers, d)));
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(key.into(), v);
        }
    };
    put("scheduleId", e.schedule_id.as_ref().map(|s| json!(s)));
    put("callerIP", e.caller_ip.as_ref().map(|ip| json!(ip)));
    put("callerIp", e.caller_ip.as_ref().map(|ip| json!(ip)));
    put(
        "body",
        e.body.as_ref().filter(|b| !b.is_empty()).map(|b| {
            if redacts(d, "body") {
                json!(redacted(b))
            } else {
                json!(STANDARD.encode(b))
            }
        }),
    );
    put(
        "error",
        e.error.as_ref().filter(|s| !s.is_empty()).map(|s| json!(s)),
    );
    put("nextDeliveryTime", e.next_delivery_time.map(|t| json!(t)));
    if let Some(r) = &e.response {
        put("responseStatus", r.status.map(|s| json!(s)));
        put("responseHeader", Some(json!(r.headers)));
        put("responseHeaders", Some(json!(r.headers)));
        put("responseBody", Some(json!(STANDARD.encode(&r.body))));
    }
    put("timeout", d.timeout_ms.map(|ms| json!(ms)));
    put("callback", d.callback.as_ref().map(|u| json!(u)));
    put(
        "failureCallback",
        d.failure_callback.as_ref().map(|u| json!(u)),
    );
    put(
        "callbackHeaders",
        (!d.callback_headers.is_empty()).then(|| json!(d.callback_headers)),
    );
    put(
        "failureCallbackHeaders",
        (!d.failure_callback_headers.is_empty()).then(|| json!(d.failure_callback_headers)),
    );
    put("retryDelayExpr", d.retry_delay.as_ref().map(|x| json!(x)));
    shared_fields(&mut o, d);
    Value::Object(o)
}

/// The fields a message and a schedule share (method, retries, headers, …).
pub fn delivery_fields(o: &mut Map<String, Value>, d: &Delivery) {
    o.insert("method".into(), json!(d.method));
    o.insert("header".into(), json!(redacted_headers(&d.headers, d)));
    for (key, map) in [
        ("callbackHeader", &d.callback_headers),
        ("failureCallbackHeader", &d.failure_callback_headers),
    ] {
        if !map.is_empty() {
            o.insert(key.into(), json!(map));
        }
    }
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(key.into(), v);
        }
    };
    put("timeout", d.timeout_ms.map(|ms| json!(ms.div_ceil(1000))));
    put("callback", d.callback.as_ref().map(|u| json!(u)));
    put(
        "failureCallback",
        d.failure_callback.as_ref().map(|u| json!(u)),
    );
    put("redact", d.redact.as_ref().map(|r| json!(r)));
    shared_fields(o, d);
}

/// Fields every view shows the same way: retry delay, queue, URL group and
/// endpoint, labels (`label` is the first, §6.1) and flow control (`period`
/// defaults to 1 s, §6.1).
fn shared_fields(o: &mut Map<String, Value>, d: &Delivery) {
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(key.into(), v);
        }
    };
    put(
        "retryDelayExpression",
        d.retry_delay.as_ref().map(|e| json!(e)),
    );
    put("queueName", d.queue_name.as_ref().map(|q| json!(q)));
    if let Some(t) = &d.topic {
        put("topicName", Some(json!(t.name)));
        put("endpointName", t.endpoint_name.as_ref().map(|n| json!(n)));
    }
    put("label", d.labels.first().map(|l| json!(l)));
    put("labels", (!d.labels.is_empty()).then(|| json!(d.labels)));
    if let Some(fc) = &d.flow_control {
        put("flowControlKey", Some(json!(fc.key)));
        put("parallelism", fc.parallelism.map(|p| json!(p)));
        put("rate", fc.rate.map(|r| json!(r)));
        put("period", Some(json!(fc.period)));
    }
}

/// `body` when the bytes are UTF-8, else `bodyBase64`; omitted when empty (§6.3).
fn body_fields(o: &mut Map<String, Value>, body: &[u8], d: &Delivery) {
    if body.is_empty() {
        return;
    }
    if redacts(d, "body") {
        o.insert("body".into(), json!(redacted(body)));
        return;
    }
    match std::str::from_utf8(body) {
        Ok(text) => o.insert("body".into(), json!(text)),
        Err(_) => o.insert("bodyBase64".into(), json!(STANDARD.encode(body))),
    };
}

/// Whether `Upstash-Redact-Fields` names `field` (`body`, `header`, or
/// `header[Name]`; the `headers` spellings too, §12.20).
fn redacts(d: &Delivery, field: &str) -> bool {
    let Some(list) = &d.redact else { return false };
    list.split(',').map(str::trim).any(|f| {
        let f = f.replacen("headers", "header", 1);
        f.eq_ignore_ascii_case(field)
    })
}

fn redacted_headers(headers: &HeaderMap, d: &Delivery) -> HeaderMap {
    if d.redact.is_none() {
        return headers.clone();
    }
    let all = redacts(d, "header");
    headers
        .iter()
        .map(|(name, values)| {
            let hide = all || redacts(d, &format!("header[{name}]"));
            let values = if hide {
                values.iter().map(|v| redacted(v.as_bytes())).collect()
            } else {
                values.clone()
            };
            (name.clone(), values)
        })
        .collect()
}

/// QStash shows a redacted value as `REDACTED:<sha256 hex>`.
fn redacted(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("REDACTED:{hex}")
}
