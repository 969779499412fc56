//! `dedup`: deduplication keys (§9.7), each pointing at the message it first
//! created, until it expires.

use crate::store::db::{params, Conn, OptionalExtension};

use crate::model::Millis;
use crate::store::StoreError;

/// The message `key` created, if the key is still live at `now`.
pub(in crate::store) fn seen(
    conn: &Conn,
    key: &str,
    now: Millis,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT message_id FROM dedup WHERE key = ?1 AND expires_at > ?2")?
        .query_row(params![key, now], |r| r.get(0))
        .optional()?)
}

/// Takes `key` for `message_id` until `expires_at` if no live message
/// holds it at `now`; else returns the message that does. One statement,
/// so a concurrent claim of the same key (another node) waits for this
/// one's transaction and then sees the key taken.
pub(in crate::store) fn claim(
    conn: &Conn,
    key: &str,
    message_id: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<Option<String>, StoreError> {
    let taken = conn
        .prepare_cached(
            "INSERT INTO dedup (key, message_id, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET message_id = excluded.message_id, \
             expires_at = excluded.expires_at WHERE dedup.expires_at <= ?4",
        )?
        .execute(params![key, message_id, expires_at, now])?
        == 1;
    if taken {
        return Ok(None);
    }
    match seen(conn, key, now)? {
        Some(first) => Ok(Some(first)),
        // Live a moment ago and gone now: only a purge running at the same
        // instant could do that; the publish is answered 503 and retried.
        None => Err(StoreError::Unwritable(format!(
            "deduplication key {key} changed while it was being claimed"
        ))),
    }
}

/// Gives back keys `message_id` claimed in this transaction (its publish
/// turned out to be a duplicate under a later key).
pub(in crate::store) fn release(
    conn: &Conn,
    keys: &[String],
    message_id: &str,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM dedup WHERE key = ?1 AND message_id = ?2")?;
    for key in keys {
        stmt.execute(params![key.as_str(), message_id])?;
    }
    Ok(())
}

/// Deletes up to `limit` keys expired at `now`.
pub(in crate::store) fn purge(conn: &Conn, now: Millis, limit: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM dedup WHERE key IN \
             (SELECT key FROM dedup WHERE expires_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![now, limit])?)
}
