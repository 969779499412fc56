//! `meta`: small settings that must survive restarts, as JSON by key.

use crate::store::db::{params, Conn, OptionalExtension};
use serde::{de::DeserializeOwned, Serialize};

use crate::store::StoreError;

pub(in crate::store) fn get<T: DeserializeOwned>(
    conn: &Conn,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

pub(in crate::store) fn put<T: Serialize + ?Sized>(
    conn: &Conn,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, serde_json::to_string(value)?])?;
    Ok(())
}
