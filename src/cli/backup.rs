//! `cronhook backup OUT.db`: a consistent copy of a running server's
//! database, through `POST /cronhook/v1/backup` (the server runs SQLite's
//! online backup and streams the copy). Going through the API rather than
//! reading the file works wherever the API reaches (another host, a
//! container) and needs no access to the server's files.
//!
//! The copy is written to `OUT.db.part` and renamed to OUT.db only once
//! complete, so OUT.db is never half a database.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use http::Method;
use serde_json::json;

use super::{print_json, CliError, CliResult, Client, Remote};

/// Copy a running server's database to a file (a consistent snapshot).
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Copy a running server's database to OUT: a consistent snapshot \
    as of one commit, made by the server with SQLite's online backup while it keeps \
    running and firing. The copy is a plain SQLite file. To restore: stop cronhook, \
    remove the old database's -wal and -shm files, put the copy in its place, start \
    cronhook.

Examples:
  cronhook backup cronhook-$(date +%F).db
  QSTASH_URL=https://cronhook.internal:8080 cronhook backup /backups/cronhook.db --force"
)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// The file to write.
    pub out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> CliResult<()> {
    if args.out.exists() && !args.force {
        return Err(CliError::Local(format!(
            "{} exists; give --force to replace it",
            args.out.display()
        )));
    }
    let client = Client::new(&args.remote)?;
    let mut part = args.out.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let local = |e: std::io::Error| CliError::Local(format!("{}: {e}", part.display()));
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&part)
        .map_err(local)?;
    let mut writer = BufWriter::new(file);
    let written = client
        .download(Method::POST, "/cronhook/v1/backup", &mut writer)
        .and_then(|n| {
            let file = writer.into_inner().map_err(|e| local(e.into_error()))?;
            file.sync_all().map_err(local)?;
            Ok(n)
        });
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, &args.out).map_err(local)?;
    if args.remote.json {
        print_json(&json!({ "path": args.out, "bytes": written }));
    } else {
        println!("Wrote {} ({written} bytes)", args.out.display());
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
