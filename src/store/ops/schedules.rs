//! Schedules, and the one transaction that fires a slot.

use std::collections::BTreeMap;

use crate::model::{schedule_state, FiringKind, Message, Millis, Schedule};
use crate::store::codec::to_json;
use crate::store::rows::{firings, schedules as rows};
use crate::store::{steps, ScheduleCursor, Store, StoreError};

/// What one firing does, decided by the engine from the schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirePlan {
    /// Slots to turn into messages now.
    pub fire: Vec<Millis>,
    /// The schedule's next slot after this firing.
    pub next: Option<Millis>,
    /// Slots passed over (missed while cronhook was down), kept in the
    /// schedule's fire history with `reason`.
    pub skipped: Vec<Millis>,
    pub reason: String,
}

/// What a firing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Messages created (slots fired for the first time).
    pub messages: usize,
    pub next_fire_at: Option<Millis>,
}

impl Store {
    /// Creates the schedule, or replaces every setting of the one with the same
    /// id (QStash's overwrite, §10). `createdAt` of a replaced schedule is kept.
    /// Returns the schedule as stored.
    pub async fn put_schedule(&self, mut s: Schedule) -> Result<Schedule, StoreError> {
        // Serialised here, on the caller's thread: the writer is one thread
        // for every write, so what can be done before it is.
        let delivery = to_json(&s.delivery)?;
        self.write(move |tx| {
            let kept = rows::upsert(tx, &s, &delivery)?;
            s.created_at = kept.created_at;
            s.last_fire_at = kept.last_fire_at;
            s.last_states = kept.last_states;
            s.last_error = kept.last_error;
            tx.schedule(&s.id, s.next_fire_at.filter(|_| !s.paused));
            Ok(s)
        })
        .await
    }

    pub async fn schedule(&self, id: &str) -> Result<Option<Schedule>, StoreError> {
        let id = id.to_owned();
        self.read_api(move |conn| rows::get(conn, &id)).await
    }

