//! `dst_notes`: what each kind of schedule is told about both transitions in four
//! zones, which fire times get a note, and that zones without DST get none.

use chrono::{LocalResult, NaiveDateTime};
use proptest::prelude::*;

use super::*;
use crate::cron::DstChange;

/// A local wall-clock time in `tz` as Unix ms: "2026-03-08 03:00", with " #1" or
/// " #2" to pick the first or second occurrence of a repeated time.
fn local(tz: Tz, text: &str) -> i64 {
    let (wall, pass) = match text.split_once(" #") {
        Some((wall, pass)) => (wall, Some(pass)),
        None => (text, None),
    };
    let wall = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M:%S"))
        .unwrap_or_else(|e| panic!("bad local time {text}: {e}"));
    let instant = match (tz.from_local_datetime(&wall), pass) {
        (LocalResult::Single(x), None) => x,
        (LocalResult::Ambiguous(first, _), Some("1")) => first,
        (LocalResult::Ambiguous(_, second), Some("2")) => second,
        (result, _) => panic!("{text} in {tz}: {result:?} does not fit the pass given"),
    };
    instant.timestamp_millis()
}

/// (expression, seconds header, fires after this local time, how many, and the
/// notes expected: (fire time, local; which of that year's transitions; text)).
/// Fire times not listed must get no note.
type NoteCase = (
    &'static str,
    bool,
    &'static str,
    usize,
    &'static [(&'static str, usize, &'static str)],
);

