//! Upstash Workflow runs on the server side (issue #5; the contract is
//! `workflow-wire.md`, cited as §n).
//!
//! A workflow is ordinary messages plus a per-run log: the SDK publishes each
//! step as a message carrying `Upstash-Workflow-RunId`, and every delivery to
//! the workflow URL carries the run's log up to and including that message
//! (§3.1). This module holds what is pure about that:
//! - [`WorkflowLink`]: what a message is to its run, read from its headers;
//! - [`config`]: the trigger config the server keeps and replays (§TL;DR 4, §3.2);
//! - [`run_log`]: which log entries a delivery carries, and the JSON bodies
//!   the server itself writes (wait results, failure callbacks, logs);
//! - [`webhook`]: the request record a webhook call hands its waiting run (§3.7);
//! - [`invoke`]: the invoke envelope and the result step a child's end
//!   gives its parent (§3.8).
//!
//! The data a message carries about its run (`WorkflowLink`, `Role`,
//! `RunConfig`) is in `model::workflow`; reading it from request headers is
//! the API's job (`api/headers/workflow.rs`); SQL lives in the store; the
//! engine asks the store for a run's log at attempt time.

pub mod config;
pub mod invoke;
pub mod run_log;
pub mod webhook;

pub use crate::model::{InvokeParent, Role, RunConfig, RunInit, WorkflowLink};

/// The header that names a message's run (workflow-wire §2.1); every
/// delivery to the workflow URL carries it.
pub const RUN_ID_HEADER: &str = "Upstash-Workflow-RunId";

/// Errors of workflow bookkeeping; the API maps them to 400 (workflow-wire §1
/// status codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The SDK reads this 400 as "the run was cancelled or finished" and stops
    /// quietly (`workflow-was-finished`, workflow-wire §1 status-code notes).
    #[error("workflow run {0} has ended or does not exist; no step can be added to it")]
    RunNotActive(String),
    #[error("Upstash-Workflow-RunId is required for {0}")]
    MissingRunId(&'static str),
}

/// A run's state as `client.logs` reports it (§1 row 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Started,
    Success,
    Failed,
    Canceled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Started => "RUN_STARTED",
            RunState::Success => "RUN_SUCCESS",
            RunState::Failed => "RUN_FAILED",
            RunState::Canceled => "RUN_CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        [
            RunState::Started,
            RunState::Success,
            RunState::Failed,
            RunState::Canceled,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub run_id: String,
    pub url: String,
    pub state: RunState,
    pub created_at: crate::model::Millis,
    pub ended_at: Option<crate::model::Millis>,
    pub config: RunConfig,
    pub init_message_id: String,
    /// The trigger's body: `sourceBody` of the failure callback (§3.9).
    pub initial_body: Vec<u8>,
    /// The body of `DELETE …?cancel=false` (the route's result).
    pub response: Option<Vec<u8>>,
    pub caller_ip: Option<String>,
    /// The latest failure-function call of the run, if any.
    pub failure_message_id: Option<String>,
    /// The run that invoked this one (`context.invoke`, §3.8), if any.
    pub parent: Option<InvokeParent>,
}

/// A `waitForEvent` waiter (§1 row 6, §3.7).
#[derive(Debug, Clone, PartialEq)]
pub struct Waiter {
    /// The pending message that delivers the timeout at `deadline`; also the
    /// waiter's key.
    pub timeout_message_id: String,
    pub event_id: String,
    pub run_id: String,
    /// Where the notify result goes (the workflow URL).
    pub url: String,
    /// Settings of the notify delivery: the wait request's headers.
    pub delivery: crate::model::Delivery,
    /// The wait request's `step`.
    pub step: serde_json::Value,
    /// As given (`"7d"`, `"30s"`), echoed in the result step.
    pub timeout: String,
    pub timeout_url: String,
    pub timeout_headers: crate::model::HeaderMap,
    pub deadline: crate::model::Millis,
    pub created_at: crate::model::Millis,
}

impl Waiter {
    /// The message that delivers `event_data` to the waiting run: a step
    /// whose log entry is the wait's result (§3.7).
    pub fn notify_message(
        &self,
        event_data: &[u8],
        now: crate::model::Millis,
    ) -> crate::model::Message {
        let mut delivery = self.delivery.clone();
        delivery.workflow = Some(WorkflowLink {
            run_id: self.run_id.clone(),
            role: Role::Step,
            init: None,
        });
        let body =
            run_log::wait_result(&self.step, &self.event_id, &self.timeout, Some(event_data));
        crate::model::Message::new(self.url.clone(), delivery, body, now, now)
    }

    /// `Waiter` as `GET /v2/waiters` and `NotifyResponse.waiter` show it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "deadline": self.deadline,
            "headers": self.delivery.headers,
            "timeoutUrl": self.timeout_url,
            "timeoutHeaders": self.timeout_headers,
        })
    }
}
