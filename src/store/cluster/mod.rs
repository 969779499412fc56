//! Several nodes on one PostgreSQL database: who leads, and how writes on
//! one node reach the leader's engine.
//!
//! - `lease`: leader election by a lease row (`cluster_lease`), taken and
//!   renewed with one compare-and-set on the database's clock, given up by
//!   the leader itself when it could not renew in time;
//! - `notice`: the payloads of the change notices (pure);
//! - `listen`: the thread that LISTENs and hands other nodes' changes on;
//! - `notify`: the writer's hook that sends this node's changes.
//!
//! All of it runs on threads of its own, each with its own blocking
//! `postgres::Client` (never inside an async task: the blocking client
//! panics there). All SQL of several nodes lives in this folder.

pub mod lease;
pub mod listen;
pub mod notice;
pub mod notify;

use super::db::{DbError, PgUrl};
use std::time::Duration;

pub use lease::{Lease, LeaseSettings, NodeRow, Transition, NODES_SQL, SERVED_SQL};
pub use listen::{Heard, Listener};
pub use notice::{decode, encode, encode_all, Notice, Remote, MAX_PAYLOAD};
pub use notify::Notifier;

/// The channel the nodes of one schema notify their committed timer
/// changes on, as a SQL expression: `cronhook_` and a hash of the schema.
/// PostgreSQL's notices are per database, so deployments in different
/// schemas of one database (and the test suite's schema per test) must
/// not hear each other: a queue or flow-control setting of one would
/// change the other's engine.
pub const CHANNEL_SQL: &str = "('cronhook_' || substr(md5(coalesce(current_schema(), '')), 1, 16))";

/// The database's clock in milliseconds since the epoch: the lease and the
/// node list use it, so the nodes' own clocks do not matter. A macro, so
/// that `concat!` can build constant statements with it.
macro_rules! db_now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}
use db_now_ms;
const DB_NOW_MS: &str = db_now_ms!();

/// A connection for one of this module's threads: `timeout` bounds the
/// connect, every statement (`statement_timeout`) and unacknowledged sends
/// (`tcp_user_timeout`), and TCP keepalives notice a silent peer, so a
/// dead network makes calls fail instead of hang. `role` names it in
/// `pg_stat_activity` (`application_name`).
pub(crate) fn connect(
    url: &str,
    timeout: Duration,
    role: &str,
) -> Result<postgres::Client, DbError> {
    let mut target = PgUrl::parse(url)?;
    let timeout = timeout.max(Duration::from_millis(200));
    target
        .config
        .connect_timeout(timeout)
        .tcp_user_timeout(timeout)
        .keepalives(true)
        .keepalives_idle(timeout.max(Duration::from_secs(1)))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3)
        .application_name(role);
    let mut client = target.connect()?;
    client.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))?;
    Ok(client)
}

/// Waits that double from `min` up to `max`, for reconnecting.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The wait before the next try.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// The tables of several nodes, as in `src/store/pg/schema.sql` (the
/// schema's own copy is the truth; tests create them from this one).
#[cfg(test)]
pub(crate) const TEST_DDL: &str = "\
    CREATE TABLE cluster_lease (id BIGINT PRIMARY KEY CHECK (id = 1), node TEXT NOT NULL, \
      term BIGINT NOT NULL, expires_at BIGINT NOT NULL, url TEXT); \
    CREATE TABLE cluster_nodes (node TEXT PRIMARY KEY, url TEXT, started_at BIGINT NOT NULL, \
      seen_at BIGINT NOT NULL);";

/// A fresh schema on the dev cluster named by `CRONHOOK_TEST_POSTGRES`
/// (a `postgres://` URL), dropped at the end; `None` (with a note) when
/// the variable is not set, so the test is skipped.
#[cfg(test)]
pub(crate) struct TestDb {
    base: String,
    pub schema: String,
    /// This schema's URL: `options=-csearch_path=<schema>`.
    pub url: String,
}

#[cfg(test)]
impl TestDb {
    pub(crate) fn new(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var("CRONHOOK_TEST_POSTGRES") else {
            eprintln!("{test}: skipped (set CRONHOOK_TEST_POSTGRES to a postgres:// URL)");
            return None;
        };
        let schema = format!(
            "t_{}",
            crate::ids::jwt_id()
                .trim_start_matches("jwt_")
                .to_ascii_lowercase()
        );
        let mut admin = postgres::Client::connect(&base, postgres::NoTls).expect("test database");
        admin
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; SET search_path = {schema}; {TEST_DDL}"
            ))
            .expect("test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        Some(TestDb { base, schema, url })
    }

    /// A plain connection to this schema.
    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("test connection")
    }
}

#[cfg(test)]
impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TestDb;
    use crate::store::rows::schedules::MOVE_NEXT;
    use std::time::{Duration, Instant};

    /// `MOVE_NEXT` as PostgreSQL reads it (`$N` for `?N`).
    fn move_next_sql() -> String {
        MOVE_NEXT
            .replace("?1", "$1")
            .replace("?2", "$2")
            .replace("?3", "$3")
    }

    /// The firing compare-and-set on PostgreSQL: two transactions move one
    /// schedule from the same slot at once; the second waits for the
    /// first's row lock and then finds the slot gone.
    #[test]
    fn two_firings_of_one_slot_at_once_move_the_schedule_once() {
        let Some(db) = TestDb::new("two_firings_of_one_slot_at_once") else {
            return;
        };
        db.client()
            .batch_execute(
                "CREATE TABLE schedules (id TEXT PRIMARY KEY, next_fire_at BIGINT, \
                 paused BIGINT NOT NULL); INSERT INTO schedules VALUES ('s', 1000, 0)",
            )
            .unwrap();
        let sql = move_next_sql();
        let mut a = db.client();
        let mut first = a.transaction().unwrap();
        let moved = first
            .execute(&sql, &[&"s", &1000i64, &Some(2000i64)])
            .unwrap();
        assert_eq!(moved, 1);
        let second = {
            let (url, sql) = (db.url.clone(), sql.clone());
            std::thread::spawn(move || {
                let mut b = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                b.batch_execute("SET application_name = 'second_firing'")
                    .unwrap();
                let mut tx = b.transaction().unwrap();
                let moved = tx.execute(&sql, &[&"s", &1000i64, &Some(2000i64)]).unwrap();
                tx.commit().unwrap();
                moved
            })
        };
        // The second firing waits on the row lock while the first is open.
        let mut watch = db.client();
        let until = Instant::now() + Duration::from_secs(10);
        while watch
            .query_opt(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'second_firing' \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .is_none()
        {
            assert!(
                Instant::now() < until,
                "the second firing waits for the lock"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        first.commit().unwrap();
        assert_eq!(
            second.join().unwrap(),
            0,
            "the slot was gone: nothing moved"
        );
        let next: i64 = watch
            .query_one("SELECT next_fire_at FROM schedules WHERE id = 's'", &[])
            .unwrap()
            .get(0);
        assert_eq!(next, 2000);
    }
}
