//! The signing keys (§4.10, §8.1), which must survive restarts: rotated
//! keys, and keys cronhook generated because none were configured.

use crate::model::SigningKeys;
use crate::signing::new_signing_key;
use crate::store::rows::meta;
use crate::store::{Store, StoreError};

/// Where the keys come from at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The operator set them (or they are the public dev keys, which only
    /// go with the dev token on loopback).
    Configured(SigningKeys),
    /// None set: cronhook makes its own at the first start and keeps them.
    Generated,
}

const ACTIVE: &str = "keys.active";
const CONFIGURED: &str = "keys.configured";
const ORIGIN: &str = "keys.origin";
const GENERATED: &str = "generated";

impl Store {
    /// The signing keys to use, and whether cronhook generated them.
    ///
    /// Configured keys win over an older rotation only when the
    /// configuration changed: rotated keys stay in use across restarts
    /// until the operator sets different ones. Generated keys are made once
    /// and kept (rotations included); keys of any other origin (configured
    /// or public dev keys) are never carried over into generated ones.
    pub async fn signing_keys(&self, source: KeySource) -> Result<(SigningKeys, bool), StoreError> {
        self.write(move |tx| {
            let active: Option<SigningKeys> = meta::get(tx, ACTIVE)?;
            let origin: Option<String> = meta::get(tx, ORIGIN)?;
            let keys = match source {
                KeySource::Configured(configured) => {
                    let same =
                        meta::get::<SigningKeys>(tx, CONFIGURED)?.as_ref() == Some(&configured);
                    if let (true, Some(active)) = (same, active) {
                        return Ok((active, false));
                    }
                    meta::put(tx, CONFIGURED, &configured)?;
                    meta::put(tx, ORIGIN, "configured")?;
                    (configured, false)
                }
                KeySource::Generated => {
                    if let (Some(active), Some(GENERATED)) = (active, origin.as_deref()) {
                        return Ok((active, true));
                    }
                    let made = SigningKeys {
                        current: new_signing_key(),
                        next: new_signing_key(),
                    };
                    meta::put(tx, CONFIGURED, &made)?;
                    meta::put(tx, ORIGIN, GENERATED)?;
                    (made, true)
                }
            };
            meta::put(tx, ACTIVE, &keys.0)?;
            Ok(keys)
        })
        .await
    }

    /// The signing keys in use as stored, if any: what a node reads when
    /// another node rotated them (several nodes share one database).
    pub async fn active_keys(&self) -> Result<Option<SigningKeys>, StoreError> {
        self.read_engine(|conn| meta::get(conn, ACTIVE)).await
    }

    /// §4.10: the old next key becomes current and `new_next` is next. The
    /// engine signs with them from this commit on.
    pub async fn rotate_keys(&self, new_next: String) -> Result<SigningKeys, StoreError> {
        self.write(move |tx| {
            let active: SigningKeys = meta::get(tx, ACTIVE)?.ok_or(StoreError::Closed)?;
            let rotated = SigningKeys {
                current: active.next,
                next: new_next,
            };
            meta::put(tx, ACTIVE, &rotated)?;
            tx.keys(rotated.clone());
            Ok(rotated)
        })
        .await
    }
}
