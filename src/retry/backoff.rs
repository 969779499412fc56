//! QStash's default exponential backoff, used when neither the response nor the
//! message says how long to wait.

use std::time::Duration;

use super::MAX_RETRY_DELAY;

/// Default backoff before the next attempt (§9.1): `min(86400, e^(2.5·n))` seconds with
/// `n = retried + 1`, where `retried` is the number of retries already made (0 after the
/// first failed attempt, giving 12.18 s; then 2 m 28 s, 30 m 8 s, 6 h 7 m 6 s, and 24 h from
/// the fifth retry on).
///
/// The exponent is 2.5, not the 2 that older QStash pages state, because the documented
/// table only matches 2.5 (§12 item 6).
///
/// `scale` multiplies the result so that a developer can watch retries happen in seconds
/// instead of hours; 1.0 is QStash's behaviour. A NaN, infinite or negative `scale` is a
/// misconfiguration and is treated as 1.0 rather than, say, retrying in a tight loop. The
/// scaled result is still capped at [`MAX_RETRY_DELAY`], the longest wait QStash ever uses.
pub fn default_backoff(retried: u32, scale: f64) -> Duration {
    let n = f64::from(retried) + 1.0;
    let base = (2.5 * n).exp().min(MAX_RETRY_DELAY.as_secs_f64());
    let scale = if scale.is_finite() && scale >= 0.0 {
        scale
    } else {
        1.0
    };
    clamp_secs(base * scale)
}

/// Converts seconds to a [`Duration`] in `[0, MAX_RETRY_DELAY]`, mapping NaN and anything
/// not positive (including `-0.0`) to zero; `Duration::from_secs_f64` would panic on those.
fn clamp_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else if secs >= MAX_RETRY_DELAY.as_secs_f64() {
        MAX_RETRY_DELAY
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole seconds (truncated) in the style of the §9.1 table: `6 h 7 m 6 s`, `24 h`.
    fn human(d: Duration) -> String {
        let s = d.as_secs();
        let parts = [(s / 3600, "h"), (s / 60 % 60, "m"), (s % 60, "s")];
        let text: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, unit)| format!("{n} {unit}"))
            .collect();
        if text.is_empty() {
            "0 s".to_owned()
        } else {
            text.join(" ")
        }
    }

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    #[test]
    fn default_backoff_follows_the_documented_table() {
        // (retries already made, wait before the next attempt); n = retried + 1.
        let table: &[(u32, &str)] = &[
            (0, "12 s"),
            (1, "2 m 28 s"),
            (2, "30 m 8 s"),
            (3, "6 h 7 m 6 s"),
            (4, "24 h"),
            (5, "24 h"),
            (1_000, "24 h"),
            (u32::MAX, "24 h"),
        ];
        for (retried, want) in table {
            assert_eq!(
                human(default_backoff(*retried, 1.0)),
                *want,
                "retried = {retried}"
            );
        }
        assert_eq!(
            default_backoff(0, 1.0).as_millis(),
            12_182,
            "e^2.5 s, to the millisecond"
        );
    }

    #[test]
    fn default_backoff_scale() {
        // (retried, scale, expected wait)
        let table: &[(u32, f64, Duration)] = &[
            (0, 1.0, ms(12_182)),
            (0, 0.001, ms(12)),
            (1, 0.01, ms(1_484)),
            (0, 0.0, Duration::ZERO),
            (3, 0.0, Duration::ZERO),
            // Scaling up is allowed but never beyond the one-day cap.
            (0, 2.0, ms(24_364)),
            (3, 10.0, MAX_RETRY_DELAY),
            (3, f64::MAX, MAX_RETRY_DELAY),
            // Nonsense scales fall back to QStash's own timing.
            (0, f64::NAN, ms(12_182)),
            (0, f64::INFINITY, ms(12_182)),
            (0, f64::NEG_INFINITY, ms(12_182)),
            (0, -1.0, ms(12_182)),
            (0, -0.0, Duration::ZERO),
            (0, f64::MIN_POSITIVE, Duration::ZERO),
        ];
        for (retried, scale, want) in table {
            let got = default_backoff(*retried, *scale);
            assert_eq!(
                got.as_millis(),
                want.as_millis(),
                "retried = {retried}, scale = {scale}"
            );
        }
    }

    #[test]
    fn default_backoff_never_shrinks_as_retries_grow() {
        let mut previous = Duration::ZERO;
        for retried in 0..64 {
            let wait = default_backoff(retried, 1.0);
            assert!(
                wait >= previous && wait <= MAX_RETRY_DELAY,
                "retried = {retried}"
            );
            previous = wait;
        }
    }
}
