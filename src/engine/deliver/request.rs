//! The request of one attempt (§7.2): the forwarded headers, cronhook's own,
//! a fresh signature over the exact body (§8), and what came back.

use std::time::Duration;

use bytes::Bytes;

use crate::engine::client::{Outgoing, Reply};
use crate::engine::Ctx;
use crate::ids;
use crate::model::{
    canonical_header_name, is_transport_or_delivery_header, AttemptResponse, HeaderMap, Message,
};
use crate::signing::{sign, Claims};

/// Sends the attempt of `m` with `body` (the message body when `None`, else
/// a workflow delivery's run log). `extra` are headers cronhook adds for this
/// delivery (`Upstash-Workflow-RunId`).
pub(super) async fn send(
    ctx: &Ctx,
    m: &Message,
    body: Option<Vec<u8>>,
    extra: Vec<(String, String)>,
) -> Reply {
    let body = Bytes::from(body.unwrap_or_else(|| m.body.clone()));
    let signing_key = ctx
        .keys
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .current
        .clone();
    let now_secs = ctx.clock.now_ms() / 1000;
    let claims = Claims::new(&m.url, &body, now_secs, ids::jwt_id());
    // Headers cronhook sets itself win over forwarded ones of the same name,
    // and framing headers are never forwarded: a first invocation forwards
    // every header it got, a stale Content-Length included (workflow-wire §7.1).
    let mut headers: Vec<(String, String)> = m
        .delivery
        .headers
        .iter()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !is_transport_or_delivery_header(&lower)
                && !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(&lower))
        })
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
        .collect();
    headers.extend(extra);
    headers.push(("User-Agent".into(), "Upstash-QStash".into()));
    headers.push(("Upstash-Signature".into(), sign(&claims, &signing_key)));
    headers.push(("Upstash-Message-Id".into(), m.id.clone()));
    headers.push(("Upstash-Retried".into(), m.retried.to_string()));
    if let Some(schedule_id) = &m.schedule_id {
        headers.push(("Upstash-Schedule-Id".into(), schedule_id.clone()));
    }
    if let Some(topic) = &m.delivery.topic {
        headers.push(("Upstash-Topic-Name".into(), topic.name.clone()));
    }
    if let Some(slot) = m.slot_at {
        // Not QStash's: tells the receiver which slot this is, also when it
        // arrives late (misfire, retries).
        headers.push(("Cronhook-Slot-Time".into(), slot.to_string()));
    }
    if let Some(ip) = &m.caller_ip {
        headers.push(("Upstash-Caller-Ip".into(), ip.clone()));
    }
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
