//! The DST policy, case by case in four zones and against a brute-force reference
//! around every 2026 transition.

use chrono::NaiveDateTime;

use super::*;

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
