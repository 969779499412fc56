//! The dead-letter queue (§4.8): list, get, delete, retry.

use super::{Service, ServiceError, ServiceResult};
use crate::filter::Filter;
use crate::model::{Delivery, DlqEntry, Millis};
use crate::store::DlqSelection;

/// Which DLQ entries a bulk call means.
#[derive(Debug, Clone)]
pub enum DlqSelector {
    Ids(Vec<String>),
    /// Those matching, newest first, from `cursor`, at most `count`.
    Filter {
        filter: Box<Filter>,
        cursor: Option<i64>,
        count: usize,
    },
    /// Every entry from `cursor`, at most `count`: only for a request that
    /// names no selector at all, as the SDKs' "all" sends it.
    All {
        cursor: Option<i64>,
        count: usize,
    },
}

/// What a retry request changes on the messages it re-publishes (its
/// `Upstash-*` headers, §4.8).
pub struct Overrides {
    pub apply: Box<dyn Fn(Delivery) -> Delivery + Send + Sync>,
    /// Whether the request set a delay: the re-published message waits for it.
    pub delay: bool,
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("DLQ message {id:?} not found"))
}

fn selection(selector: DlqSelector) -> ServiceResult<DlqSelection> {
    Ok(match selector {
        DlqSelector::Ids(ids) if ids.is_empty() => {
            return Err(ServiceError::Invalid("dlqIds: the list is empty".into()))
        }
        DlqSelector::Filter { filter, .. } if *filter == Filter::default() => {
            return Err(ServiceError::Invalid(
                "filter: no filter value given".into(),
            ))
        }
        DlqSelector::Ids(ids) => DlqSelection {
            ids,
            ..Default::default()
        },
        DlqSelector::Filter {
            filter,
            cursor,
            count,
        } => DlqSelection {
            ids: Vec::new(),
            filter: *filter,
            before: cursor,
            count,
        },
        DlqSelector::All { cursor, count } => DlqSelection {
            ids: Vec::new(),
            filter: Filter::default(),
            before: cursor,
            count,
        },
    })
}

impl Service {
    pub async fn dlq_page(
        &self,
        filter: Filter,
        cursor: Option<i64>,
        count: usize,
    ) -> ServiceResult<(Vec<DlqEntry>, Option<i64>)> {
        Ok(self.store.dlq_page(filter, cursor, count).await?)
    }

    pub async fn dlq_entry(&self, id: &str) -> ServiceResult<DlqEntry> {
        self.store.dlq_entry(id).await?.ok_or_else(|| not_found(id))
    }

    pub async fn delete_dlq_entry(&self, id: &str) -> ServiceResult<()> {
        let (deleted, _) = self
            .store
            .dlq_delete(selection(DlqSelector::Ids(vec![id.to_owned()]))?)
            .await?;
        if deleted == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Deletes the selected entries: how many, and the next page's cursor.
    pub async fn delete_dlq(&self, selector: DlqSelector) -> ServiceResult<(usize, Option<i64>)> {
        Ok(self.store.dlq_delete(selection(selector)?).await?)
    }

    /// Re-publishes the selected entries as new messages (same body and
    /// settings, `overrides` applied) and removes them from the DLQ:
    /// `(messageId, url)` of each, and the next page's cursor.
    pub async fn retry_dlq(
        &self,
        selector: DlqSelector,
        overrides: Overrides,
    ) -> ServiceResult<(Vec<(String, String)>, Option<i64>)> {
        let now = self.now();
        let republish = move |e: &DlqEntry| {
            let delivery = (overrides.apply)(e.message.delivery.clone());
            let due = now
                + if overrides.delay {
                    delivery.delay_ms as Millis
                } else {
                    0
                };
            e.message.again(delivery, now, due)
        };
        Ok(self
            .store
            .dlq_retry(selection(selector)?, republish)
            .await?)
    }

    /// Re-publishes one entry; 404 when absent.
    pub async fn retry_dlq_entry(
        &self,
        id: &str,
        overrides: Overrides,
    ) -> ServiceResult<(String, String)> {
        let (mut created, _) = self
            .retry_dlq(DlqSelector::Ids(vec![id.to_owned()]), overrides)
            .await?;
        created.pop().ok_or_else(|| not_found(id))
    }
}
