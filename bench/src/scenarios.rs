//! The scenarios. Each returns its JSON object (without `scenario`), or an
//! error with the end of cronhook's log. Guards (`Server`, `TempDir`, `Sink`)
//! stop and remove everything when a scenario returns, whatever it returns.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{Timelike, Utc};
use cronhook::engine::client::{header_map, HttpClient, Outgoing, Reply};
use serde_json::{json, Map, Value};

use crate::api::{self, Call};
use crate::hang::Hanging;
use crate::report::{distribution, round, threads_text};
use crate::server::{self, db_bytes, thread_cpu_s, thread_ticks, ProcStats, Server, TempDir};
use crate::sink::{now_ms, now_us, Sink};
use crate::{Args, LatenessMode, Scenario};

/// Shared between scenarios of one run.
pub struct Ctx {
    pub args: Args,
    pub bin: PathBuf,
    /// `raw`'s requests/s, once measured.
    raw_rps: Mutex<Option<f64>>,
    /// The batch accept rate of the `throughput` FULL run, once measured.
    accept_rate: Mutex<Option<f64>>,
}

impl Ctx {
    pub fn new(args: Args, bin: PathBuf) -> Ctx {
        Ctx {
            args,
            bin,
            raw_rps: Mutex::new(None),
            accept_rate: Mutex::new(None),
        }
    }
}

pub async fn run(ctx: Arc<Ctx>, scenario: Scenario) -> Result<Value, String> {
    match scenario {
        Scenario::Raw => raw(&ctx).await,
        Scenario::Throughput => throughput(&ctx).await,
        Scenario::Lateness => lateness(&ctx).await,
        Scenario::Burst => burst(&ctx).await,
        Scenario::PendingMemory => pending_memory(&ctx).await,
        Scenario::Hanging => hanging(&ctx).await,
        Scenario::Scale => scale(&ctx).await,
        Scenario::Idle => idle(&ctx).await,
        // `listing.rs` and `nodes.rs` build on this module's helpers; `main.rs`
        // runs their scenarios, so the two modules do not import each other.
        Scenario::ListingMemory | Scenario::CancelMemory | Scenario::Nodes => {
            Err(format!("{} is run by main", scenario.name()))
        }
        Scenario::All => Err("`all` is expanded before running".into()),
    }
}

pub(crate) fn say(what: impl AsRef<str>) {
    eprintln!("[bench] {}", what.as_ref());
}

pub(crate) fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("bench.db")
}

/// `cronhook serve` on `db` with `extra` and every `--cronhook-arg`.
pub(crate) async fn start_server(
    ctx: &Ctx,
    db: &std::path::Path,
    extra: &[&str],
) -> Result<Server, String> {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(ctx.args.cronhook_arg.iter().map(String::as_str));
    Server::start(&ctx.bin, db, &args).await
}

async fn sleep_until_ms(at_ms: i64) {
    let left = at_ms - now_ms();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64)).await;
    }
}

/// CPU, memory and per-thread CPU of cronhook over a stretch of time.
struct Usage {
    stats: ProcStats,
    threads: BTreeMap<String, u64>,
    at: Instant,
}

impl Usage {
    fn sample(server: &Server) -> Result<Usage, String> {
        Ok(Usage {
            stats: server.stats()?,
            threads: thread_ticks(server.pid),
            at: Instant::now(),
        })
    }

    /// `cronhook_cpu_s`, `cronhook_cpu_pct_of_one_core`, the busiest threads,
    /// `rss_mb` and `peak_rss_mb` since `self`.
    fn report(&self, server: &Server, out: &mut Map<String, Value>) -> Result<(), String> {
        let now = Usage::sample(server)?;
        let cpu = now.stats.cpu_s_since(&self.stats);
        let wall = now.at.duration_since(self.at).as_secs_f64().max(1e-9);
        out.insert("cronhook_cpu_s".into(), round(cpu, 2));
        out.insert(
            "cronhook_cpu_pct_of_one_core".into(),
            round(100.0 * cpu / wall, 1),
        );
        out.insert(
            "cronhook_cpu_by_thread".into(),
            threads_text(&thread_cpu_s(&self.threads, &now.threads)).into(),
        );
        out.insert("rss_mb".into(), round(now.stats.rss_mb(), 1));
        out.insert("peak_rss_mb".into(), round(now.stats.hwm_mb(), 1));
        Ok(())
    }
}

/// Warnings and errors cronhook logged, with the first few as evidence.
fn log_counts(server: &Server, out: &mut Map<String, Value>) {
    let log = server.log();
    out.insert("cronhook_log_warnings".into(), log.warnings.into());
    out.insert("cronhook_log_errors".into(), log.errors.into());
    if !log.notable.is_empty() {
        out.insert(
            "cronhook_log_first_notable".into(),
            log.notable[0].clone().into(),
        );
    }
}

// ---------------------------------------------------------------------------
// raw

/// A signature of the size cronhook sends (an HS256 JWT, ~400 bytes).
fn fake_signature() -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
        "a".repeat(320),
        "b".repeat(43)
    )
}

async fn raw(ctx: &Ctx) -> Result<Value, String> {
    let sink = Sink::start().await?;
    let client = HttpClient::new(ctx.args.raw_in_flight);
    let in_flight = ctx.args.raw_in_flight.max(1);
    let duration = Duration::from_secs_f64(ctx.args.raw_seconds.max(0.1));
    say(format!(
        "raw: HttpClient → sink, {in_flight} in flight for {:.1} s",
        duration.as_secs_f64()
    ));
    let signature = Arc::new(fake_signature());
    let seq = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (client, url, signature, seq, first_error) = (
            client.clone(),
            sink.url.clone(),
            signature.clone(),
            seq.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                let id = format!("msg_raw_{i}");
                let headers = header_map([
                    ("Content-Type", "text/plain"),
                    ("User-Agent", "Upstash-QStash"),
                    ("Upstash-Signature", signature.as_str()),
                    ("Upstash-Message-Id", id.as_str()),
                    ("Upstash-Retried", "0"),
                ])
                .expect("plain headers");
                let reply = client
                    .send(Outgoing {
                        method: "POST",
                        url: &url,
                        headers,
                        body: Bytes::from_static(b"x"),
                        timeout: Duration::from_secs(10),
                    })
                    .await;
                match reply {
                    Reply::Response { status: 200, .. } => {
                        ok += 1;
                        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                    other => {
                        failed += 1;
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(format!("{other:?}"));
                    }
                }
            }
            (ok, failed, latencies)
        }));
    }
    let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
    for t in tasks {
        let (o, f, l) = t.await.map_err(|e| format!("a raw task panicked: {e}"))?;
        ok += o;
        failed += f;
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rps = ok as f64 / elapsed;
    *ctx.raw_rps.lock().unwrap_or_else(|p| p.into_inner()) = Some(rps);
    let mut out = Map::new();
    out.insert("requests_per_s".into(), round(rps, 0));
    out.insert("requests".into(), ok.into());
    out.insert("failed_requests".into(), failed.into());
    if let Some(e) = first_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        out.insert("first_failure".into(), e.into());
    }
    out.insert("in_flight".into(), in_flight.into());
    out.insert("seconds".into(), round(elapsed, 2));
    out.extend(distribution("request_", &mut latencies));
    out.insert(
        "sink_connections_accepted".into(),
        sink.connections().into(),
    );
    say(format!("raw: {rps:.0} requests/s"));
    Ok(Value::Object(out))
}

