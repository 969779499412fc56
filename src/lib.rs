//! cronhook: a self-hosted HTTP scheduler that speaks the Upstash QStash v2 API.
//!
//! `App::start` wires the pieces: the store (SQLite, one writer thread), the
//! engine (timer → dispatch → delivery) and the API (axum). See ARCHITECTURE.md.

pub mod api;
pub mod clock;
pub mod config;
pub mod cron;
pub mod duration;
pub mod engine;
pub mod filter;
pub mod ids;
pub mod model;
pub mod retry;
pub mod signing;
pub mod store;
pub mod workflow;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;
use engine::Engine;
use model::SigningKeys;
use store::{Store, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "refusing to listen on {0} with the public QStash dev token: anyone who can reach \
         this address could make this machine send requests. Set QSTASH_TOKEN (or --token) \
         to a secret of your own, or listen on 127.0.0.1"
    )]
    PublicDevToken(SocketAddr),
    #[error("cannot open the database {path}: {source}")]
    Store {
        path: String,
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
    addr: SocketAddr,
    store: Store,
    engine: Engine,
    keys: Arc<RwLock<SigningKeys>>,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<()>,
    grace: Duration,
}

impl App {
    /// Opens the database, loads the timer, then binds and serves. Once this
    /// returns, `/healthz` answers and every stored schedule is armed.
    pub async fn start(config: Config) -> Result<App, StartError> {
        if !config.listen.ip().is_loopback() && config.uses_public_dev_token() {
            return Err(StartError::PublicDevToken(config.listen));
        }
        let store = Store::open(&config.db, config.sync).map_err(|source| StartError::Store {
            path: config.db.display().to_string(),
            source,
        })?;
        let configured = SigningKeys {
            current: config.current_signing_key.clone(),
            next: config.next_signing_key.clone(),
        };
        // Keys rotated through the API win until the configuration changes.
        let keys = store
            .signing_keys(configured)
            .await
            .map_err(|source| StartError::Store {
                path: config.db.display().to_string(),
                source,
            })?;
        let keys = Arc::new(RwLock::new(keys));
        let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
        let engine = Engine::start(
            store.clone(),
            config.engine_settings(),
            keys.clone(),
            clock.clone(),
        )
        .await
        .map_err(|source| StartError::Store {
            path: config.db.display().to_string(),
            source,
        })?;
        let state = api::AppState {
            store: store.clone(),
            engine: engine.handle(),
            clock,
            token: config.token.as_str().into(),
            keys: keys.clone(),
            max_body: config.max_body,
            dedup_window_ms: config.dedup_window.as_millis() as i64,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let (stop_http, stopped) = oneshot::channel::<()>();
        let service = api::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let http = tokio::spawn(async move {
            let serve = axum::serve(listener, service).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
        tracing::info!(%addr, db = %config.db.display(), "cronhook is ready");
        Ok(App {
            addr,
            keys,
            store,
            engine,
            stop_http,
            http,
            grace: config.shutdown_grace,
        })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The signing keys in use (after any rotation).
    pub fn signing_keys(&self) -> SigningKeys {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `http://<addr>`, the `QSTASH_URL` for clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets requests and deliveries in progress
    /// finish (bounded by the shutdown grace), and commits everything.
    pub async fn shutdown(self) {
        let _ = self.stop_http.send(());
        if tokio::time::timeout(self.grace, self.http).await.is_err() {
            tracing::warn!("open API requests did not finish within the grace period");
        }
        self.engine.shutdown(self.grace).await;
        let store = self.store;
        let closed = tokio::task::spawn_blocking(move || store.close(Duration::from_secs(10)))
            .await
            .unwrap_or(false);
        if closed {
            tracing::info!("store closed; everything committed");
        } else {
            tracing::warn!("store did not close in time");
        }
    }
}
