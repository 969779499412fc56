//! Notes on fire times that share a local day with a clock change, saying what
//! the DST policy (module docs) does to this schedule there. For the API's list
//! of upcoming fire times and the console's create form.
//!
//! A transition "happens on" the local days that the wall-clock stretch it
//! skips or repeats falls on: America/Santiago's fall-back at 24:00 repeats
//! 23:00–24:00, so it happens on the evening's day, not the next one.

use chrono::{
    DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike,
};
use chrono_tz::OffsetName;

use super::CronSpec;

/// Which way a zone's clocks go at a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstChange {
    /// Clocks go forward: a stretch of local time (usually an hour) is skipped.
    Forward,
    /// Clocks go back: a stretch of local time happens twice.
    Back,
}

/// What a clock change on the same local day means for one fire time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DstNote {
    /// The fire instant the note is about (Unix milliseconds, as given).
    pub slot: i64,
    /// The instant of the transition: the first instant with the new offset (Unix milliseconds).
    pub change_at: i64,
    pub kind: DstChange,
    /// UTC offset before the change, in seconds east of UTC.
    pub offset_before: i32,
    /// UTC offset from `change_at` on, in seconds east of UTC.
    pub offset_after: i32,
    /// One sentence for people, e.g. "Clocks go forward from 02:00 to 03:00
    /// (EST to EDT) that day, so 02:30 does not exist: this run fires once at
    /// the first instant after the gap, 03:00 (EDT)."
    pub text: String,
}

/// Scan step for offset changes; tzdb transitions are months apart.
const SCAN_STEP_SECS: i64 = 1800;

/// One offset change and the wall-clock stretch it skips or repeats.
#[derive(Debug, Clone, Copy)]
struct Transition {
    at: i64,
    before: i32,
    after: i32,
    /// The skipped (forward) or repeated (back) local times, `[start, end)`.
    start: NaiveDateTime,
    end: NaiveDateTime,
}

impl Transition {
    fn kind(&self) -> DstChange {
        if self.after > self.before {
            DstChange::Forward
        } else {
            DstChange::Back
        }
    }

    /// Whether the stretch includes any of local day `day`.
    fn touches(&self, day: NaiveDate) -> bool {
        let last = self.end - TimeDelta::seconds(1);
        self.start.date() <= day && day <= last.date()
    }
}

/// Scheduled local times inside a stretch: the first, the last, and how many
/// (1, 2, or more).
#[derive(Debug, Clone, Copy)]
struct Inside {
    first: NaiveDateTime,
    last: NaiveDateTime,
    count: u8,
}

impl CronSpec {
    /// One note per (fire time, transition) for the fire times in `times` (Unix
    /// milliseconds, as [`CronSpec::upcoming`] returns them) whose local day in
    /// the schedule's zone also has a transition; fire times on other days get
    /// none, and so does every time in UTC or a fixed-offset zone. In the order
    /// of `times`.
    pub fn dst_notes(&self, times: &[i64]) -> Vec<DstNote> {
        let mut notes = Vec::new();
        let mut cached: Option<(NaiveDate, Vec<Transition>)> = None;
        for &slot in times {
            let Some(instant) = DateTime::from_timestamp(slot.div_euclid(1000), 0) else {
                continue;
            };
            let wall = instant.with_timezone(&self.tz).naive_local();
            let day = wall.date();
            if cached.as_ref().map(|(d, _)| *d) != Some(day) {
                cached = Some((day, self.transitions_touching(day)));
            }
            let transitions = cached.as_ref().map_or(&[][..], |(_, list)| &list[..]);
            for t in transitions {
                notes.push(DstNote {
                    slot,
                    change_at: t.at * 1000,
                    kind: t.kind(),
                    offset_before: t.before,
                    offset_after: t.after,
                    text: self.note_text(instant.timestamp(), wall, day, t),
                });
            }
        }
        notes
    }

    fn offset_at(&self, secs: i64) -> Option<i32> {
        let utc = DateTime::from_timestamp(secs, 0)?.naive_utc();
        Some(
            self.tz
                .offset_from_utc_datetime(&utc)
                .fix()
                .local_minus_utc(),
        )
    }

