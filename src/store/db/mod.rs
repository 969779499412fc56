//! The store's one SQL layer over two databases: SQLite (rusqlite) and
//! PostgreSQL (the blocking `postgres` client).
//!
//! It is shaped like the part of rusqlite the store used before there were
//! two backends (`prepare_cached`, `execute`, `query_row`, `query_map`,
//! `optional()`, `Row::get`, `params!`), so `rows/`, `steps`, `ops/` and
//! `codec` read as before and do not know which database they talk to.
//! Where the SQL must differ, a caller picks the text by `Conn::dialect`,
//! both versions side by side.
//!
//! Values cross the layer as [`Value`] (bound) and [`ValueRef`] (read), both
//! borrowed: on SQLite a bound string or body is handed to rusqlite as a
//! borrowed value and a column is read from its `ValueRef`, so the facade
//! adds no copy and no allocation to the write path. On PostgreSQL the
//! statement's parameter types decide each value's encoding (`pg.rs`).

mod pg;
mod pg_url;
mod sqlite;

pub use pg::PgConn;
pub use pg_url::PgUrl;

/// Which SQL the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value to bind, borrowed from the caller's data.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A column's value as read, borrowed from the row.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Int(_) => "an integer",
            ValueRef::Real(_) => "a real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "a blob",
        }
    }
}

/// Errors of the SQL layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg::describe(.0))]
    Postgres(#[from] postgres::Error),
    /// The URL's TLS settings cannot be used.
    #[error("TLS to PostgreSQL: {0}")]
    Tls(String),
    /// A query that must return a row returned none (`optional()` makes
    /// this `None`).
    #[error("the query returned no row")]
    NoRows,
    /// A column's value is not what the code reads from it.
    #[error("column {column}: {why}")]
    Conversion { column: String, why: String },
}

impl DbError {
    /// A conversion failure of column `column`.
    pub fn conversion(column: impl std::fmt::Display, why: impl std::fmt::Display) -> DbError {
        DbError::Conversion {
            column: column.to_string(),
            why: why.to_string(),
        }
    }

    /// Whether the connection to the database is gone (PostgreSQL only:
    /// closed, refused, reset, or the server shutting down). Such a write
    /// stored nothing and is answered as "cannot be written right now".
    pub fn is_connection(&self) -> bool {
        match self {
            DbError::Postgres(e) => pg::is_connection(e),
            _ => false,
        }
    }

    /// Whether the server refuses writes for now (PostgreSQL: disk full,
    /// out of memory or connections, a read-only transaction or replica),
    /// as SQLite's full or read-only disk, or the statement lost a race
    /// with another node's transaction (a deadlock, a serialization
    /// failure, a lock not had in time): nothing was stored, it is not the
    /// request's fault, and a retry may well succeed.
    pub fn is_unwritable(&self) -> bool {
        match self {
            DbError::Postgres(e) => e.code().is_some_and(|c| {
                let c = c.code();
                c.starts_with("53") || matches!(c, "25006" | "40001" | "40P01" | "55P03")
            }),
            _ => false,
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// `Result<T>` → `Result<Option<T>>`: no row is `None`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Something that binds as one SQL value.
pub trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

/// Something read from one column.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String>;
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
        impl FromValue for $t {
            fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
                match v {
                    ValueRef::Int(i) => <$t>::try_from(i)
                        .map_err(|_| format!("{i} is out of range for {}", stringify!($t))),
                    other => Err(format!("expected an integer, found {}", other.kind())),
                }
            }
        }
    )*};
}

int_values!(i64, i32, i16, u8, u16, u32, u64, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Int(i) => Ok(i != 0),
            other => Err(format!("expected a flag, found {}", other.kind())),
        }
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {}", other.kind())),
        }
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(format!("expected text, found {}", other.kind())),
        }
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(format!("expected a blob, found {}", other.kind())),
        }
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToValue + ?Sized> ToValue for Box<T> {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl ToValue for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        *self
    }
}

/// The values bound to a statement's `?N` parameters, in order.
pub trait Params {
    fn values(&self) -> impl Iterator<Item = Value<'_>>;
}

impl Params for () {
    fn values(&self) -> impl Iterator<Item = Value<'_>> {
        std::iter::empty()
    }
}

impl Params for [&dyn ToValue; 0] {
    fn values(&self) -> impl Iterator<Item = Value<'_>> {
        std::iter::empty()
    }
}

impl Params for &[&dyn ToValue] {
    fn values(&self) -> impl Iterator<Item = Value<'_>> {
        self.iter().map(|v| v.to_value())
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn values(&self) -> impl Iterator<Item = Value<'_>> {
                self.iter().map(|v| v.to_value())
            }
        }
    )*};
}

array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

/// Parameters of mixed types, as rusqlite's `params!`. Not exported: a
/// `#[macro_export]` macro lives at the crate's root, and the store's SQL
/// layer has no business there.
macro_rules! db_params {
    () => { &[] as &[&dyn $crate::store::db::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::db::ToValue),+] as &[&dyn $crate::store::db::ToValue] };
}
pub(crate) use db_params as params;

/// A column by position or by name.
#[derive(Debug, Clone, Copy)]
pub enum Idx<'a> {
    Pos(usize),
    Name(&'a str),
}

