//! `cronhook schedules …`: list, get, create, pause, resume, delete and
//! trigger schedules of a running server, through `/v2/schedules` (§4.5)
//! and the console's `/cronhook/v1/schedules/{id}` (its cron in words and
//! next fire times) and `…/trigger`.

use http::Method;
use serde_json::{json, Value};

use super::client::Call;
use super::{
    forwarded_headers, print_json, read_body, table, text, time, time_field, CliResult, Client,
    Remote,
};

/// Manage the schedules of a running server.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Manage the schedules of a running cronhook through its API \
    (--url, or QSTASH_URL; the token from QSTASH_TOKEN).

Examples:
  cronhook schedules list
  cronhook schedules create https://example.com/report --cron \"0 9 * * 1\" --id weekly-report
  cronhook schedules get weekly-report
  cronhook schedules pause weekly-report
  cronhook schedules trigger weekly-report
  cronhook schedules list --json | jq -r '.[].scheduleId'"
)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List every schedule: id, cron, destination, state, next fire time.
    List,
    /// Show one schedule with its cron in words and its next fire times.
    Get { id: String },
    /// Create a schedule (or overwrite the one with the same --id).
    #[command(
        long_about = "Create a schedule that sends a request to DEST on every slot \
        of --cron. With --id, an existing schedule of that id is overwritten. Headers \
        other than Content-Type and Upstash-* are forwarded to DEST.

Examples:
  cronhook schedules create https://example.com/hook --cron \"*/5 * * * *\"
  cronhook schedules create https://example.com/report --cron \"CRON_TZ=Europe/Berlin 0 9 * * 1\" \\
      --id weekly-report --body '{\"kind\":\"weekly\"}' --header Content-Type:application/json \\
      --retries 5 --timeout 30s --label reports"
    )]
    Create(Box<CreateArgs>),
    /// Pause a schedule: its slots are skipped until it is resumed.
    Pause { id: String },
    /// Resume a paused schedule from its next slot.
    Resume { id: String },
    /// Delete a schedule; messages it already fired are still delivered.
    Delete { id: String },
    /// Run a schedule now, once, with its settings; its next slot does not move.
    Trigger { id: String },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Destination URL (or URL group name).
    pub destination: String,
    /// Cron expression (Upstash-Cron), e.g. "0 9 * * 1" or "CRON_TZ=Europe/Berlin 0 9 * * *".
    #[arg(long)]
    pub cron: String,
    /// Schedule id (Upstash-Schedule-Id); the server makes one when absent.
    #[arg(long)]
    pub id: Option<String>,
    /// Request body: the text, @FILE for a file, @- for standard input.
    #[arg(long)]
    pub body: Option<String>,
    /// A header NAME:VALUE for the destination; repeat for more.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// HTTP method of the delivery (default POST).
    #[arg(long)]
    pub method: Option<String>,
    /// Retries after a failed delivery (Upstash-Retries).
    #[arg(long)]
    pub retries: Option<u32>,
    /// Delay after each slot before the delivery, e.g. 10s, 5m (Upstash-Delay).
    #[arg(long)]
    pub delay: Option<String>,
    /// Per-attempt timeout, e.g. 30s (Upstash-Timeout).
    #[arg(long)]
    pub timeout: Option<String>,
    /// URL told of each outcome (Upstash-Callback).
    #[arg(long)]
    pub callback: Option<String>,
    /// URL told when a delivery has failed for good (Upstash-Failure-Callback).
    #[arg(long)]
    pub failure_callback: Option<String>,
    /// A label for logs and the DLQ; repeat for more.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Deliver through this queue (Upstash-Queue-Name).
    #[arg(long)]
    pub queue: Option<String>,
    /// The cron has a leading seconds field (Cronhook-Cron-Seconds: true).
    #[arg(long)]
    pub seconds: bool,
    /// No slot before this instant: Unix seconds or RFC 3339 (Cronhook-Start-At).
    #[arg(long, value_name = "WHEN")]
    pub start_at: Option<String>,
    /// After this instant the schedule has ended: Unix seconds or RFC 3339 (Cronhook-End-At).
    #[arg(long, value_name = "WHEN")]
    pub end_at: Option<String>,
}

