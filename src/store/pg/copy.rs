//! `cronhook migrate`: copies a SQLite database into an empty PostgreSQL
//! schema, so a user moves to PostgreSQL without losing state.
//!
//! The SQLite file is taken at rest: its lock is taken as `serve` takes it
//! (so a running server makes the copy fail, and no server starts on it
//! meanwhile), an older file is upgraded by the store's own migrations
//! (exactly as `serve` would) once the target is reached, and every table
//! is read inside one read transaction, one snapshot. The target is migrated to the current
//! PostgreSQL schema, must hold no rows, and gets everything in one
//! transaction: a failure leaves it as it was. Each table streams through
//! one binary `COPY … FROM STDIN`, row by row from a SQLite cursor, so memory
//! stays flat whatever the log's size. Every value keeps its column and its
//! value, `seq` and `rowid` included (a queue's order and the endpoints'
//! order are their rowids; cursors handed to clients are seqs); afterwards
//! each identity sequence is set past the highest value SQLite ever gave
//! (`sqlite_sequence` remembers deleted ones), so no number is reused.

use std::path::{Path, PathBuf};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient};
use rusqlite::{Connection, OpenFlags};

use super::PgSchemaError;
use crate::store::cluster::SERVED_SQL;
use crate::store::db::{DbError, PgUrl};
use crate::store::{lock, migrations, OpenError, StoreError};

/// Every table of SQLite's schema, in the order they are copied (a test
/// checks the list against `schema.sql`). Tables whose `rowid` the store
/// reads carry it into the PostgreSQL column of that name.
const TABLES: &[&str] = &[
    "meta",
    "schedules",
    "schedule_firings",
    "fired_slots",
    "queues",
    "flow_control",
    "messages",
    "dlq",
    "log_messages",
    "log",
    "dedup",
    "workflow_runs",
    "workflow_steps",
    "workflow_waiters",
    "workflow_notices",
    "url_groups",
    "url_group_endpoints",
];

/// Tables with a real `rowid` column on PostgreSQL (design item 4).
const ROWID_TABLES: &[&str] = &["messages", "url_group_endpoints"];

/// `(table, column)` of each identity column, set past the copied values.
const IDENTITIES: &[(&str, &str)] = &[
    ("schedule_firings", "seq"),
    ("dlq", "seq"),
    ("log", "seq"),
    ("messages", "rowid"),
    ("url_group_endpoints", "rowid"),
];

/// What was copied: rows per table, in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Why the copy did not happen. Nothing is written to the target in any of
/// these cases.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("--from {}: no such file; give the path of cronhook's SQLite database", .0.display())]
    MissingSource(PathBuf),
    #[error(
        "--from {}: a cronhook is serving it; stop that cronhook first \
         (the copy must see the database at rest)", .0.display()
    )]
    SourceInUse(PathBuf),
    #[error("--from {}: {why}", .0.display(), why = .1)]
    Source(PathBuf, String),
    #[error("--from {}: not a cronhook database (it has no cronhook schema)", .0.display())]
    NotCronhook(PathBuf),
    #[error("--to must be a postgres:// or postgresql:// URL")]
    NotPostgresUrl,
    #[error("--to: {0}")]
    BadUrl(String),
    #[error("cannot connect to the --to database: {0}")]
    Connect(String),
    #[error(
        "--to: its search_path names no schema that exists; create it first \
         (CREATE SCHEMA …) or drop the URL's search_path option"
    )]
    NoSchema,
    #[error("--to: {0}")]
    Schema(#[from] PgSchemaError),
    #[error(
        "the target is not empty: table {0} has rows. migrate copies into an empty \
         database or schema only; nothing was copied"
    )]
    NotEmpty(&'static str),
    #[error(
        "a cronhook is serving the target (its leader lease is live); stop it first; \
         nothing was copied"
    )]
    TargetServed,
    #[error("copying table {table}: {error}; nothing was copied")]
    Copy { table: &'static str, error: String },
}

