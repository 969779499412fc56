//! An attempt's outcome (§9.1, §9.6): one transaction that moves the
//! message on, logs the attempt, and stores the callbacks it triggers.

use crate::model::{schedule_state, Attempt, DlqEntry, Message, Millis};
use crate::store::rows::events::{self, AttemptEnd};
use crate::store::rows::{dlq, log_messages, messages, schedules};
use crate::store::{steps, Store, StoreError};
use crate::workflow::RunState;

/// What an attempt's reply means for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: the message is done.
    Delivered,
    /// Failed; the next attempt is due at `due_at`.
    Retry { due_at: Millis },
    /// Failed for the last time (or told not to retry): dead-letter it.
    Failed,
}

/// What recording an outcome did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The DLQ entry a failed message became.
    pub dlq_id: Option<String>,
    /// Messages of a failed workflow run dropped with it.
    pub dropped: usize,
}

impl Store {
    /// Records `outcome` of one attempt of `m`: its log row (which lists as
    /// ACTIVE at the attempt's start, then DELIVERED, or ERROR and then
    /// RETRY or FAILED),
    /// the message moved on (removed, rescheduled with its count, or moved
    /// to the DLQ), the schedule's last state, a failed step's run ended,
    /// and the callback messages `callbacks` builds (given the DLQ entry of
    /// a failed message), all in one transaction.
    ///
    /// `None` when the message was no longer pending (cancelled while the
    /// attempt was out): then nothing is written.
    pub async fn record_outcome<F>(
        &self,
        mut m: Message,
        attempt: Attempt,
        outcome: Outcome,
        callbacks: F,
    ) -> Result<Option<Recorded>, StoreError>
    where
        F: FnOnce(Option<&DlqEntry>) -> Vec<Message> + Send + 'static,
    {
        self.write(move |tx| {
            let still_pending = match outcome {
                Outcome::Delivered | Outcome::Failed => messages::remove(tx, &m.id)?,
                Outcome::Retry { due_at } => messages::set_retry(tx, &m.id, m.retried + 1, due_at)?,
            };
            if !still_pending {
                return Ok(None);
            }
            let response = &attempt.response;
            // One row for the attempt; the message's settings are stored
            // once (with CREATED), a workflow message's as run once more.
            log_messages::note_attempt_settings(tx, &m)?;
            let end = match outcome {
                Outcome::Delivered => AttemptEnd::Delivered,
                Outcome::Retry { due_at } => AttemptEnd::Retry { due_at },
                Outcome::Failed => AttemptEnd::Failed,
            };
            events::insert_attempt(tx, &m.id, &attempt, end)?;
            let mut recorded = Recorded::default();
            let mut entry = None;
            match outcome {
                Outcome::Delivered => {
                    if let Some(schedule_id) = &m.schedule_id {
                        schedules::set_last_state(tx, schedule_id, &m.id, schedule_state::SUCCESS)?;
                    }
                    tx.gone(&m.id);
                }
                Outcome::Retry { .. } => {}
                Outcome::Failed => {
                    let e = dlq::insert(tx, &m, attempt.ended_at, response)?;
                    if let Some(schedule_id) = &m.schedule_id {
                        schedules::set_last_state(tx, schedule_id, &m.id, schedule_state::FAIL)?;
                    }
                    tx.gone(&m.id);
                    // A workflow step out of attempts fails its run (§3.9).
                    if let Some(link) = m.failing_step() {
                        let run_id = link.run_id.clone();
                        // An invoking parent learns of the failure with
                        // the failed response's body (§3.8).
                        let end = steps::RunEnd {
                            child_result: Some(&response.body),
                            ..steps::RunEnd::plain(RunState::Failed)
                        };
                        recorded.dropped =
                            steps::end_run(tx, &run_id, end, attempt.ended_at)?.unwrap_or_default();
                    }
                    recorded.dlq_id = Some(e.dlq_id.clone());
                    entry = Some(e);
                }
            }
            for callback in callbacks(entry.as_ref()) {
                steps::add_message(tx, callback)?;
            }
            if let Outcome::Retry { due_at } = outcome {
                m.retried += 1;
                m.due_at = due_at;
                tx.pending(m);
            }
            Ok(Some(recorded))
        })
        .await
    }
}
