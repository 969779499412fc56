//! `cronhook-bench`: bounded, loopback-only benchmarks of a real cronhook.
//!
//! A workspace member of its own (`bench/`), so that the `cronhook` crate is
//! only the product. From the repository root:
//!
//! ```sh
//! cargo build --release --workspace --bins
//! cargo run --release -p cronhook-bench -- all
//! cargo run --release -p cronhook-bench -- throughput lateness --messages 2000 --seconds 10
//! ```
//!
//! Each scenario starts `cronhook serve` (the release binary next to this
//! one: the workspace shares one `target/release`) as a child process on a
//! fresh temporary database, points it at a sink in this process (an axum
//! server on 127.0.0.1 that answers 200 at once and records arrival times and
//! the `Upstash-Message-Id` / `Cronhook-Slot-Time` headers), drives it
//! through the QStash API, and prints one JSON line per scenario on stdout. A table of every number
//! follows on stderr. Children are stopped by PID and temporary
//! directories removed when a scenario ends, also on error and on Ctrl-C.
//!
//! Scenarios: `raw` (cronhook's own HTTP client straight at the sink: the
//! loopback ceiling), `throughput` (batch publish → deliveries, with
//! `synchronous=FULL` and `NORMAL`), `lateness` (seconds-schedules,
//! arrival − slot time), `burst` (many messages due at one instant),
//! `pending-memory` (RSS growth while large and small messages wait a day),
//! `hanging` (deliveries and firings while ten destinations hang),
//! `scale` (many schedules: create rate, memory, disk, restart time),
//! `idle` (CPU and memory with nothing to do), `listing-memory` (RSS and
//! time to first byte of `GET /v2/schedules` over many schedules) and
//! `cancel-memory` (RSS while the DLQ and the log are paged through and
//! while 100k messages are cancelled at once). `all` runs them in that
//! order (idle before scale). `nodes` (not in `all`: it needs PostgreSQL)
//! compares throughput and lateness of one node on SQLite, one on
//! PostgreSQL and three on one PostgreSQL database.

mod api;
mod hang;
mod listing;
mod nodes;
mod report;
mod scenarios;
mod server;
mod sink;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    All,
    Raw,
    Throughput,
    Lateness,
    Burst,
    PendingMemory,
    Hanging,
    Scale,
    Idle,
    ListingMemory,
    CancelMemory,
    Nodes,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::All => "all",
            Scenario::Raw => "raw",
            Scenario::Throughput => "throughput",
            Scenario::Lateness => "lateness",
            Scenario::Burst => "burst",
            Scenario::PendingMemory => "pending-memory",
            Scenario::Hanging => "hanging",
            Scenario::Scale => "scale",
            Scenario::Idle => "idle",
            Scenario::ListingMemory => "listing-memory",
            Scenario::CancelMemory => "cancel-memory",
            Scenario::Nodes => "nodes",
        }
    }
}

/// How `lateness` spreads its schedules over the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatenessMode {
    /// Schedule i fires at second i % 60 of every minute (`<s> * * * * *`):
    /// K/60 deliveries per second.
    Spread,
    /// Every schedule fires every second (`* * * * * *`): K deliveries per
    /// second. Only for small K.
    EverySecond,
}

/// Benchmarks for cronhook, on loopback only. Prints one JSON line per
/// scenario (stdout), then a table (stderr).
#[derive(Debug, Clone, Parser)]
#[command(name = "cronhook-bench")]
pub struct Args {
    /// Scenarios to run, in order; `all` runs every one.
    #[arg(value_enum, default_value = "all")]
    pub scenarios: Vec<Scenario>,

    /// throughput: messages published (via /v2/batch) and delivered, per run.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,

    /// burst: messages due at the same instant [default: 5 × --messages].
    #[arg(long)]
    pub burst_messages: Option<usize>,

    /// burst: seconds between the start of publishing and the instant
    /// [default: estimated from the accept rate, with a safety margin].
    #[arg(long)]
    pub burst_lead_seconds: Option<u64>,

    /// pending-memory: messages of --pending-large-bytes each, published
    /// first (one /v2/publish each), all delayed by a day.
    #[arg(long, default_value_t = 400)]
    pub pending_large_messages: usize,

