//! Firing a schedule's due slot(s): one store transaction, whose commit arms
//! the new messages and the next slot.

use std::sync::{Arc, Mutex};

use crate::cron::{CronSpec, Window};
use crate::engine::misfire;
use crate::engine::{Ctx, TimerKey, FIRE_LEAD, STORE_RETRY};
use crate::store::FirePlan;

pub(super) async fn fire(ctx: &Arc<Ctx>, id: &str) {
    let now = ctx.clock.now_ms();
    let all_cap = ctx.settings.misfire_all_cap;
    let up_since = ctx.up_since;
    let schedule_id = id.to_owned();
    // What the plan skipped, counted once its transaction commits.
    let missed = Arc::new(Mutex::new(None));
    let missed_in_plan = missed.clone();
    let fired = ctx
        .store
        .fire_schedule(id, now, now + FIRE_LEAD, move |s, due| {
            let window = Window {
                start: s.start_at,
                end: s.end_at,
            };
            // Within its bounds the spec yields no slot before the start and
            // none after the end, so neither the misfire plan nor the next
            // slot can leave the window; after the last one `next` is None
            // and the schedule is ended (kept, never armed again).
            match CronSpec::parse(&s.cron, s.cron_seconds).map(|spec| spec.within(window)) {
                Ok(spec) => {
                    let plan = misfire::plan(&spec, s.misfire, due, now, up_since, all_cap);
                    log_skipped(&schedule_id, s.misfire.as_str(), &plan);
                    *missed_in_plan.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((s.misfire.as_str(), plan.skipped.len() as u64));
                    let mut reason = format!(
                        "missed while cronhook was down; misfire policy {}",
                        s.misfire.as_str()
                    );
                    if plan.skipped_more {
                        reason.push_str(" (older missed slots are not listed)");
                    }
                    FirePlan {
                        fire: plan.fire,
                        next: plan.next,
                        skipped: plan.skipped,
                        reason,
                    }
                }
                // Only a cron this version cannot read (stored by another one)
                // gets here; stop the schedule rather than loop on it.
                Err(e) => {
                    tracing::error!(schedule = %schedule_id, error = %e, "schedule has an unreadable cron; not firing it");
                    FirePlan::default()
                }
            }
        })
        .await;
    match fired {
        Ok(Some(_)) => {
            if let Some((policy, n)) = missed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                ctx.metrics.missed_slots(policy, n);
            }
            ctx.maybe_purge()
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(schedule = %id, error = %e, "firing failed; trying again shortly");
            ctx.timer
                .arm(TimerKey::Schedule(id.into()), now + STORE_RETRY);
        }
    }
}

/// Every slot the misfire policy does not fire is logged: nothing vanishes silently.
fn log_skipped(id: &str, policy: &str, plan: &misfire::Plan) {
    for slot in &plan.skipped {
        tracing::warn!(schedule = %id, slot = *slot, misfire = policy, "missed slot skipped");
    }
    if plan.skipped_more {
        tracing::warn!(
            schedule = %id,
            before = plan.skipped.first().copied().unwrap_or_default(),
            misfire = policy,
            "more missed slots skipped before this one (not listed)"
        );
    }
}
