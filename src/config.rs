//! Configuration: flags, with environment variables for the credentials.
//!
//! The defaults make `cronhook serve` a working local QStash: 127.0.0.1:8080,
//! `./cronhook.db`, and the public dev user 1 of the official dev server
//! (§11.2), so SDK dev mode works out of the box.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::engine::Settings;
use crate::model::SigningKeys;
use crate::store::{DbTarget, KeySource, Retention, SyncMode};

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
    /// Address and port to listen on (`127.0.0.1:8080`, `localhost:9000`,
    /// `[::1]:8080`). A non-loopback address needs a token of your own (the
    /// public dev token is refused there).
    #[arg(long, env = "CRONHOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Also serve `GET /metrics` (Prometheus text) here, without a token,
    /// for a scraper on a private address (`127.0.0.1:9464`). The main
    /// listener serves it too, behind the token.
    #[arg(long, env = "CRONHOOK_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// SQLite database file, created on first start (one cronhook at a time
    /// may use it), or a PostgreSQL URL (`postgres://user:password@host/db`),
    /// which several cronhooks may share.
    #[arg(long, env = "CRONHOOK_DB", default_value = "cronhook.db")]
    pub db: DbTarget,

    /// API token clients must send (Authorization: Bearer …). Default: the
    /// public QStash dev token, accepted on loopback addresses only.
    #[arg(long, env = "QSTASH_TOKEN", default_value = DEV_TOKEN, hide_default_value = true, hide_env_values = true)]
    pub token: String,

    /// Key that signs deliveries (Upstash-Signature). Set it together with
    /// the next key. Default: the public dev key with the dev token on
    /// loopback; otherwise keys generated at the first start, kept in the
    /// database and printed at every start.
    #[arg(long, env = "QSTASH_CURRENT_SIGNING_KEY", hide_env_values = true)]
    pub current_signing_key: Option<String>,

    /// Next signing key, which receivers also accept (see the current key).
    #[arg(long, env = "QSTASH_NEXT_SIGNING_KEY", hide_env_values = true)]
    pub next_signing_key: Option<String>,

    /// SQLite durability: `full` survives power loss; `normal` only a crash of
    /// cronhook itself, and is faster.
    #[arg(long, value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,

    /// Most delivery attempts in progress at once.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight: u32,

    /// Most delivery attempts in progress to one destination (scheme, host,
    /// port): a destination that hangs holds this share and no more.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight_per_destination: u32,

    /// Most bytes of messages kept in memory between their commit and their
    /// first attempt (only messages due within a minute; the rest, and what
    /// does not fit, are read from the database when due). Accepts `64MiB`,
    /// `512KiB`, `1GiB` or bytes.
    #[arg(long, default_value = "32MiB", value_parser = size_arg)]
    pub message_cache: usize,

    /// Most client connections open at once. Default: half the process's
    /// file descriptors (after raising the soft limit to the hard one),
    /// leaving the rest for deliveries and the database.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// How long a client may take to send a request's headers.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub header_timeout: Duration,

    /// How long an idle keep-alive connection stays open.
    #[arg(long, default_value = "60s", value_parser = duration_arg)]
    pub idle_timeout: Duration,

    /// Per-attempt HTTP timeout when a message sets no Upstash-Timeout.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub delivery_timeout: Duration,

    /// On SIGTERM/SIGINT, how long requests and deliveries in progress may
    /// take to finish; cronhook has exited when it is over.
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

    // Several nodes on one PostgreSQL database (ARCHITECTURE.md "Several
    // nodes"); on SQLite they do nothing.
    /// On PostgreSQL with several nodes: how long the leader's lease lasts.
    /// The leader renews it every third of this; a node that dies is taken
    /// over within about this long.
    #[arg(long, default_value = "5s", value_parser = lease_arg)]
    pub lease: Duration,

    /// On PostgreSQL with several nodes: how often the leader re-reads what
    /// comes due, in case a change notice from another node was missed.
    #[arg(long, default_value = "5s", value_parser = catch_up_arg)]
    pub catch_up: Duration,

    /// On PostgreSQL with several nodes: the URL other nodes and operators
    /// reach this node's API at (`http://10.0.0.5:8080`), listed with the
    /// node in the database.
    #[arg(long, env = "CRONHOOK_NODE_URL", value_name = "URL")]
    pub node_url: Option<String>,

    // Running in production: the config file, schedules as code, log format.
    /// TOML file with any of these settings, keys named like the flags
    /// (`max_in_flight` or `max-in-flight`). A flag or environment variable
    /// wins over the file; an unknown key is an error.
    #[arg(long, env = "CRONHOOK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the settings in effect (TOML, with where each comes from;
    /// secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Schedules file applied at start (README "Schedules as code"):
    /// creates and updates the schedules it declares, leaves the others
    /// alone. A bad file stops the start.
    #[arg(long, env = "CRONHOOK_SCHEDULES", value_name = "FILE")]
    pub schedules: Option<PathBuf>,

    /// Log lines on stderr: `text` for people, `json` one object per line
    /// (`timestamp`, `level`, `target`, `message` and the event's fields)
    /// for a log shipper.
    #[arg(long, env = "CRONHOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "only one signing key is set: set both QSTASH_CURRENT_SIGNING_KEY and \
         QSTASH_NEXT_SIGNING_KEY (or --current-signing-key and --next-signing-key), or neither"
    )]
    OneSigningKey,
}

