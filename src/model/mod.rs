//! Domain types shared by the API, the service, the store and the engine.
//!
//! Instants are Unix milliseconds (`Millis`), as QStash reports them, so nothing
//! is converted between the wire, the database and the timer.

mod firing;
pub mod flow;
mod log;
mod queue;
mod url_group;
pub mod workflow;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::clock::Millis;
pub use firing::{Firing, FiringKind, FiringOutcome};
pub use flow::{FlowAction, FlowLimits, FlowPin, FlowSettings};
pub use log::{LogEntry, LogState, StateFilter};
pub use queue::{Queue, MAX_QUEUE_PARALLELISM};
pub use url_group::{valid_name, Destination, Endpoint, EndpointSelector, TopicLink, UrlGroup};
pub use workflow::{InvokeParent, Role, RunConfig, RunInit, WorkflowLink};

/// Header map as QStash reports it: canonical name → values.
pub type HeaderMap = BTreeMap<String, Vec<String>>;

/// How a message is delivered: everything the `Upstash-*` request headers
/// configure. Schedules keep one as the template for the messages they fire, so
/// both share the same parsing, storage (a JSON column, so new options need no
/// migration) and delivery code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Delivery {
    pub method: String,
    /// Headers forwarded to the destination (prefix stripped, canonical names),
    /// including `Content-Type`.
    pub headers: HeaderMap,
    pub retries: u32,
    /// `Upstash-Retry-Delay` source; validated before it is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<String>,
    /// Per-attempt HTTP timeout; `None` means the server default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Delay between a message's creation and its first attempt (for schedules:
    /// applied to every fired message, §10).
    #[serde(skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_callback: Option<String>,
    #[serde(skip_serializing_if = "HeaderMap::is_empty")]
    pub callback_headers: HeaderMap,
    #[serde(skip_serializing_if = "HeaderMap::is_empty")]
    pub failure_callback_headers: HeaderMap,
    /// `Upstash-Callback-Method`, `-Retries`, … (§5.1).
    #[serde(skip_serializing_if = "CallbackOptions::is_unset")]
    pub callback_options: CallbackOptions,
    /// `Upstash-Failure-Callback-Method`, `-Retries`, … (§5.1).
    #[serde(skip_serializing_if = "CallbackOptions::is_unset")]
    pub failure_callback_options: CallbackOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_control: Option<FlowControl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redact: Option<String>,
    /// Set on messages that belong to an Upstash Workflow run (workflow-wire
    /// §2.1 `Upstash-Workflow-RunId`); absent on plain messages, so the JSON of
    /// existing rows and schedules reads back unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowLink>,
    /// Set on a message that was sent through a URL group: the group and the
    /// endpoint it is for. Never set on a schedule's template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicLink>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            method: "POST".into(),
            headers: HeaderMap::new(),
            retries: DEFAULT_RETRIES,
            retry_delay: None,
            timeout_ms: None,
            delay_ms: 0,
            callback: None,
            failure_callback: None,
            callback_headers: HeaderMap::new(),
            failure_callback_headers: HeaderMap::new(),
            callback_options: CallbackOptions::default(),
            failure_callback_options: CallbackOptions::default(),
            labels: Vec::new(),
            queue_name: None,
            flow_control: None,
            redact: None,
            workflow: None,
            topic: None,
        }
    }
}

/// How a callback message is delivered; unset fields follow QStash's
/// defaults (POST, the source message's retries, no delay).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CallbackOptions {
    pub method: Option<String>,
    pub retries: Option<u32>,
    pub retry_delay: Option<String>,
    pub timeout_ms: Option<u64>,
    pub delay_ms: Option<u64>,
}

impl CallbackOptions {
    /// Nothing set: every field follows the default.
    pub fn is_unset(&self) -> bool {
        *self == CallbackOptions::default()
    }
}

/// Stored JSON leaves out what is at its default: a `Delivery` is written
/// with every log row, and most messages set almost nothing.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// QStash's default number of retries (§9.1): four attempts in all.
pub const DEFAULT_RETRIES: u32 = 3;

