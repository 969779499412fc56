//! Schema versioning with `PRAGMA user_version`.
//!
//! A new database gets `schema.sql` whole and the latest version. An older one
//! runs the ordered steps in `STEPS` from its version up; each step is its own
//! transaction, so a crash mid-upgrade leaves a consistent, resumable database.

use rusqlite::Connection;

use super::StoreError;

/// The whole current schema.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Version that `SCHEMA` describes.
pub const LATEST_VERSION: i64 = 2;

/// `STEPS[i]` upgrades a database from version `i + 1` to `i + 2`.
const STEPS: &[&str] = &[V2_WORKFLOWS];

/// Version 2: Upstash Workflow runs, their logs, waiters and lookback
/// notices (issue #5). Only adds tables and indexes; v1's tables keep their
/// meaning. Must match the workflow part of `schema.sql`.
const V2_WORKFLOWS: &str = "
CREATE TABLE workflow_runs (
    run_id           TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    config           TEXT NOT NULL,
    init_message_id  TEXT NOT NULL,
    initial_body     BLOB NOT NULL,
    response         BLOB,
    caller_ip        TEXT,
    failure_message_id TEXT
) STRICT;
CREATE INDEX workflow_runs_created ON workflow_runs (created_at);
CREATE TABLE workflow_steps (
    run_id       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    call_type    TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX workflow_steps_message ON workflow_steps (message_id);
CREATE TABLE workflow_waiters (
    timeout_message_id  TEXT PRIMARY KEY,
    event_id            TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    url                 TEXT NOT NULL,
    delivery            TEXT NOT NULL,
    step                TEXT NOT NULL,
    timeout             TEXT NOT NULL,
    timeout_url         TEXT NOT NULL,
    timeout_headers     TEXT NOT NULL,
    deadline            INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX workflow_waiters_event ON workflow_waiters (event_id);
CREATE INDEX workflow_waiters_run ON workflow_waiters (run_id);
CREATE TABLE workflow_notices (
    run_id      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX messages_workflow_run ON messages (json_extract(delivery, '$.workflow.runId'))
    WHERE json_extract(delivery, '$.workflow.runId') IS NOT NULL;
";

/// Brings the database at `conn` to `LATEST_VERSION`.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            known: LATEST_VERSION,
        });
    }
    if version == 0 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", LATEST_VERSION)?;
        tx.commit()?;
        return Ok(());
    }
    for (from, step) in STEPS.iter().enumerate().skip((version - 1) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", from as i64 + 2)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, LATEST_VERSION);
        // Running again on a current database changes nothing.
        migrate(&mut conn).unwrap();
    }

    #[test]
    fn a_database_from_a_newer_cronhook_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    /// The objects (tables, indexes) of a database and their columns, as a
    /// comparable set.
    fn shape(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT m.name, p.name || ':' || p.type FROM sqlite_master m, \
                 pragma_table_info(m.name) p WHERE m.type = 'table' \
                 UNION ALL SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' \
                 ORDER BY 1, 2",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_database_upgrades_to_the_same_shape_as_a_new_one() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        // Version 1 is today's schema without the workflow objects.
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(SCHEMA).unwrap();
        old.execute_batch(
            "DROP INDEX messages_workflow_run; DROP TABLE workflow_runs; \
             DROP TABLE workflow_steps; DROP TABLE workflow_waiters; DROP TABLE workflow_notices;",
        )
        .unwrap();
        old.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')", [])
            .unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        migrate(&mut old).unwrap();
        assert_eq!(shape(&old), shape(&fresh));
        let v: i64 = old
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
        let kept: String = old
            .query_row("SELECT value FROM meta WHERE key = 'kept'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept, "yes", "v1 data survives");
    }

    #[test]
    fn steps_cover_every_version_below_latest() {
        assert_eq!(STEPS.len() as i64, LATEST_VERSION - 1);
    }
}
