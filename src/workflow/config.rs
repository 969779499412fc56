//! The trigger config the server keeps for a run and replays (§TL;DR 4, §3.2).
//!
//! Since SDK 1.0 step messages carry no retries, retry delay, flow control,
//! failure callback or user headers: the SDK sends them once, on the Init
//! message, and expects the server to apply them to every later delivery of
//! the run to the workflow URL. `from_trigger` takes them from the Init;
//! `apply` puts them on a delivery. Both are pure so the rules are tested here.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::Role;
use crate::model::{
    canonical_header_name, is_transport_or_delivery_header, CallbackOptions, Delivery, FlowControl,
    HeaderMap as Headers, DEFAULT_RETRIES,
};

/// Settings saved from the Init message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunConfig {
    pub retries: u32,
    pub retry_delay: Option<String>,
    /// Stored and reported; cronhook does not enforce flow control.
    pub flow_control: Option<FlowControl>,
    pub failure_callback: Option<String>,
    pub failure_callback_headers: Headers,
    pub failure_callback_options: CallbackOptions,
    pub labels: Vec<String>,
    /// The user's `Upstash-Forward-*` headers (prefix stripped), minus
    /// `Upstash-Workflow-*` and transport headers (§7 pitfalls 1, 2).
    pub headers: Headers,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            retries: DEFAULT_RETRIES,
            retry_delay: None,
            flow_control: None,
            failure_callback: None,
            failure_callback_headers: Headers::new(),
            failure_callback_options: CallbackOptions::default(),
            labels: Vec::new(),
            headers: Headers::new(),
        }
    }
}

impl RunConfig {
    /// The config of a run from its Init message: `delivery` is the Init's
    /// parsed settings, `headers` its raw request headers (for the user's
    /// forwarded headers, which `delivery.headers` mixes with Content-Type).
    pub fn from_trigger(headers: &HeaderMap, delivery: &Delivery) -> RunConfig {
        let mut user = Headers::new();
        for (name, value) in headers {
            let Some(rest) = name.as_str().strip_prefix("upstash-forward-") else {
                continue;
            };
            if rest.is_empty()
                || rest.starts_with("upstash-workflow-")
                || is_transport_or_delivery_header(rest)
            {
                continue;
            }
            let Ok(v) = value.to_str() else { continue };
            user.entry(canonical_header_name(rest))
                .or_default()
                .push(v.trim().to_owned());
        }
        RunConfig {
            retries: delivery.retries,
            retry_delay: delivery.retry_delay.clone(),
            flow_control: delivery.flow_control.clone(),
            failure_callback: delivery.failure_callback.clone(),
            failure_callback_headers: delivery.failure_callback_headers.clone(),
            failure_callback_options: delivery.failure_callback_options.clone(),
            labels: delivery.labels.clone(),
            headers: user,
        }
    }