/// `Upstash-Flow-Control-*` as given (§5.1): reported with the message
/// (§6.3), and the key's latest limits unless pinned (`flow::FlowSettings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowControl {
    pub key: String,
    pub parallelism: Option<u32>,
    pub rate: Option<u32>,
    /// Seconds; QStash reports 1 when not given.
    pub period: u64,
}

/// What to do with slots that passed while cronhook was down (`Cronhook-Misfire`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Misfire {
    /// Log the missed slots and fire none of them.
    Skip,
    /// Fire the latest missed slot once; log the others.
    #[default]
    Once,
    /// Fire every missed slot, up to a cap; log the rest.
    All,
}

impl Misfire {
    pub fn as_str(self) -> &'static str {
        match self {
            Misfire::Skip => "skip",
            Misfire::Once => "once",
            Misfire::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Misfire> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Some(Misfire::Skip),
            "once" => Some(Misfire::Once),
            "all" => Some(Misfire::All),
            _ => None,
        }
    }
}

/// The signing keys; `current` signs, receivers also accept `next` (§8.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeys {
    pub current: String,
    pub next: String,
}

/// A cron schedule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub id: String,
    pub destination: String,
    /// The trimmed expression, `CRON_TZ=` prefix kept.
    pub cron: String,
    /// Whether the expression has a leading seconds field.
    pub cron_seconds: bool,
    pub delivery: Delivery,
    pub body: Vec<u8>,
    pub misfire: Misfire,
    pub paused: bool,
    pub created_at: Millis,
    /// The next slot to fire; `None` while paused or when the expression never fires again.
    pub next_fire_at: Option<Millis>,
    pub last_fire_at: Option<Millis>,
    /// messageId → `IN_PROGRESS` | `SUCCESS` | `FAIL` for the last firing (§6.3).
    pub last_states: BTreeMap<String, String>,
    pub caller_ip: Option<String>,
    /// Why the last firing created no message (its URL group was gone), §10
    /// `error`; cleared by the next firing that creates messages.
    pub last_error: Option<String>,
    /// `Cronhook-Start-At`: no slot before it (Unix ms).
    pub start_at: Option<Millis>,
    /// `Cronhook-End-At`: no slot after it (Unix ms); once its last slot has
    /// fired the schedule is ended, kept and shown, never armed again.
    pub end_at: Option<Millis>,
}

/// What a schedule does now, as the API and the console show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleState {
    /// Fires at its next slot (which may wait for its start).
    Active,
    Paused,
    /// Will never fire again: its end has passed, or no slot is left before
    /// it. Kept until deleted.
    Ended,
}

impl ScheduleState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Active => "active",
            ScheduleState::Paused => "paused",
            ScheduleState::Ended => "ended",
        }
    }
}

impl Schedule {
    /// The state at `now`. An active schedule without a next slot has none
    /// left (its window is over); a paused one is ended once its end passed,
    /// since resuming could not make it fire.
    pub fn state(&self, now: Millis) -> ScheduleState {
        if self.paused {
            if self.end_at.is_some_and(|end| end < now) {
                ScheduleState::Ended
            } else {
                ScheduleState::Paused
            }
        } else if self.next_fire_at.is_none() {
            ScheduleState::Ended
        } else {
            ScheduleState::Active
        }
    }
}

/// A message waiting for its next delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub url: String,
    pub schedule_id: Option<String>,
    /// The schedule slot this message fires (sent as `Cronhook-Slot-Time`).
    pub slot_at: Option<Millis>,
    pub delivery: Delivery,
    pub body: Vec<u8>,
    pub created_at: Millis,
    /// When the first attempt was due.
    pub not_before: Millis,
    /// When the next attempt is due.
    pub due_at: Millis,
    /// Attempts already made and failed (the next attempt's `Upstash-Retried`).
    pub retried: u32,
    pub caller_ip: Option<String>,
}

impl Message {
    /// A new message to `url`, created at `now` and first due at `due_at`,
    /// with a fresh id.
    pub fn new(
        url: String,
        delivery: Delivery,
        body: Vec<u8>,
        now: Millis,
        due_at: Millis,
    ) -> Message {
        Message {
            id: crate::ids::message_id(),
            url,
            schedule_id: None,
            slot_at: None,
            delivery,
            body,
            created_at: now,
            not_before: due_at,
            due_at,
            retried: 0,
            caller_ip: None,
        }
    }