pub fn run(args: Args) -> CliResult<()> {
    let client = Client::new(&args.remote)?;
    let json = args.remote.json;
    match args.action {
        Action::List => {
            let all = client.get("/v2/schedules")?;
            if json {
                print_json(&all);
            } else {
                list_table(&all);
            }
        }
        Action::Get { id } => {
            let s = client.get(&format!("/cronhook/v1/schedules/{id}"))?;
            if json {
                print_json(&s);
            } else {
                show(&s);
            }
        }
        Action::Create(create) => {
            let reply = client.call(
                Method::POST,
                &format!("/v2/schedules/{}", create.destination),
                create_call(&create)?,
            )?;
            if json {
                print_json(&reply);
            } else {
                println!("Created schedule {}", text(&reply, "scheduleId"));
            }
        }
        Action::Pause { id } => act(&client, json, &id, "pause", "Paused")?,
        Action::Resume { id } => act(&client, json, &id, "resume", "Resumed")?,
        Action::Delete { id } => {
            let reply = client.call(
                Method::DELETE,
                &format!("/v2/schedules/{id}"),
                Call::default(),
            )?;
            done(json, &reply, &id, "Deleted");
        }
        Action::Trigger { id } => {
            let reply = client.call(
                Method::POST,
                &format!("/cronhook/v1/schedules/{id}/trigger"),
                Call::default(),
            )?;
            if json {
                print_json(&reply);
            } else {
                println!(
                    "Triggered schedule {id}: message {}",
                    text(&reply, "messageId")
                );
            }
        }
    }
    Ok(())
}

/// Pause or resume (idempotent; an unknown id is the server's 404).
fn act(client: &Client, json: bool, id: &str, action: &str, said: &str) -> CliResult<()> {
    let reply = client.call(
        Method::POST,
        &format!("/v2/schedules/{id}/{action}"),
        Call::default(),
    )?;
    done(json, &reply, id, said);
    Ok(())
}

fn done(json: bool, reply: &Value, id: &str, said: &str) {
    if json {
        let empty = json!({});
        print_json(if reply.is_null() { &empty } else { reply });
    } else {
        println!("{said} schedule {id}");
    }
}

fn create_call(a: &CreateArgs) -> CliResult<Call> {
    let mut headers = forwarded_headers(&a.headers)?;
    headers.push(("Upstash-Cron".into(), a.cron.clone()));
    let settings = [
        ("Upstash-Schedule-Id", a.id.clone()),
        ("Upstash-Method", a.method.clone()),
        ("Upstash-Retries", a.retries.map(|r| r.to_string())),
        ("Upstash-Delay", a.delay.clone()),
        ("Upstash-Timeout", a.timeout.clone()),
        ("Upstash-Callback", a.callback.clone()),
        ("Upstash-Failure-Callback", a.failure_callback.clone()),
        ("Upstash-Queue-Name", a.queue.clone()),
        (
            "Upstash-Label",
            (!a.labels.is_empty()).then(|| a.labels.join(",")),
        ),
        ("Cronhook-Cron-Seconds", a.seconds.then(|| "true".into())),
        ("Cronhook-Start-At", a.start_at.clone()),
        ("Cronhook-End-At", a.end_at.clone()),
    ];
    headers.extend(
        settings
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    Ok(Call {
        headers,
        body: read_body(a.body.as_deref())?,
    })
}

fn list_table(all: &Value) {
    let rows: Vec<Vec<String>> = all
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            vec![
                text(s, "scheduleId"),
                text(s, "cron"),
                text(s, "destination"),
                text(s, "state"),
                time_field(s, "nextScheduleTime"),
            ]
        })
        .collect();
    table::print(
        &["ID", "CRON", "DESTINATION", "STATE", "NEXT (UTC)"],
        &rows,
        "No schedules.",
    );
}

/// One schedule as `name: value` lines, then its next fire times.
fn show(s: &Value) {
    let mut rows = vec![
        ("ID", text(s, "scheduleId")),
        ("Destination", text(s, "destination")),
        ("Cron", text(s, "cron")),
        ("In words", text(s, "description")),
        ("State", text(s, "state")),
        ("Method", text(s, "method")),
        ("Retries", text(s, "retries")),
        ("Created", time_field(s, "createdAt")),
        ("Last fired", time_field(s, "lastScheduleTime")),
    ];
    let optional = [
        ("Delay (s)", "delay"),
        ("Timeout (s)", "timeout"),
        ("Callback", "callback"),
        ("Failure callback", "failureCallback"),
        ("Queue", "queueName"),
        ("Body", "body"),
    ];
    for (name, key) in optional {
        if s.get(key).is_some() {
            rows.push((name, text(s, key)));
        }
    }
    if let Some(labels) = s.get("labels").and_then(Value::as_array) {
        let labels: Vec<&str> = labels.iter().filter_map(Value::as_str).collect();
        rows.push(("Labels", labels.join(", ")));
    }
    if let Some(headers) = s.get("header").and_then(Value::as_object) {
        for (k, v) in headers {
            let values: Vec<&str> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            rows.push(("Header", format!("{k}: {}", values.join(", "))));
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{:<width$}  {v}", format!("{k}:"), width = width + 1);
    }
    if let Some(next) = s.get("next").and_then(Value::as_array) {
        println!("Next fire times (UTC):");
        for t in next.iter().filter_map(Value::as_i64) {
            println!("  {}", time(t));
        }
    }
}
