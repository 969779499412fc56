//! The request of one attempt (§7.2): the forwarded headers, cronhook's own,
//! a fresh signature over the exact body (§8), and what came back.

use std::time::Duration;

use bytes::Bytes;
use http::header::USER_AGENT;
use http::{HeaderName, HeaderValue};

use crate::engine::client::{Outgoing, Reply};
use crate::engine::Ctx;
use crate::ids;
use crate::model::{
    canonical_header_name, is_transport_or_delivery_header, AttemptResponse, HeaderMap, Message,
};

/// Sends the attempt of `m` with `body` (the message body, or a workflow
/// delivery's run log). `extra` are headers cronhook adds for this
/// delivery (`Upstash-Workflow-RunId`).
///
/// The headers go straight into the map hyper sends: each forwarded name
/// and value is parsed once, cronhook's own names are constants, and the
/// signature comes from the engine's prepared key.
pub(super) async fn send(
    ctx: &Ctx,
    m: &Message,
    body: Bytes,
    extra: Vec<(String, String)>,
) -> Reply {
    let headers = match headers(ctx, m, &body, extra) {
        Ok(h) => h,
        Err(e) => return Reply::NoResponse(e),
    };
    let timeout = m
        .delivery
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(ctx.settings.default_timeout);
    ctx.client
        .send(Outgoing {
            method: &m.delivery.method,
            url: &m.url,
            headers,
            body,
            timeout,
        })
        .await
}

/// The request headers of an attempt of `m` with `body`.
fn headers(
    ctx: &Ctx,
    m: &Message,
    body: &[u8],
    extra: Vec<(String, String)>,
) -> Result<http::HeaderMap, String> {
    let cannot = |name: &str| format!("header {name} cannot be sent");
    let forwarded: usize = m.delivery.headers.values().map(Vec::len).sum();
    let mut map = http::HeaderMap::with_capacity(forwarded + extra.len() + 8);
    // Headers cronhook sets itself win over forwarded ones of the same name,
    // and framing headers are never forwarded: a first invocation forwards
    // every header it got, a stale Content-Length included (workflow-wire §7.1).
    for (name, values) in &m.delivery.headers {
        let Ok(parsed) = HeaderName::from_bytes(name.as_bytes()) else {
            return Err(cannot(name));
        };
        let lower = parsed.as_str();
        if is_transport_or_delivery_header(lower)
            || extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(lower))
        {
            continue;
        }
        for value in values {
            let v = HeaderValue::from_str(value).map_err(|_| cannot(name))?;
            map.append(parsed.clone(), v);
        }
    }
    for (name, value) in extra {
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) else {
            return Err(cannot(&name));
        };
        map.append(n, v);
    }
    let now_secs = ctx.clock.now_ms() / 1000;
    let signature = ctx.sign(&m.url, body, now_secs, &ids::jwt_id());
    map.append(USER_AGENT, HeaderValue::from_static("Upstash-QStash"));
    map.append(
        UPSTASH_SIGNATURE,
        HeaderValue::try_from(signature).map_err(|_| cannot("Upstash-Signature"))?,
    );
    map.append(
        UPSTASH_MESSAGE_ID,
        HeaderValue::from_str(&m.id).map_err(|_| cannot("Upstash-Message-Id"))?,
    );
    map.append(UPSTASH_RETRIED, HeaderValue::from(m.retried));
    if let Some(schedule_id) = &m.schedule_id {
        map.append(
            UPSTASH_SCHEDULE_ID,
            HeaderValue::from_str(schedule_id).map_err(|_| cannot("Upstash-Schedule-Id"))?,
        );
    }
    if let Some(topic) = &m.delivery.topic {
        map.append(
            UPSTASH_TOPIC_NAME,
            HeaderValue::from_str(&topic.name).map_err(|_| cannot("Upstash-Topic-Name"))?,
        );
    }
    if let Some(slot) = m.slot_at {
        // Not QStash's: tells the receiver which slot this is, also when it
        // arrives late (misfire, retries).
        map.append(CRONHOOK_SLOT_TIME, HeaderValue::from(slot));
    }
    if let Some(ip) = &m.caller_ip {
        map.append(
            UPSTASH_CALLER_IP,
            HeaderValue::from_str(ip).map_err(|_| cannot("Upstash-Caller-Ip"))?,
        );
    }
    Ok(map)
}

const UPSTASH_SIGNATURE: HeaderName = HeaderName::from_static("upstash-signature");
const UPSTASH_MESSAGE_ID: HeaderName = HeaderName::from_static("upstash-message-id");
const UPSTASH_RETRIED: HeaderName = HeaderName::from_static("upstash-retried");
const UPSTASH_SCHEDULE_ID: HeaderName = HeaderName::from_static("upstash-schedule-id");
const UPSTASH_TOPIC_NAME: HeaderName = HeaderName::from_static("upstash-topic-name");
const UPSTASH_CALLER_IP: HeaderName = HeaderName::from_static("upstash-caller-ip");
const CRONHOOK_SLOT_TIME: HeaderName = HeaderName::from_static("cronhook-slot-time");

/// What an attempt got back, as logged and kept in the DLQ.
pub(super) fn response_of(reply: &Reply) -> AttemptResponse {
    match reply {
        Reply::Response {
            status,
            headers,
            body,
        } => {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.entry(canonical_header_name(name.as_str()))
                    .or_default()
                    .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
            AttemptResponse {
                status: Some(*status),
                headers: map,
                body: body.to_vec(),
                error: if (200..300).contains(status) {
                    String::new()
                } else {
                    format!("HTTP {status}")
                },
            }
        }
        Reply::NoResponse(e) => AttemptResponse {
            error: e.clone(),
            ..AttemptResponse::default()
        },
    }
}

/// A destination as logs show it: without its query string, which may
/// carry a secret of the receiver's.
pub(super) fn shown(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_destinations_leave_out_the_query() {
        assert_eq!(
            shown("http://a.test/hook?token=s3cret"),
            "http://a.test/hook"
        );
        assert_eq!(shown("http://a.test/x#frag"), "http://a.test/x");
        assert_eq!(shown("http://a.test/plain"), "http://a.test/plain");
    }
}