/// Copies the SQLite database at `from` into the PostgreSQL database at
/// `to` (its `search_path`'s first schema), which must be empty.
pub fn migrate_to_postgres(from: &Path, to: &str) -> Result<CopyReport, MigrateError> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(MigrateError::NotPostgresUrl);
    }
    let mut target = PgUrl::parse(to).map_err(|e| MigrateError::BadUrl(e.to_string()))?;
    if !from.exists() {
        return Err(MigrateError::MissingSource(from.to_path_buf()));
    }
    let source_error = |e: &dyn std::fmt::Display| MigrateError::Source(from.into(), e.to_string());
    // Held until the end: no cronhook may start on the file meanwhile.
    let _lock = lock::acquire(from).map_err(|e| match e {
        OpenError::InUse => MigrateError::SourceInUse(from.to_path_buf()),
        e => source_error(&e),
    })?;
    let source = |e: SourceError| match e {
        SourceError::NotCronhook => MigrateError::NotCronhook(from.to_path_buf()),
        SourceError::Store(e) => source_error(&e),
    };
    let mut sqlite = open_source(from).map_err(source)?;

    // The target is reached and brought to the current schema before the
    // file is upgraded: a wrong --to leaves the file as the older cronhook
    // that wrote it can still serve.
    if target.config.get_connect_timeout().is_none() {
        target
            .config
            .connect_timeout(std::time::Duration::from_secs(10));
    }
    let mut client = target.connect().map_err(|e| {
        MigrateError::Connect(match &e {
            DbError::Postgres(e) => super::describe(e),
            e => e.to_string(),
        })
    })?;
    let schema: Option<String> = client
        .query_one("SELECT current_schema()::text", &[])
        .map_err(PgSchemaError::from)?
        .get(0);
    if schema.is_none() {
        return Err(MigrateError::NoSchema);
    }
    super::migrate(&mut client)?;
    // Checked again under the lock inside the copy; here so that a target
    // that cannot take the copy leaves the file as it was.
    check_target(&mut client)?;

    migrations::migrate(&mut sqlite)
        .map_err(SourceError::Store)
        .map_err(source)?;
    let snapshot = sqlite.transaction().map_err(|e| source_error(&e))?;
    let report = copy_all(&snapshot, &mut client)?;
    Ok(report)
}

enum SourceError {
    NotCronhook,
    Store(StoreError),
}

impl From<rusqlite::Error> for SourceError {
    fn from(e: rusqlite::Error) -> Self {
        SourceError::Store(e.into())
    }
}

/// Opens the existing file; refuses a file cronhook never made. (Its
/// upgrade to SQLite's current schema, as `serve` would, comes once the
/// target is reached.)
fn open_source(path: &Path) -> Result<Connection, SourceError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        return Err(SourceError::NotCronhook);
    }
    Ok(conn)
}

/// Refuses a target a cronhook serves (an unexpired lease) or that holds
/// rows, naming the first such table.
fn check_target(client: &mut impl GenericClient) -> Result<(), MigrateError> {
    let pg = |table: &'static str| move |e: postgres::Error| copy_error(table, e);
    let served: bool = client
        .query_one(SERVED_SQL, &[])
        .map_err(pg("cluster_lease"))?
        .get(0);
    if served {
        return Err(MigrateError::TargetServed);
    }
    for &table in TABLES.iter().filter(|t| **t != "meta") {
        let full: bool = client
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .map_err(pg(table))?
            .get(0);
        if full {
            return Err(MigrateError::NotEmpty(table));
        }
    }
    Ok(())
}

