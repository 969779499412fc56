//! The HTTP server: accepting connections within limits, so that clients
//! that connect and send nothing can never make the API unreachable.
//!
//! - A connection must send a complete request head within
//!   `header_timeout`, and an idle keep-alive connection is closed after
//!   `idle_timeout`.
//! - At most `max_connections` are open (set below the descriptor limit, so
//!   `accept` never fails for lack of descriptors). At the limit a new
//!   connection is taken anyway and the oldest connection that has no
//!   request in progress is closed in its place: first those that never sent
//!   a complete request, then idle keep-alive ones. A client with a request
//!   is still served; the limit being reached is logged.
//! - On shutdown no new connection is accepted, idle ones close at once, and
//!   requests in progress finish (bounded by the caller's deadline).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service as _;

/// The server's connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// How many connections to allow with `descriptors` file descriptors:
/// half of them after 64 kept for the database, the runtime and logs; the
/// other half is left for the deliveries' outgoing connections.
pub fn default_max_connections(descriptors: u64) -> usize {
    (descriptors.saturating_sub(64) / 2).clamp(16, 65_536) as usize
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted; no complete request yet.
    Fresh,
    /// Between requests.
    Idle,
    /// This many requests in progress.
    Busy(u32),
}

struct Conn {
    phase: Mutex<(Phase, Instant)>,
    changed: Notify,
    close: CancellationToken,
}

impl Conn {
    fn phase(&self) -> (Phase, Instant) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a request in progress until the guard is dropped.
    fn busy(self: &Arc<Self>) -> BusyGuard {
        {
            let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
            p.0 = match p.0 {
                Phase::Busy(n) => Phase::Busy(n + 1),
                _ => Phase::Busy(1),
            };
        }
        self.changed.notify_one();
        BusyGuard(self.clone())
    }
}

struct BusyGuard(Arc<Conn>);

/// A response body that holds its connection's [`BusyGuard`] until it is
/// dropped (sent, or abandoned with its connection).
struct BusyBody {
    body: axum::body::Body,
    _busy: BusyGuard,
}

impl HttpBody for BusyBody {
    type Data = <axum::body::Body as HttpBody>::Data;
    type Error = <axum::body::Body as HttpBody>::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        {
            let mut p = self.0.phase.lock().unwrap_or_else(|p| p.into_inner());
            *p = match p.0 {
                Phase::Busy(n) if n > 1 => (Phase::Busy(n - 1), p.1),
                _ => (Phase::Idle, Instant::now()),
            };
        }
        self.0.changed.notify_one();
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Arc<Conn>>,
    last_warning: Option<Instant>,
}

impl Registry {
    /// Closes the oldest connection without a request in progress, the ones
    /// that never sent a request first. False when every one is busy.
    fn evict(&mut self) -> bool {
        let pick = |want: Phase| {
            self.open
                .iter()
                .find(|(_, c)| c.phase().0 == want && !c.close.is_cancelled())
                .map(|(id, _)| *id)
        };
        let Some(id) = pick(Phase::Fresh).or_else(|| pick(Phase::Idle)) else {
            return false;
        };
        if let Some(c) = self.open.remove(&id) {
            c.close.cancel();
        }
        true
    }

    fn warn_limit(&mut self, max: usize) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
        {
            self.last_warning = Some(now);
            tracing::warn!(
                max_connections = max,
                "connection limit reached: closing connections that have no request in progress \
                 (see --max-connections)"
            );
        }
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets
/// requests in progress finish; connection tasks run on `tasks`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let registry = Arc::new(Mutex::new(Registry::default()));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors despite the limit (other parts of the
                // process use them too): make room, then try again.
                let evicted = registry.lock().unwrap_or_else(|p| p.into_inner()).evict();
                tracing::warn!(error = %e, evicted, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = {
            let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
            if reg.open.len() >= limits.max_connections {
                reg.warn_limit(limits.max_connections);
                if !reg.evict() {
                    // Every connection has a request in progress: this one
                    // waits its turn by being refused.
                    drop(stream);
                    continue;
                }
            }
            let conn = Arc::new(Conn {
                phase: Mutex::new((Phase::Fresh, Instant::now())),
                changed: Notify::new(),
                close: CancellationToken::new(),
            });
            let id = reg.next;
            reg.next += 1;
            reg.open.insert(id, conn.clone());
            (id, conn)
        };
        let router = router.clone();
        let registry = registry.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let (id, conn) = conn;
            serve_connection(stream, peer, router, conn, limits, stop).await;
            registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    conn: Arc<Conn>,
    limits: Limits,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = tracked.busy();
        let mut router = router.clone();
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        async move {
            let response = router.call(request).await;
            // A body of unknown length is streamed (a listing) and may take
            // longer than the idle timeout: the connection stays busy until
            // its last byte is written.
            match response {
                Ok(r) if r.body().size_hint().exact().is_none() => {
                    Ok(r.map(|body| axum::body::Body::new(BusyBody { body, _busy: busy })))
                }
                other => other,
            }
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(http);
    let mut closing = false;
    loop {
        let (phase, since) = conn.phase();
        let deadline = match phase {
            Phase::Fresh => Some(since + limits.header_timeout),
            Phase::Idle => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        };
        tokio::select! {
            _ = &mut http => return,
            _ = conn.close.cancelled() => return,
            _ = stop.cancelled(), if !closing => {
                closing = true;
                http.as_mut().graceful_shutdown();
            }
            _ = conn.changed.notified() => {}
            _ = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                if conn.phase() == (phase, since) {
                    return; // timed out: dropping the connection closes it
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(phase: Phase) -> Arc<Conn> {
        Arc::new(Conn {
            phase: Mutex::new((phase, Instant::now())),
            changed: Notify::new(),
            close: CancellationToken::new(),
        })
    }

    #[test]
    fn eviction_closes_the_oldest_without_a_request_fresh_ones_first() {
        let mut reg = Registry::default();
        let busy = conn(Phase::Busy(1));
        let idle = conn(Phase::Idle);
        let fresh = conn(Phase::Fresh);
        for c in [&busy, &idle, &fresh] {
            reg.open.insert(reg.next, (*c).clone());
            reg.next += 1;
        }
        assert!(reg.evict());
        assert!(fresh.close.is_cancelled(), "fresh before idle");
        assert!(reg.evict());
        assert!(idle.close.is_cancelled());
        assert!(!reg.evict(), "a busy connection is never closed");
        assert!(!busy.close.is_cancelled());
    }

    #[test]
    fn a_request_makes_a_connection_busy_until_it_ends() {
        let c = conn(Phase::Fresh);
        let guard = c.busy();
        let inner = c.busy();
        assert_eq!(c.phase().0, Phase::Busy(2));
        drop(inner);
        assert_eq!(c.phase().0, Phase::Busy(1));
        drop(guard);
        assert_eq!(c.phase().0, Phase::Idle);
    }

    #[test]
    fn the_default_limit_stays_below_the_descriptors() {
        assert_eq!(default_max_connections(1024), 480);
        assert!(default_max_connections(64) >= 16);
        assert_eq!(default_max_connections(u64::MAX), 65_536);
    }
}
