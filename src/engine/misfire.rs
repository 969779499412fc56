//! Which slots a firing turns into messages (the misfire policy).
//!
//! The timer fires a schedule at its `next_fire_at`. Usually that slot is the
//! only one that has come due, and it fires. Slots can pile up for two
//! reasons, which are treated differently:
//! - **cronhook was down** (slots before `up_since`, the engine's start):
//!   `Cronhook-Misfire` decides: `skip` fires none, `once` (default) the
//!   latest, `all` every one up to a cap, newest first. Every slot not fired
//!   is reported back so it is logged: nothing vanishes silently.
//! - **cronhook was up but late** (its own lag: a busy writer, a stalled
//!   machine): every such slot fires, late, in order. A scheduler must not
//!   turn its own slowness into skipped runs. A firing takes at most
//!   `LATE_BATCH` of them and leaves `next` at the first one left, which is
//!   already due, so the next firing follows at once.

use crate::cron::CronSpec;
use crate::model::{Millis, Misfire};

/// Most missed slots listed individually in a plan (and so in the log).
pub const LIST_CAP: usize = 100;

/// Most slots that passed while cronhook was up fired by one firing.
pub const LATE_BATCH: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Slots to fire, oldest first.
    pub fire: Vec<Millis>,
    /// Slots missed while down and not fired: the newest `LIST_CAP` of them,
    /// oldest first.
    pub skipped: Vec<Millis>,
    /// True when more slots were skipped than `skipped` lists.
    pub skipped_more: bool,
    /// The slot after this firing (possibly already due).
    pub next: Option<Millis>,
}

/// Plans the firing of slot `due` at `now` of a schedule in an engine that
/// started at `up_since`. `all_cap` bounds `All`. `now` may be a little
/// before `due` (schedules fire ahead of their slot): `due` fires then.
pub fn plan(
    spec: &CronSpec,
    policy: Misfire,
    due: Millis,
    now: Millis,
    up_since: Millis,
    all_cap: usize,
) -> Plan {
    let now = now.max(due);
    let mut plan = Plan {
        fire: Vec::new(),
        skipped: Vec::new(),
        skipped_more: false,
        next: None,
    };
    // The first slot that came due while cronhook was up.
    let mut late = Some(due);
    if due < up_since {
        let latest_down = spec
            .last_at_or_before(now.min(up_since - 1), due)
            .unwrap_or(due)
            .max(due);
        if latest_down == due && spec.next_after(due).is_none_or(|n| n > now) {
            // Only one slot came due at all: it fires, whatever the policy.
            plan.fire.push(due);
            plan.next = spec.next_after(now.max(due));
            return plan;
        }
        down(&mut plan, spec, policy, due, latest_down, all_cap);
        late = spec.next_after(latest_down);
    }
    let mut last = plan.fire.last().copied().unwrap_or(due);
    while let Some(slot) = late.filter(|&s| s <= now && plan.fire.len() < LATE_BATCH) {
        plan.fire.push(slot);
        last = slot;
        late = spec.next_after(slot);
    }
    plan.next = match late {
        Some(s) if s <= now => Some(s), // more late slots: the next firing takes them
        _ => spec.next_after(now.max(last)),
    };
    plan
}

