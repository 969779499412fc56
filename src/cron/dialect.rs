//! The cron dialect: zone prefix, nicknames and the five (or six) fields, validated
//! with errors that name the field, and respelled as croner's numeric 6-field form.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono_tz::Tz;

use super::{CronError, SHOWN_CHARS};
use crate::duration::clip;

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

/// What the dialect makes of a trimmed, non-empty expression.
pub(super) struct Normalized<'a> {
    /// The `CRON_TZ=` zone, or UTC.
    pub(super) tz: Tz,
    /// The fields as written, after the zone prefix.
    pub(super) body: &'a str,
    /// croner's spelling: six numeric fields, nicknames expanded.
    pub(super) pattern: String,
    /// The hour field is neither `*` nor a step (see `CronSpec::fixed_hour`).
    pub(super) fixed_hour: bool,
}

/// Reads `trimmed` (not empty) in the dialect that `with_seconds` selects.
pub(super) fn normalize(trimmed: &str, with_seconds: bool) -> Result<Normalized<'_>, CronError> {
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
    let hour_text = tokens[if with_seconds { 2 } else { 1 }];
    let fixed_hour = !hour_text.contains(['*', '/', '?']);

    Ok(Normalized {
        tz,
        body,
        pattern: normalized,
        fixed_hour,
    })
}
