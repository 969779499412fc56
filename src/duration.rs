//! Parsers for the two duration dialects cronhook meets on the wire.
//!
//! QStash clients send *Upstash-style* durations (`Upstash-Delay`, `Upstash-Timeout`,
//! the flow-control `period`; docs/qstash-wire.md §5.1), while destinations answer with
//! *Go-style* durations in rate-limit headers (§9.3). The dialects differ in their units
//! (`d` only in one, `us`/`ns` only in the other) and in strictness, so each has its own
//! entry point, but both share one scanner so that numbers, overflow and error
//! positions behave identically.

use std::fmt;
use std::time::Duration;

/// The largest duration either parser accepts: `i64::MAX` nanoseconds (about 292 years).
///
/// This is Go's `time.Duration` limit, so a Go-style value we accept is one Go would accept.
/// It also guarantees that every parsed duration fits an `i64` count of nanoseconds or
/// milliseconds (the form in which the store and chrono handle time), so callers never
/// have to think about overflow after a successful parse.
pub const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);

/// Which dialect a parse was attempted in; carried by [`DurationError`] so its message can
/// tell the client the form it should have used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationSyntax {
    /// [`parse_duration`]: `1d10h30m`, `1.5s`, `30`.
    Upstash,
    /// [`parse_go_duration`]: `6m5s`, `1.5h`.
    Go,
}

impl fmt::Display for DurationSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DurationSyntax::Upstash => {
                "<number><unit> pieces with units d, h, m, s, ms from largest to smallest \
                 (e.g. 50s, 1d10h30m, 1.5s) or a bare number of seconds (e.g. 30)"
            }
            DurationSyntax::Go => {
                "Go-style <number><unit> pieces with units h, m, s, ms, us (or µs), ns \
                 (e.g. 6m5s, 1.5h)"
            }
        })
    }
}

/// Why a duration was rejected.
///
/// The messages end up in 400 responses, so each is a single line that names the problem,
/// quotes the (trimmed, and if very long shortened) input with escapes, gives a 1-based
/// character position where one helps, and states the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing but whitespace.
    #[error("empty duration; accepted form: {syntax}")]
    Empty { syntax: DurationSyntax },
    /// A leading `-`: delays and timeouts cannot point into the past.
    #[error(
        "invalid duration {input:?}: negative durations are not allowed; accepted form: {syntax}"
    )]
    Negative {
        input: String,
        syntax: DurationSyntax,
    },
    /// A unit, sign or other character where a number should start (`h`, `1h 30m`).
    #[error(
        "invalid duration {input:?}: expected a number at position {pos}; accepted form: {syntax}"
    )]
    MissingNumber {
        input: String,
        pos: usize,
        syntax: DurationSyntax,
    },
    /// A number that is not `digits[.digits]` (`.`, `1.2.3s`).
    #[error(
        "invalid duration {input:?}: malformed number at position {pos}; accepted form: {syntax}"
    )]
    InvalidNumber {
        input: String,
        pos: usize,
        syntax: DurationSyntax,
    },
    /// A number with no unit where one is required (`1h30`, or any bare number but `0` in Go).
    #[error("invalid duration {input:?}: missing unit at position {pos}; accepted form: {syntax}")]
    MissingUnit {
        input: String,
        pos: usize,
        syntax: DurationSyntax,
    },
    /// A unit this dialect does not know (`5x`, `1d` in Go, `1us` in Upstash).
    #[error(
        "invalid duration {input:?}: unknown unit {unit:?} at position {pos}; \
         accepted form: {syntax}"
    )]
    UnknownUnit {
        input: String,
        unit: String,
        pos: usize,
        syntax: DurationSyntax,
    },
    /// Upstash style only: a unit repeated or smaller-before-larger (`1m1h`, `1s1s`), which is
    /// more likely a typo than an intended sum.
    #[error(
        "invalid duration {input:?}: unit {unit:?} at position {pos} is out of order \
         (units go from largest to smallest, each at most once); accepted form: {syntax}"
    )]
    UnitOrder {
        input: String,
        unit: String,
        pos: usize,
        syntax: DurationSyntax,
    },
    /// More than [`MAX_DURATION`].
    #[error(
        "invalid duration {input:?}: too large (the limit is about 292 years); \
         accepted form: {syntax}"
    )]
    Overflow {
        input: String,
        syntax: DurationSyntax,
    },
}

