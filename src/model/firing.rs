//! A schedule's fire history: what happened to each of its slots.

use super::{LogState, Millis};

/// What one history entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiringKind {
    /// A slot that fired: a message was created for it.
    Slot,
    /// A run started by hand (`POST /cronhook/v1/schedules/{id}/trigger`);
    /// the schedule's next slot did not move.
    Manual,
    /// A slot that did not fire, with the reason.
    Missed,
}

impl FiringKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FiringKind::Slot => "slot",
            FiringKind::Manual => "manual",
            FiringKind::Missed => "missed",
        }
    }

    pub fn parse(s: &str) -> Option<FiringKind> {
        [FiringKind::Slot, FiringKind::Manual, FiringKind::Missed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One entry of a schedule's fire history.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// Position in the history; the cursor is built from it.
    pub seq: i64,
    pub schedule_id: String,
    /// The slot; `None` for a manual run.
    pub slot_at: Option<Millis>,
    pub kind: FiringKind,
    /// The message created; `None` for a missed slot.
    pub message_id: Option<String>,
    pub reason: Option<String>,
    /// When it was fired (or found missed).
    pub fired_at: Millis,
    /// How its message did, from the log (while the log keeps it).
    pub outcome: Option<FiringOutcome>,
}

/// How the message of one firing did, read from its log entries.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringOutcome {
    /// When its first attempt started.
    pub first_attempt_at: Option<Millis>,
    pub attempts: u32,
    /// Its newest state.
    pub state: LogState,
    /// The last response's status, if one came back.
    pub status: Option<u16>,
    /// How long its last attempt took, ms.
    pub response_ms: Option<Millis>,
}
