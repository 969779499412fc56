//! The single writer thread, its group commit, and the hand-over of each
//! commit's timer changes in commit order.
//!
//! Every write in cronhook is a job sent to this thread. The thread takes the
//! first waiting job, then everything else already queued (up to `MAX_BATCH`),
//! runs them all in one transaction, each inside its own savepoint so one
//! failing job does not undo the others, and commits once. Only after that
//! commit, and in the order the jobs ran, does it hand each job's `Change`s
//! to the commit listener (the engine's timer) and then answer the job's
//! caller. So the timer never holds what is not committed, never misses what
//! is, and sees two writes to the same schedule in the order they committed:
//! "committed is armed" has this one owner.
//!
//! On PostgreSQL the thread holds one client. When its connection breaks
//! (the server restarts, the network goes), the batch in hand fails with
//! `StoreError::Unwritable` (the API answers 503, health reports the fault),
//! and the next batch first reconnects; a failed reconnect waits 100 ms,
//! doubling up to 2 s, before the next try, failing the batches that come
//! meanwhile at once rather than holding them.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::db::{Conn, Dialect, PgConn};
use super::health::Health;
use super::{Change, CommitListener, StoreError};
use crate::metrics::Metrics;

/// Most jobs folded into one transaction; bounds commit latency under load.
const MAX_BATCH: usize = 4096;

/// What the writer thread receives.
pub(super) enum Msg {
    Job(Box<dyn Job>),
    /// Commit what came before, answer, and stop.
    Close(oneshot::Sender<()>),
}

/// The open transaction as a job sees it: the connection, and the timer
/// changes its writes make, which take effect only if the job's savepoint
/// is kept and the transaction commits.
pub struct Tx<'c> {
    conn: &'c Conn,
    changes: Vec<Change>,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Tx<'_> {
    /// Schedule `id` next fires at `next` (`None`: not at all).
    pub fn schedule(&mut self, id: &str, next: Option<crate::model::Millis>) {
        self.changes.push(Change::Schedule {
            id: id.to_owned(),
            next,
        });
    }

    /// `m` is pending, next due at `m.due_at`.
    pub fn pending(&mut self, m: crate::model::Message) {
        self.changes.push(Change::Pending(Box::new(m)));
    }

    /// Message `id` is no longer pending.
    pub fn gone(&mut self, id: &str) {
        self.changes.push(Change::Gone(id.to_owned()));
    }

    /// Queue `name` has these settings now (new, upserted, paused, resumed).
    pub fn queue(&mut self, name: &str, parallelism: u32, paused: bool) {
        self.changes.push(Change::Queue {
            name: name.to_owned(),
            parallelism,
            paused,
        });
    }

    /// Queue `name` is deleted (its messages went before, each `gone`).
    pub fn queue_gone(&mut self, name: &str) {
        self.changes.push(Change::QueueGone(name.to_owned()));
    }

    pub fn keys(&mut self, keys: crate::model::SigningKeys) {
        self.changes.push(Change::Keys(keys));
    }

    /// A flow-control key's settings changed (§4.11).
    pub fn flow(&mut self, settings: crate::model::FlowSettings, reset_rate: bool) {
        self.changes.push(Change::Flow {
            settings,
            reset_rate,
        });
    }
}

/// Where committed changes go; set once the engine exists.
pub(super) type ListenerSlot = RwLock<Option<Arc<dyn CommitListener>>>;

/// Extra SQL in each PostgreSQL write transaction, after its jobs and
/// before its COMMIT, made from that batch's changes: what lets other
/// nodes hear of this node's commits (`pg_notify`, which PostgreSQL
/// delivers at commit, in commit order). Not called on SQLite, where one
/// process owns the database.
pub trait BeforeCommit: Send + Sync {
    /// `changes` holds, for each job of the batch in the order they ran,
    /// the timer changes of those that kept their savepoint (empty for the
    /// others). An error undoes the whole batch: every job is answered
    /// `Unwritable`, as for a failed COMMIT.
    fn before_commit(&self, conn: &Conn, changes: &[&[Change]]) -> Result<(), StoreError>;
}

pub(super) type BeforeCommitSlot = RwLock<Option<Arc<dyn BeforeCommit>>>;

/// A queued write. `run` executes inside the open transaction; after the
/// commit, `take_changes` yields what it changed and `finish` answers.
pub(super) trait Job: Send {
    fn run(&mut self, conn: &Conn);
    /// What `take_changes` will yield, before the commit.
    fn changes(&self) -> &[Change];
    fn take_changes(&mut self) -> Vec<Change>;
    fn finish(self: Box<Self>, committed: Result<(), &StoreError>);
}

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;

