//! The service layer: what the API asks cronhook to do, in the domain's
//! terms.
//!
//! Handlers parse a request, call one method here and render its result;
//! they never reach the store or the engine themselves. A method builds the
//! domain objects (ids, times, due dates, deduplication keys), checks the
//! rules that span several fields, and runs one store operation. That
//! operation names the timer changes its writes make, and the store hands
//! them to the engine right after the commit, in commit order: so every
//! write is armed, exactly as committed, by construction.

mod apply;
mod backup;
mod cluster;
mod console;
mod dlq;
mod flow_control;
mod health;
mod keys;
mod logs;
mod messages;
mod metrics;
mod queues;
mod schedules;
mod url_groups;
mod waits;
mod workflows;

use std::sync::Arc;

use crate::clock::Clock;
use crate::engine::EngineHandle;
use crate::store::{Store, StoreError};
use crate::workflow::WorkflowError;

pub use apply::{check_declared, Applied, DeclaredSchedule};
pub use cluster::ClusterView;
pub use console::{cron_preview_at, CronPreview, Overview, Shown, MAX_PREVIEW};
pub use dlq::{DlqSelector, Overrides};
pub use flow_control::FlowInfo;
pub use messages::{MessageSelector, PublishRequest};
pub use schedules::{CreatedSchedule, ScheduleListing, ScheduleRequest, LIST_CHUNK};
pub use waits::WaitRequest;
pub use workflows::{WorkflowDlqEntry, WorkflowDlqFilter};

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request breaks a rule; the text names the field and the problem.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// A workflow rule refused it (the SDK reads some of these, §1).
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// The database does not take writes right now; nothing was stored.
    #[error("the database cannot be written right now; nothing was stored ({0})")]
    Unavailable(String),
    /// Anything else the store reported: ours, not the client's.
    #[error("storage failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Workflow(w) => ServiceError::Workflow(w),
            StoreError::NotFound(why) => ServiceError::NotFound(why),
            StoreError::Unsupported(why) => ServiceError::Invalid(why),
            StoreError::Unwritable(why) => ServiceError::Unavailable(why),
            StoreError::Closed => ServiceError::Unavailable("cronhook is shutting down".into()),
            other => ServiceError::Store(other),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Service-level settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// How long a deduplication key suppresses repeats (§9.7).
    pub dedup_window_ms: i64,
    /// What the console's settings page shows.
    pub shown: Shown,
    /// This node's id among several on PostgreSQL; `None` on SQLite.
    pub node: Option<String>,
}

/// The handle the API holds; cheap to clone.
#[derive(Clone)]
pub struct Service {
    store: Store,
    engine: EngineHandle,
    clock: Arc<dyn Clock>,
    /// Shared: the API clones its state (and so this handle) for every
    /// request, and the console's list of shown settings is a few dozen
    /// strings.
    settings: Arc<Settings>,
}

impl Service {
    pub fn new(
        store: Store,
        engine: EngineHandle,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Service {
        Service {
            store,
            engine,
            clock,
            settings: Arc::new(settings),
        }
    }

    /// The service's clock (the engine's): what "now" means for a
    /// schedule's state.
    pub fn now(&self) -> crate::model::Millis {
        self.clock.now_ms()
    }
}
