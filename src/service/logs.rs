//! The log (§4.9).

use super::{Service, ServiceResult};
use crate::filter::Filter;
use crate::model::LogEntry;
use crate::store::LogCursor;

impl Service {
    pub async fn events(
        &self,
        filter: Filter,
        cursor: Option<LogCursor>,
        count: usize,
    ) -> ServiceResult<(Vec<LogEntry>, Option<LogCursor>)> {
        Ok(self.store.events(filter, cursor, count).await?)
    }
}
