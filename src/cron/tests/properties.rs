//! Properties over random inputs: parsing never panics, and successive fires agree
//! with `last_at_or_before` and the wall clock.

use proptest::prelude::*;

use super::*;

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
