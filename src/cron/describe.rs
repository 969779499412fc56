//! Schedules in plain English, for people choosing or checking one (the
//! console's create form).
//!
//! The description is read from the same normalized fields croner matches, so
//! it cannot drift from what fires: names are numbers, nicknames are expanded,
//! and a field is described by the set of values it selects rather than by how
//! it was spelled (`0,15,30,45` and `*/15` both read "every 15 minutes"). Only
//! the day fields keep their spelling's one semantic distinction: exactly `*`
//! (or `?`) is unrestricted, anything else takes part in the Vixie "either day
//! field matches" rule, said with "or".
//!
//! The phrasing goes from the most specific form that is exact to plainer ones:
//! clock times ("At 09:00 and 17:30"), a span ("Every 5 minutes from 09:00
//! through 17:55"), a repeating unit ("Every 10 seconds"), and finally field by
//! field ("At minutes 5 and 17 past hours 3 through 7 and 22"). The zone is
//! always said, UTC included.

use super::{dialect, CronSpec};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Indexed by cron's weekday number (0 is Sunday).
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const OCCURRENCES: [&str; 5] = ["first", "second", "third", "fourth", "fifth"];

/// At most this many clock times are listed ("At 00:00, 06:00, ...") before
/// the description switches to a field-by-field form.
const MAX_CLOCK_TIMES: usize = 6;
/// A field with a regular step and more values than this is said as "every
/// 2nd hour" rather than listed.
const MAX_LISTED: usize = 6;

impl CronSpec {
    /// The schedule in plain English, e.g. "At 09:30 on Monday, Europe/Berlin"
    /// or "Every 5 minutes, UTC". Always names the zone. Never panics for a
    /// parsed spec.
    pub fn describe(&self) -> String {
        let zone = self.tz.name();
        dialect::normalize(&self.expr, self.with_seconds)
            .ok()
            .and_then(|n| Fields::read(&n.pattern))
            .map(|fields| format!("{}, {zone}", fields.describe(self.with_seconds)))
            // Unreachable for a spec that parsed; still better than a panic.
            .unwrap_or_else(|| format!("On the schedule {:?}, {zone}", self.expr))
    }
}

/// The normalized pattern as sets of values (bit `v` set when `v` matches).
#[derive(Debug)]
struct Fields {
    second: u64,
    minute: u64,
    hour: u64,
    dom: DayOfMonth,
    month: u64,
    dow: DayOfWeek,
}

#[derive(Debug, Default)]
struct DayOfMonth {
    /// Exactly `*`: unrestricted, so the other day field alone decides.
    star: bool,
    days: u64,
    last: bool,
    last_weekday: bool,
    /// `15W`: the weekday nearest the 15th.
    nearest_weekday: Vec<u32>,
}

#[derive(Debug, Default)]
struct DayOfWeek {
    star: bool,
    /// Bits 0 (Sunday) to 6; 7 is folded into 0.
    days: u64,
    /// `5#3`: (weekday, occurrence).
    nth: Vec<(u32, u32)>,
    /// `5L`: the last such weekday of the month.
    last: Vec<u32>,
}

/// The values of a plain item: `v`, `a-b` or `a-b/step` (the dialect spells
/// every step with both ends) or `*`.
fn item_bits(item: &str, min: u32, max: u32) -> Option<u64> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, step.parse::<u32>().ok()?),
        None => (item, 1),
    };
    let (a, b) = if range == "*" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-') {
        (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)
    } else {
        let v = range.parse::<u32>().ok()?;
        (v, v)
    };
    if step == 0 || a < min || b > max || a > b || b > 63 {
        return None;
    }
    Some(
        (a..=b)
            .step_by(step as usize)
            .fold(0, |acc, v| acc | 1 << v),
    )
}

fn field_bits(text: &str, min: u32, max: u32) -> Option<u64> {
    text.split(',')
        .try_fold(0, |acc, item| Some(acc | item_bits(item, min, max)?))
}

impl Fields {
    /// Reads croner's 6-field numeric spelling produced by `dialect::normalize`.
    fn read(pattern: &str) -> Option<Fields> {
        let parts: Vec<&str> = pattern.split(' ').collect();
        let [second, minute, hour, dom, month, dow] = parts[..] else {
            return None;
        };
        Some(Fields {
            second: field_bits(second, 0, 59)?,
            minute: field_bits(minute, 0, 59)?,
            hour: field_bits(hour, 0, 23)?,
            dom: DayOfMonth::read(dom)?,
            month: field_bits(month, 1, 12)?,
            dow: DayOfWeek::read(dow)?,
        })
    }

