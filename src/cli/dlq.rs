//! `cronhook dlq …`: the dead-letter queue of a running server (§4.8):
//! list it, retry entries (each published again as a new message) and
//! delete them, by id.

use http::Method;
use serde_json::{json, Value};

use super::client::Call;
use super::{print_json, table, text, time_field, CliError, CliResult, Client, Remote};

/// List, retry and delete dead-lettered messages.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "The dead-letter queue: messages whose delivery failed for good. \
    Retrying publishes an entry again as a new message (and takes it off the DLQ).

Examples:
  cronhook dlq list
  cronhook dlq retry 1725323658779-0
  cronhook dlq delete 1725323658779-0 1725323658779-1
  cronhook dlq list --json | jq -r '.messages[].dlqId'"
)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List dead-lettered messages, newest first.
    List {
        /// At most this many (the server's page is at most 100).
        #[arg(long, default_value_t = 100)]
        count: u32,
        /// Continue after a previous page (its cursor).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Publish entries again as new messages; each leaves the DLQ.
    Retry {
        #[arg(required = true, value_name = "DLQ_ID")]
        ids: Vec<String>,
    },
    /// Delete entries.
    Delete {
        #[arg(required = true, value_name = "DLQ_ID")]
        ids: Vec<String>,
    },
}

pub fn run(args: Args) -> CliResult<()> {
    let client = Client::new(&args.remote)?;
    let json = args.remote.json;
    match args.action {
        Action::List { count, cursor } => {
            let mut path = format!("/v2/dlq?count={count}");
            if let Some(c) = cursor {
                path.push_str(&format!("&cursor={}", super::logs::enc(&c)));
            }
            let page = client.get(&path)?;
            if json {
                print_json(&page);
            } else {
                list_table(&page);
            }
            Ok(())
        }
        Action::Retry { ids } => each(json, &ids, |id| {
            let reply = client.call(
                Method::POST,
                &format!("/v2/dlq/retry/{id}"),
                Call::default(),
            )?;
            let said = format!("Retried {id}: new message {}", text(&reply, "messageId"));
            Ok((
                json!({"dlqId": id, "messageId": reply.get("messageId")}),
                said,
            ))
        }),
        Action::Delete { ids } => each(json, &ids, |id| {
            client.call(Method::DELETE, &format!("/v2/dlq/{id}"), Call::default())?;
            Ok((
                json!({"dlqId": id, "deleted": true}),
                format!("Deleted {id}"),
            ))
        }),
    }
}

/// Acts on every id in turn, so that one unknown id does not hold up the
/// rest; each is reported, and any failure makes the exit code non-zero.
fn each(
    json: bool,
    ids: &[String],
    mut act: impl FnMut(&str) -> CliResult<(Value, String)>,
) -> CliResult<()> {
    let mut failed = Vec::new();
    for id in ids {
        match act(id) {
            Ok((v, said)) => {
                if json {
                    println!("{v}");
                } else {
                    println!("{said}");
                }
            }
            Err(e @ CliError::Unreachable { .. }) => return Err(e),
            Err(e) => {
                eprintln!("cronhook: {id}: {e}");
                failed.push(id.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Local(format!(
            "{} of {} failed: {}",
            failed.len(),
            ids.len(),
            failed.join(", ")
        )))
    }
}

fn list_table(page: &Value) {
    let rows: Vec<Vec<String>> = page
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            vec![
                text(m, "dlqId"),
                text(m, "messageId"),
                text(m, "url"),
                text(m, "responseStatus"),
                time_field(m, "createdAt"),
                text(m, "scheduleId"),
            ]
        })
        .collect();
    table::print(
        &[
            "DLQ ID",
            "MESSAGE",
            "URL",
            "STATUS",
            "CREATED (UTC)",
            "SCHEDULE",
        ],
        &rows,
        "The DLQ is empty.",
    );
    if let Some(c) = page.get("cursor").and_then(Value::as_str) {
        eprintln!("More: cronhook dlq list --cursor {c}");
    }
}
