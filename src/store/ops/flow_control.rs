//! Flow-control keys (§4.11): the operator's actions, and the reads the
//! engine starts with and the API reports from. A message's limits are
//! stored with the message (`steps::add_message`).

use crate::model::{FlowAction, FlowSettings, Millis};
use crate::store::rows::flow_control as rows;
use crate::store::{Store, StoreError};

impl Store {
    /// Applies `action` to `key`; `None` if no message ever used the key.
    /// The engine takes the new settings at commit.
    pub async fn flow_action(
        &self,
        key: String,
        action: FlowAction,
        now: Millis,
    ) -> Result<Option<FlowSettings>, StoreError> {
        self.write(move |tx| {
            let Some(old) = rows::get(tx, &key)? else {
                return Ok(None);
            };
            let mut new = action.apply(old);
            new.updated_at = now;
            rows::update(tx, &new)?;
            tx.flow(new.clone(), action.resets_rate());
            Ok(Some(new))
        })
        .await
    }

    pub async fn flow_key(&self, key: String) -> Result<Option<FlowSettings>, StoreError> {
        self.read_api(move |conn| rows::get(conn, &key)).await
    }

    /// Keys whose name contains `search` (every key when it is empty).
    pub async fn flow_keys(&self, search: String) -> Result<Vec<FlowSettings>, StoreError> {
        self.read_api(move |conn| rows::list(conn, &search)).await
    }

    /// Every key, for the engine at start-up.
    pub async fn flow_keys_at_start(&self) -> Result<Vec<FlowSettings>, StoreError> {
        self.read_engine(|conn| rows::list(conn, "")).await
    }
}
