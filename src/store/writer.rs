//! The single writer thread and its group commit.
//!
//! Every write in cronhook is a job sent to this thread. The thread takes the
//! first waiting job, then everything else already queued (up to `MAX_BATCH`),
//! runs them all in one transaction, each inside its own savepoint so one
//! failing job does not undo the others, and commits once. Callers are answered
//! only after that commit: concurrent writers share one fsync, and nobody is
//! told "done" before the data is durable.

use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Most jobs folded into one transaction; bounds commit latency under load.
const MAX_BATCH: usize = 4096;

/// A queued write. `run` executes inside the open transaction; `finish` is
/// called after the commit with its outcome.
pub(super) trait Job: Send {
    fn run(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, committed: Result<(), &StoreError>);
}

/// A job that computes an `R` and hands it back through a oneshot.
pub(super) struct FnJob<R, F> {
    f: Option<F>,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> FnJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
{
    pub(super) fn boxed(f: F) -> (Box<dyn Job>, oneshot::Receiver<Result<R, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let job = FnJob {
            f: Some(f),
            result: None,
            reply,
        };
        (Box::new(job), rx)
    }
}

impl<R, F> Job for FnJob<R, F>
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) {
        let Some(f) = self.f.take() else { return };
        let result = (|| {
            conn.execute_batch("SAVEPOINT job")?;
            // Jobs run code from outside the store (misfire plans, callback
            // builders): a panic in one must undo that job alone, not end
            // the only writer and with it every later write.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(StoreError::JobPanicked));
            match outcome {
                Ok(value) => {
                    conn.execute_batch("RELEASE job")?;
                    Ok(value)
                }
                Err(e) => {
                    conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
                    Err(e)
                }
            }
        })();
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, committed: Result<(), &StoreError>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(e), _) => Err(StoreError::CommitFailed(e.to_string())),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (request cancelled); the write stands.
        let _ = self.reply.send(result);
    }
}

/// Runs the writer loop until every sender is dropped, then signals `done`.
pub(super) fn run(
    mut conn: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    done: std_mpsc::Sender<()>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(64);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = commit_batch(&mut conn, &mut batch);
        for job in batch.drain(..) {
            job.finish(outcome.as_ref().map(|_| ()));
        }
        if let Err(e) = outcome {
            tracing::error!(error = %e, "store: a write transaction failed to commit");
        }
    }
    drop(conn);
    let _ = done.send(());
}

fn commit_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        job.run(conn);
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

    type Reply = oneshot::Receiver<Result<(), StoreError>>;

    fn insert(v: i64) -> (Box<dyn Job>, Reply) {
        FnJob::boxed(move |c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(())
        })
    }

    /// The batch is built by hand, so the jobs certainly share one
    /// transaction (two concurrent callers may or may not).
    #[test]
    fn a_failing_or_panicking_job_is_undone_alone_and_the_writer_goes_on() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let (first, r_first) = insert(1);
        let (duplicate, r_duplicate) = insert(1);
        let (panics, r_panics) = FnJob::boxed(|c: &Connection| -> Result<(), StoreError> {
            c.execute("INSERT INTO t (v) VALUES (3)", [])?;
            panic!("a job's own code panicked")
        });
        let (last, r_last) = insert(2);
        let mut batch = vec![first, duplicate, panics, last];
        let outcome = commit_batch(&mut conn, &mut batch);
        assert!(outcome.is_ok(), "{outcome:?}");
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
        let values: Vec<i64> = conn
            .prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(values, [1, 2], "the panicking job's insert is rolled back");
    }
}
