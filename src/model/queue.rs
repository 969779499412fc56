//! A FIFO queue (§4.6, §6.4) as the API shows it.

use super::Millis;

/// Most messages of one queue active at once that `POST /v2/queues` accepts.
/// QStash caps it by plan; cronhook caps it so that one queue cannot claim
/// more than a busy instance delivers at once (`--max-in-flight` is 512 by
/// default), and so that a typo (`parallelism: 1e9`) is refused, not stored.
pub const MAX_QUEUE_PARALLELISM: u32 = 1000;

/// A queue and how many of its messages are not finished yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    /// Most of its messages active at once (at least 1).
    pub parallelism: u32,
    /// A paused queue accepts messages and starts no attempt.
    pub paused: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Messages of the queue still pending (waiting, active or retrying):
    /// exact, counted in the store.
    pub lag: u64,
}
