//! `nodes`: throughput and lateness of one cronhook on SQLite, one on
//! PostgreSQL and three on one PostgreSQL database, in one run, each as a
//! ratio to `raw`.
//!
//! The PostgreSQL runs use `--postgres URL` or, without it, a throwaway
//! cluster that `scripts/pg-cluster.sh` starts in a temporary folder and
//! stops at the end. Each run gets a fresh schema of its own (dropped after
//! it), so the nodes of a run share one database and runs share nothing.
//! With three nodes the publishes and schedule creates are spread over all
//! of them round-robin; whichever node holds the lease delivers and fires.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Map, Value};

use crate::api;
use crate::report::{distribution, round};
use crate::scenarios::{create_schedules, publish_batches, raw_rps, say, Ctx};
use crate::server::{Server, TempDir};
use crate::sink::{now_ms, Sink};

/// One setup measured: a backend and how many nodes share it.
#[derive(Clone, Copy)]
struct Setup {
    postgres: bool,
    nodes: usize,
}

impl Setup {
    fn label(self) -> String {
        let backend = if self.postgres { "postgres" } else { "sqlite" };
        format!("{backend} × {}", self.nodes)
    }
}

const SETUPS: [Setup; 3] = [
    Setup {
        postgres: false,
        nodes: 1,
    },
    Setup {
        postgres: true,
        nodes: 1,
    },
    Setup {
        postgres: true,
        nodes: 3,
    },
];

/// Schedules of the lateness part: 1000 spread over the minute, ~17 due per
/// second, a load every setup keeps up with, so the numbers compare the
/// path from the timer to the sink rather than saturation.
const LATENESS_SCHEDULES: usize = 1000;

pub async fn nodes(ctx: &Ctx) -> Result<Value, String> {
    let (raw, _) = raw_rps(ctx).await?;
    let cluster = match &ctx.args.postgres {
        Some(url) => Cluster::Given(url.clone()),
        None => Cluster::start()?,
    };
    let mut runs = Vec::new();
    for setup in SETUPS {
        runs.push(run_setup(ctx, &cluster, setup, raw).await?);
    }
    drop(cluster);
    Ok(json!({
        "design": "throughput: --messages via /v2/batch spread over the nodes, delivered to one sink; \
                   lateness: 1000 seconds-schedules spread over the minute (cron `<i % 60> * * * * *`), \
                   --nodes-seconds measured; three nodes share one PostgreSQL schema, the leader delivers",
        "raw_requests_per_s": round(raw, 0),
        "messages": ctx.args.messages,
        "lateness_schedules": LATENESS_SCHEDULES,
        "measured_seconds": ctx.args.nodes_seconds,
        "runs": runs,
    }))
}

async fn run_setup(ctx: &Ctx, cluster: &Cluster, setup: Setup, raw: f64) -> Result<Value, String> {
    let label = setup.label();
    let mut out = Map::new();
    out.insert("setup".into(), label.clone().into());
    out.insert(
        "backend".into(),
        if setup.postgres { "postgres" } else { "sqlite" }.into(),
    );
    out.insert("nodes".into(), setup.nodes.into());
    {
        let db = Database::new(cluster, setup.postgres, "tput")?;
        let servers = start_nodes(ctx, &db, setup.nodes).await?;
        throughput(ctx, &servers, raw, &label, &mut out).await?;
    }
    {
        let db = Database::new(cluster, setup.postgres, "late")?;
        let servers = start_nodes(ctx, &db, setup.nodes).await?;
        lateness(ctx, &servers, &label, &mut out).await?;
    }
    Ok(Value::Object(out))
}

async fn start_nodes(ctx: &Ctx, db: &Database, n: usize) -> Result<Vec<Server>, String> {
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let mut args: Vec<&str> = Vec::new();
        args.extend(ctx.args.cronhook_arg.iter().map(String::as_str));
        servers.push(Server::start(&ctx.bin, db.target(), &args).await?);
    }
    Ok(servers)
}

