//! `Upstash-*` request headers → domain settings (§5.1, §5.3).
//!
//! Every value is validated here, so a bad one is a 400 that names the header
//! and the problem, and nothing is stored.

use http::HeaderMap;

use crate::cron::CronSpec;
use crate::duration::parse_duration;
use crate::model::{
    canonical_header_name, CallbackOptions, Delivery, FlowControl, HeaderMap as Headers, Misfire,
};
use crate::retry::RetryDelayExpr;

use super::destination::validate_url;

/// Methods QStash delivers with (§5.1).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Most retries a message may ask for; QStash's plans allow far fewer.
pub const MAX_RETRIES: u32 = 100;

/// Longest `Upstash-Delay` accepted: one year.
const MAX_DELAY_MS: u64 = 365 * 86_400_000;

/// Longest per-attempt timeout accepted: one day.
const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// Callback settings with names of their own; not forwarded as headers.
const CALLBACK_SETTINGS: [&str; 5] = ["method", "timeout", "retries", "retry-delay", "delay"];

/// A bad header: `Display` names the header and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{header}: {problem}")]
pub struct HeaderError {
    pub header: String,
    pub problem: String,
}

fn bad(header: &str, problem: impl Into<String>) -> HeaderError {
    HeaderError {
        header: header.into(),
        problem: problem.into(),
    }
}

/// The settings of a schedule create request.
#[derive(Debug, Clone)]
pub struct ScheduleHeaders {
    pub cron: CronSpec,
    pub schedule_id: Option<String>,
    pub misfire: Misfire,
    pub delivery: Delivery,
    /// `Cronhook-Start-At`, Unix ms.
    pub start_at: Option<i64>,
    /// `Cronhook-End-At`, Unix ms.
    pub end_at: Option<i64>,
}

/// The schedule bounds' headers; on anything but a schedule they are refused.
pub const BOUND_HEADERS: [&str; 2] = ["Cronhook-Start-At", "Cronhook-End-At"];

/// Latest instant accepted: 9999-12-31T23:59:59Z, as for `Upstash-Not-Before`.
const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// `Cronhook-Start-At` / `Cronhook-End-At`: Unix seconds, or RFC 3339
/// (`2026-12-08T09:00:00Z`, `2026-12-08T10:00:00+01:00`), as Unix ms.
fn instant(headers: &HeaderMap, header: &str) -> Result<Option<i64>, HeaderError> {
    let Some(v) = present(headers, &header.to_ascii_lowercase())? else {
        return Ok(None);
    };
    let ms = if v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<i64>()
            .ok()
            .filter(|s| *s <= MAX_UNIX_SECS)
            .map(|s| s * 1000)
    } else {
        chrono::DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| t.timestamp_millis())
            .filter(|ms| (0..=MAX_UNIX_SECS * 1000).contains(ms))
    };
    let hint = if v.contains(' ') {
        " (in a query string, write + as %2B)"
    } else {
        ""
    };
    ms.map(Some).ok_or_else(|| {
        bad(
            header,
            format!(
                "\"{v}\" is not a Unix time in seconds or an RFC 3339 time such as \
                 2026-12-08T09:00:00Z{hint}"
            ),
        )
    })
}

/// Refuses the schedule bounds on a request that makes no schedule.
fn refuse_bounds(headers: &HeaderMap) -> Result<(), HeaderError> {
    for header in BOUND_HEADERS {
        if headers.contains_key(header.to_ascii_lowercase().as_str()) {
            return Err(bad(
                header,
                "is only for schedules (with Upstash-Cron); a message waits with Upstash-Not-Before \
                 or Upstash-Delay",
            ));
        }
    }
    Ok(())
}

/// A header value as text: any UTF-8 (a forwarded `X-Name: Zoë` is fine),
/// refused only when its bytes are not UTF-8.
fn utf8<'a>(name: &str, v: &'a http::HeaderValue) -> Result<&'a str, HeaderError> {
    std::str::from_utf8(v.as_bytes()).map_err(|_| {
        bad(
            &canonical_header_name(name),
            "value is not valid UTF-8 text",
        )
    })
}