    /// Every schedule, oldest first.
    pub async fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read_api(rows::all).await
    }

    /// The next `count` schedules after `after` (the `(createdAt, id)` of
    /// the last one a listing gave), in the order of [`Store::schedules`]:
    /// one chunk of a streamed listing. Each chunk is its own short read, so
    /// a listing holds no read transaction while its client is slow (an
    /// open one would hold back WAL checkpoints); a schedule written between
    /// two chunks is seen if it sorts after the cursor.
    pub async fn schedules_after(
        &self,
        after: Option<ScheduleCursor>,
        count: usize,
    ) -> Result<Vec<Schedule>, StoreError> {
        self.read_api(move |conn| {
            let after = after.as_ref().map(|(t, id)| (*t, id.as_str()));
            rows::after(conn, after, count)
        })
        .await
    }

    /// Deletes the schedule; messages it already created are still delivered
    /// (§4.5). Returns whether it existed.
    pub async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let existed = rows::delete(tx, &id)?;
            firings::delete_of(tx, &id)?;
            if existed {
                tx.schedule(&id, None);
            }
            Ok(existed)
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
        self.write(move |tx| {
            let Some(mut s) = rows::get(tx, &id)? else {
                return Ok(None);
            };
            if s.paused == paused {
                return Ok(Some(s)); // idempotent (§4.5)
            }
            s.next_fire_at = if paused { None } else { next_after_resume(&s) };
            s.paused = paused;
            rows::set_paused(tx, &id, paused, s.next_fire_at)?;
            tx.schedule(&id, s.next_fire_at);
            Ok(Some(s))
        })
        .await
    }

    /// `(id, next_fire_at)` of every schedule that has a slot to fire: what the
    /// timer is loaded with at start-up.
    pub async fn armed_schedules(&self) -> Result<Vec<(String, Millis)>, StoreError> {
        self.each_armed_schedule(Vec::new(), |all, id, at| all.push((id.to_owned(), at)))
            .await
    }

    /// `armed_schedules` without a `String` per schedule: `f` gets each
    /// `(id, next_fire_at)` with `acc`, on a read thread, and `acc` comes
    /// back (the engine's start-up load fills the timer's `Loader` so).
    pub async fn each_armed_schedule<A, F>(&self, acc: A, mut f: F) -> Result<A, StoreError>
    where
        A: Send + 'static,
        F: FnMut(&mut A, &str, Millis) + Send + 'static,
    {
        self.read_engine(move |conn| {
            let mut acc = acc;
            rows::each_armed(conn, &mut |id, at| f(&mut acc, id, at))?;
            Ok(acc)
        })
        .await
    }

    /// `(id, next_fire_at)` of every unpaused schedule whose next slot is in
    /// `(after, until]`: what a leader's catch-up re-arms (several nodes).
    pub async fn schedules_due_between(
        &self,
        after: Millis,
        until: Millis,
    ) -> Result<Vec<(String, Millis)>, StoreError> {
        self.read_engine(move |conn| rows::due_between(conn, after, until))
            .await
    }

    /// Fires schedule `id` if its `next_fire_at` is at or before `horizon`
    /// (the engine fires a little ahead of the slot): in one transaction,
    /// creates one message per slot of the engine's `plan(schedule, due)`
    /// (one per endpoint for a URL group, read now), each due at its slot,
    /// and moves `next_fire_at` on. `now` stamps the messages. A slot whose
    /// group is gone creates nothing; the schedule's `last_error` and its
    /// fire history say why, and it keeps its next slot.
    ///
    /// Returns `None` when nothing is due: the schedule was deleted, paused,
    /// or moved to a later slot by a write that committed after the timer
    /// took this key, or fired by another engine meanwhile. Then the timer
    /// is corrected to what is stored, so a stale entry can never leave a
    /// schedule unarmed. Two firings racing cannot fire a slot twice: the
    /// schedule moves on by a compare-and-set on the slot read
    /// (`rows::move_next`), and the `fired_slots` key refuses a slot
    /// already fired.
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
        self.write(move |tx| {
            let Some(mut s) = rows::get(tx, &id)? else {
                tx.schedule(&id, None);
                return Ok(None);
            };
            let armed = s.next_fire_at.filter(|_| !s.paused);
            let Some(due) = armed.filter(|&at| at <= horizon) else {
                tx.schedule(&id, armed);
                return Ok(None);
            };
            let plan = plan(&s, due);
            // The database decides the slot, even if two engines fire it at
            // once (several nodes): only the firing that moves the schedule
            // on from the slot it read goes on.
            if !rows::move_next(tx, &s.id, due, plan.next)? {
                let stored = rows::get(tx, &id)?.and_then(|s| s.next_fire_at.filter(|_| !s.paused));
                tx.schedule(&id, stored);
                return Ok(None);
            }
            // The history in slot order: fired and missed slots interleave.
            let mut slots: Vec<(Millis, bool)> = plan
                .fire
                .iter()
                .map(|&t| (t, true))
                .chain(plan.skipped.iter().map(|&t| (t, false)))
                .collect();
            slots.sort_unstable();
            let mut created = Vec::with_capacity(plan.fire.len());
            let mut error = None;
            for (slot, fires) in slots {
                if !fires {
                    let reason = Some(plan.reason.as_str());
                    firings::insert(tx, &s.id, Some(slot), FiringKind::Missed, None, reason, now)?;
                    continue;
                }
                let messages =
                    match steps::schedule_messages(tx, &s, Message::fired(&s, slot, now))? {
                        Ok(messages) => messages,
                        Err(why) => {
                            firings::insert(
                                tx,
                                &s.id,
                                Some(slot),
                                FiringKind::Missed,
                                None,
                                Some(&why),
                                now,
                            )?;
                            error = Some(why);
                            continue;
                        }
                    };
                if rows::claim_slot(tx, &s.id, slot, &messages[0].id)? {
                    for message in messages {
                        created.push(message.id.clone());
                        let id = Some(message.id.as_str());
                        firings::insert(tx, &s.id, Some(slot), FiringKind::Slot, id, None, now)?;
                        steps::add_message(tx, message)?;
                    }
                    error = None;
                }
            }
            rows::prune_slots(tx, &s.id, due)?;
            if !created.is_empty() || error.is_some() {
                // A run whose group was gone is a run with no messages (§10).
                s.last_fire_at = plan.fire.iter().max().copied();
                s.last_states = created
                    .iter()
                    .map(|m| (m.clone(), schedule_state::IN_PROGRESS.to_owned()))
                    .collect::<BTreeMap<_, _>>();
                s.last_error = error;
            }
            s.next_fire_at = plan.next;
            rows::after_fire(tx, &s)?;
            tx.schedule(&s.id, s.next_fire_at);
            Ok(Some(Fired {
                messages: created.len(),
                next_fire_at: plan.next,
            }))
        })
        .await
    }
}
