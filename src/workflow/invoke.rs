//! `context.invoke` and serveMany (workflow-wire §3.8).
//!
//! The parent publishes the child's Init message (`Upstash-Workflow-Invoke:
//! true`) with an envelope as body instead of the child's payload. The server
//! unwraps it: the child starts with `body` as its initial payload, and the
//! rest says where the child's result goes. The SDK never publishes the
//! invoke step's result itself ("it's the server who will add the result
//! step"): when the child ends, the server appends `{...step, out}` to the
//! parent's run, in the same transaction as the child's end.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{InvokeParent, RunState, WorkflowLink};
use crate::model::{HeaderMap, Message, Millis, Role};

/// The header that marks an Init message as an invoke.
pub const INVOKE_HEADER: &str = "upstash-workflow-invoke";

/// The body of an invoke publish (`LazyInvokeStep.getBody`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The child's initial payload, as the SDK stringified it; absent for
    /// an `undefined` body.
    #[serde(default)]
    pub body: Option<String>,
    /// The parent's step headers (`{name: [value]}`): the settings of the
    /// result delivery.
    #[serde(default)]
    pub headers: HeaderMap,
    pub workflow_run_id: String,
    pub workflow_url: String,
    pub step: Value,
}

impl Envelope {
    /// Reads an invoke body; the error names the field.
    pub fn parse(body: &[u8]) -> Result<Envelope, String> {
        let e: Envelope = serde_json::from_slice(body)
            .map_err(|e| format!("invoke body (Upstash-Workflow-Invoke: true): {e}"))?;
        if e.workflow_run_id.trim().is_empty() {
            return Err("invoke body: workflowRunId must not be empty".into());
        }
        if !e.step.is_object() {
            return Err("invoke body: step must be a JSON object".into());
        }
        Ok(e)
    }
}

/// The result step of an invoke: the invoke step with `out` =
/// `JSON.stringify({body, isFailed?, isCanceled?})`. `body` is the child's
/// result as text (the SDK parses it as JSON when it can), left out when
/// there is none; the SDK's `InvokeStepResponse` reads the flags.
pub fn result_step(step: &Value, child_result: Option<&[u8]>, end: RunState) -> Vec<u8> {
    let mut out = Map::new();
    if let Some(r) = child_result {
        out.insert("body".into(), json!(String::from_utf8_lossy(r)));
    }
    match end {
        RunState::Failed => {
            out.insert("isFailed".into(), json!(true));
        }
        RunState::Canceled => {
            out.insert("isCanceled".into(), json!(true));
        }
        RunState::Success | RunState::Started => {}
    }
    let mut o = step.as_object().cloned().unwrap_or_default();
    o.insert(
        "out".into(),
        json!(serde_json::to_string(&Value::Object(out)).expect("JSON")),
    );
    serde_json::to_vec(&Value::Object(o)).expect("JSON")
}

/// The message that delivers a child's end to its parent: a step of the
/// parent's run, to the parent's workflow URL, with the parent's step
/// settings.
pub fn result_message(
    parent: &InvokeParent,
    child_result: Option<&[u8]>,
    end: RunState,
    now: Millis,
) -> Message {
    let mut delivery = parent.delivery.clone();
    delivery.workflow = Some(WorkflowLink {
        run_id: parent.run_id.clone(),
        role: Role::Step,
        init: None,
    });
    let body = result_step(&parent.step, child_result, end);
    Message::new(parent.url.clone(), delivery, body, now, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(body: &[u8]) -> Value {
        let v: Value = serde_json::from_slice(body).unwrap();
        serde_json::from_str(v["out"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn the_result_step_carries_the_child_result_and_how_it_ended() {
        let step = json!({"stepId": 2, "stepName": "child", "stepType": "Invoke", "concurrent": 1});
        let ok = result_step(&step, Some(b"{\"n\":1}"), RunState::Success);
        let v: Value = serde_json::from_slice(&ok).unwrap();
        assert_eq!(v["stepName"], "child");
        assert_eq!(v["stepId"], 2);
        assert_eq!(out(&ok), json!({"body": "{\"n\":1}"}));
        let failed = result_step(&step, Some(b"boom"), RunState::Failed);
        assert_eq!(out(&failed), json!({"body": "boom", "isFailed": true}));
        let canceled = result_step(&step, None, RunState::Canceled);
        assert_eq!(out(&canceled), json!({"isCanceled": true}));
    }

    #[test]
    fn envelopes_are_checked() {
        let ok = br#"{"body":"{\"a\":1}","headers":{"Upstash-Workflow-Runid":["wfr_p"]},
            "workflowRunId":"wfr_p","workflowRunCreatedAt":1,"workflowUrl":"http://x/p",
            "step":{"stepId":1}}"#;
        let e = Envelope::parse(ok).unwrap();
        assert_eq!(e.body.as_deref(), Some("{\"a\":1}"));
        assert_eq!(e.headers["Upstash-Workflow-Runid"], ["wfr_p"]);
        assert!(Envelope::parse(b"payload")
            .unwrap_err()
            .contains("Upstash-Workflow-Invoke"));
        let no_step = br#"{"workflowRunId":"r","workflowUrl":"http://x","step":1}"#;
        assert!(Envelope::parse(no_step).unwrap_err().contains("step"));
    }
}