/// Reads a header as trimmed text; `None` when absent.
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, HeaderError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => utf8(name, v).map(|s| Some(s.trim())),
    }
}

fn boolean(headers: &HeaderMap, name: &str) -> Result<bool, HeaderError> {
    match text(headers, name)? {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v.is_empty() => Ok(false),
        Some(v) => Err(bad(name, format!("\"{v}\" is not true or false"))),
    }
}

/// Parses the headers of `POST /v2/schedules/{destination}` (§5.3).
pub fn schedule(headers: &HeaderMap) -> Result<ScheduleHeaders, HeaderError> {
    let seconds = boolean(headers, "cronhook-cron-seconds")?;
    let cron = match text(headers, "upstash-cron")? {
        None | Some("") => return Err(bad("Upstash-Cron", "header is required for a schedule")),
        Some(expr) => {
            CronSpec::parse(expr, seconds).map_err(|e| bad("Upstash-Cron", e.to_string()))?
        }
    };
    // A date that never comes (`0 0 30 2 *`) is a mistake, not a schedule.
    if cron.next_after(0).is_none() {
        return Err(bad(
            "Upstash-Cron",
            format!("\"{}\" never fires (no such date)", cron.expression()),
        ));
    }
    if headers.contains_key("upstash-not-before") {
        return Err(bad(
            "Upstash-Not-Before",
            "is not supported for schedules; use Upstash-Delay to delay each fired message",
        ));
    }
    let schedule_id = text(headers, "upstash-schedule-id")?
        .filter(|s| !s.is_empty())
        .map(|id| {
            validate_schedule_id(id)
                .map(|_| id.to_owned())
                .map_err(|p| bad("Upstash-Schedule-Id", p))
        })
        .transpose()?;
    let misfire = match text(headers, "cronhook-misfire")? {
        None | Some("") => Misfire::default(),
        Some(v) => Misfire::parse(v).ok_or_else(|| {
            bad(
                "Cronhook-Misfire",
                format!("\"{v}\" is not one of skip, once, all"),
            )
        })?,
    };
    Ok(ScheduleHeaders {
        cron,
        schedule_id,
        misfire,
        delivery: delivery(headers)?,
        start_at: instant(headers, "Cronhook-Start-At")?,
        end_at: instant(headers, "Cronhook-End-At")?,
    })
}

/// Schedule ids: QStash's `[A-Za-z0-9._-]`, plus `@` and `+` so per-user ids
/// made from e-mail addresses work (`user-summary-ann@example.com`).
pub fn validate_schedule_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 200 {
        return Err("must be 1 to 200 characters".into());
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-@+".contains(*c)))
    {
        Some(c) => Err(format!(
            "character {c:?} is not allowed; use letters, digits and . _ - @ +"
        )),
        None => Ok(()),
    }
}

/// Queue names follow the same rule as other names (§2.2).
pub fn validate_queue_name(name: &str) -> Result<(), HeaderError> {
    validate_name("queue name", name)
}

/// Names of queues, URL groups and labels: `[A-Za-z0-9._-]` (§2.2).
/// `field` is what an error names.
pub(crate) fn validate_name(header: &str, name: &str) -> Result<(), HeaderError> {
    if name.is_empty() || name.len() > 200 {
        return Err(bad(header, "must be 1 to 200 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(bad(
            header,
            format!("character {c:?} is not allowed; use letters, digits and . _ -"),
        ));
    }
    Ok(())
}

/// Parses the message-configuration headers shared by publish and schedules (§5.1).
pub fn delivery(headers: &HeaderMap) -> Result<Delivery, HeaderError> {
    delivery_onto(headers, Delivery::default())
}

