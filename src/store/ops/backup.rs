//! A consistent copy of the whole database while cronhook runs, for
//! `POST /cronhook/v1/backup` (`cronhook backup`).
//!
//! SQLite's online backup copies the pages from one read connection. Done
//! in one step it is one read transaction, so the copy is the database as
//! of one commit; in WAL mode that reader never blocks the writer, which
//! goes on committing meanwhile. (Copied in several steps, every commit of
//! the writer would restart the copy, and a busy server might never let
//! it finish.)

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

use crate::store::db::Conn;
use crate::store::{Store, StoreError};

impl Store {
    /// The copy, in an open file whose name is already gone (so it cannot
    /// be left behind): the caller reads it from the start and drops it.
    /// It is made next to the database, whose folder cronhook may write,
    /// and needs as much free space as the database takes.
    /// On PostgreSQL there is no file to copy: `Unsupported`.
    pub async fn backup(&self) -> Result<File, StoreError> {
        let Some(db) = self.target().sqlite_path().map(|p| p.to_path_buf()) else {
            return Err(StoreError::Unsupported(
                "backup copies the SQLite file; on PostgreSQL use pg_dump".into(),
            ));
        };
        let name = format!(
            "{}.backup-{}.tmp",
            db.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("cronhook.db"),
            crate::ids::jwt_id()
        );
        let out: PathBuf = db.with_file_name(name);
        let temp = out.clone();
        let made = self
            .read_api(move |conn| {
                let Conn::Sqlite(conn) = conn else {
                    unreachable!("a SQLite store reads through SQLite connections")
                };
                let mut dest = Connection::open(&out)?;
                copy_all(conn, &mut dest)?;
                drop(dest);
                File::open(&out).map_err(|e| io_error(&out, e))
            })
            .await;
        // Gone from the folder whether or not the copy worked; the open
        // file stays readable until it is dropped.
        let _ = std::fs::remove_file(&temp);
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut side = temp.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
        made
    }
}

/// Every page in one step (-1), retried a bounded number of times while
/// a lock is in the way.
fn copy_all(from: &Connection, to: &mut Connection) -> Result<(), StoreError> {
    let backup = Backup::new(from, to)?;
    for _ in 0..BUSY_TRIES {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => continue,
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
    Err(StoreError::Unwritable(
        "the backup found the database locked; try again".into(),
    ))
}

const BUSY_TRIES: usize = 100;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

fn io_error(path: &std::path::Path, e: std::io::Error) -> StoreError {
    StoreError::Unwritable(format!("the backup's file {}: {e}", path.display()))
}
