//! The client side of the `cronhook` command: subcommands that talk to a
//! running server through its HTTP API (`schedules`, `publish`, `dlq`,
//! `logs`, `backup`) and one that needs no server (`cron`).
//!
//! The CLI is a client like the SDKs: it sends the same requests they do
//! and shows what the server answers, so it can never disagree with the
//! API. People get aligned tables and sentences; `--json` prints the
//! server's JSON unchanged, for scripts. A failure exits non-zero with the
//! server's `{"error"}` text (see [`CliError`] for the codes).

mod apply;
mod backup;
mod client;
mod cron;
mod dlq;
mod logs;
mod publish;
mod schedules;
mod table;

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

pub use client::Client;

/// Where the server is and how to print; every remote subcommand takes
/// these, before or after its own arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// Base URL of the cronhook server. The token comes from the
    /// environment variable QSTASH_TOKEN (default: the public dev token).
    #[arg(
        long,
        env = "QSTASH_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,

    /// Print the server's JSON (pretty; one object per line with --follow)
    /// instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Remote {
    /// The API token: `QSTASH_TOKEN`, else the public dev token. Not a flag,
    /// so that it never shows in `ps` or a shell history.
    pub fn token(&self) -> String {
        std::env::var("QSTASH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| crate::config::DEV_TOKEN.to_owned())
    }
}

/// The client subcommands, flattened into `cronhook`'s own list.
#[derive(Debug, Subcommand)]
pub enum Command {
    Schedules(schedules::Args),
    /// Apply a schedules file to a running server: create, update, and with
    /// --prune delete, showing the changes first (--dry-run: only show).
    Apply(apply::Args),
    Publish(publish::Args),
    Dlq(dlq::Args),
    Logs(logs::Args),
    Cron(cron::Args),
    Backup(backup::Args),
}

/// Runs one client subcommand; prints its failure on stderr.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Schedules(a) => schedules::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Publish(a) => publish::run(a),
        Command::Dlq(a) => dlq::run(a),
        Command::Logs(a) => logs::run(a),
        Command::Cron(a) => cron::run(a),
        Command::Backup(a) => backup::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cronhook: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Why a client subcommand failed. Exit codes: 1 the server refused the
/// request (its error text is the message) or the input was wrong, 3 the
/// server could not be reached at all. (2 is clap's, for bad usage.)
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an error status.
    #[error("{message} (HTTP {status})")]
    Server { status: u16, message: String },
    /// No answer: nothing listens there, a timeout, TLS.
    #[error(
        "cannot reach cronhook at {url}: {why}. Is `cronhook serve` running there? \
         Set --url or QSTASH_URL to its address"
    )]
    Unreachable { url: String, why: String },
    /// Bad input caught before sending, or a local file problem.
    #[error("{0}")]
    Local(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Unreachable { .. } => 3,
            _ => 1,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Prints JSON for scripts: pretty, ending in a newline.
fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// `K:V` (or `K: V`) as given to `--header`.
fn parse_header(text: &str) -> CliResult<(String, String)> {
    match text.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(CliError::Local(format!(
            "--header {text:?}: expected NAME:VALUE, e.g. Content-Type:application/json"
        ))),
    }
}

/// The request headers for a message's own headers, as the SDKs send
/// them: `Content-Type` and `Upstash-*` settings as they are, every other
/// header prefixed with `Upstash-Forward-` so that it reaches the
/// destination.
fn forwarded_headers(given: &[String]) -> CliResult<Vec<(String, String)>> {
    given
        .iter()
        .map(|h| {
            let (k, v) = parse_header(h)?;
            let lower = k.to_ascii_lowercase();
            Ok(
                if lower == "content-type" || lower.starts_with("upstash-") {
                    (k, v)
                } else {
                    (format!("Upstash-Forward-{k}"), v)
                },
            )
        })
        .collect()
}

/// A `--body` value: the text itself, `@FILE` for a file's bytes, `@-` for
/// standard input.
fn read_body(body: Option<&str>) -> CliResult<Vec<u8>> {
    use std::io::Read;
    match body {
        None => Ok(Vec::new()),
        Some("@-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::Local(format!("--body @-: cannot read stdin: {e}")))?;
            Ok(buf)
        }
        Some(text) => match text.strip_prefix('@') {
            Some(path) => std::fs::read(path)
                .map_err(|e| CliError::Local(format!("--body @{path}: cannot read it: {e}"))),
            None => Ok(text.as_bytes().to_vec()),
        },
    }
}

/// Unix milliseconds as people read them, in UTC.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A JSON field as table text: strings bare, missing as `-`.
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A JSON millisecond field as a time, missing as `-`.
fn time_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .map(time)
        .unwrap_or_else(|| "-".into())
}
