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
//! waiting for the writer. Keeping SQL in this module keeps a second backend
//! possible without touching the engine or the API.

pub mod cluster;
mod codec;
mod health;
mod lock;
mod migrations;
mod ops;
mod read;
mod rows;
mod steps;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusqlite::Connection;
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
use read::{Lane, Readers};
pub use writer::Tx;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// A workflow rule refused the write (the whole transaction is undone).
    #[error(transparent)]
    Workflow(#[from] crate::workflow::WorkflowError),
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
    /// The process's metrics: the writer records its commits here, the
    /// engine its deliveries and firings, and a scrape renders them.
    metrics: Arc<Metrics>,
    /// Held while this process uses the database: a second cronhook on the
    /// same file would break every invariant. Released at `close`.
    lock: std::sync::Mutex<Option<std::fs::File>>,
}

impl Store {
    /// Opens (creating if needed), locks and migrates the database at `path`.
    pub fn open(path: &Path, sync: SyncMode) -> Result<Store, OpenError> {
        let lock = lock::acquire(path)?;
        let conn = open_writer(path, sync).map_err(OpenError::Store)?;
        let listener: Arc<writer::ListenerSlot> = Arc::new(RwLock::new(None));
        let health = Arc::new(health::Health::default());
        let metrics = Arc::new(Metrics::new());
        let (inbox, rx) = mpsc::channel(INBOX);
        {
            let (listener, health, metrics) = (listener.clone(), health.clone(), metrics.clone());
            std::thread::Builder::new()
                .name("cronhook-store-writer".into())
                .spawn(move || writer::run(conn, rx, listener, health, metrics))
                .map_err(OpenError::Io)?;
        }
        Ok(Store {
            inner: Arc::new(Inner {
                inbox,
                readers: Readers::new(PathBuf::from(path)),
                health,
                listener,
                metrics,
                lock: std::sync::Mutex::new(Some(lock)),
            }),
        })
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
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.inner.readers.read(Lane::Engine, f).await
    }

    /// A read for an API request.
    async fn read_api<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
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

fn open_writer(path: &Path, sync: SyncMode) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
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
