//! What a delivery attempt of a workflow message needs from its run
//! (workflow-wire §3): the run must still be going, the run's settings are
//! put on the message (§3.2 config replay), and a step is delivered with the
//! run's log up to its own entry (§3.1). Read at attempt time, so a restart,
//! a retry or a DLQ retry always sends what the database holds now.

use std::sync::Arc;

use crate::engine::Ctx;
use crate::model::Message;
use crate::store::StoreError;
use crate::workflow::run_log::{delivery_body, failure_call, raw_steps};
use crate::workflow::{Role, Run, RunState, WorkflowLink, RUN_ID_HEADER};

/// The run's creation time in ms, read by the SDK as
/// `context.workflowRunCreatedAt` (workflow-wire §2.2).
const CREATED_AT_HEADER: &str = "Upstash-Workflow-CreatedAt";

/// A workflow message ready for its attempt.
#[derive(Debug)]
pub(super) struct Prepared {
    link: WorkflowLink,
    run: Run,
    /// What a step sends instead of its body: the run's log up to its entry.
    pub body: Option<Vec<u8>>,
}

/// Loads the run of `message` and applies it to the message. `None` when the
/// run has ended (or never existed): the message is not delivered. A failure
/// callback is the exception: it goes out after its run failed.
pub(super) async fn prepare(
    ctx: &Arc<Ctx>,
    message: &mut Message,
    link: WorkflowLink,
) -> Result<Option<Prepared>, StoreError> {
    if link.role == Role::Timeout
        && !ctx
            .store
            .workflow_timeout_fired(message.clone(), ctx.clock.now_ms())
            .await?
    {
        return Ok(None); // notified first
    }
    // Only a step is delivered with the run's log (§3.1); the others need
    // the run alone.
    let (run, body) = if link.role.delivers_log() {
        let Some((run, log)) = ctx.store.run_with_log_for_attempt(&link.run_id).await? else {
            return Ok(None);
        };
        // A step always has its entry; should it be missing, the whole log
        // is the closest to the truth.
        let body = delivery_body(&log, &message.id).unwrap_or_else(|| raw_steps(&log));
        (run, Some(body))
    } else {
        let Some(run) = ctx.store.run_for_attempt(&link.run_id).await? else {
            return Ok(None);
        };
        (run, None)
    };
    if run.state != RunState::Started && link.role != Role::Failure {
        return Ok(None);
    }
    run.config.apply(link.role, &mut message.delivery);
    Ok(Some(Prepared { link, run, body }))
}

impl Prepared {
    /// Headers added to the delivery: every delivery to the workflow URL
    /// names its run and when it was created (§2.1, §2.2; the SDK passes
    /// the creation time on in an invoke envelope); the `context.call`
    /// target gets none (§3.6).
    pub fn headers(&self) -> Vec<(String, String)> {
        if self.link.role.to_workflow() {
            vec![
                (RUN_ID_HEADER.to_owned(), self.run.run_id.clone()),
                (
                    CREATED_AT_HEADER.to_owned(),
                    self.run.created_at.to_string(),
                ),
            ]
        } else {
            Vec::new()
        }
    }

    pub fn is_call(&self) -> bool {
        self.link.role == Role::Call
    }

    /// The callback of a `context.call` joins the run as its `fromCallback`
    /// entry and is delivered like the run's other messages (§3.6 step 3).
    pub fn callback_of_call(&self, mut callback: Message) -> Message {
        if self.is_call() {
            callback.delivery.workflow = Some(self.link.derived(Role::Callback));
        }
        callback
    }

    /// The failure callback of a failed run, with the workflow fields of
    /// §3.9 in its body.
    pub fn failure_callback(&self, failure: Message) -> Message {
        if self.link.role.fails_run() {
            failure_call(failure, &self.run, &self.link)
        } else {
            failure
        }
    }
}
