//! Schema versioning with `PRAGMA user_version`.
//!
//! A new database gets `schema.sql` whole and the latest version. An older one
//! runs the numbered steps in `migrations/` from its version up, each in its
//! own transaction, so a crash mid-upgrade leaves a consistent database that
//! the next start upgrades further. The step files are frozen: a database of
//! each version exists in the field exactly as its files made it, so a new
//! change is a new file, never an edit. A test checks that upgrading from the
//! first file ends in the same shape as `schema.sql`.

use rusqlite::Connection;

use super::StoreError;

/// The whole current schema.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Version that `SCHEMA` describes.
pub const LATEST_VERSION: i64 = 10;

/// `(version, SQL)`: running the SQL on a database of `version - 1` makes
/// it `version`. Version 1 is the first schema; it is here so the upgrade
/// tests start from the real thing.
const STEPS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_workflows.sql")),
    (3, include_str!("migrations/0003_pending_window.sql")),
    (4, include_str!("migrations/0004_fire_history.sql")),
    (5, include_str!("migrations/0005_url_groups.sql")),
    (6, include_str!("migrations/0006_flow_control.sql")),
    (7, include_str!("migrations/0007_workflow_invoke.sql")),
    (8, include_str!("migrations/0008_schedule_bounds.sql")),
    (9, include_str!("migrations/0009_workflow_logs.sql")),
    (10, include_str!("migrations/0010_log_per_attempt.sql")),
];

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
    upgrade(conn, version, LATEST_VERSION)
}

