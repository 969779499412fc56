//! Reading a test server's database directly, read-only, as an operator would.
//!
//! Backend-neutral: `db` is the path a test named its database by; on
//! PostgreSQL (`CRONHOOK_TEST_POSTGRES`) the helpers read that path's schema
//! (`backend::existing`: a server or app on it must be alive), and a path
//! without one is a SQLite file (a server started with
//! `ServerOptions::sqlite`, a migration's source). The SQL must
//! read the same on both, which it does for the tables' own names (the
//! PostgreSQL schema keeps SQLite's); placeholders are written `?1`, `?2`
//! and become `$1`, `$2` on PostgreSQL. Parameters are text.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use super::backend;

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match &self.0[i] {
            Cell::Null => None,
            Cell::Int(v) => Some(*v),
            other => panic!("column {i} is not an integer: {other:?}"),
        }
    }

    pub fn int(&self, i: usize) -> i64 {
        self.opt_int(i)
            .unwrap_or_else(|| panic!("column {i} is NULL"))
    }

    pub fn opt_text(&self, i: usize) -> Option<String> {
        match &self.0[i] {
            Cell::Null => None,
            Cell::Text(v) => Some(v.clone()),
            other => panic!("column {i} is not text: {other:?}"),
        }
    }

    pub fn text(&self, i: usize) -> String {
        self.opt_text(i)
            .unwrap_or_else(|| panic!("column {i} is NULL"))
    }

    /// A BLOB / BYTEA column (or text, as bytes); empty for NULL.
    pub fn bytes(&self, i: usize) -> Vec<u8> {
        match &self.0[i] {
            Cell::Null => Vec::new(),
            Cell::Bytes(v) => v.clone(),
            Cell::Text(v) => v.clone().into_bytes(),
            other => panic!("column {i} is not bytes: {other:?}"),
        }
    }
}

/// A read-only SQLite connection (the server may be running: WAL lets a
/// reader in beside the writer; a checkpoint or a recovery after a crash
/// may keep it waiting a moment). SQLite only: a test that uses it skips
/// on PostgreSQL; the other helpers here work on both.
pub fn open(db: &Path) -> rusqlite::Connection {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// Rows in `table`.
pub fn rows(db: &Path, table: &str) -> i64 {
    int(db, &format!("SELECT count(*) FROM {table}"), &[])
}

/// One integer from `sql` (its first row's first column).
pub fn int(db: &Path, sql: &str, params: &[&str]) -> i64 {
    row(db, sql, params)
        .unwrap_or_else(|| panic!("{sql}: no row"))
        .int(0)
}

/// The first row `sql` gives, if any.
pub fn row(db: &Path, sql: &str, params: &[&str]) -> Option<Row> {
    all(db, sql, params).into_iter().next()
}

/// Every row `sql` gives.
pub fn all(db: &Path, sql: &str, params: &[&str]) -> Vec<Row> {
    match backend::existing(db) {
        Some(schema) => pg_all(&schema, sql, params),
        None if backend::on_postgres() && !db.exists() => panic!(
            "{}: neither a live PostgreSQL schema (no server or app on it is alive) \
             nor a SQLite file",
            db.display()
        ),
        None => sqlite_all(db, sql, params),
    }
}

fn sqlite_all(db: &Path, sql: &str, params: &[&str]) -> Vec<Row> {
    use rusqlite::types::ValueRef;
    let conn = open(db);
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter()), |r| {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Text(v.to_string()),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                });
            }
            Ok(Row(cells))
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.map(|r| r.unwrap_or_else(|e| panic!("{sql}: {e}")))
        .collect()
}

/// `?N` placeholders as PostgreSQL's `$N` (outside quoted text).
pub fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn pg_all(schema: &backend::PgSchema, sql: &str, params: &[&str]) -> Vec<Row> {
    use postgres::types::Type;
    let text = pg_placeholders(sql);
    let args: Vec<&(dyn postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect();
    let rows = schema
        .with_reader(|c| c.query(text.as_str(), &args))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    rows.iter()
        .map(|r| {
            Row((0..r.len())
                .map(|i| {
                    let ty = r.columns()[i].type_().clone();
                    let cell = if ty == Type::INT8 {
                        r.get::<_, Option<i64>>(i).map(Cell::Int)
                    } else if ty == Type::INT4 {
                        r.get::<_, Option<i32>>(i).map(|v| Cell::Int(v.into()))
                    } else if ty == Type::INT2 {
                        r.get::<_, Option<i16>>(i).map(|v| Cell::Int(v.into()))
                    } else if ty == Type::BOOL {
                        r.get::<_, Option<bool>>(i).map(|v| Cell::Int(v.into()))
                    } else if ty == Type::BYTEA {
                        r.get::<_, Option<Vec<u8>>>(i).map(Cell::Bytes)
                    } else if ty == Type::NUMERIC || ty == Type::FLOAT8 || ty == Type::FLOAT4 {
                        panic!("{text}: column {i} is {ty}: cast it to bigint")
                    } else {
                        r.get::<_, Option<String>>(i).map(Cell::Text)
                    };
                    cell.unwrap_or(Cell::Null)
                })
                .collect())
        })
        .collect()
}
