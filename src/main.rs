//! The `cronhook` command.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a journal, a log file or
        // a parent process reading the pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Serve(config) => serve(*config),
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
    runtime.block_on(async move {
        let dev_credentials = config.uses_public_dev_token();
        let token = config.token.clone();
        let app = match App::start(config).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("cronhook: {e}");
                return ExitCode::FAILURE;
            }
        };
        print_env(
            &app.base_url(),
            dev_credentials,
            &token,
            &app.signing_keys(),
        );
        wait_for_signal().await;
        tracing::info!("shutting down");
        app.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// The lines a user pastes into their app's environment. Real secrets are not
/// printed (stdout often ends up in logs); the public dev ones are.
fn print_env(url: &str, dev: bool, token: &str, keys: &cronhook::model::SigningKeys) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "# cronhook is running. For your app's environment:");
    let _ = writeln!(out, "QSTASH_URL={url}");
    if dev {
        let _ = writeln!(out, "QSTASH_TOKEN={token}");
        let _ = writeln!(out, "QSTASH_CURRENT_SIGNING_KEY={}", keys.current);
        let _ = writeln!(out, "QSTASH_NEXT_SIGNING_KEY={}", keys.next);
    } else {
        let _ = writeln!(
            out,
            "# QSTASH_TOKEN and the signing keys: the values you configured (not printed)"
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
