//! A real HTTP sink on 127.0.0.1: records every request it receives (arrival
//! time, method, path, headers, exact body bytes) and answers with a status
//! chosen per path. It runs its own tokio runtime on a thread, so blocking
//! tests and async tests can both use it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Router;

use super::wait::now_ms;

/// How long a test watches for a request that must not come. On the manual
/// clock nothing falls due while a test watches, so a wrong delivery would
/// be sent at once; this only bounds how long "at once" may take.
pub const QUIET: Duration = Duration::from_millis(300);

/// One request as the sink saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Arrival, Unix milliseconds.
    pub at_ms: i64,
    pub method: String,
    /// Path and query, exactly as requested.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// How the sink answers a path.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// The response body; `sink says <status>` when not set.
    pub body: Option<Vec<u8>>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    answers: Mutex<HashMap<String, Answer>>,
    /// Per path: requests being answered now, and the most there were.
    in_flight: Mutex<HashMap<String, (usize, usize)>>,
}

pub struct Sink {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn record(State(shared): State<Arc<Shared>>, request: Request) -> impl IntoResponse {
    let at_ms = now_ms();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    shared.received.lock().unwrap().push(Received {
        at_ms,
        method: parts.method.to_string(),
        target,
        headers: parts.headers,
        body,
    });
    let answer = shared.answers.lock().unwrap().get(&path).cloned();
    let answer = answer.unwrap_or(Answer {
        status: 200,
        headers: vec![],
        delay: Duration::ZERO,
        body: None,
    });
    if !answer.delay.is_zero() {
        {
            let mut in_flight = shared.in_flight.lock().unwrap();
            let (now, most) = in_flight.entry(path.clone()).or_default();
            *now += 1;
            *most = (*most).max(*now);
        }
        tokio::time::sleep(answer.delay).await;
        if let Some((now, _)) = shared.in_flight.lock().unwrap().get_mut(&path) {
            *now -= 1;
        }
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &answer.headers {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    if !headers.contains_key(axum::http::header::CONTENT_TYPE) {
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    let body = answer
        .body
        .unwrap_or_else(|| format!("sink says {}", answer.status).into_bytes());
    (StatusCode::from_u16(answer.status).unwrap(), headers, body)
}

impl Sink {
    pub fn start() -> Sink {
        let shared = Arc::new(Shared::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(record).with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Sink {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answer requests to `path` with `status` and `headers`.
    pub fn answer(&self, path: &str, status: u16, headers: &[(&str, &str)]) {
        self.answer_after(path, status, headers, Duration::ZERO);
    }

    /// Like `answer`, after sleeping `delay` (a slow destination).
    pub fn answer_after(&self, path: &str, status: u16, headers: &[(&str, &str)], delay: Duration) {
        self.set_answer(path, status, headers, delay, None);
    }

    /// Like `answer`, with `body` as the response body.
    pub fn answer_with_body(&self, path: &str, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.set_answer(path, status, headers, Duration::ZERO, Some(body.to_vec()));
    }

    fn set_answer(
        &self,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        delay: Duration,
        body: Option<Vec<u8>>,
    ) {
        self.shared.answers.lock().unwrap().insert(
            path.to_owned(),
            Answer {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                delay,
                body,
            },
        );
    }

    /// Everything received on `path` so far, in arrival order.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path() == path)
            .cloned()
            .collect()
    }

    /// Asserts that `path` has received exactly `n` requests, and still has
    /// after watching for `QUIET`.
    pub fn assert_stays(&self, path: &str, n: usize, why: &str) {
        assert_eq!(self.received(path).len(), n, "{path}: {why}");
        std::thread::sleep(QUIET);
        let got = self.received(path);
        assert_eq!(got.len(), n, "{path}: {why}; received {got:#?}");
    }

    /// The most requests to `path` that were held at once by an
    /// `answer_after` delay (0 if none was).
    pub fn max_concurrent(&self, path: &str) -> usize {
        self.shared
            .in_flight
            .lock()
            .unwrap()
            .get(path)
            .map_or(0, |(_, most)| *most)
    }

    /// Waits (bounded) until `path` has received at least `n` requests.
    pub fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(path);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