const NOTE_CASES: &[NoteCase] = &[
    // America/New_York, 2026: 03-08 02:00 EST -> 03:00 EDT; 11-01 02:00 EDT -> 01:00 EST.
    (
        "CRON_TZ=America/New_York 30 2 * * *",
        false,
        "2026-03-07 12:00",
        3,
        &[(
            "2026-03-08 03:00",
            0,
            "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day, so 02:30 does not exist: \
             the run fires once at the first instant after the gap, 03:00 (EDT).",
        )],
    ),
    (
        "CRON_TZ=America/New_York 0,30 2 * * *",
        false,
        "2026-03-07 12:00",
        2,
        &[(
            "2026-03-08 03:00",
            0,
            "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day, so 02:00 and 02:30 do \
             not exist: the run fires once at the first instant after the gap, 03:00 (EDT).",
        )],
    ),
    (
        "CRON_TZ=America/New_York 0 2,3 * * *",
        false,
        "2026-03-07 12:00",
        2,
        &[(
            "2026-03-08 03:00",
            0,
            "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day, so 02:00 does not exist: \
             the run fires once at the first instant after the gap, 03:00 (EDT), the same instant \
             as the 03:00 run.",
        )],
    ),
    (
        "CRON_TZ=America/New_York */20 30 2 * * *",
        true,
        "2026-03-07 12:00",
        2,
        &[(
            "2026-03-08 03:00",
            0,
            "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day, so the times from \
             02:30:00 to 02:30:40 do not exist: the run fires once at the first instant after the \
             gap, 03:00:00 (EDT).",
        )],
    ),
    (
        "CRON_TZ=America/New_York 30 1 * * *",
        false,
        "2026-10-31 12:00",
        2,
        &[(
            "2026-11-01 01:30 #1",
            1,
            "Clocks go back from 02:00 to 01:00 (EDT to EST) that day, so 01:30 happens twice: \
             the run fires once, at the first 01:30 (EDT).",
        )],
    ),
    (
        "CRON_TZ=America/New_York 0 9 * * *",
        false,
        "2026-10-31 00:00",
        3,
        &[(
            "2026-11-01 09:00",
            1,
            "Clocks go back from 02:00 to 01:00 (EDT to EST) that day; this run is not affected.",
        )],
    ),
    (
        "CRON_TZ=America/New_York */30 * * * *",
        false,
        "2026-03-08 01:00",
        4,
        &[
            (
                "2026-03-08 01:30",
                0,
                "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day and the 02:00 and \
                 02:30 runs are skipped; this run is not affected.",
            ),
            (
                "2026-03-08 03:00",
                0,
                "Clocks go forward from 02:00 to 03:00 (EST to EDT) before this run, so the 02:00 \
                 and 02:30 runs are skipped, not made up.",
            ),
            (
                "2026-03-08 03:30",
                0,
                "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day and the 02:00 and \
                 02:30 runs are skipped; this run is not affected.",
            ),
            (
                "2026-03-08 04:00",
                0,
                "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day and the 02:00 and \
                 02:30 runs are skipped; this run is not affected.",
            ),
        ],
    ),
    (
        "CRON_TZ=America/New_York */30 * * * *",
        false,
        "2026-11-01 00:45",
        5,
        &[
            (
                "2026-11-01 01:00 #1",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day, so the 01:00 and 01:30 \
                 runs happen twice: this is the first 01:00 (EDT).",
            ),
            (
                "2026-11-01 01:30 #1",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day, so the 01:00 and 01:30 \
                 runs happen twice: this is the first 01:30 (EDT).",
            ),
            (
                "2026-11-01 01:00 #2",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day, so the 01:00 and 01:30 \
                 runs happen twice: this is the second 01:00 (EST).",
            ),
            (
                "2026-11-01 01:30 #2",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day, so the 01:00 and 01:30 \
                 runs happen twice: this is the second 01:30 (EST).",
            ),
            (
                "2026-11-01 02:00",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day and the 01:00 and 01:30 \
                 runs happen twice; this run is not affected.",
            ),
        ],
    ),
    (
        "CRON_TZ=America/New_York */30 */2 * * *",
        false,
        "2026-11-01 00:15",
        2,
        &[
            (
                "2026-11-01 00:30",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day; this run is not affected.",
            ),
            (
                "2026-11-01 02:00",
                1,
                "Clocks go back from 02:00 to 01:00 (EDT to EST) that day; this run is not affected.",
            ),
        ],
    ),
    // America/New_York, 2027: 03-14 and 11-07.
    (
        "CRON_TZ=America/New_York 0 * * * *",
        false,
        "2027-03-14 00:30",
        2,
        &[
            (
                "2027-03-14 01:00",
                0,
                "Clocks go forward from 02:00 to 03:00 (EST to EDT) that day and the 02:00 run is \
                 skipped; this run is not affected.",
            ),
            (
                "2027-03-14 03:00",
                0,
                "Clocks go forward from 02:00 to 03:00 (EST to EDT) before this run, so the 02:00 \
                 run is skipped, not made up.",
            ),
        ],
    ),
    (
        "CRON_TZ=America/New_York 0 1 * * *",
        false,
        "2027-11-06 12:00",
        1,
        &[(
            "2027-11-07 01:00 #1",
            1,
            "Clocks go back from 02:00 to 01:00 (EDT to EST) that day, so 01:00 happens twice: \
             the run fires once, at the first 01:00 (EDT).",
        )],
    ),
    // Europe/Berlin, 2026: 03-29 02:00 CET -> 03:00 CEST; 10-25 03:00 CEST -> 02:00 CET.
    (
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        false,
        "2026-03-28 12:00",
        2,
        &[(
            "2026-03-29 03:00",
            0,
            "Clocks go forward from 02:00 to 03:00 (CET to CEST) that day, so 02:30 does not \
             exist: the run fires once at the first instant after the gap, 03:00 (CEST).",
        )],
    ),
    (
        "CRON_TZ=Europe/Berlin 30 2 * * *",
        false,
        "2026-10-24 12:00",
        2,
        &[(
            "2026-10-25 02:30 #1",
            1,
            "Clocks go back from 03:00 to 02:00 (CEST to CET) that day, so 02:30 happens twice: \
             the run fires once, at the first 02:30 (CEST).",
        )],
    ),
    (
        "CRON_TZ=Europe/Berlin */30 * * * *",
        false,
        "2026-10-25 02:15 #1",
        4,
        &[
            (
                "2026-10-25 02:30 #1",
                1,
                "Clocks go back from 03:00 to 02:00 (CEST to CET) that day, so the 02:00 and 02:30 \
                 runs happen twice: this is the first 02:30 (CEST).",
            ),
            (
                "2026-10-25 02:00 #2",
                1,
                "Clocks go back from 03:00 to 02:00 (CEST to CET) that day, so the 02:00 and 02:30 \
                 runs happen twice: this is the second 02:00 (CET).",
            ),
            (
                "2026-10-25 02:30 #2",
                1,
                "Clocks go back from 03:00 to 02:00 (CEST to CET) that day, so the 02:00 and 02:30 \
                 runs happen twice: this is the second 02:30 (CET).",
            ),
            (
                "2026-10-25 03:00",
                1,
                "Clocks go back from 03:00 to 02:00 (CEST to CET) that day and the 02:00 and 02:30 \
                 runs happen twice; this run is not affected.",
            ),
        ],
    ),
    // Europe/Berlin, 2027: 03-28 and 10-31.
    (
        "CRON_TZ=Europe/Berlin 15 2 * * *",
        false,
        "2027-03-27 12:00",
        2,
        &[(
            "2027-03-28 03:00",
            0,
            "Clocks go forward from 02:00 to 03:00 (CET to CEST) that day, so 02:15 does not \
             exist: the run fires once at the first instant after the gap, 03:00 (CEST).",
        )],
    ),
    (
        "CRON_TZ=Europe/Berlin 0 8 * * *",
        false,
        "2027-10-30 12:00",
        2,
        &[(
            "2027-10-31 08:00",
            1,
            "Clocks go back from 03:00 to 02:00 (CEST to CET) that day; this run is not affected.",
        )],
    ),
    // America/Santiago changes at midnight, 2026: 04-05 00:00 -03 -> 04-04 23:00 -04
    // (so the repeated hour is on 04-04); 09-06 00:00 -04 -> 01:00 -03.
    (
        "CRON_TZ=America/Santiago 30 23 * * *",
        false,
        "2026-04-03 12:00",
        3,
        &[(
            "2026-04-04 23:30 #1",
            0,
            "Clocks go back from 24:00 to 23:00 (UTC-03:00 to UTC-04:00) that day, so 23:30 \
             happens twice: the run fires once, at the first 23:30 (UTC-03:00).",
        )],
    ),
    (
        "CRON_TZ=America/Santiago 0 * * * *",
        false,
        "2026-04-04 22:30",
        3,
        &[
            (
                "2026-04-04 23:00 #1",
                0,
                "Clocks go back from 24:00 to 23:00 (UTC-03:00 to UTC-04:00) that day, so the \
                 23:00 run happens twice: this is the first 23:00 (UTC-03:00).",
            ),
            (
                "2026-04-04 23:00 #2",
                0,
                "Clocks go back from 24:00 to 23:00 (UTC-03:00 to UTC-04:00) that day, so the \
                 23:00 run happens twice: this is the second 23:00 (UTC-04:00).",
            ),
            // 2026-04-05 00:00 is the next day: no note.
        ],
    ),
    (
        "CRON_TZ=America/Santiago 0 0 * * *",
        false,
        "2026-09-05 12:00",
        2,
        &[(
            "2026-09-06 01:00",
            1,
            "Clocks go forward from 00:00 to 01:00 (UTC-04:00 to UTC-03:00) that day, so 00:00 \
             does not exist: the run fires once at the first instant after the gap, 01:00 \
             (UTC-03:00).",
        )],
    ),
    (
        "CRON_TZ=America/Santiago */30 * * * *",
        false,
        "2026-09-05 23:00",
        3,
        &[
            // 2026-09-05 23:30 is the day before: no note.
            (
                "2026-09-06 01:00",
                1,
                "Clocks go forward from 00:00 to 01:00 (UTC-04:00 to UTC-03:00) before this run, \
                 so the 00:00 and 00:30 runs are skipped, not made up.",
            ),
            (
                "2026-09-06 01:30",
                1,
                "Clocks go forward from 00:00 to 01:00 (UTC-04:00 to UTC-03:00) that day and the \
                 00:00 and 00:30 runs are skipped; this run is not affected.",
            ),
        ],
    ),
    // America/Santiago, 2027: 04-03 24:00 -> 23:00 and 09-05 00:00 -> 01:00.
    (
        "CRON_TZ=America/Santiago 0 0 * * *",
        false,
        "2027-04-02 12:00",
        3,
        &[(
            "2027-04-03 00:00",
            0,
            "Clocks go back from 24:00 to 23:00 (UTC-03:00 to UTC-04:00) that day; this run is \
             not affected.",
        )],
    ),
    // Australia/Lord_Howe shifts 30 minutes, 2026: 04-05 02:00 +11 -> 01:30 +10:30;
    // 10-04 02:00 +10:30 -> 02:30 +11.
    (
        "CRON_TZ=Australia/Lord_Howe 45 1 * * *",
        false,
        "2026-04-04 12:00",
        2,
        &[(
            "2026-04-05 01:45 #1",
            0,
            "Clocks go back from 02:00 to 01:30 (UTC+11:00 to UTC+10:30) that day, so 01:45 \
             happens twice: the run fires once, at the first 01:45 (UTC+11:00).",
        )],
    ),
    (
        "CRON_TZ=Australia/Lord_Howe */15 * * * *",
        false,
        "2026-04-05 01:15",
        5,
        &[
            (
                "2026-04-05 01:30 #1",
                0,
                "Clocks go back from 02:00 to 01:30 (UTC+11:00 to UTC+10:30) that day, so the \
                 01:30 and 01:45 runs happen twice: this is the first 01:30 (UTC+11:00).",
            ),
            (
                "2026-04-05 01:45 #1",
                0,
                "Clocks go back from 02:00 to 01:30 (UTC+11:00 to UTC+10:30) that day, so the \
                 01:30 and 01:45 runs happen twice: this is the first 01:45 (UTC+11:00).",
            ),
            (
                "2026-04-05 01:30 #2",
                0,
                "Clocks go back from 02:00 to 01:30 (UTC+11:00 to UTC+10:30) that day, so the \
                 01:30 and 01:45 runs happen twice: this is the second 01:30 (UTC+10:30).",
            ),
            (
                "2026-04-05 01:45 #2",
                0,
                "Clocks go back from 02:00 to 01:30 (UTC+11:00 to UTC+10:30) that day, so the \
                 01:30 and 01:45 runs happen twice: this is the second 01:45 (UTC+10:30).",
            ),
            (
                "2026-04-05 02:00",
                0,
                "Clocks go back from 02:00 to 01:30 (UTC+11:00 to UTC+10:30) that day and the \
                 01:30 and 01:45 runs happen twice; this run is not affected.",
            ),
        ],
    ),
    (
        "CRON_TZ=Australia/Lord_Howe 15 2 * * *",
        false,
        "2026-10-03 12:00",
        2,
        &[(
            "2026-10-04 02:30",
            1,
            "Clocks go forward from 02:00 to 02:30 (UTC+10:30 to UTC+11:00) that day, so 02:15 \
             does not exist: the run fires once at the first instant after the gap, 02:30 \
             (UTC+11:00).",
        )],
    ),
    (
        "CRON_TZ=Australia/Lord_Howe */15 * * * *",
        false,
        "2026-10-04 01:30",
        2,
        &[
            (
                "2026-10-04 01:45",
                1,
                "Clocks go forward from 02:00 to 02:30 (UTC+10:30 to UTC+11:00) that day and the \
                 02:00 and 02:15 runs are skipped; this run is not affected.",
            ),
            (
                "2026-10-04 02:30",
                1,
                "Clocks go forward from 02:00 to 02:30 (UTC+10:30 to UTC+11:00) before this run, \
                 so the 02:00 and 02:15 runs are skipped, not made up.",
            ),
        ],
    ),
    // Australia/Lord_Howe, 2027: 04-04 and 10-03.
    (
        "CRON_TZ=Australia/Lord_Howe 0 2 * * *",
        false,
        "2027-10-02 12:00",
        2,
        &[(
            "2027-10-03 02:30",
            1,
            "Clocks go forward from 02:00 to 02:30 (UTC+10:30 to UTC+11:00) that day, so 02:00 \
             does not exist: the run fires once at the first instant after the gap, 02:30 \
             (UTC+11:00).",
        )],
    ),
    // Days without a transition.
    (
        "CRON_TZ=America/New_York 0 9 * * *",
        false,
        "2026-03-09 00:00",
        5,
        &[],
    ),
    (
        "CRON_TZ=Europe/Berlin */30 * * * *",
        false,
        "2026-10-26 00:00",
        48,
        &[],
    ),
];

