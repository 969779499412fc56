//! All SQL lives here, behind an API in the domain's terms.
//!
//! Layers, each using only those below it:
//! - `ops/`: the `Store` methods, one transaction (or one read) each;
//! - `steps`: pieces several operations share (store a message with its
//!   log entry, drop one, end a workflow run);
//! - `rows/`: one table each, plain statements;
//! - `codec`: rows ↔ domain types.
//!
//! One connection owns every write, on its own thread, with group commit
//! (`writer`); each write names the timer changes it makes (`Change`), and
//! the writer hands them to the engine right after the commit, in commit
//! order. Reads go through separate connections (`read`), in WAL mode never
//! waiting for the writer.
//!
//! The database is SQLite or PostgreSQL (`DbTarget`); the SQL goes through
//! one facade (`db`) with a connection of either kind, so nothing above the
//! store knows which.

pub mod cluster;
mod codec;
pub(crate) mod db;
mod health;
mod lock;
mod migrations;
mod ops;
mod pg;
mod read;
mod rows;
mod steps;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use db::{Conn, DbError};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::model::{Message, Millis, SigningKeys};
pub use lock::OpenError;
pub use ops::console::{Activity, Counts, Histogram, NextFiring, ScheduleCursor};
pub use ops::dlq::{DlqSelection, DLQ_CHUNK};
pub use ops::events::LogCursor;
pub use ops::keys::KeySource;
pub use ops::messages::{NewMessage, Pending, Published, PublishedItem, CANCEL_CHUNK};
pub use ops::outcomes::{Outcome, Recorded};
pub use ops::queues::QueueDeleted;
pub use ops::retention::{Purged, Retention};
pub use ops::schedules::{FirePlan, Fired};
pub use ops::workflows::{
    FailureInfo, Hooked, Notified, Revive, ReviveOverrides, RunCursor, RunPage, RunSelection,
    WaitOutcome,
};
pub use pg::copy::{migrate_to_postgres, CopyReport, MigrateError};
use read::{Lane, Readers};
pub use writer::{BeforeCommit, Tx};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(DbError),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "the database has schema version {found}, newer than this cronhook knows ({known}); \
         upgrade cronhook or use another --db"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// The transaction could not be committed (read-only or full disk, I/O
    /// error): nothing of it was stored.
    #[error("the database cannot be written ({0})")]
    Unwritable(String),
    #[error("the store is shut down")]
    Closed,
    #[error("a write panicked; it was rolled back")]
    JobPanicked,
    /// Something the write needs does not exist (a URL group); nothing was
    /// stored.
    #[error("{0}")]
    NotFound(String),
    /// The operation does not exist on this backend (a file backup on
    /// PostgreSQL); the text says what to do instead.
    #[error("{0}")]
    Unsupported(String),
    /// A workflow rule refused the write (the whole transaction is undone).
    #[error(transparent)]
    Workflow(#[from] crate::workflow::WorkflowError),
}

impl From<DbError> for StoreError {
    /// A lost connection (PostgreSQL away) stored nothing and may work
    /// again soon: `Unwritable`, which the API answers 503.
    fn from(e: DbError) -> Self {
        if e.is_connection() {
            StoreError::Unwritable(format!("the database connection is lost ({e})"))
        } else if e.is_unwritable() {
            StoreError::Unwritable(e.to_string())
        } else {
            StoreError::Db(e)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(DbError::Sqlite(e))
    }
}

/// Where the data lives: `--db`. A value starting `postgres://` or
/// `postgresql://` is a PostgreSQL URL (libpq syntax); anything else is the
/// path of a SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbTarget {
    pub fn parse(s: &str) -> DbTarget {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            DbTarget::Postgres(s.to_owned())
        } else {
            DbTarget::Sqlite(PathBuf::from(s))
        }
    }

    /// The SQLite file made absolute (so messages and the lock name one
    /// file whatever the working folder later is); a URL as it is.
    pub fn absolute(&self) -> DbTarget {
        match self {
            DbTarget::Sqlite(p) => {
                DbTarget::Sqlite(std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            }
            pg => pg.clone(),
        }
    }

    /// The SQLite file, if it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DbTarget::Sqlite(p) => Some(p),
            DbTarget::Postgres(_) => None,
        }
    }

    /// For messages and `--print-config`: the path, or the URL with its
    /// password masked.
    pub fn redacted(&self) -> String {
        match self {
            DbTarget::Sqlite(p) => p.display().to_string(),
            DbTarget::Postgres(url) => redact_url(url),
        }
    }
}

