//! Reading the log (§4.9, §6.6).

use crate::filter::Filter;
use crate::model::LogEntry;
use crate::store::rows::events as rows;
use crate::store::{Store, StoreError};

pub use crate::store::rows::events::LogCursor;

impl Store {
    /// A page of the log, newest first by time (then seq): entries older than
    /// `before` (all when `None`) that match `filter`, at most `count`. The
    /// second value is the next page's `before`, `None` on the last page.
    pub async fn events(
        &self,
        filter: Filter,
        before: Option<LogCursor>,
        count: usize,
    ) -> Result<(Vec<LogEntry>, Option<LogCursor>), StoreError> {
        self.read_api(move |conn| rows::page(conn, &filter, before, count))
            .await
    }
}