impl Config {
    /// Defaults with another database and listen address (tests, embedding).
    pub fn new(db: impl Into<DbTarget>, listen: impl ToString) -> Config {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        let mut config = Only::parse_from(["cronhook"]).config;
        config.db = db.into();
        config.listen = listen.to_string();
        config
    }

    pub fn engine_settings(&self) -> Settings {
        Settings {
            max_in_flight: self.max_in_flight as usize,
            max_in_flight_per_destination: self.max_in_flight_per_destination as usize,
            default_timeout: self.delivery_timeout,
            retry_scale: self.retry_scale,
            misfire_all_cap: self.misfire_all_cap,
            retention: Retention {
                log_max_age_ms: self.log_retention.as_millis() as i64,
                log_max_entries: self.log_max_entries,
                dlq_max_age_ms: self.dlq_retention.as_millis() as i64,
                dlq_max_entries: self.dlq_max_entries,
            },
            message_cache_bytes: self.message_cache,
            // Set by `Node::cluster`: only several nodes need it.
            queue_line_from_notices: false,
        }
    }

    /// The settings in force, for the console's settings page (no secrets).
    pub fn shown(&self) -> crate::service::Shown {
        use crate::duration::format_duration as d;
        crate::service::Shown {
            version: env!("CARGO_PKG_VERSION"),
            settings: vec![
                ("log retention", d(self.log_retention)),
                ("log max entries", self.log_max_entries.to_string()),
                ("DLQ retention", d(self.dlq_retention)),
                ("DLQ max entries", self.dlq_max_entries.to_string()),
                ("dedup window", d(self.dedup_window)),
                ("sync", format!("{:?}", self.sync).to_ascii_lowercase()),
                ("max in flight", self.max_in_flight.to_string()),
                (
                    "max in flight per destination",
                    self.max_in_flight_per_destination.to_string(),
                ),
                ("delivery timeout", d(self.delivery_timeout)),
                ("shutdown grace", d(self.shutdown_grace)),
                ("retry scale", self.retry_scale.to_string()),
                ("max body", format!("{} bytes", self.max_body)),
                ("message cache", format!("{} bytes", self.message_cache)),
                ("misfire all cap", self.misfire_all_cap.to_string()),
                ("header timeout", d(self.header_timeout)),
                ("idle timeout", d(self.idle_timeout)),
                (
                    "metrics listen",
                    self.metrics_listen
                        .clone()
                        .unwrap_or_else(|| "- (GET /metrics with the token)".into()),
                ),
                (
                    "log format",
                    format!("{:?}", self.log_format).to_ascii_lowercase(),
                ),
                (
                    "config file",
                    self.config
                        .as_ref()
                        .map_or("-".into(), |p| p.display().to_string()),
                ),
                (
                    "schedules file",
                    self.schedules
                        .as_ref()
                        .map_or("-".into(), |p| p.display().to_string()),
                ),
            ],
        }
    }

