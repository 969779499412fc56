//! A destination that hangs: a listener on 127.0.0.1 that accepts TCP
//! connections and never answers, what a dead or wedged host looks like to
//! a sender. It reads and discards what arrives (so it sees a connection
//! close) and holds at most `max` connections open; one more is closed at
//! once. It counts connections accepted and the most open at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    open: AtomicU64,
    peak_open: AtomicU64,
    /// Closed at once because `max` were already open.
    over_hold: AtomicU64,
}

pub struct Hanging {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
    /// Owns the connections' tasks (a `JoinSet`): aborting it closes them.
    task: tokio::task::JoinHandle<()>,
}

/// Reads until the peer closes, never writing a byte.
async fn hold(stream: TcpStream, counts: Arc<Counts>) {
    let mut buf = [0u8; 4096];
    while stream.readable().await.is_ok() {
        match stream.try_read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    counts.open.fetch_sub(1, Ordering::Relaxed);
}

impl Hanging {
    /// Listens on 127.0.0.1; holds at most `max` connections open.
    pub async fn start(max: usize) -> Result<Hanging, String> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("binding a hanging listener: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("hanging listener address: {e}"))?;
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            let mut held = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        shared.accepted.fetch_add(1, Ordering::Relaxed);
                        if shared.open.load(Ordering::Relaxed) >= max as u64 {
                            shared.over_hold.fetch_add(1, Ordering::Relaxed);
                            drop(stream);
                            continue;
                        }
                        let open = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
                        shared.peak_open.fetch_max(open, Ordering::Relaxed);
                        held.spawn(hold(stream, shared.clone()));
                    }
                    // Reap finished connections, so the set stays bounded.
                    Some(_) = held.join_next(), if !held.is_empty() => {}
                }
            }
        });
        Ok(Hanging { addr, counts, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::Relaxed)
    }

    /// Most connections open at once so far.
    pub fn peak_open(&self) -> u64 {
        self.counts.peak_open.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.counts.open.load(Ordering::Relaxed)
    }

    /// Connections closed at once because the listener held its most.
    pub fn over_hold(&self) -> u64 {
        self.counts.over_hold.load(Ordering::Relaxed)
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.task.abort();
    }
}
