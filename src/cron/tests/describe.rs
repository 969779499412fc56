//! `describe`: the wording for every feature of the dialect, that it never panics,
//! and that clock-time and span descriptions name exactly the times that fire.

use chrono::TimeDelta;
use proptest::prelude::*;

use super::*;

#[test]
fn describes_every_feature_of_the_dialect() {
    // (expression, seconds header, description)
    let cases: &[(&str, bool, &str)] = &[
        // Times of day.
        ("30 9 * * *", false, "At 09:30 every day, UTC"),
        ("0,30 2 * * *", false, "At 02:00 and 02:30 every day, UTC"),
        ("0 9,12,17 * * *", false, "At 09:00, 12:00 and 17:00 every day, UTC"),
        ("0 0 12 * * *", true, "At 12:00:00 every day, UTC"),
        ("0 30 9 * * 1", true, "At 09:30:00 on Monday, UTC"),
        // Repeating units.
        ("* * * * *", false, "Every minute, UTC"),
        ("*/5 * * * *", false, "Every 5 minutes, UTC"),
        ("0,15,30,45 * * * *", false, "Every 15 minutes, UTC"),
        ("5/20 * * * *", false, "Every 20 minutes from minute 5, UTC"),
        ("1-59/2 * * * *", false, "Every 2 minutes from minute 1, UTC"),
        ("*/7 * * * *", false, "Every 7 minutes from minute 0 through 56, UTC"),
        ("10-20 * * * *", false, "Every minute from minute 10 through 20, UTC"),
        ("5,17 * * * *", false, "Every hour, at minutes 5 and 17, UTC"),
        ("0 * * * *", false, "Every hour, at minute 0, UTC"),
        ("*/15 */2 * * *", false, "Every 15 minutes during every 2nd hour, UTC"),
        (
            "*/7 */2 * * *",
            false,
            "Every 7 minutes from minute 0 through 56 during every 2nd hour, UTC",
        ),
        // Spans: first and last fire of the day.
        ("* 9 * * *", false, "Every minute from 09:00 through 09:59, UTC"),
        (
            "*/15 9-17 * * *",
            false,
            "Every 15 minutes from 09:00 through 17:45, UTC",
        ),
        ("0 */6 * * *", false, "Every 6 hours from 00:00 through 18:00, UTC"),
        (
            "23 0-20/2 * * *",
            false,
            "Every 2 hours from 00:23 through 20:23, UTC",
        ),
        (
            "0 9-17 * * 1-5",
            false,
            "Every hour from 09:00 through 17:00 on Monday through Friday, UTC",
        ),
        // Field by field when nothing shorter is exact.
        (
            "0 1,3,4,8,9,12,15 * * *",
            false,
            "At minute 0 past hours 1, 3, 4, 8, 9, 12 and 15, UTC",
        ),
        (
            "5,17 3-7,22 1-10 3 *",
            false,
            "At minutes 5 and 17 past hours 3 through 7 and 22 on days 1 through 10 of March, UTC",
        ),
        // Days of the month.
        ("0 0 1 * *", false, "At 00:00 on day 1 of the month, UTC"),
        ("0 5 1,15 * *", false, "At 05:00 on days 1 and 15 of the month, UTC"),
        (
            "0 0 */10 * *",
            false,
            "At 00:00 on days 1, 11, 21 and 31 of the month, UTC",
        ),
        (
            "0 0 1/2 * *",
            false,
            "At 00:00 on every 2nd day from day 1 through 31 of the month, UTC",
        ),
        ("0 0 L * *", false, "At 00:00 on the last day of the month, UTC"),
        ("0 0 LW * *", false, "At 00:00 on the last weekday of the month, UTC"),
        (
            "0 0 15W * *",
            false,
            "At 00:00 on the weekday nearest day 15 of the month, UTC",
        ),
        (
            "0 0 1,15,L * *",
            false,
            "At 00:00 on days 1 and 15 and the last day of the month, UTC",
        ),
        ("* * 1 * *", false, "Every minute on day 1 of the month, UTC"),
        // Months.
        ("0 12 1 1 *", false, "At 12:00 on 1 January, UTC"),
        ("0 0 29 2 *", false, "At 00:00 on 29 February, UTC"),
        ("0 0 L 2 *", false, "At 00:00 on the last day of February, UTC"),
        (
            "0 0 1 jun,Dec *",
            false,
            "At 00:00 on day 1 of the month in June and December, UTC",
        ),
        ("0 12 * 3-6 *", false, "At 12:00 every day in March through June, UTC"),
        (
            "0 0 * */3 *",
            false,
            "At 00:00 every day in January, April, July and October, UTC",
        ),
        // Days of the week.
        ("30 9 * * 1", false, "At 09:30 on Monday, UTC"),
        (
            "0 9 * * MON,wed,5",
            false,
            "At 09:00 on Monday, Wednesday and Friday, UTC",
        ),
        ("0 0 * * SAT-SUN", false, "At 00:00 on Saturday and Sunday, UTC"),
        ("0 0 * * 0", false, "At 00:00 on Sunday, UTC"),
        ("0 0 * * 7", false, "At 00:00 on Sunday, UTC"),
        (
            "0 0 * * */2",
            false,
            "At 00:00 on Tuesday, Thursday, Saturday and Sunday, UTC",
        ),
        ("0 0 * * 0-7", false, "At 00:00 on Monday through Sunday, UTC"),
        (
            "0 0 * * 5#3",
            false,
            "At 00:00 on the third Friday of the month, UTC",
        ),
        (
            "0 0 * * MON#1,MON#3",
            false,
            "At 00:00 on the first Monday and the third Monday of the month, UTC",
        ),
        ("0 0 * * 5L", false, "At 00:00 on the last Friday of the month, UTC"),
        ("0 0 * 3 5#3", false, "At 00:00 on the third Friday of March, UTC"),
        (
            "0 0 * * MON,5L",
            false,
            "At 00:00 on Monday and the last Friday of the month, UTC",
        ),
        // Both day fields restricted: either matches.
        (
            "0 0 13 * FRI",
            false,
            "At 00:00 on day 13 of the month or on Friday, UTC",
        ),
        (
            "0 0 1-7 * MON",
            false,
            "At 00:00 on days 1 through 7 of the month or on Monday, UTC",
        ),
        (
            "0 0 L 3 5L",
            false,
            "At 00:00 on the last day of the month or on the last Friday of the month, in March, UTC",
        ),
        ("0 0 ? * ?", false, "At 00:00 every day, UTC"),
        // Nicknames.
        ("@yearly", false, "At 00:00 on 1 January, UTC"),
        ("@annually", false, "At 00:00 on 1 January, UTC"),
        ("@monthly", false, "At 00:00 on day 1 of the month, UTC"),
        ("@weekly", false, "At 00:00 on Sunday, UTC"),
        ("@daily", false, "At 00:00 every day, UTC"),
        ("@midnight", false, "At 00:00 every day, UTC"),
        ("@hourly", false, "Every hour, at minute 0, UTC"),
        ("@daily", true, "At 00:00:00 every day, UTC"),
        // Seconds.
        ("* * * * * *", true, "Every second, UTC"),
        ("*/10 * * * * *", true, "Every 10 seconds, UTC"),
        ("30 * * * * *", true, "Every minute, at second 30, UTC"),
        ("5,17 * * * * *", true, "Every minute, at seconds 5 and 17, UTC"),
        ("15 */5 * * * *", true, "Every 5 minutes, at second 15, UTC"),
        ("30 0 * * * *", true, "Every hour, at minute 0, second 30, UTC"),
        (
            "* * 9-17 * * *",
            true,
            "Every second from 09:00:00 through 17:59:59, UTC",
        ),
        (
            "5,17 * 9-17 * * *",
            true,
            "At seconds 5 and 17 of every minute during hours 9 through 17, UTC",
        ),
        (
            "30 */15 0,12 * * *",
            true,
            "Every 15 minutes during hours 0 and 12, at second 30, UTC",
        ),
        (
            "*/10 5 9 * * *",
            true,
            "Every 10 seconds from 09:05:00 through 09:05:50, UTC",
        ),
        (
            "*/20 30 2 * * *",
            true,
            "Every 20 seconds from 02:30:00 through 02:30:40, UTC",
        ),
        (
            "0,30 0 9 * * *",
            true,
            "At 09:00:00 and 09:00:30 every day, UTC",
        ),
        // Zones: always said, in their canonical spelling.
        (
            "CRON_TZ=Europe/Berlin 30 9 * * 1",
            false,
            "At 09:30 on Monday, Europe/Berlin",
        ),
        (
            "TZ=asia/kolkata 0 9 * * *",
            false,
            "At 09:00 every day, Asia/Kolkata",
        ),
        ("CRON_TZ=UTC @hourly", false, "Every hour, at minute 0, UTC"),
        (
            "CRON_TZ=America/New_York */10 * * * * *",
            true,
            "Every 10 seconds, America/New_York",
        ),
    ];
    assert!(cases.len() >= 40);
    for (expr, seconds, description) in cases {
        assert_eq!(spec(expr, *seconds).describe(), *description, "{expr:?}");
    }
}

