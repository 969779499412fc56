//! Settings that must survive restarts: the signing keys after a rotation,
//! and queues.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Store, StoreError};
use crate::model::{Millis, SigningKeys};

fn get(conn: &Connection, key: &str) -> Result<Option<SigningKeys>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

fn put(conn: &Connection, key: &str, keys: &SigningKeys) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, serde_json::to_string(keys)?])?;
    Ok(())
}

impl Store {
    /// The signing keys to use: the rotated ones if keys were rotated since
    /// the operator last configured these `configured` keys, else `configured`
    /// (changing the configuration wins over an older rotation).
    pub async fn signing_keys(&self, configured: SigningKeys) -> Result<SigningKeys, StoreError> {
        self.write(move |conn| {
            if get(conn, "keys.configured")?.as_ref() == Some(&configured) {
                if let Some(active) = get(conn, "keys.active")? {
                    return Ok(active);
                }
            }
            put(conn, "keys.configured", &configured)?;
            put(conn, "keys.active", &configured)?;
            Ok(configured)
        })
        .await
    }

    /// §4.10: the old next key becomes current and `new_next` is next.
    pub async fn rotate_keys(&self, new_next: String) -> Result<SigningKeys, StoreError> {
        self.write(move |conn| {
            let active = get(conn, "keys.active")?.ok_or(StoreError::Closed)?;
            let rotated = SigningKeys {
                current: active.next,
                next: new_next,
            };
            put(conn, "keys.active", &rotated)?;
            Ok(rotated)
        })
        .await
    }

    /// Creates the queue with parallelism 1 if it does not exist (§4.2);
    /// returns its parallelism.
    pub async fn ensure_queue(&self, name: &str, now: Millis) -> Result<u32, StoreError> {
        let name = name.to_owned();
        // Queues are never changed or removed once made: a read answers
        // every enqueue but the first, without a commit (and its fsync).
        let lookup = name.clone();
        let known: Option<u32> = self
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT parallelism FROM queues WHERE name = ?1")?
                    .query_row([&lookup], |r| r.get(0))
                    .optional()?)
            })
            .await?;
        if let Some(parallelism) = known {
            return Ok(parallelism);
        }
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO queues (name, parallelism, paused, created_at, updated_at) \
                 VALUES (?1, 1, 0, ?2, ?2) ON CONFLICT (name) DO NOTHING",
            )?
            .execute(params![name, now])?;
            Ok(conn
                .prepare_cached("SELECT parallelism FROM queues WHERE name = ?1")?
                .query_row([&name], |r| r.get(0))?)
        })
        .await
    }

    /// Parallelism of every queue, for the engine's gate at start-up.
    pub async fn queue_parallelisms(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT name, parallelism FROM queues")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
