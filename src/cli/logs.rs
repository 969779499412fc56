//! `cronhook logs`: the server's log (`GET /v2/events`, §4.9), filtered,
//! oldest first; `--follow` keeps polling and prints entries as they come.
//!
//! The log is read newest first in pages. An entry's time is set when its
//! change is made, and changes made at the same moment may commit in
//! either order, so an entry can appear after a newer one. Following
//! therefore asks, on every poll, for everything from [`LOOKBACK`] before
//! the newest time shown, and prints only what it has not printed before:
//! entries have no id of their own, so an entry is known by its whole
//! JSON, remembered for as long as it is inside that window. Entries that
//! were in the log when following started are not printed again, beyond
//! the `--count` shown first.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::{print_json, table, text, time_field, CliResult, Client, Remote};
use crate::duration::parse_duration;

/// Most entries one page of `/v2/events` holds.
const PAGE: u32 = 1000;
/// Most pages one poll of `--follow` reads; a burst larger than this
/// between two polls is shown from its newest end.
const MAX_PAGES: usize = 10;
/// How far before the newest entry shown each poll reads again, for
/// entries that committed after a newer one (milliseconds).
const LOOKBACK: i64 = 5_000;

/// Show the server's log (newest last); --follow to keep watching.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Show the server's log: every state a message went through \
    (CREATED, ACTIVE, DELIVERED, RETRY, ERROR, FAILED, CANCELED, ...), oldest first. \
    Filters combine with AND. --follow keeps polling and prints new entries until Ctrl-C.

The destination filter is --destination (--url is the server's address).

Examples:
  cronhook logs --count 50
  cronhook logs --state FAILED
  cronhook logs --schedule weekly-report --follow
  cronhook logs --destination https://example.com/hook --json"
)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// Only entries in this state (e.g. DELIVERED, FAILED, RETRY; IN_PROGRESS).
    #[arg(long)]
    pub state: Option<String>,
    /// Only entries of messages to this destination URL.
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    /// Only entries of messages this schedule fired.
    #[arg(long, value_name = "ID")]
    pub schedule: Option<String>,
    /// Only entries of this message.
    #[arg(long, value_name = "ID")]
    pub message: Option<String>,
    /// Only entries of messages with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// How many of the latest entries to show first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=PAGE as i64))]
    pub count: u32,
    /// Keep polling and print new entries as they come, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// How often --follow polls (100ms to 60s).
    #[arg(long, default_value = "1s", value_parser = interval_arg)]
    pub interval: Duration,
}

fn interval_arg(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(60) {
        return Err("must be between 100ms and 60s".into());
    }
    Ok(d)
}

/// A query value, percent-encoded.
pub(super) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Args {
    fn filters(&self) -> String {
        let pairs = [
            ("state", &self.state),
            ("url", &self.destination),
            ("scheduleId", &self.schedule),
            ("messageId", &self.message),
            ("label", &self.label),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("&{k}={}", enc(v))))
            .collect()
    }
}

pub fn run(args: Args) -> CliResult<()> {
    let client = Client::new(&args.remote)?;
    let filters = args.filters();
    let json = args.remote.json;
    let first = client.get(&format!("/v2/events?count={}{filters}", args.count))?;
    if !args.follow {
        if json {
            print_json(&first);
        } else {
            let mut entries = events(&first);
            entries.reverse();
            print_table(&entries, true);
        }
        return Ok(());
    }
    let mut entries = events(&first);
    entries.reverse();
    let mut shown = Shown {
        floor: entries.iter().filter_map(entry_time).max(),
        ..Shown::default()
    };
    shown.print(entries, json, true);
    loop {
        std::thread::sleep(args.interval);
        let since = shown.newest.map(|t| t - LOOKBACK);
        let new = poll(&client, &filters, since)?;
        shown.print(new, json, false);
    }
}

fn entry_time(e: &Value) -> Option<i64> {
    e.get("time").and_then(Value::as_i64)
}

/// What `--follow` has printed.
#[derive(Default)]
struct Shown {
    /// The newest entry's time.
    newest: Option<i64>,
    /// Entries printed within `LOOKBACK` of `newest`, with their times.
    seen: HashMap<String, i64>,
    /// The newest time when following started: entries before it were
    /// there already (only the first `--count` of them are shown).
    floor: Option<i64>,
}

