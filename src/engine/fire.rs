//! Firing a schedule's due slot(s): one store transaction, whose commit arms
//! the new messages and the next slot.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::cron::{CronError, CronSpec, Window};
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
            match spec_of(&s.cron, s.cron_seconds).map(|spec| spec.within(window)) {
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

/// Parsed specs by expression, one map without and one with seconds.
type Specs = [HashMap<Box<str>, CronSpec>; 2];

/// Most parsed expressions kept for the next firing.
const SPECS_KEPT: usize = 1024;

/// The parsed spec of `cron`: firings run in the writer thread, one per
/// slot, and parsing the same few expressions again for each was a fifth of
/// that thread's time at 10,000 seconds-schedules. Parsing is a pure
/// function of the text, so recently fired expressions are kept (at most
/// `SPECS_KEPT`, forgotten all at once when full).
fn spec_of(cron: &str, with_seconds: bool) -> Result<CronSpec, CronError> {
    static SPECS: LazyLock<Mutex<Specs>> = LazyLock::new(Mutex::default);
    let lock = || SPECS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(spec) = lock()[with_seconds as usize].get(cron) {
        return Ok(spec.clone());
    }
    let spec = CronSpec::parse(cron, with_seconds)?;
    let mut specs = lock();
    let kept = &mut specs[with_seconds as usize];
    if kept.len() >= SPECS_KEPT {
        kept.clear();
    }
    kept.insert(cron.into(), spec.clone());
    Ok(spec)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_spec_is_the_parsed_one_and_bad_text_still_fails() {
        for _ in 0..2 {
            let kept = spec_of("*/7 * * * * *", true).unwrap();
            let fresh = CronSpec::parse("*/7 * * * * *", true).unwrap();
            assert_eq!(kept.expression(), fresh.expression());
            assert_eq!(
                kept.upcoming(1_800_000_000_000, 5),
                fresh.upcoming(1_800_000_000_000, 5)
            );
        }
        assert!(
            spec_of("*/7 * * * * *", false).is_err(),
            "six fields without seconds is kept apart, and refused"
        );
        assert!(spec_of("not a cron", false).is_err());
    }
}