/// Checks that hold for every description.
fn check_wording(expr: &str, got: &str) {
    assert!(
        got.starts_with(|c: char| c.is_ascii_uppercase()),
        "{expr:?}: {got}"
    );
    assert!(got.ends_with(", UTC"), "{expr:?}: {got}");
    for bad in [
        "  ",
        " ,",
        ",,",
        "every 1st",
        "1 minutes",
        "1 seconds",
        "1 hours",
    ] {
        assert!(!got.contains(bad), "{expr:?}: {got:?} contains {bad:?}");
    }
}

/// The fires on 2026-01-05 (UTC), as the description's clock format shows them.
fn fires_on_a_day(s: &CronSpec, limit: usize) -> Vec<String> {
    let start = ms("2026-01-05T00:00:00Z");
    let format = if s.has_seconds() { "%H:%M:%S" } else { "%H:%M" };
    s.upcoming(start - 1, limit)
        .into_iter()
        .filter(|&f| f < start + 86_400_000)
        .map(|f| {
            DateTime::from_timestamp_millis(f)
                .expect("in range")
                .format(format)
                .to_string()
        })
        .collect()
}

/// The times a clock-time or span description promises, for a schedule with no
/// day restriction; None for the other forms.
fn promised_times(got: &str, seconds: bool) -> Option<Vec<String>> {
    let body = got.strip_suffix(", UTC")?;
    if let Some(times) = body
        .strip_prefix("At ")
        .and_then(|b| b.strip_suffix(" every day"))
    {
        return Some(
            times
                .replace(" and ", ", ")
                .split(", ")
                .map(str::to_string)
                .collect(),
        );
    }
    let (every, span) = body.strip_prefix("Every ")?.split_once(" from ")?;
    let (first, last) = span.split_once(" through ")?;
    let (n, unit) = every.split_once(' ').unwrap_or(("1", every));
    let n: i64 = n.parse().ok()?;
    let unit = match unit.trim_end_matches('s') {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        _ => return None,
    };
    let format = if seconds { "%H:%M:%S" } else { "%H:%M" };
    let parse = |t: &str| chrono::NaiveTime::parse_from_str(t, format).ok();
    let (mut t, last) = (parse(first)?, parse(last)?);
    let mut out = Vec::new();
    while t <= last {
        out.push(t.format(format).to_string());
        let (next, wrapped) = t.overflowing_add_signed(TimeDelta::seconds(n * unit));
        if wrapped != 0 {
            break;
        }
        t = next;
    }
    Some(out)
}