/// `raw`'s requests/s; measured now when `raw` did not run yet.
pub(crate) async fn raw_rps(ctx: &Ctx) -> Result<(f64, bool), String> {
    if let Some(r) = *ctx.raw_rps.lock().unwrap_or_else(|p| p.into_inner()) {
        return Ok((r, false));
    }
    say("throughput: measuring raw first (the ratio needs it)");
    raw(ctx).await?;
    let r = ctx
        .raw_rps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or("raw did not record a rate")?;
    Ok((r, true))
}

// ---------------------------------------------------------------------------
// publishing helpers

/// Publishes `n` messages to the sink via /v2/batch, with per-message headers.
async fn publish(
    ctx: &Ctx,
    server: &Server,
    sink_url: &str,
    n: usize,
    headers: &[(&str, String)],
    label: &str,
) -> Result<api::LoadStats, String> {
    let size = ctx.args.batch_size;
    publish_batches(ctx, server, sink_url, n, size, headers, "x", label).await
}

/// Publishes `n` messages with this body via /v2/batch, `size` per request,
/// over `--batch-connections` connections.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn publish_batches(
    ctx: &Ctx,
    server: &Server,
    sink_url: &str,
    n: usize,
    size: usize,
    headers: &[(&str, String)],
    body: &str,
    label: &str,
) -> Result<api::LoadStats, String> {
    if n == 0 {
        return Ok(api::LoadStats::default());
    }
    let size = size.max(1);
    let chunks = n.div_ceil(size);
    let full = api::batch_body(sink_url, size, headers, body);
    let last = api::batch_body(sink_url, n - (chunks - 1) * size, headers, body);
    api::run_load(
        server.addr,
        chunks,
        ctx.args.batch_connections,
        move |i| Call {
            path: "/v2/batch".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: if i + 1 == chunks {
                last.clone()
            } else {
                full.clone()
            },
        },
        api::judge_batch,
        false,
        label,
    )
    .await
    .map_err(|e| server.failure(&e))
}

/// Creates `n` schedules over `--connections` connections.
pub(crate) async fn create_schedules<F>(
    ctx: &Ctx,
    server: &Server,
    n: usize,
    make: F,
    label: &str,
) -> Result<api::LoadStats, String>
where
    F: Fn(usize) -> Call + Send + Sync + 'static,
{
    let conns = ctx.args.connections.clamp(1, n.max(1));
    say(format!(
        "{label}: creating {n} schedules over {conns} connections"
    ));
    let stats = api::run_load(server.addr, n, conns, make, api::judge_one, true, label)
        .await
        .map_err(|e| server.failure(&e))?;
    say(format!(
        "{label}: {} schedules in {:.1} s ({:.0}/s)",
        stats.accepted,
        stats.elapsed.as_secs_f64(),
        stats.per_s()
    ));
    Ok(stats)
}

fn load_fields(prefix: &str, stats: &mut api::LoadStats, out: &mut Map<String, Value>) {
    out.extend(distribution(
        &format!("{prefix}request_"),
        &mut stats.latencies_ms,
    ));
    if stats.retries > 0 {
        out.insert(format!("{prefix}retried_requests"), stats.retries.into());
    }
}

/// Message ids seen more than once.
fn duplicates(recs: &[crate::sink::Rec]) -> (usize, usize) {
    let mut seen = HashSet::with_capacity(recs.len());
    let mut dups = 0;
    for r in recs {
        if !seen.insert(r.id.as_deref()) {
            dups += 1;
        }
    }
    (seen.len(), dups)
}

// ---------------------------------------------------------------------------
// throughput

async fn throughput(ctx: &Ctx) -> Result<Value, String> {
    let (raw, measured_here) = raw_rps(ctx).await?;
    let mut runs = Vec::new();
    for sync in ["full", "normal"] {
        runs.push(throughput_run(ctx, sync, raw).await?);
    }
    Ok(json!({
        "messages": ctx.args.messages,
        "batch_size": ctx.args.batch_size,
        "batch_connections": ctx.args.batch_connections,
        "raw_requests_per_s": round(raw, 0),
        "raw_measured_for_this_scenario": measured_here,
        "runs": runs,
    }))
}