impl std::str::FromStr for DbTarget {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DbTarget::parse(s))
    }
}

impl std::fmt::Display for DbTarget {
    /// Never shows a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<PathBuf> for DbTarget {
    fn from(p: PathBuf) -> Self {
        DbTarget::Sqlite(p)
    }
}

/// `postgres://user:secret@host/db?password=secret` →
/// `postgres://user:********@host/db?password=********`.
fn redact_url(url: &str) -> String {
    const MASK: &str = "********";
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:{MASK}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// A change to what the engine's timer must hold, made by a committed
/// write. Each write job lists its changes next to its SQL (`Tx`).
#[derive(Debug)]
pub enum Change {
    /// Schedule `id` next fires at `next`; `None`: not at all (deleted,
    /// paused, or no slot left).
    Schedule { id: String, next: Option<Millis> },
    /// A message is pending, next due at its `due_at`: new, retrying or
    /// revived. The whole message, which the engine may keep in memory for
    /// its attempt.
    Pending(Box<Message>),
    /// A message is no longer pending: delivered, dead-lettered, cancelled.
    Gone(String),
    /// A queue's settings, as stored: new, upserted, paused or resumed.
    Queue {
        name: String,
        parallelism: u32,
        paused: bool,
    },
    /// A queue was deleted; its messages were cancelled before it (`Gone`).
    QueueGone(String),
    /// The signing keys in use.
    Keys(SigningKeys),
    /// A flow-control key's settings, as stored; `reset_rate` starts a new
    /// rate period now (§4.11).
    Flow {
        settings: crate::model::FlowSettings,
        reset_rate: bool,
    },
}

/// Who is told about committed changes: the engine.
pub trait CommitListener: Send + Sync {
    /// The changes of one committed job, called in commit order on the
    /// writer thread, before the job's caller is answered. Must be quick.
    fn committed(&self, changes: Vec<Change>);
}

/// The writer connection's page cache bound, in KiB (negative in the pragma).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// Jobs waiting for the writer before callers wait to queue more.
const INBOX: usize = 8192;

/// `synchronous` level: `Full` survives power loss, `Normal` only process crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    #[default]
    Full,
    Normal,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    inbox: mpsc::Sender<writer::Msg>,
    readers: Readers,
    health: Arc<health::Health>,
    listener: Arc<writer::ListenerSlot>,
    before_commit: Arc<writer::BeforeCommitSlot>,
    /// The process's metrics: the writer records its commits here, the
    /// engine its deliveries and firings, and a scrape renders them.
    metrics: Arc<Metrics>,
    /// Held while this process uses the database: a second cronhook on the
    /// same file would break every invariant. Released at `close`. None on
    /// PostgreSQL, where several nodes share the database.
    lock: std::sync::Mutex<Option<std::fs::File>>,
}

impl Store {
    /// Opens the database: on SQLite, opens (creating if needed), locks and
    /// migrates the file; on PostgreSQL, connects the writer and migrates
    /// the schema (the read connections connect when first needed).
    pub fn open(target: &DbTarget, sync: SyncMode) -> Result<Store, OpenError> {
        let (conn, lock, connect) = match target {
            DbTarget::Sqlite(path) => {
                let lock = lock::acquire(path)?;
                let conn = open_writer(path, sync).map_err(OpenError::Store)?;
                (Conn::Sqlite(conn), Some(lock), None)
            }
            DbTarget::Postgres(url) => {
                let connect = writer::Connect::new(url.clone());
                let conn = connect.open_migrated()?;
                (conn, None, Some(connect))
            }
        };
        let listener: Arc<writer::ListenerSlot> = Arc::new(RwLock::new(None));
        let before_commit: Arc<writer::BeforeCommitSlot> = Arc::new(RwLock::new(None));
        let health = Arc::new(health::Health::default());
        let metrics = Arc::new(Metrics::new());
        let (inbox, rx) = mpsc::channel(INBOX);
        {
            let w = writer::Writer {
                listener: listener.clone(),
                before_commit: before_commit.clone(),
                health: health.clone(),
                metrics: metrics.clone(),
                connect,
            };
            std::thread::Builder::new()
                .name("cronhook-store-writer".into())
                .spawn(move || w.run(conn, rx))
                .map_err(OpenError::Io)?;
        }
        Ok(Store {
            inner: Arc::new(Inner {
                inbox,
                readers: Readers::new(target.clone()),
                health,
                listener,
                before_commit,
                metrics,
                lock: std::sync::Mutex::new(lock),
            }),
        })
    }

