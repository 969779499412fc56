//! Read connections, in two lanes.
//!
//! In WAL mode a reader never waits for the writer, but a connection serves
//! one query at a time. A listing of a million schedules or a log scan must
//! not hold up the engine's short reads (the next due message, a run's log),
//! so the engine and the API read through separate small pools.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::StoreError;

/// Who is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// Short reads on the delivery path.
    Engine,
    /// Reads of API requests: lookups, listings, log pages.
    Api,
}

/// Connections per lane: a 2-core machine gains nothing from more.
const ENGINE_CONNECTIONS: usize = 2;
const API_CONNECTIONS: usize = 3;

struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Pool {
    fn new(size: usize) -> Pool {
        Pool {
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }
}

pub(super) struct Readers {
    path: PathBuf,
    engine: Pool,
    api: Pool,
}

fn open(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            engine: Pool::new(ENGINE_CONNECTIONS),
            api: Pool::new(API_CONNECTIONS),
        }
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs `f` on a connection of `lane`, off the async threads.
    pub(super) async fn read<R, F>(&self, lane: Lane, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let pool = match lane {
            Lane::Engine => &self.engine,
            Lane::Api => &self.api,
        };
        let _permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        pool.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }
}