async fn throughput_run(ctx: &Ctx, sync: &str, raw: f64) -> Result<Value, String> {
    let n = ctx.args.messages;
    let dir = TempDir::new("throughput")?;
    let extra: &[&str] = if sync == "normal" {
        &["--sync", "normal"]
    } else {
        &[]
    };
    let server = start_server(ctx, &db_path(&dir), extra).await?;
    let sink = Sink::start().await?;
    say(format!(
        "throughput (sync={sync}): publishing {n} messages in batches of {}",
        ctx.args.batch_size
    ));
    let usage = Usage::sample(&server)?;
    let published_at = crate::sink::now_us();
    let mut load = publish(ctx, &server, &sink.url, n, &[], "batch").await?;
    let accepted = load.accepted;
    say(format!(
        "throughput (sync={sync}): accepted {accepted} in {:.2} s; waiting for deliveries",
        load.elapsed.as_secs_f64()
    ));
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 100);
    if let Err(got) = sink
        .wait_for(accepted, Duration::from_secs(30), deadline)
        .await
    {
        return Err(server.failure(&format!(
            "only {got} of {accepted} messages were delivered (stalled)"
        )));
    }
    let mut out = Map::new();
    usage.report(&server, &mut out)?;
    // Anything arriving right after the last one is a duplicate.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recs = sink.take();
    let (unique, dups) = duplicates(&recs);
    let first = recs.iter().map(|r| r.at_us).min().unwrap_or(0);
    let last = recs.iter().map(|r| r.at_us).max().unwrap_or(0);
    let span_s = (last - first) as f64 / 1e6;
    let rate = unique as f64 / span_s.max(1e-9);
    let end_to_end_s = (last - published_at) as f64 / 1e6;
    let mut run = Map::new();
    run.insert("sync".into(), sync.into());
    run.insert("accepted_messages".into(), accepted.into());
    run.insert("accept_messages_per_s".into(), round(load.per_s(), 0));
    run.insert("delivered_messages".into(), unique.into());
    run.insert("duplicate_deliveries".into(), dups.into());
    run.insert("deliveries_per_s".into(), round(rate, 0));
    run.insert("ratio_to_raw".into(), round(rate / raw, 3));
    run.insert("first_to_last_delivery_s".into(), round(span_s, 2));
    run.insert(
        "publish_start_to_last_delivery_s".into(),
        round(end_to_end_s, 2),
    );
    run.insert(
        "end_to_end_messages_per_s".into(),
        round(unique as f64 / end_to_end_s.max(1e-9), 0),
    );
    load_fields("batch_", &mut load, &mut run);
    run.extend(out);
    run.insert(
        "sink_connections_accepted".into(),
        sink.connections().into(),
    );
    log_counts(&server, &mut run);
    if sync == "full" {
        *ctx.accept_rate.lock().unwrap_or_else(|p| p.into_inner()) = Some(load.per_s());
    }
    say(format!(
        "throughput (sync={sync}): {rate:.0} deliveries/s ({:.3} of raw), accept {:.0}/s",
        rate / raw,
        load.per_s()
    ));
    drop(server);
    drop(dir);
    Ok(Value::Object(run))
}

// ---------------------------------------------------------------------------
// lateness

async fn lateness(ctx: &Ctx) -> Result<Value, String> {
    let design = match ctx.args.lateness_mode {
        LatenessMode::Spread => {
            "spread: schedule i has cron `<i % 60> * * * * *` (Cronhook-Cron-Seconds), so each \
             second of the minute has K/60 schedules and K/60 deliveries/s are due"
        }
        LatenessMode::EverySecond => {
            "every-second: every schedule has cron `* * * * * *`, so K deliveries/s are due"
        }
    };
    let mut runs = Vec::new();
    for &k in &ctx.args.lateness_schedules {
        runs.push(lateness_run(ctx, k).await?);
    }
    Ok(json!({
        "design": design,
        "measured_seconds": ctx.args.seconds,
        "skipped_seconds": ctx.args.skip_seconds,
        "runs": runs,
    }))
}

async fn lateness_run(ctx: &Ctx, k: usize) -> Result<Value, String> {
    let spread = ctx.args.lateness_mode == LatenessMode::Spread;
    let dir = TempDir::new("lateness")?;
    let server = start_server(ctx, &db_path(&dir), &[]).await?;
    let sink = Sink::start().await?;
    let dest = sink.url.clone();
    let label = format!("lateness K={k}");
    let created = create_schedules(
        ctx,
        &server,
        k,
        move |i| {
            let cron = if spread {
                format!("{} * * * * *", i % 60)
            } else {
                "* * * * * *".to_owned()
            };
            api::schedule_call(&dest, format!("lat-{i}"), cron, true, "x")
        },
        &label,
    )
    .await?;
    let created_ms = now_ms();
    let start_ms = (created_ms + ctx.args.skip_seconds as i64 * 1000) / 1000 * 1000 + 1000;
    let end_ms = start_ms + ctx.args.seconds as i64 * 1000;
    // Schedules per second-of-minute, to know what is due in the window.
    let mut per_second = [0u64; 60];
    for i in 0..k {
        if spread {
            per_second[i % 60] += 1;
        } else {
            per_second.iter_mut().for_each(|c| *c += 1);
        }
    }
    let expected: u64 = (start_ms / 1000..end_ms / 1000)
        .map(|s| per_second[(s % 60) as usize])
        .sum();
    say(format!(
        "{label}: measuring {} s ({expected} slots due, {:.0}/s)",
        ctx.args.seconds,
        expected as f64 / ctx.args.seconds.max(1) as f64
    ));
    sleep_until_ms(start_ms).await;
    let usage = Usage::sample(&server)?;
    sleep_until_ms(end_ms).await;
    let mut out = Map::new();
    usage.report(&server, &mut out)?;
    // Let the window's last slots arrive (up to 30 s late).
    let in_window = |r: &crate::sink::Rec| r.slot_ms.is_some_and(|s| s >= start_ms && s < end_ms);
    let wait_until = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = sink.count_matching(in_window);
        if got >= expected || Instant::now() > wait_until {
            break;
        }
    }
    let recs = sink.take();
    let mut lateness = Vec::new();
    let mut during_creation = Vec::new();
    let mut slots = HashSet::new();
    let (mut dups, mut early) = (0u64, 0u64);
    for r in &recs {
        let Some(slot) = r.slot_ms else { continue };
        let late = r.at_us as f64 / 1000.0 - slot as f64;
        if slot >= start_ms && slot < end_ms {
            if !slots.insert((r.schedule.clone(), slot)) {
                dups += 1;
            }
            if late < 0.0 {
                early += 1;
            }
            lateness.push(late);
        } else if slot < start_ms {
            during_creation.push(late);
        }
    }
    let delivered = slots.len() as u64;
    let mut run = Map::new();
    run.insert("schedules".into(), k.into());
    run.insert("create_per_s".into(), round(created.per_s(), 0));
    run.insert(
        "due_deliveries_per_s".into(),
        round(expected as f64 / ctx.args.seconds.max(1) as f64, 1),
    );
    run.insert("due_slots".into(), expected.into());
    run.insert("delivered_slots".into(), delivered.into());
    run.insert(
        "missing_slots".into(),
        expected.saturating_sub(delivered).into(),
    );
    run.insert("duplicate_deliveries".into(), dups.into());
    run.insert("early_deliveries".into(), early.into());
    run.extend(distribution("", &mut lateness));
    let creation = distribution("during_creation_", &mut during_creation);
    for key in ["during_creation_p99_ms", "during_creation_max_ms"] {
        if let Some(v) = creation.get(key) {
            run.insert(key.into(), v.clone());
        }
    }
    run.extend(out);
    log_counts(&server, &mut run);
    say(format!(
        "{label}: p50 {} ms, p99 {} ms, max {} ms, {delivered}/{expected} slots",
        run["p50_ms"], run["p99_ms"], run["max_ms"]
    ));
    drop(server);
    drop(dir);
    Ok(Value::Object(run))
}

