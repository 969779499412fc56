//! `cronhook apply FILE`: a checked schedules file sent to a running
//! server's `POST /cronhook/v1/apply` (README "Schedules as code").
//!
//! The plan is asked for first (a dry run) and printed, so schedules that
//! `--prune` deletes are listed before they go; then, unless `--dry-run`,
//! the same declarations are applied and what was done is printed. The
//! file is checked here first, by the API's own parsing, so a bad file is
//! refused with its line before the server is asked anything.

use std::io::Write;
use std::path::PathBuf;

use http::Method;
use serde_json::{json, Value};

use super::client::{Call, Client};
use super::{CliError, CliResult, Remote};
use crate::schedfile::{self, SchedulesFile};

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Apply a schedules file to a running server: create, update, and \
    with --prune delete, showing the changes first.\n\n\
    Examples:\n  cronhook apply schedules.toml --dry-run\n  \
    cronhook apply schedules.toml --prune"
)]
pub struct Args {
    /// The schedules file (TOML, `[schedules.<id>]` tables).
    pub file: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
    /// Show what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the server's schedules the file does not declare
    /// (listed before they are deleted).
    #[arg(long)]
    pub prune: bool,
}

pub fn run(a: Args) -> CliResult<()> {
    let file = schedfile::load(&a.file)
        .map_err(|e| CliError::Local(format!("{e}\ncronhook: nothing was applied")))?;
    let client = Client::new(&a.remote)?;
    let mut out = std::io::stdout().lock();
    let plan = post(&client, &file, a.prune, true)?;
    print_plan(&plan, a.prune, &mut out);
    let changes = count(&plan, "created") + count(&plan, "updated") + count(&plan, "pruned");
    if a.dry_run {
        let _ = writeln!(out, "dry run: nothing was changed");
        return Ok(());
    }
    if changes == 0 {
        let _ = writeln!(out, "nothing to change");
        return Ok(());
    }
    let done = post(&client, &file, a.prune, false)?;
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

fn post(client: &Client, file: &SchedulesFile, prune: bool, dry_run: bool) -> CliResult<Value> {
    let body = json!({
        "schedules": file.entries.iter().map(|e| &e.entry).collect::<Vec<_>>(),
        "prune": prune,
        "dryRun": dry_run,
    });
    client.call(
        Method::POST,
        "/cronhook/v1/apply",
        Call {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        },
    )
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
