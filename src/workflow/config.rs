//! The trigger config the server keeps for a run and replays (§TL;DR 4, §3.2).
//!
//! Since SDK 1.0 step messages carry no retries, retry delay, flow control,
//! failure callback or user headers: the SDK sends them once, on the Init
//! message, and expects the server to apply them to every later delivery of
//! the run to the workflow URL. The API reads them from the Init
//! (`api/headers/workflow.rs`); `apply` puts them on a delivery, pure so the
//! rules are tested here.

use crate::model::{Delivery, Role, RunConfig};

impl RunConfig {
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

    fn trigger() -> RunConfig {
        let mut c = RunConfig {
            retries: 1,
            retry_delay: Some("1000".into()),
            failure_callback: Some("http://127.0.0.1:1/wf".into()),
            labels: vec!["nightly".into()],
            ..RunConfig::default()
        };
        c.headers.insert("X-Auth".into(), vec!["secret".into()]);
        c.headers
            .insert("Upstash-Label".into(), vec!["nightly".into()]);
        c
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