    fn describe(&self, seconds: bool) -> String {
        let mut time_fields = Vec::with_capacity(3);
        if seconds {
            time_fields.push(TimeField::new(Unit::Second, self.second));
        }
        time_fields.push(TimeField::new(Unit::Minute, self.minute));
        time_fields.push(TimeField::new(Unit::Hour, self.hour));
        let time = Time {
            fields: time_fields,
            seconds,
        };
        let (mut out, clock) = time.phrase();
        out.push_str(&self.date_phrase(clock));
        out
    }

    /// " on day 1 of the month in March" and so on; empty when every day
    /// matches (or " every day" after clock times).
    fn date_phrase(&self, clock: bool) -> String {
        let month_all = self.month == bits_of(1..=12);
        let single_month = single(self.month);
        let dom = (!self.dom.star).then_some(&self.dom);
        let dow = (!self.dow.star).then_some(&self.dow);
        let mut out = String::new();
        let mut month_said = month_all;
        match (dom, dow) {
            (None, None) => {
                if clock {
                    out.push_str(" every day");
                }
            }
            (Some(dom), None) => {
                let (phrase, said) = dom.phrase(single_month);
                month_said |= said;
                out.push_str(" on ");
                out.push_str(&phrase);
            }
            (None, Some(dow)) => {
                let (phrase, said) = dow.phrase(single_month);
                month_said |= said;
                out.push_str(" on ");
                out.push_str(&phrase);
            }
            (Some(dom), Some(dow)) => {
                out.push_str(" on ");
                out.push_str(&dom.phrase(None).0);
                out.push_str(" or on ");
                out.push_str(&dow.phrase(None).0);
                if !month_said {
                    out.push(',');
                }
            }
        }
        if !month_said {
            let names: Vec<u32> = values(self.month);
            out.push_str(" in ");
            out.push_str(&list(&names, |m| MONTHS[m as usize - 1].to_string()));
        }
        out
    }
}

impl DayOfMonth {
    fn read(text: &str) -> Option<DayOfMonth> {
        let mut dom = DayOfMonth::default();
        if text == "*" {
            dom.star = true;
            return Some(dom);
        }
        for item in text.split(',') {
            if item == "L" {
                dom.last = true;
            } else if item == "LW" {
                dom.last_weekday = true;
            } else if let Some(day) = item.strip_suffix('W') {
                dom.nearest_weekday.push(day.parse().ok()?);
            } else {
                dom.days |= item_bits(item, 1, 31)?;
            }
        }
        dom.nearest_weekday.sort_unstable();
        dom.nearest_weekday.dedup();
        Some(dom)
    }

    /// The phrase after "on", and whether it named `month` (then the caller
    /// does not say it again).
    fn phrase(&self, month: Option<u32>) -> (String, bool) {
        let days = values(self.days);
        let specials = self.last || self.last_weekday || !self.nearest_weekday.is_empty();
        if let (Some(month), [day], false) = (month, &days[..], specials) {
            return (format!("{day} {}", MONTHS[month as usize - 1]), true);
        }
        let mut parts = Vec::new();
        match &days[..] {
            [] => {}
            [day] => parts.push(format!("day {day}")),
            _ => match progression(&days) {
                Some((step, first, last)) if step > 1 && days.len() > MAX_LISTED => {
                    parts.push(format!(
                        "every {} day from day {first} through {last}",
                        ordinal(step)
                    ))
                }
                _ => parts.push(format!("days {}", list(&days, |d| d.to_string()))),
            },
        }
        for day in &self.nearest_weekday {
            parts.push(format!("the weekday nearest day {day}"));
        }
        if self.last_weekday {
            parts.push("the last weekday".to_string());
        }
        if self.last {
            parts.push("the last day".to_string());
        }
        let of = match month {
            Some(m) => MONTHS[m as usize - 1],
            None => "the month",
        };
        (format!("{} of {of}", join_and(&parts)), month.is_some())
    }
}

