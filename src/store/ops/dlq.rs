//! The dead-letter queue (§4.8, §6.2).

use std::sync::Arc;

use crate::filter::Filter;
use crate::model::{DlqEntry, Message};
use crate::store::rows::dlq as rows;
use crate::store::rows::runs;
use crate::store::{steps, Store, StoreError, Tx};
use crate::workflow::RunState;

/// Which DLQ entries a bulk call acts on.
#[derive(Debug, Clone, Default)]
pub struct DlqSelection {
    /// Explicit ids; when given, the filter is ignored.
    pub ids: Vec<String>,
    pub filter: Filter,
    pub before: Option<i64>,
    pub count: usize,
}

/// Entries one transaction of a bulk DLQ call takes at most (each read
/// with its body and last response, so fewer than a cancel's messages).
pub const DLQ_CHUNK: usize = 500;

impl Store {
    pub async fn dlq_page(
        &self,
        filter: Filter,
        before: Option<i64>,
        count: usize,
    ) -> Result<(Vec<DlqEntry>, Option<i64>), StoreError> {
        self.read_api(move |conn| rows::page(conn, &filter, before, count))
            .await
    }

    pub async fn dlq_entry(&self, dlq_id: &str) -> Result<Option<DlqEntry>, StoreError> {
        let dlq_id = dlq_id.to_owned();
        self.read_api(move |conn| rows::get(conn, &dlq_id)).await
    }

    /// Deletes the selected entries; returns how many, and the next page's
    /// `before` when a filtered deletion stopped at `count`.
    pub async fn dlq_delete(
        &self,
        selection: DlqSelection,
    ) -> Result<(usize, Option<i64>), StoreError> {
        let (deleted, next) = self
            .dlq_in_chunks(selection, |tx, e| {
                Ok(rows::remove(tx, &e.dlq_id)?.then_some(()))
            })
            .await?;
        Ok((deleted.len(), next))
    }

    /// Re-publishes the selected entries as new messages built by `build`
    /// (same body and settings, request overrides applied) and removes them
    /// from the DLQ, each with its new message in one transaction. Returns
    /// `(id, url)` of each new message and the next page's `before`.
    pub async fn dlq_retry<F>(
        &self,
        selection: DlqSelection,
        build: F,
    ) -> Result<(Vec<(String, String)>, Option<i64>), StoreError>
    where
        F: Fn(&DlqEntry) -> Message + Send + 'static,
    {
        self.dlq_in_chunks(selection, move |tx, e| {
            if !rows::remove(tx, &e.dlq_id)? {
                return Ok(None);
            }
            let m = build(e);
            let created = (m.id.clone(), m.url.clone());
            // A failed workflow step resumes its run (workflow-wire §3.9):
            // without that, its run is still failed and the retried message
            // would be dropped at its attempt.
            let failed_run = match e.message.failing_step() {
                Some(link) => runs::get(tx, &link.run_id)?.filter(|r| r.state == RunState::Failed),
                None => None,
            };
            match failed_run {
                Some(run) => steps::resume_failed_step(tx, &run, &e.message.id, m)?,
                None => steps::add_message(tx, m)?,
            }
            Ok(Some(created))
        })
        .await
    }

    /// Runs `each` on the selected entries (explicit ids, or the filtered
    /// pages from `before`, at most `count`) in write transactions of at
    /// most [`DLQ_CHUNK`] entries, so a bulk call over 100,000 entries holds
    /// one chunk in memory and the writer never long. An entry is either
    /// handled (removed with what `each` writes, in one commit) or left in
    /// the DLQ; a failure part way leaves the chunks already committed
    /// done. Returns what `each` gave for each entry it handled, and the
    /// next page's `before` when `count` stopped it with matches left.
    async fn dlq_in_chunks<T, F>(
        &self,
        selection: DlqSelection,
        mut each: F,
    ) -> Result<(Vec<T>, Option<i64>), StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut Tx, &DlqEntry) -> Result<Option<T>, StoreError> + Send + 'static,
    {
        let mut done = Vec::new();
        if !selection.ids.is_empty() {
            for chunk in selection.ids.chunks(DLQ_CHUNK) {
                let chunk = chunk.to_vec();
                // `each` goes to the writer with the job and comes back.
                let (got, back) = self
                    .write(move |tx| {
                        let mut got = Vec::new();
                        for id in &chunk {
                            if let Some(e) = rows::get(tx, id)? {
                                got.extend(each(tx, &e)?);
                            }
                        }
                        Ok((got, each))
                    })
                    .await?;
                done.extend(got);
                each = back;
            }
            return Ok((done, None));
        }
        let filter = Arc::new(selection.filter);
        let mut before = selection.before;
        let mut left = selection.count;
        loop {
            let take = left.min(DLQ_CHUNK);
            let filter = filter.clone();
            let (got, next, back) = self
                .write(move |tx| {
                    let (entries, next) = rows::page(tx, &filter, before, take)?;
                    let mut got = Vec::new();
                    for e in &entries {
                        got.extend(each(tx, e)?);
                    }
                    Ok((got, next, each))
                })
                .await?;
            done.extend(got);
            each = back;
            left -= take;
            match next {
                Some(cursor) if left > 0 => before = Some(cursor),
                next => return Ok((done, next)),
            }
        }
    }
}