/// Applies every message-configuration header present in `headers` onto
/// `base`; absent headers leave `base` as it is. A DLQ retry uses this to let
/// the retry request override the original settings (§4.8).
pub fn delivery_onto(headers: &HeaderMap, mut d: Delivery) -> Result<Delivery, HeaderError> {
    if let Some(v) = present(headers, "upstash-method")? {
        d.method = method("Upstash-Method", v)?;
    }
    if let Some(v) = present(headers, "upstash-retries")? {
        d.retries = retries("Upstash-Retries", v)?;
    }
    if let Some(v) = present(headers, "upstash-retry-delay")? {
        d.retry_delay = Some(retry_delay("Upstash-Retry-Delay", v)?);
    }
    if let Some(v) = present(headers, "upstash-timeout")? {
        d.timeout_ms = Some(timeout("Upstash-Timeout", v)?);
    }
    if let Some(v) = present(headers, "upstash-delay")? {
        d.delay_ms = delay("Upstash-Delay", v)?;
    }
    for (header, slot) in [
        ("Upstash-Callback", &mut d.callback),
        ("Upstash-Failure-Callback", &mut d.failure_callback),
    ] {
        if let Some(url) = present(headers, &header.to_ascii_lowercase())? {
            *slot = Some(validate_url(url).map_err(|p| bad(header, p))?);
        }
    }
    callback_options(headers, "Upstash-Callback", &mut d.callback_options)?;
    callback_options(
        headers,
        "Upstash-Failure-Callback",
        &mut d.failure_callback_options,
    )?;
    if let Some(v) = text(headers, "upstash-label")? {
        d.labels.clear();
        for label in v.split(',').map(str::trim).filter(|l| !l.is_empty()) {
            validate_name("Upstash-Label", label)?;
            d.labels.push(label.to_owned());
        }
    }
    if let Some(v) = present(headers, "upstash-queue-name")? {
        validate_name("Upstash-Queue-Name", v)?;
        d.queue_name = Some(v.to_owned());
    }
    if let Some(fc) = flow_control(headers)? {
        d.flow_control = Some(fc);
    }
    if let Some(v) = present(headers, "upstash-redact-fields")? {
        validate_redact(v)?;
        d.redact = Some(v.to_owned());
    }
    forwarded_headers(headers, &mut d)?;
    Ok(d)
}

/// A header's trimmed text when it is present and not empty.
fn present<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, HeaderError> {
    Ok(text(headers, name)?.filter(|v| !v.is_empty()))
}

fn method(header: &str, v: &str) -> Result<String, HeaderError> {
    let upper = v.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(bad(
            header,
            format!("\"{v}\" is not one of {}", METHODS.join(", ")),
        ));
    }
    Ok(upper)
}

fn retries(header: &str, v: &str) -> Result<u32, HeaderError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_RETRIES)
        .ok_or_else(|| {
            bad(
                header,
                format!("\"{v}\" is not a whole number from 0 to {MAX_RETRIES}"),
            )
        })
}

fn retry_delay(header: &str, v: &str) -> Result<String, HeaderError> {
    let expr = RetryDelayExpr::parse(v).map_err(|e| bad(header, e.to_string()))?;
    Ok(expr.source().to_owned())
}

fn timeout(header: &str, v: &str) -> Result<u64, HeaderError> {
    let ms = parse_duration(v)
        .map_err(|e| bad(header, e.to_string()))?
        .as_millis() as u64;
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(bad(
            header,
            format!("\"{v}\" must be more than 0 and at most 1d"),
        ));
    }
    Ok(ms)
}

/// A delay of at most a year, in milliseconds; `header` names it in errors.
pub(crate) fn delay(header: &str, v: &str) -> Result<u64, HeaderError> {
    let ms = parse_duration(v)
        .map_err(|e| bad(header, e.to_string()))?
        .as_millis() as u64;
    if ms > MAX_DELAY_MS {
        return Err(bad(header, format!("\"{v}\" is longer than one year")));
    }
    Ok(ms)
}

/// `<prefix>-Method`, `-Retries`, `-Retry-Delay`, `-Timeout`, `-Delay`.
fn callback_options(
    headers: &HeaderMap,
    prefix: &str,
    o: &mut CallbackOptions,
) -> Result<(), HeaderError> {
    let name = |setting: &str| format!("{prefix}-{setting}");
    let get = |setting: &str| -> Result<Option<(String, &str)>, HeaderError> {
        let n = name(setting);
        Ok(present(headers, &n.to_ascii_lowercase())?.map(|v| (n, v)))
    };
    if let Some((h, v)) = get("Method")? {
        o.method = Some(method(&h, v)?);
    }
    if let Some((h, v)) = get("Retries")? {
        o.retries = Some(retries(&h, v)?);
    }
    if let Some((h, v)) = get("Retry-Delay")? {
        o.retry_delay = Some(retry_delay(&h, v)?);
    }
    if let Some((h, v)) = get("Timeout")? {
        o.timeout_ms = Some(timeout(&h, v)?);
    }
    if let Some((h, v)) = get("Delay")? {
        o.delay_ms = Some(delay(&h, v)?);
    }
    Ok(())
}