impl DayOfWeek {
    fn read(text: &str) -> Option<DayOfWeek> {
        let mut dow = DayOfWeek::default();
        if text == "*" {
            dow.star = true;
            return Some(dow);
        }
        let weekday = |s: &str| s.parse::<u32>().ok().filter(|&d| d <= 7).map(|d| d % 7);
        for item in text.split(',') {
            if let Some((day, n)) = item.split_once('#') {
                let n = n.parse::<u32>().ok().filter(|n| (1..=5).contains(n))?;
                dow.nth.push((weekday(day)?, n));
            } else if let Some(day) = item.strip_suffix('L') {
                dow.last.push(weekday(day)?);
            } else {
                let bits = item_bits(item, 0, 7)?;
                // 7 is Sunday, like 0.
                dow.days |= (bits & 0x7f) | (bits >> 7 & 1);
            }
        }
        // Monday first, as people list a week.
        let key = |d: u32| (d + 6) % 7;
        dow.nth.sort_unstable_by_key(|&(d, n)| (n, key(d)));
        dow.nth.dedup();
        dow.last.sort_unstable_by_key(|&d| key(d));
        dow.last.dedup();
        Some(dow)
    }

    fn phrase(&self, month: Option<u32>) -> (String, bool) {
        // Monday first: listed by (d + 6) % 7, then named by the weekday.
        let mut monday_first: Vec<u32> = values(self.days).iter().map(|d| (d + 6) % 7).collect();
        monday_first.sort_unstable();
        let mut parts = Vec::new();
        if !monday_first.is_empty() {
            parts.push(list(&monday_first, |k| {
                WEEKDAYS[(k as usize + 1) % 7].to_string()
            }));
        }
        let in_month = !self.nth.is_empty() || !self.last.is_empty();
        for &(day, n) in &self.nth {
            parts.push(format!(
                "the {} {}",
                OCCURRENCES[n as usize - 1],
                WEEKDAYS[day as usize]
            ));
        }
        for &day in &self.last {
            parts.push(format!("the last {}", WEEKDAYS[day as usize]));
        }
        let mut out = join_and(&parts);
        match (in_month, month) {
            (true, Some(m)) => {
                out.push_str(" of ");
                out.push_str(MONTHS[m as usize - 1]);
                (out, true)
            }
            (true, None) => {
                out.push_str(" of the month");
                (out, false)
            }
            (false, _) => (out, false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
}

impl Unit {
    fn word(self) -> &'static str {
        match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
        }
    }

    fn cycle(self) -> u32 {
        match self {
            Unit::Second | Unit::Minute => 60,
            Unit::Hour => 24,
        }
    }

    /// "minute" for 1, "5 minutes" otherwise.
    fn count(self, n: u32) -> String {
        if n == 1 {
            self.word().to_string()
        } else {
            format!("{n} {}s", self.word())
        }
    }
}

/// How a time field's values are laid out, which decides its phrasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    All,
    Single(u32),
    /// Evenly spaced all the way round the cycle (`*/15`, `5/20`, `0,30`),
    /// so "every 15 minutes" is exact even across the hour.
    Every {
        step: u32,
        from: u32,
    },
    /// Three or more evenly spaced within the cycle only (`10-20`, `*/7`,
    /// `9-17/2`).
    Run {
        first: u32,
        last: u32,
        step: u32,
    },
    List,
}

#[derive(Debug)]
struct TimeField {
    unit: Unit,
    values: Vec<u32>,
    shape: Shape,
}

impl TimeField {
    fn new(unit: Unit, bits: u64) -> TimeField {
        let values = values(bits);
        let cycle = unit.cycle();
        let shape = match (&values[..], progression(&values)) {
            ([v], _) => Shape::Single(*v),
            _ if values.len() == cycle as usize => Shape::All,
            (_, Some((step, first, last)))
                if cycle.is_multiple_of(step) && first < step && last + step == cycle + first =>
            {
                Shape::Every { step, from: first }
            }
            // Two values are a list: "minutes 5 and 17", not "every 12 minutes".
            (_, Some((step, first, last))) if values.len() > 2 => Shape::Run { first, last, step },
            _ => Shape::List,
        };
        TimeField {
            unit,
            values,
            shape,
        }
    }

    fn first(&self) -> u32 {
        self.values.first().copied().unwrap_or(0)
    }