// ---------------------------------------------------------------------------
// burst

async fn burst(ctx: &Ctx) -> Result<Value, String> {
    let n = ctx.args.burst_messages();
    let dir = TempDir::new("burst")?;
    let server = start_server(ctx, &db_path(&dir), &[]).await?;
    let sink = Sink::start().await?;
    // Everything must be accepted before the instant: allow for half the
    // accept rate `throughput` saw (or a cautious guess), plus 3 s.
    let known_rate = *ctx.accept_rate.lock().unwrap_or_else(|p| p.into_inner());
    let rate = known_rate.unwrap_or(10_000.0).max(500.0);
    let lead_s = ctx
        .args
        .burst_lead_seconds
        .unwrap_or_else(|| (n as f64 / (rate * 0.5)).ceil() as u64 + 3)
        .max(2);
    let instant_s = now_ms() / 1000 + 1 + lead_s as i64;
    let instant_ms = instant_s * 1000;
    say(format!(
        "burst: publishing {n} messages due at one instant, {lead_s} s ahead"
    ));
    let mut load = publish(
        ctx,
        &server,
        &sink.url,
        n,
        &[("Upstash-Not-Before", instant_s.to_string())],
        "burst batch",
    )
    .await?;
    let published_ms = now_ms();
    let margin_ms = instant_ms - published_ms;
    say(format!(
        "burst: accepted {} in {:.1} s ({:.0}/s), {margin_ms} ms before the instant",
        load.accepted,
        load.elapsed.as_secs_f64(),
        load.per_s()
    ));
    sleep_until_ms(instant_ms - 300).await;
    let before = server.stats()?;
    let usage = Usage::sample(&server)?;
    let deadline = Instant::now() + Duration::from_secs(300 + n as u64 / 100);
    if let Err(got) = sink
        .wait_for(load.accepted, Duration::from_secs(30), deadline)
        .await
    {
        return Err(server.failure(&format!(
            "only {got} of {} messages were delivered (stalled)",
            load.accepted
        )));
    }
    let mut out = Map::new();
    usage.report(&server, &mut out)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recs = sink.take();
    let (unique, dups) = duplicates(&recs);
    let instant_us = instant_ms * 1000;
    let early = recs.iter().filter(|r| r.at_us < instant_us).count();
    let first = recs.iter().map(|r| r.at_us).min().unwrap_or(0);
    let last = recs.iter().map(|r| r.at_us).max().unwrap_or(0);
    let mut after: Vec<f64> = recs
        .iter()
        .map(|r| (r.at_us - instant_us) as f64 / 1000.0)
        .collect();
    let drain_s = (last - instant_us) as f64 / 1e6;
    let mut run = Map::new();
    run.insert("messages".into(), n.into());
    run.insert("accepted_messages".into(), load.accepted.into());
    run.insert("accept_messages_per_s".into(), round(load.per_s(), 0));
    run.insert("lead_s".into(), lead_s.into());
    run.insert("accepted_before_instant".into(), (margin_ms > 0).into());
    run.insert("accepted_ms_before_instant".into(), margin_ms.into());
    run.insert(
        "first_delivery_after_instant_ms".into(),
        round((first - instant_us) as f64 / 1000.0, 1),
    );
    run.insert(
        "last_delivery_after_instant_ms".into(),
        round(drain_s * 1000.0, 1),
    );
    run.insert(
        "drain_deliveries_per_s".into(),
        round(unique as f64 / drain_s.max(1e-9), 0),
    );
    run.insert(
        "first_to_last_deliveries_per_s".into(),
        round(unique as f64 / ((last - first) as f64 / 1e6).max(1e-9), 0),
    );
    run.insert("delivered_messages".into(), unique.into());
    run.insert("duplicate_deliveries".into(), dups.into());
    run.insert("early_deliveries".into(), early.into());
    let dist = distribution("after_instant_", &mut after);
    for key in ["after_instant_p50_ms", "after_instant_p99_ms"] {
        run.insert(key.into(), dist[key].clone());
    }
    run.insert("rss_with_all_pending_mb".into(), round(before.rss_mb(), 1));
    load_fields("batch_", &mut load, &mut run);
    run.extend(out);
    run.insert(
        "sink_connections_accepted".into(),
        sink.connections().into(),
    );
    log_counts(&server, &mut run);
    say(format!(
        "burst: last delivery {:.0} ms after the instant ({:.0}/s)",
        drain_s * 1000.0,
        unique as f64 / drain_s.max(1e-9)
    ));
    drop(server);
    drop(dir);
    Ok(Value::Object(run))
}

// ---------------------------------------------------------------------------
// pending-memory

/// cronhook's default `--max-body`.
const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// Room left in a /v2/batch body for the JSON around each message's body.
const BATCH_ITEM_OVERHEAD: usize = 256;

/// How long the pending messages wait: longer than any run.
const PENDING_DELAY: &str = "1d";

/// RSS of cronhook once it has settled after a load.
pub(crate) async fn settled_stats(server: &Server) -> Result<ProcStats, String> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.stats()
}

fn mb_between(later: &ProcStats, earlier: &ProcStats) -> Value {
    round((later.rss_kb as f64 - earlier.rss_kb as f64) / 1024.0, 1)
}

fn bytes_per_message(later: &ProcStats, earlier: &ProcStats, n: usize) -> Value {
    round(
        (later.rss_kb as f64 - earlier.rss_kb as f64) * 1024.0 / n.max(1) as f64,
        0,
    )
}