    /// Which database this store uses.
    pub fn target(&self) -> &DbTarget {
        self.inner.readers.target()
    }

    /// Runs `hook` in every later PostgreSQL write transaction, before its
    /// COMMIT (see [`BeforeCommit`]).
    pub fn set_before_commit(&self, hook: Arc<dyn BeforeCommit>) {
        *self
            .inner
            .before_commit
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// The metrics this store's process records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Sends every later commit's changes to `listener`.
    pub fn set_listener(&self, listener: Arc<dyn CommitListener>) {
        *self
            .inner
            .listener
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    /// Runs `f` in the writer's next transaction; resolves after the commit
    /// (and after its changes reached the listener).
    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<R, StoreError> + Send + 'static,
    {
        let (job, reply) = writer::FnJob::boxed(f);
        self.inner
            .inbox
            .send(writer::Msg::Job(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        reply.await.map_err(|_| StoreError::Closed)?
    }

    /// A read for the engine's delivery path.
    async fn read_engine<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Conn) -> Result<R, StoreError> + Send + 'static,
    {
        self.inner.readers.read(Lane::Engine, f).await
    }

    /// A read for an API request.
    async fn read_api<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Conn) -> Result<R, StoreError> + Send + 'static,
    {
        self.inner.readers.read(Lane::Api, f).await
    }

    /// Why writes fail right now, if the last commit failed.
    pub fn write_fault(&self) -> Option<String> {
        self.inner.health.fault()
    }

    /// Checks that the database takes writes: answered from the last
    /// commit when it is recent, else by a tiny real write.
    pub async fn probe_writes(&self) -> Result<(), StoreError> {
        if self.inner.health.recently_ok() {
            return Ok(());
        }
        if let Some(fault) = self.inner.health.recent_fault() {
            return Err(StoreError::Unwritable(fault));
        }
        let mark = crate::ids::jwt_id();
        self.write(move |tx| {
            rows::meta::put(tx, "health.probe", &mark)?;
            Ok(())
        })
        .await
    }

    /// Commits everything queued so far and stops the writer, waiting at
    /// most `timeout`. Writes sent later fail with `Closed`. Then lets go of
    /// the listener (which refers back to the store) and of the file's
    /// lock, so another cronhook may open it. Returns false on timeout.
    pub async fn close(&self, timeout: Duration) -> bool {
        let closed = self.close_writer(timeout).await;
        *self
            .inner
            .listener
            .write()
            .unwrap_or_else(|p| p.into_inner()) = None;
        if closed {
            self.inner
                .lock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
        }
        closed
    }

    async fn close_writer(&self, timeout: Duration) -> bool {
        let (done, closed) = oneshot::channel();
        let closing = async {
            if self
                .inner
                .inbox
                .send(writer::Msg::Close(done))
                .await
                .is_err()
            {
                return; // already closed
            }
            let _ = closed.await;
        };
        tokio::time::timeout(timeout, closing).await.is_ok()
    }
}

fn open_writer(path: &Path, sync: SyncMode) -> Result<rusqlite::Connection, StoreError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        },
    )?;
    // SQLite's default page cache is 2 MB. Under load the writer touches
    // index pages all over the log; a miss costs a read syscall in the
    // middle of the commit. The cache only grows as pages are used, so an
    // idle or small database pays nothing for the larger bound.
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    // Each job runs in a savepoint, whose undo pages go to the statement
    // journal; keep that journal in memory instead of a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    migrations::migrate(&mut conn)?;
    Ok(conn)
}

#[cfg(test)]
mod tests;
