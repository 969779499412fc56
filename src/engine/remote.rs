//! What other nodes committed (several nodes on one PostgreSQL database).
//!
//! The leader's own commits arm themselves through `Arming`, as on SQLite,
//! except its new queued messages. Other nodes' commits reach it as notices
//! (`store::cluster::listen`), handed to [`RemoteArming::arm`] in their
//! commit order; this is the one other way into the timer. The leader's own
//! new queued messages come the same way ([`RemoteArming::arm_own`]), so
//! that each queue's line is in commit order whichever node took the
//! enqueue: PostgreSQL hands on all nodes' notices in that one order. A
//! pending message arrives as its row without the body (`store::Pending`),
//! armed as a window read arms one: the message itself is read at its
//! attempt.
//!
//! Nothing here needs to be exact, because everything it arms is checked
//! again against the database when it comes due: a schedule's firing
//! re-reads `next_fire_at` and corrects a stale arming, an attempt re-reads
//! the message (gone: skipped; due later: armed again), dispatch never runs
//! two attempts of one message at once, and the queue gate ignores a
//! message offered twice. So a notice that arrives late, twice, or after
//! the catch-up already found its row, costs a read at most.
//!
//! [`RemoteArming::catch_up`] is the safety net for notices missed: the
//! periodic one re-reads what comes due soon (unqueued messages by due
//! time, schedules by `next_fire_at`); the full one, after the listening
//! connection was re-opened, re-reads everything a start would (queue and
//! flow-control settings, queued messages, signing keys) except what the
//! timer already holds for good.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{Ctx, FIRE_LEAD, WINDOW};
use crate::model::Millis;
use crate::store::cluster::Remote;
use crate::store::{Pending, StoreError};

/// How far back a periodic catch-up looks, beyond one catch-up period: a
/// row another node committed since the last catch-up is due no earlier
/// than that node's clock said at the commit, and nodes' clocks may differ
/// by this much.
const CLOCK_SLACK: Millis = 10_000;

/// Arms what other nodes committed, in the leader's running engine.
#[derive(Clone)]
pub struct RemoteArming(pub(super) Arc<Ctx>);

impl RemoteArming {
    /// Arms one notice's changes, in order. Must be called inside the
    /// runtime (signing keys and re-reads are read on the engine's tasks).
    pub fn arm(&self, changes: Vec<Remote>) {
        let ctx = &self.0;
        for change in changes {
            match change {
                Remote::Pending(p) => arm_pending(ctx, p),
                Remote::Schedule { id, next } => ctx.arm_schedule(&id, next),
                Remote::Gone(id) => ctx.gone(&id),
                Remote::Queue {
                    name,
                    parallelism,
                    paused,
                } => ctx.configure_queue(&name, parallelism, paused),
                Remote::QueueGone(name) => ctx.queues.remove(&name),
                Remote::KeysChanged => {
                    let ctx = ctx.clone();
                    ctx.tasks.clone().spawn(async move {
                        match ctx.store.active_keys().await {
                            Ok(Some(keys)) => ctx.use_keys(keys),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::error!(error = %e, "reading rotated signing keys failed; the next catch-up tries again")
                            }
                        }
                    });
                }
                Remote::Flow {
                    settings,
                    reset_rate,
                } => ctx.configure_flow(&settings, reset_rate),
                Remote::Resync => self.catch_up_soon(None),
            }
        }
    }

    /// Puts this node's own new queued messages in their queues' lines, as
    /// their notices arrive (`Settings::queue_line_from_notices`). A notice
    /// of a retry, or one a catch-up already found, finds the message in
    /// the gate and is skipped.
    pub fn arm_own(&self, queued: Vec<Pending>) {
        let ctx = &self.0;
        for p in queued {
            if !ctx.queues.knows(&p.id) {
                ctx.arm_found(p);
            }
        }
    }

    /// Starts a catch-up on the engine's tasks: periodic (`Some(period)`,
    /// the catch-up's own period) or full (`None`). Errors are logged; the
    /// next catch-up tries again.
    pub fn catch_up_soon(&self, period: Option<Duration>) {
        let this = self.clone();
        self.0.tasks.clone().spawn(async move {
            if let Err(e) = this.catch_up(period).await {
                tracing::error!(error = %e, "catch-up read failed; trying again at the next one");
            }
        });
    }

    /// Re-reads what is due and arms it (see the module's doc). `period`:
    /// a periodic catch-up every `period`, which looks at what came due
    /// since the last one and what comes due before the next one; `None`:
    /// a full one, after notices may have been lost.
    pub async fn catch_up(&self, period: Option<Duration>) -> Result<(), StoreError> {
        let ctx = &self.0;
        let store = &ctx.store;
        let now = ctx.clock.now_ms();
        let window_end = ctx.window_end.load(Ordering::SeqCst);
        let Some(period) = period else {
            let queues = store.queue_settings().await?;
            let flows = store.flow_keys_at_start().await?;
            let pending = store.pending_at_start(window_end).await?;
            let schedules = store
                .schedules_due_between(Millis::MIN, window_end.max(now + WINDOW) + FIRE_LEAD)
                .await?;
            let first_due = store.first_due_after(window_end).await?;
            let keys = store.active_keys().await?;
            for (queue, parallelism, paused) in queues {
                ctx.configure_queue(&queue, parallelism, paused);
            }
            for settings in flows {
                ctx.configure_flow(&settings, false);
            }
            for (id, at) in schedules {
                ctx.arm_schedule(&id, Some(at));
            }
            for p in pending {
                ctx.arm_found(p);
            }
            if let Some(at) = first_due {
                ctx.window_reaches(at);
            }
            if let Some(keys) = keys {
                ctx.use_keys(keys);
            }
            tracing::info!("engine: full catch-up done");
            return Ok(());
        };
        let period = period.as_millis() as Millis;
        let from = now - period - CLOCK_SLACK;
        let until = now + 2 * period;
        let messages = store.due_between(from, until).await?;
        let schedules = store.schedules_due_between(from, until + FIRE_LEAD).await?;
        for (id, at) in schedules {
            ctx.arm_schedule(&id, Some(at));
        }
        for p in messages {
            arm_pending(ctx, p);
        }
        Ok(())
    }
}

/// A pending row: armed if it is due within the timer's window (queued ones
/// always are), else the window is set to reach it.
fn arm_pending(ctx: &Ctx, p: Pending) {
    if p.queue.is_none() && p.due_at > ctx.window_end.load(Ordering::SeqCst) {
        ctx.window_reaches(p.due_at);
    } else {
        ctx.arm_found(p);
    }
}
