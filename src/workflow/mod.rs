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
//!   the server itself writes (wait results, failure callbacks, logs).
//!
//! SQL lives in `store/workflows.rs`, HTTP in `api/workflows.rs` and
//! `api/wait.rs`; the engine asks the store for a run's log at attempt time.

pub mod config;
pub mod run_log;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::api::headers::HeaderError;
use config::RunConfig;

/// Header names the SDK sends on workflow messages (§2.1).
pub const RUN_ID_HEADER: &str = "Upstash-Workflow-RunId";
const RUN_ID: &str = "upstash-workflow-runid";
const INIT: &str = "upstash-workflow-init";
const URL: &str = "upstash-workflow-url";
const CALL_TYPE: &str = "upstash-workflow-calltype";

/// Errors of workflow bookkeeping; the API maps them to 400 (§1 status codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The SDK reads this 400 as "the run was cancelled or finished" and stops
    /// quietly (`workflow-was-finished`, §1 status-code notes).
    #[error("workflow run {0} has ended or does not exist; no step can be added to it")]
    RunNotActive(String),
    #[error("Upstash-Workflow-RunId is required for {0}")]
    MissingRunId(&'static str),
}

/// What a message is to its run. Decides which log entry it adds, which
/// body it is delivered with and which run settings it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Init or step message to the workflow URL: logged as `step`, delivered
    /// with the log prefix (§3.1).
    Step,
    /// A `context.call` request to a third party (`CallType: toCallback`):
    /// logged as `toCallback`, delivered as is, with no run headers (§3.6 step 2).
    Call,
    /// The result of a call, to the workflow URL: logged as `fromCallback`,
    /// delivered as the QStash callback JSON (§3.6 step 3).
    Callback,
    /// A wait that timed out: logged (as `step`) only when the deadline
    /// passes, then delivered like a step (§3.7).
    Timeout,
    /// The failure callback of a failed run (§3.9): not logged.
    Failure,
}

impl Role {
    /// `RawStep.callType` of the entry this role adds at creation, if any.
    pub fn call_type_on_insert(self) -> Option<&'static str> {
        match self {
            Role::Step => Some("step"),
            Role::Call => Some("toCallback"),
            Role::Callback => Some("fromCallback"),
            Role::Timeout | Role::Failure => None,
        }
    }

    /// Whether the delivery body is the run's log prefix rather than the
    /// message body.
    pub fn delivers_log(self) -> bool {
        matches!(self, Role::Step | Role::Timeout)
    }

    /// Whether deliveries go to the workflow URL, and so get the run's
    /// headers and settings (§3.2: not the `context.call` target).
    pub fn to_workflow(self) -> bool {
        !matches!(self, Role::Call)
    }

    /// Whether running out of attempts fails the run (§3.9). A failed call is
    /// reported to the workflow through its callback instead (§3.6), and a
    /// failed failure callback has nothing left to fail.
    pub fn fails_run(self) -> bool {
        matches!(self, Role::Step | Role::Callback | Role::Timeout)
    }
}

/// The workflow part of a message's settings (stored in its delivery JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowLink {
    pub run_id: String,
    pub role: Role,
    /// On an `Upstash-Workflow-Init: true` message: the run to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Box<RunInit>>,
}

/// What creating a run needs besides the Init message itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInit {
    /// `Upstash-Workflow-Url`, else the destination.
    pub url: String,
    pub config: RunConfig,
}

impl WorkflowLink {
    /// The link of a message the server makes for the same run.
    pub fn derived(&self, role: Role) -> WorkflowLink {
        WorkflowLink {
            run_id: self.run_id.clone(),
            role,
            init: None,
        }
    }
}

/// Reads the workflow headers of a publish or batch item. `None` for a plain
/// message. `delivery` is the message's parsed settings (the trigger config
/// of an Init comes from them) and `destination` its URL.
pub fn link_from_headers(
    headers: &HeaderMap,
    delivery: &crate::model::Delivery,
    destination: &str,
) -> Result<Option<WorkflowLink>, HeaderError> {
    let value = |name: &str| -> Result<Option<String>, HeaderError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|_| HeaderError {
                    header: crate::model::canonical_header_name(name),
                    problem: "value is not valid text".into(),
                }),
        }
    };
    let Some(run_id) = value(RUN_ID)? else {
        return Ok(None);
    };
    if run_id.len() > 200 || run_id.chars().any(|c| c.is_control() || c == '/') {
        return Err(HeaderError {
            header: RUN_ID_HEADER.into(),
            problem: "must be 1 to 200 characters without '/'".into(),
        });
    }
    let init = match value(INIT)?.as_deref() {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(HeaderError {
                header: "Upstash-Workflow-Init".into(),
                problem: format!("\"{v}\" is not true or false"),
            })
        }
    };
    let call = value(CALL_TYPE)?.is_some_and(|v| v.eq_ignore_ascii_case("toCallback"));
    let role = if call && !init {
        Role::Call
    } else {
        Role::Step
    };
    let init = init.then(|| {
        Box::new(RunInit {
            url: value(URL)
                .ok()
                .flatten()
                .unwrap_or_else(|| destination.to_owned()),
            config: RunConfig::from_trigger(headers, delivery),
        })
    });
    Ok(Some(WorkflowLink { run_id, role, init }))
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
        crate::model::Message {
            id: crate::ids::message_id(),
            url: self.url.clone(),
            schedule_id: None,
            slot_at: None,
            delivery,
            body: run_log::wait_result(&self.step, &self.event_id, &self.timeout, Some(event_data)),
            created_at: now,
            not_before: now,
            due_at: now,
            retried: 0,
            caller_ip: None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Delivery;

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

    #[test]
    fn the_role_follows_init_and_call_type() {
        let d = Delivery::default();
        let dest = "http://127.0.0.1:1/wf";
        let link = |pairs: &[(&str, &str)]| link_from_headers(&headers(pairs), &d, dest).unwrap();
        assert_eq!(link(&[]), None, "no RunId: a plain message");
        let init = link(&[(RUN_ID, "wfr_1"), (INIT, "true")]).unwrap();
        assert_eq!(init.role, Role::Step);
        assert_eq!(init.init.unwrap().url, dest, "the destination by default");
        let step = link(&[(RUN_ID, "wfr_1"), (INIT, "false")]).unwrap();
        assert_eq!((step.role, step.init), (Role::Step, None));
        let call = link(&[
            (RUN_ID, "wfr_1"),
            (INIT, "false"),
            (CALL_TYPE, "toCallback"),
        ])
        .unwrap();
        assert_eq!(call.role, Role::Call);
        let wait = link(&[(RUN_ID, "wfr_1"), (CALL_TYPE, "step")]).unwrap();
        assert_eq!(wait.role, Role::Step);
        let with_url = link(&[(RUN_ID, "r"), (INIT, "true"), (URL, "http://x/wf")]).unwrap();
        assert_eq!(with_url.init.unwrap().url, "http://x/wf");
    }

    #[test]
    fn bad_workflow_headers_name_the_header() {
        let d = Delivery::default();
        let err = link_from_headers(&headers(&[(RUN_ID, "r"), (INIT, "yes")]), &d, "http://x")
            .unwrap_err();
        assert_eq!(err.header, "Upstash-Workflow-Init");
        let err = link_from_headers(&headers(&[(RUN_ID, "a/b")]), &d, "http://x").unwrap_err();
        assert_eq!(err.header, RUN_ID_HEADER);
    }
}
