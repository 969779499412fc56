//! A small HTTP/1.1 client for cronhook's API: one keep-alive connection per
//! worker (so "64 connections" means exactly that), and the two load shapes
//! the scenarios need: many single requests (schedule creation) and batches.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The public QStash dev token, cronhook's default.
pub const TOKEN: &str = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0=";

/// Longest wait for one API answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// One keep-alive connection, reopened when it breaks.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake with {}: {e}", self.addr))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just set"))
    }

    /// Sends one request with the token; returns the status and the body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        let host = self.addr.to_string();
        let result = async {
            let sender = self.sender().await?;
            sender
                .ready()
                .await
                .map_err(|e| format!("connection not ready: {e}"))?;
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header("Host", host)
                .header("Authorization", format!("Bearer {TOKEN}"));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = req
                .body(Full::new(body))
                .map_err(|e| format!("bad request {path}: {e}"))?;
            let response = sender
                .send_request(req)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{path}: reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, result).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("{path}: no answer within {REQUEST_TIMEOUT:?}"))
            }
        }
    }
}

/// `GET /healthz` on a fresh connection: the status.
pub async fn healthz(addr: SocketAddr) -> Result<u16, String> {
    let mut conn = Conn::new(addr);
    let (status, _) = tokio::time::timeout(
        Duration::from_secs(2),
        conn.request(Method::GET, "/healthz", &[], Bytes::new()),
    )
    .await
    .map_err(|_| "healthz timed out".to_owned())??;
    Ok(status)
}

/// What a bulk load did.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Items accepted (schedules created, batch messages with a messageId).
    pub accepted: u64,
    pub elapsed: Duration,
    /// Per-request latency, milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    /// Transport errors that were retried.
    pub retries: u64,
}

impl LoadStats {
    pub fn per_s(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A request a worker sends: path, headers, body.
pub struct Call {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// How to judge an answer: how many items it accepted, or why it failed.
pub type Judge = fn(u16, &Bytes) -> Result<u64, String>;

/// Sends `count` calls (built by `make(i)`) over `conns` keep-alive
/// connections, each worker taking the next index. Transport errors are
/// retried up to 3 times on a new connection when `retry` (only for
/// idempotent calls); a bad status stops everything.
pub async fn run_load<F>(
    addr: SocketAddr,
    count: usize,
    conns: usize,
    make: F,
    judge: Judge,
    retry: bool,
    label: &str,
) -> Result<LoadStats, String>
where
    F: Fn(usize) -> Call + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let started = Instant::now();
    let progress = {
        let done = done.clone();
        let label = label.to_owned();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = done.load(Ordering::Relaxed);
                eprintln!(
                    "[bench]   {label}: {n}/{count} requests ({:.0}/s)",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let mut workers = Vec::new();
    for _ in 0..conns.max(1) {
        let (make, next, done, failed, first_error) = (
            make.clone(),
            next.clone(),
            done.clone(),
            failed.clone(),
            first_error.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut stats = LoadStats::default();
            loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let call = make(i);
                let headers: Vec<(&str, &str)> = call
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let mut tries = 0;
                let outcome = loop {
                    let t0 = Instant::now();
                    match conn
                        .request(Method::POST, &call.path, &headers, call.body.clone())
                        .await
                    {
                        Ok((status, body)) => {
                            stats.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                            break judge(status, &body);
                        }
                        Err(_) if retry && tries < 3 => {
                            tries += 1;
                            stats.retries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => break Err(e),
                    }
                };
                match outcome {
                    Ok(n) => stats.accepted += n,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(format!("request {i}: {e}"));
                        break;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            stats
        }));
    }
    let mut total = LoadStats::default();
    for w in workers {
        let s = w
            .await
            .map_err(|e| format!("a load worker panicked: {e}"))?;
        total.accepted += s.accepted;
        total.retries += s.retries;
        total.latencies_ms.extend(s.latencies_ms);
    }
    total.elapsed = started.elapsed();
    progress.abort();
    if let Some(e) = first_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(format!("{label}: {e}"));
    }
    total.latencies_ms.sort_by(f64::total_cmp);
    Ok(total)
}

/// A 2xx counts one item.
pub fn judge_one(status: u16, body: &Bytes) -> Result<u64, String> {
    if (200..300).contains(&status) {
        Ok(1)
    } else {
        Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(body)
        ))
    }
}

/// A batch answer: every element must carry a messageId.
pub fn judge_batch(status: u16, body: &Bytes) -> Result<u64, String> {
    if !(200..300).contains(&status) {
        return Err(format!(
            "batch status {status}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    let items: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| format!("batch answer is not a JSON array: {e}"))?;
    let mut ok = 0;
    for item in &items {
        if item.get("messageId").and_then(Value::as_str).is_some() {
            ok += 1;
        } else {
            return Err(format!("batch item refused: {item}"));
        }
    }
    Ok(ok)
}

/// `POST /v2/schedules/<destination>` with these settings.
pub fn schedule_call(
    destination: &str,
    id: String,
    cron: String,
    seconds: bool,
    body: &'static str,
) -> Call {
    let mut headers = vec![
        ("Upstash-Cron".to_owned(), cron),
        ("Upstash-Schedule-Id".to_owned(), id),
        ("Content-Type".to_owned(), "text/plain".to_owned()),
    ];
    if seconds {
        headers.push(("Cronhook-Cron-Seconds".to_owned(), "true".to_owned()));
    }
    Call {
        path: format!("/v2/schedules/{destination}"),
        headers,
        body: Bytes::from_static(body.as_bytes()),
    }
}

/// The JSON body of one `POST /v2/batch` with `n` messages to `destination`,
/// each with these per-message headers and this body.
pub fn batch_body(destination: &str, n: usize, headers: &[(&str, String)], body: &str) -> Bytes {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let mut item = serde_json::json!({ "destination": destination, "body": body });
    if !headers.is_empty() {
        item["headers"] = Value::Object(headers);
    }
    let items = vec![item; n];
    Bytes::from(serde_json::to_vec(&items).expect("JSON"))
}