/// In one PostgreSQL transaction: checks the target is empty and idle,
/// copies every table, sets the identity sequences, commits.
fn copy_all(sqlite: &Connection, client: &mut Client) -> Result<CopyReport, MigrateError> {
    let pg = |table: &'static str| move |e: postgres::Error| copy_error(table, e);
    let mut tx = client.transaction().map_err(pg("(start)"))?;
    // The lock migrations take: two copies at once run one after the
    // other, and the second finds the target full.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&super::MIGRATION_LOCK],
    )
    .map_err(pg("(lock)"))?;
    check_target(&mut tx)?;
    let mut report = CopyReport { tables: Vec::new() };
    for &table in TABLES {
        let rows = if table == "meta" {
            copy_meta(sqlite, &mut tx)?
        } else {
            copy_table(sqlite, &mut tx, table)?
        };
        report.tables.push((table.to_owned(), rows));
    }
    for &(table, column) in IDENTITIES {
        let ever: i64 = sqlite
            .query_row(
                "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(|e| copy_error(table, e))?;
        // The next value is past both the copied rows and every number
        // SQLite handed out before (deleted rows' included).
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 greatest(coalesce(max({column}), 0), $1) + 1, false) FROM {table}"
            ),
            &[&ever],
        )
        .map_err(pg(table))?;
    }
    tx.commit().map_err(pg("(commit)"))?;
    Ok(report)
}

/// The settings (signing keys): a target a cronhook once started on holds
/// keys it generated, which the file's replace, since those are the keys
/// the apps verify with. A handful of rows.
fn copy_meta(sqlite: &Connection, tx: &mut postgres::Transaction<'_>) -> Result<u64, MigrateError> {
    let table = "meta";
    let upsert = tx
        .prepare(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .map_err(|e| copy_error(table, e))?;
    let mut select = sqlite
        .prepare("SELECT key, value FROM meta ORDER BY key")
        .map_err(|e| copy_error(table, e))?;
    let mut rows = select.query([]).map_err(|e| copy_error(table, e))?;
    let mut count = 0;
    while let Some(row) = rows.next().map_err(|e| copy_error(table, e))? {
        let key: String = row.get(0).map_err(|e| copy_error(table, e))?;
        let value: String = row.get(1).map_err(|e| copy_error(table, e))?;
        tx.execute(&upsert, &[&key, &value])
            .map_err(|e| copy_error(table, e))?;
        count += 1;
    }
    Ok(count)
}

fn copy_error(table: &'static str, error: impl Why) -> MigrateError {
    MigrateError::Copy {
        table,
        error: error.why(),
    }
}

/// An error's text with its reason: PostgreSQL's own message, not just
/// "db error".
trait Why {
    fn why(&self) -> String;
}

impl Why for postgres::Error {
    fn why(&self) -> String {
        super::describe(self)
    }
}

impl Why for rusqlite::Error {
    fn why(&self) -> String {
        self.to_string()
    }
}

impl Why for &str {
    fn why(&self) -> String {
        (*self).to_owned()
    }
}

impl Why for String {
    fn why(&self) -> String {
        self.clone()
    }
}

/// One column as both sides declare it.
struct Column {
    name: String,
    kind: Kind,
}

/// A column's type: SQLite's INTEGER, TEXT, BLOB; PostgreSQL's BIGINT,
/// TEXT, BYTEA.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bytes,
}

impl Kind {
    fn postgres(self) -> Type {
        match self {
            Kind::Int => Type::INT8,
            Kind::Text => Type::TEXT,
            Kind::Bytes => Type::BYTEA,
        }
    }
}

/// A SQLite text value as PostgreSQL stores it. The one that differs: a
/// URL group message's deduplication key joins its parts with NUL on
/// SQLite, which PostgreSQL's TEXT cannot hold, so the PostgreSQL store
/// joins them with U+0001 instead (`ops::messages`), and the copy maps the
/// keys to that, so they keep deduplicating.
fn to_pg_text(table: &str, column: &str, text: String) -> String {
    if table == "dedup" && column == "key" && text.contains('\0') {
        text.replace('\0', "\u{1}")
    } else {
        text
    }
}

