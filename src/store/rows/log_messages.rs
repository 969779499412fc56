//! `log_messages`: the settings of each message in the log (url, schedule,
//! caller, delivery JSON, body), stored once, with its CREATED entry, so
//! the log's rows refer to them instead of copying them.

use std::collections::HashMap;
use std::rc::Rc;

use crate::store::db::{params, Conn, OptionalExtension};

use crate::model::{Delivery, Message};
use crate::store::codec::{self, to_json};
use crate::store::StoreError;

/// What a message's log entries show besides their own state.
#[derive(Debug, Clone, Default)]
pub(in crate::store) struct Settings {
    pub url: String,
    pub schedule_id: Option<String>,
    pub caller_ip: Option<String>,
    pub delivery: Delivery,
    /// The settings its attempts ran with, when they were recorded (a
    /// workflow message gets its run's config at attempt time).
    pub attempt_delivery: Option<Delivery>,
    pub body: Option<Vec<u8>>,
}

impl Settings {
    /// The settings an entry in `state` shows: an attempt's states show the
    /// attempts' settings, the others the stored ones (as the old per-row
    /// copies did).
    pub fn delivery_for(&self, attempt_state: bool) -> &Delivery {
        match (&self.attempt_delivery, attempt_state) {
            (Some(d), true) => d,
            _ => &self.delivery,
        }
    }
}

/// Stores `m`'s settings; `delivery` is `m.delivery` already encoded.
pub(in crate::store) fn insert(conn: &Conn, m: &Message, delivery: &str) -> Result<(), StoreError> {
    // A replaced row loses its attempt settings (as SQLite's INSERT OR
    // REPLACE did; the table has no rowid, trigger or reference for the two
    // to differ by).
    conn.prepare_cached(
        "INSERT INTO log_messages (id, url, schedule_id, caller_ip, delivery, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET url = excluded.url, \
         schedule_id = excluded.schedule_id, caller_ip = excluded.caller_ip, \
         delivery = excluded.delivery, body = excluded.body, attempt_delivery = NULL",
    )?
    .execute(params![
        m.id,
        m.url,
        m.schedule_id,
        m.caller_ip,
        delivery,
        m.body
    ])?;
    Ok(())
}

/// Records the settings `m`'s attempts run with, once per message: only a
/// workflow message's differ from what was stored (its run's config is put
/// on at attempt time), so only those are looked at, and encoded once.
pub(in crate::store) fn note_attempt_settings(conn: &Conn, m: &Message) -> Result<(), StoreError> {
    if m.delivery.workflow.is_none() {
        return Ok(());
    }
    let missing: Option<bool> = conn
        .prepare_cached("SELECT attempt_delivery IS NULL FROM log_messages WHERE id = ?1")?
        .query_row([&m.id], |r| r.get(0))
        .optional()?;
    if missing == Some(true) {
        conn.prepare_cached("UPDATE log_messages SET attempt_delivery = ?2 WHERE id = ?1")?
            .execute(params![m.id, to_json(&m.delivery)?])?;
    }
    Ok(())
}

/// Message `id`'s settings.
pub(in crate::store) fn get(conn: &Conn, id: &str) -> Result<Option<Settings>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT url, schedule_id, caller_ip, delivery, attempt_delivery, body \
             FROM log_messages WHERE id = ?1",
        )?
        .query_row([id], |r| {
            let delivery: String = r.get(3)?;
            let attempt: Option<String> = r.get(4)?;
            Ok(Settings {
                url: r.get(0)?,
                schedule_id: r.get(1)?,
                caller_ip: r.get(2)?,
                delivery: codec::from_json(3, &delivery)?,
                attempt_delivery: attempt.map(|a| codec::from_json(4, &a)).transpose()?,
                body: r.get(5)?,
            })
        })
        .optional()?)
}

/// Settings read once per message while a page is built.
#[derive(Default)]
pub(in crate::store) struct Cache(HashMap<String, Rc<Settings>>);

/// Settings a [`Cache`] holds at most (each may carry a body).
const CACHE_MAX: usize = 32;

impl Cache {
    /// `id`'s settings; empty ones for a message whose settings are gone,
    /// so no entry is hidden (the purge keeps them while rows remain).
    pub fn get(&mut self, conn: &Conn, id: &str) -> Result<Rc<Settings>, StoreError> {
        if let Some(s) = self.0.get(id) {
            return Ok(s.clone());
        }
        // A filtered page may look through many rows before it fills;
        // what it keeps holds its own references, so forgetting is safe.
        if self.0.len() >= CACHE_MAX {
            self.0.clear();
        }
        let s = Rc::new(get(conn, id)?.unwrap_or_default());
        self.0.insert(id.to_owned(), s.clone());
        Ok(s)
    }
}

/// Deletes the settings of those of `ids` that have no log row left and
/// are not pending (a pending message's attempts will log again).
pub(in crate::store) fn drop_orphans(conn: &Conn, ids: &[String]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM log_messages WHERE id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM log WHERE message_id = ?1) \
         AND NOT EXISTS (SELECT 1 FROM messages WHERE id = ?1)",
    )?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}
