//! Signing keys (§4.10).

use super::{Service, ServiceResult};
use crate::model::SigningKeys;
use crate::signing::new_signing_key;

impl Service {
    pub fn signing_keys(&self) -> SigningKeys {
        self.engine.signing_keys()
    }

    /// The old next key becomes current; a new next key is made. Stored, and
    /// used for every delivery signed after the commit.
    pub async fn rotate_keys(&self) -> ServiceResult<SigningKeys> {
        let rotated = self.store.rotate_keys(new_signing_key()).await?;
        tracing::info!("signing keys rotated");
        Ok(rotated)
    }
}
