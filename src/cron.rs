//! Schedule expressions: parsing, validation and next-fire computation.
//!
//! `croner` does the field parsing and calendar matching; this module owns the
//! policy around it. Leaving DST to the cron library is how peer schedulers
//! skip or double jobs twice a year, and croner's own rule differs from ours
//! (it treats `0,30 2 * * *` as an interval job, so on a spring-forward day
//! both runs vanish).
//!
//! # Dialect
//!
//! Five fields (minute hour day-of-month month day-of-week) at minute
//! resolution, as QStash documents, with an optional `CRON_TZ=<zone> ` (or
//! `TZ=`) prefix; UTC when absent. A leading seconds field is read only when the
//! request opted in with `Cronhook-Cron-Seconds: true`: guessing seconds from the
//! field count is how other schedulers end up firing 60 times too often.
//! Day-of-week is POSIX (0 and 7 are Sunday), and when both day fields are
//! restricted a day matches if either matches (Vixie cron).
//!
//! # DST policy
//!
//! Matching happens on the local wall clock of the schedule's zone; each
//! matching wall-clock time is then turned into instants:
//!
//! * A schedule whose hour field is *fixed* (neither `*` nor a step; numbers,
//!   ranges and lists all count) means "at these local times of day". If that time does not exist (spring forward), it
//!   fires once, at the first instant after the gap, so a daily job never loses
//!   a day. If the time happens twice (fall back), it fires only at the first
//!   occurrence, so a daily job never runs twice.
//! * A schedule with a `*` or stepped hour means "every so often". It follows
//!   absolute time: a repeated hour gets its slots twice (once per offset) and
//!   wall-clock times inside a gap do not exist, so nothing is caught up.
//!
//! Successive fire instants strictly increase; [`CronSpec::next_after`] only
//! ever returns an instant later than its argument.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{GapInfo, Tz};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::duration::clip;

/// Errors echo the expression; this keeps them one readable line even for
/// a multi-kilobyte header.
const SHOWN_CHARS: usize = 120;

/// A parsed, validated schedule expression with cronhook's DST policy.
#[derive(Debug, Clone)]
pub struct CronSpec {
    /// The trimmed header value, returned to users verbatim.
    expr: String,
    tz: Tz,
    /// Shared between every spec with the same fields (see [`compile`]).
    compiled: Arc<Compiled>,
    with_seconds: bool,
    /// The hour field is neither `*` nor a step: the schedule names local times
    /// of day, which selects the "once" branch of the DST policy.
    fixed_hour: bool,
}

/// The zone-independent part of a spec.
#[derive(Debug)]
struct Compiled {
    /// Matches local wall-clock times; always parsed in croner's 6-field form.
    cron: Cron,
    /// The pattern matches no date at all (e.g. `0 0 30 2 *`). Decided once so
    /// that `next_after` never walks to croner's year-5000 search limit.
    never: bool,
}

/// Why an expression was rejected. `Display` is one line meant for API users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Nothing but whitespace.
    #[error("invalid cron expression \"\": the expression is empty")]
    Empty,
    /// The number of fields does not fit the dialect the request selected.
    #[error("invalid cron expression {expr:?}: {}", field_count_detail(*.found, *.with_seconds))]
    FieldCount {
        expr: String,
        found: usize,
        with_seconds: bool,
    },
    /// A number outside the field's range.
    #[error("invalid cron expression {expr:?}: {field} value {value} is out of range ({field} is {min}–{max})")]
    OutOfRange {
        expr: String,
        field: &'static str,
        value: String,
        min: u32,
        max: u32,
    },
    /// A field that is not valid syntax.
    #[error("invalid cron expression {expr:?}: {field} field {text:?} is malformed: {reason}")]
    Malformed {
        expr: String,
        field: &'static str,
        text: String,
        reason: String,
    },
    /// `CRON_TZ=` named a zone that is not in the IANA database.
    #[error("invalid cron expression {expr:?}: unknown time zone {zone:?} (expected an IANA name such as America/New_York)")]
    UnknownTimeZone { expr: String, zone: String },
    /// An `@` form that cronhook does not support (e.g. `@every`, `@reboot`).
    #[error("invalid cron expression {expr:?}: unknown nickname {nickname:?} (cronhook accepts @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly)")]
    UnknownNickname { expr: String, nickname: String },
}

fn field_count_detail(found: usize, with_seconds: bool) -> String {
    let plural = if found == 1 { "field" } else { "fields" };
    if with_seconds {
        format!(
            "it has {found} {plural}, but with Cronhook-Cron-Seconds: true cronhook reads 6 \
             (second minute hour day-of-month month day-of-week)"
        )
    } else if found == 6 {
        "it has 6 fields, but cronhook reads 5 (minute hour day-of-month month day-of-week); \
         a leading seconds field needs the request header Cronhook-Cron-Seconds: true"
            .to_string()
    } else {
        format!(
            "it has {found} {plural}, but cronhook reads 5 (minute hour day-of-month month day-of-week)"
        )
    }
}

/// Safety net for the candidate walk. Every skipped candidate is followed by a
/// jump past a DST transition, so real zones need a handful of iterations.
const MAX_CANDIDATES: usize = 1_000;

/// 0001-01-01T00:00:00Z: croner does not search before year 1.
const EARLIEST_SECS: i64 = -62_135_596_800;

/// Nicknames expand to 5-field forms; with seconds enabled they fire at second 0.
const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    kind: Kind,
    name: &'static str,
    min: u32,
    max: u32,
}

const FIELDS: [Field; 6] = [
    Field {
        kind: Kind::Second,
        name: "second",
        min: 0,
        max: 59,
    },
    Field {
        kind: Kind::Minute,
        name: "minute",
        min: 0,
        max: 59,
    },
    Field {
        kind: Kind::Hour,
        name: "hour",
        min: 0,
        max: 23,
    },
    Field {
        kind: Kind::DayOfMonth,
        name: "day-of-month",
        min: 1,
        max: 31,
    },
    Field {
        kind: Kind::Month,
        name: "month",
        min: 1,
        max: 12,
    },
    Field {
        kind: Kind::DayOfWeek,
        name: "day-of-week",
        min: 0,
        max: 7,
    },
];

/// Builds field errors with the expression and field already filled in.
struct FieldCtx<'a> {
    expr: &'a str,
    field: Field,
    text: &'a str,
}

