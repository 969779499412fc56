//! croner patterns, interned so equal schedules share one, and checked once for
//! patterns that match no date at all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use chrono::{Datelike, NaiveDate};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// The zone-independent part of a spec.
#[derive(Debug)]
pub(super) struct Compiled {
    /// Matches local wall-clock times; always parsed in croner's 6-field form.
    pub(super) cron: Cron,
    /// The pattern matches no date at all (e.g. `0 0 30 2 *`). Decided once so
    /// that `next_after` never walks to croner's year-5000 search limit.
    pub(super) never: bool,
    /// The last few `next_after_secs` answers (see `Memo`).
    pub(super) memo: Mutex<Memo>,
}

/// Most answers a pattern remembers.
const MEMO: usize = 8;

/// Recent `(zone, fixed hour, t) → next fire` answers of one pattern. Each
/// croner search takes several microseconds, a create asks six of them
/// (the check that the cron fires at all, then the five upcoming times of
/// the response), and creates of the same cron within the same second ask
/// the same six: a bulk create of one cron walks it once per second.
/// `next_after_secs` is a pure function of these inputs, so a hit is exact.
#[derive(Debug, Default)]
pub(super) struct Memo {
    answers: VecDeque<((chrono_tz::Tz, bool, i64), Option<i64>)>,
}

impl Memo {
    pub(super) fn get(&self, key: (chrono_tz::Tz, bool, i64)) -> Option<Option<i64>> {
        self.answers
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, next)| *next)
    }

    pub(super) fn put(&mut self, key: (chrono_tz::Tz, bool, i64), next: Option<i64>) {
        if self.answers.len() == MEMO {
            self.answers.pop_front();
        }
        self.answers.push_back((key, next));
    }
}

/// Patterns kept alive after their last spec is dropped (each about 5 KB).
const RECENT: usize = 64;

/// Parses the normalized 6-field pattern, sharing the result between specs.
///
/// A croner `Cron` carries a 5001-byte year bitmap and takes tens of
/// microseconds to build, while a million schedules typically use a few
/// thousand distinct patterns (`*/5 * * * *` over and over). Interning by the
/// normalized text keeps startup memory and parse time proportional to the
/// distinct patterns. Entries are weak, so dropped specs free their pattern;
/// the last `RECENT` patterns built are also held strongly, because a create
/// request's spec is dropped once the schedule is stored (as text), and
/// without that every create of the same cron built its pattern again (about
/// 40 µs of a create's 80 µs of CPU in the `scale` bench).
pub(super) fn compile(normalized: &str) -> Result<Arc<Compiled>, croner::errors::CronError> {
    #[derive(Default)]
    struct Interner {
        map: HashMap<Box<str>, Weak<Compiled>>,
        prune_at: usize,
        recent: VecDeque<Arc<Compiled>>,
    }
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    let interner = INTERNER.get_or_init(Mutex::default);
    // A panic while holding the lock cannot leave the map inconsistent.
    let lock = || interner.lock().unwrap_or_else(PoisonError::into_inner);

    if let Some(hit) = lock().map.get(normalized).and_then(Weak::upgrade) {
        return Ok(hit);
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(normalized)?;
    let never = never_matches(&cron);
    let fresh = Arc::new(Compiled {
        cron,
        never,
        memo: Mutex::default(),
    });

    let mut guard = lock();
    if let Some(raced) = guard.map.get(normalized).and_then(Weak::upgrade) {
        return Ok(raced);
    }
    if guard.map.len() >= guard.prune_at {
        guard.map.retain(|_, weak| weak.strong_count() > 0);
        guard.prune_at = (guard.map.len() * 2).max(1024);
    }
    guard.map.insert(normalized.into(), Arc::downgrade(&fresh));
    if guard.recent.len() == RECENT {
        guard.recent.pop_front();
    }
    guard.recent.push_back(fresh.clone());
    Ok(fresh)
}

/// Whether no calendar day ever satisfies the month and day fields.
///
/// Whether a day matches depends only on its month, day, weekday and the
/// month's length, and 2001–2028 contains every (leap year, weekday of
/// 1 January) combination, so a pattern with no day there has none anywhere.
/// Scanning days is cheap; croner itself would search to the year 5000.
fn never_matches(cron: &Cron) -> bool {
    let pattern = &cron.pattern;
    let (Some(mut day), Some(end)) = (
        NaiveDate::from_ymd_opt(2001, 1, 1),
        NaiveDate::from_ymd_opt(2029, 1, 1),
    ) else {
        return false;
    };
    while day < end {
        if !pattern.month_match(day.month()).unwrap_or(false) {
            // Jump to the first of the next month.
            let (y, m) = if day.month() == 12 {
                (day.year() + 1, 1)
            } else {
                (day.year(), day.month() + 1)
            };
            match NaiveDate::from_ymd_opt(y, m, 1) {
                Some(next) => day = next,
                None => return false,
            }
            continue;
        }
        let weekday = croner::Weekday::from_days_from_sunday(day.weekday().num_days_from_sunday());
        if pattern
            .day_match(day.year(), day.month(), day.day(), weekday)
            .unwrap_or(false)
        {
            return false;
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_outlives_its_last_spec_so_the_next_create_does_not_build_it_again() {
        let pattern = "7 7 7 7 7 *";
        let first = compile(pattern).unwrap();
        let weak = Arc::downgrade(&first);
        drop(first);
        let kept = weak.upgrade().expect("the pattern is still held");
        assert!(Arc::ptr_eq(&kept, &compile(pattern).unwrap()));
    }

    #[test]
    fn the_memo_keeps_zones_apart_and_answers_as_a_fresh_search() {
        use crate::cron::CronSpec;
        let utc = CronSpec::parse("0 9 * * *", false).unwrap();
        let ny = CronSpec::parse("CRON_TZ=America/New_York 0 9 * * *", false).unwrap();
        let t = 1_781_000_000_000; // June 2026, New York on UTC-4
        for _ in 0..3 {
            let (a, b) = (utc.next_after(t).unwrap(), ny.next_after(t).unwrap());
            assert_eq!(
                (a / 1000 % 86_400, b / 1000 % 86_400),
                (9 * 3600, 13 * 3600)
            );
            assert_eq!(utc.search_after_secs(t / 1000), Some(a / 1000));
            assert_eq!(ny.search_after_secs(t / 1000), Some(b / 1000));
        }
    }

    #[test]
    fn only_the_recent_patterns_are_held() {
        let first = compile("1 2 3 4 5 *").unwrap();
        let weak = Arc::downgrade(&first);
        drop(first);
        for i in 0..RECENT {
            compile(&format!("0 {} {} 9 9 *", i % 60, i / 60)).unwrap();
        }
        assert!(weak.upgrade().is_none(), "an old pattern was let go");
    }
}
