//! `listing-memory` and `cancel-memory`: what large listings and a bulk
//! cancel cost cronhook in memory (RSS of the child, sampled every 20 ms
//! while the request runs, and again once it has settled), and how soon a
//! streamed listing starts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};

use crate::api::{self, Conn, TOKEN};
use crate::report::round;
use crate::scenarios::{
    create_schedules, db_path, publish_batches, say, settled_stats, start_server, Ctx,
};
use crate::server::{ProcStats, Server, TempDir};

/// How often the sampler reads the child's RSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The highest RSS of a process while something runs.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak_kb: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let task = {
            let (stop, peak_kb) = (stop.clone(), peak_kb.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(s) = ProcStats::read(pid) {
                        peak_kb.fetch_max(s.rss_kb, Ordering::Relaxed);
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            })
        };
        Sampler {
            stop,
            peak_kb,
            task,
        }
    }

    /// Stops sampling; the peak RSS seen, in KiB (with one last sample).
    async fn finish(self, pid: u32) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let last = ProcStats::read(pid).map_or(0, |s| s.rss_kb);
        self.peak_kb.load(Ordering::Relaxed).max(last)
    }
}

fn mb(kb: u64) -> Value {
    round(kb as f64 / 1024.0, 1)
}

fn growth_mb(later_kb: u64, earlier_kb: u64) -> Value {
    round((later_kb as f64 - earlier_kb as f64) / 1024.0, 1)
}

/// One streamed GET: when the head and the first body bytes arrived, how
/// long the whole body took, its size and how many times `needle` occurs in
/// it (counted across frame boundaries, without keeping the body).
struct Streamed {
    status: u16,
    head: Duration,
    first_byte: Duration,
    total: Duration,
    bytes: u64,
    found: u64,
}

async fn stream_get(addr: SocketAddr, path: &str, needle: &[u8]) -> Result<Streamed, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("Host", addr.to_string())
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad request {path}: {e}"))?;
    let t0 = Instant::now();
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let head = t0.elapsed();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut first_byte = None;
    let mut bytes = 0u64;
    let mut found = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("{path}: reading the body: {e}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        first_byte.get_or_insert_with(|| t0.elapsed());
        bytes += data.len() as u64;
        carry.extend_from_slice(data);
        found += carry.windows(needle.len()).filter(|w| *w == needle).count() as u64;
        let keep = needle.len().saturating_sub(1).min(carry.len());
        carry.drain(..carry.len() - keep);
    }
    Ok(Streamed {
        status,
        head,
        first_byte: first_byte.unwrap_or_else(|| t0.elapsed()),
        total: t0.elapsed(),
        bytes,
        found,
    })
}

// ---------------------------------------------------------------------------
// listing-memory

/// `--listing-schedules` schedules (one API create each), then
/// `GET /v2/schedules` read at full speed by a streaming client: RSS growth
/// at the peak and once settled, time to the head and to the first body
/// byte, total time and size. Then a second listing, to show that the
/// memory of the first was given back or reused.
pub async fn listing_memory(ctx: &Ctx) -> Result<Value, String> {
    let n = ctx.args.listing_schedules;
    let dir = TempDir::new("listing")?;
    let db = db_path(&dir);
    let server = start_server(ctx, &db, &[]).await?;
    let created = create_schedules(
        ctx,
        &server,
        n,
        |i| {
            api::schedule_call(
                "http://127.0.0.1:9/listing",
                format!("listing-{i:07}"),
                "0 0 1 1 *".into(),
                false,
                "{\"n\":1}",
            )
        },
        "listing-memory",
    )
    .await?;
    let mut out = Map::new();
    out.insert("schedules".into(), n.into());
    out.insert("created".into(), created.accepted.into());
    let before = settled_stats(&server).await?;
    out.insert("rss_before_mb".into(), mb(before.rss_kb));
    for round_no in 1..=2 {
        let prefix = if round_no == 1 { "" } else { "second_" };
        let (listed, peak_kb, after) = one_listing(&server).await?;
        if listed.status != 200 {
            return Err(server.failure(&format!("GET /v2/schedules answered {}", listed.status)));
        }
        say(format!(
            "listing-memory: {} schedules, {:.1} MB in {:.2} s, first byte after {:.0} ms, RSS +{:.1} MB at the peak, +{:.1} MB after",
            listed.found,
            listed.bytes as f64 / 1048576.0,
            listed.total.as_secs_f64(),
            listed.first_byte.as_secs_f64() * 1000.0,
            (peak_kb as f64 - before.rss_kb as f64) / 1024.0,
            (after.rss_kb as f64 - before.rss_kb as f64) / 1024.0,
        ));
        let mut put = |k: &str, v: Value| {
            out.insert(format!("{prefix}{k}"), v);
        };
        put("listed", listed.found.into());
        put("listing_mb", round(listed.bytes as f64 / 1048576.0, 1));
        put("head_ms", round(listed.head.as_secs_f64() * 1000.0, 1));
        put(
            "first_byte_ms",
            round(listed.first_byte.as_secs_f64() * 1000.0, 1),
        );
        put("total_s", round(listed.total.as_secs_f64(), 2));
        put("rss_peak_mb", mb(peak_kb));
        put("rss_growth_peak_mb", growth_mb(peak_kb, before.rss_kb));
        put("rss_after_mb", mb(after.rss_kb));
        put(
            "rss_growth_after_mb",
            growth_mb(after.rss_kb, before.rss_kb),
        );
    }
    drop(server);
    drop(dir);
    Ok(Value::Object(out))
}

