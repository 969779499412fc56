//! Flow-control keys (§4.11, §6.7): what is stored of a key, with the
//! engine's live counters, and the operator's actions on it.

use super::{Service, ServiceError, ServiceResult};
use crate::engine::flow::FlowLive;
use crate::model::{FlowAction, FlowLimits, FlowSettings, Millis};

/// A key as `GET /v2/flowControl/{key}` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInfo {
    pub key: String,
    pub limits: FlowLimits,
    pub paused: bool,
    pub pinned_parallelism: bool,
    pub pinned_rate: bool,
    pub live: FlowLive,
}

impl FlowInfo {
    fn new(s: FlowSettings, live: FlowLive) -> FlowInfo {
        FlowInfo {
            limits: s.limits(),
            paused: s.paused,
            pinned_parallelism: s.pinned_parallelism.is_some(),
            pinned_rate: s.pinned_rate.is_some(),
            key: s.key,
            live,
        }
    }

    /// Start of the current rate period, Unix milliseconds; 0 when no
    /// period is running.
    pub fn period_start(&self) -> Millis {
        self.live.period_start.unwrap_or(0)
    }
}

fn unknown(key: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "flow-control key \"{key}\" not found: no message has used it"
    ))
}

impl Service {
    pub async fn flow_key(&self, key: &str) -> ServiceResult<FlowInfo> {
        let s = self
            .store
            .flow_key(key.to_owned())
            .await?
            .ok_or_else(|| unknown(key))?;
        Ok(FlowInfo::new(s, self.engine.flow_live(key)))
    }

    /// Keys whose name contains `search` (every key when it is empty).
    pub async fn flow_keys(&self, search: &str) -> ServiceResult<Vec<FlowInfo>> {
        let keys = self.store.flow_keys(search.to_owned()).await?;
        Ok(keys
            .into_iter()
            .map(|s| {
                let live = self.engine.flow_live(&s.key);
                FlowInfo::new(s, live)
            })
            .collect())
    }

    /// Pauses, resumes, pins, unpins or resets the rate of `key`; the
    /// engine applies it from the commit on.
    pub async fn flow_action(&self, key: &str, action: FlowAction) -> ServiceResult<()> {
        if let FlowAction::Pin(pin) = action {
            if pin == Default::default() {
                return Err(ServiceError::Invalid(
                    "pin: give parallelism, rate or period".into(),
                ));
            }
        }
        self.store
            .flow_action(key.to_owned(), action, self.now())
            .await?
            .ok_or_else(|| unknown(key))?;
        tracing::info!(flow_control_key = %key, ?action, "flow-control key changed");
        Ok(())
    }

    /// `--max-in-flight`, and the attempts in flight now.
    pub fn global_parallelism(&self) -> (usize, usize) {
        self.engine.global_parallelism()
    }
}