impl From<usize> for Idx<'_> {
    fn from(i: usize) -> Self {
        Idx::Pos(i)
    }
}

impl<'a> From<&'a str> for Idx<'a> {
    fn from(n: &'a str) -> Self {
        Idx::Name(n)
    }
}

impl std::fmt::Display for Idx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Idx::Pos(i) => write!(f, "{i}"),
            Idx::Name(n) => f.write_str(n),
        }
    }
}

/// One database connection.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    /// Boxed: a client with its statement cache is several times the size
    /// of a rusqlite handle.
    Postgres(Box<PgConn>),
}

impl From<PgConn> for Conn {
    fn from(c: PgConn) -> Conn {
        Conn::Postgres(Box::new(c))
    }
}

impl Conn {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// `sqlite` on SQLite, `postgres` on PostgreSQL: for the places whose
    /// SQL differs.
    pub fn pick<'s>(&self, sqlite: &'s str, postgres: &'s str) -> &'s str {
        match self.dialect() {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// A prepared statement, from this connection's cache when it was
    /// prepared before (`?N` parameters on both backends).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement(match self {
            Conn::Sqlite(c) => StmtInner::Sqlite(c.prepare_cached(sql)?),
            Conn::Postgres(c) => StmtInner::Postgres {
                conn: c,
                stmt: c.prepare_cached(sql)?,
            },
        }))
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn query_row<T, F>(&self, sql: &str, params: impl Params, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs statements without parameters, separated by `;`.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.batch_execute(sql),
        }
    }

    /// Whether the connection is gone and must be replaced (PostgreSQL:
    /// closed, or a query failed for want of the connection).
    pub fn is_broken(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Postgres(c) => c.is_broken(),
        }
    }
}

/// A prepared statement of a [`Conn`].
pub struct Statement<'c>(StmtInner<'c>);

enum StmtInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        conn: &'c PgConn,
        stmt: postgres::Statement,
    },
}

impl Statement<'_> {
    /// Runs it; the rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        match &mut self.0 {
            StmtInner::Sqlite(s) => sqlite::execute(s, params),
            StmtInner::Postgres { conn, stmt } => conn.execute(stmt, params),
        }
    }

    /// The first row, mapped by `f`; `DbError::NoRows` when there is none.
    pub fn query_row<T, F>(&mut self, params: impl Params, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(DbError::NoRows),
        }
    }

    /// Every row, mapped by `f`. On SQLite the rows are read as the
    /// iterator goes; on PostgreSQL they have arrived whole (so other
    /// statements may run on the connection meanwhile on both).
    pub fn query_map<T, F>(&mut self, params: impl Params, f: F) -> Result<MappedRows<'_, F>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(MappedRows {
            rows: self.query(params)?,
            f,
        })
    }

    /// The rows, to walk with `Rows::next`.
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        Ok(Rows(match &mut self.0 {
            StmtInner::Sqlite(s) => RowsInner::Sqlite(sqlite::query(s, params)?),
            StmtInner::Postgres { conn, stmt } => {
                RowsInner::Postgres(conn.query(stmt, params)?.into_iter())
            }
        }))
    }
}

/// The rows of a query.
pub struct Rows<'s>(RowsInner<'s>);

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres(std::vec::IntoIter<postgres::Row>),
}

/// A row of a query, borrowed while it is looked at.
pub struct Row<'r>(RowRef<'r>);

enum RowRef<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(postgres::Row),
}

impl<'s> Rows<'s> {
    /// The next row, `None` after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.0 {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(|r| Row(RowRef::Sqlite(r)))),
            RowsInner::Postgres(rows) => Ok(rows.next().map(|r| Row(RowRef::Postgres(r)))),
        }
    }
}

impl Row<'_> {
    /// Column `idx` read as a `T`.
    pub fn get<'i, I: Into<Idx<'i>>, T: FromValue>(&self, idx: I) -> Result<T> {
        let idx = idx.into();
        self.with_ref(idx, |v| {
            T::from_value(v).map_err(|why| DbError::conversion(idx, why))
        })
    }

    /// Column `idx` as text borrowed from the row (no copy).
    pub fn get_str(&self, idx: usize) -> Result<&str> {
        let v = match &self.0 {
            RowRef::Sqlite(r) => sqlite::value(r, Idx::Pos(idx))?,
            RowRef::Postgres(r) => pg::value(r, Idx::Pos(idx))?,
        };
        match v {
            ValueRef::Text(s) => Ok(s),
            other => Err(DbError::conversion(
                idx,
                format!("expected text, found {}", other.kind()),
            )),
        }
    }

    fn with_ref<T>(&self, idx: Idx<'_>, f: impl FnOnce(ValueRef<'_>) -> Result<T>) -> Result<T> {
        match &self.0 {
            RowRef::Sqlite(r) => f(sqlite::value(r, idx)?),
            RowRef::Postgres(r) => f(pg::value(r, idx)?),
        }
    }
}

/// The rows of `query_map`, each mapped.
pub struct MappedRows<'s, F> {
    rows: Rows<'s>,
    f: F,
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let MappedRows { rows, f } = self;
        match rows.next() {
            Ok(Some(r)) => Some(f(&r)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
