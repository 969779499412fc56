//! Reading a test server's database directly, read-only, as an operator would.
#![allow(dead_code)]

use std::path::Path;

pub fn open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Rows in `table`.
pub fn rows(db: &Path, table: &str) -> i64 {
    int(db, &format!("SELECT count(*) FROM {table}"), [])
}

/// One integer from `sql`.
pub fn int(db: &Path, sql: &str, params: impl rusqlite::Params) -> i64 {
    open(db).query_row(sql, params, |r| r.get(0)).unwrap()
}
