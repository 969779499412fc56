//! Read connections, in two lanes.
//!
//! In WAL mode a reader never waits for the writer, but a connection serves
//! one query at a time. A listing of a million schedules or a log scan must
//! not hold up the engine's short reads (the next due message, a run's log),
//! so the engine and the API read through separate small pools. On
//! PostgreSQL the pools hold clients, connected when first needed; a client
//! whose connection broke is dropped rather than put back, and the next
//! read connects anew.

use std::sync::{Arc, Mutex};

use rusqlite::OpenFlags;
use tokio::sync::Semaphore;

use super::db::{Conn, PgConn};
use super::{DbTarget, StoreError};

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
    idle: Mutex<Vec<Conn>>,
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
    target: Arc<DbTarget>,
    engine: Pool,
    api: Pool,
}

/// A new read connection; blocking (runs in `spawn_blocking`).
fn open(target: &DbTarget) -> Result<Conn, StoreError> {
    match target {
        DbTarget::Sqlite(path) => {
            let conn = rusqlite::Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(Conn::Sqlite(conn))
        }
        DbTarget::Postgres(url) => Ok(PgConn::connect(url)?.into()),
    }
}

impl Readers {
    pub(super) fn new(target: DbTarget) -> Readers {
        Readers {
            target: Arc::new(target),
            engine: Pool::new(ENGINE_CONNECTIONS),
            api: Pool::new(API_CONNECTIONS),
        }
    }

    pub(super) fn target(&self) -> &DbTarget {
        &self.target
    }

    /// Runs `f` on a connection of `lane`, off the async threads.
    pub(super) async fn read<R, F>(&self, lane: Lane, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Conn) -> Result<R, StoreError> + Send + 'static,
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
        let target = Arc::clone(&self.target);
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let conn = match idle {
                Some(c) => c,
                None => match open(&target) {
                    Ok(c) => c,
                    Err(e) => return (None, Err(e)),
                },
            };
            let result = f(&conn);
            // A broken client is dropped here, off the async threads.
            let conn = (!conn.is_broken()).then_some(conn);
            (conn, result)
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        let stale = {
            let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            match conn {
                Some(conn) => {
                    idle.push(conn);
                    Vec::new()
                }
                // The server went away (a restart): the other idle clients
                // are as dead, so they go too, and one read fails rather
                // than one per client.
                None => std::mem::take(&mut *idle),
            }
        };
        if !stale.is_empty() {
            let _ = tokio::task::spawn_blocking(move || drop(stale)).await;
        }
        result
    }
}