#[test]
fn notes_say_what_the_policy_does_at_both_transitions_in_four_zones() {
    for (expr, seconds, after, n, expected) in NOTE_CASES {
        let s = spec(expr, *seconds);
        let zone = s.timezone();
        let times = s.upcoming(local(zone, after), *n);
        assert_eq!(times.len(), *n, "{expr}");
        let notes = s.dst_notes(&times);
        let got: Vec<(String, &str)> = notes
            .iter()
            .map(|note| (iso(note.slot), note.text.as_str()))
            .collect();
        let want: Vec<(String, &str)> = expected
            .iter()
            .map(|(slot, _, text)| (iso(local(zone, slot)), *text))
            .collect();
        assert_eq!(got, want, "{expr} after {after}");
        for (note, (slot, which, _)) in notes.iter().zip(expected.iter()) {
            let year: i32 = slot[..4].parse().expect("a year");
            let (at, before, after) = transitions(zone, year)[*which];
            assert_eq!(note.change_at, at * 1000, "{expr} {slot}");
            assert_eq!(
                (note.offset_before, note.offset_after),
                (before, after),
                "{expr} {slot}"
            );
            let kind = if after > before {
                DstChange::Forward
            } else {
                DstChange::Back
            };
            assert_eq!(note.kind, kind, "{expr} {slot}");
        }
    }
}

