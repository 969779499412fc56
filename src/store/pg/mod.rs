//! PostgreSQL's own schema and its versioning (issue 14, design item 4).
//!
//! The schema is SQLite's, table by table, with the same column names (see
//! `schema.sql` next to this file). Its version lives in the one-row table
//! `cronhook_schema`. A database runs the numbered steps in `migrations/`
//! from its version up, each in its own transaction; the step files are
//! frozen once released, as SQLite's are. Several nodes may start at once on
//! one database: each step's transaction first takes a transaction-level
//! advisory lock, then reads the version, so exactly one node applies a
//! step and the others find it done.

pub(crate) mod copy;
#[cfg(test)]
mod tests;

use postgres::Client;

/// The whole current schema, for reading (a test checks that `STEPS` end in
/// its shape); databases are made by `STEPS`.
#[cfg(test)]
pub(crate) const SCHEMA: &str = include_str!("schema.sql");

/// Version that `SCHEMA` describes.
pub(crate) const LATEST_VERSION: i64 = 1;

/// `(version, SQL)`: running the SQL on a database of `version - 1` makes it
/// `version`.
const STEPS: &[(i64, &str)] = &[(1, include_str!("migrations/0001_initial.sql"))];

/// Key of the advisory lock that serialises migrations: one number for all
/// of cronhook (it only ever makes other nodes' migrations wait a moment).
const MIGRATION_LOCK: i64 = 0x6372_6f6e_686f_6f6b; // "cronhook"

/// Errors of the PostgreSQL schema and of the copy from SQLite.
#[derive(Debug, thiserror::Error)]
pub enum PgSchemaError {
    #[error("PostgreSQL: {}", describe(.0))]
    Postgres(#[from] postgres::Error),
    #[error(
        "the database has schema version {found}, newer than this cronhook knows ({known}); \
         upgrade cronhook or use another --db"
    )]
    SchemaTooNew { found: i64, known: i64 },
}

/// Brings the database of `client` (its `search_path`'s first schema) to
/// `LATEST_VERSION`, creating `cronhook_schema` first if needed.
pub(crate) fn migrate(client: &mut Client) -> Result<(), PgSchemaError> {
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        // After the lock: whoever held it has committed, so what is read
        // here is the version it left.
        // (Not `IF NOT EXISTS`: that logs a notice on every start.)
        let exists: bool = tx
            .query_one("SELECT to_regclass('cronhook_schema') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            tx.batch_execute(
                "CREATE TABLE cronhook_schema (version BIGINT NOT NULL);
                 INSERT INTO cronhook_schema (version) VALUES (0);",
            )?;
        }
        let version: i64 = tx
            .query_one("SELECT version FROM cronhook_schema", &[])?
            .get(0);
        if version > LATEST_VERSION {
            return Err(PgSchemaError::SchemaTooNew {
                found: version,
                known: LATEST_VERSION,
            });
        }
        let Some((next, sql)) = STEPS.iter().find(|(v, _)| *v == version + 1) else {
            tx.commit()?;
            return Ok(());
        };
        tx.batch_execute(sql)?;
        tx.execute("UPDATE cronhook_schema SET version = $1", &[next])?;
        tx.commit()?;
    }
}

/// `e` with its reason: PostgreSQL's message (with its detail and hint) for
/// an error the server sent, else the chain of causes (the refused
/// connection, the timeout), where `Display` alone says only "db error".
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