/// Settings only a published message has.
#[derive(Debug, Clone)]
pub struct PublishHeaders {
    pub delivery: Delivery,
    /// `Upstash-Not-Before`, in ms; overrides `Upstash-Delay` (§5.1).
    pub not_before: Option<i64>,
    pub deduplication_id: Option<String>,
    pub content_based_deduplication: bool,
    /// `Upstash-Header-Forward: true`: forward every incoming header (webhook mode).
    pub forward_all_headers: bool,
}

/// Parses the headers of `POST /v2/publish/{destination}` (§5.1).
pub fn publish(headers: &HeaderMap) -> Result<PublishHeaders, HeaderError> {
    let not_before = match present(headers, "upstash-not-before")? {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|s| (0..=253_402_300_799).contains(s))
                .map(|s| s * 1000)
                .ok_or_else(|| {
                    bad(
                        "Upstash-Not-Before",
                        format!("\"{v}\" is not a Unix time in seconds"),
                    )
                })?,
        ),
    };
    let deduplication_id = present(headers, "upstash-deduplication-id")?.map(str::to_owned);
    if deduplication_id.as_ref().is_some_and(|id| id.len() > 1000) {
        return Err(bad(
            "Upstash-Deduplication-Id",
            "is longer than 1000 characters",
        ));
    }
    let forward_all_headers = boolean(headers, "upstash-header-forward")?;
    // With every header forwarded they are the sender's own, not settings.
    if !forward_all_headers {
        refuse_bounds(headers)?;
    }
    Ok(PublishHeaders {
        delivery: delivery(headers)?,
        not_before,
        deduplication_id,
        content_based_deduplication: boolean(headers, "upstash-content-based-deduplication")?,
        forward_all_headers,
    })
}

/// Adds the query-string equivalents of `Upstash-*` headers (§5.1: lower-cased
/// names as keys, e.g. `?upstash-delay=10s`), and of cronhook's own
/// `Cronhook-*` ones (`?cronhook-start-at=…`); a real header wins.
pub fn with_query(headers: &HeaderMap, query: Option<&str>) -> Result<HeaderMap, HeaderError> {
    let mut merged = headers.clone();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| bad("query string", e.to_string()))?;
    for (key, value) in pairs {
        let key = key.to_ascii_lowercase();
        let ours = key.starts_with("upstash-") || key.starts_with("cronhook-");
        if !ours || headers.contains_key(key.as_str()) {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) else {
            return Err(bad(&key, "is not a valid header name or value"));
        };
        merged.append(name, value);
    }
    Ok(merged)
}

