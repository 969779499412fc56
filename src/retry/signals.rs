//! What the destination's response says about retrying: a requested wait
//! (`Retry-After` and the rate-limit headers) or a permanent failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use super::MAX_RETRY_DELAY;
use crate::duration::{parse_duration, parse_go_duration, DurationError};

/// Response headers that can set the next retry time (§9.3), in order of precedence.
const RETRY_SIGNAL_HEADERS: [&str; 4] = [
    "retry-after",
    "x-ratelimit-reset",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
];

/// How a destination asked us to wait, from the headers of a failed response (§9.3).
///
/// Looks at `Retry-After`, `X-RateLimit-Reset`, `X-RateLimit-Reset-Requests` and
/// `X-RateLimit-Reset-Tokens` in that order; the first value that parses wins. A value may be:
/// - seconds, integer or decimal (`120`, `1.5`; `0` means retry immediately);
/// - on the three `X-RateLimit-Reset*` headers only, an integer above 1 000 000 000 is a
///   Unix time in seconds (`1767225600`, the GitHub convention); the wait is the time until
///   then, or zero if it has passed;
/// - an RFC 1123 / RFC 2822 date (`Wed, 21 Oct 2015 07:28:00 GMT`); the wait is the time
///   until then, or zero if it has passed;
/// - a Go-style duration (`6m5s`, `1.5h`).
///
/// Returns `None` when no header is present or none parses, so the caller falls back to
/// the expression or default backoff. It also returns `None` when the winning value asks for
/// more than one day ([`MAX_RETRY_DELAY`]): QStash then applies the default backoff rather
/// than the cap, and it does not look at the remaining headers, since the destination
/// has already said what it wants.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in RETRY_SIGNAL_HEADERS {
        // Everything after Retry-After is a rate-limit reset.
        let reset = name != "retry-after";
        for value in headers.get_all(name) {
            match read_signal(value.as_bytes(), reset, now) {
                Signal::Wait(wait) => return Some(wait),
                Signal::TooLong => return None,
                Signal::Unreadable => {}
            }
        }
    }
    None
}

enum Signal {
    Wait(Duration),
    TooLong,
    Unreadable,
}

/// Integers above this on an `X-RateLimit-Reset*` header are Unix times in seconds, not
/// waits. Rate-limited APIs use both conventions for the same header name (OpenAI sends
/// seconds or `6m0s`, GitHub sends `1767225600`), and no value is ambiguous: as a wait this
/// is over 31 years, far past the one-day cap, and as a time it is September 2001, long
/// past. `Retry-After` is left alone, since RFC 9110 defines it as delta-seconds or a date.
const UNIX_TIME_FLOOR: i64 = 1_000_000_000;

/// Reads one header value; `reset` says it is an `X-RateLimit-Reset*` header, which may
/// carry a Unix time.
fn read_signal(value: &[u8], reset: bool, now: SystemTime) -> Signal {
    let Ok(text) = std::str::from_utf8(value) else {
        return Signal::Unreadable;
    };
    let text = text.trim();
    let is_seconds = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if reset && is_seconds {
        // Digits only, so this is an integer; one too large for i64 is read below as a
        // (far too long) number of seconds, which gives the same answer.
        if let Some(at) = text.parse::<i64>().ok().filter(|&t| t > UNIX_TIME_FLOOR) {
            return until(at, 0, now);
        }
    }
    let parsed = if is_seconds {
        // A bare Upstash-style duration is exactly "decimal seconds".
        parse_duration(text)
    } else if let Ok(date) = chrono::DateTime::parse_from_rfc2822(text) {
        return until(date.timestamp(), date.timestamp_subsec_nanos(), now);
    } else {
        parse_go_duration(text)
    };
    match parsed {
        Ok(wait) if wait > MAX_RETRY_DELAY => Signal::TooLong,
        Ok(wait) => Signal::Wait(wait),
        Err(DurationError::Overflow { .. }) => Signal::TooLong,
        Err(_) => Signal::Unreadable,
    }
}

/// The wait from `now` until a Unix time, computed in `i128` nanoseconds because chrono's
/// `From<SystemTime>` panics for times outside its range.
fn until(secs: i64, nanos: u32, now: SystemTime) -> Signal {
    const NANOS_PER_SEC: i128 = 1_000_000_000;
    let target = i128::from(secs) * NANOS_PER_SEC + i128::from(nanos);
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    let wait = target.saturating_sub(now);
    if wait <= 0 {
        Signal::Wait(Duration::ZERO)
    } else if wait > MAX_RETRY_DELAY.as_nanos() as i128 {
        Signal::TooLong
    } else {
        Signal::Wait(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        ))
    }
}