/// Parses an Upstash-style duration (`Upstash-Delay`, `Upstash-Timeout`; §5.1).
///
/// Accepted: `<number><unit>` pieces with units `d`, `h`, `m`, `s` and `ms`, combined from
/// largest to smallest with each unit at most once (`50s`, `1d10h30m`, `1h30m3s`, `1s500ms`),
/// or a bare number meaning seconds (`30`; the skill docs show bare numbers for timeouts).
/// Numbers may have a fraction (`1.5s`, `1.5h`) because the JS SDK formats a numeric
/// `timeout` without rounding and so sends values like `1.5s`. Surrounding whitespace is
/// ignored, since header values may carry it; units are case-sensitive, as in QStash's docs.
///
/// Rejected: empty input, a sign (`-5s` would be a delay into the past; `+5s` is not a form
/// any SDK produces), unknown units, units out of order, and anything above
/// [`MAX_DURATION`]. Fractions finer than a nanosecond are truncated.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    parse(s, DurationSyntax::Upstash)
}

/// A duration the way `parse_duration` reads it back, largest units first
/// (`14d`, `1h30m`, `500ms`); `0s` for zero.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parses a Go-style duration, as destinations put in rate-limit headers (§9.3).
///
/// Follows Go's `time.ParseDuration`, so that whatever a Go service (the usual source of these
/// headers) formats, we read: units `ns`, `us`, `µs` (and the Greek `μs`), `ms`, `s`, `m`, `h`;
/// pieces in any order, repeats summed (`6m5s`, `1.5h`, `1h15m30.918s`); an optional leading
/// `+`; and a bare `0`, the only number Go accepts without a unit. It differs from Go only in
/// trimming surrounding whitespace and rejecting negative values, which a
/// [`std::time::Duration`] cannot hold and which mean nothing as a wait.
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationError> {
    parse(s, DurationSyntax::Go)
}

/// A unit's length in nanoseconds and, for the Upstash ordering rule, its rank (smaller =
/// larger unit).
fn unit(syntax: DurationSyntax, name: &str) -> Option<(u128, u8)> {
    const NS: u128 = 1;
    const US: u128 = 1_000;
    const MS: u128 = 1_000_000;
    const S: u128 = 1_000_000_000;
    match (syntax, name) {
        (DurationSyntax::Upstash, "d") => Some((86_400 * S, 0)),
        (DurationSyntax::Upstash, "h") => Some((3_600 * S, 1)),
        (DurationSyntax::Upstash, "m") => Some((60 * S, 2)),
        (DurationSyntax::Upstash, "s") => Some((S, 3)),
        (DurationSyntax::Upstash, "ms") => Some((MS, 4)),
        (DurationSyntax::Go, "h") => Some((3_600 * S, 0)),
        (DurationSyntax::Go, "m") => Some((60 * S, 0)),
        (DurationSyntax::Go, "s") => Some((S, 0)),
        (DurationSyntax::Go, "ms") => Some((MS, 0)),
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, as Go accepts both.
        (DurationSyntax::Go, "us" | "\u{b5}s" | "\u{3bc}s") => Some((US, 0)),
        (DurationSyntax::Go, "ns") => Some((NS, 0)),
        _ => None,
    }
}

/// Inputs are echoed in error messages that go back to HTTP clients; a multi-kilobyte
/// header should not become a multi-kilobyte error body.
pub(crate) fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// 1-based character column of byte offset `byte` in `s`, because users count characters,
/// not UTF-8 bytes.
pub(crate) fn column(s: &str, byte: usize) -> usize {
    s.get(..byte).map_or(0, |head| head.chars().count()) + 1
}

