//! cronhook in the test's own process, on a manual clock.
//!
//! The engine sleeps on the app's clock, so time-driven behaviour (a retry
//! 12 s later, a message delayed by a day, a dedup window, a misfire after a
//! restart, retention after two weeks) is driven by `advance` instead of by
//! sleeping: what a test sees depends on the order of events, not on how
//! fast the machine is. Deliveries still cross a real HTTP connection to a
//! real sink, and writes go to a real SQLite file (or, with
//! `CRONHOOK_TEST_POSTGRES` set, to a PostgreSQL schema of the app's own,
//! kept across `stop` / `start_again`; see `backend.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cronhook::clock::ManualClock;
use cronhook::{App, Config};

use super::backend::{self, PgSchema};
use super::sink::{Received, Sink};
use super::wait::WAIT;
use super::Target;

pub struct InProcess {
    runtime: tokio::runtime::Runtime,
    app: Option<App>,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub token: String,
    adjust: fn(&mut Config),
    /// On PostgreSQL, the schema `db()` stands for.
    schema: Option<Arc<PgSchema>>,
}

/// The clock's start: now, rounded up to a whole minute, so schedules have
/// their slots at known offsets. Near the real time, so signatures (valid
/// for 300 s from the engine's clock) verify on the test's clock too.
fn start_time() -> i64 {
    (super::wait::now_ms() / 60_000 + 1) * 60_000
}

impl InProcess {
    pub fn start() -> InProcess {
        InProcess::start_with(|_| {})
    }

    /// Starts with the defaults changed by `adjust`.
    pub fn start_with(adjust: fn(&mut Config)) -> InProcess {
        let mut p = InProcess::unbooted(start_time(), adjust);
        p.boot();
        p
    }

    /// Starts on a copy of database file `db`, with the clock at `at` (Unix
    /// ms): a database another release wrote, seen as at the moment it was.
    /// SQLite only: a test that uses it skips on PostgreSQL first.
    pub fn start_on_copy(db: &std::path::Path, at: i64) -> InProcess {
        assert!(
            !backend::on_postgres(),
            "start_on_copy copies a SQLite file: call skip_on_postgres first"
        );
        let mut p = InProcess::unbooted(at, |_| {});
        std::fs::copy(db, p.db()).unwrap();
        p.boot();
        p
    }

    /// A runtime, a manual clock at `at` and an empty folder; no app yet.
    fn unbooted(at: i64, adjust: fn(&mut Config)) -> InProcess {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        InProcess {
            runtime,
            app: None,
            clock: Arc::new(ManualClock::new(at)),
            dir: tempfile::tempdir().unwrap(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: String::new(),
            adjust,
            schema: None,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("cronhook.db")
    }

    fn boot(&mut self) {
        let (db, schema) = backend::db_arg(&self.db());
        if self.schema.is_none() {
            self.schema = schema;
        }
        let mut config = Config::new(backend::config_db(&db), "127.0.0.1:0");
        (self.adjust)(&mut config);
        self.token = config.token.clone();
        let app = self
            .runtime
            .block_on(App::start_with_clock(config, self.clock.clone()))
            .unwrap_or_else(|e| panic!("cronhook did not start: {e}"));
        self.addr = app.addr();
        self.app = Some(app);
    }

    /// Shuts cronhook down (as SIGTERM does); the database and clock stay.
    pub fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            self.runtime.block_on(app.shutdown());
        }
    }

    /// Starts cronhook again on the same database and clock (a restart).
    pub fn start_again(&mut self) {
        assert!(self.app.is_none(), "stop first");
        self.boot();
    }

    /// Moves the clock forward; the engine acts on what came due.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Moves the clock forward to `at` (Unix ms).
    pub fn advance_to(&self, at: i64) {
        let now = self.now_ms();
        assert!(at >= now, "the clock is at {now}, past {at}");
        self.clock.set(at);
    }

    /// The specification of "due at `at`": with the clock 1 ms before `at`,
    /// `path` gets nothing new; at `at` its next request arrives (bounded
    /// wait). Returns everything `path` received.
    pub fn expect_arrival_at(&self, sink: &Sink, path: &str, at: i64) -> Vec<Received> {
        let before = sink.received(path).len();
        self.advance_to(at - 1);
        sink.assert_stays(path, before, &format!("nothing before {at}"));
        self.advance_to(at);
        let got = sink.wait_for(path, before + 1, WAIT);
        assert_eq!(got.len(), before + 1, "{path}: one arrival at {at}");
        got
    }

    /// The signing key deliveries are signed with now.
    pub fn current_signing_key(&self) -> String {
        self.app().signing_keys().current
    }

    pub fn now_ms(&self) -> i64 {
        use cronhook::clock::Clock;
        self.clock.now_ms()
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().expect("running")
    }

    /// Runs `f` on the app's runtime (to call its service directly).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Target for InProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(15), app.shutdown()).await
            });
        }
    }
}
