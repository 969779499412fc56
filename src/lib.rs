//! cronhook: a self-hosted HTTP scheduler that speaks the Upstash QStash v2 API.
//!
//! `App::start` wires the layers: the store (SQLite, one writer thread), the
//! engine (timer → dispatch → delivery), the service the API calls, and the
//! HTTP server. See ARCHITECTURE.md. Section signs in comments (`§4.4`) cite
//! `docs/qstash-wire.md`; `workflow-wire §3.1` cites `docs/workflow-wire.md`.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod cron;
pub mod duration;
pub mod engine;
pub mod filter;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod node;
pub mod retry;
pub mod schedfile;
pub mod service;
pub mod signing;
pub mod store;
pub mod workflow;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
use config::ConfigError;
use model::SigningKeys;
use node::{ClusterSettings, EngineParts, Node};
use store::{OpenError, Store, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "refusing to listen on {0} with the public QStash dev token: anyone who can reach \
         this address could make this machine send requests. Set QSTASH_TOKEN (or --token) \
         to a secret of your own, or listen on 127.0.0.1"
    )]
    PublicDevToken(String),
    #[error("--listen {listen}: {why}")]
    Listen { listen: String, why: String },
    #[error("--metrics-listen {listen}: {why}")]
    MetricsListen { listen: String, why: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database {db}: {source}")]
    Open {
        /// Shown without a password.
        db: store::DbTarget,
        #[source]
        source: OpenError,
    },
    #[error("cannot start on the database {db}: {source}")]
    Store {
        db: store::DbTarget,
        #[source]
        source: StoreError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running cronhook.
pub struct App {
    /// For work done in-process at start (`serve --schedules`).
    service: service::Service,
    addr: SocketAddr,
    /// Where `--metrics-listen` serves `/metrics` without a token.
    metrics_addr: Option<SocketAddr>,
    store: Store,
    /// The engine, or on a node of several, the engine of each term it leads.
    node: Node,
    keys: Arc<RwLock<SigningKeys>>,
    keys_generated: bool,
    stop_http: CancellationToken,
    http: TaskTracker,
    grace: Duration,
}

/// The addresses `listen` names (`127.0.0.1:8080`, `localhost:9000`), IPv4
/// first: the JS SDK's dev mode looks for its server at 127.0.0.1 only
/// (docs/qstash-wire.md §11.3), so `localhost:8080` must bind there even where
/// the resolver lists `::1` first.
async fn resolve(listen: &str) -> Result<Vec<SocketAddr>, StartError> {
    let bad = |why: String| StartError::Listen {
        listen: listen.to_owned(),
        why,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| bad(format!("not an address and port like 127.0.0.1:8080 ({e})")))?
        .collect();
    if addrs.is_empty() {
        return Err(bad("names no address".into()));
    }
    Ok(ipv4_first(addrs))
}

/// `addrs` with the IPv4 ones first, each family in its own order.
fn ipv4_first(mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs
}

/// Binds `--metrics-listen` and serves `/metrics` there without a token,
/// on the API's tasks and stop token, so it stops with the API. Errors name
/// the flag.
async fn serve_metrics(
    listen: &str,
    state: api::AppState,
    limits: api::server::Limits,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<SocketAddr, StartError> {
    let addrs = resolve(listen).await.map_err(|e| match e {
        StartError::Listen { listen, why } => StartError::MetricsListen { listen, why },
        other => other,
    })?;
    let listener = bind(&addrs).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: addrs[0],
        source,
    })?;
    // A scraper needs few connections.
    let limits = api::server::Limits {
        max_connections: 64,
        ..limits
    };
    tasks.spawn(api::server::serve(
        listener,
        api::metrics_router(state),
        limits,
        stop.clone(),
        tasks.clone(),
    ));
    Ok(addr)
}

/// Raises the soft limit on open files to the hard one; returns the limit
/// in force. Each client connection and each delivery holds a descriptor.
fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    }
}

impl App {
    /// Opens the database, loads the timer, then binds and serves. Once this
    /// returns, `/healthz` answers and every stored schedule is armed.
    pub async fn start(config: Config) -> Result<App, StartError> {
        App::start_with_clock(config, Arc::new(clock::SystemClock)).await
    }