/// True when the destination declared the failure permanent (§9.3): status 489 *and*
/// `Upstash-NonRetryable-Error: true` (value compared case-insensitively, ignoring
/// surrounding whitespace). Both are required so that an unrelated 489, or the header on
/// an ordinary error, keeps the normal retry behaviour.
pub fn is_non_retryable(status: u16, headers: &HeaderMap) -> bool {
    status == 489
        && headers
            .get_all("upstash-nonretryable-error")
            .iter()
            .any(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"true"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    /// 2015-10-21 07:28:00 UTC, the instant in MDN's Retry-After example.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    /// Header (name, value) pairs, in the order they arrive.
    type Headers<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Headers) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_signals() {
        let s = Duration::from_secs;
        let table: &[(Headers, Option<Duration>)] = &[
            // Nothing to go on.
            (&[], None),
            (&[("Content-Type", "text/plain")], None),
            // Each header, seconds form.
            (&[("Retry-After", "120")], Some(s(120))),
            (&[("X-RateLimit-Reset", "30")], Some(s(30))),
            (&[("X-RateLimit-Reset-Requests", "7")], Some(s(7))),
            (&[("X-RateLimit-Reset-Tokens", "9")], Some(s(9))),
            // `0` means immediately; decimals are fine.
            (&[("Retry-After", "0")], Some(Duration::ZERO)),
            (&[("Retry-After", "1.5")], Some(ms(1_500))),
            (&[("Retry-After", " 10 ")], Some(s(10))),
            // HTTP dates: the wait is the time until then, never negative.
            (
                &[("Retry-After", "Wed, 21 Oct 2015 07:30:00 GMT")],
                Some(s(120)),
            ),
            (
                &[("Retry-After", "Wed, 21 Oct 2015 09:30:00 +0200")],
                Some(s(120)),
            ),
            (&[("Retry-After", "21 Oct 2015 07:28:05 UT")], Some(s(5))),
            (
                &[("Retry-After", "Wed, 21 Oct 2015 07:00:00 GMT")],
                Some(Duration::ZERO),
            ),
            (
                &[("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT")],
                Some(Duration::ZERO),
            ),
            // Go-style durations.
            (&[("Retry-After", "6m5s")], Some(s(365))),
            (&[("X-RateLimit-Reset-Requests", "1.5s")], Some(ms(1_500))),
            (&[("X-RateLimit-Reset-Tokens", "6m0s")], Some(s(360))),
            (&[("X-RateLimit-Reset", "250ms")], Some(ms(250))),
            // Precedence: Retry-After, then -Reset, -Reset-Requests, -Reset-Tokens.
            (
                &[("X-RateLimit-Reset", "20"), ("Retry-After", "10")],
                Some(s(10)),
            ),
            (
                &[
                    ("X-RateLimit-Reset-Tokens", "40"),
                    ("X-RateLimit-Reset-Requests", "30"),
                ],
                Some(s(30)),
            ),
            (
                &[
                    ("X-RateLimit-Reset-Tokens", "40"),
                    ("X-RateLimit-Reset", "20"),
                ],
                Some(s(20)),
            ),
            // An unparseable value is skipped; the next one that parses wins.
            (
                &[("Retry-After", "soon"), ("X-RateLimit-Reset", "20")],
                Some(s(20)),
            ),
            (&[("Retry-After", "soon"), ("Retry-After", "3")], Some(s(3))),
            (
                &[("Retry-After", ""), ("X-RateLimit-Reset-Tokens", "1m")],
                Some(s(60)),
            ),
            (&[("Retry-After", "-5")], None),
            (&[("Retry-After", "1.2.3")], None),
            (&[("Retry-After", "1d")], None),
            (&[("Retry-After", "5")], Some(s(5))),
            // The one-day cap: exactly a day is honoured, more means default backoff…
            (&[("Retry-After", "86400")], Some(MAX_RETRY_DELAY)),
            (&[("Retry-After", "24h")], Some(MAX_RETRY_DELAY)),
            (&[("Retry-After", "86401")], None),
            (&[("Retry-After", "86400.001")], None),
            (&[("Retry-After", "24h0m1s")], None),
            (
                &[("Retry-After", "Thu, 22 Oct 2015 07:28:00 GMT")],
                Some(MAX_RETRY_DELAY),
            ),
            (&[("Retry-After", "Fri, 23 Oct 2015 07:28:00 GMT")], None),
            (&[("Retry-After", "99999999999999999999999999")], None),
            // …and the oversized winner is not overridden by a later header.
            (
                &[("Retry-After", "90000"), ("X-RateLimit-Reset", "5")],
                None,
            ),
        ];
        for (pairs, want) in table {
            assert_eq!(retry_after(&headers(pairs), now()), *want, "{pairs:?}");
        }
    }

    #[test]
    fn rate_limit_resets_given_as_unix_times() {
        let s = Duration::from_secs;
        // now() is 1_445_412_480; the floor between "seconds" and "a Unix time" is 10⁹.
        let table: &[(Headers, Option<Duration>)] = &[
            // Each reset header, a time two minutes ahead.
            (&[("X-RateLimit-Reset", "1445412600")], Some(s(120))),
            (
                &[("X-RateLimit-Reset-Requests", "1445412600")],
                Some(s(120)),
            ),
            (&[("X-RateLimit-Reset-Tokens", "1445412600")], Some(s(120))),
            (&[("X-RateLimit-Reset", " 1445412481 ")], Some(s(1))),
            // Now or in the past: retry at once.
            (&[("X-RateLimit-Reset", "1445412480")], Some(Duration::ZERO)),
            (&[("X-RateLimit-Reset", "1445000000")], Some(Duration::ZERO)),
            (&[("X-RateLimit-Reset", "1000000001")], Some(Duration::ZERO)),
            // The one-day cap, as for the other forms.
            (
                &[("X-RateLimit-Reset", "1445498880")],
                Some(MAX_RETRY_DELAY),
            ),
            (&[("X-RateLimit-Reset", "1445498881")], None),
            (&[("X-RateLimit-Reset-Tokens", "1767225600")], None),
            (&[("X-RateLimit-Reset", "9223372036854775807")], None),
            (&[("X-RateLimit-Reset", "99999999999999999999999999")], None),
            // Up to the floor, an integer is still seconds, refused when over a day.
            (&[("X-RateLimit-Reset", "1000000000")], None),
            (&[("X-RateLimit-Reset", "999999999")], None),
            (&[("X-RateLimit-Reset", "86400")], Some(MAX_RETRY_DELAY)),
            (&[("X-RateLimit-Reset", "60")], Some(s(60))),
            // Only integers are times; a decimal is seconds.
            (&[("X-RateLimit-Reset", "1445412600.5")], None),
            (&[("X-RateLimit-Reset", "1445412600.0")], None),
            // Retry-After keeps RFC 9110's meaning: a large number is seconds.
            (&[("Retry-After", "1445412600")], None),
            // Precedence is unchanged: Retry-After first, and an oversized time wins too.
            (
                &[("X-RateLimit-Reset", "1445412600"), ("Retry-After", "10")],
                Some(s(10)),
            ),
            (
                &[
                    ("X-RateLimit-Reset-Requests", "30"),
                    ("X-RateLimit-Reset", "1445412540"),
                ],
                Some(s(60)),
            ),
            (
                &[
                    ("X-RateLimit-Reset", "1445498881"),
                    ("X-RateLimit-Reset-Requests", "5"),
                ],
                None,
            ),
        ];
        for (pairs, want) in table {
            assert_eq!(retry_after(&headers(pairs), now()), *want, "{pairs:?}");
        }
    }

    #[test]
    fn retry_after_ignores_opaque_bytes_and_odd_clocks() {
        let mut map = HeaderMap::new();
        map.append("retry-after", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        map.append("retry-after", HeaderValue::from_static("4"));
        assert_eq!(retry_after(&map, now()), Some(Duration::from_secs(4)));

        // A clock before 1970 or at the far end of SystemTime must not panic.
        let date = headers(&[("Retry-After", "Wed, 21 Oct 2015 07:30:00 GMT")]);
        assert_eq!(
            retry_after(&date, UNIX_EPOCH - Duration::from_secs(1)),
            None
        );
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert_eq!(retry_after(&date, far), Some(Duration::ZERO));
    }

    #[test]
    fn non_retryable_errors() {
        // (status, Upstash-NonRetryable-Error value, fails at once?)
        let table: &[(u16, Option<&str>, bool)] = &[
            (489, Some("true"), true),
            (489, Some("TRUE"), true),
            (489, Some("True"), true),
            (489, Some(" true "), true),
            (489, Some("false"), false),
            (489, Some("1"), false),
            (489, Some("yes"), false),
            (489, Some(""), false),
            (489, None, false),
            (500, Some("true"), false),
            (429, Some("true"), false),
            (200, Some("true"), false),
        ];
        for (status, value, want) in table {
            let map = match value {
                Some(v) => headers(&[("Upstash-NonRetryable-Error", v)]),
                None => HeaderMap::new(),
            };
            assert_eq!(is_non_retryable(*status, &map), *want, "{status} {value:?}");
        }
    }

    proptest! {
        #[test]
        fn retry_after_never_panics_or_exceeds_a_day(
            name in prop::sample::select(RETRY_SIGNAL_HEADERS.to_vec()),
            value in ".*",
            now_secs in 0u64..4_000_000_000,
        ) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                let mut map = HeaderMap::new();
                map.insert(name, value);
                let now = UNIX_EPOCH + Duration::from_secs(now_secs);
                prop_assert!(retry_after(&map, now).is_none_or(|d| d <= MAX_RETRY_DELAY));
            }
        }

        #[test]
        fn rate_limit_resets_read_unix_times_up_to_a_day_ahead(
            name in prop::sample::select(RETRY_SIGNAL_HEADERS[1..].to_vec()),
            now_secs in 1_000_000_001u64..4_000_000_000,
            ahead in 0u64..=86_400,
        ) {
            let map = headers(&[(name, &(now_secs + ahead).to_string())]);
            let now = UNIX_EPOCH + Duration::from_secs(now_secs);
            prop_assert_eq!(retry_after(&map, now), Some(Duration::from_secs(ahead)));
        }

        #[test]
        fn retry_after_reads_whole_seconds(n in 0u64..=86_400) {
            let map = headers(&[("Retry-After", &n.to_string())]);
            prop_assert_eq!(retry_after(&map, now()), Some(Duration::from_secs(n)));
        }
    }
}