    /// The message schedule `s` fires for its slot `slot`: the schedule's
    /// settings and body, due at the slot plus the schedule's delay.
    pub fn fired(s: &Schedule, slot: Millis, now: Millis) -> Message {
        let due = slot + s.delivery.delay_ms as Millis;
        Message {
            schedule_id: Some(s.id.clone()),
            slot_at: Some(slot),
            caller_ip: s.caller_ip.clone(),
            ..Message::new(
                s.destination.clone(),
                s.delivery.clone(),
                s.body.clone(),
                now,
                due,
            )
        }
    }

    /// A new attempt sequence of this message under a new id, due at
    /// `due_at` (a DLQ retry or a resumed workflow step).
    pub fn again(&self, delivery: Delivery, now: Millis, due_at: Millis) -> Message {
        Message {
            id: crate::ids::message_id(),
            delivery,
            created_at: now,
            not_before: due_at,
            due_at,
            retried: 0,
            ..self.clone()
        }
    }

    /// The link to its workflow run of a message whose running out of
    /// attempts fails the run (a step, a call's callback, a wait timeout):
    /// the failed steps a workflow DLQ call acts on.
    pub fn failing_step(&self) -> Option<&WorkflowLink> {
        self.delivery
            .workflow
            .as_ref()
            .filter(|l| l.role.fails_run())
    }

    /// Sets who published it (`callerIP`).
    pub fn from_caller(mut self, ip: Option<String>) -> Message {
        self.caller_ip = ip;
        self
    }
}

/// What one delivery attempt got back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttemptResponse {
    /// HTTP status, or `None` when no response arrived (timeout, connection error).
    pub status: Option<u16>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub error: String,
}

/// One delivery attempt, as logged: when it ran and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub started_at: Millis,
    pub ended_at: Millis,
    pub response: AttemptResponse,
}

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq)]
pub struct DlqEntry {
    pub dlq_id: String,
    /// Position in the DLQ; the cursor is built from it.
    pub seq: i64,
    pub message: Message,
    pub failed_at: Millis,
    pub response: AttemptResponse,
}

/// States reported in `lastScheduleStates` (§6.3; Python maps them onto an enum).
pub mod schedule_state {
    pub const IN_PROGRESS: &str = "IN_PROGRESS";
    pub const SUCCESS: &str = "SUCCESS";
    pub const FAIL: &str = "FAIL";
}

/// Go's `CanonicalMIMEHeaderKey` form (`content-type` → `Content-Type`), which
/// QStash uses for header names in API responses and deliveries (§7.2).
pub fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// Headers never forwarded to a destination: framing and hop-by-hop headers
/// (a stale `Content-Length` would break the request) and the ones cronhook
/// sets on every delivery itself. Forwarding sources that pass on *every*
/// header they got (`Upstash-Header-Forward: true`, a workflow's first
/// invocation, workflow-wire §7.1) include them. `lower` is lower-case.
pub fn is_transport_or_delivery_header(lower: &str) -> bool {
    const NAMES: [&str; 9] = [
        "proxy-authorization",
        "accept-encoding",
        "user-agent",
        "upstash-signature",
        "upstash-message-id",
        "upstash-retried",
        "upstash-caller-ip",
        "upstash-schedule-id",
        "upstash-topic-name",
    ];
    is_hop_header(lower) || NAMES.contains(&lower)
}

/// Framing and hop-by-hop headers: they describe one hop, not the request,
/// so neither a forward nor a recorded webhook call keeps them. `lower` is
/// lower-case.
pub fn is_hop_header(lower: &str) -> bool {
    const NAMES: [&str; 10] = [
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-connection",
    ];
    NAMES.contains(&lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonicalised_like_go() {
        for (raw, want) in [
            ("content-type", "Content-Type"),
            ("TEST-HEADER", "Test-Header"),
            ("bypass-tunnel-reminder", "Bypass-Tunnel-Reminder"),
            ("x", "X"),
            ("x--y", "X--Y"),
        ] {
            assert_eq!(canonical_header_name(raw), want);
        }
    }
}