    /// `start` on another clock: tests drive the engine with a
    /// `clock::ManualClock`.
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn clock::Clock>,
    ) -> Result<App, StartError> {
        let addrs = resolve(&config.listen).await?;
        let loopback = addrs.iter().all(|a| a.ip().is_loopback());
        if !loopback && config.uses_public_dev_token() {
            return Err(StartError::PublicDevToken(config.listen.clone()));
        }
        let key_source = config.key_source(loopback)?;
        let descriptors = raise_descriptor_limit();
        let db = config.db.absolute();
        let store = Store::open(&db, config.sync).map_err(|source| StartError::Open {
            db: db.clone(),
            source,
        })?;
        // From here on, a failure closes what was started.
        let stored = |source| StartError::Store {
            db: db.clone(),
            source,
        };
        let (keys, keys_generated) = match store.signing_keys(key_source).await {
            Ok(k) => k,
            Err(e) => {
                store.close(Duration::from_secs(5)).await;
                return Err(stored(e));
            }
        };
        let keys = Arc::new(RwLock::new(keys));
        let parts = EngineParts {
            store: store.clone(),
            settings: config.engine_settings(),
            keys: keys.clone(),
            clock: clock.clone(),
        };
        // On PostgreSQL, several nodes may share the database: this one's
        // commits are announced under its id, and the lease decides whether
        // it runs the engine. SQLite is always a single node.
        let postgres = match &db {
            store::DbTarget::Postgres(url) => {
                let node = ids::node_id();
                store.set_before_commit(Arc::new(store::cluster::Notifier::new(node.clone())));
                Some((url.as_str(), node))
            }
            store::DbTarget::Sqlite(_) => None,
        };
        let node_id = postgres.as_ref().map(|(_, node)| node.clone());
        let started = match cluster_settings(&config, postgres) {
            None => Node::single(parts).await,
            Some(cluster) => Node::cluster(parts, cluster).map_err(|e| {
                StoreError::Unwritable(format!("cannot start the cluster threads: {e}"))
            }),
        };
        let (engine, engine_handle) = match started {
            Ok(started) => started,
            Err(e) => {
                store.close(Duration::from_secs(5)).await;
                return Err(stored(e));
            }
        };
        engine.settled(config.lease * 2).await;
        let listener = match bind(&addrs).await {
            Ok(l) => l,
            Err(e) => {
                undo_start(engine, &store).await;
                return Err(e);
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(source) => {
                undo_start(engine, &store).await;
                return Err(StartError::Bind {
                    addr: addrs[0],
                    source,
                });
            }
        };
        let service = service::Service::new(
            store.clone(),
            engine_handle,
            clock,
            service::Settings {
                dedup_window_ms: config.dedup_window.as_millis() as i64,
                shown: config.shown(),
                node: node_id,
            },
        );
        let state = api::AppState {
            service: service.clone(),
            token: config.token.as_str().into(),
            max_body: config.max_body,
            sessions: Default::default(),
            open_console: loopback && config.uses_public_dev_token(),
            base_url: format!("http://{addr}").into(),
        };
        let router = api::router(state.clone());
        let limits = api::server::Limits {
            max_connections: config
                .max_connections
                .map(|n| n as usize)
                .unwrap_or_else(|| api::server::default_max_connections(descriptors)),
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
        };
        let stop_http = CancellationToken::new();
        let http = TaskTracker::new();
        let metrics_addr = match &config.metrics_listen {
            None => None,
            Some(listen) => match serve_metrics(listen, state, limits, &stop_http, &http).await {
                Ok(a) => Some(a),
                Err(e) => {
                    undo_start(engine, &store).await;
                    return Err(e);
                }
            },
        };
        http.spawn(api::server::serve(
            listener,
            router,
            limits,
            stop_http.clone(),
            http.clone(),
        ));
        tracing::info!(
            %addr,
            metrics = %metrics_addr.map_or("-".to_owned(), |a| a.to_string()),
            db = %db,
            max_connections = limits.max_connections,
            "cronhook is ready"
        );
        Ok(App {
            service,
            addr,
            metrics_addr,
            store,
            node: engine,
            keys,
            keys_generated,
            stop_http,
            http,
            grace: config.shutdown_grace,
        })
    }

    /// The service the API calls, for in-process work.
    pub fn service(&self) -> &service::Service {
        &self.service
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `--metrics-listen` address, if one was asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The signing keys in use (after any rotation).
    pub fn signing_keys(&self) -> SigningKeys {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether cronhook generated the signing keys (none were configured):
    /// then they are printed at start, for the app's receiver.
    pub fn keys_generated(&self) -> bool {
        self.keys_generated
    }

    /// `http://<addr>`, the `QSTASH_URL` for clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets requests and deliveries in progress
    /// finish, cuts short what is still out near the end of the shutdown
    /// grace, and commits everything: all within the grace.
    pub async fn shutdown(self) {
        let deadline = Instant::now() + self.grace;
        // The last part of the grace is kept for the store's final commit.
        let store_time = (self.grace / 5).min(Duration::from_secs(1));
        let work_deadline = deadline - store_time;
        self.stop_http.cancel();
        self.http.close();
        let attempts_margin = (self.grace / 5).min(Duration::from_secs(1));
        let http = self.http.clone();
        let (_, http_done) = tokio::join!(
            self.node.shutdown(work_deadline, attempts_margin),
            tokio::time::timeout_at(work_deadline, http.wait())
        );
        if http_done.is_err() {
            tracing::warn!("open API requests did not finish within the grace period");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if self.store.close(left.max(Duration::from_millis(100))).await {
            tracing::info!("store closed; everything committed");
        } else {
            tracing::warn!("store did not close in time");
        }
    }
}

/// Several nodes share a PostgreSQL database (`postgres`: its URL and this
/// process's node id, the one its notices carry); on SQLite there is one
/// node, and no lease.
fn cluster_settings(config: &Config, postgres: Option<(&str, String)>) -> Option<ClusterSettings> {
    postgres.map(|(url, node)| ClusterSettings {
        db_url: url.to_owned(),
        node,
        node_url: config.node_url.clone(),
        lease: config.lease,
        catch_up: config.catch_up,
    })
}

/// Undoes a start that failed after the engine started: the engine stops
/// at once (nothing was attempted yet that needs a grace), then the store
/// closes, which commits what is queued and releases the file's lock.
async fn undo_start(engine: Node, store: &Store) {
    engine
        .shutdown(Instant::now() + Duration::from_secs(1), Duration::ZERO)
        .await;
    store.close(Duration::from_secs(5)).await;
}

/// Binds the first of `addrs` that works.
async fn bind(addrs: &[SocketAddr]) -> Result<tokio::net::TcpListener, StartError> {
    let mut last = None;
    for addr in addrs {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(source) => {
                last = Some(StartError::Bind {
                    addr: *addr,
                    source,
                })
            }
        }
    }
    Err(last.expect("resolve gives at least one address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_binds_ipv4_first_for_the_js_dev_mode() {
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let other: SocketAddr = "[::2]:8080".parse().unwrap();
        assert_eq!(ipv4_first(vec![v6, other, v4]), vec![v4, v6, other]);
    }
}
