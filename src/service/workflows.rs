//! Workflow runs: the run log, ending and cancelling runs, their logs, and
//! the workflow DLQ (workflow-wire §1 rows 3–5, 10–12; §3.10).

use super::{Service, ServiceError, ServiceResult};
use crate::engine::callback;
use crate::filter::Filter;
use crate::model::{DlqEntry, Millis};
use crate::store::{
    DlqSelection, FailureInfo, NewMessage, Revive, ReviveOverrides, RunCursor, RunPage,
    RunSelection,
};
use crate::workflow::run_log::{failure_call, RunLog, StepEntry};
use crate::workflow::{Run, RunState};

/// Which failed workflow steps of the DLQ a `client.dlq` call means.
#[derive(Debug, Clone, Default)]
pub struct WorkflowDlqFilter {
    /// `dlqIds`; when given, the other filters still apply.
    pub ids: Vec<String>,
    /// The usual DLQ filters.
    pub filter: Filter,
    pub cursor: Option<i64>,
    pub run_ids: Vec<String>,
    pub url: Option<String>,
    pub created_at: Option<Millis>,
}

/// A failed step in the DLQ, with its run and how its failure function did.
#[derive(Debug, Clone)]
pub struct WorkflowDlqEntry {
    pub entry: DlqEntry,
    pub run: Run,
    pub failure: Option<FailureInfo>,
}

fn not_active(run_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("workflow run {run_id} has ended or does not exist"))
}

impl Service {
    /// The whole log of a running run; not found once it has ended (the SDK
    /// reads that as "workflow already ended", workflow-wire §1 row 5).
    pub async fn run_log(&self, run_id: &str) -> ServiceResult<Vec<StepEntry>> {
        match self.store.workflow_run_with_log(run_id).await? {
            Some((run, log)) if run.state == RunState::Started => Ok(log),
            _ => Err(not_active(run_id)),
        }
    }

    /// Ends a run as the SDK's "done" (`response` is the route's result) or
    /// as `context.cancel()`; an ended or unknown run is left as it is.
    pub async fn end_run(
        &self,
        run_id: &str,
        cancel: bool,
        response: Option<Vec<u8>>,
    ) -> ServiceResult<()> {
        let end = if cancel {
            RunState::Canceled
        } else {
            RunState::Success
        };
        self.store
            .end_workflow_run(run_id, end, self.now(), response)
            .await?;
        Ok(())
    }

    /// Cancels the running runs `selection` picks, at most `limit`.
    pub async fn cancel_runs(&self, selection: RunSelection, limit: usize) -> ServiceResult<usize> {
        Ok(self
            .store
            .cancel_workflow_runs(selection, limit, self.now())
            .await?)
    }

    /// A page of runs with what `client.logs` shows of each.
    pub async fn logs_page(
        &self,
        selection: RunSelection,
        cursor: Option<RunCursor>,
        count: usize,
    ) -> ServiceResult<(Vec<RunLog>, Option<RunCursor>)> {
        Ok(self
            .store
            .workflow_logs_page(selection, cursor, count)
            .await?)
    }

    pub async fn runs_page(
        &self,
        selection: RunSelection,
        cursor: Option<RunCursor>,
        count: usize,
    ) -> ServiceResult<RunPage> {
        Ok(self
            .store
            .workflow_runs_page(selection, cursor, count)
            .await?)
    }

    /// The failed workflow steps of the DLQ that `f` picks, newest first,
    /// with their runs.
    pub async fn workflow_dlq(
        &self,
        f: &WorkflowDlqFilter,
    ) -> ServiceResult<Vec<WorkflowDlqEntry>> {
        let filter = if f.ids.is_empty() {
            f.filter.clone()
        } else {
            Filter::default()
        };
        let (entries, _) = self.store.dlq_page(filter, f.cursor, usize::MAX).await?;
        let mut out = Vec::new();
        for e in entries {
            if !f.ids.is_empty() && !f.ids.contains(&e.dlq_id) {
                continue;
            }
            let Some(link) = e.message.failing_step() else {
                continue;
            };
            let Some(run) = self.store.workflow_run(&link.run_id).await? else {
                continue;
            };
            let keep = (f.run_ids.is_empty() || f.run_ids.contains(&run.run_id))
                && f.url.as_ref().is_none_or(|u| run.url == *u)
                && f.created_at.is_none_or(|c| run.created_at == c);
            if !keep {
                continue;
            }
            let failure = match &run.failure_message_id {
                Some(id) => self.store.workflow_failure_info(id).await?,
                None => None,
            };
            out.push(WorkflowDlqEntry {
                entry: e,
                run,
                failure,
            });
        }
        Ok(out)
    }

    /// The DLQ ids of the first `count` failed steps `f` picks.
    async fn workflow_dlq_ids(
        &self,
        f: &WorkflowDlqFilter,
        count: usize,
    ) -> ServiceResult<Vec<String>> {
        Ok(self
            .workflow_dlq(f)
            .await?
            .into_iter()
            .take(count)
            .map(|w| w.entry.dlq_id)
            .collect())
    }

    /// Resumes or restarts the failed runs `f` picks (at most `count`).
    pub async fn revive_runs(
        &self,
        f: &WorkflowDlqFilter,
        count: usize,
        how: Revive,
        overrides: ReviveOverrides,
    ) -> ServiceResult<Vec<Run>> {
        let ids = self.workflow_dlq_ids(f, count).await?;
        Ok(self
            .store
            .workflow_dlq_revive(ids, how, overrides, self.now())
            .await?)
    }

    /// Calls the failure function of a failed run again; the entry stays.
    pub async fn call_failure_function(&self, dlq_id: &str) -> ServiceResult<Run> {
        let Some(e) = self.store.dlq_entry(dlq_id).await? else {
            return Err(ServiceError::NotFound(format!(
                "DLQ message {dlq_id:?} not found"
            )));
        };
        let Some(link) = e.message.failing_step().cloned() else {
            return Err(ServiceError::Invalid(format!(
                "DLQ message {dlq_id:?} is not a workflow step"
            )));
        };
        let Some(run) = self.store.workflow_run(&link.run_id).await? else {
            return Err(ServiceError::NotFound(format!(
                "workflow run {} not found",
                link.run_id
            )));
        };
        let now = self.now();
        let Some(failure) = callback::failure(&e, now) else {
            return Err(ServiceError::Invalid(format!(
                "workflow run {} has no failure function (Upstash-Failure-Callback)",
                run.run_id
            )));
        };
        let message = failure_call(failure, &run, &link);
        self.store
            .publish(
                vec![NewMessage {
                    message,
                    dedup_keys: Vec::new(),
                    group: None,
                }],
                now,
            )
            .await?;
        Ok(run)
    }

    /// Deletes the failed steps `f` picks (at most `count`) from the DLQ.
    pub async fn delete_workflow_dlq(
        &self,
        f: &WorkflowDlqFilter,
        count: usize,
    ) -> ServiceResult<usize> {
        let ids = self.workflow_dlq_ids(f, count).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let (deleted, _) = self
            .store
            .dlq_delete(DlqSelection {
                ids,
                ..Default::default()
            })
            .await?;
        Ok(deleted)
    }
}
