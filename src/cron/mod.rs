//! Schedule expressions: parsing, validation and next-fire computation, plus
//! what people are shown about them ([`CronSpec::describe`] in plain English,
//! [`CronSpec::dst_notes`] on fire times near a clock change).
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

mod compiled;
mod describe;
mod dialect;
mod dst;
#[cfg(test)]
mod tests;
mod transitions;

use std::sync::Arc;

use chrono_tz::Tz;

use crate::duration::clip;
use compiled::{compile, Compiled};
pub use transitions::{DstChange, DstNote};

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
    /// The schedule's bounds: no slot before `start`, none after `end`.
    window: Window,
}

/// A schedule's bounds (`Cronhook-Start-At`, `Cronhook-End-At`), Unix ms,
/// both inclusive. A spec [`CronSpec::within`] a window yields only the
/// slots inside it, so every user of the spec (the next slot at create and
/// resume, the firing and its misfire plan, the previews) respects the
/// bounds without knowing about them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// Why an expression was rejected. `Display` is one line meant for API users.
///
/// `hint` is empty or starts with `"; "`: what the slip probably was and,
/// when one can be made, the expression that was probably meant
/// (`dialect::teach`), so the error teaches instead of only refusing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Nothing but whitespace.
    #[error("invalid cron expression \"\": the expression is empty")]
    Empty,
    /// The number of fields does not fit the dialect the request selected.
    #[error("invalid cron expression {expr:?}: {}{hint}", field_count_detail(*.found, *.with_seconds))]
    FieldCount {
        expr: String,
        found: usize,
        with_seconds: bool,
        hint: String,
    },
    /// A number outside the field's range.
    #[error("invalid cron expression {expr:?}: {field} value {value} is out of range ({field} is {min}–{max}){hint}")]
    OutOfRange {
        expr: String,
        field: &'static str,
        value: String,
        min: u32,
        max: u32,
        hint: String,
    },
    /// A field that is not valid syntax.
    #[error(
        "invalid cron expression {expr:?}: {field} field {text:?} is malformed: {reason}{hint}"
    )]
    Malformed {
        expr: String,
        field: &'static str,
        text: String,
        reason: String,
        hint: String,
    },
    /// `CRON_TZ=` named a zone that is not in the IANA database.
    #[error("invalid cron expression {expr:?}: unknown time zone {zone:?} (expected an IANA name such as America/New_York)")]
    UnknownTimeZone { expr: String, zone: String },
    /// An `@` form that cronhook does not support (e.g. `@every`, `@reboot`).
    #[error("invalid cron expression {expr:?}: unknown nickname {nickname:?} (cronhook accepts @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly){hint}")]
    UnknownNickname {
        expr: String,
        nickname: String,
        hint: String,
    },
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

/// 0001-01-01T00:00:00Z: croner does not search before year 1.
const EARLIEST_SECS: i64 = -62_135_596_800;

impl CronSpec {
    /// `expr` is the raw `Upstash-Cron` header value. `with_seconds` is true only when the
    /// request carried `Cronhook-Cron-Seconds: true`.
    pub fn parse(expr: &str, with_seconds: bool) -> Result<CronSpec, CronError> {
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(CronError::Empty);
        }
        let dialect::Normalized {
            tz,
            body,
            pattern,
            fixed_hour,
        } = dialect::normalize(trimmed, with_seconds)?;
        let compiled = compile(&pattern).map_err(|e| CronError::Malformed {
            expr: clip(trimmed, SHOWN_CHARS),
            field: "expression",
            text: clip(body, SHOWN_CHARS),
            reason: e.to_string(),
            hint: String::new(),
        })?;
        Ok(CronSpec {
            expr: trimmed.to_string(),
            tz,
            compiled,
            with_seconds,
            fixed_hour,
            window: Window::default(),
        })
    }

    /// The same expression with its slots limited to `window`.
    pub fn within(mut self, window: Window) -> CronSpec {
        self.window = window;
        self
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
        // The first slot is the first one at or after the start.
        let after_ms = match self.window.start {
            Some(start) => after_ms.max(start.saturating_sub(1)),
            None => after_ms,
        };
        // Fires are whole seconds, so "after t ms" is "after floor(t / 1000) s".
        self.next_after_secs(after_ms.div_euclid(1000))
            .map(|s| s * 1000)
            .filter(|&n| self.window.end.is_none_or(|end| n <= end))
    }

    /// Latest fire instant at or before `at_ms` that is >= `not_before_ms` (None if there is none in
    /// that window). Used for misfire handling after downtime; must be consistent with next_after
    /// (i.e. it returns an element of the sequence next_after produces) and cheap even when the
    /// window is a year of a seconds schedule.
    pub fn last_at_or_before(&self, at_ms: i64, not_before_ms: i64) -> Option<i64> {
        let at_ms = self.window.end.map_or(at_ms, |end| at_ms.min(end));
        let not_before_ms = self
            .window
            .start
            .map_or(not_before_ms, |start| not_before_ms.max(start));
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
}