/// One value, typed by its column (the SQLite tables are STRICT, so a
/// value's storage class is its column's type).
enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Cell {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Int(v) => v,
            Cell::Text(v) => v,
            Cell::Bytes(v) => v,
        }
    }
}

/// `table`'s columns from SQLite's own description, plus `rowid` where the
/// PostgreSQL table keeps it.
fn columns(sqlite: &Connection, table: &'static str) -> Result<Vec<Column>, MigrateError> {
    let mut columns = sqlite
        .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
        .and_then(|mut s| {
            s.query_map([table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| copy_error(table, e))?
        .into_iter()
        .map(|(name, declared)| {
            let kind = match declared.as_str() {
                "INTEGER" => Kind::Int,
                "TEXT" => Kind::Text,
                "BLOB" => Kind::Bytes,
                other => return Err(copy_error(table, format!("column {name} has type {other}"))),
            };
            Ok(Column { name, kind })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if columns.is_empty() {
        return Err(copy_error(table, "no such table in the SQLite database"));
    }
    if ROWID_TABLES.contains(&table) {
        columns.push(Column {
            name: "rowid".into(),
            kind: Kind::Int,
        });
    }
    Ok(columns)
}

/// Streams every row of `table` into PostgreSQL; the number of rows.
fn copy_table(
    sqlite: &Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &'static str,
) -> Result<u64, MigrateError> {
    let columns = columns(sqlite, table)?;
    let names = columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let types: Vec<Type> = columns.iter().map(|c| c.kind.postgres()).collect();
    let order = if ROWID_TABLES.contains(&table) {
        " ORDER BY rowid"
    } else {
        ""
    };
    let mut select = sqlite
        .prepare(&format!("SELECT {names} FROM \"{table}\"{order}"))
        .map_err(|e| copy_error(table, e))?;
    let sink = tx
        .copy_in(&format!(
            "COPY \"{table}\" ({names}) FROM STDIN (FORMAT binary)"
        ))
        .map_err(|e| copy_error(table, e))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut rows = select.query([]).map_err(|e| copy_error(table, e))?;
    let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
    let mut count = 0u64;
    while let Some(row) = rows.next().map_err(|e| copy_error(table, e))? {
        cells.clear();
        for (i, column) in columns.iter().enumerate() {
            let cell = match column.kind {
                Kind::Int => row.get(i).map(Cell::Int),
                Kind::Text => row.get(i).map(|t: Option<String>| {
                    Cell::Text(t.map(|t| to_pg_text(table, &column.name, t)))
                }),
                Kind::Bytes => row.get(i).map(Cell::Bytes),
            }
            .map_err(|e| copy_error(table, format!("column {}: {e}", column.name)))?;
            cells.push(cell);
        }
        let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(Cell::sql).collect();
        writer.write(&values).map_err(|e| copy_error(table, e))?;
        count += 1;
    }
    let written = writer.finish().map_err(|e| copy_error(table, e))?;
    debug_assert_eq!(written, count);
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_of_sqlite_s_schema_is_copied_and_only_those() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations::migrate(&mut conn).unwrap();
        let mut tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        tables.sort();
        let mut copied: Vec<&str> = TABLES.to_vec();
        copied.sort();
        assert_eq!(tables, copied);
    }

    #[test]
    fn each_identity_column_is_one_the_schema_declares() {
        for (table, column) in IDENTITIES {
            let declared = super::super::SCHEMA
                .split("CREATE TABLE ")
                .find(|t| t.starts_with(&format!("{table} (")))
                .unwrap_or_else(|| panic!("{table} in schema.sql"));
            let line = declared
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{column} ")))
                .unwrap_or_else(|| panic!("{table}.{column}"));
            assert!(line.contains("GENERATED BY DEFAULT AS IDENTITY"), "{line}");
        }
    }

    #[test]
    fn a_url_that_is_not_postgres_is_refused_before_anything_is_opened() {
        let err = migrate_to_postgres(Path::new("/no/such.db"), "mysql://x").unwrap_err();
        assert!(matches!(err, MigrateError::NotPostgresUrl), "{err}");
    }

    #[test]
    fn a_missing_source_file_is_refused_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        let err = migrate_to_postgres(&path, "postgres://postgres@127.0.0.1:1/x").unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn a_file_cronhook_never_made_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = migrate_to_postgres(&path, "postgres://postgres@127.0.0.1:1/x").unwrap_err();
        assert!(matches!(err, MigrateError::NotCronhook(_)), "{err}");
    }

    /// The documented choice: a file of an older cronhook is upgraded in
    /// place, as `serve` would, then copied.
    #[test]
    fn a_file_of_an_older_cronhook_is_upgraded_then_copied() {
        let Some(pg) = super::super::tests::TestSchema::new("a_file_of_an_older_cronhook") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = v1_file(dir.path());
        Connection::open(&path)
            .unwrap()
            .execute_batch("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
            .unwrap();

        let report = migrate_to_postgres(&path, &pg.url).unwrap();
        assert_eq!(report.tables[0], ("meta".to_owned(), 1));
        let version = user_version(&path);
        assert_eq!(version, migrations::LATEST_VERSION);
        let kept: String = pg
            .client()
            .query_one("SELECT value FROM meta WHERE key = 'kept'", &[])
            .unwrap()
            .get(0);
        assert_eq!(kept, "yes");
    }

    /// A SQLite file at schema version 1, in `dir`, as the first release
    /// wrote it.
    fn v1_file(dir: &Path) -> PathBuf {
        let path = dir.join("v1.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        path
    }

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    /// A wrong --to (nothing listens there) leaves an older file as it
    /// was: the cronhook that wrote it can still serve it.
    #[test]
    fn a_target_that_cannot_be_reached_leaves_an_older_file_unupgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = v1_file(dir.path());

        let err = migrate_to_postgres(&path, "postgres://postgres@127.0.0.1:1/x").unwrap_err();
        assert!(matches!(err, MigrateError::Connect(_)), "{err}");
        let version = user_version(&path);
        assert_eq!(version, 1);
    }

    /// A target that already holds rows is refused before the file is
    /// touched, so an older cronhook can still serve it.
    #[test]
    fn a_target_with_rows_leaves_an_older_file_unupgraded() {
        let Some(pg) = super::super::tests::TestSchema::new("a_target_with_rows_leaves") else {
            return;
        };
        let mut client = pg.client();
        super::super::migrate(&mut client).unwrap();
        client
            .batch_execute("INSERT INTO queues (name, parallelism, paused, created_at, updated_at) VALUES ('there', 1, 0, 1, 1)")
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = v1_file(dir.path());

        let err = migrate_to_postgres(&path, &pg.url).unwrap_err();
        assert!(matches!(err, MigrateError::NotEmpty("queues")), "{err}");
        let version = user_version(&path);
        assert_eq!(version, 1, "the file is as it was");
    }

    #[test]
    fn a_target_whose_leader_lease_is_live_is_refused() {
        let Some(pg) = super::super::tests::TestSchema::new("a_target_whose_leader_lease") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let mut conn = Connection::open(&path).unwrap();
        migrations::migrate(&mut conn).unwrap();
        drop(conn);
        let mut client = pg.client();
        super::super::migrate(&mut client).unwrap();
        client
            .batch_execute(
                "INSERT INTO cluster_lease (id, node, term, expires_at) VALUES (1, 'n1', 1, \
                 (extract(epoch from clock_timestamp()) * 1000)::bigint + 60000)",
            )
            .unwrap();
        let err = migrate_to_postgres(&path, &pg.url).unwrap_err();
        assert!(matches!(err, MigrateError::TargetServed), "{err}");
        // Once it has expired (the node is gone), the copy goes ahead.
        client
            .batch_execute("UPDATE cluster_lease SET expires_at = 0")
            .unwrap();
        migrate_to_postgres(&path, &pg.url).unwrap();
    }
}