async fn throughput(
    ctx: &Ctx,
    servers: &[Server],
    raw: f64,
    label: &str,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let n = ctx.args.messages;
    let sink = Sink::start().await?;
    say(format!("nodes {label}: publishing {n} messages"));
    let share = n.div_ceil(servers.len());
    let started = Instant::now();
    let mut accepted = 0;
    let loads = join_all(servers.iter().enumerate().map(|(i, server)| {
        let count = share.min(n - (i * share).min(n));
        publish_batches(
            ctx,
            server,
            &sink.url,
            count,
            ctx.args.batch_size,
            &[],
            "x",
            "batch",
        )
    }))
    .await;
    for load in loads {
        accepted += load?.accepted;
    }
    let accept_s = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 100);
    if let Err(got) = sink
        .wait_for(accepted, Duration::from_secs(30), deadline)
        .await
    {
        return Err(servers[0].failure(&format!(
            "nodes {label}: only {got} of {accepted} messages were delivered (stalled)"
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recs = sink.take();
    let mut seen = HashSet::with_capacity(recs.len());
    let dups = recs.iter().filter(|r| !seen.insert(r.id.clone())).count();
    let first = recs.iter().map(|r| r.at_us).min().unwrap_or(0);
    let last = recs.iter().map(|r| r.at_us).max().unwrap_or(0);
    let rate = seen.len() as f64 / ((last - first) as f64 / 1e6).max(1e-9);
    out.insert(
        "accept_messages_per_s".into(),
        round(accepted as f64 / accept_s, 0),
    );
    out.insert("deliveries_per_s".into(), round(rate, 0));
    out.insert("throughput_ratio_to_raw".into(), round(rate / raw, 3));
    out.insert("delivered_messages".into(), seen.len().into());
    out.insert("duplicate_deliveries".into(), dups.into());
    say(format!(
        "nodes {label}: {rate:.0} deliveries/s ({:.3} of raw)",
        rate / raw
    ));
    Ok(())
}

async fn lateness(
    ctx: &Ctx,
    servers: &[Server],
    label: &str,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let k = LATENESS_SCHEDULES;
    let sink = Sink::start().await?;
    let nodes = servers.len();
    let per_node = k.div_ceil(nodes);
    let create_label = format!("nodes {label}");
    let creates = join_all(servers.iter().enumerate().map(|(node, server)| {
        let dest = sink.url.clone();
        let from = node * per_node;
        let count = per_node.min(k - from.min(k));
        create_schedules(
            ctx,
            server,
            count,
            move |i| {
                let i = from + i;
                api::schedule_call(
                    &dest,
                    format!("lat-{i}"),
                    format!("{} * * * * *", i % 60),
                    true,
                    "x",
                )
            },
            &create_label,
        )
    }))
    .await;
    for c in creates {
        c?;
    }
    let start_ms = (now_ms() + ctx.args.skip_seconds as i64 * 1000) / 1000 * 1000 + 1000;
    let end_ms = start_ms + ctx.args.nodes_seconds as i64 * 1000;
    let mut per_second = [0u64; 60];
    for i in 0..k {
        per_second[i % 60] += 1;
    }
    let expected: u64 = (start_ms / 1000..end_ms / 1000)
        .map(|s| per_second[(s % 60) as usize])
        .sum();
    let wait = Duration::from_millis((end_ms - now_ms()).max(0) as u64);
    tokio::time::sleep(wait).await;
    let in_window = |r: &crate::sink::Rec| r.slot_ms.is_some_and(|s| s >= start_ms && s < end_ms);
    let wait_until = Instant::now() + Duration::from_secs(30);
    while sink.count_matching(in_window) < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut late = Vec::new();
    let mut slots = HashSet::new();
    let mut dups = 0u64;
    for r in sink.take() {
        let Some(slot) = r.slot_ms else { continue };
        if slot >= start_ms && slot < end_ms {
            if !slots.insert((r.schedule.clone(), slot)) {
                dups += 1;
            }
            late.push(r.at_us as f64 / 1000.0 - slot as f64);
        }
    }
    out.insert("due_slots".into(), expected.into());
    out.insert(
        "missing_slots".into(),
        expected.saturating_sub(slots.len() as u64).into(),
    );
    out.insert("slots_fired_twice".into(), dups.into());
    let dist = distribution("lateness_", &mut late);
    say(format!(
        "nodes {label}: lateness p50 {} ms, p99 {} ms, max {} ms",
        dist["lateness_p50_ms"], dist["lateness_p99_ms"], dist["lateness_max_ms"]
    ));
    out.extend(dist);
    Ok(())
}

/// Where the PostgreSQL runs' schemas are made.
enum Cluster {
    Given(String),
    /// Started by `scripts/pg-cluster.sh` in `dir`; stopped on drop.
    Started {
        url: String,
        dir: PathBuf,
    },
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster.sh")
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let dir =
            std::env::temp_dir().join(format!("cronhook-bench-pg-{:08x}", rand::random::<u32>()));
        say(format!(
            "nodes: starting a throwaway PostgreSQL in {}",
            dir.display()
        ));
        let output = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run scripts/pg-cluster.sh: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let url = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("postgres://"))
            .map(str::to_owned);
        match (output.status.success(), url) {
            (true, Some(url)) => Ok(Cluster::Started { url, dir }),
            _ => Err(format!(
                "scripts/pg-cluster.sh start failed: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )),
        }
    }

    fn url(&self) -> &str {
        match self {
            Cluster::Given(url) | Cluster::Started { url, .. } => url,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Cluster::Started { dir, .. } = self {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(&*dir)
                .status();
        }
    }
}

/// One run's database: a SQLite file in a temporary folder, or a fresh
/// schema on the cluster (dropped on drop).
enum Database {
    Sqlite {
        _dir: TempDir,
        path: String,
    },
    Postgres {
        admin: String,
        schema: String,
        url: String,
    },
}

impl Database {
    fn new(cluster: &Cluster, postgres: bool, tag: &str) -> Result<Database, String> {
        if !postgres {
            let dir = TempDir::new(&format!("nodes-{tag}"))?;
            let path = dir.path().join("bench.db").display().to_string();
            return Ok(Database::Sqlite { _dir: dir, path });
        }
        let admin = cluster.url().to_owned();
        let schema = format!("bench_{tag}_{:08x}", rand::random::<u32>());
        psql(&admin, &format!("CREATE SCHEMA {schema}"))?;
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-csearch_path%3D{schema}");
        Ok(Database::Postgres { admin, schema, url })
    }

    fn target(&self) -> &str {
        match self {
            Database::Sqlite { path, .. } => path,
            Database::Postgres { url, .. } => url,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { admin, schema, .. } = self {
            let _ = psql(admin, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// Runs one statement with `psql` (Debian's client, installed with the
/// server the cluster script uses).
fn psql(url: &str, sql: &str) -> Result<(), String> {
    let status = Command::new("psql")
        .arg("-qX")
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-d")
        .arg(url)
        .arg("-c")
        .arg(format!("SET client_min_messages = warning; {sql}"))
        .status()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("psql `{sql}` failed with {status}"))
    }
}
