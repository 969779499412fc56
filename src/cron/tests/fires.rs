//! Fire search away from DST: patterns that never fire, millisecond and extreme
//! inputs, and the cost of `last_at_or_before` over a long window.

use super::*;

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

#[test]
fn a_window_keeps_only_the_slots_inside_it_both_ends_included() {
    use crate::cron::Window;
    let every_second = spec("* * * * * *", true);
    let t0 = ms("2026-01-01T00:00:00Z");
    let bounded = every_second.clone().within(Window {
        start: Some(t0 + 3_000),
        end: Some(t0 + 6_000),
    });
    assert_eq!(
        bounded.upcoming(t0, 10),
        vec![t0 + 3_000, t0 + 4_000, t0 + 5_000, t0 + 6_000],
        "the first slot is the first at or after the start; the end's own slot fires"
    );
    assert_eq!(
        bounded.next_after(t0 + 6_000),
        None,
        "nothing after the end"
    );
    assert_eq!(
        bounded.last_at_or_before(t0 + 60_000, t0),
        Some(t0 + 6_000),
        "the latest slot is the end's"
    );
    assert_eq!(bounded.last_at_or_before(t0 + 2_000, i64::MIN), None);
    // A start between slots: the first slot after it.
    let mid = every_second.within(Window {
        start: Some(t0 + 3_500),
        end: None,
    });
    assert_eq!(mid.next_after(t0), Some(t0 + 4_000));
}
