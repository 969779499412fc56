//! Which slots a firing turns into messages (the misfire policy).
//!
//! The timer fires a schedule at its `next_fire_at`. Usually that slot is the
//! only one that has come due, and it fires. When cronhook was down (or badly
//! overloaded) several slots have passed; then `Cronhook-Misfire` decides:
//! `skip` fires none, `once` (default) the latest, `all` every one up to a cap,
//! newest first. Every slot not fired is reported back so it is logged: nothing
//! vanishes silently.

use crate::cron::CronSpec;
use crate::model::{Millis, Misfire};

/// Most missed slots listed individually in a plan (and so in the log).
pub const LIST_CAP: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Slots to fire, oldest first.
    pub fire: Vec<Millis>,
    /// Missed slots not fired: the newest `LIST_CAP` of them, oldest first.
    pub skipped: Vec<Millis>,
    /// True when more slots were skipped than `skipped` lists.
    pub skipped_more: bool,
    /// The slot after this firing.
    pub next: Option<Millis>,
}

/// Plans the firing of `due` at `now` (`due <= now`). `all_cap` bounds `All`.
pub fn plan(spec: &CronSpec, policy: Misfire, due: Millis, now: Millis, all_cap: usize) -> Plan {
    let next = spec.next_after(now.max(due));
    let latest = spec.last_at_or_before(now, due).unwrap_or(due).max(due);
    if latest == due {
        return Plan {
            fire: vec![due],
            skipped: Vec::new(),
            skipped_more: false,
            next,
        };
    }
    // Several slots came due: `due`, …, `latest`. Walk back from the newest.
    let keep = match policy {
        Misfire::Skip => 0,
        Misfire::Once => 1,
        Misfire::All => all_cap.max(1),
    };
    let mut fire = Vec::new();
    let mut skipped_rev = Vec::new();
    let mut skipped_more = false;
    let mut slot = Some(latest);
    while let Some(s) = slot {
        if fire.len() < keep {
            fire.push(s);
        } else if skipped_rev.len() < LIST_CAP {
            skipped_rev.push(s);
        } else {
            skipped_more = true;
            break;
        }
        slot = if s > due {
            spec.last_at_or_before(s - 1, due)
        } else {
            None
        };
    }
    fire.reverse();
    skipped_rev.reverse();
    Plan {
        fire,
        skipped: skipped_rev,
        skipped_more,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;
    /// 2026-01-01T00:00:00Z, a minute boundary.
    const T0: Millis = 1_767_225_600_000;

    fn every_minute() -> CronSpec {
        CronSpec::parse("* * * * *", false).unwrap()
    }

    #[test]
    fn an_on_time_slot_fires_alone() {
        let p = plan(&every_minute(), Misfire::Once, T0, T0 + 150, 100);
        assert_eq!(p.fire, vec![T0]);
        assert!(p.skipped.is_empty());
        assert_eq!(p.next, Some(T0 + MIN));
    }

    #[test]
    fn a_late_slot_with_no_later_slot_passed_still_fires() {
        let p = plan(&every_minute(), Misfire::Skip, T0, T0 + 59_000, 100);
        assert_eq!(p.fire, vec![T0]);
    }

    #[test]
    fn policies_after_five_missed_minutes() {
        let now = T0 + 4 * MIN + 30_000; // slots T0..T0+4min have passed
        let slots: Vec<_> = (0..5).map(|i| T0 + i * MIN).collect();
        let table = [
            (Misfire::Skip, vec![], slots.clone()),
            (Misfire::Once, vec![slots[4]], slots[..4].to_vec()),
            (Misfire::All, slots.clone(), vec![]),
        ];
        for (policy, fire, skipped) in table {
            let p = plan(&every_minute(), policy, T0, now, 100);
            assert_eq!(p.fire, fire, "{policy:?}");
            assert_eq!(p.skipped, skipped, "{policy:?}");
            assert_eq!(p.next, Some(T0 + 5 * MIN), "{policy:?}");
        }
    }

    #[test]
    fn all_is_capped_to_the_newest_slots_and_the_rest_are_reported() {
        let now = T0 + 9 * MIN;
        let p = plan(&every_minute(), Misfire::All, T0, now, 3);
        assert_eq!(p.fire, vec![T0 + 7 * MIN, T0 + 8 * MIN, T0 + 9 * MIN]);
        assert_eq!(p.skipped.len(), 7);
        assert!(!p.skipped_more);
    }

    #[test]
    fn a_long_outage_of_a_seconds_schedule_lists_a_bounded_number() {
        let spec = CronSpec::parse("* * * * * *", true).unwrap();
        let p = plan(&spec, Misfire::Once, T0, T0 + 86_400_000, 100);
        assert_eq!(p.fire, vec![T0 + 86_400_000]);
        assert_eq!(p.skipped.len(), LIST_CAP);
        assert!(p.skipped_more);
        assert_eq!(p.next, Some(T0 + 86_401_000));
    }
}