/// Applies `policy` to the slots `due`, …, `latest` missed while down,
/// walking back from the newest.
fn down(
    plan: &mut Plan,
    spec: &CronSpec,
    policy: Misfire,
    due: Millis,
    latest: Millis,
    all_cap: usize,
) {
    let keep = match policy {
        Misfire::Skip => 0,
        Misfire::Once => 1,
        Misfire::All => all_cap.max(1),
    };
    let mut fire_rev = Vec::new();
    let mut skipped_rev = Vec::new();
    let mut slot = Some(latest);
    while let Some(s) = slot {
        if fire_rev.len() < keep {
            fire_rev.push(s);
        } else if skipped_rev.len() < LIST_CAP {
            skipped_rev.push(s);
        } else {
            plan.skipped_more = true;
            break;
        }
        slot = if s > due {
            spec.last_at_or_before(s - 1, due)
        } else {
            None
        };
    }
    fire_rev.reverse();
    skipped_rev.reverse();
    plan.fire = fire_rev;
    plan.skipped = skipped_rev;
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;
    /// 2026-01-01T00:00:00Z, a minute boundary.
    const T0: Millis = 1_767_225_600_000;
    /// An engine that has been up since long before the slots below.
    const UP_LONG_AGO: Millis = T0 - 86_400_000;

    fn every_minute() -> CronSpec {
        CronSpec::parse("* * * * *", false).unwrap()
    }

    fn every_second() -> CronSpec {
        CronSpec::parse("* * * * * *", true).unwrap()
    }

    #[test]
    fn a_slot_fired_ahead_of_its_time_fires() {
        let p = plan(
            &every_second(),
            Misfire::Once,
            T0,
            T0 - 100,
            UP_LONG_AGO,
            100,
        );
        assert_eq!(p.fire, vec![T0]);
        assert_eq!(p.next, Some(T0 + 1000));
    }

    #[test]
    fn an_on_time_slot_fires_alone() {
        let p = plan(
            &every_minute(),
            Misfire::Once,
            T0,
            T0 + 150,
            UP_LONG_AGO,
            100,
        );
        assert_eq!(p.fire, vec![T0]);
        assert!(p.skipped.is_empty());
        assert_eq!(p.next, Some(T0 + MIN));
    }

    #[test]
    fn after_a_restart_a_late_slot_with_no_later_slot_passed_still_fires() {
        let p = plan(
            &every_minute(),
            Misfire::Skip,
            T0,
            T0 + 59_000,
            T0 + 58_000,
            100,
        );
        assert_eq!(p.fire, vec![T0]);
        assert_eq!(p.next, Some(T0 + MIN));
    }

    #[test]
    fn policies_after_five_minutes_down() {
        let now = T0 + 4 * MIN + 30_000; // slots T0..T0+4min passed while down
        let slots: Vec<_> = (0..5).map(|i| T0 + i * MIN).collect();
        let table = [
            (Misfire::Skip, vec![], slots.clone()),
            (Misfire::Once, vec![slots[4]], slots[..4].to_vec()),
            (Misfire::All, slots.clone(), vec![]),
        ];
        for (policy, fire, skipped) in table {
            let p = plan(&every_minute(), policy, T0, now, now, 100);
            assert_eq!(p.fire, fire, "{policy:?}");
            assert_eq!(p.skipped, skipped, "{policy:?}");
            assert_eq!(p.next, Some(T0 + 5 * MIN), "{policy:?}");
        }
    }

    #[test]
    fn all_is_capped_to_the_newest_slots_and_the_rest_are_reported() {
        let now = T0 + 9 * MIN;
        let p = plan(&every_minute(), Misfire::All, T0, now, now + 1, 3);
        assert_eq!(p.fire, vec![T0 + 7 * MIN, T0 + 8 * MIN, T0 + 9 * MIN]);
        assert_eq!(p.skipped.len(), 7);
        assert!(!p.skipped_more);
    }

    #[test]
    fn a_long_outage_of_a_seconds_schedule_lists_a_bounded_number() {
        let now = T0 + 86_400_000;
        let p = plan(&every_second(), Misfire::Once, T0, now, now + 1, 100);
        assert_eq!(p.fire, vec![now]);
        assert_eq!(p.skipped.len(), LIST_CAP);
        assert!(p.skipped_more);
        assert_eq!(p.next, Some(now + 1000));
    }

    #[test]
    fn slots_that_passed_while_up_all_fire_late_under_every_policy() {
        // The engine was up the whole time but 39 s behind.
        let now = T0 + 39_500;
        for policy in [Misfire::Skip, Misfire::Once, Misfire::All] {
            let p = plan(&every_second(), policy, T0, now, UP_LONG_AGO, 100);
            assert_eq!(p.fire.len(), 40, "{policy:?}");
            assert_eq!(p.fire.first(), Some(&T0));
            assert_eq!(p.fire.last(), Some(&(T0 + 39_000)));
            assert!(p.skipped.is_empty(), "{policy:?}: nothing is skipped");
            assert_eq!(p.next, Some(T0 + 40_000));
        }
    }

    #[test]
    fn down_time_follows_the_policy_and_up_time_fires_everything() {
        // Down until T0 + 10 s, then up but late until T0 + 15.5 s.
        let up = T0 + 10_000;
        let now = T0 + 15_500;
        let p = plan(&every_second(), Misfire::Once, T0, now, up, 100);
        let down_latest = T0 + 9_000;
        let late: Vec<_> = (10..=15).map(|s| T0 + s * 1000).collect();
        assert_eq!(
            p.fire[0], down_latest,
            "once: the latest slot missed while down"
        );
        assert_eq!(&p.fire[1..], &late[..], "every slot while up");
        assert_eq!(p.skipped, (0..9).map(|s| T0 + s * 1000).collect::<Vec<_>>());
        assert_eq!(p.next, Some(T0 + 16_000));
    }

    #[test]
    fn a_huge_lag_fires_in_batches_leaving_next_due_at_once() {
        let now = T0 + 3 * 3_600_000; // three hours of seconds
        let p = plan(&every_second(), Misfire::Once, T0, now, UP_LONG_AGO, 100);
        assert_eq!(p.fire.len(), LATE_BATCH);
        let next = p.next.unwrap();
        assert_eq!(next, T0 + LATE_BATCH as Millis * 1000);
        assert!(
            next <= now,
            "the rest is due: the next firing follows at once"
        );
    }

    #[test]
    fn downtime_never_fires_a_slot_outside_the_window() {
        use crate::cron::Window;
        // Bounds T0+3 s..T0+6 s; down from T0 to T0+20 s: every policy stays inside.
        let spec = every_second().within(Window {
            start: Some(T0 + 3_000),
            end: Some(T0 + 6_000),
        });
        let due = spec.next_after(T0).unwrap();
        assert_eq!(due, T0 + 3_000);
        let now = T0 + 20_000;
        for (policy, fire) in [
            (Misfire::Skip, vec![]),
            (Misfire::Once, vec![T0 + 6_000]),
            (
                Misfire::All,
                vec![T0 + 3_000, T0 + 4_000, T0 + 5_000, T0 + 6_000],
            ),
        ] {
            let p = plan(&spec, policy, due, now, now, 100);
            assert_eq!(p.fire, fire, "{policy:?}");
            assert!(
                p.skipped
                    .iter()
                    .all(|s| (T0 + 3_000..=T0 + 6_000).contains(s)),
                "{policy:?}: {:?}",
                p.skipped
            );
            assert_eq!(p.next, None, "{policy:?}: ended");
        }
        // Up the whole time: the last slot fires and nothing follows it.
        let p = plan(
            &spec,
            Misfire::Once,
            T0 + 6_000,
            T0 + 5_900,
            UP_LONG_AGO,
            100,
        );
        assert_eq!((p.fire, p.next), (vec![T0 + 6_000], None));
    }
}
