//! Tests of [`CronSpec`] through its API, one file per topic, sharing the helpers
//! below.

mod describe;
mod dialect;
mod dst;
mod fires;
mod properties;
mod transitions;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::CronSpec;

/// `"2026-03-08T07:00:00Z"` → Unix milliseconds.
fn ms(iso: &str) -> i64 {
    DateTime::parse_from_rfc3339(iso)
        .unwrap_or_else(|e| panic!("bad test instant {iso}: {e}"))
        .timestamp_millis()
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn spec(expr: &str, seconds: bool) -> CronSpec {
    CronSpec::parse(expr, seconds).unwrap_or_else(|e| panic!("{expr:?} should parse: {e}"))
}

fn upcoming_iso(expr: &str, seconds: bool, after: &str, n: usize) -> Vec<String> {
    spec(expr, seconds)
        .upcoming(ms(after), n)
        .into_iter()
        .map(iso)
        .collect()
}

fn tz(name: &str) -> Tz {
    name.parse().expect("known zone")
}

fn offset_at(tz: Tz, secs: i64) -> i32 {
    let utc = DateTime::from_timestamp(secs, 0)
        .expect("in range")
        .naive_utc();
    tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()
}

/// Every offset change of `tz` in `year`, as (UTC seconds, old offset, new offset).
fn transitions(tz: Tz, year: i32) -> Vec<(i64, i32, i32)> {
    let start = ms(&format!("{year}-01-01T00:00:00Z")) / 1000;
    let end = ms(&format!("{}-01-01T00:00:00Z", year + 1)) / 1000;
    let mut found = Vec::new();
    let mut x = start;
    while x < end {
        let (before, after) = (offset_at(tz, x), offset_at(tz, x + 3600));
        if before != after {
            let (mut lo, mut hi) = (x, x + 3600);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            found.push((hi, before, after));
        }
        x += 3600;
    }
    found
}
