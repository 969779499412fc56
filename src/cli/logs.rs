//! `cronhook logs`: the server's log (`GET /v2/events`, §4.9), filtered,
//! oldest first; `--follow` keeps polling and prints entries as they come.
//!
//! The log is read newest first in pages. Following asks for everything
//! from the newest time already shown (inclusive, so nothing that shares
//! that millisecond is lost) and drops what it has printed before: entries
//! have no id of their own, so an entry is known by its whole JSON.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::{print_json, table, text, time_field, CliResult, Client, Remote};
use crate::duration::parse_duration;

/// Most entries one page of `/v2/events` holds.
const PAGE: u32 = 1000;
/// Most pages one poll of `--follow` reads; a burst larger than this
/// between two polls is shown from its newest end.
const MAX_PAGES: usize = 10;

/// Show the server's log (newest last); --follow to keep watching.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Show the server's log: every state a message went through \
    (CREATED, ACTIVE, DELIVERED, RETRY, ERROR, FAILED, CANCELLED, ...), oldest first. \
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
    let mut shown = Shown::default();
    let mut entries = events(&first);
    entries.reverse();
    shown.print(entries, json, true);
    loop {
        std::thread::sleep(args.interval);
        let new = poll(&client, &filters, shown.newest)?;
        shown.print(new, json, false);
    }
}

/// What `--follow` has printed: the newest time, and the entries at it.
#[derive(Default)]
struct Shown {
    newest: Option<i64>,
    at_newest: HashSet<String>,
}

impl Shown {
    /// Prints the entries (oldest first) not shown before.
    fn print(&mut self, oldest_first: Vec<Value>, json: bool, header: bool) {
        let mut fresh = Vec::new();
        for e in oldest_first {
            let t = e.get("time").and_then(Value::as_i64).unwrap_or(0);
            let key = e.to_string();
            match self.newest {
                Some(n) if t < n => continue,
                Some(n) if t == n && self.at_newest.contains(&key) => continue,
                Some(n) if t == n => {}
                _ => {
                    self.newest = Some(t);
                    self.at_newest.clear();
                }
            }
            self.at_newest.insert(key);
            fresh.push(e);
        }
        if json {
            for e in &fresh {
                println!("{e}");
            }
        } else {
            print_table(&fresh, header);
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
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