/// What pending delayed messages cost in memory: RSS of a fresh cronhook
/// before, after `--pending-large-messages` bodies of `--pending-large-bytes`
/// (one /v2/publish each) and after `--pending-small-messages` bodies of
/// `--pending-small-bytes` (via /v2/batch), all with `Upstash-Delay: 1d`, so
/// nothing is delivered during the run.
async fn pending_memory(ctx: &Ctx) -> Result<Value, String> {
    let (large_n, large_bytes) = (
        ctx.args.pending_large_messages,
        ctx.args.pending_large_bytes,
    );
    let (small_n, small_bytes) = (
        ctx.args.pending_small_messages,
        ctx.args.pending_small_bytes,
    );
    // A 1 MiB body fits the default limit exactly; raise it only when a
    // request would not (and the caller did not set it).
    let needed = large_bytes.max(small_bytes + BATCH_ITEM_OVERHEAD * 16);
    let user_set = ctx
        .args
        .cronhook_arg
        .iter()
        .any(|a| a.starts_with("--max-body"));
    let max_body = if needed > DEFAULT_MAX_BODY && !user_set {
        needed
    } else {
        DEFAULT_MAX_BODY
    };
    let max_body_arg = max_body.to_string();
    let extra: Vec<&str> = if max_body > DEFAULT_MAX_BODY {
        vec!["--max-body", &max_body_arg]
    } else {
        Vec::new()
    };
    // As many small messages per batch as fit under the limit.
    let per_batch = ctx
        .args
        .batch_size
        .min((max_body - BATCH_ITEM_OVERHEAD * 16) / (small_bytes + BATCH_ITEM_OVERHEAD))
        .max(1);
    let conns = ctx.args.batch_connections.max(1);

    let dir = TempDir::new("pending-memory")?;
    let db = db_path(&dir);
    let server = start_server(ctx, &db, &extra).await?;
    // Nothing should arrive here within the run; anything that does is early.
    let sink = Sink::start().await?;
    let before = settled_stats(&server).await?;
    let usage = Usage::sample(&server)?;
    let started = Instant::now();
    let delay = [("Upstash-Delay", PENDING_DELAY.to_owned())];

    say(format!(
        "pending-memory: publishing {large_n} messages of {large_bytes} bytes, delayed {PENDING_DELAY}, \
         {conns} at a time"
    ));
    let mut large = if large_n == 0 {
        api::LoadStats::default()
    } else {
        let path = format!("/v2/publish/{}", sink.url);
        let body = Bytes::from(vec![b'x'; large_bytes]);
        api::run_load(
            server.addr,
            large_n,
            conns.min(large_n),
            move |_| Call {
                path: path.clone(),
                headers: vec![
                    ("Content-Type".into(), "text/plain".into()),
                    ("Upstash-Delay".into(), PENDING_DELAY.into()),
                ],
                body: body.clone(),
            },
            api::judge_one,
            false,
            "pending-memory large",
        )
        .await
        .map_err(|e| server.failure(&e))?
    };
    let after_large = settled_stats(&server).await?;
    say(format!(
        "pending-memory: {} large accepted in {:.1} s; RSS {:.1} → {:.1} MB",
        large.accepted,
        large.elapsed.as_secs_f64(),
        before.rss_mb(),
        after_large.rss_mb()
    ));

    say(format!(
        "pending-memory: publishing {small_n} messages of {small_bytes} bytes, delayed \
         {PENDING_DELAY}, {per_batch} per batch, {conns} batches at a time"
    ));
    let small_body = "x".repeat(small_bytes);
    let mut small = publish_batches(
        ctx,
        &server,
        &sink.url,
        small_n,
        per_batch,
        &delay,
        &small_body,
        "pending-memory small",
    )
    .await?;
    let after_small = settled_stats(&server).await?;
    let seconds = started.elapsed().as_secs_f64();
    say(format!(
        "pending-memory: {} small accepted in {:.1} s; RSS {:.1} → {:.1} MB",
        small.accepted,
        small.elapsed.as_secs_f64(),
        after_large.rss_mb(),
        after_small.rss_mb()
    ));

    let mut out = Map::new();
    out.insert("delay".into(), PENDING_DELAY.into());
    out.insert("large_messages".into(), large_n.into());
    out.insert("large_body_bytes".into(), large_bytes.into());
    out.insert("large_accepted".into(), large.accepted.into());
    out.insert("small_messages".into(), small_n.into());
    out.insert("small_body_bytes".into(), small_bytes.into());
    out.insert("small_accepted".into(), small.accepted.into());
    out.insert("small_messages_per_batch".into(), per_batch.into());
    out.insert("connections".into(), conns.into());
    out.insert("cronhook_max_body".into(), max_body.into());
    out.insert(
        "body_mb_pending".into(),
        round(
            (large_n * large_bytes + small_n * small_bytes) as f64 / 1048576.0,
            1,
        ),
    );
    out.insert("rss_before_mb".into(), round(before.rss_mb(), 1));
    out.insert("rss_after_large_mb".into(), round(after_large.rss_mb(), 1));
    out.insert("rss_after_small_mb".into(), round(after_small.rss_mb(), 1));
    out.insert(
        "rss_growth_large_mb".into(),
        mb_between(&after_large, &before),
    );
    out.insert(
        "rss_growth_small_mb".into(),
        mb_between(&after_small, &after_large),
    );
    out.insert(
        "rss_growth_total_mb".into(),
        mb_between(&after_small, &before),
    );
    out.insert(
        "memory_bytes_per_large_message".into(),
        bytes_per_message(&after_large, &before, large_n),
    );
    out.insert(
        "memory_bytes_per_small_message".into(),
        bytes_per_message(&after_small, &after_large, small_n),
    );
    out.insert(
        "large_publish_s".into(),
        round(large.elapsed.as_secs_f64(), 2),
    );
    out.insert(
        "large_accept_messages_per_s".into(),
        round(large.per_s(), 0),
    );
    out.insert(
        "small_publish_s".into(),
        round(small.elapsed.as_secs_f64(), 2),
    );
    out.insert(
        "small_accept_messages_per_s".into(),
        round(small.per_s(), 0),
    );
    out.insert("measured_seconds".into(), round(seconds, 1));
    load_fields("large_", &mut large, &mut out);
    load_fields("small_batch_", &mut small, &mut out);
    let (db_b, wal_b) = db_bytes(&db);
    out.insert("db_mb".into(), round(db_b as f64 / 1048576.0, 1));
    out.insert("wal_mb".into(), round(wal_b as f64 / 1048576.0, 1));
    usage.report(&server, &mut out)?;
    out.insert("early_deliveries".into(), sink.count().into());
    log_counts(&server, &mut out);
    if large.accepted != large_n as u64 || small.accepted != small_n as u64 {
        return Err(server.failure(&format!(
            "accepted {} of {large_n} large and {} of {small_n} small messages",
            large.accepted, small.accepted
        )));
    }
    drop(server);
    drop(dir);
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------
// hanging

/// cronhook's defaults for `--max-in-flight` and
/// `--max-in-flight-per-destination`.
const DEFAULT_MAX_IN_FLIGHT: usize = 512;
const DEFAULT_MAX_IN_FLIGHT_PER_DESTINATION: usize = 32;

/// Connections each hanging listener holds open at most (more are closed
/// at once).
const HANGING_HOLD: usize = 100;

/// `Upstash-Timeout` of the hanging messages, seconds: longer than the run,
/// so every attempt they get is still held when the window ends.
const HANGING_TIMEOUT_S: u64 = 40;

/// Longest wait for the hanging destinations to hold their share.
const HANGING_SHARE_WAIT: Duration = Duration::from_secs(30);

/// Longest wait, after the window, for its deliveries and slots.
const HANGING_STRAGGLER_WAIT: Duration = Duration::from_secs(10);

/// The value of a `--cronhook-arg` option (`--name=N` or `--name N`).
fn cronhook_arg_usize(ctx: &Ctx, name: &str) -> Option<usize> {
    let args = &ctx.args.cronhook_arg;
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = v.parse().ok();
        } else if a == name {
            found = args.get(i + 1).and_then(|v| v.parse().ok());
        }
    }
    found
}

