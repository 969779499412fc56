//! Which database the tests run on, and a database of its own for each test.
//!
//! Without `CRONHOOK_TEST_POSTGRES` every test uses a SQLite file in a
//! temporary folder, as it always did. With it set to a PostgreSQL URL
//! (`scripts/pg-cluster.sh` starts a throwaway cluster and prints one), each
//! database a test creates is a fresh schema `t_<random>` on that server,
//! reached through the URL's `options=-csearch_path%3Dt_<random>`.
//!
//! Tests keep naming their database by a file path (`dir/cronhook.db`): on
//! PostgreSQL the path is the key of its schema in [`for_path`]'s registry,
//! so starting a server again on the same path (a restart after kill -9)
//! reaches the same schema, and `db::rows(&path, ..)` reads it. The schema
//! lives as long as a value that uses it (a `ServerProcess`, an
//! `InProcess`) and is dropped with the last of them (best effort).
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// The variable that switches the suite to PostgreSQL: a server URL.
pub const ENV: &str = "CRONHOOK_TEST_POSTGRES";
/// The cluster's data folder (`scripts/pg-cluster.sh env`), for tests that
/// stop and start the database itself.
pub const DATA_ENV: &str = "CRONHOOK_TEST_POSTGRES_DATA";
/// A file each skip on PostgreSQL is appended to (one line), so that the
/// test command can list them at the end (nextest hides a passing test's
/// output).
pub const SKIPS_ENV: &str = "CRONHOOK_TEST_SKIPS";

/// The PostgreSQL server URL the suite runs on, if it does.
pub fn postgres_url() -> Option<String> {
    std::env::var(ENV).ok().filter(|u| !u.trim().is_empty())
}

pub fn on_postgres() -> bool {
    postgres_url().is_some()
}

/// The name of the running test, as the test harness gave its thread.
fn test_name() -> String {
    let bin = env!("CARGO_CRATE_NAME");
    match std::thread::current().name() {
        Some(name) if name != "main" => format!("{bin}::{name}"),
        _ => bin.to_string(),
    }
}

/// For a test of something only SQLite has (its file, its lock, its
/// backup, its migrations): on PostgreSQL, says so with `reason` (on stdout,
/// stderr and in `$CRONHOOK_TEST_SKIPS`) and returns true, and the test
/// returns at once. On SQLite returns false.
///
/// ```ignore
/// if common::skip_on_postgres("the file lock is SQLite's") { return; }
/// ```
pub fn skip_on_postgres(reason: &str) -> bool {
    if !on_postgres() {
        return false;
    }
    note_skip(&format!("skipped on PostgreSQL: {reason}"));
    true
}

/// For a test that needs PostgreSQL: on SQLite says so and returns true.
pub fn skip_on_sqlite(reason: &str) -> bool {
    if on_postgres() {
        return false;
    }
    let line = format!(
        "{}: skipped without {ENV} (PostgreSQL only): {reason}",
        test_name()
    );
    println!("{line}");
    eprintln!("{line}");
    true
}

fn note_skip(what: &str) {
    let line = format!("{}: {what}", test_name());
    println!("{line}");
    eprintln!("{line}");
    if let Some(file) = std::env::var_os(SKIPS_ENV) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A random lowercase name for a schema: `t_` and 16 hex digits.
fn random_name() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("t_{:016x}", h.finish())
}

/// `url` with `options=-csearch_path%3D<schema>` added to its query.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

/// A connection to the server (not to a schema), with a bounded connect.
pub fn connect(url: &str) -> postgres::Client {
    let mut config: postgres::Config = url
        .parse()
        .unwrap_or_else(|e| panic!("{ENV}={url:?} is not a PostgreSQL URL: {e}"));
    config.connect_timeout(Duration::from_secs(10));
    config
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// A schema of its own on the test server; dropped (with everything in it)
/// when the value drops.
pub struct PgSchema {
    pub name: String,
    /// The server URL without the schema.
    pub server: String,
    /// The URL cronhook gets: the server's, with the schema on the search path.
    pub url: String,
    /// The connection `db.rs` reads through, kept between reads (tests poll).
    reader: Mutex<Option<postgres::Client>>,
}

impl PgSchema {
    /// Creates `t_<random>` on the server in `$CRONHOOK_TEST_POSTGRES`.
    pub fn create() -> PgSchema {
        let server = postgres_url().expect("CRONHOOK_TEST_POSTGRES is not set");
        let name = random_name();
        connect(&server)
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap_or_else(|e| panic!("CREATE SCHEMA {name}: {e}"));
        let url = with_search_path(&server, &name);
        PgSchema {
            name,
            server,
            url,
            reader: Mutex::new(None),
        }
    }

    /// A connection whose search path is this schema.
    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }

    /// Runs `f` on the kept reading connection, opening it first if there is
    /// none or it broke (a restarted server); one new try after a broken one.
    pub fn with_reader<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let mut kept = self.reader.lock().unwrap();
        if kept.as_ref().is_some_and(|c| !c.is_closed()) {
            match f(kept.as_mut().unwrap()) {
                Err(e) if kept.as_ref().unwrap().is_closed() || e.is_closed() => {}
                other => return other,
            }
        }
        *kept = Some(self.client());
        f(kept.as_mut().unwrap())
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut kept) = self.reader.lock() {
            kept.take();
        }
        // Best effort: the server may be down (a test stopped it) or gone.
        // A connection of a killed server may still hold locks for a moment;
        // the lock timeout keeps this from hanging.
        let drop_it = || -> Result<(), postgres::Error> {
            let mut config: postgres::Config = self.server.parse()?;
            config.connect_timeout(Duration::from_secs(3));
            let mut c = config.connect(postgres::NoTls)?;
            c.batch_execute(&format!(
                "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            ))
        };
        if let Err(e) = drop_it() {
            eprintln!("note: could not drop test schema {}: {e}", self.name);
        }
    }
}

/// The schemas of the databases named by path in this test process.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<PgSchema>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<PgSchema>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The schema a database path stands for on PostgreSQL: the one already in
/// use for `path`, or a fresh one. Hold the `Arc` as long as the database is
/// used (across restarts: keep the killed server's value until the next one
/// started).
pub fn for_path(path: &Path) -> Arc<PgSchema> {
    let mut map = registry().lock().unwrap();
    if let Some(schema) = map.get(path).and_then(Weak::upgrade) {
        return schema;
    }
    let schema = Arc::new(PgSchema::create());
    map.insert(path.to_path_buf(), Arc::downgrade(&schema));
    map.retain(|_, w| w.strong_count() > 0);
    schema
}

/// The schema in use for `path`, if a server or app on it is alive.
pub fn existing(path: &Path) -> Option<Arc<PgSchema>> {
    registry().lock().unwrap().get(path).and_then(Weak::upgrade)
}

/// What a test's database path becomes on the command line (`--db`): the
/// path itself on SQLite; on PostgreSQL the URL of the path's schema, and
/// the schema to hold while it is used.
pub fn db_arg(path: &Path) -> (OsString, Option<Arc<PgSchema>>) {
    if on_postgres() {
        let schema = for_path(path);
        (OsString::from(schema.url.clone()), Some(schema))
    } else {
        (path.as_os_str().to_owned(), None)
    }
}

/// The `Config.db` value for a `--db` string, as the binary reads `--db`.
///
/// The one place that knows `Config.db`'s type: a `store::DbTarget`, parsed
/// as `--db` is.
pub fn config_db(arg: &std::ffi::OsStr) -> cronhook::store::DbTarget {
    cronhook::store::DbTarget::parse(&arg.to_string_lossy())
}
