//! `cronhook publish URL`: one message to a destination, as
//! `POST /v2/publish/{destination}` (§4.1) with the SDKs' headers.

use http::Method;

use super::client::Call;
use super::{forwarded_headers, print_json, read_body, text, CliResult, Client, Remote};

/// Publish one message to a URL (or URL group) through a running server.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Publish one message: the server delivers BODY to URL with retries, \
    as QStash's publish does. Headers other than Content-Type and Upstash-* are forwarded \
    to the destination.

Examples:
  cronhook publish https://example.com/hook --body 'hello'
  cronhook publish https://example.com/hook --body @payload.json --header Content-Type:application/json
  cronhook publish https://example.com/hook --delay 10m --retries 0
  echo '{\"a\":1}' | cronhook publish https://example.com/hook --body @- --json"
)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// Destination URL (or URL group name).
    pub destination: String,
    /// Request body: the text, @FILE for a file, @- for standard input.
    #[arg(long)]
    pub body: Option<String>,
    /// Deliver after this long, e.g. 30s, 10m, 2h (Upstash-Delay).
    #[arg(long)]
    pub delay: Option<String>,
    /// A header NAME:VALUE for the destination; repeat for more.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Retries after a failed delivery (Upstash-Retries).
    #[arg(long)]
    pub retries: Option<u32>,
    /// HTTP method of the delivery (default POST).
    #[arg(long)]
    pub method: Option<String>,
}

pub fn run(args: Args) -> CliResult<()> {
    let client = Client::new(&args.remote)?;
    let mut headers = forwarded_headers(&args.headers)?;
    let settings = [
        ("Upstash-Delay", args.delay.clone()),
        ("Upstash-Retries", args.retries.map(|r| r.to_string())),
        ("Upstash-Method", args.method.clone()),
    ];
    headers.extend(
        settings
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    let call = Call {
        headers,
        body: read_body(args.body.as_deref())?,
    };
    let reply = client.call(
        Method::POST,
        &format!("/v2/publish/{}", args.destination),
        call,
    )?;
    if args.remote.json {
        print_json(&reply);
    } else if let Some(each) = reply.as_array() {
        // A URL group: one message per endpoint.
        for m in each {
            println!(
                "Published message {} to {}",
                text(m, "messageId"),
                text(m, "url")
            );
        }
    } else {
        let dedup = if reply.get("deduplicated").and_then(|v| v.as_bool()) == Some(true) {
            " (deduplicated: an earlier message with this id)"
        } else {
            ""
        };
        println!(
            "Published message {} to {}{dedup}",
            text(&reply, "messageId"),
            args.destination
        );
    }
    Ok(())
}
