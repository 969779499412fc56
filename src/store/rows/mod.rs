//! One file per table: plain statements on a connection, no transactions
//! of their own and no knowledge of each other. `steps` and `ops` compose
//! them.

pub(super) mod dedup;
pub(super) mod dlq;
pub(super) mod events;
pub(super) mod firings;
pub(super) mod flow_control;
pub(super) mod log_messages;
pub(super) mod messages;
pub(super) mod meta;
pub(super) mod queues;
pub(super) mod runs;
pub(super) mod schedules;
pub(super) mod url_groups;
