//! The engine: timer → dispatch → firing or delivery → outcome → timer.
//!
//! Invariants (see ARCHITECTURE.md):
//! - the timer only holds what is committed: the API arms it after its write,
//!   firing and outcomes arm it after theirs;
//! - the timer never does work inline; dispatch runs each due key in its own
//!   task under a global concurrency bound, so a slow destination delays no one;
//! - a delivery attempt's outcome is a row before anything follows from it.

pub mod client;
mod deliver;
mod fire;
pub mod misfire;
pub mod outcome;
pub mod timer;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::model::Millis;
use crate::store::{Store, StoreError};
pub use timer::{Timer, TimerKey};

/// The engine's tunables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most firings and delivery attempts in progress at once.
    pub max_in_flight: usize,
    /// Per-attempt timeout when the message sets none.
    pub default_timeout: Duration,
    /// Multiplies the default backoff (1.0 = QStash's).
    pub retry_scale: f64,
    /// Most missed slots fired at once under `Cronhook-Misfire: all`.
    pub misfire_all_cap: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_in_flight: 512,
            default_timeout: Duration::from_secs(30),
            retry_scale: 1.0,
            misfire_all_cap: 100,
        }
    }
}

/// The signing keys; `current` signs, receivers also accept `next` (§8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeys {
    pub current: String,
    pub next: String,
}

/// What every engine task needs.
pub(crate) struct Ctx {
    pub store: Store,
    pub timer: Timer,
    pub clock: Arc<dyn Clock>,
    pub client: client::HttpClient,
    pub keys: Arc<RwLock<SigningKeys>>,
    pub settings: Settings,
}

/// The running engine.
pub struct Engine {
    ctx: Arc<Ctx>,
    permits: Arc<Semaphore>,
    stop: watch::Sender<bool>,
    timer_task: JoinHandle<()>,
    dispatch_task: JoinHandle<()>,
}

impl Engine {
    /// Loads every armed schedule and pending message into the timer and
    /// starts it. Past due times fire at once: that is how a restart resumes
    /// retries and applies the misfire policy.
    pub async fn start(
        store: Store,
        settings: Settings,
        keys: Arc<RwLock<SigningKeys>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, StoreError> {
        let timer = Timer::new();
        for (id, at) in store.armed_schedules().await? {
            timer.arm(TimerKey::Schedule(id.into()), at);
        }
        for (id, at) in store.pending_messages().await? {
            timer.arm(TimerKey::Message(id.into()), at);
        }
        tracing::info!(armed = timer.len(), "engine: timer loaded");

        let permits = Arc::new(Semaphore::new(settings.max_in_flight));
        let ctx = Arc::new(Ctx {
            store,
            timer: timer.clone(),
            clock: clock.clone(),
            client: client::HttpClient::new(),
            keys,
            settings,
        });
        let (stop, stop_rx) = watch::channel(false);
        let (due_tx, due_rx) = mpsc::channel(1024);
        let timer_task = tokio::spawn(timer.run(clock, due_tx, stop_rx));
        let dispatch_task = tokio::spawn(dispatch(ctx.clone(), due_rx, permits.clone()));
        Ok(Engine {
            ctx,
            permits,
            stop,
            timer_task,
            dispatch_task,
        })
    }

    /// The handle the API uses to tell the engine about committed changes.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            timer: self.ctx.timer.clone(),
        }
    }

    /// Keys armed in the timer (for diagnostics and tests).
    pub fn armed(&self) -> usize {
        self.ctx.timer.len()
    }

    /// Stops taking due work, then waits up to `grace` for firings and
    /// attempts in progress. Anything cut off is still in the database and is
    /// retried on the next start (at-least-once).
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = self.timer_task.await;
        self.dispatch_task.abort();
        let all = self.ctx.settings.max_in_flight as u32;
        match tokio::time::timeout(grace, self.permits.acquire_many(all)).await {
            Ok(_) => tracing::info!("engine: all in-flight work finished"),
            Err(_) => tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "engine: in-flight work did not finish in time; it will be retried on restart"
            ),
        }
    }
}

/// What the API may tell the engine, after its write committed.
#[derive(Clone)]
pub struct EngineHandle {
    timer: Timer,
}

impl EngineHandle {
    /// Arms (or, with `None`, disarms) schedule `id`.
    pub fn schedule_changed(&self, id: &str, next_fire_at: Option<Millis>) {
        let key = TimerKey::Schedule(id.into());
        match next_fire_at {
            Some(at) => self.timer.arm(key, at),
            None => self.timer.disarm(&key),
        }
    }

    /// Arms a new message.
    pub fn message_added(&self, id: &str, due_at: Millis) {
        self.timer.arm(TimerKey::Message(id.into()), due_at);
    }
}

/// Runs each due key in its own task, at most `max_in_flight` at once. When
/// all permits are taken this loop waits, the channel fills and the timer
/// waits: back-pressure, nothing dropped.
async fn dispatch(
    ctx: Arc<Ctx>,
    mut due: mpsc::Receiver<(TimerKey, Millis)>,
    permits: Arc<Semaphore>,
) {
    while let Some((key, _at)) = due.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            match key {
                TimerKey::Schedule(id) => fire::fire(&ctx, &id).await,
                TimerKey::Message(id) => deliver::deliver(&ctx, &id).await,
            }
            drop(permit);
        });
    }
}

/// How long to wait before trying again after the store failed us.
const STORE_RETRY: Millis = 1000;
