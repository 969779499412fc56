//! `cronhook cron EXPR`: what an expression means, without a server. It is
//! the console's cron preview ([`cron_preview_at`]): the same words, the
//! same fire times, the same DST notes and the same error texts as
//! `GET /cronhook/v1/cron` and a schedule create.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{print_json, CliError, CliResult};
use crate::api::console::cron_preview_json;
use crate::service::{cron_preview_at, CronPreview, MAX_PREVIEW};

/// Show a cron expression in words and its next fire times (offline).
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Show a cron expression in words and its next fire times, in the \
    schedule's zone with the UTC offset. Fire times on a day the zone's clocks change are \
    flagged with what cronhook's DST policy does there. Needs no server: the expression is \
    checked exactly as Upstash-Cron is on schedule create, with the same error text.

Examples:
  cronhook cron \"*/15 9-17 * * 1-5\"
  cronhook cron \"30 2 * * *\" --tz Europe/Berlin --from 2027-03-26T00:00:00Z --count 4
  cronhook cron \"CRON_TZ=America/New_York 0 9 * * *\"
  cronhook cron \"*/10 * * * * *\" --seconds --json"
)]
pub struct Args {
    /// The expression: five fields (minute hour day-of-month month
    /// day-of-week), optionally prefixed with CRON_TZ=ZONE.
    pub expr: String,

    /// The zone to read the fields in (an IANA name such as
    /// Europe/Berlin); the same as a CRON_TZ= prefix. Default UTC.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    /// How many fire times to show.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=MAX_PREVIEW as i64))]
    pub count: u16,

    /// The first field is seconds (as the header Cronhook-Cron-Seconds: true).
    #[arg(long)]
    pub seconds: bool,

    /// Show fire times after this instant (RFC 3339, e.g.
    /// 2027-03-26T00:00:00Z) instead of after now.
    #[arg(long, value_name = "TIME", value_parser = instant_arg)]
    pub from: Option<DateTime<Utc>>,

    /// Print the preview as JSON (the object GET /cronhook/v1/cron answers).
    #[arg(long)]
    pub json: bool,
}

fn instant_arg(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time such as 2027-03-26T00:00:00Z ({e})"))
}

pub fn run(args: Args) -> CliResult<()> {
    let expr = with_zone(&args.expr, args.tz.as_deref())?;
    let after = args.from.unwrap_or_else(Utc::now).timestamp_millis();
    let preview = cron_preview_at(&expr, args.seconds, after, usize::from(args.count))
        .map_err(|e| CliError::Local(e.to_string()))?;
    if args.json {
        print_json(&cron_preview_json(&preview));
    } else {
        print!("{}", render(&preview, args.seconds));
    }
    Ok(())
}

/// `--tz ZONE` as the `CRON_TZ=` prefix the API reads; an expression that
/// names its zone already must not get a second one.
fn with_zone(expr: &str, tz: Option<&str>) -> CliResult<String> {
    let Some(tz) = tz else {
        return Ok(expr.to_owned());
    };
    let trimmed = expr.trim_start();
    if trimmed.starts_with("CRON_TZ=") || trimmed.starts_with("TZ=") {
        return Err(CliError::Local(format!(
            "--tz {tz}: the expression {expr:?} names its zone already; give one or the other"
        )));
    }
    Ok(format!("CRON_TZ={} {trimmed}", tz.trim()))
}

/// The preview for people: the words, then one line per fire time (local
/// time with offset and abbreviation, and UTC), each DST note under the
/// time it is about.
fn render(p: &CronPreview, seconds: bool) -> String {
    let tz: Tz = p.timezone.parse().unwrap_or(Tz::UTC);
    let clock = if seconds { "%H:%M:%S" } else { "%H:%M" };
    let mut out = format!("{}\n{}\n\n", p.expression, p.description);
    if p.next.is_empty() {
        out.push_str("No fire times left.\n");
        return out;
    }
    out.push_str(&format!(
        "Next {} fire times in {}:\n",
        p.next.len(),
        p.timezone
    ));
    for &slot in &p.next {
        let Some(utc) = DateTime::from_timestamp_millis(slot) else {
            continue;
        };
        let local = utc.with_timezone(&tz);
        let notes: Vec<_> = p.notes.iter().filter(|n| n.slot == slot).collect();
        let flag = if notes.is_empty() { "" } else { "  DST" };
        out.push_str(&format!(
            "  {}  {:<6} = {} UTC{flag}\n",
            local.format(&format!("%a %Y-%m-%d {clock} %:z")),
            local.format("%Z").to_string(),
            utc.format(&format!("%Y-%m-%d {clock}")),
        ));
        for n in notes {
            out.push_str(&format!("      {}\n", n.text));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_flag_becomes_the_prefix_and_is_not_given_twice() {
        assert_eq!(
            with_zone("0 9 * * *", Some("Europe/Berlin")).unwrap(),
            "CRON_TZ=Europe/Berlin 0 9 * * *"
        );
        assert_eq!(with_zone("0 9 * * *", None).unwrap(), "0 9 * * *");
        assert!(with_zone("CRON_TZ=UTC 0 9 * * *", Some("Europe/Berlin")).is_err());
    }

    #[test]
    fn a_fire_time_on_a_change_day_is_flagged_with_the_note() {
        // 2027-03-28 is Berlin's spring-forward day; 02:30 does not exist.
        let from = instant_arg("2027-03-27T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        let p = cron_preview_at("CRON_TZ=Europe/Berlin 30 2 * * *", false, from, 2).unwrap();
        let text = render(&p, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Sat 2027-03-27 02:30 +01:00  CET")),
            "{text}"
        );
        let dst = lines.iter().position(|l| l.ends_with("DST")).expect(&text);
        assert!(
            lines[dst].contains("2027-03-28 03:00 +02:00  CEST"),
            "{text}"
        );
        assert!(lines[dst + 1].contains("forward"), "{text}");
    }
}
