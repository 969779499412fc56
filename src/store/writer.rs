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
            match f(conn) {
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
