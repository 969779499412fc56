//! The schedules file's TOML, read with the position of every value so that
//! a problem found later (by the API's parsing) can name its line.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The whole file: `[schedules.<id>]` tables and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub schedules: BTreeMap<Spanned<String>, Spanned<RawSchedule>>,
}

/// One `[schedules.<id>]` table. Every key is optional for the reader; the
/// required ones are checked with the entry's line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub destination: Option<Spanned<String>>,
    pub cron: Option<Spanned<String>>,
    pub seconds: Option<Spanned<bool>>,
    pub method: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub content_type: Option<Spanned<String>>,
    pub headers: Option<Spanned<BTreeMap<String, Text>>>,
    pub retries: Option<Spanned<Text>>,
    pub retry_delay: Option<Spanned<Text>>,
    pub delay: Option<Spanned<Text>>,
    pub timeout: Option<Spanned<Text>>,
    pub callback: Option<Spanned<String>>,
    pub callback_method: Option<Spanned<String>>,
    pub callback_retries: Option<Spanned<Text>>,
    pub callback_retry_delay: Option<Spanned<Text>>,
    pub callback_timeout: Option<Spanned<Text>>,
    pub callback_delay: Option<Spanned<Text>>,
    pub callback_headers: Option<Spanned<BTreeMap<String, Text>>>,
    pub failure_callback: Option<Spanned<String>>,
    pub failure_callback_method: Option<Spanned<String>>,
    pub failure_callback_retries: Option<Spanned<Text>>,
    pub failure_callback_retry_delay: Option<Spanned<Text>>,
    pub failure_callback_timeout: Option<Spanned<Text>>,
    pub failure_callback_delay: Option<Spanned<Text>>,
    pub failure_callback_headers: Option<Spanned<BTreeMap<String, Text>>>,
    pub label: Option<Spanned<String>>,
    pub labels: Option<Spanned<Vec<String>>>,
    pub queue: Option<Spanned<String>>,
    pub flow_control: Option<Spanned<RawFlowControl>>,
    pub misfire: Option<Spanned<String>>,
    pub start_at: Option<Spanned<Text>>,
    pub end_at: Option<Spanned<Text>>,
    pub redact: Option<Spanned<String>>,
    pub paused: Option<Spanned<bool>>,
}

/// `flow_control = { key = "…", parallelism = 2, rate = 10, period = "1m" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlowControl {
    pub key: String,
    pub parallelism: Option<Text>,
    pub rate: Option<Text>,
    pub period: Option<Text>,
}

/// A value the API reads as text: a string, or a number or boolean written
/// bare (`retries = 3`, `delay = "30s"`). Its meaning is the API's to check.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One header a file key turns into, with the key and where its value is.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub header: String,
    pub value: String,
    pub key: &'static str,
    pub span: Range<usize>,
}

/// The `Upstash-*` headers of one schedule table, each with its origin.
pub(super) fn headers_of(s: &RawSchedule) -> Vec<Origin> {
    let mut out = Vec::new();
    let mut put = |header: &str, key: &'static str, value: String, span: Range<usize>| {
        out.push(Origin {
            header: header.to_owned(),
            value,
            key,
            span,
        });
    };
    macro_rules! text {
        ($field:ident, $header:expr) => {
            if let Some(v) = &s.$field {
                put($header, stringify!($field), text_of(v.get_ref()), v.span());
            }
        };
    }
    text!(cron, "Upstash-Cron");
    if let Some(v) = &s.seconds {
        put(
            "Cronhook-Cron-Seconds",
            "seconds",
            v.get_ref().to_string(),
            v.span(),
        );
    }
    text!(method, "Upstash-Method");
    text!(content_type, "Content-Type");
    text!(retries, "Upstash-Retries");
    text!(retry_delay, "Upstash-Retry-Delay");
    text!(delay, "Upstash-Delay");
    text!(timeout, "Upstash-Timeout");
    text!(callback, "Upstash-Callback");
    text!(callback_method, "Upstash-Callback-Method");
    text!(callback_retries, "Upstash-Callback-Retries");
    text!(callback_retry_delay, "Upstash-Callback-Retry-Delay");
    text!(callback_timeout, "Upstash-Callback-Timeout");
    text!(callback_delay, "Upstash-Callback-Delay");
    text!(failure_callback, "Upstash-Failure-Callback");
    text!(failure_callback_method, "Upstash-Failure-Callback-Method");
    text!(failure_callback_retries, "Upstash-Failure-Callback-Retries");
    text!(
        failure_callback_retry_delay,
        "Upstash-Failure-Callback-Retry-Delay"
    );
    text!(failure_callback_timeout, "Upstash-Failure-Callback-Timeout");
    text!(failure_callback_delay, "Upstash-Failure-Callback-Delay");
    text!(queue, "Upstash-Queue-Name");
    text!(misfire, "Cronhook-Misfire");
    text!(start_at, "Cronhook-Start-At");
    text!(end_at, "Cronhook-End-At");
    text!(redact, "Upstash-Redact-Fields");
    for (field, key, prefix) in [
        (&s.headers, "headers", "Upstash-Forward-"),
        (
            &s.callback_headers,
            "callback_headers",
            "Upstash-Callback-Forward-",
        ),
        (
            &s.failure_callback_headers,
            "failure_callback_headers",
            "Upstash-Failure-Callback-Forward-",
        ),
    ] {
        if let Some(map) = field {
            for (name, value) in map.get_ref() {
                put(&format!("{prefix}{name}"), key, value.0.clone(), map.span());
            }
        }
    }
    let mut labels: Vec<String> = Vec::new();
    let mut label_span = None;
    if let Some(l) = &s.label {
        labels.push(l.get_ref().clone());
        label_span = Some(l.span());
    }
    if let Some(l) = &s.labels {
        labels.extend(l.get_ref().iter().cloned());
        label_span = Some(l.span());
    }
    if let Some(span) = label_span {
        // The API splits `Upstash-Label` at commas; a label with one in it
        // is refused there as a bad name.
        put("Upstash-Label", "labels", labels.join(","), span);
    }
    if let Some(fc) = &s.flow_control {
        let f = fc.get_ref();
        put(
            "Upstash-Flow-Control-Key",
            "flow_control",
            f.key.clone(),
            fc.span(),
        );
        let parts: Vec<String> = [
            ("parallelism", &f.parallelism),
            ("rate", &f.rate),
            ("period", &f.period),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name}={}", v.0)))
        .collect();
        if !parts.is_empty() {
            put(
                "Upstash-Flow-Control-Value",
                "flow_control",
                parts.join(", "),
                fc.span(),
            );
        }
    }
    out
}

/// Text of a string-ish value.
pub(super) trait AsText {
    fn as_text(&self) -> String;
}

impl AsText for String {
    fn as_text(&self) -> String {
        self.clone()
    }
}

impl AsText for Text {
    fn as_text(&self) -> String {
        self.0.clone()
    }
}

fn text_of<T: AsText>(v: &T) -> String {
    v.as_text()
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
