//! All SQL lives here, behind an API in the domain's terms.
//!
//! One connection owns every write, on its own thread, with group commit
//! (`writer`). Reads go through a separate connection: in WAL mode they never
//! wait for the writer. Keeping SQL in this module keeps a second backend
//! possible without touching the engine or the API.

mod codec;
mod dlq;
mod events;
mod messages;
mod meta;
mod migrations;
mod retention;
mod schedules;
mod workflows;
mod writer;

use std::path::Path;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

pub use dlq::DlqSelection;
pub use events::LogCursor;
pub use messages::{Pending, Published, Recorded};
pub use retention::{Purged, Retention};
pub use schedules::{FirePlan, Fired};
pub use workflows::{
    FailureInfo, Notified, Revive, ReviveOverrides, RunCursor, RunSelection, WaitOutcome,
};

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
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("the store is shut down")]
    Closed,
    #[error("a write panicked; it was rolled back")]
    JobPanicked,
    /// A workflow rule refused the write (the whole transaction is undone).
    #[error(transparent)]
    Workflow(#[from] crate::workflow::WorkflowError),
}

/// The writer connection's page cache bound, in KiB (negative in the pragma).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

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
    jobs: mpsc::Sender<Box<dyn writer::Job>>,
    reader: Arc<Mutex<Connection>>,
    writer_done: Arc<Mutex<Option<std_mpsc::Receiver<()>>>>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path, sync: SyncMode) -> Result<Store, StoreError> {
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
        // middle of the commit. The cache only grows as pages are used, so
        // an idle or small database pays nothing for the larger bound.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        // Each job runs in a savepoint, whose undo pages go to the statement
        // journal; keep that journal in memory instead of a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        migrations::migrate(&mut conn)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(Duration::from_secs(5))?;

        let (jobs, rx) = mpsc::channel(8192);
        let (done_tx, done_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("cronhook-store-writer".into())
            .spawn(move || writer::run(conn, rx, done_tx))
            .expect("spawning the store writer thread");
        Ok(Store {
            jobs,
            reader: Arc::new(Mutex::new(reader)),
            writer_done: Arc::new(Mutex::new(Some(done_rx))),
        })
    }

    /// Runs `f` in the writer's next transaction; resolves after the commit.
    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (job, reply) = writer::FnJob::boxed(f);
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        reply.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the read connection, off the async threads.
    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Closes this handle and waits (bounded) until the writer has committed
    /// everything queued. Other clones keep the writer alive, so call this
    /// last, after the engine and the API have stopped. Returns false on timeout.
    pub fn close(self, timeout: Duration) -> bool {
        let done = self
            .writer_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(self);
        match done {
            Some(rx) => rx.recv_timeout(timeout).is_ok(),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests;