impl FieldCtx<'_> {
    fn malformed(&self, reason: impl Into<String>) -> CronError {
        CronError::Malformed {
            expr: clip(self.expr, SHOWN_CHARS),
            field: self.field.name,
            text: clip(self.text, SHOWN_CHARS),
            reason: reason.into(),
        }
    }

    fn out_of_range(&self, value: &str) -> CronError {
        CronError::OutOfRange {
            expr: clip(self.expr, SHOWN_CHARS),
            field: self.field.name,
            value: clip(value, SHOWN_CHARS),
            min: self.field.min,
            max: self.field.max,
        }
    }

    /// A number, or a month/weekday name where the field allows one. `range_end`
    /// makes `SUN` mean 7 so that `SAT-SUN` is a forward range.
    fn value(&self, s: &str, range_end: bool) -> Result<u32, CronError> {
        if s.is_empty() {
            return Err(self.malformed("a number is missing"));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            let v = s.parse::<u32>().map_err(|_| self.out_of_range(s))?;
            if v < self.field.min || v > self.field.max {
                return Err(self.out_of_range(s));
            }
            return Ok(v);
        }
        let names: &[&str] = match self.field.kind {
            Kind::Month => &MONTH_NAMES,
            Kind::DayOfWeek => &WEEKDAY_NAMES,
            _ => return Err(self.malformed(format!("{:?} is not a number", clip(s, SHOWN_CHARS)))),
        };
        match names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            Some(i) if self.field.kind == Kind::Month => Ok(i as u32 + 1),
            Some(0) if range_end => Ok(7),
            Some(i) => Ok(i as u32),
            None => {
                let expected = if self.field.kind == Kind::Month {
                    "a month name (JAN–DEC)"
                } else {
                    "a weekday name (SUN–SAT)"
                };
                Err(self.malformed(format!(
                    "{:?} is not a number or {expected}",
                    clip(s, SHOWN_CHARS)
                )))
            }
        }
    }

    fn step(&self, s: &str) -> Result<u32, CronError> {
        let max_step = self.field.max;
        if s.is_empty() {
            return Err(self.malformed("the step after / is missing"));
        }
        match s.parse::<u32>() {
            Ok(v) if (1..=max_step).contains(&v) => Ok(v),
            Ok(v) => {
                Err(self.malformed(format!("a step must be between 1 and {max_step}, not {v}")))
            }
            Err(_) if s.bytes().all(|b| b.is_ascii_digit()) => Err(self.malformed(format!(
                "a step must be between 1 and {max_step}, not {}",
                clip(s, SHOWN_CHARS)
            ))),
            Err(_) => Err(self.malformed(format!(
                "the step {:?} is not a number",
                clip(s, SHOWN_CHARS)
            ))),
        }
    }

    /// The end of an open `a/step` range. Day-of-week stops at Saturday so
    /// that `1/2` does not pick up Sunday through its alias 7.
    fn open_end(&self) -> u32 {
        if self.field.kind == Kind::DayOfWeek {
            6
        } else {
            self.field.max
        }
    }

    /// Validates one list item and appends croner's numeric spelling of it.
    fn item(&self, item: &str, only_item: bool, out: &mut String) -> Result<(), CronError> {
        let kind = self.field.kind;
        let day_field = matches!(kind, Kind::DayOfMonth | Kind::DayOfWeek);
        let (min, max) = (self.field.min, self.field.max);
        if item.is_empty() {
            return Err(self.malformed("it has an empty list item"));
        }
        if item == "*" || (item == "?" && day_field) {
            // croner applies the day-field OR rule only to a field that is
            // exactly `*`; inside a list the wildcard is spelled as a range.
            if only_item {
                out.push('*');
            } else {
                let _ = write!(out, "{min}-{max}");
            }
            return Ok(());
        }
        if let Some((base, step)) = item.split_once('/') {
            let step = self.step(step)?;
            let (a, b) = if base == "*" {
                (min, self.open_end())
            } else if let Some((a, b)) = base.split_once('-') {
                (self.value(a, false)?, self.value(b, true)?)
            } else {
                (self.value(base, false)?, self.open_end().max(min))
            };
            if a > b {
                return Err(self.malformed(format!("the range {a}-{b} runs backwards")));
            }
            let _ = write!(out, "{a}-{b}/{step}");
            return Ok(());
        }
        if kind == Kind::DayOfMonth {
            if item.eq_ignore_ascii_case("L") || item.eq_ignore_ascii_case("LW") {
                out.push_str(&item.to_ascii_uppercase());
                return Ok(());
            }
            if let Some(day) = item.strip_suffix(['W', 'w']) {
                let day = self.value(day, false)?;
                let _ = write!(out, "{day}W");
                return Ok(());
            }
            if item.starts_with(['L', 'l']) {
                return Err(self.malformed(format!(
                    "{:?} is not supported (use L for the last day or LW for the last weekday)",
                    clip(item, SHOWN_CHARS)
                )));
            }
        }
        if kind == Kind::DayOfWeek {
            if let Some((day, nth)) = item.split_once('#') {
                let day = self.value(day, false)?;
                return match nth.parse::<u32>() {
                    Ok(n @ 1..=5) => {
                        let _ = write!(out, "{day}#{n}");
                        Ok(())
                    }
                    _ => Err(self.malformed(format!(
                        "the occurrence after # must be between 1 and 5, not {:?}",
                        clip(nth, SHOWN_CHARS)
                    ))),
                };
            }
            if item.eq_ignore_ascii_case("L") {
                return Err(self.malformed(
                    "L in day-of-week needs a weekday before it, e.g. 5L for the last Friday",
                ));
            }
            if let Some(day) = item.strip_suffix(['L', 'l']) {
                let day = self.value(day, false)?;
                let _ = write!(out, "{day}L");
                return Ok(());
            }
        }
        if let Some((a, b)) = item.split_once('-') {
            let (a, b) = (self.value(a, false)?, self.value(b, true)?);
            if a > b {
                return Err(self.malformed(format!("the range {a}-{b} runs backwards")));
            }
            let _ = write!(out, "{a}-{b}");
            return Ok(());
        }
        let v = self.value(item, false)?;
        let _ = write!(out, "{v}");
        Ok(())
    }
}

/// Parses the normalized 6-field pattern, sharing the result between specs.
///
/// A croner `Cron` carries a 5001-byte year bitmap and takes tens of
/// microseconds to build, while a million schedules typically use a few
/// thousand distinct patterns (`*/5 * * * *` over and over). Interning by the
/// normalized text keeps startup memory and parse time proportional to the
/// distinct patterns. Entries are weak, so dropped specs free their pattern.
fn compile(normalized: &str) -> Result<Arc<Compiled>, croner::errors::CronError> {
    #[derive(Default)]
    struct Interner {
        map: HashMap<Box<str>, Weak<Compiled>>,
        prune_at: usize,
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
    let fresh = Arc::new(Compiled { cron, never });

    let mut guard = lock();
    if let Some(raced) = guard.map.get(normalized).and_then(Weak::upgrade) {
        return Ok(raced);
    }
    if guard.map.len() >= guard.prune_at {
        guard.map.retain(|_, weak| weak.strong_count() > 0);
        guard.prune_at = (guard.map.len() * 2).max(1024);
    }
    guard.map.insert(normalized.into(), Arc::downgrade(&fresh));
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

/// Splits off `CRON_TZ=<zone>` / `TZ=<zone>`, returning the zone and the rest.
fn split_zone(expr: &str) -> Result<(Tz, &str), CronError> {
    let rest = ["CRON_TZ=", "TZ="].iter().find_map(|prefix| {
        expr.get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map(|_| &expr[prefix.len()..])
    });
    let Some(rest) = rest else {
        return Ok((Tz::UTC, expr));
    };
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (zone, fields) = rest.split_at(end);
    let tz = Tz::from_str(zone)
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .copied()
                .find(|tz| tz.name().eq_ignore_ascii_case(zone))
        })
        .ok_or_else(|| CronError::UnknownTimeZone {
            expr: clip(expr, SHOWN_CHARS),
            zone: clip(zone, SHOWN_CHARS),
        })?;
    Ok((tz, fields.trim_start()))
}

