//! The `cronhook` command.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cronhook::config::LogFormat;
use cronhook::{App, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "cronhook",
    version,
    about = "A self-hosted HTTP scheduler that speaks the Upstash QStash v2 API.",
    long_about = "A self-hosted HTTP scheduler that speaks the Upstash QStash v2 API: \
        durable cron schedules and messages in one SQLite file, delivered as signed HTTP \
        requests with retries. Point the official QStash SDKs at it by changing only the \
        base URL and token."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scheduler and its API (prints the QSTASH_* lines for your app's env).
    Serve(Box<Config>),
    Migrate(MigrateArgs),
    /// Client commands: the API of a running server, and `cron` offline.
    #[command(flatten)]
    Client(cronhook::cli::Command),
}

fn main() -> ExitCode {
    // `serve --config FILE` folds the file into the flags' defaults.
    let parsed = match cronhook::config_file::parse::<Cli>("serve", std::env::args_os().collect()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cronhook: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(match &parsed.cli.command {
        Command::Serve(config) => config.log_format,
        _ => LogFormat::Text,
    });
    match parsed.cli.command {
        Command::Serve(config) if config.print_config => {
            print!("{}", parsed.effective.unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Serve(config) => serve(*config),
        Command::Migrate(args) => migrate(args),
        Command::Client(command) => cronhook::cli::run(command),
    }
}

#[derive(clap::Args)]
// `about` here, not as a doc comment on `Command::Migrate`: a variant's doc
// comment would replace `long_about` too, and `--help` would lose it.
#[command(
    about = "Copy a SQLite database into an empty PostgreSQL database, to move to PostgreSQL",
    long_about = "Copy a SQLite database into an empty PostgreSQL database, to move \
    to PostgreSQL without losing state: schedules, pending messages, the DLQ, the log, \
    signing keys, queues, workflow runs, URL groups and flow-control keys, every row as \
    it is.\n\n\
    Stop the cronhook serving the SQLite file first (migrate takes its lock). A file \
    written by an older cronhook is upgraded first, as `serve` would. The target's \
    cronhook tables are created if needed and must hold no rows (only the signing keys \
    of a cronhook once started on it may be there: the file's replace them); the copy is \
    one transaction, so a failure leaves the target as it was. The SQLite file is left \
    in place. TLS as for `serve --db`: sslmode=verify-full&sslrootcert=<PEM file> in \
    the URL.\n\n\
    Examples:\n  \
    cronhook migrate --from cronhook.db --to postgres://cronhook@db.internal/cronhook\n  \
    CRONHOOK_MIGRATE_TO='postgres://cronhook:secret@db.internal/cronhook' \\\n    \
    cronhook migrate --from /var/lib/cronhook/cronhook.db"
)]
struct MigrateArgs {
    /// The SQLite database file to copy (the --db of `cronhook serve`).
    #[arg(long, value_name = "FILE")]
    from: std::path::PathBuf,
    /// The PostgreSQL database to copy into, as a postgres:// URL (libpq syntax;
    /// `?options=-csearch_path%3Dmyschema` picks a schema). From the environment
    /// it keeps a password out of `ps`.
    #[arg(
        long,
        value_name = "URL",
        env = "CRONHOOK_MIGRATE_TO",
        hide_env_values = true
    )]
    to: String,
}

/// `cronhook migrate`: the copy, then what it copied, table by table.
fn migrate(args: MigrateArgs) -> ExitCode {
    match cronhook::store::migrate_to_postgres(&args.from, &args.to) {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "copied {} to PostgreSQL:", args.from.display());
            for (table, rows) in &report.tables {
                let _ = writeln!(out, "  {table:<22} {rows:>10}");
            }
            let _ = writeln!(out, "  {:<22} {:>10}", "total rows", report.total());
            let _ = writeln!(
                out,
                "Start cronhook with --db on that URL. The SQLite file was left as it was."
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cronhook: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines go to stderr, filtered by `RUST_LOG` (default `info`): as text
/// for people (coloured only at a terminal: a journal, a log file or a
/// parent process reading the pipe gets plain text), or as one JSON object
/// per line for a log shipper: `timestamp` (RFC 3339, UTC), `level`,
/// `target`, `message` and the event's own fields at the top level.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

fn serve(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cronhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A bad schedules file stops the start before the database is opened.
    let schedules = match config.schedules.as_deref().map(cronhook::schedfile::load) {
        None => None,
        Some(Ok(file)) => Some(file),
        Some(Err(e)) => {
            eprintln!("cronhook: {e}");
            eprintln!("cronhook: nothing was applied; not starting");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let dev_token = config.uses_public_dev_token();
        let own_keys = config.current_signing_key.is_some();
        let token = config.token.clone();
        let app = match App::start(config).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("cronhook: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(file) = &schedules {
            match cronhook::schedfile::apply_in_process(app.service(), file).await {
                Ok(a) => tracing::info!(
                    created = a.created.len(),
                    updated = a.updated.len(),
                    unchanged = a.unchanged.len(),
                    "schedules file applied"
                ),
                Err(e) => {
                    eprintln!("cronhook: applying the schedules file: {e}");
                    app.shutdown().await;
                    return ExitCode::FAILURE;
                }
            }
        }
        print_env(&app, dev_token.then_some(token.as_str()), own_keys);
        wait_for_signal().await;
        tracing::info!("shutting down");
        app.shutdown().await;
        ExitCode::SUCCESS
    });
    // Blocking work still running (a read cut off by the grace) does not
    // hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// The lines a user pastes into their app's environment. Secrets the user
/// configured are not printed (stdout often ends up in logs); the public
/// dev ones are, and so are signing keys cronhook made (generated, or
/// rotated through the API), which the app's receiver needs and can get
/// nowhere else.
fn print_env(app: &App, dev_token: Option<&str>, own_keys: bool) {
    let keys = app.signing_keys();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "# cronhook is running. For your app's environment:");
    let _ = writeln!(out, "QSTASH_URL={}", app.base_url());
    match dev_token {
        Some(token) => {
            let _ = writeln!(out, "QSTASH_TOKEN={token}");
        }
        None => {
            let _ = writeln!(
                out,
                "# QSTASH_TOKEN: the value you configured (not printed)"
            );
        }
    }
    if app.keys_generated() {
        let _ = writeln!(
            out,
            "# Signing keys generated by cronhook (none were configured); kept in its database:"
        );
    }
    if !own_keys {
        let _ = writeln!(out, "QSTASH_CURRENT_SIGNING_KEY={}", keys.current);
        let _ = writeln!(out, "QSTASH_NEXT_SIGNING_KEY={}", keys.next);
    } else {
        let _ = writeln!(
            out,
            "# QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY: the values you configured (not printed)"
        );
    }
    let _ = out.flush();
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
