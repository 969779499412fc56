//! The fast sink: an axum server on 127.0.0.1 that answers 200 at once and
//! records each request's arrival time and the `Upstash-Message-Id`,
//! `Upstash-Schedule-Id` and `Cronhook-Slot-Time` headers. It also counts
//! the TCP connections it accepted (to see connection reuse).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;

/// One request as the sink saw it.
pub struct Rec {
    /// Arrival, Unix microseconds.
    pub at_us: i64,
    pub id: Option<Box<str>>,
    pub schedule: Option<Box<str>>,
    /// `Cronhook-Slot-Time`, Unix milliseconds.
    pub slot_ms: Option<i64>,
}

#[derive(Default)]
struct Shared {
    recs: Mutex<Vec<Rec>>,
    count: AtomicU64,
    conns: AtomicU64,
}

pub struct Sink {
    /// `http://127.0.0.1:<port>/sink`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub fn now_ms() -> i64 {
    now_us() / 1000
}

fn text(headers: &HeaderMap, name: &str) -> Option<Box<str>> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(Into::into)
}

async fn record(State(shared): State<Arc<Shared>>, headers: HeaderMap, _body: Bytes) -> StatusCode {
    let rec = Rec {
        at_us: now_us(),
        id: text(&headers, "upstash-message-id"),
        schedule: text(&headers, "upstash-schedule-id"),
        slot_ms: headers
            .get("cronhook-slot-time")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    shared
        .recs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(rec);
    shared.count.fetch_add(1, Ordering::Release);
    StatusCode::OK
}

impl Sink {
    pub async fn start() -> Result<Sink, String> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("binding the sink: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("sink address: {e}"))?;
        let shared = Arc::new(Shared::default());
        let counted = shared.clone();
        let listener = listener.tap_io(move |tcp| {
            let _ = tcp.set_nodelay(true);
            counted.conns.fetch_add(1, Ordering::Relaxed);
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("[bench] the sink failed: {e}");
            }
        });
        Ok(Sink {
            url: format!("http://{addr}/sink"),
            shared,
            task,
        })
    }

    pub fn count(&self) -> u64 {
        self.shared.count.load(Ordering::Acquire)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.conns.load(Ordering::Relaxed)
    }

    /// Waits until `n` requests arrived. Gives up when none arrived for
    /// `stall`, or at `deadline`; returns how many had arrived then.
    pub async fn wait_for(&self, n: u64, stall: Duration, deadline: Instant) -> Result<(), u64> {
        let mut last = self.count();
        let mut last_change = Instant::now();
        loop {
            let c = self.count();
            if c >= n {
                return Ok(());
            }
            if c != last {
                last = c;
                last_change = Instant::now();
            }
            if last_change.elapsed() > stall || Instant::now() > deadline {
                return Err(c);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many records so far satisfy `f`.
    pub fn count_matching(&self, f: impl Fn(&Rec) -> bool) -> u64 {
        let recs = self.shared.recs.lock().unwrap_or_else(|p| p.into_inner());
        recs.iter().filter(|r| f(r)).count() as u64
    }

    /// Takes every record so far.
    pub fn take(&self) -> Vec<Rec> {
        std::mem::take(&mut *self.shared.recs.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