#[test]
fn zones_without_transitions_get_no_notes() {
    // Every fire around New York's, Berlin's and Lord Howe's 2026 changes.
    let windows = [
        ("2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
        ("2026-10-24T00:00:00Z", "2026-11-03T00:00:00Z"),
        ("2026-04-03T00:00:00Z", "2026-04-07T00:00:00Z"),
    ];
    for zone in [
        "",
        "CRON_TZ=UTC ",
        "CRON_TZ=Etc/GMT-5 ",
        "CRON_TZ=Asia/Kolkata ",
    ] {
        for expr in ["*/30 * * * *", "30 2 * * *", "0 1 * * *"] {
            let s = spec(&format!("{zone}{expr}"), false);
            for (from, to) in windows {
                let times: Vec<i64> = s
                    .upcoming(ms(from), 500)
                    .into_iter()
                    .filter(|&t| t < ms(to))
                    .collect();
                assert!(!times.is_empty());
                assert_eq!(s.dst_notes(&times), Vec::new(), "{zone}{expr} {from}");
            }
        }
    }
}

#[test]
fn notes_follow_the_order_of_the_times_given() {
    let s = spec("CRON_TZ=America/New_York 30 2 * * *", false);
    assert_eq!(s.dst_notes(&[]), Vec::new());
    let catch_up = local(tz("America/New_York"), "2026-03-08 03:00");
    let plain = local(tz("America/New_York"), "2026-03-09 02:30");
    let notes = s.dst_notes(&[plain, catch_up, plain, catch_up]);
    let slots: Vec<i64> = notes.iter().map(|n| n.slot).collect();
    assert_eq!(slots, [catch_up, catch_up]);
    assert_eq!(notes[0], notes[1]);
    // Times outside chrono's range are skipped, not a panic.
    assert_eq!(s.dst_notes(&[i64::MIN, i64::MAX]), Vec::new());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A fire time has a note exactly when its local day contains (part of) a
    /// stretch of local time that a transition skips or repeats.
    #[test]
    fn a_note_exactly_when_the_local_day_has_a_transition(
        zone in prop::sample::select(&["America/New_York", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"][..]),
        expr in prop::sample::select(&["0 0 * * *", "30 2 * * *", "0 */3 * * *", "45 23 * * *", "*/20 1-3 * * *"][..]),
        change in 0usize..2,
        shift_hours in -40i64..40,
    ) {
        let tz = tz(zone);
        let (at, before, after) = transitions(tz, 2026)[change];
        let s = spec(&format!("CRON_TZ={zone} {expr}"), false);
        let times = s.upcoming((at + shift_hours * 3600) * 1000, 6);
        let notes = s.dst_notes(&times);
        let wall = |secs: i64| DateTime::from_timestamp(secs, 0).expect("in range").naive_utc();
        let (a, b) = (wall(at + i64::from(before)), wall(at + i64::from(after)));
        let (start, end) = (a.min(b), a.max(b) - chrono::TimeDelta::seconds(1));
        for &t in &times {
            let day = DateTime::from_timestamp_millis(t).expect("in range").with_timezone(&tz).date_naive();
            let expected = start.date() <= day && day <= end.date();
            let got: Vec<&crate::cron::DstNote> = notes.iter().filter(|n| n.slot == t).collect();
            prop_assert_eq!(got.len(), usize::from(expected), "{} {} at {}", zone, expr, iso(t));
            for note in got {
                prop_assert_eq!(note.change_at, at * 1000);
                prop_assert!(note.text.starts_with("Clocks go "), "{}", note.text);
                prop_assert!(note.text.ends_with('.'), "{}", note.text);
            }
        }
    }
}