    pub fn uses_public_dev_token(&self) -> bool {
        PUBLIC_DEV_TOKENS.contains(&self.token.as_str())
    }

    /// Where the signing keys come from: the configured pair; the public
    /// dev keys only with the public dev token on loopback (`loopback`);
    /// otherwise keys cronhook generates and keeps, so nobody can forge
    /// deliveries with the public keys.
    pub fn key_source(&self, loopback: bool) -> Result<KeySource, ConfigError> {
        match (&self.current_signing_key, &self.next_signing_key) {
            (Some(current), Some(next)) => Ok(KeySource::Configured(SigningKeys {
                current: current.clone(),
                next: next.clone(),
            })),
            (Some(_), None) | (None, Some(_)) => Err(ConfigError::OneSigningKey),
            (None, None) if loopback && self.uses_public_dev_token() => {
                Ok(KeySource::Configured(SigningKeys {
                    current: DEV_CURRENT_SIGNING_KEY.into(),
                    next: DEV_NEXT_SIGNING_KEY.into(),
                }))
            }
            (None, None) => Ok(KeySource::Generated),
        }
    }
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// `--lease`: at least 300 ms (renewed every third, with statement
/// timeouts of that third) and at most 10 minutes.
fn lease_arg(s: &str) -> Result<Duration, String> {
    let d = duration_arg(s)?;
    if d < Duration::from_millis(300) || d > Duration::from_secs(600) {
        return Err(format!("{s:?}: a lease from 300ms to 10m"));
    }
    Ok(d)
}

/// `--catch-up`: from 100 ms to 10 minutes.
fn catch_up_arg(s: &str) -> Result<Duration, String> {
    let d = duration_arg(s)?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(600) {
        return Err(format!("{s:?}: a catch-up period from 100ms to 10m"));
    }
    Ok(d)
}

fn retry_scale_arg(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number above 0 and at most 1000")),
    }
}

/// A size in bytes: a whole number, optionally with `KiB`, `MiB`, `GiB`
/// (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000).
fn size_arg(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 32MiB or 1048576"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?}; use KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        let table = [
            ("32MiB", Ok(32 << 20)),
            ("512KiB", Ok(512 << 10)),
            ("1GiB", Ok(1 << 30)),
            ("64MB", Ok(64_000_000)),
            ("1048576", Ok(1_048_576)),
            ("12 MiB", Ok(12 << 20)),
        ];
        for (text, want) in table {
            assert_eq!(size_arg(text), want, "{text}");
        }
        for bad in ["", "MiB", "12 parsecs", "-1"] {
            assert!(size_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_public_dev_keys_go_only_with_the_dev_token_on_loopback() {
        let mut c = Config::new(std::path::PathBuf::from("x.db"), "127.0.0.1:0");
        let dev = |k: &KeySource| matches!(k, KeySource::Configured(keys) if keys.current == DEV_CURRENT_SIGNING_KEY);
        assert!(dev(&c.key_source(true).unwrap()), "dev token, loopback");
        assert_eq!(c.key_source(false).unwrap(), KeySource::Generated);
        c.token = "my-own-token".into();
        assert_eq!(
            c.key_source(true).unwrap(),
            KeySource::Generated,
            "own token"
        );
        c.current_signing_key = Some("sig_a".into());
        assert_eq!(c.key_source(true), Err(ConfigError::OneSigningKey));
        c.next_signing_key = Some("sig_b".into());
        assert!(
            matches!(c.key_source(false).unwrap(), KeySource::Configured(k) if k.next == "sig_b")
        );
    }
}
