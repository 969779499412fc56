//! The dead-letter queue (§4.8, §6.2).

use crate::filter::Filter;
use crate::model::{DlqEntry, Message};
use crate::store::rows::dlq as rows;
use crate::store::rows::runs;
use crate::store::{steps, Store, StoreError};
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

fn select(
    conn: &rusqlite::Connection,
    sel: &DlqSelection,
) -> Result<(Vec<DlqEntry>, Option<i64>), StoreError> {
    if sel.ids.is_empty() {
        return rows::page(conn, &sel.filter, sel.before, sel.count);
    }
    let mut found = Vec::new();
    for id in &sel.ids {
        found.extend(rows::get(conn, id)?);
    }
    Ok((found, None))
}

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
        self.write(move |tx| {
            let (entries, next) = select(tx, &selection)?;
            let mut deleted = 0;
            for e in &entries {
                deleted += usize::from(rows::remove(tx, &e.dlq_id)?);
            }
            Ok((deleted, next))
        })
        .await
    }

    /// Re-publishes the selected entries as new messages built by `build`
    /// (same body and settings, request overrides applied) and removes them
    /// from the DLQ, in one transaction. Returns `(id, url)` of each new
    /// message and the next page's `before`.
    pub async fn dlq_retry<F>(
        &self,
        selection: DlqSelection,
        build: F,
    ) -> Result<(Vec<(String, String)>, Option<i64>), StoreError>
    where
        F: Fn(&DlqEntry) -> Message + Send + 'static,
    {
        self.write(move |tx| {
            let (entries, next) = select(tx, &selection)?;
            let mut created = Vec::with_capacity(entries.len());
            for e in &entries {
                if rows::remove(tx, &e.dlq_id)? {
                    let m = build(e);
                    created.push((m.id.clone(), m.url.clone()));
                    // A failed workflow step resumes its run (workflow-wire
                    // §3.9): without that, its run is still failed and the
                    // retried message would be dropped at its attempt.
                    let failed_run = match e.message.failing_step() {
                        Some(link) => {
                            runs::get(tx, &link.run_id)?.filter(|r| r.state == RunState::Failed)
                        }
                        None => None,
                    };
                    match failed_run {
                        Some(run) => steps::resume_failed_step(tx, &run, &e.message.id, m)?,
                        None => steps::add_message(tx, m)?,
                    }
                }
            }
            Ok((created, next))
        })
        .await
    }
}