    fn last(&self) -> u32 {
        self.values.last().copied().unwrap_or(0)
    }

    /// "5 and 17", "3 through 7 and 22".
    fn list(&self) -> String {
        list(&self.values, |v| v.to_string())
    }

    /// "minute 5", "minutes 5 and 17".
    fn noun_list(&self) -> String {
        let word = self.unit.word();
        if self.values.len() == 1 {
            format!("{word} {}", self.list())
        } else {
            format!("{word}s {}", self.list())
        }
    }
}

/// The time-of-day fields, smallest unit first.
struct Time {
    fields: Vec<TimeField>,
    seconds: bool,
}

impl Time {
    fn clock(&self, pick: impl Fn(&TimeField) -> u32) -> String {
        let get = |unit: Unit| self.fields.iter().find(|f| f.unit == unit).map_or(0, &pick);
        let (h, m) = (get(Unit::Hour), get(Unit::Minute));
        if self.seconds {
            format!("{h:02}:{m:02}:{:02}", get(Unit::Second))
        } else {
            format!("{h:02}:{m:02}")
        }
    }

    /// The time phrase, and whether it is a list of clock times (which reads
    /// better followed by "every day" when no day is restricted).
    fn phrase(&self) -> (String, bool) {
        let fields = &self.fields;
        let Some(lead) = fields
            .iter()
            .position(|f| !matches!(f.shape, Shape::Single(_)))
        else {
            return (format!("At {}", self.clock(TimeField::first)), true);
        };
        if let Some(span) = self.span(lead) {
            return (span, false);
        }
        if let Some(times) = self.clock_times() {
            return (format!("At {}", join_and(&times)), true);
        }
        (self.by_field(lead), false)
    }

    /// "Every 5 minutes from 09:00 through 17:55": the lead field steps evenly
    /// and everything above it is one value, or one contiguous range right
    /// above a field that steps evenly round its whole cycle.
    fn span(&self, lead: usize) -> Option<String> {
        let f = &self.fields[lead];
        let above = &self.fields[lead + 1..];
        let round = matches!(f.shape, Shape::All | Shape::Every { .. });
        let step = match f.shape {
            Shape::All => 1,
            Shape::Every { step, .. } | Shape::Run { step, .. } => step,
            Shape::Single(_) | Shape::List => return None,
        };
        // Going up: whole fields (only above an evenly round lead), then one
        // single value or contiguous range (the range again only above a round
        // lead), then single values. `* * 9-17 * * *` is one stretch of seconds.
        let mut past_whole = false;
        for a in above {
            match a.shape {
                Shape::All if round && !past_whole => {}
                Shape::Run { step: 1, .. } if round && !past_whole => past_whole = true,
                Shape::Single(_) => past_whole = true,
                _ => return None,
            }
        }
        // Something above must be restricted, or "Every 15 minutes" would read
        // "from 00:00 through 23:45"; a lone hour field is its own restriction.
        let bounded = past_whole || (above.is_empty() && f.shape != Shape::All);
        if f.values.len() < 3 || !bounded {
            return None;
        }
        Some(format!(
            "Every {} from {} through {}",
            f.unit.count(step),
            self.clock(TimeField::first),
            self.clock(TimeField::last)
        ))
    }

