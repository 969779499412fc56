//! A copy of the database while cronhook runs (`cronhook backup`).

use std::fs::File;

use super::{Service, ServiceError, ServiceResult};

impl Service {
    /// A consistent copy of the whole database, as an open file read from
    /// the start, and its length in bytes (see `Store::backup`).
    pub async fn backup(&self) -> ServiceResult<(File, u64)> {
        let file = self.store.backup().await?;
        let len = file
            .metadata()
            .map_err(|e| ServiceError::Unavailable(format!("the backup's file: {e}")))?
            .len();
        Ok((file, len))
    }
}
