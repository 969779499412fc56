//! `waitForEvent` and `notify` (workflow-wire §1 rows 6–9, §3.7).
//!
//! A wait registers a waiter and, in the same transaction, a pending timeout
//! message due at the deadline: the timer and the restart logic that carry
//! every pending message carry the deadline too. A notify removes the
//! waiter and its timeout message and stores the delivery of the event,
//! also in one transaction.

use serde_json::Value;

use super::{Service, ServiceResult};
use crate::model::{Delivery, HeaderMap, Message, Millis, Role, WorkflowLink};
use crate::store::{Hooked, Notified};
use crate::workflow::run_log::wait_result;
use crate::workflow::Waiter;

/// A parsed `POST /v2/wait/{eventId}`.
#[derive(Debug, Clone)]
pub struct WaitRequest {
    pub run_id: String,
    pub event_id: String,
    /// Where the notify result goes (checked URL).
    pub url: String,
    /// Where the timeout goes (checked URL).
    pub timeout_url: String,
    /// As given (`"7d"`), echoed in the result step.
    pub timeout: String,
    pub wait_ms: u64,
    /// Settings of the timeout delivery (`timeoutHeaders`).
    pub timeout_delivery: Delivery,
    pub timeout_headers: HeaderMap,
    /// Settings of the notify delivery (the wait request's headers).
    pub notify_delivery: Delivery,
    pub step: Value,
    pub caller_ip: Option<String>,
}

impl Service {
    pub async fn wait(&self, r: WaitRequest) -> ServiceResult<()> {
        let now = self.now();
        let deadline = now + r.wait_ms as Millis;
        let mut timeout_delivery = r.timeout_delivery;
        timeout_delivery.workflow = Some(WorkflowLink {
            run_id: r.run_id.clone(),
            role: Role::Timeout,
            init: None,
        });
        let timeout_message = Message::new(
            r.timeout_url.clone(),
            timeout_delivery,
            wait_result(&r.step, &r.event_id, &r.timeout, None),
            now,
            deadline,
        )
        .from_caller(r.caller_ip);
        let waiter = Waiter {
            timeout_message_id: timeout_message.id.clone(),
            event_id: r.event_id,
            run_id: r.run_id,
            url: r.url,
            delivery: r.notify_delivery,
            step: r.step,
            timeout: r.timeout,
            timeout_url: r.timeout_url,
            timeout_headers: r.timeout_headers,
            deadline,
            created_at: now,
        };
        self.store
            .workflow_wait(waiter, timeout_message, now)
            .await?;
        Ok(())
    }

    /// Delivers `data` to the waiters of `event_id` (of `run_id` only, when
    /// given, and kept for its next wait if it waits for nothing yet).
    pub async fn notify(
        &self,
        event_id: &str,
        run_id: Option<String>,
        data: Vec<u8>,
    ) -> ServiceResult<Notified> {
        Ok(self
            .store
            .workflow_notify(event_id, run_id, data, self.now())
            .await?)
    }

    /// Hands a webhook call (its `record`, workflow-wire §3.7) to the
    /// run's `waitForWebhook`, or keeps it for that wait.
    pub async fn webhook(
        &self,
        run_id: &str,
        event_id: &str,
        record: Vec<u8>,
    ) -> ServiceResult<Hooked> {
        Ok(self
            .store
            .workflow_webhook(run_id, event_id, record, self.now())
            .await?)
    }

    pub async fn waiters(&self, event_id: &str) -> ServiceResult<Vec<Waiter>> {
        Ok(self.store.workflow_waiters(event_id).await?)
    }
}