impl Shown {
    /// Prints the entries (oldest first) not shown before.
    fn print(&mut self, oldest_first: Vec<Value>, json: bool, first: bool) {
        let fresh = self.fresh(oldest_first, first);
        if json {
            for e in &fresh {
                println!("{e}");
            }
        } else {
            print_table(&fresh, first);
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }

    /// The entries not shown before, now counted as shown.
    fn fresh(&mut self, oldest_first: Vec<Value>, first: bool) -> Vec<Value> {
        let mut fresh = Vec::new();
        for e in oldest_first {
            let t = entry_time(&e).unwrap_or(0);
            if !first && self.floor.is_some_and(|floor| t < floor) {
                continue;
            }
            let key = e.to_string();
            if self.seen.contains_key(&key) {
                continue;
            }
            self.seen.insert(key, t);
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
            fresh.push(e);
        }
        if let Some(newest) = self.newest {
            self.seen.retain(|_, t| *t >= newest - LOOKBACK);
        }
        fresh
    }
}

/// Entries at or after `since`, oldest first, at most `MAX_PAGES` pages.
fn poll(client: &Client, filters: &str, since: Option<i64>) -> CliResult<Vec<Value>> {
    let from = since.map(|t| format!("&fromDate={t}")).unwrap_or_default();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let c = cursor
            .as_ref()
            .map(|c| format!("&cursor={}", enc(c)))
            .unwrap_or_default();
        let page = client.get(&format!("/v2/events?count={PAGE}{filters}{from}{c}"))?;
        all.extend(events(&page));
        cursor = page
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    all.reverse();
    Ok(all)
}

fn events(page: &Value) -> Vec<Value> {
    page.get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn print_table(oldest_first: &[Value], header: bool) {
    let rows: Vec<Vec<String>> = oldest_first
        .iter()
        .map(|e| {
            let detail = match (e.get("responseStatus"), e.get("error")) {
                (Some(status), Some(_)) => format!("{status}: {}", text(e, "error")),
                (None, Some(_)) => text(e, "error"),
                (Some(status), None) => status.to_string(),
                (None, None) => String::new(),
            };
            vec![
                time_field(e, "time"),
                text(e, "state"),
                text(e, "messageId"),
                text(e, "scheduleId"),
                text(e, "url"),
                detail,
            ]
        })
        .collect();
    let headers = [
        "TIME (UTC)",
        "STATE",
        "MESSAGE",
        "SCHEDULE",
        "URL",
        "DETAIL",
    ];
    if header {
        table::print(&headers, &rows, "No log entries.");
    } else if !rows.is_empty() {
        // Later polls: the same columns, without the header again. Widths
        // follow each batch; a stream cannot know the widest cell ahead.
        let text = table::render(&headers, &rows);
        print!("{}", text.split_once('\n').map_or("", |(_, rest)| rest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(time: i64, state: &str) -> Value {
        json!({"time": time, "messageId": "m", "state": state})
    }

    fn states(v: &[Value]) -> Vec<&str> {
        v.iter().map(|e| e["state"].as_str().unwrap()).collect()
    }

    #[test]
    fn overlapping_polls_show_each_entry_once() {
        let mut shown = Shown::default();
        let a = shown.fresh(vec![entry(1, "CREATED"), entry(2, "ACTIVE")], true);
        assert_eq!(states(&a), ["CREATED", "ACTIVE"]);
        let b = shown.fresh(
            vec![entry(2, "ACTIVE"), entry(2, "RETRY"), entry(3, "DELIVERED")],
            false,
        );
        assert_eq!(states(&b), ["RETRY", "DELIVERED"]);
    }

    #[test]
    fn an_entry_committed_after_a_newer_one_is_still_shown() {
        let mut shown = Shown::default();
        shown.fresh(vec![entry(10_000, "DELIVERED")], false);
        let late = shown.fresh(
            vec![entry(9_000, "ERROR"), entry(10_000, "DELIVERED")],
            false,
        );
        assert_eq!(states(&late), ["ERROR"]);
    }

    #[test]
    fn entries_from_before_the_start_are_not_shown_by_polls() {
        let mut shown = Shown {
            floor: Some(5),
            ..Shown::default()
        };
        shown.fresh(vec![entry(5, "DELIVERED")], true);
        let polled = shown.fresh(
            vec![
                entry(4, "CREATED"),
                entry(5, "DELIVERED"),
                entry(6, "CREATED"),
            ],
            false,
        );
        assert_eq!(polled.len(), 1);
        assert_eq!(polled[0]["time"], 6);
    }
}