/// Sorts `Upstash-Forward-*`, `Upstash-(Failure-)Callback-(Forward-)*` and
/// `Content-Type` into the header maps, prefixes stripped, names canonical.
fn forwarded_headers(headers: &HeaderMap, d: &mut Delivery) -> Result<(), HeaderError> {
    let mut content_type = None;
    let (mut plain, mut callback, mut failure) = (Headers::new(), Headers::new(), Headers::new());
    for (name, value) in headers {
        let lower = name.as_str(); // http lower-cases names
        let target: Option<(&mut Headers, &str)> =
            if let Some(rest) = lower.strip_prefix("upstash-forward-") {
                Some((&mut plain, rest))
            } else if let Some(rest) = lower.strip_prefix("upstash-failure-callback-") {
                callback_header(rest).map(|n| (&mut failure, n))
            } else if let Some(rest) = lower.strip_prefix("upstash-callback-") {
                callback_header(rest).map(|n| (&mut callback, n))
            } else {
                None
            };
        let Some((map, rest)) = target else {
            if lower == "content-type" {
                content_type = Some(value);
            }
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let value = utf8(lower, value)?;
        map.entry(canonical_header_name(rest))
            .or_default()
            .push(value.to_owned());
    }
    // A name given here replaces that name's values (DLQ retry overrides).
    d.headers.extend(plain);
    d.callback_headers.extend(callback);
    d.failure_callback_headers.extend(failure);
    // `Content-Type` itself wins over Python's `Upstash-Forward-Content-Type`.
    if let Some(ct) = content_type {
        let ct = utf8("content-type", ct)?;
        d.headers.insert("Content-Type".into(), vec![ct.to_owned()]);
    }
    Ok(())
}

/// The forwarded name in `Upstash-Callback-<rest>`: `Forward-X` → `X`;
/// Python's `X` → `X` (§12.11); the callback's own settings are not headers.
/// Neither are the workflow settings the Workflow SDK puts on a call's
/// callback and on the failure callback (`-Workflow-RunId`, `-Feature-Set`,
/// `-Flow-Control-*`, workflow-wire §3.6, §3.9): forwarded, they would reach
/// the workflow endpoint as stray `Workflow-*` headers.
fn callback_header(rest: &str) -> Option<&str> {
    if let Some(name) = rest.strip_prefix("forward-") {
        return Some(name);
    }
    let setting = CALLBACK_SETTINGS.contains(&rest)
        || rest.starts_with("workflow-")
        || rest.starts_with("flow-control-")
        || rest == "feature-set";
    (!setting).then_some(rest)
}

/// `Upstash-Flow-Control-Key` and `-Value`: `parallelism=<n>, rate=<n>, period=<duration>`.
fn flow_control(headers: &HeaderMap) -> Result<Option<FlowControl>, HeaderError> {
    const VALUE: &str = "Upstash-Flow-Control-Value";
    let Some(key) = text(headers, "upstash-flow-control-key")?.filter(|k| !k.is_empty()) else {
        // Limits without a key would limit nothing: say so instead of
        // storing settings that are never enforced.
        if text(headers, "upstash-flow-control-value")?.is_some_and(|v| !v.trim().is_empty()) {
            return Err(bad(
                VALUE,
                "needs Upstash-Flow-Control-Key: limits apply per key",
            ));
        }
        return Ok(None);
    };
    validate_name("Upstash-Flow-Control-Key", key)?;
    let mut fc = FlowControl {
        key: key.to_owned(),
        parallelism: None,
        rate: None,
        period: 1,
    };
    for part in text(headers, "upstash-flow-control-value")?
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (name, value) = part
            .split_once('=')
            .map(|(n, v)| (n.trim(), v.trim()))
            .ok_or_else(|| bad(VALUE, format!("\"{part}\" is not name=value")))?;
        let number = || {
            value.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    VALUE,
                    format!("{name} \"{value}\" is not a whole number > 0"),
                )
            })
        };
        match name.to_ascii_lowercase().as_str() {
            "parallelism" => fc.parallelism = Some(number()?),
            "rate" => fc.rate = Some(number()?),
            "period" => {
                let p = parse_duration(value).map_err(|e| bad(VALUE, format!("period: {e}")))?;
                if p.as_secs() == 0 || p.as_secs() > 7 * 86_400 {
                    return Err(bad(VALUE, "period must be from 1s to 1 week"));
                }
                fc.period = p.as_secs();
            }
            _ => {
                return Err(bad(
                    VALUE,
                    format!("unknown setting \"{name}\"; use parallelism, rate, period"),
                ))
            }
        }
    }
    Ok(Some(fc))
}

/// `body`, `header`/`headers`, `header[Name]`/`headers[Name]` (§12.20).
fn validate_redact(v: &str) -> Result<(), HeaderError> {
    for field in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let ok = matches!(field, "body" | "header" | "headers")
            || ["header[", "headers["]
                .iter()
                .any(|p| field.starts_with(p) && field.ends_with(']') && field.len() > p.len() + 1);
        if !ok {
            return Err(bad(
                "Upstash-Redact-Fields",
                format!("\"{field}\" is not body, header or header[Name]"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
pub mod workflow;