/// One full `GET /v2/schedules` with the RSS sampled during it; the RSS
/// once settled afterwards.
async fn one_listing(server: &Server) -> Result<(Streamed, u64, ProcStats), String> {
    let sampler = Sampler::start(server.pid);
    let listed = stream_get(server.addr, "/v2/schedules", b"\"scheduleId\":").await;
    let peak_kb = sampler.finish(server.pid).await;
    let listed = listed.map_err(|e| server.failure(&e))?;
    let after = settled_stats(server).await?;
    Ok((listed, peak_kb, after))
}

// ---------------------------------------------------------------------------
// cancel-memory

/// Where the failing messages go: nothing listens on port 9 of loopback, so
/// each attempt fails at once.
const DEAD_URL: &str = "http://127.0.0.1:9/dead";

/// `--cancel-messages` messages that fail once (`Upstash-Retries: 0`, to a
/// closed port) fill the DLQ and the log; then the DLQ and the log are
/// walked page by page (`GET /v2/dlq`, `GET /v2/events?count=1000`) and the
/// DLQ emptied by one `DELETE /v2/dlq`; then as many messages delayed by a
/// day are cancelled by one `DELETE /v2/messages` (no selector: all). RSS growth of each phase, at
/// its peak and once settled.
pub async fn cancel_memory(ctx: &Ctx) -> Result<Value, String> {
    let n = ctx.args.cancel_messages;
    let dir = TempDir::new("cancel")?;
    let db = db_path(&dir);
    let server = start_server(ctx, &db, &[]).await?;
    let mut out = Map::new();
    out.insert("messages".into(), n.into());

    say(format!(
        "cancel-memory: {n} messages that fail once, into the DLQ"
    ));
    let retries = [("Upstash-Retries", "0".to_owned())];
    publish_batches(
        ctx,
        &server,
        DEAD_URL,
        n,
        ctx.args.batch_size,
        &retries,
        "{}",
        "cancel-memory dlq",
    )
    .await?;
    wait_for_dlq(&server, n).await?;

    let base = settled_stats(&server).await?;
    out.insert("rss_before_pages_mb".into(), mb(base.rss_kb));
    let t0 = Instant::now();
    let sampler = Sampler::start(server.pid);
    let walked = walk(&server, "/v2/dlq?count=100", "messages").await;
    let peak = sampler.finish(server.pid).await;
    let (pages, entries) = walked?;
    let after = settled_stats(&server).await?;
    say(format!(
        "cancel-memory: {entries} DLQ entries in {pages} pages, {:.1} s, RSS +{:.1} MB at the peak",
        t0.elapsed().as_secs_f64(),
        (peak as f64 - base.rss_kb as f64) / 1024.0
    ));
    out.insert("dlq_pages".into(), pages.into());
    out.insert("dlq_entries".into(), entries.into());
    out.insert("dlq_walk_s".into(), round(t0.elapsed().as_secs_f64(), 1));
    out.insert(
        "dlq_rss_growth_peak_mb".into(),
        growth_mb(peak, base.rss_kb),
    );
    out.insert(
        "dlq_rss_growth_after_mb".into(),
        growth_mb(after.rss_kb, base.rss_kb),
    );

    let base = after;
    let t0 = Instant::now();
    let sampler = Sampler::start(server.pid);
    let walked = walk(&server, "/v2/events?count=1000", "events").await;
    let peak = sampler.finish(server.pid).await;
    let (pages, entries) = walked?;
    let after = settled_stats(&server).await?;
    say(format!(
        "cancel-memory: {entries} log entries in {pages} pages, {:.1} s, RSS +{:.1} MB at the peak",
        t0.elapsed().as_secs_f64(),
        (peak as f64 - base.rss_kb as f64) / 1024.0
    ));
    out.insert("event_pages".into(), pages.into());
    out.insert("event_entries".into(), entries.into());
    out.insert("event_walk_s".into(), round(t0.elapsed().as_secs_f64(), 1));
    out.insert(
        "events_rss_growth_peak_mb".into(),
        growth_mb(peak, base.rss_kb),
    );
    out.insert(
        "events_rss_growth_after_mb".into(),
        growth_mb(after.rss_kb, base.rss_kb),
    );

    let base = after;
    let t0 = Instant::now();
    let sampler = Sampler::start(server.pid);
    let answer = Conn::new(server.addr)
        .request(Method::DELETE, "/v2/dlq", &[], Bytes::new())
        .await;
    let took = t0.elapsed();
    let peak = sampler.finish(server.pid).await;
    out.insert(
        "dlq_delete_rss_growth_peak_mb".into(),
        growth_mb(peak, base.rss_kb),
    );
    match answer {
        Ok((200, body)) => {
            let deleted = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["deleted"].as_u64());
            say(format!(
                "cancel-memory: DLQ deleted ({deleted:?}) in {:.1} s, RSS +{:.1} MB at the peak",
                took.as_secs_f64(),
                (peak as f64 - base.rss_kb as f64) / 1024.0
            ));
            out.insert("dlq_deleted".into(), deleted.into());
            out.insert("dlq_delete_s".into(), round(took.as_secs_f64(), 1));
        }
        Ok((status, body)) => {
            return Err(server.failure(&format!(
                "DELETE /v2/dlq answered {status}: {}",
                String::from_utf8_lossy(&body)
            )))
        }
        Err(e) => {
            say(format!("cancel-memory: {e}"));
            out.insert("dlq_delete_error".into(), e.into());
        }
    }

    say(format!("cancel-memory: {n} messages delayed by a day"));
    let delayed = [("Upstash-Delay", "1d".to_owned())];
    publish_batches(
        ctx,
        &server,
        DEAD_URL,
        n,
        ctx.args.batch_size,
        &delayed,
        "{}",
        "cancel-memory delayed",
    )
    .await?;
    let base = settled_stats(&server).await?;
    out.insert("rss_before_cancel_mb".into(), mb(base.rss_kb));
    let t0 = Instant::now();
    let sampler = Sampler::start(server.pid);
    let answer = Conn::new(server.addr)
        .request(Method::DELETE, "/v2/messages", &[], Bytes::new())
        .await;
    let took = t0.elapsed();
    let peak = sampler.finish(server.pid).await;
    out.insert(
        "cancel_rss_growth_peak_mb".into(),
        growth_mb(peak, base.rss_kb),
    );
    // A cancel that does not answer in time is a result too (its memory
    // was sampled all the same).
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(e) => {
            say(format!("cancel-memory: {e}"));
            out.insert("cancel_error".into(), e.into());
            return Ok(Value::Object(out));
        }
    };
    let cancelled = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["cancelled"].as_u64());
    if status != 200 || cancelled.is_none() {
        return Err(server.failure(&format!(
            "DELETE /v2/messages answered {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let after = settled_stats(&server).await?;
    say(format!(
        "cancel-memory: cancelled {} in {:.1} s, RSS +{:.1} MB at the peak",
        cancelled.unwrap_or(0),
        took.as_secs_f64(),
        (peak as f64 - base.rss_kb as f64) / 1024.0
    ));
    out.insert("cancelled".into(), cancelled.into());
    out.insert("cancel_s".into(), round(took.as_secs_f64(), 1));
    out.insert(
        "cancel_rss_growth_after_mb".into(),
        growth_mb(after.rss_kb, base.rss_kb),
    );
    drop(server);
    drop(dir);
    Ok(Value::Object(out))
}

/// How long the failing messages may take to reach the DLQ.
const DLQ_TIMEOUT: Duration = Duration::from_secs(600);

/// Waits until the console's overview counts `n` DLQ entries.
async fn wait_for_dlq(server: &Server, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + DLQ_TIMEOUT;
    let mut conn = Conn::new(server.addr);
    loop {
        let (status, body) = conn
            .request(Method::GET, "/cronhook/v1/overview", &[], Bytes::new())
            .await
            .map_err(|e| server.failure(&e))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let dlq = v["counts"]["dlq"].as_u64().or_else(|| v["dlq"].as_u64());
        if status != 200 {
            return Err(server.failure(&format!("overview answered {status}: {v}")));
        }
        if dlq.is_some_and(|d| d as usize >= n) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(server.failure(&format!(
                "after {DLQ_TIMEOUT:?} the DLQ holds {dlq:?} of {n} entries"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Walks every page of `path` (a QStash page with `cursor`), counting the
/// entries under `key`: `(pages, entries)`.
async fn walk(server: &Server, path: &str, key: &str) -> Result<(u64, u64), String> {
    let mut conn = Conn::new(server.addr);
    let mut cursor: Option<String> = None;
    let (mut pages, mut entries) = (0u64, 0u64);
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, body) = conn
            .request(Method::GET, &url, &[], Bytes::new())
            .await
            .map_err(|e| server.failure(&e))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| server.failure(&format!("{url}: not JSON: {e}")))?;
        if status != 200 {
            return Err(server.failure(&format!("{url} answered {status}: {v}")));
        }
        pages += 1;
        entries += v[key].as_array().map_or(0, |a| a.len() as u64);
        cursor = match &v["cursor"] {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if cursor.is_none() {
            return Ok((pages, entries));
        }
    }
}