/// A job that computes an `R` and hands it back through a oneshot.
pub(super) struct FnJob<R, F> {
    f: Option<F>,
    result: Option<Result<R, StoreError>>,
    changes: Vec<Change>,
    reply: Reply<R>,
}

impl<R, F> FnJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&mut Tx) -> Result<R, StoreError> + Send + 'static,
{
    pub(super) fn boxed(f: F) -> (Box<dyn Job>, oneshot::Receiver<Result<R, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let job = FnJob {
            f: Some(f),
            result: None,
            changes: Vec::new(),
            reply,
        };
        (Box::new(job), rx)
    }
}

impl<R, F> Job for FnJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&mut Tx) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Conn) {
        let Some(f) = self.f.take() else { return };
        let mut tx = Tx {
            conn,
            changes: Vec::new(),
        };
        // The savepoint statements are prepared once (cached), not parsed
        // again for every job: they are the writer's fixed cost per job.
        let exec = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(|_| ());
        let result = (|| {
            exec("SAVEPOINT job")?;
            // Jobs run code from outside the store (misfire plans, callback
            // builders): a panic in one must undo that job alone, not end
            // the only writer and with it every later write.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx)))
                .unwrap_or_else(|_| Err(StoreError::JobPanicked))
                // A RELEASE that fails (PostgreSQL: the job swallowed a
                // failed statement, so the transaction is aborted) undoes
                // the job like any failure: left aborted, the transaction's
                // COMMIT would silently roll back every job of the batch
                // and answer them all as stored.
                .and_then(|value| Ok(exec("RELEASE job").map(|()| value)?));
            outcome.or_else(|e| {
                exec("ROLLBACK TO job")?;
                exec("RELEASE job")?;
                Err(e)
            })
        })();
        if result.is_ok() {
            self.changes = tx.changes;
        }
        self.result = Some(result);
    }

    fn changes(&self) -> &[Change] {
        &self.changes
    }

    fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    fn finish(self: Box<Self>, committed: Result<(), &StoreError>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(StoreError::Unwritable(why)), _) => Err(StoreError::Unwritable(why.clone())),
            (Err(e), _) => Err(StoreError::Unwritable(e.to_string())),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (request cancelled); the write stands.
        let _ = self.reply.send(result);
    }
}