    /// Puts the run's settings on a delivery of one of its messages with
    /// `role`. The run's retries, retry delay, flow control and labels win
    /// (step messages carry none of their own); a user header is added unless
    /// the message already has that name (its own `Content-Type`, the
    /// `Upstash-Workflow-Sdk-Version` it forwards). Only failing deliveries
    /// that fail the run get the failure callback; the `context.call` target
    /// gets nothing (§3.2).
    pub fn apply(&self, role: Role, d: &mut Delivery) {
        if !role.to_workflow() {
            return;
        }
        d.retries = self.retries;
        d.retry_delay = self.retry_delay.clone();
        d.flow_control = self.flow_control.clone();
        if !self.labels.is_empty() {
            d.labels = self.labels.clone();
        }
        for (name, values) in &self.headers {
            let present = d.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
            if !present {
                d.headers.insert(name.clone(), values.clone());
            }
        }
        if role.fails_run() {
            d.failure_callback = self.failure_callback.clone();
            d.failure_callback_headers = self.failure_callback_headers.clone();
            d.failure_callback_options = self.failure_callback_options.clone();
        } else {
            d.failure_callback = None;
        }
        // Callbacks of workflow deliveries are the server's business (§3.6):
        // only a call message keeps its `Upstash-Callback`.
        d.callback = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn trigger() -> RunConfig {
        let raw = headers(&[
            ("upstash-forward-x-auth", "secret"),
            ("upstash-forward-upstash-workflow-sdk-version", "1"),
            ("upstash-forward-upstash-label", "nightly"),
            ("upstash-forward-host", "127.0.0.1:3000"),
            ("upstash-forward-content-length", "12"),
            ("upstash-forward-upstash-signature", "old.jwt"),
            ("upstash-forward-connection", "keep-alive"),
            ("upstash-workflow-runid", "wfr_1"),
            ("content-type", "application/json"),
        ]);
        let mut d = Delivery {
            retries: 1,
            retry_delay: Some("1000".into()),
            failure_callback: Some("http://127.0.0.1:1/wf".into()),
            labels: vec!["nightly".into()],
            ..Delivery::default()
        };
        d.failure_callback_headers
            .insert("Upstash-Workflow-Is-Failure".into(), vec!["true".into()]);
        RunConfig::from_trigger(&raw, &d)
    }

    #[test]
    fn the_trigger_keeps_user_headers_without_workflow_or_transport_ones() {
        let c = trigger();
        let names: Vec<&str> = c.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["Upstash-Label", "X-Auth"]);
        assert_eq!(c.headers["X-Auth"], ["secret"]);
        assert_eq!((c.retries, c.retry_delay.as_deref()), (1, Some("1000")));
        assert_eq!(c.failure_callback.as_deref(), Some("http://127.0.0.1:1/wf"));
    }

    #[test]
    fn a_trigger_without_settings_means_qstash_defaults() {
        let c = RunConfig::from_trigger(&HeaderMap::new(), &Delivery::default());
        assert_eq!(c, RunConfig::default());
        assert_eq!(c.retries, 3, "a missing Upstash-Retries means 3 (§7.4)");
    }

    #[test]
    fn replay_by_role() {
        let c = trigger();
        let step = || {
            let mut d = Delivery::default();
            d.headers
                .insert("Upstash-Workflow-Sdk-Version".into(), vec!["1".into()]);
            d.headers
                .insert("Content-Type".into(), vec!["application/json".into()]);
            d.headers.insert("x-auth".into(), vec!["mine".into()]);
            d
        };
        // A step: the run's retries and headers, the message's own names win.
        let mut d = step();
        c.apply(Role::Step, &mut d);
        assert_eq!((d.retries, d.retry_delay.as_deref()), (1, Some("1000")));
        assert_eq!(d.headers["x-auth"], ["mine"], "case-insensitive: kept");
        assert!(!d.headers.contains_key("X-Auth"));
        assert_eq!(d.headers["Upstash-Label"], ["nightly"]);
        assert_eq!(d.failure_callback.as_deref(), Some("http://127.0.0.1:1/wf"));
        assert_eq!(d.labels, ["nightly"]);
        // The call target gets nothing of the run.
        let mut d = Delivery {
            retries: 0,
            callback: Some("http://127.0.0.1:1/wf".into()),
            ..Delivery::default()
        };
        c.apply(Role::Call, &mut d);
        assert_eq!(d.retries, 0);
        assert!(d.headers.is_empty() && d.failure_callback.is_none());
        assert!(d.callback.is_some(), "the call keeps its callback");
        // A call's callback: the run's headers and retries, failure callback too.
        let mut d = Delivery::default();
        c.apply(Role::Callback, &mut d);
        assert_eq!(d.headers["X-Auth"], ["secret"]);
        assert!(!d.headers.contains_key("Upstash-Workflow-Sdk-Version"));
        assert!(d.failure_callback.is_some());
        // The failure callback itself has no failure callback.
        let mut d = Delivery::default();
        c.apply(Role::Failure, &mut d);
        assert_eq!(d.headers["X-Auth"], ["secret"]);
        assert!(d.failure_callback.is_none());
    }
}
