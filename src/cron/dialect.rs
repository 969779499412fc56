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
            hint: String::new(),
        }
    }

    fn out_of_range(&self, value: &str) -> CronError {
        CronError::OutOfRange {
            expr: clip(self.expr, SHOWN_CHARS),
            field: self.field.name,
            value: clip(value, SHOWN_CHARS),
            min: self.field.min,
            max: self.field.max,
            hint: String::new(),
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

/// Reads `trimmed` (not empty) in the dialect that `with_seconds` selects;
/// a refusal says what the slip probably was ([`teach`]).
pub(super) fn normalize(trimmed: &str, with_seconds: bool) -> Result<Normalized<'_>, CronError> {
    read(trimmed, with_seconds).map_err(|e| teach(e, trimmed, with_seconds))
}

fn read(trimmed: &str, with_seconds: bool) -> Result<Normalized<'_>, CronError> {
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
                hint: String::new(),
            })?;
        if tokens.len() > 1 {
            return Err(CronError::FieldCount {
                expr: clip(trimmed, SHOWN_CHARS),
                found: tokens.len(),
                with_seconds,
                hint: String::new(),
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
            hint: String::new(),
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

/// Adds to `err` what the slip in `trimmed` probably was and, when the fix
/// is clear and the fixed expression reads, the expression probably meant.
/// The slips are the ones people make: the day of the month in the
/// day-of-week field, a Quartz or seconds-first expression without the
/// opt-in, a year field, `24` for midnight, `60` for the full hour, day 0,
/// month and day swapped, `*/0`, `?` outside the day fields, `9:30` as one
/// field, `@every`.
pub(super) fn teach(err: CronError, trimmed: &str, with_seconds: bool) -> CronError {
    let Ok((_, body)) = split_zone(trimmed) else {
        return err;
    };
    let prefix = &trimmed[..trimmed.len() - body.len()];
    let tokens: Vec<&str> = body.split_whitespace().collect();
    // The field positions in this dialect.
    let at = |kind: Kind| {
        let i = FIELDS.iter().position(|f| f.kind == kind).unwrap_or(0);
        if with_seconds {
            i
        } else {
            i.wrapping_sub(1)
        }
    };
    // "did you mean …?" only for an expression that reads in `seconds`' dialect.
    let meant = |fields: Vec<&str>, seconds: bool| -> Option<String> {
        let candidate = format!("{prefix}{}", fields.join(" "));
        (candidate.chars().count() <= SHOWN_CHARS && read(&candidate, seconds).is_ok())
            .then_some(candidate)
    };
    let with_meant = |why: String, fields: Vec<&str>, seconds: bool| match meant(fields, seconds) {
        Some(m) => format!("; {why}: did you mean \"{m}\"?"),
        None => format!("; {why}"),
    };
    let replaced = |i: usize, by: &'static str| -> Vec<&str> {
        let mut t = tokens.clone();
        t[i] = by;
        t
    };
    // `9:30` as one field: cron writes the minute, then the hour.
    let split_clock_time = |tokens: &[&str]| {
        let i = tokens.iter().position(|t| clock_time(t).is_some());
        let Some((i, (h, m))) = i.and_then(|i| clock_time(tokens[i]).map(|hm| (i, hm))) else {
            return String::new();
        };
        let why = format!(
            "cron has no times of day like {}: the minute and the hour are two fields, minute first",
            tokens[i]
        );
        let mut t = tokens.to_vec();
        t.splice(i..=i, [m, h]);
        with_meant(why, t, with_seconds)
    };
    let year_like = |t: &str| {
        t.split([',', '-'])
            .all(|y| y.len() == 4 && y.parse::<u32>().is_ok_and(|y| (1970..=2199).contains(&y)))
    };
    let hint = match &err {
        CronError::OutOfRange { field, value, .. } => {
            let v: Option<u32> = value.parse().ok();
            match (*field, v) {
                ("day-of-week", Some(8..=31)) => {
                    let (dom, dow) = (at(Kind::DayOfMonth), at(Kind::DayOfWeek));
                    let nth = if with_seconds { "sixth" } else { "fifth" };
                    let dom_nth = if with_seconds { "fourth" } else { "third" };
                    let why = format!(
                        "the {nth} field is the day of the week; the day of the month is the {dom_nth}"
                    );
                    let movable = tokens.get(dom).is_some_and(|t| *t == "*" || *t == "?")
                        && tokens.get(dow).is_some_and(|t| {
                            t.bytes()
                                .all(|b| b.is_ascii_digit() || b == b',' || b == b'-')
                        });
                    if movable {
                        let mut t = tokens.clone();
                        t[dom] = tokens[dow];
                        t[dow] = "*";
                        with_meant(why, t, with_seconds)
                    } else {
                        format!("; {why}")
                    }
                }
                ("hour", Some(24)) => {
                    let i = at(Kind::Hour);
                    let why = "midnight is hour 0".to_string();
                    if tokens.get(i) == Some(&"24") {
                        with_meant(why, replaced(i, "0"), with_seconds)
                    } else {
                        format!("; {why}")
                    }
                }
                ("minute" | "second", Some(60)) => {
                    let i = at(if *field == "minute" {
                        Kind::Minute
                    } else {
                        Kind::Second
                    });
                    let why = format!(
                        "the full {} is {field} 0",
                        if *field == "minute" { "hour" } else { "minute" }
                    );
                    if tokens.get(i) == Some(&"60") {
                        with_meant(why, replaced(i, "0"), with_seconds)
                    } else {
                        format!("; {why}")
                    }
                }
                ("day-of-month", Some(0)) => {
                    "; days of the month count from 1; for the last day of the month write L"
                        .to_string()
                }
                ("month", Some(0)) => "; months count from 1 (January) to 12 (December)".into(),
                ("month", Some(13..=31)) => {
                    let (dom, month) = (at(Kind::DayOfMonth), at(Kind::Month));
                    let nth = if with_seconds { "fifth" } else { "fourth" };
                    let why = format!("the {nth} field is the month, after the day of the month");
                    let day_is_a_month = tokens
                        .get(dom)
                        .and_then(|t| t.parse::<u32>().ok())
                        .is_some_and(|d| (1..=12).contains(&d));
                    if day_is_a_month && tokens.get(month) == Some(&value.as_str()) {
                        let mut t = tokens.clone();
                        t.swap(dom, month);
                        with_meant(why, t, with_seconds)
                    } else {
                        format!("; {why}")
                    }
                }
                _ => String::new(),
            }
        }
        CronError::Malformed {
            field,
            text,
            reason,
            ..
        } => {
            let unit = match *field {
                "second" => "second",
                "minute" => "minute",
                "hour" => "hour",
                "day-of-month" => "day",
                "month" => "month",
                "day-of-week" => "day",
                _ => "",
            };
            if reason.ends_with("not 0") && text.ends_with("/0") {
                format!("; a step of 0 never moves on: for every {unit} write *")
            } else if text.split(',').any(|i| i == "?") {
                let i = tokens.iter().position(|t| *t == text.as_str());
                let why = format!(
                    "? (\"no specific value\", from Quartz) is only for the day-of-month and \
                     day-of-week fields; write * for every {unit}"
                );
                match i {
                    Some(i) if text == "?" => with_meant(why, replaced(i, "*"), with_seconds),
                    _ => format!("; {why}"),
                }
            } else if clock_time(text).is_some() {
                split_clock_time(&tokens)
            } else {
                String::new()
            }
        }
        CronError::FieldCount { found, .. } => {
            let last = tokens.last().copied().unwrap_or("");
            let expected = if with_seconds { 6 } else { 5 };
            if tokens.iter().any(|t| clock_time(t).is_some()) {
                split_clock_time(&tokens)
            } else if *found == expected + 1 && year_like(last) {
                let why =
                    "the last field looks like a year, and cron has no year field".to_string();
                with_meant(why, tokens[..tokens.len() - 1].to_vec(), with_seconds)
            } else if !with_seconds && *found == 7 && year_like(last) {
                // Quartz: seconds … day-of-week year.
                let why = "it looks like a Quartz expression (seconds first, a year last); \
                           cronhook has no year field"
                    .to_string();
                if tokens[0] == "0" {
                    with_meant(why, tokens[1..6].to_vec(), false)
                } else {
                    format!("; {why}; drop the year and send Cronhook-Cron-Seconds: true")
                }
            } else if !with_seconds && *found == 6 && tokens[0] == "0" {
                let why = "or, to fire at second 0, drop the seconds field".to_string();
                with_meant(why, tokens[1..].to_vec(), false)
            } else if with_seconds && *found == 5 {
                "; with the header the first field is the second: add one (e.g. 0) in front, \
                 or leave the header out"
                    .to_string()
            } else {
                String::new()
            }
        }
        CronError::UnknownNickname { nickname, .. } if nickname.eq_ignore_ascii_case("@every") => {
            let arg = tokens.get(1).copied().unwrap_or("");
            let (n, unit) =
                arg.split_at(arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len()));
            let n: u32 = n.parse().unwrap_or(0);
            let step = |n: u32, fields: &str| {
                if n == 1 {
                    fields.replacen("*/1", "*", 1)
                } else {
                    fields.replacen("*/1", &format!("*/{n}"), 1)
                }
            };
            let fix = match unit {
                "m" if n > 0 && 60 % n == 0 && n < 60 => Some(step(n, "*/1 * * * *")),
                "h" if n > 0 && 24 % n == 0 && n < 24 => Some(step(n, "0 */1 * * *")),
                _ => None,
            };
            let fix = fix.map(|f| if with_seconds { format!("0 {f}") } else { f });
            let why = "for a fixed interval, write a step in its field".to_string();
            match fix {
                Some(f) => with_meant(why, f.split(' ').collect(), with_seconds),
                None => format!("; {why}, e.g. */5 * * * * for every 5 minutes"),
            }
        }
        _ => String::new(),
    };
    with_hint(err, hint)
}

/// `"9:30"` → `("9", "30")`.
fn clock_time(t: &str) -> Option<(&str, &str)> {
    t.split_once(':').filter(|(h, m)| {
        (1..=2).contains(&h.len())
            && m.len() == 2
            && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
    })
}

fn with_hint(mut err: CronError, text: String) -> CronError {
    match &mut err {
        CronError::FieldCount { hint, .. }
        | CronError::OutOfRange { hint, .. }
        | CronError::Malformed { hint, .. }
        | CronError::UnknownNickname { hint, .. } => *hint = text,
        CronError::Empty | CronError::UnknownTimeZone { .. } => {}
    }
    err
}
