//! What an attempt's reply means for the message: delivered, retry when, or failed.
//! Pure, so the retry rules (§9.1–9.3) are tested as a table.

use std::time::{Duration, UNIX_EPOCH};

use crate::engine::client::Reply;
use crate::model::{Message, Millis};
use crate::retry::{default_backoff, is_non_retryable, retry_after, RetryDelayExpr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again at `due_at`.
    Retry {
        due_at: Millis,
    },
    /// Out of attempts, or told not to retry: dead-letter it.
    Failed,
}

/// Decides after an attempt of `m` that ended at `now` with `reply`.
/// `retry_scale` shrinks the default backoff (a development option).
pub fn decide(m: &Message, reply: &Reply, now: Millis, retry_scale: f64) -> Decision {
    let headers = match reply {
        Reply::Response { status, .. } if (200..300).contains(status) => {
            return Decision::Delivered
        }
        Reply::Response {
            status, headers, ..
        } => {
            if is_non_retryable(*status, headers) {
                return Decision::Failed;
            }
            Some(headers)
        }
        Reply::NoResponse(_) => None,
    };
    if m.retried >= m.delivery.retries {
        return Decision::Failed;
    }
    let wall = UNIX_EPOCH + Duration::from_millis(now.max(0) as u64);
    let delay = headers
        .and_then(|h| retry_after(h, wall))
        .or_else(|| {
            let expr = m.delivery.retry_delay.as_deref()?;
            RetryDelayExpr::parse(expr).ok().map(|e| e.delay(m.retried))
        })
        .unwrap_or_else(|| default_backoff(m.retried, retry_scale));
    Decision::Retry {
        due_at: now + delay.as_millis() as Millis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Delivery;
    use bytes::Bytes;
    use http::HeaderMap;

    const NOW: Millis = 1_800_000_000_000;

    fn message(retried: u32, retries: u32, retry_delay: Option<&str>) -> Message {
        let delivery = Delivery {
            retries,
            retry_delay: retry_delay.map(str::to_owned),
            ..Delivery::default()
        };
        Message {
            retried,
            ..Message::new("http://127.0.0.1:1/".into(), delivery, vec![], NOW, NOW)
        }
    }

    fn reply(status: u16, headers: &[(&str, &str)]) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Reply::Response {
            status,
            headers: map,
            body: Bytes::new(),
        }
    }

    fn retry_in(ms: Millis) -> Decision {
        Decision::Retry { due_at: NOW + ms }
    }

    #[test]
    fn decision_table() {
        let timeout = Reply::NoResponse("timed out".into());
        let cases: Vec<(&str, Message, Reply, Decision)> = vec![
            (
                "200 is delivered",
                message(0, 3, None),
                reply(200, &[]),
                Decision::Delivered,
            ),
            (
                "204 is delivered",
                message(3, 3, None),
                reply(204, &[]),
                Decision::Delivered,
            ),
            (
                "500, first retry after e^2.5 s",
                message(0, 3, None),
                reply(500, &[]),
                retry_in(12_182),
            ),
            (
                "timeout retries too",
                message(1, 3, None),
                timeout.clone(),
                retry_in(148_413),
            ),
            (
                "redirect is a failure",
                message(0, 3, None),
                reply(302, &[]),
                retry_in(12_182),
            ),
            (
                "last attempt fails",
                message(3, 3, None),
                reply(500, &[]),
                Decision::Failed,
            ),
            (
                "zero retries fails at once",
                message(0, 0, None),
                timeout,
                Decision::Failed,
            ),
            (
                "retry delay expression",
                message(2, 3, Some("1000 * (1 + retried)")),
                reply(500, &[]),
                retry_in(3000),
            ),
            (
                "Retry-After wins over the expression",
                message(0, 3, Some("5000")),
                reply(429, &[("retry-after", "7")]),
                retry_in(7000),
            ),
            (
                "489 with the header fails at once",
                message(0, 3, None),
                reply(489, &[("upstash-nonretryable-error", "true")]),
                Decision::Failed,
            ),
            (
                "489 without the header retries",
                message(0, 3, Some("10")),
                reply(489, &[]),
                retry_in(10),
            ),
        ];
        for (name, m, r, want) in cases {
            assert_eq!(decide(&m, &r, NOW, 1.0), want, "{name}");
        }
    }

    #[test]
    fn retry_scale_shrinks_only_the_default_backoff() {
        assert_eq!(
            decide(&message(0, 3, None), &reply(500, &[]), NOW, 0.001),
            retry_in(12)
        );
        assert_eq!(
            decide(&message(0, 3, Some("100")), &reply(500, &[]), NOW, 0.001),
            retry_in(100)
        );
    }
}