#[test]
fn generated_expressions_read_well_and_say_what_fires() {
    let seconds = ["0", "*", "*/10", "5,17", "30", "10-20", "*/7"];
    let minutes = [
        "*", "0", "*/15", "5/20", "*/7", "10-20", "5,17", "0,30", "1,2,3,30", "59", "0-30/10",
    ];
    let hours = [
        "*", "9", "9-17", "*/6", "*/2", "3-7,22", "1-23/2", "0,12", "*/5", "23",
    ];
    let mut checked = 0;
    for with_seconds in [false, true] {
        let second_fields: &[&str] = if with_seconds { &seconds } else { &[""] };
        for second in second_fields {
            for minute in minutes {
                for hour in hours {
                    let expr = format!("{second} {minute} {hour} * * *");
                    let expr = expr.trim_start();
                    let s = spec(expr, with_seconds);
                    let got = s.describe();
                    check_wording(expr, &got);
                    if let Some(promised) = promised_times(&got, with_seconds) {
                        if promised.len() <= 2000 {
                            assert_eq!(fires_on_a_day(&s, 2001), promised, "{expr:?}: {got}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} descriptions were checked against fires"
    );

    let days_of_month = [
        "*", "?", "1", "L", "LW", "15W", "1-10", "*/10", "1,15,L", "1/2", "31", "1-31",
    ];
    let months = ["*", "JAN", "3-6", "*/3", "2,11", "1-12"];
    let days_of_week = [
        "*", "?", "MON", "1-5", "SAT-SUN", "5#3", "5L", "0,7", "*/2", "MON,5L", "7#1", "0-7",
    ];
    for dom in days_of_month {
        for month in months {
            for dow in days_of_week {
                let expr = format!("0 0 {dom} {month} {dow}");
                if let Ok(s) = CronSpec::parse(&expr, false) {
                    check_wording(&expr, &s.describe());
                }
            }
        }
    }
}

/// A field of one to three list items drawn from `items`.
fn field(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(items), 1..=3).prop_map(|v| v.join(","))
}

const TIME_ITEMS: &[&str] = &[
    "*", "0", "5", "59", "*/7", "*/15", "5/20", "10-20", "0-30/10", "23",
];
const DOM_ITEMS: &[&str] = &[
    "*", "?", "1", "15", "31", "L", "LW", "15W", "1-10", "*/10", "1/2",
];
const MONTH_ITEMS: &[&str] = &["*", "1", "FEB", "3-6", "*/3", "12", "jun"];
const DOW_ITEMS: &[&str] = &[
    "*", "?", "0", "7", "MON", "1-5", "SAT-SUN", "5#3", "5L", "*/2", "sun#5",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn describe_never_panics_on_generated_fields(
        second in field(TIME_ITEMS),
        minute in field(TIME_ITEMS),
        hour in field(&["*", "0", "9", "23", "*/2", "*/5", "9-17", "1-23/2", "3-7"]),
        dom in field(DOM_ITEMS),
        month in field(MONTH_ITEMS),
        dow in field(DOW_ITEMS),
        seconds in any::<bool>(),
    ) {
        let expr = if seconds {
            format!("{second} {minute} {hour} {dom} {month} {dow}")
        } else {
            format!("{minute} {hour} {dom} {month} {dow}")
        };
        if let Ok(s) = CronSpec::parse(&expr, seconds) {
            check_wording(&expr, &s.describe());
        }
    }

    #[test]
    fn describe_never_panics(
        input in "(CRON_TZ=(UTC|Europe/Berlin|Asia/Kolkata) )?([0-9*/,#LWlw?@A-Za-z-]{0,6} ?){0,7}",
        seconds in any::<bool>(),
    ) {
        if let Ok(s) = CronSpec::parse(&input, seconds) {
            let got = s.describe();
            prop_assert!(!got.is_empty());
            let zone = format!(", {}", s.timezone().name());
            prop_assert!(got.ends_with(&zone), "{}", got);
        }
    }
}
