//! Schedules, and the one transaction that fires a slot.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{self, to_json, SCHEDULE_COLUMNS};
use super::{messages, Store, StoreError};
use crate::ids;
use crate::model::{schedule_state, Message, Millis, Schedule};

/// What one firing does, decided by the engine from the schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirePlan {
    /// Slots to turn into messages now.
    pub fire: Vec<Millis>,
    /// The schedule's next slot after this firing.
    pub next: Option<Millis>,
}

/// The outcome of a firing: the messages created, and when to fire next.
#[derive(Debug, Clone)]
pub struct Fired {
    pub messages: Vec<Message>,
    pub next_fire_at: Option<Millis>,
}

fn get(conn: &Connection, id: &str) -> Result<Option<Schedule>, StoreError> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], codec::schedule)
        .optional()?)
}

impl Store {
    /// Creates the schedule, or replaces every setting of the one with the same
    /// id (QStash's overwrite, §10). `createdAt` of a replaced schedule is kept.
    /// Returns the schedule as stored.
    pub async fn put_schedule(&self, mut s: Schedule) -> Result<Schedule, StoreError> {
        self.write(move |conn| {
            // The row's kept columns come back with RETURNING: no re-read.
            let (created_at, last_fire_at, last_states): (Millis, Option<Millis>, String) = conn
                .prepare_cached(
                    "INSERT INTO schedules (id, destination, cron, cron_seconds, delivery, body, \
                     misfire, paused, created_at, next_fire_at, last_fire_at, last_states, \
                     caller_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, '{}', ?11) \
                     ON CONFLICT (id) DO UPDATE SET destination = excluded.destination, \
                     cron = excluded.cron, cron_seconds = excluded.cron_seconds, \
                     delivery = excluded.delivery, body = excluded.body, \
                     misfire = excluded.misfire, paused = excluded.paused, \
                     next_fire_at = excluded.next_fire_at, caller_ip = excluded.caller_ip \
                     RETURNING created_at, last_fire_at, last_states",
                )?
                .query_row(
                    params![
                        s.id,
                        s.destination,
                        s.cron,
                        s.cron_seconds,
                        to_json(&s.delivery)?,
                        s.body,
                        s.misfire.as_str(),
                        s.paused,
                        s.created_at,
                        s.next_fire_at,
                        s.caller_ip,
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
            s.created_at = created_at;
            s.last_fire_at = last_fire_at;
            s.last_states = serde_json::from_str(&last_states)?;
            Ok(s)
        })
        .await
    }

    pub async fn schedule(&self, id: &str) -> Result<Option<Schedule>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| get(conn, &id)).await
    }

