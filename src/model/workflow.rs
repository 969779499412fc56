//! What a message is to its Upstash Workflow run (workflow-wire §2.1): the
//! data kept in a message's delivery settings. The rules that act on it live
//! in `crate::workflow`; this is only the shape, so every layer can carry it.

use serde::{Deserialize, Serialize};

use super::{CallbackOptions, Delivery, FlowControl, HeaderMap, DEFAULT_RETRIES};

/// What a message is to its run. Decides which log entry it adds, which
/// body it is delivered with and which run settings it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Init or step message to the workflow URL: logged as `step`, delivered
    /// with the log prefix (workflow-wire §3.1).
    Step,
    /// A `context.call` request to a third party (`CallType: toCallback`):
    /// logged as `toCallback`, delivered as is, with no run headers
    /// (workflow-wire §3.6 step 2).
    Call,
    /// The result of a call, to the workflow URL: logged as `fromCallback`,
    /// delivered as the QStash callback JSON (workflow-wire §3.6 step 3).
    Callback,
    /// A wait that timed out: logged (as `step`) only when the deadline
    /// passes, then delivered like a step (workflow-wire §3.7).
    Timeout,
    /// The failure callback of a failed run (workflow-wire §3.9): not logged.
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
    /// headers and settings (workflow-wire §3.2: not the `context.call` target).
    pub fn to_workflow(self) -> bool {
        !matches!(self, Role::Call)
    }

    /// Whether running out of attempts fails the run (workflow-wire §3.9).
    /// A failed call is reported to the workflow through its callback
    /// instead (§3.6), and a failed failure callback has nothing left to fail.
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

/// What creating a run needs besides the Init message itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInit {
    /// `Upstash-Workflow-Url`, else the destination.
    pub url: String,
    pub config: RunConfig,
    /// Set when another run started this one with `context.invoke`
    /// (workflow-wire §3.8): where the child's result goes when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<InvokeParent>,
}

/// The invoking run of a child run (workflow-wire §3.8), from the invoke
/// envelope: the child's end becomes a step of this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeParent {
    pub run_id: String,
    /// The parent's workflow URL, where the result step is delivered.
    pub url: String,
    /// The invoke step (`{stepId, stepName, stepType: "Invoke", concurrent}`);
    /// the result is this step with `out`.
    pub step: serde_json::Value,
    /// The settings of the result delivery, parsed from the envelope's
    /// `headers` (the parent's step headers) as a publish would parse them.
    pub delivery: Delivery,
}

/// The trigger settings a run keeps and replays on every later delivery
/// (workflow-wire §TL;DR 4, §3.2): since SDK 1.0 step messages carry none of
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunConfig {
    pub retries: u32,
    pub retry_delay: Option<String>,
    /// Replayed on the run's deliveries, so its steps wait under the key
    /// (§4.11) although they carry no flow control of their own.
    pub flow_control: Option<FlowControl>,
    pub failure_callback: Option<String>,
    pub failure_callback_headers: HeaderMap,
    pub failure_callback_options: CallbackOptions,
    pub labels: Vec<String>,
    /// The user's `Upstash-Forward-*` headers (prefix stripped), minus
    /// `Upstash-Workflow-*` and transport headers (workflow-wire §7 pitfalls
    /// 1, 2).
    pub headers: HeaderMap,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            retries: DEFAULT_RETRIES,
            retry_delay: None,
            flow_control: None,
            failure_callback: None,
            failure_callback_headers: HeaderMap::new(),
            failure_callback_options: CallbackOptions::default(),
            labels: Vec::new(),
            headers: HeaderMap::new(),
        }
    }
}