    /// pending-memory: body size of each large message, bytes (1 MiB fits
    /// cronhook's default --max-body exactly; a larger one raises it).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub pending_large_bytes: usize,

    /// pending-memory: messages of --pending-small-bytes each, published
    /// after the large ones (via /v2/batch), all delayed by a day.
    #[arg(long, default_value_t = 50_000)]
    pub pending_small_messages: usize,

    /// pending-memory: body size of each small message, bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    pub pending_small_bytes: usize,

    /// hanging: destinations that accept connections and never answer (one
    /// listener on 127.0.0.1 each).
    #[arg(long, default_value_t = 10)]
    pub hanging_hosts: usize,

    /// hanging: messages published to each hanging destination
    /// (`Upstash-Timeout: 40s`, `Upstash-Retries: 0`).
    #[arg(long, default_value_t = 60)]
    pub hanging_messages: usize,

    /// hanging: messages published to the healthy sink, spread over the
    /// measured window (one /v2/publish each).
    #[arg(long, default_value_t = 200)]
    pub hanging_healthy_messages: usize,

    /// hanging: seconds-schedules (`* * * * * *`) firing at the healthy sink.
    #[arg(long, default_value_t = 20)]
    pub hanging_schedules: usize,

    /// hanging: length of the measured window, seconds (keep it well under
    /// the 40 s timeout of the hanging attempts).
    #[arg(long, default_value_t = 15)]
    pub hanging_seconds: u64,

    /// scale: schedules created through the API.
    #[arg(long, default_value_t = 1_000_000)]
    pub schedules: usize,

    /// listing-memory: schedules created, then listed by `GET /v2/schedules`.
    #[arg(long, default_value_t = 1_000_000)]
    pub listing_schedules: usize,

    /// cancel-memory: messages dead-lettered (then walked page by page), and
    /// messages delayed and then cancelled by one `DELETE /v2/messages`.
    #[arg(long, default_value_t = 100_000)]
    pub cancel_messages: usize,

    /// idle: schedules (due in an hour) for the second phase [default: --schedules / 10].
    #[arg(long)]
    pub idle_schedules: Option<usize>,

    /// lateness: schedule counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub lateness_schedules: Vec<usize>,

    /// lateness: how the schedules fire.
    #[arg(long, value_enum, default_value = "spread")]
    pub lateness_mode: LatenessMode,

    /// lateness: seconds skipped after the schedules exist, before measuring.
    #[arg(long, default_value_t = 2)]
    pub skip_seconds: u64,

    /// lateness and idle: length of each measured window, seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,

    /// raw: how long to post at the sink, seconds.
    #[arg(long, default_value_t = 5.0)]
    pub raw_seconds: f64,

    /// raw: requests in flight.
    #[arg(long, default_value_t = 256)]
    pub raw_in_flight: usize,

    /// Connections used to create schedules (one request at a time each).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,

    /// Messages per /v2/batch request.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,

    /// /v2/batch requests in flight (one per connection).
    #[arg(long, default_value_t = 4)]
    pub batch_connections: usize,

    /// Extra argument for every `cronhook serve` (repeat it), e.g.
    /// `--cronhook-arg=--max-in-flight=64`.
    #[arg(long, allow_hyphen_values = true)]
    pub cronhook_arg: Vec<String>,

    /// nodes: a PostgreSQL URL to make the runs' schemas on [default: a
    /// throwaway cluster started by `scripts/pg-cluster.sh`, stopped at the end].
    #[arg(long)]
    pub postgres: Option<String>,

    /// nodes: length of each lateness window, seconds.
    #[arg(long, default_value_t = 20)]
    pub nodes_seconds: u64,

    /// The cronhook binary [default: `cronhook` next to this executable].
    #[arg(long)]
    pub cronhook: Option<PathBuf>,
}

impl Args {
    pub fn burst_messages(&self) -> usize {
        self.burst_messages.unwrap_or(self.messages * 5)
    }

    pub fn idle_schedules(&self) -> usize {
        self.idle_schedules.unwrap_or(self.schedules / 10)
    }
}

