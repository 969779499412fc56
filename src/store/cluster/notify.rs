//! The writer's side of notices: every PostgreSQL batch that changed what a
//! timer holds announces it with `pg_notify` inside its own transaction, so
//! PostgreSQL delivers the announcement at the commit, in commit order, and
//! never for a batch that was rolled back.

use crate::store::db::{params, Conn};
use crate::store::writer::BeforeCommit;
use crate::store::{Change, StoreError};

use super::{notice, CHANNEL_SQL};

/// The `BeforeCommit` hook of a node on PostgreSQL: announces each batch's
/// changes under this node's id (the listener of the same node skips them;
/// its own engine was armed by the commit itself).
pub struct Notifier {
    node: String,
}

impl Notifier {
    pub fn new(node: impl Into<String>) -> Notifier {
        Notifier { node: node.into() }
    }
}

impl BeforeCommit for Notifier {
    fn before_commit(&self, conn: &Conn, changes: &[&[Change]]) -> Result<(), StoreError> {
        let payloads = notice::encode_all(&self.node, changes.iter().flat_map(|c| c.iter()));
        if payloads.is_empty() {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(&format!("SELECT pg_notify({CHANNEL_SQL}, ?1)"))?;
        for payload in &payloads {
            stmt.query_row(params![payload.as_str()], |_| Ok(()))?;
        }
        Ok(())
    }
}
