//! The PostgreSQL schema against SQLite's. These run when
//! `CRONHOOK_TEST_POSTGRES` holds a URL (each in a schema of its own, dropped
//! after); without it they say so and pass.

use std::collections::BTreeMap;

use postgres::{Client, NoTls};

use super::*;

/// A fresh schema `t_<random>` on the test server, dropped at the end.
pub(crate) struct TestSchema {
    admin_url: String,
    pub(crate) name: String,
    /// The URL whose `search_path` is this schema.
    pub(crate) url: String,
}

impl TestSchema {
    /// `None` (with a note on stderr) when no test server is configured.
    pub(crate) fn new(test: &str) -> Option<TestSchema> {
        let Ok(admin_url) = std::env::var("CRONHOOK_TEST_POSTGRES") else {
            eprintln!("skipped {test}: set CRONHOOK_TEST_POSTGRES to a postgres:// URL to run it");
            return None;
        };
        let name = format!("t_{:016x}", rand::random::<u64>());
        let mut admin = Client::connect(&admin_url, NoTls).expect("connect to the test server");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-csearch_path%3D{name}");
        Some(TestSchema {
            admin_url,
            name,
            url,
        })
    }

    pub(crate) fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).unwrap()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&self.admin_url, NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

fn version(client: &mut Client) -> i64 {
    client
        .query_one("SELECT version FROM cronhook_schema", &[])
        .unwrap()
        .get(0)
}

/// `(name, declared type, not null)` of each column of each table of a
/// fresh SQLite store, in declaration order.
type Columns = BTreeMap<String, Vec<(String, String, bool)>>;

fn sqlite_columns() -> Columns {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrations::migrate(&mut conn).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Columns::new();
    for table in tables {
        let cols = conn
            .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid")
            .unwrap()
            .query_map([&table], |r| {
                // A primary key column is NOT NULL on PostgreSQL, also
                // where SQLite (for a rowid table's TEXT key) allows NULL.
                let not_null = r.get::<_, i64>(2)? == 1 || r.get::<_, i64>(3)? > 0;
                Ok((r.get(0)?, r.get(1)?, not_null))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.insert(table, cols);
    }
    out
}

fn postgres_columns(client: &mut Client) -> Columns {
    let mut out = Columns::new();
    for row in client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .unwrap()
    {
        out.entry(row.get(0)).or_default().push((
            row.get(1),
            row.get(2),
            row.get::<_, String>(3) == "NO",
        ));
    }
    out
}

/// SQLite's declared type as the design translates it.
fn translated(sqlite_type: &str) -> &'static str {
    match sqlite_type {
        "INTEGER" => "bigint",
        "TEXT" => "text",
        "BLOB" => "bytea",
        other => panic!("a SQLite column type the translation does not know: {other}"),
    }
}

/// Columns and indexes, sorted, with the schema's name taken out: two
/// schemas with the same shape accept the same statements.
fn shape(client: &mut Client) -> Vec<String> {
    let mut out: Vec<String> = client
        .query(
            "SELECT format('table %s %s %s nullable=%s default=%s identity=%s', table_name, \
                    column_name, data_type, is_nullable, column_default, is_identity) \
             FROM information_schema.columns WHERE table_schema = current_schema()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for row in client
        .query(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
            &[],
        )
        .unwrap()
    {
        let schema: String = client
            .query_one("SELECT current_schema()::text", &[])
            .unwrap()
            .get(0);
        let def: String = row.get(1);
        out.push(format!(
            "index {}: {}",
            row.get::<_, String>(0),
            def.replace(&format!("{schema}."), "")
        ));
    }
    out.sort();
    out
}

#[test]
fn a_fresh_schema_migrates_to_version_1_with_every_table_and_column_of_sqlite() {
    let Some(db) = TestSchema::new("a_fresh_schema_migrates_to_version_1") else {
        return;
    };
    let mut client = db.client();
    migrate(&mut client).unwrap();
    assert_eq!(version(&mut client), LATEST_VERSION);
    assert_eq!(LATEST_VERSION, 1);

    let sqlite = sqlite_columns();
    let mut postgres = postgres_columns(&mut client);
    assert!(sqlite.len() >= 17, "SQLite's tables: {:?}", sqlite.keys());
    for (table, columns) in &sqlite {
        let Some(pg) = postgres.remove(table) else {
            panic!("table {table} is missing on PostgreSQL");
        };
        let mut expected: Vec<(String, String, bool)> = columns
            .iter()
            .map(|(name, ty, not_null)| (name.clone(), translated(ty).to_owned(), *not_null))
            .collect();
        // The tables whose rowid order the store reads carry it as a column.
        if table == "messages" || table == "url_group_endpoints" {
            expected.push(("rowid".into(), "bigint".into(), true));
        }
        assert_eq!(pg, expected, "columns of {table}");
    }
    let extra: Vec<&String> = postgres.keys().collect();
    assert_eq!(
        extra,
        ["cluster_lease", "cluster_nodes", "cronhook_schema"],
        "PostgreSQL's own tables"
    );
}

#[test]
fn every_index_of_sqlite_has_its_namesake_and_partial_ones_stay_partial() {
    let Some(db) = TestSchema::new("every_index_of_sqlite_has_its_namesake") else {
        return;
    };
    let mut client = db.client();
    migrate(&mut client).unwrap();
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrations::migrate(&mut conn).unwrap();
    let sqlite: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!sqlite.is_empty());
    for (name, sql) in sqlite {
        let def: Option<String> = client
            .query_opt(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexname = $1",
                &[&name],
            )
            .unwrap()
            .map(|r| r.get(0));
        let Some(def) = def else {
            panic!("index {name} is missing on PostgreSQL");
        };
        assert_eq!(
            def.contains(" WHERE "),
            sql.contains(" WHERE "),
            "{name}: SQLite `{sql}`, PostgreSQL `{def}`"
        );
        if sql.contains("json_extract") {
            assert!(
                def.contains("(delivery)::jsonb #>> '{workflow,runId}'::text[]"),
                "{name} uses the fixed JSON expression: {def}"
            );
        }
    }
}

#[test]
fn migrating_twice_changes_nothing() {
    let Some(db) = TestSchema::new("migrating_twice_changes_nothing") else {
        return;
    };
    let mut client = db.client();
    migrate(&mut client).unwrap();
    client
        .batch_execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
        .unwrap();
    let before = shape(&mut client);
    migrate(&mut client).unwrap();
    assert_eq!(version(&mut client), LATEST_VERSION);
    assert_eq!(shape(&mut client), before);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM cronhook_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "one version row");
    let kept: String = client
        .query_one("SELECT value FROM meta WHERE key = 'kept'", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, "yes");
}

