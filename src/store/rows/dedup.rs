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

pub(in crate::store) fn put(
    conn: &Conn,
    key: &str,
    message_id: &str,
    expires_at: Millis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO dedup (key, message_id, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET message_id = excluded.message_id, \
         expires_at = excluded.expires_at",
    )?
    .execute(params![key, message_id, expires_at])?;
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