/// The cronhook binary: --cronhook, or `cronhook` next to this executable.
fn locate_cronhook(args: &Args) -> Result<PathBuf, String> {
    let bin = match &args.cronhook {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find my own executable: {e}"))?
            .with_file_name("cronhook"),
    };
    if !bin.is_file() {
        return Err(format!(
            "{} does not exist: build it with `cargo build --release -p cronhook --bins` \
             (or pass --cronhook PATH)",
            bin.display()
        ));
    }
    warn_if_stale(&bin);
    Ok(bin)
}

/// `cargo run -p cronhook-bench` does not rebuild `cronhook`: say so when
/// one of the product's source files is newer than the binary.
fn warn_if_stale(bin: &std::path::Path) {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    // This crate is `bench/` in cronhook's workspace; the product is the root.
    let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(root) = bench.parent() else {
        return;
    };
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    let mut stack = vec![
        root.join("src"),
        root.join("schema.sql"),
        root.join("Cargo.toml"),
    ];
    while let Some(p) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&p) {
            stack.extend(entries.flatten().map(|e| e.path()));
        } else if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified()) {
            if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                newest = Some((t, p));
            }
        }
    }
    if let Some((t, p)) = newest {
        if t > built {
            eprintln!(
                "[bench] warning: {} is newer than {}; run `cargo build --release -p cronhook --bins` \
                 to measure the current code",
                p.display(),
                bin.display()
            );
        }
    }
}

fn expand(list: &[Scenario]) -> Vec<Scenario> {
    let mut out = Vec::new();
    for s in list {
        let add: &[Scenario] = match s {
            Scenario::All => &[
                Scenario::Raw,
                Scenario::Throughput,
                Scenario::Lateness,
                Scenario::Burst,
                Scenario::PendingMemory,
                Scenario::Hanging,
                Scenario::Idle,
                Scenario::Scale,
                Scenario::ListingMemory,
                Scenario::CancelMemory,
            ],
            other => std::slice::from_ref(other),
        };
        for a in add {
            if !out.contains(a) {
                out.push(*a);
            }
        }
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let bin = match locate_cronhook(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cronhook-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("[bench] interrupted: stopping cronhook and removing temporary files");
            server::cleanup_all();
            std::process::exit(130);
        }
    });
    let list = expand(&args.scenarios);
    let ctx = Arc::new(scenarios::Ctx::new(args, bin));
    let started = Instant::now();
    let mut results = Vec::new();
    let mut failed = 0;
    for scenario in list {
        eprintln!("[bench] === {} ===", scenario.name());
        let t0 = Instant::now();
        let task = tokio::spawn(run(ctx.clone(), scenario));
        let outcome = match task.await {
            Ok(r) => r,
            Err(e) => Err(format!("the scenario panicked: {e}")),
        };
        let mut line = match outcome {
            Ok(Value::Object(m)) => Value::Object(m),
            Ok(other) => json!({ "result": other }),
            Err(e) => {
                failed += 1;
                eprintln!("[bench] {} failed: {e}", scenario.name());
                json!({ "error": e })
            }
        };
        line["scenario_seconds"] = report::round(t0.elapsed().as_secs_f64(), 1);
        // `scenario` first, for people reading the lines.
        let rest = line.to_string();
        println!(
            "{{\"scenario\":\"{}\",{}",
            scenario.name(),
            rest.strip_prefix('{').unwrap_or(&rest)
        );
        line["scenario"] = scenario.name().into();
        results.push(line);
    }
    let total = started.elapsed().as_secs_f64();
    eprintln!();
    eprint!("{}", report::table(&results));
    eprintln!(
        "total: {total:.1} s for {} scenario(s), {failed} failed",
        results.len()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One scenario: the listing ones from `listing.rs`, the rest from
/// `scenarios.rs`.
async fn run(ctx: Arc<scenarios::Ctx>, scenario: Scenario) -> Result<Value, String> {
    match scenario {
        Scenario::ListingMemory => listing::listing_memory(&ctx).await,
        Scenario::CancelMemory => listing::cancel_memory(&ctx).await,
        Scenario::Nodes => nodes::nodes(&ctx).await,
        other => scenarios::run(ctx, other).await,
    }
}