impl CronSpec {
    /// `expr` is the raw `Upstash-Cron` header value. `with_seconds` is true only when the
    /// request carried `Cronhook-Cron-Seconds: true`.
    pub fn parse(expr: &str, with_seconds: bool) -> Result<CronSpec, CronError> {
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(CronError::Empty);
        }
        let (tz, body) = split_zone(trimmed)?;

        let mut tokens: Vec<&str> = body.split_whitespace().collect();
        if let Some(first) = tokens.first().copied().filter(|t| t.starts_with('@')) {
            let expansion = NICKNAMES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(first))
                .map(|(_, fields)| *fields)
                .ok_or_else(|| CronError::UnknownNickname {
                    expr: clip(trimmed, SHOWN_CHARS),
                    nickname: clip(first, SHOWN_CHARS),
                })?;
            if tokens.len() > 1 {
                return Err(CronError::FieldCount {
                    expr: clip(trimmed, SHOWN_CHARS),
                    found: tokens.len(),
                    with_seconds,
                });
            }
            tokens = expansion.split(' ').collect();
            if with_seconds {
                tokens.insert(0, "0");
            }
        }

        let expected = if with_seconds { 6 } else { 5 };
        if tokens.len() != expected {
            return Err(CronError::FieldCount {
                expr: clip(trimmed, SHOWN_CHARS),
                found: tokens.len(),
                with_seconds,
            });
        }

        // croner always gets six numeric fields: seconds are pinned to 0 in
        // the 5-field dialect, so croner never has to guess either.
        let fields = if with_seconds {
            &FIELDS[..]
        } else {
            &FIELDS[1..]
        };
        let mut normalized = String::with_capacity(body.len() + 8);
        if !with_seconds {
            normalized.push('0');
        }
        for (field, text) in fields.iter().zip(&tokens) {
            let ctx = FieldCtx {
                expr: trimmed,
                field: *field,
                text,
            };
            if !normalized.is_empty() {
                normalized.push(' ');
            }
            let items: Vec<&str> = text.split(',').collect();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    normalized.push(',');
                }
                ctx.item(item, items.len() == 1, &mut normalized)?;
            }
        }

        let compiled = compile(&normalized).map_err(|e| CronError::Malformed {
            expr: clip(trimmed, SHOWN_CHARS),
            field: "expression",
            text: clip(body, SHOWN_CHARS),
            reason: e.to_string(),
        })?;
        let hour_text = tokens[if with_seconds { 2 } else { 1 }];
        let fixed_hour = !hour_text.contains(['*', '/', '?']);

        Ok(CronSpec {
            expr: trimmed.to_string(),
            tz,
            compiled,
            with_seconds,
            fixed_hour,
        })
    }

    /// The trimmed expression exactly as it is stored and returned to users (CRON_TZ prefix kept).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// The zone the fields are read in: the `CRON_TZ=` zone, or UTC without one.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// Whether the first field is seconds; the API echoes this so a client can
    /// tell `30 * * * * *` (every minute at :30) from a misread 5-field cron.
    pub fn has_seconds(&self) -> bool {
        self.with_seconds
    }

    /// First fire instant strictly after `after_ms` (Unix milliseconds, UTC), under the DST policy.
    /// None when the expression never fires again (e.g. `0 0 30 2 *`). Must not loop forever.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        // Fires are whole seconds, so "after t ms" is "after floor(t / 1000) s".
        self.next_after_secs(after_ms.div_euclid(1000))
            .map(|s| s * 1000)
    }

    /// Latest fire instant at or before `at_ms` that is >= `not_before_ms` (None if there is none in
    /// that window). Used for misfire handling after downtime; must be consistent with next_after
    /// (i.e. it returns an element of the sequence next_after produces) and cheap even when the
    /// window is a year of a seconds schedule.
    pub fn last_at_or_before(&self, at_ms: i64, not_before_ms: i64) -> Option<i64> {
        let hi = at_ms.div_euclid(1000);
        // Clamped to 0001-01-01, where croner's calendar starts, so that
        // `i64::MIN` works as "no lower bound".
        let lo = (not_before_ms.div_euclid(1000) + i64::from(not_before_ms.rem_euclid(1000) != 0))
            .max(EARLIEST_SECS);
        if lo > hi {
            return None;
        }
        let first = self.next_after_secs(lo - 1)?;
        if first > hi {
            return None;
        }
        // The answer is the x where "the next fire after x is still <= hi"
        // turns false. Searching for it with next_after alone keeps the two
        // functions consistent by construction: a gallop down from `hi`, then
        // bisection, about 2*log2(hi - answer) calls whatever the window size.
        let next_within = |x: i64| self.next_after_secs(x).filter(|&n| n <= hi);
        let mut below = first - 1; // next_within(below) is Some
        let mut above = hi; // next_within(above) is None
        let mut k: i64 = 1;
        while above - below > 1 {
            let probe = if k > 0 {
                hi.saturating_sub(k).max(below + 1)
            } else {
                below + (above - below) / 2
            };
            match next_within(probe) {
                Some(n) => {
                    // n is a fire <= hi, so the answer is at least n.
                    below = (n - 1).min(above - 1);
                    k = 0;
                }
                None => {
                    above = probe;
                    if k > 0 {
                        k = k.saturating_mul(2);
                    }
                }
            }
        }
        Some(above * 1000)
    }

    /// The next `n` fire instants after `after_ms` (for the API's "next 5 fire times").
    pub fn upcoming(&self, after_ms: i64, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n.min(64));
        let mut t = after_ms;
        while out.len() < n {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// `next_after` in whole seconds: the first fire instant `> t`.
    fn next_after_secs(&self, t: i64) -> Option<i64> {
        if self.compiled.never {
            return None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `"2026-03-08T07:00:00Z"` → Unix milliseconds.
    fn ms(iso: &str) -> i64 {
        DateTime::parse_from_rfc3339(iso)
            .unwrap_or_else(|e| panic!("bad test instant {iso}: {e}"))
            .timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn spec(expr: &str, seconds: bool) -> CronSpec {
        CronSpec::parse(expr, seconds).unwrap_or_else(|e| panic!("{expr:?} should parse: {e}"))
    }

    fn upcoming_iso(expr: &str, seconds: bool, after: &str, n: usize) -> Vec<String> {
        spec(expr, seconds)
            .upcoming(ms(after), n)
            .into_iter()
            .map(iso)
            .collect()
    }

    fn tz(name: &str) -> Tz {
        name.parse().expect("known zone")
    }

    fn offset_at(tz: Tz, secs: i64) -> i32 {
        let utc = DateTime::from_timestamp(secs, 0)
            .expect("in range")
            .naive_utc();
        tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()
    }

    /// Every offset change of `tz` in `year`, as (UTC seconds, old offset, new offset).
    fn transitions(tz: Tz, year: i32) -> Vec<(i64, i32, i32)> {
        let start = ms(&format!("{year}-01-01T00:00:00Z")) / 1000;
        let end = ms(&format!("{}-01-01T00:00:00Z", year + 1)) / 1000;
        let mut found = Vec::new();
        let mut x = start;
        while x < end {
            let (before, after) = (offset_at(tz, x), offset_at(tz, x + 3600));
            if before != after {
                let (mut lo, mut hi) = (x, x + 3600);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(tz, mid) == before {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                found.push((hi, before, after));
            }
            x += 3600;
        }
        found
    }

    // ---------------------------------------------------------------- dialect

    #[test]
    fn the_dialect_parses_and_fires_as_documented() {
        // (expression, seconds header, what it shows, first fires after 2026-01-01T00:00Z, a Thursday)
        let cases: &[(&str, bool, &str, &[&str])] = &[
            (
                "*/15 * * * *",
                false,
                "steps",
                &["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"],
            ),
            (
                "5/20 * * * *",
                false,
                "a/n means a-max/n",
                &[
                    "2026-01-01T00:05:00Z",
                    "2026-01-01T00:25:00Z",
                    "2026-01-01T00:45:00Z",
                    "2026-01-01T01:05:00Z",
                ],
            ),
            (
                "0 9-10,17 * * *",
                false,
                "ranges and lists",
                &[
                    "2026-01-01T09:00:00Z",
                    "2026-01-01T10:00:00Z",
                    "2026-01-01T17:00:00Z",
                ],
            ),
            (
                "30 9 * * mon-fri",
                false,
                "weekday names, any case",
                &[
                    "2026-01-01T09:30:00Z",
                    "2026-01-02T09:30:00Z",
                    "2026-01-05T09:30:00Z",
                ],
            ),
            (
                "0 0 * * SAT-SUN",
                false,
                "SUN ends a range as 7",
                &[
                    "2026-01-03T00:00:00Z",
                    "2026-01-04T00:00:00Z",
                    "2026-01-10T00:00:00Z",
                ],
            ),
            (
                "0 0 * * 7",
                false,
                "7 is Sunday",
                &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"],
            ),
            (
                "0 0 * * 0",
                false,
                "0 is Sunday",
                &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"],
            ),
            (
                "0 0 1 jun,Dec *",
                false,
                "month names",
                &["2026-06-01T00:00:00Z", "2026-12-01T00:00:00Z"],
            ),
            (
                "0 0 13 * FRI",
                false,
                "both day fields restricted: either matches (Vixie OR)",
                &[
                    "2026-01-02T00:00:00Z",
                    "2026-01-09T00:00:00Z",
                    "2026-01-13T00:00:00Z",
                    "2026-01-16T00:00:00Z",
                ],
            ),
            (
                "0 0 ? * ?",
                false,
                "? is * in the day fields",
                &["2026-01-02T00:00:00Z"],
            ),
            (
                "0 0 */10 * *",
                false,
                "day-of-month step",
                &[
                    "2026-01-11T00:00:00Z",
                    "2026-01-21T00:00:00Z",
                    "2026-01-31T00:00:00Z",
                    "2026-02-01T00:00:00Z",
                ],
            ),
            (
                "0 0 L * *",
                false,
                "L: last day of the month",
                &["2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z"],
            ),
            (
                "0 0 LW * *",
                false,
                "LW: last weekday of the month",
                &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"],
            ),
            (
                "0 0 15W * *",
                false,
                "W: weekday nearest the 15th (Feb 15 is a Sunday)",
                &["2026-01-15T00:00:00Z", "2026-02-16T00:00:00Z"],
            ),
            (
                "0 0 * * 5L",
                false,
                "5L: last Friday",
                &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"],
            ),
            (
                "0 0 * * MON#2",
                false,
                "#: second Monday",
                &["2026-01-12T00:00:00Z", "2026-02-09T00:00:00Z"],
            ),
            ("@yearly", false, "nickname", &["2027-01-01T00:00:00Z"]),
            ("@annually", false, "nickname", &["2027-01-01T00:00:00Z"]),
            ("@monthly", false, "nickname", &["2026-02-01T00:00:00Z"]),
            (
                "@weekly",
                false,
                "nickname: Sunday midnight",
                &["2026-01-04T00:00:00Z"],
            ),
            ("@daily", false, "nickname", &["2026-01-02T00:00:00Z"]),
            (
                "@MIDNIGHT",
                false,
                "nickname, any case",
                &["2026-01-02T00:00:00Z"],
            ),
            ("@hourly", false, "nickname", &["2026-01-01T01:00:00Z"]),
            (
                "@hourly",
                true,
                "nicknames fire at second 0 with seconds on",
                &["2026-01-01T01:00:00Z"],
            ),
            (
                "*/20 * * * * *",
                true,
                "seconds come first",
                &[
                    "2026-01-01T00:00:20Z",
                    "2026-01-01T00:00:40Z",
                    "2026-01-01T00:01:00Z",
                ],
            ),
            (
                "0 0 12 * * *",
                true,
                "6 fields with seconds: 12:00:00",
                &["2026-01-01T12:00:00Z"],
            ),
            (
                "CRON_TZ=Asia/Tokyo 0 9 * * *",
                false,
                "CRON_TZ prefix",
                &["2026-01-02T00:00:00Z"],
            ),
            (
                "TZ=Asia/Kolkata 0 9 * * *",
                false,
                "TZ= prefix",
                &["2026-01-01T03:30:00Z"],
            ),
            (
                "CRON_TZ=europe/berlin 0 9 * * *",
                false,
                "zone names, any case",
                &["2026-01-01T08:00:00Z"],
            ),
            ("0 0 29 2 *", false, "leap day", &["2028-02-29T00:00:00Z"]),
        ];
        for (expr, seconds, why, expected) in cases {
            let got = upcoming_iso(expr, *seconds, "2026-01-01T00:00:00Z", expected.len());
            assert_eq!(&got, expected, "{expr:?} ({why})");
        }
    }

    #[test]
    fn the_expression_is_trimmed_and_kept_verbatim() {
        let cases = [
            ("*/10 * * * * ", "*/10 * * * *"),
            ("\t 0 9 * * MON \n", "0 9 * * MON"),
            (
                "  CRON_TZ=America/New_York  0 4 * * *  ",
                "CRON_TZ=America/New_York  0 4 * * *",
            ),
            (" @daily ", "@daily"),
        ];
        for (raw, stored) in cases {
            assert_eq!(spec(raw, false).expression(), stored, "{raw:?}");
        }
    }

    #[test]
    fn accessors_report_zone_and_seconds() {
        let cases = [
            ("0 4 * * *", false, "UTC"),
            (
                "CRON_TZ=America/New_York 0 4 * * *",
                false,
                "America/New_York",
            ),
            ("TZ=Europe/Berlin 0 0 4 * * *", true, "Europe/Berlin"),
            ("CRON_TZ=asia/tokyo @daily", false, "Asia/Tokyo"),
        ];
        for (expr, seconds, zone) in cases {
            let s = spec(expr, seconds);
            assert_eq!(s.timezone().name(), zone, "{expr:?}");
            assert_eq!(s.has_seconds(), seconds, "{expr:?}");
        }
    }

    #[test]
    fn every_error_names_what_is_wrong() {
        let fields5 = "cronhook reads 5 (minute hour day-of-month month day-of-week)";
        let cases: Vec<(&str, bool, String)> = vec![
            ("", false, "invalid cron expression \"\": the expression is empty".into()),
            ("   ", true, "invalid cron expression \"\": the expression is empty".into()),
            ("0 */5 * * * *", false, format!("invalid cron expression \"0 */5 * * * *\": it has 6 fields, but {fields5}; a leading seconds field needs the request header Cronhook-Cron-Seconds: true")),
            ("0 0 * * * 2026", false, format!("invalid cron expression \"0 0 * * * 2026\": it has 6 fields, but {fields5}; a leading seconds field needs the request header Cronhook-Cron-Seconds: true")),
            ("* * * *", false, format!("invalid cron expression \"* * * *\": it has 4 fields, but {fields5}")),
            ("0 0 0 * * * *", false, format!("invalid cron expression \"0 0 0 * * * *\": it has 7 fields, but {fields5}")),
            ("CRON_TZ=UTC", false, format!("invalid cron expression \"CRON_TZ=UTC\": it has 0 fields, but {fields5}")),
            ("*/5 * * * *", true, "invalid cron expression \"*/5 * * * *\": it has 5 fields, but with Cronhook-Cron-Seconds: true cronhook reads 6 (second minute hour day-of-month month day-of-week)".into()),
            ("0 0 * * 25", false, "invalid cron expression \"0 0 * * 25\": day-of-week value 25 is out of range (day-of-week is 0–7)".into()),
            ("60 0 * * * *", true, "invalid cron expression \"60 0 * * * *\": second value 60 is out of range (second is 0–59)".into()),
            ("60 * * * *", false, "invalid cron expression \"60 * * * *\": minute value 60 is out of range (minute is 0–59)".into()),
            ("5-70 * * * *", false, "invalid cron expression \"5-70 * * * *\": minute value 70 is out of range (minute is 0–59)".into()),
            ("99999999999 * * * *", false, "invalid cron expression \"99999999999 * * * *\": minute value 99999999999 is out of range (minute is 0–59)".into()),
            ("0 24 * * *", false, "invalid cron expression \"0 24 * * *\": hour value 24 is out of range (hour is 0–23)".into()),
            ("0 0 0 * *", false, "invalid cron expression \"0 0 0 * *\": day-of-month value 0 is out of range (day-of-month is 1–31)".into()),
            ("0 0 32W * *", false, "invalid cron expression \"0 0 32W * *\": day-of-month value 32 is out of range (day-of-month is 1–31)".into()),
            ("0 0 1 13 *", false, "invalid cron expression \"0 0 1 13 *\": month value 13 is out of range (month is 1–12)".into()),
            ("0 0 * * 8#1", false, "invalid cron expression \"0 0 * * 8#1\": day-of-week value 8 is out of range (day-of-week is 0–7)".into()),
            ("*/0 * * * *", false, "invalid cron expression \"*/0 * * * *\": minute field \"*/0\" is malformed: a step must be between 1 and 59, not 0".into()),
            ("0 */24 * * *", false, "invalid cron expression \"0 */24 * * *\": hour field \"*/24\" is malformed: a step must be between 1 and 23, not 24".into()),
            ("*/ * * * *", false, "invalid cron expression \"*/ * * * *\": minute field \"*/\" is malformed: the step after / is missing".into()),
            ("*/x * * * *", false, "invalid cron expression \"*/x * * * *\": minute field \"*/x\" is malformed: the step \"x\" is not a number".into()),
            ("a-b * * * *", false, "invalid cron expression \"a-b * * * *\": minute field \"a-b\" is malformed: \"a\" is not a number".into()),
            ("1,,2 * * * *", false, "invalid cron expression \"1,,2 * * * *\": minute field \"1,,2\" is malformed: it has an empty list item".into()),
            ("-5 * * * *", false, "invalid cron expression \"-5 * * * *\": minute field \"-5\" is malformed: a number is missing".into()),
            ("0 20-10 * * *", false, "invalid cron expression \"0 20-10 * * *\": hour field \"20-10\" is malformed: the range 20-10 runs backwards".into()),
            ("0 ? * * *", false, "invalid cron expression \"0 ? * * *\": hour field \"?\" is malformed: \"?\" is not a number".into()),
            ("0 0 * MON *", false, "invalid cron expression \"0 0 * MON *\": month field \"MON\" is malformed: \"MON\" is not a number or a month name (JAN–DEC)".into()),
            ("0 0 * * MON-FOO", false, "invalid cron expression \"0 0 * * MON-FOO\": day-of-week field \"MON-FOO\" is malformed: \"FOO\" is not a number or a weekday name (SUN–SAT)".into()),
            ("0 0 * * 1#6", false, "invalid cron expression \"0 0 * * 1#6\": day-of-week field \"1#6\" is malformed: the occurrence after # must be between 1 and 5, not \"6\"".into()),
            ("0 0 * * L", false, "invalid cron expression \"0 0 * * L\": day-of-week field \"L\" is malformed: L in day-of-week needs a weekday before it, e.g. 5L for the last Friday".into()),
            ("0 0 L-2 * *", false, "invalid cron expression \"0 0 L-2 * *\": day-of-month field \"L-2\" is malformed: \"L-2\" is not supported (use L for the last day or LW for the last weekday)".into()),
            ("CRON_TZ=Mars/Base 0 0 * * *", false, "invalid cron expression \"CRON_TZ=Mars/Base 0 0 * * *\": unknown time zone \"Mars/Base\" (expected an IANA name such as America/New_York)".into()),
            ("@every 5m", false, "invalid cron expression \"@every 5m\": unknown nickname \"@every\" (cronhook accepts @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly)".into()),
            ("@daily 0", false, format!("invalid cron expression \"@daily 0\": it has 2 fields, but {fields5}")),
        ];
        for (expr, seconds, message) in cases {
            let err = CronSpec::parse(expr, seconds).expect_err(expr);
            assert_eq!(err.to_string(), message, "{expr:?}");
        }
    }

    #[test]
    fn seconds_are_never_guessed_from_the_field_count() {
        // Six fields are an error without the header, and five are an error with it.
        assert!(matches!(
            CronSpec::parse("*/10 * * * * *", false),
            Err(CronError::FieldCount {
                found: 6,
                with_seconds: false,
                ..
            })
        ));
        assert!(matches!(
            CronSpec::parse("* * * * *", true),
            Err(CronError::FieldCount {
                found: 5,
                with_seconds: true,
                ..
            })
        ));
        // The same digits mean minutes in one dialect and seconds in the other.
        let after = "2026-01-01T00:00:00Z";
        assert_eq!(
            upcoming_iso("30 * * * *", false, after, 1),
            ["2026-01-01T00:30:00Z"]
        );
        assert_eq!(
            upcoming_iso("30 * * * * *", true, after, 1),
            ["2026-01-01T00:00:30Z"]
        );
    }

    #[test]
    fn an_error_message_stays_one_short_line() {
        let long = format!("{} * * * *", "1,".repeat(5000));
        for (expr, seconds) in [
            (long.as_str(), false),
            ("0 0 * * 2\n5", false),
            ("\u{0}", false),
        ] {
            let message = CronSpec::parse(expr, seconds)
                .expect_err("invalid")
                .to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.chars().count() < 400, "{message}");
        }
    }

    #[test]
    fn impossible_dates_never_fire() {
        for expr in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 0 31 2 *"] {
            let s = spec(expr, expr.split(' ').count() == 6);
            let now = ms("2026-01-01T00:00:00Z");
            assert_eq!(s.next_after(now), None, "{expr}");
            assert_eq!(s.upcoming(now, 5), Vec::<i64>::new(), "{expr}");
            assert_eq!(s.last_at_or_before(now, i64::MIN), None, "{expr}");
        }
        // Rare is not never: the fifth Friday of February needs a leap year starting on Friday.
        assert_eq!(
            upcoming_iso("0 0 * 2 5#5", false, "2026-01-01T00:00:00Z", 1),
            ["2036-02-29T00:00:00Z"]
        );
    }

    #[test]
    fn milliseconds_and_extreme_inputs() {
        let every_minute = spec("* * * * *", false);
        let cases = [
            ("2026-01-01T10:00:00.500Z", "2026-01-01T10:01:00Z"),
            ("2026-01-01T09:59:59.999Z", "2026-01-01T10:00:00Z"),
            ("2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"),
            ("1969-12-31T23:59:30Z", "1970-01-01T00:00:00Z"),
        ];
        for (after, next) in cases {
            assert_eq!(
                every_minute.next_after(ms(after)).map(iso).as_deref(),
                Some(next),
                "{after}"
            );
        }
        let at = ms("2026-01-01T10:00:00.999Z");
        assert_eq!(
            every_minute
                .last_at_or_before(at, at - 60_000)
                .map(iso)
                .as_deref(),
            Some("2026-01-01T10:00:00Z")
        );
        assert_eq!(
            every_minute.last_at_or_before(at, at - 998),
            None,
            "not_before 10:00:00.001 excludes 10:00"
        );
        assert_eq!(
            every_minute.last_at_or_before(at, at + 1),
            None,
            "empty window"
        );
        for extreme in [i64::MIN, i64::MAX, -62_135_596_800_000, 253_402_300_799_000] {
            let _ = every_minute.next_after(extreme);
            let _ = every_minute.last_at_or_before(extreme, i64::MIN);
            let _ = every_minute.last_at_or_before(i64::MAX, extreme);
            let _ = every_minute.upcoming(extreme, 3);
        }
        assert_eq!(every_minute.next_after(i64::MAX), None);
        assert_eq!(
            every_minute
                .last_at_or_before(ms("2026-01-01T10:00:30Z"), i64::MIN)
                .map(iso)
                .as_deref(),
            Some("2026-01-01T10:00:00Z"),
            "no lower bound"
        );
    }

    #[test]
    fn last_at_or_before_is_cheap_over_a_year_of_seconds() {
        let year = 366 * 86_400_000;
        let cases = [
            (
                "* * * * * *",
                true,
                "2026-07-01T12:34:56.789Z",
                "2026-07-01T12:34:56Z",
            ),
            (
                "*/7 * * * * *",
                true,
                "2026-07-01T12:34:55Z",
                "2026-07-01T12:34:49Z",
            ),
            (
                "* * 3 * * *",
                true,
                "2026-07-01T12:34:56Z",
                "2026-07-01T03:59:59Z",
            ),
            (
                "* * * 1 1 *",
                true,
                "2026-07-01T12:34:56Z",
                "2026-01-01T23:59:59Z",
            ),
            (
                "0 0 1 1 *",
                false,
                "2026-07-01T12:34:56Z",
                "2026-01-01T00:00:00Z",
            ),
        ];
        let started = std::time::Instant::now();
        for (expr, seconds, at, last) in cases {
            let s = spec(expr, seconds);
            let got = s.last_at_or_before(ms(at), ms(at) - year).map(iso);
            assert_eq!(got.as_deref(), Some(last), "{expr}");
        }
        // Generous bound for a shared debug build; a linear scan would take minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    // -------------------------------------------------------------------- DST

    #[test]
    fn the_2026_transitions_used_below_are_what_chrono_tz_says() {
        let h = 3600;
        type Change = (&'static str, i32, i32);
        let cases: &[(&str, &[Change])] = &[
            (
                "America/New_York",
                &[
                    ("2026-03-08T07:00:00Z", -5 * h, -4 * h),
                    ("2026-11-01T06:00:00Z", -4 * h, -5 * h),
                ],
            ),
            (
                "Europe/Berlin",
                &[
                    ("2026-03-29T01:00:00Z", h, 2 * h),
                    ("2026-10-25T01:00:00Z", 2 * h, h),
                ],
            ),
            (
                "America/Santiago",
                &[
                    ("2026-04-05T03:00:00Z", -3 * h, -4 * h),
                    ("2026-09-06T04:00:00Z", -4 * h, -3 * h),
                ],
            ),
            (
                "Australia/Lord_Howe",
                &[
                    ("2026-04-04T15:00:00Z", 11 * h, 21 * h / 2),
                    ("2026-10-03T15:30:00Z", 21 * h / 2, 11 * h),
                ],
            ),
        ];
        for (zone, expected) in cases {
            let expected: Vec<(i64, i32, i32)> = expected
                .iter()
                .map(|(at, a, b)| (ms(at) / 1000, *a, *b))
                .collect();
            assert_eq!(transitions(tz(zone), 2026), expected, "{zone}");
        }
    }

    /// (expression, seconds header, start, the fires after it, why)
    type DstCase = (
        &'static str,
        bool,
        &'static str,
        &'static [&'static str],
        &'static str,
    );

    const DST_CASES: &[DstCase] = &[
        // America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
        (
            "CRON_TZ=America/New_York 30 2 * * *",
            false,
            "2026-03-07T12:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
            "02:30 is skipped: fire once at 03:00 EDT, then back to 02:30 EDT",
        ),
        (
            "CRON_TZ=America/New_York 0,30 2 * * *",
            false,
            "2026-03-07T12:00:00Z",
            &[
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:00:00Z",
                "2026-03-09T06:30:00Z",
            ],
            "two skipped fixed times still fire only once after the gap",
        ),
        (
            "CRON_TZ=America/New_York 0 2,3 * * *",
            false,
            "2026-03-07T12:00:00Z",
            &[
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:00:00Z",
                "2026-03-09T07:00:00Z",
            ],
            "the catch-up for 02:00 and 03:00 EDT are the same instant, which fires once",
        ),
        (
            "CRON_TZ=America/New_York 30 1 * * *",
            false,
            "2026-10-31T12:00:00Z",
            &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
            "01:30 happens twice: fire at the first (EDT) only",
        ),
        (
            "CRON_TZ=America/New_York 0,30 1 * * *",
            false,
            "2026-10-31T12:00:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:00:00Z",
            ],
            "a fixed hour with several minutes fires on the first pass only",
        ),
        (
            "CRON_TZ=America/New_York */30 * * * *",
            false,
            "2026-03-08T06:00:00Z",
            &[
                "2026-03-08T06:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T07:30:00Z",
            ],
            "interval: 01:30 EST, then 03:00 EDT; 02:00 and 02:30 do not exist",
        ),
        (
            "CRON_TZ=America/New_York 0 * * * *",
            false,
            "2026-03-08T05:30:00Z",
            &[
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
            ],
            "hourly: 01:00 EST, 03:00 EDT, 04:00 EDT - still one hour apart",
        ),
        (
            "CRON_TZ=America/New_York */30 * * * *",
            false,
            "2026-11-01T04:15:00Z",
            &[
                "2026-11-01T04:30:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-01T07:00:00Z",
            ],
            "interval: the repeated hour gets its slots twice (01:00/01:30 EDT, then EST)",
        ),
        (
            "CRON_TZ=America/New_York 0 * * * *",
            false,
            "2026-11-01T04:30:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z",
            ],
            "hourly: 01:00 EDT, 01:00 EST, 02:00 EST",
        ),
        (
            "CRON_TZ=America/New_York */15 */2 * * *",
            false,
            "2026-11-01T03:50:00Z",
            &[
                "2026-11-01T04:00:00Z",
                "2026-11-01T04:15:00Z",
                "2026-11-01T04:30:00Z",
                "2026-11-01T04:45:00Z",
                "2026-11-01T07:00:00Z",
            ],
            "stepped hours: 00:xx EDT, then 02:00 EST (hour 1 is not in */2)",
        ),
        (
            "CRON_TZ=America/New_York */15 */2 * * *",
            false,
            "2026-03-08T04:50:00Z",
            &[
                "2026-03-08T05:00:00Z",
                "2026-03-08T05:15:00Z",
                "2026-03-08T05:30:00Z",
                "2026-03-08T05:45:00Z",
                "2026-03-08T08:00:00Z",
            ],
            "stepped hours: 02:xx does not exist and is not caught up; next is 04:00 EDT",
        ),
        (
            "CRON_TZ=America/New_York */20 30 2 * * *",
            true,
            "2026-03-07T12:00:00Z",
            &[
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
                "2026-03-09T06:30:20Z",
            ],
            "with seconds: three skipped fixed times fire once after the gap",
        ),
        (
            "CRON_TZ=America/New_York */20 * * * * *",
            true,
            "2026-11-01T05:59:30Z",
            &[
                "2026-11-01T05:59:40Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T06:00:20Z",
            ],
            "with seconds: 01:59:40 EDT, then 01:00:00 EST",
        ),
        // Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
        (
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            false,
            "2026-03-28T12:00:00Z",
            &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
            "skipped 02:30 fires at 03:00 CEST",
        ),
        (
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            false,
            "2026-10-24T12:00:00Z",
            &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            "repeated 02:30 fires at 02:30 CEST only",
        ),
        (
            "CRON_TZ=Europe/Berlin */30 * * * *",
            false,
            "2026-10-25T00:10:00Z",
            &[
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T01:30:00Z",
                "2026-10-25T02:00:00Z",
            ],
            "02:30 CEST, 02:00 CET, 02:30 CET, 03:00 CET",
        ),
        (
            "CRON_TZ=Europe/Berlin 0 9 * * MON-FRI",
            false,
            "2026-03-27T12:00:00Z",
            &["2026-03-30T07:00:00Z"],
            "a weekday job moves with the zone: 09:00 CEST",
        ),
        // America/Santiago changes at midnight: 2026-04-05 00:00 -03 -> 04-04 23:00 -04;
        // 2026-09-06 00:00 -04 -> 01:00 -03.
        (
            "CRON_TZ=America/Santiago 0 0 * * *",
            false,
            "2026-09-05T12:00:00Z",
            &["2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"],
            "no local midnight on Sep 6: fire at 01:00, the first instant after the gap",
        ),
        (
            "CRON_TZ=America/Santiago */30 * * * *",
            false,
            "2026-09-06T03:00:00Z",
            &[
                "2026-09-06T03:30:00Z",
                "2026-09-06T04:00:00Z",
                "2026-09-06T04:30:00Z",
            ],
            "interval: 23:30 -04, then 01:00 -03",
        ),
        (
            "CRON_TZ=America/Santiago 0 0 * * *",
            false,
            "2026-04-04T12:00:00Z",
            &["2026-04-05T04:00:00Z", "2026-04-06T04:00:00Z"],
            "midnight after the fall-back happens once",
        ),
        (
            "CRON_TZ=America/Santiago 30 23 * * *",
            false,
            "2026-04-04T12:00:00Z",
            &["2026-04-05T02:30:00Z", "2026-04-06T03:30:00Z"],
            "23:30 on Apr 4 happens twice: first occurrence (-03) only",
        ),
        (
            "CRON_TZ=America/Santiago 0 * * * *",
            false,
            "2026-04-05T01:30:00Z",
            &[
                "2026-04-05T02:00:00Z",
                "2026-04-05T03:00:00Z",
                "2026-04-05T04:00:00Z",
            ],
            "hourly: 23:00 -03, 23:00 -04, 00:00 -04",
        ),
        // Australia/Lord_Howe shifts 30 minutes: 2026-04-05 02:00 +11 -> 01:30 +10:30;
        // 2026-10-04 02:00 +10:30 -> 02:30 +11.
        (
            "CRON_TZ=Australia/Lord_Howe 15 2 * * *",
            false,
            "2026-10-03T00:00:00Z",
            &["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"],
            "skipped 02:15 fires at 02:30 +11",
        ),
        (
            "CRON_TZ=Australia/Lord_Howe */15 * * * *",
            false,
            "2026-10-03T15:00:00Z",
            &[
                "2026-10-03T15:15:00Z",
                "2026-10-03T15:30:00Z",
                "2026-10-03T15:45:00Z",
            ],
            "interval: 01:45 +10:30, then 02:30 +11",
        ),
        (
            "CRON_TZ=Australia/Lord_Howe 45 1 * * *",
            false,
            "2026-04-04T00:00:00Z",
            &["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"],
            "repeated 01:45 fires at its +11 occurrence only",
        ),
        (
            "CRON_TZ=Australia/Lord_Howe */15 * * * *",
            false,
            "2026-04-04T14:20:00Z",
            &[
                "2026-04-04T14:30:00Z",
                "2026-04-04T14:45:00Z",
                "2026-04-04T15:00:00Z",
                "2026-04-04T15:15:00Z",
                "2026-04-04T15:30:00Z",
            ],
            "interval: 01:30 and 01:45 at +11, again at +10:30, then 02:00",
        ),
    ];

    #[test]
    fn dst_policy_in_four_zones() {
        for (expr, seconds, after, expected, why) in DST_CASES {
            let got = upcoming_iso(expr, *seconds, after, expected.len());
            assert_eq!(&got, expected, "{expr:?} after {after}: {why}");
        }
    }

    #[test]
    fn dst_fires_step_back_with_last_at_or_before() {
        // Walking the same cases backwards from each fire finds the fire before it.
        for (expr, seconds, after, expected, _) in DST_CASES {
            let s = spec(expr, *seconds);
            let fires: Vec<i64> = expected.iter().map(|e| ms(e)).collect();
            for pair in fires.windows(2) {
                assert_eq!(
                    s.last_at_or_before(pair[1] - 1, ms(after)),
                    Some(pair[0]),
                    "{expr:?}"
                );
                assert_eq!(
                    s.last_at_or_before(pair[1], ms(after)),
                    Some(pair[1]),
                    "{expr:?}"
                );
            }
        }
    }

    /// The policy restated instant by instant, independently of the
    /// implementation's wall-clock walk: step through absolute time and ask,
    /// for each instant, whether the policy fires there.
    fn reference_fires(s: &CronSpec, from: i64, to: i64, step: i64) -> Vec<i64> {
        let local = |x: i64| {
            DateTime::from_timestamp(x, 0)
                .expect("in range")
                .with_timezone(&s.tz)
                .naive_local()
        };
        let matches = |w: NaiveDateTime| s.compiled.cron.is_time_matching(&w).expect("valid");
        let mut fires = Vec::new();
        let mut x = from - from.rem_euclid(step) + step;
        while x < to {
            let here = local(x);
            let first_occurrence =
                s.tz.from_local_datetime(&here)
                    .earliest()
                    .map(|d| d.timestamp())
                    == Some(x);
            let mut fire = matches(here) && (!s.fixed_hour || first_occurrence);
            if s.fixed_hour && !fire {
                // Right after a forward jump, catch up any skipped local time.
                let mut skipped = local(x - step) + seconds(step);
                while skipped < here {
                    fire |= matches(skipped);
                    skipped += seconds(step);
                }
            }
            if fire {
                fires.push(x * 1000);
            }
            x += step;
        }
        fires
    }

    fn seconds(n: i64) -> chrono::TimeDelta {
        chrono::TimeDelta::try_seconds(n).expect("small")
    }

    #[test]
    fn matches_a_brute_force_reference_around_every_2026_transition() {
        let expressions: &[(&str, bool)] = &[
            ("30 2 * * *", false),
            ("0,30 1,2 * * *", false),
            ("* 2 * * *", false),
            ("15 1-3 * * *", false),
            ("0 0 * * *", false),
            ("30 23 * * *", false),
            ("*/30 * * * *", false),
            ("0 * * * *", false),
            ("*/15 */2 * * *", false),
            ("45 * * * *", false),
            ("7 * * * *", false),
        ];
        let zones = [
            "America/New_York",
            "Europe/Berlin",
            "America/Santiago",
            "Australia/Lord_Howe",
        ];
        for zone in zones {
            for (change, _, _) in transitions(tz(zone), 2026) {
                let (from, to) = (change - 36 * 3600, change + 36 * 3600);
                for (expr, seconds) in expressions {
                    let s = spec(&format!("CRON_TZ={zone} {expr}"), *seconds);
                    let expected = reference_fires(&s, from, to, 60);
                    let got: Vec<i64> = s
                        .upcoming(from * 1000, expected.len() + 1)
                        .into_iter()
                        .filter(|&f| f < to * 1000)
                        .collect();
                    assert_eq!(
                        got.iter().map(|&f| iso(f)).collect::<Vec<_>>(),
                        expected.iter().map(|&f| iso(f)).collect::<Vec<_>>(),
                        "{zone} {expr} around {}",
                        iso(change * 1000)
                    );
                    // And backwards: the latest fire at or before every quarter hour.
                    let mut at = from + 900;
                    while at < to {
                        let want = expected.iter().copied().filter(|&f| f <= at * 1000).max();
                        assert_eq!(
                            s.last_at_or_before(at * 1000, from * 1000 + 1),
                            want,
                            "{zone} {expr} at {}",
                            iso(at * 1000)
                        );
                        at += 900;
                    }
                }
            }
        }
    }

    #[test]
    fn seconds_schedules_match_the_reference_second_by_second() {
        let expressions = [
            "*/20 30 2 * * *",
            "0 */20 * * * *",
            "*/45 * 1 * * *",
            "10 * * * * *",
        ];
        for zone in ["America/New_York", "Australia/Lord_Howe"] {
            for (change, _, _) in transitions(tz(zone), 2026) {
                let (from, to) = (change - 4 * 3600, change + 4 * 3600);
                for expr in expressions {
                    let s = spec(&format!("CRON_TZ={zone} {expr}"), true);
                    let expected = reference_fires(&s, from, to, 1);
                    let got: Vec<i64> = s
                        .upcoming(from * 1000, expected.len() + 1)
                        .into_iter()
                        .filter(|&f| f < to * 1000)
                        .collect();
                    assert_eq!(got, expected, "{zone} {expr} around {}", iso(change * 1000));
                }
            }
        }
    }

    // ------------------------------------------------------------- properties

    const PROPERTY_EXPRESSIONS: &[(&str, bool)] = &[
        ("30 2 * * *", false),
        ("0,30 1 * * *", false),
        ("0 0 * * *", false),
        ("*/30 * * * *", false),
        ("0 * * * *", false),
        ("*/15 */2 * * *", false),
        ("0 9 * * MON-FRI", false),
        ("0 0 L * *", false),
        ("*/20 30 2 * * *", true),
        ("*/7 * * * * *", true),
        ("0 0 0 1 1 *", true),
    ];
    const PROPERTY_ZONES: &[&str] = &[
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "America/Santiago",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn parse_never_panics_on_arbitrary_strings(input in any::<String>(), seconds in any::<bool>()) {
            let _ = CronSpec::parse(&input, seconds);
        }

        #[test]
        fn parse_never_panics_on_cron_like_strings(
            input in "(CRON_TZ=[A-Za-z/_]{0,12} )?([0-9*/,#LWlw?@A-Za-z-]{0,6} ?){0,7}",
            seconds in any::<bool>(),
        ) {
            if let Ok(s) = CronSpec::parse(&input, seconds) {
                // Whatever parses can be evaluated without panicking.
                let now = 1_767_225_600_000;
                let _ = s.upcoming(now, 3);
                let _ = s.last_at_or_before(now, now - 86_400_000);
            }
        }

        #[test]
        fn successive_fires_are_consistent(
            which in 0..PROPERTY_EXPRESSIONS.len(),
            zone in 0..PROPERTY_ZONES.len(),
            start in ms("2020-01-01T00:00:00Z")..ms("2035-12-31T00:00:00Z"),
        ) {
            let (expr, seconds) = PROPERTY_EXPRESSIONS[which];
            let s = spec(&format!("CRON_TZ={} {expr}", PROPERTY_ZONES[zone]), seconds);
            let mut t = start;
            let mut fires = Vec::with_capacity(50);
            for _ in 0..50 {
                let n = s.next_after(t).expect("these schedules keep firing");
                prop_assert!(n > t, "{} is not after {}", iso(n), iso(t));
                prop_assert_eq!(n % 1000, 0);
                // n is a fire, and nothing fires strictly between t and n.
                prop_assert_eq!(s.last_at_or_before(n, t), Some(n));
                prop_assert_eq!(s.last_at_or_before(n - 1, t + 1), None);
                // The local wall-clock time matches, except for a fixed
                // time's catch-up right after a gap.
                let local = DateTime::from_timestamp_millis(n).expect("in range").with_timezone(&s.tz).naive_local();
                let caught_up = s.fixed_hour && offset_at(s.tz, n / 1000 - 1) < offset_at(s.tz, n / 1000);
                prop_assert!(s.compiled.cron.is_time_matching(&local).expect("valid") || caught_up, "{} ({local}) does not match", iso(n));
                fires.push(n);
                t = n;
            }
            prop_assert_eq!(s.upcoming(start, 50), fires.clone());
            // Between two fires, the latest one at or before is the earlier.
            for pair in fires.windows(2) {
                let mid = pair[0] + (pair[1] - pair[0]) / 2;
                prop_assert_eq!(s.last_at_or_before(mid, start), Some(pair[0]));
            }
            prop_assert_eq!(s.last_at_or_before(fires[49], start + 1), Some(fires[49]));
        }
    }
}