/// Fraction digits beyond this many are dropped: 10^-18 of the largest unit (a day) is far
/// below a nanosecond, and the cap keeps the arithmetic inside `u128`.
const MAX_FRACTION_DIGITS: u32 = 18;

/// `digits[.digits]` (either side may be empty, not both), scanned exactly rather than via
/// `f64` so `0.1s` is exactly 100 ms and huge values are detected instead of rounded.
struct Number {
    /// Integer part; `None` if it does not fit a `u128` (certainly an overflow).
    int: Option<u128>,
    frac: u128,
    /// `10^(fraction digits kept)`.
    scale: u128,
}

enum NumberScan {
    Ok(Number, usize),
    /// No digits and no dot: something else starts here.
    Missing,
    /// A dot without digits around it.
    Malformed,
}

fn scan_number(b: &[u8], start: usize) -> NumberScan {
    let mut i = start;
    let mut int: Option<u128> = Some(0);
    let mut digits = 0usize;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        int = int
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u128::from(d - b'0')));
        digits += 1;
        i += 1;
    }
    let (mut frac, mut scale) = (0u128, 1u128);
    let mut dot = false;
    if b.get(i) == Some(&b'.') {
        dot = true;
        i += 1;
        let mut kept = 0;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if kept < MAX_FRACTION_DIGITS {
                frac = frac * 10 + u128::from(d - b'0');
                scale *= 10;
                kept += 1;
            }
            digits += 1;
            i += 1;
        }
    }
    match (digits, dot) {
        (0, false) => NumberScan::Missing,
        (0, true) => NumberScan::Malformed,
        _ => NumberScan::Ok(Number { int, frac, scale }, i),
    }
}

