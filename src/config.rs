//! Configuration: flags, with environment variables for the credentials.
//!
//! The defaults make `cronhook serve` a working local QStash: 127.0.0.1:8080,
//! `./cronhook.db`, and the public dev user 1 of the official dev server
//! (§11.2), so SDK dev mode works out of the box.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::engine::Settings;
use crate::store::{Retention, SyncMode};

/// Dev user 1 (§11.2): the credentials the JS SDK's dev mode hard-codes.
pub const DEV_TOKEN: &str =
    "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0=";
pub const DEV_CURRENT_SIGNING_KEY: &str = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
pub const DEV_NEXT_SIGNING_KEY: &str = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs";

/// Every token of the official dev server's predefined users (§11.2): public,
/// so never acceptable on a reachable address.
pub const PUBLIC_DEV_TOKENS: [&str; 4] = [
    DEV_TOKEN,
    "eyJVc2VySUQiOiJ0ZXN0VXNlcjEiLCJQYXNzd29yZCI6InRlc3RQYXNzd29yZCJ9",
    "eyJVc2VySUQiOiJ0ZXN0VXNlcjIiLCJQYXNzd29yZCI6InRlc3RQYXNzd29yZCJ9",
    "eyJVc2VySUQiOiJ0ZXN0VXNlcjMiLCJQYXNzd29yZCI6InRlc3RQYXNzd29yZCJ9",
];

/// `cronhook serve` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address and port to listen on. A non-loopback address needs a token of
    /// your own (the public dev token is refused there).
    #[arg(long, env = "CRONHOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file; created on first start.
    #[arg(long, env = "CRONHOOK_DB", default_value = "cronhook.db")]
    pub db: PathBuf,

    /// API token clients must send (Authorization: Bearer …). Default: the
    /// public QStash dev token.
    #[arg(long, env = "QSTASH_TOKEN", default_value = DEV_TOKEN, hide_default_value = true)]
    pub token: String,

    /// Key that signs deliveries (Upstash-Signature). Default: the dev key.
    #[arg(long, env = "QSTASH_CURRENT_SIGNING_KEY", default_value = DEV_CURRENT_SIGNING_KEY, hide_default_value = true)]
    pub current_signing_key: String,

    /// Next signing key, which receivers also accept. Default: the dev key.
    #[arg(long, env = "QSTASH_NEXT_SIGNING_KEY", default_value = DEV_NEXT_SIGNING_KEY, hide_default_value = true)]
    pub next_signing_key: String,

    /// SQLite durability: `full` survives power loss; `normal` only a crash of
    /// cronhook itself, and is faster.
    #[arg(long, value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,

    /// Most deliveries and firings in progress at once.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight: u32,

    /// Per-attempt HTTP timeout when a message sets no Upstash-Timeout.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub delivery_timeout: Duration,

    /// On SIGTERM/SIGINT, how long deliveries in progress may take to finish.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub shutdown_grace: Duration,

    /// Multiplies QStash's default retry backoff (12 s, 2.5 min, 30 min, …).
    /// For local development, 0.01 shows retries and the DLQ within seconds.
    #[arg(long, default_value_t = 1.0, value_parser = retry_scale_arg)]
    pub retry_scale: f64,

    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body: usize,

    /// Most missed slots fired at once for a schedule with Cronhook-Misfire: all.
    #[arg(long, default_value_t = 100)]
    pub misfire_all_cap: usize,

    /// How long a deduplication id (or content hash) suppresses repeats.
    #[arg(long, default_value = "10m", value_parser = duration_arg)]
    pub dedup_window: Duration,

    /// How long log entries (GET /v2/events) are kept.
    #[arg(long, default_value = "14d", value_parser = duration_arg)]
    pub log_retention: Duration,

    /// Most log entries kept; the oldest go first.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub log_max_entries: i64,

    /// How long dead-lettered messages are kept.
    #[arg(long, default_value = "14d", value_parser = duration_arg)]
    pub dlq_retention: Duration,

    /// Most dead-lettered messages kept; the oldest go first.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub dlq_max_entries: i64,
}

impl Config {
    /// Defaults with another database and listen address (tests, embedding).
    pub fn new(db: PathBuf, listen: SocketAddr) -> Config {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        let mut config = Only::parse_from(["cronhook"]).config;
        config.db = db;
        config.listen = listen;
        config
    }

    pub fn engine_settings(&self) -> Settings {
        Settings {
            max_in_flight: self.max_in_flight as usize,
            default_timeout: self.delivery_timeout,
            retry_scale: self.retry_scale,
            misfire_all_cap: self.misfire_all_cap,
            retention: Retention {
                log_max_age_ms: self.log_retention.as_millis() as i64,
                log_max_entries: self.log_max_entries,
                dlq_max_age_ms: self.dlq_retention.as_millis() as i64,
                dlq_max_entries: self.dlq_max_entries,
            },
        }
    }

    pub fn uses_public_dev_token(&self) -> bool {
        PUBLIC_DEV_TOKENS.contains(&self.token.as_str())
    }
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn retry_scale_arg(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number above 0 and at most 1000")),
    }
}
