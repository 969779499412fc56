//! The `Store` methods: each is one write transaction or one read, in the
//! domain's terms. They use `steps` and `rows`, never each other.

pub(super) mod backup;
pub(super) mod cluster;
pub(super) mod console;
pub(super) mod dlq;
pub(super) mod events;
pub(super) mod flow_control;
pub(super) mod keys;
pub(super) mod messages;
pub(super) mod outcomes;
pub(super) mod queues;
pub(super) mod retention;
pub(super) mod schedules;
pub(super) mod url_groups;
pub(super) mod workflows;
