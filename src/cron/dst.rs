//! The DST policy on top of croner: from matching wall-clock times to fire
//! instants, with the gap and fold rules described in the module docs.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::GapInfo;

use super::CronSpec;

/// Safety net for the candidate walk. Every skipped candidate is followed by a
/// jump past a DST transition, so real zones need a handful of iterations.
const MAX_CANDIDATES: usize = 1_000;

impl CronSpec {
    /// `next_after` in whole seconds: the first fire instant `> t`.
    pub(super) fn next_after_secs(&self, t: i64) -> Option<i64> {
        if self.compiled.never {
            return None;
        }
        let key = (self.tz, self.fixed_hour, t);
        let memo = || self.compiled.memo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(next) = memo().get(key) {
            return next;
        }
        let next = self.search_after_secs(t);
        memo().put(key, next);
        next
    }

    /// `next_after_secs` without the memo.
    pub(super) fn search_after_secs(&self, t: i64) -> Option<i64> {
        let local_t = DateTime::from_timestamp(t, 0)?
            .with_timezone(&self.tz)
            .naive_local();
        let first = self.walk(local_t, false, t);

        // Wall-clock order is instant order except inside a repeated hour:
        // from the first pass through it, the second pass's slots (which an
        // interval schedule fires) lie ahead although their wall-clock times
        // are behind `local_t`. Walk them separately and keep the earlier.
        if !self.fixed_hour {
            if let LocalResult::Ambiguous(earlier, later) = self.tz.from_local_datetime(&local_t) {
                if earlier.timestamp() == t {
                    let change = self.fold_change(earlier.timestamp(), later.timestamp());
                    let fold_start = DateTime::from_timestamp(change, 0)?
                        .with_timezone(&self.tz)
                        .naive_local();
                    if let Ok(w) = self.compiled.cron.find_next_occurrence(&fold_start, true) {
                        if let LocalResult::Ambiguous(_, second) = self.tz.from_local_datetime(&w) {
                            let second = second.timestamp();
                            return Some(first.map_or(second, |f| f.min(second)));
                        }
                    }
                }
            }
        }
        first
    }

    /// Walks matching wall-clock times upwards from `from` and returns the
    /// first fire instant `> t` that the DST policy derives from them.
    fn walk(&self, mut from: NaiveDateTime, mut inclusive: bool, t: i64) -> Option<i64> {
        for _ in 0..MAX_CANDIDATES {
            let w = self
                .compiled
                .cron
                .find_next_occurrence(&from, inclusive)
                .ok()?;
            from = w;
            inclusive = false;
            match self.tz.from_local_datetime(&w) {
                LocalResult::Single(x) => {
                    if x.timestamp() > t {
                        return Some(x.timestamp());
                    }
                }
                LocalResult::Ambiguous(earlier, later) => {
                    let (e, l) = (earlier.timestamp(), later.timestamp());
                    if e > t {
                        return Some(e);
                    }
                    if !self.fixed_hour {
                        if l > t {
                            return Some(l);
                        }
                    } else {
                        // A fixed time fires on the first pass only, and that
                        // pass is behind us: resume at the end of the repeat.
                        let change = self.fold_change(e, l);
                        let first_pass_end = change + (w.and_utc().timestamp() - e);
                        from = DateTime::from_timestamp(first_pass_end, 0)?.naive_utc();
                        inclusive = true;
                    }
                }
                LocalResult::None => {
                    let after_gap = GapInfo::new(&w, &self.tz)?.end?;
                    if self.fixed_hour && after_gap.timestamp() > t {
                        return Some(after_gap.timestamp());
                    }
                    // Skip the rest of the gap in one step (an every-second
                    // schedule would otherwise visit each missing second).
                    from = after_gap.naive_local();
                    inclusive = true;
                }
            }
        }
        None
    }

    /// The instant the clock goes back, given the two instants `e < l` of one
    /// repeated wall-clock time: the first instant carrying `l`'s offset.
    fn fold_change(&self, e: i64, l: i64) -> i64 {
        let offset = |x: i64| {
            DateTime::from_timestamp(x, 0).map(|d| {
                self.tz
                    .offset_from_utc_datetime(&d.naive_utc())
                    .fix()
                    .local_minus_utc()
            })
        };
        let later_offset = offset(l);
        let (mut lo, mut hi) = (e, l);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if offset(mid) == later_offset {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}
