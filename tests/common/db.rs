//! Reading a test server's database directly, read-only, as an operator would.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

/// A read-only connection (the server may be running: WAL lets a reader in
/// beside the writer; a checkpoint or a recovery after a crash may keep it
/// waiting a moment).
pub fn open(db: &Path) -> rusqlite::Connection {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// Rows in `table`.
pub fn rows(db: &Path, table: &str) -> i64 {
    int(db, &format!("SELECT count(*) FROM {table}"), [])
}

/// One integer from `sql`.
pub fn int(db: &Path, sql: &str, params: impl rusqlite::Params) -> i64 {
    open(db)
        .query_row(sql, params, |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