    /// Every schedule, oldest first.
    pub async fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read(|conn| {
            let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY created_at, id");
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([], codec::schedule)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes the schedule; messages it already created are still delivered
    /// (§4.5). Returns whether it existed.
    pub async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM fired_slots WHERE schedule_id = ?1")?
                .execute([&id])?;
            Ok(conn
                .prepare_cached("DELETE FROM schedules WHERE id = ?1")?
                .execute([&id])?
                > 0)
        })
        .await
    }

    /// Pauses or resumes. `next_after_resume` computes the next slot from the
    /// stored schedule when resuming. Returns the updated schedule, or `None`
    /// if there is no such schedule.
    pub async fn set_paused<F>(
        &self,
        id: &str,
        paused: bool,
        next_after_resume: F,
    ) -> Result<Option<Schedule>, StoreError>
    where
        F: FnOnce(&Schedule) -> Option<Millis> + Send + 'static,
    {
        let id = id.to_owned();
        self.write(move |conn| {
            let Some(s) = get(conn, &id)? else {
                return Ok(None);
            };
            if s.paused == paused {
                return Ok(Some(s)); // idempotent (§4.5)
            }
            let next = if paused { None } else { next_after_resume(&s) };
            conn.prepare_cached(
                "UPDATE schedules SET paused = ?2, next_fire_at = ?3 WHERE id = ?1",
            )?
            .execute(params![id, paused, next])?;
            get(conn, &id)
        })
        .await
    }

    /// `(id, next_fire_at)` of every schedule that has a slot to fire: what the
    /// timer is loaded with at start-up.
    pub async fn armed_schedules(&self) -> Result<Vec<(String, Millis)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, next_fire_at FROM schedules \
                 WHERE paused = 0 AND next_fire_at IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Fires schedule `id` if its `next_fire_at` is at or before `horizon`
    /// (the engine fires a little ahead of the slot): in one transaction,
    /// creates one message per slot of the engine's `plan(schedule, due)`, each
    /// due at its slot, and moves `next_fire_at` on. `now` stamps the messages.
    ///
    /// Returns `None` when nothing is due (the schedule was deleted, paused, or
    /// moved to a later slot), so a stale timer entry does nothing. The
    /// `fired_slots` key makes firing a slot twice impossible even if two
    /// firings race.
    pub async fn fire_schedule<F>(
        &self,
        id: &str,
        now: Millis,
        horizon: Millis,
        plan: F,
    ) -> Result<Option<Fired>, StoreError>
    where
        F: FnOnce(&Schedule, Millis) -> FirePlan + Send + 'static,
    {
        let id = id.to_owned();
        self.write(move |conn| {
            let Some(mut s) = get(conn, &id)? else {
                return Ok(None);
            };
            let Some(due) = s.next_fire_at.filter(|&at| at <= horizon && !s.paused) else {
                return Ok(None);
            };
            let plan = plan(&s, due);
            let mut created = Vec::with_capacity(plan.fire.len());
            for &slot in &plan.fire {
                let message = Message {
                    id: ids::message_id(),
                    url: s.destination.clone(),
                    schedule_id: Some(s.id.clone()),
                    slot_at: Some(slot),
                    delivery: s.delivery.clone(),
                    body: s.body.clone(),
                    created_at: now,
                    not_before: slot + s.delivery.delay_ms as Millis,
                    due_at: slot + s.delivery.delay_ms as Millis,
                    retried: 0,
                    caller_ip: s.caller_ip.clone(),
                };
                let claimed = conn
                    .prepare_cached(
                        "INSERT INTO fired_slots (schedule_id, slot_at, message_id) \
                         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![s.id, slot, message.id])?;
                if claimed == 1 {
                    messages::insert(conn, &message)?;
                    created.push(message);
                }
            }
            // Slots before this firing can never fire again (next_fire_at only
            // moves forward), so their keys are no longer needed.
            conn.prepare_cached("DELETE FROM fired_slots WHERE schedule_id = ?1 AND slot_at < ?2")?
                .execute(params![s.id, due])?;
            if !created.is_empty() {
                s.last_fire_at = plan.fire.iter().max().copied();
                s.last_states = created
                    .iter()
                    .map(|m| (m.id.clone(), schedule_state::IN_PROGRESS.to_owned()))
                    .collect::<BTreeMap<_, _>>();
            }
            s.next_fire_at = plan.next;
            conn.prepare_cached(
                "UPDATE schedules SET next_fire_at = ?2, last_fire_at = ?3, last_states = ?4 \
                 WHERE id = ?1",
            )?
            .execute(params![
                s.id,
                s.next_fire_at,
                s.last_fire_at,
                to_json(&s.last_states)?
            ])?;
            Ok(Some(Fired {
                messages: created,
                next_fire_at: plan.next,
            }))
        })
        .await
    }
}

/// Records a fired message's final state in its schedule's `lastScheduleStates`,
/// if that message belongs to the schedule's last firing.
pub(super) fn set_last_state(
    conn: &Connection,
    schedule_id: &str,
    message_id: &str,
    state: &str,
) -> Result<(), StoreError> {
    let path = format!("$.\"{message_id}\"");
    conn.prepare_cached(
        "UPDATE schedules SET last_states = json_set(last_states, ?2, ?3) \
         WHERE id = ?1 AND json_type(last_states, ?2) IS NOT NULL",
    )?
    .execute(params![schedule_id, path, state])?;
    Ok(())
}