    /// "EDT", or "UTC-03:00" where the zone has no letters for it.
    fn offset_name(&self, secs: i64) -> String {
        let named = DateTime::from_timestamp(secs, 0).and_then(|d| {
            self.tz
                .offset_from_utc_datetime(&d.naive_utc())
                .abbreviation()
                .filter(|a| a.starts_with(|c: char| c.is_ascii_alphabetic()))
                .map(str::to_string)
        });
        named.unwrap_or_else(|| {
            let offset = self.offset_at(secs).unwrap_or(0);
            let sign = if offset < 0 { '-' } else { '+' };
            let abs = offset.unsigned_abs();
            format!("UTC{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
        })
    }

    /// Offset changes whose skipped or repeated stretch falls on `day`.
    fn transitions_touching(&self, day: NaiveDate) -> Vec<Transition> {
        let midnight = day.and_time(NaiveTime::MIN).and_utc().timestamp();
        // Offsets stay within ±26 h and a stretch within a day.
        let (from, to) = (midnight - 52 * 3600, midnight + 52 * 3600);
        let mut found = Vec::new();
        let Some(mut prev) = self.offset_at(from) else {
            return found;
        };
        let mut x = from;
        while x < to {
            let next = x + SCAN_STEP_SECS;
            let Some(offset) = self.offset_at(next) else {
                break;
            };
            if offset != prev {
                let (mut lo, mut hi) = (x, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.offset_at(mid) == Some(prev) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let wall = |offset: i32| {
                    DateTime::from_timestamp(hi + i64::from(offset), 0).map(|d| d.naive_utc())
                };
                if let (Some(a), Some(b)) = (wall(prev), wall(offset)) {
                    let t = Transition {
                        at: hi,
                        before: prev,
                        after: offset,
                        start: a.min(b),
                        end: a.max(b),
                    };
                    if t.touches(day) {
                        found.push(t);
                    }
                }
                prev = offset;
            }
            x = next;
        }
        found
    }

    /// The scheduled local times in `[start, end)`, if any.
    fn inside(&self, start: NaiveDateTime, end: NaiveDateTime) -> Option<Inside> {
        if self.compiled.never {
            return None;
        }
        let cron = &self.compiled.cron;
        let first = cron
            .find_next_occurrence(&start, true)
            .ok()
            .filter(|w| *w < end)?;
        let last = cron
            .find_previous_occurrence(&end, false)
            .ok()
            .filter(|w| *w >= first)
            .unwrap_or(first);
        let count = if first == last {
            1
        } else if cron.find_next_occurrence(&first, false).ok() == Some(last) {
            2
        } else {
            3
        };
        Some(Inside { first, last, count })
    }

    /// A run's local time: "02:30", or "02:30:20" for a seconds schedule.
    fn run_time(&self, w: NaiveDateTime) -> String {
        if self.with_seconds {
            w.format("%H:%M:%S").to_string()
        } else {
            w.format("%H:%M").to_string()
        }
    }

    /// "the 02:30 run", "the 02:00 and 02:30 runs", "the runs from 02:00 to 02:45",
    /// and whether that is plural.
    fn runs(&self, inside: Inside) -> (String, bool) {
        let (a, b) = (self.run_time(inside.first), self.run_time(inside.last));
        match inside.count {
            1 => (format!("the {a} run"), false),
            2 => (format!("the {a} and {b} runs"), true),
            _ => (format!("the runs from {a} to {b}"), true),
        }
    }

    /// "02:30", "02:00 and 02:30", "the times from 02:00 to 02:59", and whether
    /// that is plural.
    fn times(&self, inside: Inside) -> (String, bool) {
        let (a, b) = (self.run_time(inside.first), self.run_time(inside.last));
        match inside.count {
            1 => (a, false),
            2 => (format!("{a} and {b}"), true),
            _ => (format!("the times from {a} to {b}"), true),
        }
    }

    fn note_text(&self, slot: i64, wall: NaiveDateTime, day: NaiveDate, t: &Transition) -> String {
        // Clock readings on either side of the change, as the wall clock shows them.
        let reading = |w: NaiveDateTime| {
            if w.date() > day && w.time() == NaiveTime::MIN {
                "24:00".to_string()
            } else if w.second() != 0 {
                w.format("%H:%M:%S").to_string()
            } else {
                w.format("%H:%M").to_string()
            }
        };
        let (from, to) = match t.kind() {
            DstChange::Forward => (t.start, t.end),
            DstChange::Back => (t.end, t.start),
        };
        let direction = match t.kind() {
            DstChange::Forward => "forward",
            DstChange::Back => "back",
        };
        let (name_before, name_after) = (self.offset_name(t.at - 1), self.offset_name(t.at));
        let change = format!(
            "Clocks go {direction} from {} to {} ({name_before} to {name_after})",
            reading(from),
            reading(to)
        );
        let unaffected = format!("{change} that day; this run is not affected.");
        let inside = self.inside(t.start, t.end);
        let in_stretch = t.start <= wall && wall < t.end;
        let first_pass = self.offset_at(slot) == Some(t.before);
        let slot_name = self.offset_name(slot);
        let here = self.run_time(wall);

        match (t.kind(), self.fixed_hour, inside) {
            (_, _, None) => unaffected,
            // A local time of day that does not exist fires at the gap's end.
            (DstChange::Forward, true, Some(inside)) if slot == t.at => {
                let (skipped, plural) = self.times(inside);
                let verb = if plural { "do" } else { "does" };
                let also = if self.compiled.cron.is_time_matching(&t.end).unwrap_or(false) {
                    format!(", the same instant as the {} run", self.run_time(t.end))
                } else {
                    String::new()
                };
                format!(
                    "{change} that day, so {skipped} {verb} not exist: the run fires once at the \
                     first instant after the gap, {here} ({slot_name}){also}."
                )
            }
            (DstChange::Back, true, Some(_)) if in_stretch => {
                let when = if first_pass {
                    format!("the run fires once, at the first {here} ({slot_name})")
                } else {
                    format!(
                        "the run fires only at the first {here} ({name_before}), not at this \
                         second one ({slot_name})"
                    )
                };
                format!("{change} that day, so {here} happens twice: {when}.")
            }
            (_, true, Some(_)) => unaffected,
            // Interval schedules follow absolute time.
            (DstChange::Forward, false, Some(inside)) => {
                let (runs, plural) = self.runs(inside);
                let verb = if plural { "are" } else { "is" };
                let next_after_gap = self.next_after(t.at * 1000 - 1) == Some(slot * 1000);
                if next_after_gap {
                    format!("{change} before this run, so {runs} {verb} skipped, not made up.")
                } else {
                    format!(
                        "{change} that day and {runs} {verb} skipped; this run is not affected."
                    )
                }
            }
            (DstChange::Back, false, Some(inside)) => {
                let (runs, plural) = self.runs(inside);
                let verb = if plural { "happen" } else { "happens" };
                if in_stretch {
                    let which = if first_pass { "first" } else { "second" };
                    format!(
                        "{change} that day, so {runs} {verb} twice: this is the {which} \
                         {here} ({slot_name})."
                    )
                } else {
                    format!("{change} that day and {runs} {verb} twice; this run is not affected.")
                }
            }
        }
    }
}