#[test]
fn the_steps_end_in_the_shape_of_schema_sql() {
    let (Some(steps), Some(whole)) = (
        TestSchema::new("the_steps_end_in_the_shape_of_schema_sql"),
        TestSchema::new("the_steps_end_in_the_shape_of_schema_sql"),
    ) else {
        return;
    };
    let mut by_steps = steps.client();
    migrate(&mut by_steps).unwrap();
    by_steps
        .batch_execute("DROP TABLE cronhook_schema")
        .unwrap();
    let mut by_file = whole.client();
    by_file.batch_execute(SCHEMA).unwrap();
    assert_eq!(shape(&mut by_steps), shape(&mut by_file));
}

#[test]
fn a_schema_from_a_newer_cronhook_is_refused_and_left_alone() {
    let Some(db) = TestSchema::new("a_schema_from_a_newer_cronhook_is_refused") else {
        return;
    };
    let mut client = db.client();
    client
        .batch_execute(&format!(
            "CREATE TABLE cronhook_schema (version BIGINT NOT NULL);
             INSERT INTO cronhook_schema VALUES ({});",
            LATEST_VERSION + 1
        ))
        .unwrap();
    let err = migrate(&mut client).unwrap_err();
    assert!(
        matches!(err, PgSchemaError::SchemaTooNew { found: 2, known: 1 }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("newer than this cronhook knows"),
        "{err}"
    );
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was created");
}

#[test]
fn nodes_migrating_at_once_apply_each_step_once() {
    let Some(db) = TestSchema::new("nodes_migrating_at_once_apply_each_step_once") else {
        return;
    };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&url, NoTls).unwrap();
                migrate(&mut client)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().expect("every node's migration succeeds");
    }
    let mut client = db.client();
    assert_eq!(version(&mut client), LATEST_VERSION);
}