fn parse(raw: &str, syntax: DurationSyntax) -> Result<Duration, DurationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DurationError::Empty { syntax });
    }
    let input = || clip(s, 64);
    let b = s.as_bytes();
    let mut i = 0;
    match b[0] {
        b'-' => {
            return Err(DurationError::Negative {
                input: input(),
                syntax,
            })
        }
        b'+' if syntax == DurationSyntax::Go => i = 1,
        _ => {}
    }
    if syntax == DurationSyntax::Go && &s[i..] == "0" {
        return Ok(Duration::ZERO);
    }

    let overflow = || DurationError::Overflow {
        input: input(),
        syntax,
    };
    let limit = i64::MAX as u128;
    let mut total: u128 = 0;
    let mut last_rank: Option<u8> = None;
    while i < b.len() {
        let num_start = i;
        let (number, after_number) = match scan_number(b, i) {
            NumberScan::Ok(n, end) => (n, end),
            NumberScan::Missing => {
                return Err(DurationError::MissingNumber {
                    input: input(),
                    pos: column(s, i),
                    syntax,
                })
            }
            NumberScan::Malformed => {
                return Err(DurationError::InvalidNumber {
                    input: input(),
                    pos: column(s, i),
                    syntax,
                })
            }
        };
        i = after_number;
        if b.get(i) == Some(&b'.') {
            // A second dot, as in `1.2.3s`.
            return Err(DurationError::InvalidNumber {
                input: input(),
                pos: column(s, num_start),
                syntax,
            });
        }
        // Like Go, the unit is everything up to the next digit or dot; both are ASCII, so
        // the end is always a char boundary.
        let unit_start = i;
        while i < b.len() && !b[i].is_ascii_digit() && b[i] != b'.' {
            i += 1;
        }
        let unit_name = &s[unit_start..i];
        let (unit_ns, rank) = if unit_name.is_empty() {
            if syntax == DurationSyntax::Upstash && num_start == 0 && i == b.len() {
                // The whole input is one bare number: seconds.
                (1_000_000_000, 0)
            } else {
                return Err(DurationError::MissingUnit {
                    input: input(),
                    pos: column(s, i),
                    syntax,
                });
            }
        } else {
            unit(syntax, unit_name).ok_or_else(|| DurationError::UnknownUnit {
                input: input(),
                unit: clip(unit_name, 16),
                pos: column(s, unit_start),
                syntax,
            })?
        };
        if syntax == DurationSyntax::Upstash && !unit_name.is_empty() {
            if last_rank.is_some_and(|last| rank <= last) {
                return Err(DurationError::UnitOrder {
                    input: input(),
                    unit: unit_name.to_owned(),
                    pos: column(s, unit_start),
                    syntax,
                });
            }
            last_rank = Some(rank);
        }
        let whole = number
            .int
            .and_then(|v| v.checked_mul(unit_ns))
            .ok_or_else(overflow)?;
        // frac < 10^18 and unit_ns <= 8.64e13, so the product stays far below u128::MAX.
        let part = number.frac * unit_ns / number.scale;
        total = whole
            .checked_add(part)
            .and_then(|piece| total.checked_add(piece))
            .filter(|t| *t <= limit)
            .ok_or_else(overflow)?;
    }
    // `total <= limit < u64::MAX`, so the conversion cannot fail.
    Ok(Duration::from_nanos(
        u64::try_from(total).unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn durations_format_as_they_parse() {
        for text in ["14d", "10m", "30s", "1h30m", "500ms", "1d2h3m4s5ms", "0s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1;
    const MIN: u64 = 60;
    const HOUR: u64 = 3_600;
    const DAY: u64 = 86_400;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }
    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }
    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    /// The error's variant name, so tables can say what kind of rejection they expect
    /// without spelling out every field.
    fn kind(e: &DurationError) -> &'static str {
        match e {
            DurationError::Empty { .. } => "Empty",
            DurationError::Negative { .. } => "Negative",
            DurationError::MissingNumber { .. } => "MissingNumber",
            DurationError::InvalidNumber { .. } => "InvalidNumber",
            DurationError::MissingUnit { .. } => "MissingUnit",
            DurationError::UnknownUnit { .. } => "UnknownUnit",
            DurationError::UnitOrder { .. } => "UnitOrder",
            DurationError::Overflow { .. } => "Overflow",
        }
    }

    #[test]
    fn upstash_style_accepts() {
        let cases: &[(&str, Duration)] = &[
            // The examples in §5.1.
            ("50s", secs(50 * SEC)),
            ("1d10h30m", secs(DAY + 10 * HOUR + 30 * MIN)),
            ("1h30m3s", secs(HOUR + 30 * MIN + 3 * SEC)),
            ("5s", secs(5)),
            ("2m", secs(2 * MIN)),
            ("1h", secs(HOUR)),
            ("1d1h30m", secs(DAY + HOUR + 30 * MIN)),
            // A bare number means seconds (Upstash-Timeout: 30 in the skill docs).
            ("30", secs(30)),
            ("0", Duration::ZERO),
            ("1.5", ms(1_500)),
            // Fractions, as the JS SDK sends for numeric timeouts.
            ("1.5s", ms(1_500)),
            ("0.1s", ms(100)),
            ("1.5h", secs(90 * MIN)),
            (".5s", ms(500)),
            ("5.s", secs(5)),
            ("0.000000001s", ns(1)),
            ("0.0000000019s", ns(1)),
            // Milliseconds, alone and as the smallest piece.
            ("250ms", ms(250)),
            ("1s500ms", ms(1_500)),
            ("1m0s", secs(MIN)),
            ("0s", Duration::ZERO),
            // Units need not be normalised; skipping units is fine.
            ("90m", secs(90 * MIN)),
            ("1d5s", secs(DAY + 5)),
            ("007s", secs(7)),
            // Surrounding whitespace is ignored.
            ("  5s\t", secs(5)),
            // The exact upper limit.
            ("106751d23h47m16.854775807s", MAX_DURATION),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn upstash_style_rejects() {
        let cases: &[(&str, &str)] = &[
            ("", "Empty"),
            ("   ", "Empty"),
            ("-5s", "Negative"),
            ("-0", "Negative"),
            ("+5s", "MissingNumber"),
            ("s", "MissingNumber"),
            ("1h m", "UnknownUnit"),
            ("NaN", "MissingNumber"),
            (".", "InvalidNumber"),
            ("1.2.3s", "InvalidNumber"),
            ("1h.s", "InvalidNumber"),
            ("1h30", "MissingUnit"),
            ("5x", "UnknownUnit"),
            ("1us", "UnknownUnit"),
            ("1ns", "UnknownUnit"),
            ("1H", "UnknownUnit"),
            ("1e3s", "UnknownUnit"),
            ("1 s", "UnknownUnit"),
            ("1m1h", "UnitOrder"),
            ("1s1s", "UnitOrder"),
            ("1ms1s", "UnitOrder"),
            ("30s1m", "UnitOrder"),
            ("106751d23h47m16.854775808s", "Overflow"),
            ("99999999999d", "Overflow"),
            ("340282366920938463463374607431768211456s", "Overflow"),
        ];
        for (input, want) in cases {
            match parse_duration(input) {
                Err(e) => assert_eq!(kind(&e), *want, "input {input:?}: {e}"),
                Ok(d) => panic!("input {input:?} parsed as {d:?}, expected {want}"),
            }
        }
    }

    #[test]
    fn go_style_accepts() {
        let cases: &[(&str, Duration)] = &[
            // The examples in §9.3 and Go's documentation.
            ("6m5s", secs(6 * MIN + 5)),
            ("1.5h", secs(90 * MIN)),
            ("300ms", ms(300)),
            ("2h45m", secs(2 * HOUR + 45 * MIN)),
            (
                "1h15m30.918273645s",
                ns((HOUR + 15 * MIN + 30) * 1_000_000_000 + 918_273_645),
            ),
            // Every unit.
            ("1ns", ns(1)),
            ("1us", ns(1_000)),
            ("1\u{b5}s", ns(1_000)),
            ("1\u{3bc}s", ns(1_000)),
            ("1ms", ms(1)),
            ("1s", secs(1)),
            ("1m", secs(MIN)),
            ("1h", secs(HOUR)),
            // Go sums pieces in any order, repeats included.
            ("5s6m", secs(6 * MIN + 5)),
            ("1s1s", secs(2)),
            // Bare zero and an explicit plus sign, as Go allows.
            ("0", Duration::ZERO),
            ("+5s", secs(5)),
            ("+0", Duration::ZERO),
            (".5s", ms(500)),
            ("1.s", secs(1)),
            (" 6m5s ", secs(6 * MIN + 5)),
            // Go's exact limit.
            ("9223372036854775807ns", MAX_DURATION),
            ("2562047h", secs(2_562_047 * HOUR)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn go_style_rejects() {
        let cases: &[(&str, &str)] = &[
            ("", "Empty"),
            ("-5s", "Negative"),
            ("-0", "Negative"),
            ("5", "MissingUnit"),
            ("0.0", "MissingUnit"),
            ("1h30", "MissingUnit"),
            ("1d", "UnknownUnit"),
            ("1S", "UnknownUnit"),
            ("h", "MissingNumber"),
            ("++5s", "MissingNumber"),
            (".", "InvalidNumber"),
            ("1.2.3s", "InvalidNumber"),
            ("9223372036854775808ns", "Overflow"),
            ("2562048h", "Overflow"),
        ];
        for (input, want) in cases {
            match parse_go_duration(input) {
                Err(e) => assert_eq!(kind(&e), *want, "input {input:?}: {e}"),
                Ok(d) => panic!("input {input:?} parsed as {d:?}, expected {want}"),
            }
        }
    }

    #[test]
    fn error_messages_name_the_problem_and_the_accepted_form() {
        use DurationSyntax::{Go, Upstash};
        // (dialect, input, message up to "; accepted form: <the dialect's form>")
        #[rustfmt::skip]
        let table: &[(DurationSyntax, &str, &str)] = &[
            (Upstash, " ",         "empty duration"),
            (Upstash, "-5s",       r#"invalid duration "-5s": negative durations are not allowed"#),
            (Upstash, "1h30x",     r#"invalid duration "1h30x": unknown unit "x" at position 5"#),
            (Upstash, "1hh",       r#"invalid duration "1hh": unknown unit "hh" at position 2"#),
            (Upstash, "1h30",      r#"invalid duration "1h30": missing unit at position 5"#),
            (Upstash, "1.2.3s",    r#"invalid duration "1.2.3s": malformed number at position 1"#),
            (Upstash, "1m1h",      r#"invalid duration "1m1h": unit "h" at position 4 is out of order (units go from largest to smallest, each at most once)"#),
            (Go,      "ms",        r#"invalid duration "ms": expected a number at position 1"#),
            (Go,      "99999999h", r#"invalid duration "99999999h": too large (the limit is about 292 years)"#),
            // Positions count characters, not bytes.
            (Go,      "1µs2x",     r#"invalid duration "1µs2x": unknown unit "x" at position 5"#),
            // Control characters are escaped, keeping the message on one line.
            (Go,      "1\nx",      r#"invalid duration "1\nx": unknown unit "\nx" at position 2"#),
        ];
        for (syntax, input, want) in table {
            let result = match syntax {
                Upstash => parse_duration(input),
                Go => parse_go_duration(input),
            };
            let want = format!("{want}; accepted form: {syntax}");
            assert_eq!(result.unwrap_err().to_string(), want, "{input:?}");
        }
        assert_eq!(
            Upstash.to_string(),
            "<number><unit> pieces with units d, h, m, s, ms from largest to smallest \
             (e.g. 50s, 1d10h30m, 1.5s) or a bare number of seconds (e.g. 30)"
        );
        assert_eq!(
            Go.to_string(),
            "Go-style <number><unit> pieces with units h, m, s, ms, us (or µs), ns (e.g. 6m5s, 1.5h)"
        );
    }

    #[test]
    fn long_inputs_are_shortened_in_messages() {
        let long = format!("{}x", "1".repeat(500));
        let msg = parse_duration(&long).unwrap_err().to_string();
        assert!(msg.contains(&format!("\"{}…\"", "1".repeat(64))), "{msg}");
        assert!(msg.len() < 400, "{msg}");
    }

    proptest! {
        #[test]
        fn never_panics_and_errors_are_one_line(s in ".*") {
            for result in [parse_duration(&s), parse_go_duration(&s)] {
                match result {
                    Ok(d) => prop_assert!(d <= MAX_DURATION),
                    Err(e) => prop_assert!(!e.to_string().contains('\n')),
                }
            }
        }

        #[test]
        fn never_panics_on_duration_like_noise(s in "[-+0-9.dhmsunµ ]{0,24}") {
            for d in [parse_duration(&s), parse_go_duration(&s)].into_iter().flatten() {
                prop_assert!(d <= MAX_DURATION);
            }
        }

        #[test]
        fn upstash_pieces_sum(
            d in 0u64..1000, h in 0u64..24, m in 0u64..60, s in 0u64..60, milli in 0u64..1000,
        ) {
            let text = format!("{d}d{h}h{m}m{s}s{milli}ms");
            let want = Duration::from_secs(d * DAY + h * HOUR + m * MIN + s) + ms(milli);
            prop_assert_eq!(parse_duration(&text), Ok(want));
        }

        #[test]
        fn bare_numbers_and_seconds_agree(n in 0u64..1_000_000_000) {
            prop_assert_eq!(parse_duration(&n.to_string()), Ok(secs(n)));
            prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(secs(n)));
            prop_assert_eq!(parse_go_duration(&format!("{n}s")), Ok(secs(n)));
        }

        #[test]
        fn go_matches_std_debug_style_millis(n in 0u64..1_000_000_000_000) {
            prop_assert_eq!(parse_go_duration(&format!("{n}ms")), Ok(ms(n)));
        }
    }
}