/// Runs the steps after `from` up to and including `to`.
fn upgrade(conn: &mut Connection, from: i64, to: i64) -> Result<(), StoreError> {
    for (version, sql) in STEPS.iter().filter(|(v, _)| *v > from && *v <= to) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    /// A database made by the release that wrote schema `v`.
    fn database_of_version(v: i64) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        upgrade(&mut conn, 0, v).unwrap();
        assert_eq!(version(&conn), v);
        conn
    }

    /// Every table's columns (name, type, not-null, default, key) and every
    /// index (its table, columns, uniqueness and WHERE clause), sorted: two
    /// databases with the same shape accept the same statements.
    fn shape(conn: &Connection) -> Vec<String> {
        let mut out: Vec<String> = conn
            .prepare(
                "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk \
                 FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
            )
            .unwrap()
            .query_map([], |r| {
                Ok(format!(
                    "table {} {} {} notnull={} default={:?} pk={}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let indexes: Vec<(String, String, Option<String>)> = conn
            .prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (name, table, sql) in indexes {
            // The SQL text is compared with whitespace folded: it carries the
            // columns, expressions and WHERE clause of the index.
            let sql = sql
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| "(automatic)".into());
            out.push(format!("index {name} on {table}: {sql}"));
        }
        out.sort();
        out
    }

    #[test]
    fn a_new_database_gets_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), LATEST_VERSION);
        // Running again on a current database changes nothing.
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), LATEST_VERSION);
    }

    #[test]
    fn a_database_from_a_newer_cronhook_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn every_old_version_upgrades_to_the_shape_of_schema_sql() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        for v in 1..LATEST_VERSION {
            let mut old = database_of_version(v);
            migrate(&mut old).unwrap();
            assert_eq!(version(&old), LATEST_VERSION);
            assert_eq!(shape(&old), shape(&fresh), "upgraded from version {v}");
        }
    }

    #[test]
    fn the_steps_are_numbered_one_to_latest() {
        let numbers: Vec<i64> = STEPS.iter().map(|(v, _)| *v).collect();
        assert_eq!(numbers, (1..=LATEST_VERSION).collect::<Vec<_>>());
    }

    #[test]
    fn data_of_a_version_2_database_survives_and_queued_messages_get_their_queue() {
        let mut old = database_of_version(2);
        old.execute_batch(
            "INSERT INTO meta (key, value) VALUES ('kept', 'yes');
             INSERT INTO messages (id, url, delivery, body, created_at, not_before, due_at)
             VALUES ('msg_q', 'http://127.0.0.1:1/', '{\"queueName\":\"jobs\"}', x'', 1, 1, 1),
                    ('msg_p', 'http://127.0.0.1:1/', '{}', x'', 1, 1, 1);",
        )
        .unwrap();
        migrate(&mut old).unwrap();
        let kept: String = old
            .query_row("SELECT value FROM meta WHERE key = 'kept'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept, "yes");
        let queues: Vec<(String, Option<String>)> = old
            .prepare("SELECT id, queue_name FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            queues,
            [
                ("msg_p".to_owned(), None),
                ("msg_q".to_owned(), Some("jobs".to_owned()))
            ]
        );
    }

    /// Version 10 turns an attempt's rows (consecutive, one message, one
    /// settings) into one row and keeps every other row as it was; the
    /// settings are stored once per message, with the attempts' own when
    /// they differ, and a row whose settings match neither keeps its own.
    #[test]
    fn version_10_pairs_an_attempt_s_rows_and_keeps_the_rest_as_they_were() {
        let mut old = database_of_version(9);
        old.execute_batch(
            "INSERT INTO events (seq, time, message_id, state, url, delivery, body, error,
                                 next_delivery_time, response_status, response_headers, response_body)
             VALUES (1, 10, 'a', 'CREATED', 'http://h/a', '{\"retries\":3}', x'6869', NULL, NULL, NULL, NULL, NULL),
                    (2, 11, 'a', 'ACTIVE', 'http://h/a', '{\"retries\":1}', NULL, NULL, NULL, NULL, NULL, NULL),
                    (3, 12, 'a', 'ERROR', 'http://h/a', '{\"retries\":1}', NULL, 'HTTP 500', NULL, 500, '{}', x''),
                    (4, 12, 'a', 'RETRY', 'http://h/a', '{\"retries\":1}', NULL, NULL, 40, NULL, NULL, NULL),
                    -- b's CREATED was purged; its ACTIVE has no outcome row after it.
                    (5, 20, 'b', 'ACTIVE', 'http://h/b', '{}', NULL, NULL, NULL, NULL, NULL, NULL),
                    (6, 21, 'a', 'ACTIVE', 'http://h/a', '{\"retries\":1}', NULL, NULL, NULL, NULL, NULL, NULL),
                    (7, 22, 'a', 'DELIVERED', 'http://h/a', '{\"retries\":1}', NULL, NULL, NULL, 200, '{}', x'6f6b'),
                    (8, 23, 'a', 'CANCELED', 'http://h/a', '{\"retries\":7}', NULL, NULL, NULL, NULL, NULL, NULL);
             INSERT INTO messages (id, url, delivery, body, created_at, not_before, due_at)
             VALUES ('p', 'http://h/p', '{}', x'', 1, 1, 1);",
        )
        .unwrap();
        migrate(&mut old).unwrap();
        type LogRow = (i64, String, String, i64, Option<i64>, Option<String>);
        let rows: Vec<LogRow> = old
            .prepare(
                "SELECT seq, message_id, state, time, started_at, delivery FROM log ORDER BY seq",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let row = |seq, id: &str, state: &str, time, started: Option<i64>, d: Option<&str>| {
            (
                seq,
                id.to_owned(),
                state.to_owned(),
                time,
                started,
                d.map(str::to_owned),
            )
        };
        assert_eq!(
            rows,
            [
                row(1, "a", "CREATED", 10, None, None),
                row(2, "a", "RETRY", 12, Some(11), None),
                row(5, "b", "ACTIVE", 20, None, None),
                row(6, "a", "DELIVERED", 22, Some(21), None),
                row(8, "a", "CANCELED", 23, None, Some("{\"retries\":7}")),
            ]
        );
        type SettingsRow = (String, String, Option<String>, Option<Vec<u8>>);
        let settings: Vec<SettingsRow> = old
            .prepare("SELECT id, delivery, attempt_delivery, body FROM log_messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            settings,
            [
                (
                    "a".into(),
                    "{\"retries\":3}".into(),
                    Some("{\"retries\":1}".into()),
                    Some(b"hi".to_vec())
                ),
                ("b".into(), "{}".into(), None, None),
                ("p".into(), "{}".into(), None, None),
            ]
        );
        let (error, next, status): (Option<String>, Option<i64>, Option<i64>) = old
            .query_row(
                "SELECT error, next_delivery_time, response_status FROM log WHERE seq = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (error.as_deref(), next, status),
            (Some("HTTP 500"), Some(40), Some(500))
        );
        let totals: Vec<i64> = old
            .prepare("SELECT total FROM log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(totals, [1, 4, 5, 7, 8], "the running count of entries");
        let events: i64 = old
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(events, 0, "the old table is gone");
    }
}
