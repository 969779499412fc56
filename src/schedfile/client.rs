//! `cronhook apply FILE`: a checked schedules file sent to a running
//! server's `POST /cronhook/v1/apply`.
//!
//! The plan is asked for first (a dry run) and printed, so schedules that
//! `--prune` deletes are listed before they go; then, unless `--dry-run`,
//! the same declarations are applied and what was done is printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use super::SchedulesFile;

/// `cronhook apply` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// The schedules file (TOML, `[schedules.<id>]` tables).
    pub file: PathBuf,
    /// The server's base URL.
    #[arg(long, env = "QSTASH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's API token. Default: the public dev token.
    #[arg(long, env = "QSTASH_TOKEN", default_value = crate::config::DEV_TOKEN, hide_default_value = true, hide_env_values = true)]
    pub token: String,
    /// Show what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the server's schedules the file does not declare
    /// (listed before they are deleted).
    #[arg(long)]
    pub prune: bool,
}

impl ApplyArgs {
    /// Runs the command: 0 when applied (or shown), 1 when refused.
    pub fn run(self) -> ExitCode {
        let file = match super::load(&self.file) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("cronhook apply: {e}");
                eprintln!("cronhook apply: nothing was applied");
                return ExitCode::FAILURE;
            }
        };
        let options = Options {
            url: self.url,
            token: self.token,
            dry_run: self.dry_run,
            prune: self.prune,
        };
        let mut out = std::io::stdout().lock();
        match run(&file, &options, &mut out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = out.flush();
                eprintln!("cronhook apply: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Where and how to apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's base URL (`QSTASH_URL`).
    pub url: String,
    pub token: String,
    pub dry_run: bool,
    pub prune: bool,
}

/// Why applying failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    /// The server refused: its status and `error` text.
    #[error("the server answered {status}: {error}")]
    Refused { status: u16, error: String },
    #[error("the server's answer is not what cronhook sends: {0}")]
    Answer(String),
}

/// Prints the plan to `out`, then applies it unless it is a dry run.
pub fn run(file: &SchedulesFile, o: &Options, out: &mut impl Write) -> Result<(), ClientError> {
    let plan = post(file, o, true)?;
    print_plan(&plan, o.prune, out);
    let changes = count(&plan, "created") + count(&plan, "updated") + count(&plan, "pruned");
    if o.dry_run {
        let _ = writeln!(out, "dry run: nothing was changed");
        return Ok(());
    }
    if changes == 0 {
        let _ = writeln!(out, "nothing to change");
        return Ok(());
    }
    let done = post(file, o, false)?;
    let _ = writeln!(
        out,
        "applied: {} created, {} updated, {} unchanged, {} deleted",
        count(&done, "created"),
        count(&done, "updated"),
        count(&done, "unchanged"),
        count(&done, "pruned"),
    );
    Ok(())
}

fn post(file: &SchedulesFile, o: &Options, dry_run: bool) -> Result<Value, ClientError> {
    let url = format!("{}/cronhook/v1/apply", o.url.trim_end_matches('/'));
    let body = json!({
        "schedules": file.entries.iter().map(|e| &e.entry).collect::<Vec<_>>(),
        "prune": o.prune,
        "dryRun": dry_run,
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let unreachable = |e: ureq::Error| ClientError::Unreachable {
        url: o.url.clone(),
        why: e.to_string(),
    };
    let mut response = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {}", o.token))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(unreachable)?;
    let value: Value = serde_json::from_str(&text).map_err(|_| {
        if status < 300 {
            ClientError::Answer(text.chars().take(200).collect())
        } else {
            ClientError::Refused {
                status,
                error: text.chars().take(500).collect(),
            }
        }
    })?;
    if status >= 300 {
        return Err(ClientError::Refused {
            status,
            error: value["error"].as_str().unwrap_or(&text).to_owned(),
        });
    }
    Ok(value)
}

fn count(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(0, Vec::len)
}

fn ids<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// One line per schedule: what happens to it.
fn print_plan(plan: &Value, prune: bool, out: &mut impl Write) {
    for id in ids(plan, "created") {
        let _ = writeln!(out, "create     {id}");
    }
    for u in plan["updated"].as_array().into_iter().flatten() {
        let changed: Vec<&str> = u["changed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let id = u["id"].as_str().unwrap_or("?");
        let _ = writeln!(out, "update     {id}: {}", changed.join(", "));
    }
    for id in ids(plan, "unchanged") {
        let _ = writeln!(out, "unchanged  {id}");
    }
    for id in ids(plan, "pruned") {
        let _ = writeln!(out, "delete     {id} (not in the file, --prune)");
    }
    if !prune {
        for id in ids(plan, "untouched") {
            let _ = writeln!(
                out,
                "untouched  {id} (not in the file; --prune would delete it)"
            );
        }
    }
}
