//! Row ↔ domain conversions.

use crate::store::db::{DbError, Row};

use super::StoreError;
use crate::model::{Delivery, HeaderMap, Message, Misfire, Schedule};

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(value)?)
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    idx: usize,
    text: &str,
) -> crate::store::db::Result<T> {
    serde_json::from_str(text).map_err(|e| DbError::conversion(idx, e))
}

pub(super) const SCHEDULE_COLUMNS: &str = "id, destination, cron, cron_seconds, delivery, body, \
     misfire, paused, created_at, next_fire_at, last_fire_at, last_states, caller_ip, last_error, \
     start_at, end_at";

pub(super) fn schedule(row: &Row) -> crate::store::db::Result<Schedule> {
    let delivery: String = row.get(4)?;
    let last_states: String = row.get(11)?;
    let misfire: String = row.get(6)?;
    Ok(Schedule {
        id: row.get(0)?,
        destination: row.get(1)?,
        cron: row.get(2)?,
        cron_seconds: row.get(3)?,
        delivery: from_json::<Delivery>(4, &delivery)?,
        body: row.get(5)?,
        misfire: Misfire::parse(&misfire).unwrap_or_default(),
        paused: row.get(7)?,
        created_at: row.get(8)?,
        next_fire_at: row.get(9)?,
        last_fire_at: row.get(10)?,
        last_states: from_json(11, &last_states)?,
        caller_ip: row.get(12)?,
        last_error: row.get(13)?,
        start_at: row.get(14)?,
        end_at: row.get(15)?,
    })
}

pub(super) const MESSAGE_COLUMNS: &str =
    "id, url, schedule_id, slot_at, delivery, body, created_at, not_before, due_at, retried, caller_ip";

pub(super) fn message(row: &Row) -> crate::store::db::Result<Message> {
    let delivery: String = row.get(4)?;
    Ok(Message {
        id: row.get(0)?,
        url: row.get(1)?,
        schedule_id: row.get(2)?,
        slot_at: row.get(3)?,
        delivery: from_json(4, &delivery)?,
        body: row.get(5)?,
        created_at: row.get(6)?,
        not_before: row.get(7)?,
        due_at: row.get(8)?,
        retried: row.get(9)?,
        caller_ip: row.get(10)?,
    })
}

pub(super) fn header_map(idx: usize, text: &str) -> crate::store::db::Result<HeaderMap> {
    from_json(idx, text)
}

/// A stored state name that this version does not know is a corrupt row.
pub(super) fn log_state(
    idx: usize,
    text: &str,
) -> crate::store::db::Result<crate::model::LogState> {
    crate::model::LogState::parse(text)
        .ok_or_else(|| DbError::conversion(idx, format!("unknown log state {text:?}")))
}
