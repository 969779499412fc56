//! Readiness (`/healthz`).

use super::Service;

impl Service {
    /// Ready when the database takes writes; else why not. A recent commit
    /// answers at once; otherwise a tiny write is tried.
    pub async fn readiness(&self) -> Result<(), String> {
        self.store.probe_writes().await.map_err(|e| e.to_string())
    }
}
