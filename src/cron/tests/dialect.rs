//! The dialect: what parses, what each form fires, and the error for each mistake.

use super::*;
use crate::cron::CronError;

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
    // Errors with a hint on the slip are in the table of the next test.
    let fields5 = "cronhook reads 5 (minute hour day-of-month month day-of-week)";
    let cases: Vec<(&str, bool, String)> = vec![
        ("", false, "invalid cron expression \"\": the expression is empty".into()),
        ("   ", true, "invalid cron expression \"\": the expression is empty".into()),
        ("* * * *", false, format!("invalid cron expression \"* * * *\": it has 4 fields, but {fields5}")),
        ("0 0 0 * * * *", false, format!("invalid cron expression \"0 0 0 * * * *\": it has 7 fields, but {fields5}")),
        ("CRON_TZ=UTC", false, format!("invalid cron expression \"CRON_TZ=UTC\": it has 0 fields, but {fields5}")),
        ("5-70 * * * *", false, "invalid cron expression \"5-70 * * * *\": minute value 70 is out of range (minute is 0–59)".into()),
        ("99999999999 * * * *", false, "invalid cron expression \"99999999999 * * * *\": minute value 99999999999 is out of range (minute is 0–59)".into()),
        ("0 0 32W * *", false, "invalid cron expression \"0 0 32W * *\": day-of-month value 32 is out of range (day-of-month is 1–31)".into()),
        ("0 */24 * * *", false, "invalid cron expression \"0 */24 * * *\": hour field \"*/24\" is malformed: a step must be between 1 and 23, not 24".into()),
        ("*/ * * * *", false, "invalid cron expression \"*/ * * * *\": minute field \"*/\" is malformed: the step after / is missing".into()),
        ("*/x * * * *", false, "invalid cron expression \"*/x * * * *\": minute field \"*/x\" is malformed: the step \"x\" is not a number".into()),
        ("a-b * * * *", false, "invalid cron expression \"a-b * * * *\": minute field \"a-b\" is malformed: \"a\" is not a number".into()),
        ("1,,2 * * * *", false, "invalid cron expression \"1,,2 * * * *\": minute field \"1,,2\" is malformed: it has an empty list item".into()),
        ("-5 * * * *", false, "invalid cron expression \"-5 * * * *\": minute field \"-5\" is malformed: a number is missing".into()),
        ("0 20-10 * * *", false, "invalid cron expression \"0 20-10 * * *\": hour field \"20-10\" is malformed: the range 20-10 runs backwards".into()),
        ("0 0 * MON *", false, "invalid cron expression \"0 0 * MON *\": month field \"MON\" is malformed: \"MON\" is not a number or a month name (JAN–DEC)".into()),
        ("0 0 * * MON-FOO", false, "invalid cron expression \"0 0 * * MON-FOO\": day-of-week field \"MON-FOO\" is malformed: \"FOO\" is not a number or a weekday name (SUN–SAT)".into()),
        ("0 0 * * 1#6", false, "invalid cron expression \"0 0 * * 1#6\": day-of-week field \"1#6\" is malformed: the occurrence after # must be between 1 and 5, not \"6\"".into()),
        ("0 0 * * L", false, "invalid cron expression \"0 0 * * L\": day-of-week field \"L\" is malformed: L in day-of-week needs a weekday before it, e.g. 5L for the last Friday".into()),
        ("0 0 L-2 * *", false, "invalid cron expression \"0 0 L-2 * *\": day-of-month field \"L-2\" is malformed: \"L-2\" is not supported (use L for the last day or LW for the last weekday)".into()),
        ("CRON_TZ=Mars/Base 0 0 * * *", false, "invalid cron expression \"CRON_TZ=Mars/Base 0 0 * * *\": unknown time zone \"Mars/Base\" (expected an IANA name such as America/New_York)".into()),
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

/// Errors that teach: the common slips get what was probably wrong and,
/// where the fix is clear (and reads), the expression probably meant. The
/// API answers with this text (`tests/cron_errors.rs`).
#[test]
fn a_common_slip_is_explained_with_the_expression_probably_meant() {
    // (expression, seconds header, the message after `invalid cron expression "<expr>": `)
    let cases: &[(&str, bool, &str)] = &[
        ("0 0 * * 25", false, "day-of-week value 25 is out of range (day-of-week is 0–7); the fifth field is the day of the week; the day of the month is the third: did you mean \"0 0 25 * *\"?"),
        ("60 0 * * * *", true, "second value 60 is out of range (second is 0–59); the full minute is second 0: did you mean \"0 0 * * * *\"?"),
        ("0 9 * * 15", false, "day-of-week value 15 is out of range (day-of-week is 0–7); the fifth field is the day of the week; the day of the month is the third: did you mean \"0 9 15 * *\"?"),
        ("0 9 1 * 15", false, "day-of-week value 15 is out of range (day-of-week is 0–7); the fifth field is the day of the week; the day of the month is the third"),
        ("0 9 ? * 1,15", false, "day-of-week value 15 is out of range (day-of-week is 0–7); the fifth field is the day of the week; the day of the month is the third: did you mean \"0 9 1,15 * *\"?"),
        ("0 0 9 * * 20", true, "day-of-week value 20 is out of range (day-of-week is 0–7); the sixth field is the day of the week; the day of the month is the fourth: did you mean \"0 0 9 20 * *\"?"),
        ("0 */5 * * * *", false, "it has 6 fields, but cronhook reads 5 (minute hour day-of-month month day-of-week); a leading seconds field needs the request header Cronhook-Cron-Seconds: true; or, to fire at second 0, drop the seconds field: did you mean \"*/5 * * * *\"?"),
        ("0 0 * * * 2026", false, "it has 6 fields, but cronhook reads 5 (minute hour day-of-month month day-of-week); a leading seconds field needs the request header Cronhook-Cron-Seconds: true; the last field looks like a year, and cron has no year field: did you mean \"0 0 * * *\"?"),
        ("0 0 12 * * ? 2026", false, "it has 7 fields, but cronhook reads 5 (minute hour day-of-month month day-of-week); it looks like a Quartz expression (seconds first, a year last); cronhook has no year field: did you mean \"0 12 * * ?\"?"),
        ("5 0 12 * * ? 2026", false, "it has 7 fields, but cronhook reads 5 (minute hour day-of-month month day-of-week); it looks like a Quartz expression (seconds first, a year last); cronhook has no year field; drop the year and send Cronhook-Cron-Seconds: true"),
        ("*/5 * * * *", true, "it has 5 fields, but with Cronhook-Cron-Seconds: true cronhook reads 6 (second minute hour day-of-month month day-of-week); with the header the first field is the second: add one (e.g. 0) in front, or leave the header out"),
        ("*/0 * * * *", false, "minute field \"*/0\" is malformed: a step must be between 1 and 59, not 0; a step of 0 never moves on: for every minute write *"),
        ("0 0 1 13 *", false, "month value 13 is out of range (month is 1–12); the fourth field is the month, after the day of the month: did you mean \"0 0 13 1 *\"?"),
        ("0 0 12 25 *", false, "month value 25 is out of range (month is 1–12); the fourth field is the month, after the day of the month: did you mean \"0 0 25 12 *\"?"),
        ("0 24 * * *", false, "hour value 24 is out of range (hour is 0–23); midnight is hour 0: did you mean \"0 0 * * *\"?"),
        ("0 0 0 * *", false, "day-of-month value 0 is out of range (day-of-month is 1–31); days of the month count from 1; for the last day of the month write L"),
        ("0 ? * * *", false, "hour field \"?\" is malformed: \"?\" is not a number; ? (\"no specific value\", from Quartz) is only for the day-of-month and day-of-week fields; write * for every hour: did you mean \"0 * * * *\"?"),
        ("60 * * * *", false, "minute value 60 is out of range (minute is 0–59); the full hour is minute 0: did you mean \"0 * * * *\"?"),
        ("9:30 * * *", false, "it has 4 fields, but cronhook reads 5 (minute hour day-of-month month day-of-week); cron has no times of day like 9:30: the minute and the hour are two fields, minute first: did you mean \"30 9 * * *\"?"),
        ("@every 5m", false, "unknown nickname \"@every\" (cronhook accepts @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly); for a fixed interval, write a step in its field: did you mean \"*/5 * * * *\"?"),
        ("@every 2h", false, "unknown nickname \"@every\" (cronhook accepts @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly); for a fixed interval, write a step in its field: did you mean \"0 */2 * * *\"?"),
        ("@every 7m", false, "unknown nickname \"@every\" (cronhook accepts @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly); for a fixed interval, write a step in its field, e.g. */5 * * * * for every 5 minutes"),
        ("0 0 1 0 *", false, "month value 0 is out of range (month is 1–12); months count from 1 (January) to 12 (December)"),
        ("CRON_TZ=Europe/Berlin 0 9 * * 15", false, "day-of-week value 15 is out of range (day-of-week is 0–7); the fifth field is the day of the week; the day of the month is the third: did you mean \"CRON_TZ=Europe/Berlin 0 9 15 * *\"?"),
        ("0 0 * * 8#1", false, "day-of-week value 8 is out of range (day-of-week is 0–7); the fifth field is the day of the week; the day of the month is the third"),
    ];
    for (expr, seconds, detail) in cases {
        let err = CronSpec::parse(expr, *seconds).expect_err(expr);
        assert_eq!(
            err.to_string(),
            format!("invalid cron expression {expr:?}: {detail}"),
            "{expr:?}"
        );
    }
}

#[test]
fn every_suggested_expression_reads_and_no_suggestion_is_made_when_the_fix_is_unclear() {
    for (expr, seconds) in [
        ("0 9 * * 15", false),
        ("0 0 9 * * 20", true),
        ("0 */5 * * * *", false),
        ("0 0 12 * * ? 2026", false),
        ("0 0 12 25 *", false),
        ("0 24 * * *", false),
        ("0 ? * * *", false),
        ("9:30 * * *", false),
        ("@every 2h", false),
    ] {
        let message = CronSpec::parse(expr, seconds).unwrap_err().to_string();
        let meant = message
            .split("did you mean \"")
            .nth(1)
            .and_then(|m| m.strip_suffix("\"?"))
            .unwrap_or_else(|| panic!("{expr:?}: no suggestion in {message}"));
        // A suggestion is in the request's dialect (dropping the seconds
        // field only ever happens without the header).
        assert!(
            CronSpec::parse(meant, seconds).is_ok(),
            "{expr:?} suggests {meant:?}, which does not read"
        );
    }
    // Both day fields taken, or a weekday with #: explained, nothing guessed.
    for expr in ["0 9 1 * 15", "0 0 * * 8#1", "@every 7m"] {
        let message = CronSpec::parse(expr, false).unwrap_err().to_string();
        assert!(!message.contains("did you mean"), "{message}");
    }
}
