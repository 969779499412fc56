//! The log (§6.6, §9.6): one entry per state change of a message.

use super::{AttemptResponse, Delivery, Millis};

/// A message's states in the log (§9.6). `CANCELED` is spelt as the SDKs
/// expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogState {
    Created,
    Active,
    Error,
    Retry,
    Delivered,
    Failed,
    CancelRequested,
    Canceled,
}

impl LogState {
    pub const ALL: [LogState; 8] = [
        LogState::Created,
        LogState::Active,
        LogState::Error,
        LogState::Retry,
        LogState::Delivered,
        LogState::Failed,
        LogState::CancelRequested,
        LogState::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogState::Created => "CREATED",
            LogState::Active => "ACTIVE",
            LogState::Error => "ERROR",
            LogState::Retry => "RETRY",
            LogState::Delivered => "DELIVERED",
            LogState::Failed => "FAILED",
            LogState::CancelRequested => "CANCEL_REQUESTED",
            LogState::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<LogState> {
        LogState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the message still has work ahead in this state (what the
    /// `IN_PROGRESS` filter means).
    pub fn in_progress(self) -> bool {
        matches!(self, LogState::Active | LogState::Retry | LogState::Error)
    }
}

/// A `state` filter value: one state, or `IN_PROGRESS` for ACTIVE, RETRY
/// and ERROR together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Is(LogState),
    InProgress,
}

impl StateFilter {
    pub const IN_PROGRESS: &'static str = "IN_PROGRESS";

    pub fn parse(s: &str) -> Option<StateFilter> {
        if s == Self::IN_PROGRESS {
            return Some(StateFilter::InProgress);
        }
        LogState::parse(s).map(StateFilter::Is)
    }

    pub fn matches(self, state: LogState) -> bool {
        match self {
            StateFilter::Is(want) => want == state,
            StateFilter::InProgress => state.in_progress(),
        }
    }

    /// Every accepted spelling, for error messages.
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<_> = LogState::ALL.iter().map(|s| s.as_str()).collect();
        names.push(Self::IN_PROGRESS);
        names
    }
}

/// A log entry (§6.6).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Position in the log; the cursor is built from it.
    pub seq: i64,
    pub time: Millis,
    pub message_id: String,
    pub state: LogState,
    pub url: String,
    pub schedule_id: Option<String>,
    pub caller_ip: Option<String>,
    pub delivery: Delivery,
    /// The message body, on the CREATED entry only.
    pub body: Option<Vec<u8>>,
    pub error: Option<String>,
    pub next_delivery_time: Option<Millis>,
    pub response: Option<AttemptResponse>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_name() {
        for s in LogState::ALL {
            assert_eq!(LogState::parse(s.as_str()), Some(s));
        }
        assert_eq!(LogState::parse("IN_PROGRESS"), None);
        assert_eq!(
            StateFilter::parse("IN_PROGRESS"),
            Some(StateFilter::InProgress)
        );
    }

    #[test]
    fn in_progress_means_active_retry_and_error() {
        let matched: Vec<_> = LogState::ALL
            .into_iter()
            .filter(|s| StateFilter::InProgress.matches(*s))
            .collect();
        assert_eq!(
            matched,
            [LogState::Active, LogState::Error, LogState::Retry]
        );
    }
}