/// How the PostgreSQL writer (re)connects: the URL and the backoff.
pub(super) struct Connect {
    url: String,
    /// The pause after the next failed try.
    backoff: Duration,
    /// No try before this, after a failed one.
    next_try: Option<Instant>,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Connect {
    pub(super) fn new(url: String) -> Connect {
        Connect {
            url,
            backoff: BACKOFF_FIRST,
            next_try: None,
        }
    }

    /// Connects and brings the schema up to date, on a thread of its own
    /// (the caller may be on an async thread, where the blocking client
    /// must not run).
    pub(super) fn open_migrated(&self) -> Result<Conn, super::OpenError> {
        use super::OpenError;
        let url = self.url.clone();
        std::thread::scope(|s| {
            s.spawn(move || {
                let conn = PgConn::connect(&url).map_err(|e| OpenError::Connect(e.to_string()))?;
                conn.with_client(super::pg::migrate).map_err(|e| {
                    OpenError::Store(match e {
                        super::pg::PgSchemaError::SchemaTooNew { found, known } => {
                            StoreError::SchemaTooNew { found, known }
                        }
                        super::pg::PgSchemaError::Postgres(e) => e.into(),
                    })
                })?;
                Ok(Conn::from(conn))
            })
            .join()
            .unwrap_or(Err(OpenError::Store(StoreError::JobPanicked)))
        })
    }

    /// A new connection for the writer, if a try is due.
    fn reconnect(&mut self) -> Result<Conn, StoreError> {
        let now = Instant::now();
        if self.next_try.is_some_and(|t| now < t) {
            return Err(StoreError::Unwritable(
                "the database connection is lost; reconnecting".into(),
            ));
        }
        match PgConn::connect(&self.url) {
            Ok(conn) => {
                self.backoff = BACKOFF_FIRST;
                self.next_try = None;
                tracing::info!("store: the writer reconnected to the database");
                Ok(Conn::from(conn))
            }
            Err(e) => {
                self.next_try = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                Err(StoreError::Unwritable(format!(
                    "the database cannot be reached ({e})"
                )))
            }
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        super::db::DbError::Postgres(e).into()
    }
}

/// The writer thread's shared state.
pub(super) struct Writer {
    pub listener: Arc<ListenerSlot>,
    pub before_commit: Arc<BeforeCommitSlot>,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// How to reconnect; `None` on SQLite.
    pub connect: Option<Connect>,
}

impl Writer {
    /// Runs the writer loop until closed or every sender is dropped.
    pub(super) fn run(mut self, mut conn: Conn, mut inbox: mpsc::Receiver<Msg>) {
        let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(64);
        let mut closing = None;
        while closing.is_none() {
            match inbox.blocking_recv() {
                None => break,
                Some(Msg::Close(done)) => closing = Some(done),
                Some(Msg::Job(job)) => batch.push(job),
            }
            while closing.is_none() && batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(Msg::Job(job)) => batch.push(job),
                    Ok(Msg::Close(done)) => closing = Some(done),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                continue;
            }
            let started = std::time::Instant::now();
            let outcome = self.connected(&mut conn).and_then(|()| {
                let hook = self
                    .before_commit
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                commit_batch(&conn, &mut batch, hook.as_deref())
            });
            self.metrics.commit(
                outcome.is_ok(),
                batch.len(),
                started.elapsed().as_secs_f64(),
            );
            self.health.record(&outcome);
            let listener = self
                .listener
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for mut job in batch.drain(..) {
                if let (Ok(()), Some(l)) = (&outcome, &listener) {
                    let changes = job.take_changes();
                    if !changes.is_empty() {
                        l.committed(changes);
                    }
                }
                job.finish(outcome.as_ref().map(|_| ()));
            }
            if let Err(e) = outcome {
                tracing::error!(error = %e, "store: a write transaction failed to commit");
            }
        }
        // Jobs still queued behind a close are dropped with the inbox: their
        // callers get `Closed`.
        drop(inbox);
        drop(conn);
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    /// Replaces a broken connection (PostgreSQL), or says why it cannot yet.
    fn connected(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        if !conn.is_broken() {
            return Ok(());
        }
        let Some(connect) = &mut self.connect else {
            return Ok(());
        };
        *conn = connect.reconnect()?;
        Ok(())
    }
}

fn commit_batch(
    conn: &Conn,
    batch: &mut [Box<dyn Job>],
    hook: Option<&dyn BeforeCommit>,
) -> Result<(), StoreError> {
    conn.execute_batch(conn.pick("BEGIN IMMEDIATE", "BEGIN"))?;
    for job in batch.iter_mut() {
        job.run(conn);
    }
    if let (Dialect::Postgres, Some(hook)) = (conn.dialect(), hook) {
        let changes: Vec<&[Change]> = batch.iter().map(|j| j.changes()).collect();
        if let Err(e) = hook.before_commit(conn, &changes) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Reply = oneshot::Receiver<Result<(), StoreError>>;

    fn insert(v: i64) -> (Box<dyn Job>, Reply) {
        FnJob::boxed(move |tx: &mut Tx| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            tx.gone(&v.to_string());
            Ok(())
        })
    }

    fn table() -> Conn {
        let conn = Conn::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        conn
    }

    /// Table `t` on SQLite, and on PostgreSQL when `CRONHOOK_TEST_POSTGRES`
    /// names a server (a temporary table: it goes with the connection).
    fn tables() -> Vec<Conn> {
        let mut conns = vec![table()];
        match std::env::var("CRONHOOK_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => {
                let conn = Conn::from(PgConn::connect(&url).unwrap());
                conn.execute_batch("CREATE TEMP TABLE t (v BIGINT PRIMARY KEY)")
                    .unwrap();
                conns.push(conn);
            }
            _ => eprintln!("note: CRONHOOK_TEST_POSTGRES is not set; PostgreSQL is skipped"),
        }
        conns
    }

    fn values(conn: &Conn) -> Vec<i64> {
        conn.prepare_cached("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The batch is built by hand, so the jobs certainly share one
    /// transaction (two concurrent callers may or may not).
    #[test]
    fn a_failing_or_panicking_job_is_undone_alone_and_the_writer_goes_on() {
        for conn in tables() {
            a_failing_or_panicking_job_is_undone_alone(&conn);
        }
    }

    fn a_failing_or_panicking_job_is_undone_alone(conn: &Conn) {
        let (first, r_first) = insert(1);
        let (duplicate, r_duplicate) = insert(1);
        let (panics, r_panics) = FnJob::boxed(|tx: &mut Tx| -> Result<(), StoreError> {
            tx.execute("INSERT INTO t (v) VALUES (3)", [])?;
            panic!("a job's own code panicked")
        });
        let (last, r_last) = insert(2);
        let mut batch = vec![first, duplicate, panics, last];
        let outcome = commit_batch(conn, &mut batch, None);
        assert!(outcome.is_ok(), "{outcome:?}");
        let changes: Vec<Vec<Change>> = batch.iter_mut().map(|j| j.take_changes()).collect();
        assert_eq!(
            changes.iter().map(Vec::len).collect::<Vec<_>>(),
            [1, 0, 0, 1],
            "an undone job changes nothing in the timer either"
        );
        for job in batch.drain(..) {
            job.finish(outcome.as_ref().map(|_| ()));
        }
        assert!(r_first.blocking_recv().unwrap().is_ok());
        assert!(r_duplicate.blocking_recv().unwrap().is_err());
        assert!(matches!(
            r_panics.blocking_recv().unwrap(),
            Err(StoreError::JobPanicked)
        ));
        assert!(r_last.blocking_recv().unwrap().is_ok());
        assert_eq!(
            values(conn),
            [1, 2],
            "the panicking job's insert is rolled back"
        );
    }

    /// A job that ignores a failed statement and returns Ok: on PostgreSQL
    /// the failure aborted the transaction, so its RELEASE fails; it must
    /// be undone then, or the batch's COMMIT silently rolls back the
    /// others' writes that were answered as stored.
    #[test]
    fn a_job_that_swallows_a_failed_statement_does_not_undo_the_batch() {
        for conn in tables() {
            let (first, r_first) = insert(1);
            let (swallows, r_swallows) = FnJob::boxed(|tx: &mut Tx| -> Result<(), StoreError> {
                tx.execute("INSERT INTO t (v) VALUES (4)", [])?;
                let duplicate = tx.execute("INSERT INTO t (v) VALUES (1)", []);
                assert!(duplicate.is_err(), "v is the primary key");
                Ok(())
            });
            let (last, r_last) = insert(2);
            let mut batch = vec![first, swallows, last];
            let outcome = commit_batch(&conn, &mut batch, None);
            assert!(outcome.is_ok(), "{outcome:?}");
            for job in batch.drain(..) {
                job.finish(outcome.as_ref().map(|_| ()));
            }
            assert!(r_first.blocking_recv().unwrap().is_ok());
            assert!(r_last.blocking_recv().unwrap().is_ok());
            let swallowed = r_swallows.blocking_recv().unwrap();
            let want: &[i64] = match conn.dialect() {
                // A failed statement leaves SQLite's transaction usable.
                Dialect::Sqlite => {
                    assert!(swallowed.is_ok(), "{swallowed:?}");
                    &[1, 2, 4]
                }
                Dialect::Postgres => {
                    assert!(swallowed.is_err(), "its RELEASE failed");
                    &[1, 2]
                }
            };
            assert_eq!(values(&conn), want, "the others' writes are stored");
        }
    }

    /// Records what it is told, and whether the caller had been answered
    /// by then.
    struct Recorder(Mutex<Vec<String>>);

    impl CommitListener for Recorder {
        fn committed(&self, changes: Vec<Change>) {
            for c in changes {
                if let Change::Gone(id) = c {
                    self.0.lock().unwrap().push(id);
                }
            }
        }
    }

    #[test]
    fn changes_reach_the_listener_in_commit_order_before_the_caller_is_answered() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let listener: Arc<ListenerSlot> = Arc::new(RwLock::new(Some(recorder.clone())));
        let (tx, rx) = mpsc::channel(16);
        let mut replies = Vec::new();
        for v in [5, 3, 9] {
            let (job, reply) = insert(v);
            tx.blocking_send(Msg::Job(job)).unwrap();
            replies.push(reply);
        }
        let (close, closed) = oneshot::channel();
        tx.blocking_send(Msg::Close(close)).unwrap();
        // A job sent after the close is never run.
        let (late, late_reply) = insert(7);
        tx.blocking_send(Msg::Job(late)).unwrap();
        let writer = Writer {
            listener,
            before_commit: Arc::new(RwLock::new(None)),
            health: Arc::new(Health::default()),
            metrics: Arc::new(Metrics::new()),
            connect: None,
        };
        writer.run(table(), rx);
        closed.blocking_recv().unwrap();
        for r in replies {
            assert!(r.blocking_recv().unwrap().is_ok());
        }
        assert!(
            late_reply.blocking_recv().is_err(),
            "the late job was dropped"
        );
        assert_eq!(*recorder.0.lock().unwrap(), ["5", "3", "9"]);
    }
}