async fn sleep_until_us(at_us: i64) {
    let left = at_us - now_us();
    if left > 0 {
        tokio::time::sleep(Duration::from_micros(left as u64)).await;
    }
}

/// One healthy message as published: its id, when the request started
/// (Unix µs), and how long the request took (ms).
type Published = (String, i64, f64);

/// Publishes `n` messages to `sink_url`, one /v2/publish each on one
/// keep-alive connection, spread evenly over [start_ms, end_ms).
async fn publish_spread(
    addr: std::net::SocketAddr,
    sink_url: String,
    n: usize,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Published>, String> {
    let path = format!("/v2/publish/{sink_url}");
    let period_us = (end_ms - start_ms) * 1000;
    let mut conn = api::Conn::new(addr);
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        sleep_until_us(start_ms * 1000 + period_us * i as i64 / n as i64).await;
        let started_us = now_us();
        let t0 = Instant::now();
        let (status, body) = conn
            .request(
                hyper::Method::POST,
                &path,
                &[("Content-Type", "text/plain")],
                Bytes::from_static(b"x"),
            )
            .await?;
        let request_ms = t0.elapsed().as_secs_f64() * 1000.0;
        if !(200..300).contains(&status) {
            return Err(format!(
                "healthy publish {i}: status {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let id = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("messageId")?.as_str().map(str::to_owned))
            .ok_or_else(|| format!("healthy publish {i}: no messageId in the answer"))?;
        sent.push((id, started_us, request_ms));
    }
    Ok(sent)
}

/// Ten destinations that accept connections and never answer hold their
/// share of delivery capacity (60 messages each, `Upstash-Timeout: 40s`,
/// no retries); meanwhile, how late are deliveries to a healthy sink
/// (arrival − publish-request start) and seconds-schedules (arrival − slot
/// time), and how many connections did each hanging destination get.
async fn hanging(ctx: &Ctx) -> Result<Value, String> {
    let a = &ctx.args;
    let (hosts, per_host) = (a.hanging_hosts, a.hanging_messages);
    let per_destination = cronhook_arg_usize(ctx, "--max-in-flight-per-destination")
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT_PER_DESTINATION);
    let max_in_flight = cronhook_arg_usize(ctx, "--max-in-flight").unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    // What each hanging destination should hold: its share, or all it has.
    let share = per_destination.min(per_host) as u64;
    let dir = TempDir::new("hanging")?;
    let server = start_server(ctx, &db_path(&dir), &[]).await?;
    let sink = Sink::start().await?;
    let mut listeners = Vec::with_capacity(hosts);
    for _ in 0..hosts {
        listeners.push(Hanging::start(HANGING_HOLD).await?);
    }

    say(format!(
        "hanging: publishing {per_host} messages to each of {hosts} destinations that never \
         answer (Upstash-Timeout: {HANGING_TIMEOUT_S}s, no retries)"
    ));
    let published = Instant::now();
    let headers = [
        ("Upstash-Timeout", format!("{HANGING_TIMEOUT_S}s")),
        ("Upstash-Retries", "0".to_owned()),
    ];
    for h in &listeners {
        let load = publish_batches(
            ctx,
            &server,
            &h.url("/never"),
            per_host,
            a.batch_size,
            &headers,
            "x",
            "hanging batch",
        )
        .await?;
        if load.accepted != per_host as u64 {
            return Err(server.failure(&format!(
                "accepted {} of {per_host} hanging messages",
                load.accepted
            )));
        }
    }
    // Every destination holds its share, or all of --max-in-flight is held.
    let total_wanted = (hosts as u64 * share).min(max_in_flight as u64);
    let wait_until = Instant::now() + HANGING_SHARE_WAIT;
    let shares_reached = loop {
        let total: u64 = listeners.iter().map(Hanging::accepted).sum();
        if listeners.iter().all(|h| h.accepted() >= share) || total >= total_wanted {
            break true;
        }
        if Instant::now() > wait_until {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let held_after_ms = published.elapsed().as_secs_f64() * 1000.0;
    let held: u64 = listeners.iter().map(Hanging::accepted).sum();
    say(format!(
        "hanging: {held} attempts hanging after {held_after_ms:.0} ms (share {share} each{})",
        if shares_reached { "" } else { ", NOT reached" }
    ));

    let schedules = a.hanging_schedules;
    let dest = sink.url.clone();
    create_schedules(
        ctx,
        &server,
        schedules,
        move |i| {
            api::schedule_call(
                &dest,
                format!("hanging-tick-{i}"),
                "* * * * * *".into(),
                true,
                "x",
            )
        },
        "hanging schedules",
    )
    .await?;
    // From a whole second at least one second ahead: the schedules' first
    // slot is not in the window.
    let seconds = a.hanging_seconds.max(1);
    let start_ms = (now_ms() / 1000 + 2) * 1000;
    let end_ms = start_ms + seconds as i64 * 1000;
    let expected_slots = schedules as u64 * seconds;
    let n = a.hanging_healthy_messages;
    say(format!(
        "hanging: measuring {seconds} s: {n} messages to the healthy sink, {expected_slots} slots"
    ));
    let publisher = tokio::spawn(publish_spread(
        server.addr,
        sink.url.clone(),
        n,
        start_ms,
        end_ms,
    ));
    sleep_until_ms(start_ms).await;
    let usage = Usage::sample(&server)?;
    sleep_until_ms(end_ms).await;
    let mut out = Map::new();
    usage.report(&server, &mut out)?;
    // The hanging destinations as the window ends (before any 40 s timeout).
    let window_end_after_publish_s = published.elapsed().as_secs_f64();
    let connections: Vec<u64> = listeners.iter().map(Hanging::accepted).collect();
    let peak_open: Vec<u64> = listeners.iter().map(Hanging::peak_open).collect();
    let open: Vec<u64> = listeners.iter().map(Hanging::open).collect();
    let over_hold: u64 = listeners.iter().map(Hanging::over_hold).sum();
    let sent = publisher
        .await
        .map_err(|e| format!("the healthy publisher panicked: {e}"))?
        .map_err(|e| server.failure(&e))?;

    // Let the window's last deliveries and slots arrive.
    let ids: BTreeMap<&str, (i64, f64)> = sent
        .iter()
        .map(|(id, at, ms)| (id.as_str(), (*at, *ms)))
        .collect();
    let in_window = |r: &crate::sink::Rec| r.slot_ms.is_some_and(|s| s >= start_ms && s < end_ms);
    let wait_until = Instant::now() + HANGING_STRAGGLER_WAIT;
    loop {
        let healthy = sink.count_matching(|r| r.id.as_deref().is_some_and(|i| ids.contains_key(i)));
        let slots = sink.count_matching(in_window);
        if (healthy >= ids.len() as u64 && slots >= expected_slots) || Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recs = sink.take();

    let mut delivery_ms = Vec::with_capacity(n);
    let mut seen_ids = HashSet::new();
    let mut delivery_dups = 0u64;
    let mut firing_ms = Vec::new();
    let mut slots = HashSet::new();
    let (mut slot_dups, mut early) = (0u64, 0u64);
    for r in &recs {
        if let Some(slot) = r.slot_ms {
            if slot >= start_ms && slot < end_ms {
                if !slots.insert((r.schedule.clone(), slot)) {
                    slot_dups += 1;
                }
                let late = r.at_us as f64 / 1000.0 - slot as f64;
                if late < 0.0 {
                    early += 1;
                }
                firing_ms.push(late);
            }
        } else if let Some((at, _)) = r.id.as_deref().and_then(|i| ids.get(i)) {
            if seen_ids.insert(r.id.clone()) {
                delivery_ms.push((r.at_us - at) as f64 / 1000.0);
            } else {
                delivery_dups += 1;
            }
        }
    }
    let mut request_ms: Vec<f64> = sent.iter().map(|(_, _, ms)| *ms).collect();

    let mut deliveries = Map::new();
    deliveries.insert("published".into(), sent.len().into());
    deliveries.insert("delivered".into(), seen_ids.len().into());
    deliveries.insert(
        "missing_deliveries".into(),
        (sent.len() - seen_ids.len()).into(),
    );
    deliveries.insert("duplicate_deliveries".into(), delivery_dups.into());
    deliveries.extend(distribution("", &mut delivery_ms));
    let publish = distribution("publish_request_", &mut request_ms);
    for key in ["publish_request_p50_ms", "publish_request_max_ms"] {
        deliveries.insert(key.into(), publish[key].clone());
    }

    let mut firings = Map::new();
    firings.insert("schedules".into(), schedules.into());
    firings.insert("due_slots".into(), expected_slots.into());
    firings.insert("delivered_slots".into(), slots.len().into());
    firings.insert(
        "missing_slots".into(),
        expected_slots.saturating_sub(slots.len() as u64).into(),
    );
    firings.insert("duplicate_deliveries".into(), slot_dups.into());
    firings.insert("early_deliveries".into(), early.into());
    firings.extend(distribution("", &mut firing_ms));

    let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let mut run = Map::new();
    run.insert("hanging_hosts".into(), hosts.into());
    run.insert("hanging_messages_per_host".into(), per_host.into());
    run.insert("hanging_timeout_s".into(), HANGING_TIMEOUT_S.into());
    run.insert("max_in_flight".into(), max_in_flight.into());
    run.insert(
        "max_in_flight_per_destination".into(),
        per_destination.into(),
    );
    run.insert("hanging_shares_reached".into(), shares_reached.into());
    run.insert(
        "hanging_share_held_after_ms".into(),
        round(held_after_ms, 0),
    );
    run.insert("hanging_connections_each".into(), list(&connections).into());
    run.insert(
        "hanging_connections_max".into(),
        connections.iter().copied().max().unwrap_or(0).into(),
    );
    run.insert(
        "hanging_connections_total".into(),
        connections.iter().sum::<u64>().into(),
    );
    run.insert(
        "hanging_peak_open_max".into(),
        peak_open.iter().copied().max().unwrap_or(0).into(),
    );
    run.insert("hanging_open_at_window_end".into(), list(&open).into());
    run.insert(
        "hanging_listeners_over_share".into(),
        connections
            .iter()
            .filter(|c| **c > per_destination as u64)
            .count()
            .into(),
    );
    run.insert("hanging_closed_over_hold".into(), over_hold.into());
    run.insert(
        "window_end_after_hanging_publish_s".into(),
        round(window_end_after_publish_s, 1),
    );
    run.insert("measured_seconds".into(), seconds.into());
    run.insert("deliveries".into(), Value::Object(deliveries));
    run.insert("firings".into(), Value::Object(firings));
    run.extend(out);
    run.insert(
        "sink_connections_accepted".into(),
        sink.connections().into(),
    );
    log_counts(&server, &mut run);
    say(format!(
        "hanging: deliveries p50 {} / p99 {} / max {} ms, firings p50 {} / p99 {} / max {} ms, \
         {}/{expected_slots} slots, connections per hanging host {}",
        run["deliveries"]["p50_ms"],
        run["deliveries"]["p99_ms"],
        run["deliveries"]["max_ms"],
        run["firings"]["p50_ms"],
        run["firings"]["p99_ms"],
        run["firings"]["max_ms"],
        slots.len(),
        list(&connections)
    ));
    drop(listeners);
    drop(server);
    drop(dir);
    Ok(Value::Object(run))
}

// ---------------------------------------------------------------------------
// scale

async fn scale(ctx: &Ctx) -> Result<Value, String> {
    let n = ctx.args.schedules;
    let dir = TempDir::new("scale")?;
    let db = db_path(&dir);
    let mut server = start_server(ctx, &db, &[]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty = server.stats()?;
    let usage = Usage::sample(&server)?;
    let mut created = create_schedules(
        ctx,
        &server,
        n,
        |i| {
            api::schedule_call(
                "http://127.0.0.1:9/scale",
                format!("scale-{i:07}"),
                "0 0 1 1 *".into(),
                false,
                "{\"n\":1}",
            )
        },
        "scale",
    )
    .await?;
    let mut during = Map::new();
    usage.report(&server, &mut during)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = server.stats()?;
    let (db_b, wal_b) = db_bytes(&db);
    let mut run = Map::new();
    run.insert("schedules".into(), n.into());
    run.insert("created".into(), created.accepted.into());
    run.insert("connections".into(), ctx.args.connections.into());
    run.insert("create_per_s".into(), round(created.per_s(), 0));
    run.insert(
        "create_seconds".into(),
        round(created.elapsed.as_secs_f64(), 1),
    );
    load_fields("create_", &mut created, &mut run);
    for (k, v) in during {
        run.insert(format!("during_create_{k}"), v);
    }
    run.insert("rss_empty_mb".into(), round(empty.rss_mb(), 1));
    run.insert("rss_loaded_mb".into(), round(loaded.rss_mb(), 1));
    run.insert("peak_rss_mb".into(), round(loaded.hwm_mb(), 1));
    run.insert(
        "memory_bytes_per_schedule".into(),
        round(
            (loaded.rss_kb.saturating_sub(empty.rss_kb) * 1024) as f64 / n.max(1) as f64,
            0,
        ),
    );
    run.insert("db_mb".into(), round(db_b as f64 / 1048576.0, 1));
    run.insert("wal_mb".into(), round(wal_b as f64 / 1048576.0, 1));
    run.insert(
        "disk_bytes_per_schedule".into(),
        round((db_b + wal_b) as f64 / n.max(1) as f64, 0),
    );
    log_counts(&server, &mut run);

    say("scale: SIGKILL, then start again on the same database");
    server.kill();
    drop(server);
    let mut server = start_server(ctx, &db, &[]).await?;
    run.insert(
        "restart_to_ready_ms".into(),
        round(server.ready.as_secs_f64() * 1000.0, 0),
    );
    run.insert(
        "restart_to_url_line_ms".into(),
        round(server.url_line.as_secs_f64() * 1000.0, 0),
    );
    run.insert(
        "armed_after_restart".into(),
        server.log().armed_at_start.map_or(Value::Null, Value::from),
    );
    let restarted_now = server.stats()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = server.stats()?;
    run.insert("rss_after_restart_mb".into(), round(restarted.rss_mb(), 1));
    run.insert(
        "peak_rss_during_restart_mb".into(),
        round(restarted_now.hwm_mb(), 1),
    );
    run.insert(
        "memory_bytes_per_schedule_after_restart".into(),
        round(
            (restarted.rss_kb.saturating_sub(empty.rss_kb) * 1024) as f64 / n.max(1) as f64,
            0,
        ),
    );
    let (db_b, wal_b) = db_bytes(&db);
    run.insert(
        "disk_bytes_per_schedule_after_restart".into(),
        round((db_b + wal_b) as f64 / n.max(1) as f64, 0),
    );
    say(format!(
        "scale: ready {:.0} ms after the restart",
        server.ready.as_secs_f64() * 1000.0
    ));
    match server.terminate(Duration::from_secs(60)) {
        Ok((took, clean)) => {
            run.insert(
                "sigterm_to_exit_ms".into(),
                round(took.as_secs_f64() * 1000.0, 0),
            );
            run.insert("sigterm_exit_clean".into(), clean.into());
        }
        Err(e) => {
            run.insert("sigterm_error".into(), e.into());
        }
    }
    drop(server);
    drop(dir);
    Ok(Value::Object(run))
}

// ---------------------------------------------------------------------------
// idle

/// CPU and memory over `seconds` with nothing to do.
async fn idle_phase(server: &Server, seconds: u64, phase: &str) -> Result<Value, String> {
    let before = server.stats()?;
    let wakeups_before = server::context_switches(server.pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = server.stats()?;
    let wakeups = server::context_switches(server.pid).saturating_sub(wakeups_before);
    let cpu = after.cpu_s_since(&before);
    Ok(json!({
        "phase": phase,
        "seconds": seconds,
        "cpu_s": round(cpu, 3),
        "cpu_pct_of_one_core": round(100.0 * cpu / seconds.max(1) as f64, 3),
        "context_switches": wakeups,
        "rss_mb": round(after.rss_mb(), 1),
        "threads": after.threads,
    }))
}

async fn idle(ctx: &Ctx) -> Result<Value, String> {
    let seconds = ctx.args.seconds;
    let m = ctx.args.idle_schedules();
    let binary = server::file_size(&ctx.bin);
    let dir = TempDir::new("idle")?;
    let server = start_server(ctx, &db_path(&dir), &[]).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    say(format!("idle: {seconds} s with no schedules"));
    let empty = idle_phase(&server, seconds, "empty").await?;
    let due = Utc::now() + chrono::Duration::hours(1);
    let cron = format!("{} {} * * *", due.minute(), due.hour());
    let created = create_schedules(
        ctx,
        &server,
        m,
        move |i| {
            api::schedule_call(
                "http://127.0.0.1:9/idle",
                format!("idle-{i}"),
                cron.clone(),
                false,
                "x",
            )
        },
        "idle",
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    say(format!(
        "idle: {seconds} s with {m} schedules due in an hour"
    ));
    let loaded = idle_phase(&server, seconds, &format!("{m}_schedules_due_in_1h")).await?;
    let mut out = Map::new();
    out.insert("binary_size_mb".into(), round(binary as f64 / 1048576.0, 2));
    out.insert("binary".into(), ctx.bin.display().to_string().into());
    out.insert("schedules".into(), m.into());
    out.insert("create_per_s".into(), round(created.per_s(), 0));
    out.insert("phases".into(), json!([empty, loaded]));
    log_counts(&server, &mut out);
    drop(server);
    drop(dir);
    Ok(Value::Object(out))
}