    /// Every matching time of day, when there are few.
    fn clock_times(&self) -> Option<Vec<String>> {
        let mut total = 1usize;
        for f in &self.fields {
            if f.shape == Shape::All {
                return None;
            }
            total = total.saturating_mul(f.values.len());
        }
        if total > MAX_CLOCK_TIMES {
            return None;
        }
        // Largest unit first, so the times come out in order.
        let mut combos: Vec<Vec<(Unit, u32)>> = vec![Vec::new()];
        for f in self.fields.iter().rev() {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    f.values.iter().map(move |&v| {
                        let mut c = c.clone();
                        c.push((f.unit, v));
                        c
                    })
                })
                .collect();
        }
        Some(
            combos
                .iter()
                .map(|c| {
                    self.clock(|f| c.iter().find(|(u, _)| *u == f.unit).map_or(0, |&(_, v)| v))
                })
                .collect(),
        )
    }

    /// The general form: the smallest field that varies leads, the fields
    /// below it are single values, the fields above restrict it.
    fn by_field(&self, lead: usize) -> String {
        let f = &self.fields[lead];
        let below = &self.fields[..lead];
        let above = &self.fields[lead + 1..];
        let word = f.unit.word();

        if f.unit == Unit::Hour {
            // Everything below is a single value.
            let mut at = format!("minute {}", below.last().map_or(0, TimeField::first));
            if let (true, Some(sec)) = (self.seconds, below.first()) {
                if sec.first() != 0 {
                    at.push_str(&format!(", second {}", sec.first()));
                }
            }
            return match f.shape {
                Shape::All => format!("Every hour, at {at}"),
                _ => format!("At {at} past {}", f.noun_list()),
            };
        }

        // A nonzero second below a minute lead.
        let second = below.first().map_or(0, TimeField::first);
        let (mut out, at_type) = match f.shape {
            Shape::All => (format!("Every {word}"), false),
            Shape::Every { step, from } => {
                let mut s = format!("Every {}", f.unit.count(step));
                if from != 0 {
                    s.push_str(&format!(" from {word} {from}"));
                }
                (s, false)
            }
            Shape::Run { first, last, step } => (
                format!(
                    "Every {} from {word} {first} through {last}",
                    f.unit.count(step)
                ),
                false,
            ),
            Shape::Single(_) | Shape::List => {
                if second != 0 {
                    (format!("At second {second} of {}", f.noun_list()), true)
                } else {
                    (format!("At {}", f.noun_list()), true)
                }
            }
        };
        // Said last: "Every 15 minutes during hours 0 and 12, at second 30".
        let at_second = if !at_type && second != 0 {
            format!(", at second {second}")
        } else {
            String::new()
        };

        if at_type && above.iter().all(|a| a.shape == Shape::All) {
            let next = above.first().map_or("hour", |a| a.unit.word());
            let rest = out.strip_prefix("At ").unwrap_or(&out);
            return format!("Every {next}, at {rest}");
        }
        let mut connector = if at_type { "past" } else { "during" };
        for a in above {
            let word = a.unit.word();
            let phrase = match a.shape {
                // "At seconds 5 and 17" needs its minutes said when the hours
                // are restricted, or it reads as once an hour.
                Shape::All if at_type && a.unit == Unit::Minute => {
                    out.push_str(" of every minute");
                    connector = "during";
                    continue;
                }
                Shape::All => continue,
                Shape::Every { step, from } if a.values.len() > MAX_LISTED => {
                    let mut s = format!("every {} {word}", ordinal(step));
                    if from != 0 {
                        s.push_str(&format!(" from {word} {from}"));
                    }
                    s
                }
                Shape::Run { first, last, step } if step > 1 && a.values.len() > MAX_LISTED => {
                    format!(
                        "every {} {word} from {word} {first} through {last}",
                        ordinal(step)
                    )
                }
                _ => a.noun_list(),
            };
            if a.unit == Unit::Minute {
                out.push_str(&format!(" during {phrase}"));
                connector = "past";
            } else {
                out.push_str(&format!(" {connector} {phrase}"));
            }
        }
        out.push_str(&at_second);
        out
    }
}

fn bits_of(range: std::ops::RangeInclusive<u32>) -> u64 {
    range.fold(0, |acc, v| acc | 1 << v)
}

fn values(bits: u64) -> Vec<u32> {
    (0..64).filter(|v| bits >> v & 1 == 1).collect()
}

fn single(bits: u64) -> Option<u32> {
    (bits.count_ones() == 1).then(|| bits.trailing_zeros())
}

/// (step, first, last) when `values` (sorted, at least two) are evenly spaced.
fn progression(values: &[u32]) -> Option<(u32, u32, u32)> {
    let (&first, &second, &last) = (values.first()?, values.get(1)?, values.last()?);
    let step = second - first;
    values
        .windows(2)
        .all(|w| w[1] - w[0] == step)
        .then_some((step, first, last))
}

/// Sorted values as words, runs of three or more as "a through b".
fn list(values: &[u32], name: impl Fn(u32) -> String) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{} through {}", name(values[i]), name(values[j])));
        } else {
            parts.extend(values[i..=j].iter().map(|&v| name(v)));
        }
        i = j + 1;
    }
    join_and(&parts)
}

/// "a", "a and b", "a, b and c".
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
