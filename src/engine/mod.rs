//! The engine: timer → dispatch → firing or delivery → outcome → timer.
//!
//! Invariants (see ARCHITECTURE.md):
//! - the timer only holds what is committed: the API arms it after its write,
//!   firing and outcomes arm it after theirs;
//! - the timer never does work inline; dispatch runs each due key in its own
//!   task under a global concurrency bound, so a slow destination delays no one;
//! - a delivery attempt's outcome is a row before anything follows from it.

pub mod callback;
pub mod client;
mod deliver;
mod fire;
pub mod misfire;
pub mod outcome;
pub mod queues;
pub mod timer;
mod workflow;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::model::{Message, Millis, SigningKeys};
use crate::store::{Retention, Store, StoreError};
use queues::QueueGate;
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
    /// Bounds on the log, the DLQ and deduplication keys.
    pub retention: Retention,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_in_flight: 512,
            default_timeout: Duration::from_secs(30),
            retry_scale: 1.0,
            misfire_all_cap: 100,
            retention: Retention {
                log_max_age_ms: 14 * 86_400_000,
                log_max_entries: 1_000_000,
                dlq_max_age_ms: 14 * 86_400_000,
                dlq_max_entries: 100_000,
            },
        }
    }
}

/// How far ahead of its slot a schedule fires: the slot's message is
/// committed and armed before the instant comes, so the commit's fsync is not
/// in the delivery's latency. A pause or delete takes effect for slots more
/// than this far away.
pub const FIRE_LEAD: Millis = 100;

/// Most messages kept in memory between their creation and their first
/// attempt, which then needs no database read.
const CACHE_MAX: usize = 100_000;

/// Purges run at most this often, and only when there has been activity, so
/// an idle cronhook does not wake up for them.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// What every engine task needs.
pub(crate) struct Ctx {
    pub store: Store,
    pub timer: Timer,
    pub clock: Arc<dyn Clock>,
    pub client: client::HttpClient,
    pub keys: Arc<RwLock<SigningKeys>>,
    pub settings: Settings,
    pub queues: QueueGate,
    /// Messages created by this process and not yet attempted (see `CACHE_MAX`).
    cache: Mutex<HashMap<String, Message>>,
    last_purge: Mutex<Option<Instant>>,
    purging: AtomicBool,
}

impl Ctx {
    /// Arms schedule `id` to fire `FIRE_LEAD` before its slot `next`.
    fn arm_schedule(&self, id: &str, next: Millis) {
        self.timer
            .arm(TimerKey::Schedule(id.into()), next - FIRE_LEAD);
    }

    /// Arms committed messages, keeping them in memory for their first
    /// attempt. Cached before armed: an attempt that starts at once must
    /// find (and take) its entry, or the entry would outlive the message.
    fn arm_messages(&self, messages: Vec<Message>) {
        let mut due = Vec::with_capacity(messages.len());
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for m in messages {
                due.push((m.id.clone(), m.due_at, m.delivery.queue_name.clone()));
                if cache.len() < CACHE_MAX {
                    cache.insert(m.id.clone(), m);
                }
            }
        }
        for (id, due_at, queue) in due {
            self.arm_message(&id, due_at, queue.as_deref());
        }
    }

    /// The cached message `id`, taken out of the cache.
    fn take_cached(&self, id: &str) -> Option<Message> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }

    /// Arms a committed message, through its queue's gate if it has one.
    fn arm_message(&self, id: &str, due_at: Millis, queue: Option<&str>) {
        if queue.is_none_or(|q| self.queues.admit(q, id, due_at)) {
            self.timer.arm(TimerKey::Message(id.into()), due_at);
        }
    }

    /// Message `id` is done for good: admit the next of its queue.
    fn finished(&self, id: &str) {
        for (next, due) in self.queues.release(id) {
            self.timer.arm(TimerKey::Message(next.into()), due);
        }
    }

    /// Starts a background purge when one is due (see `PURGE_EVERY`).
    fn maybe_purge(self: &Arc<Self>) {
        {
            let mut last = self.last_purge.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < PURGE_EVERY) {
                return;
            }
            if self.purging.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        let ctx = self.clone();
        tokio::spawn(async move {
            match ctx
                .store
                .purge(ctx.clock.now_ms(), ctx.settings.retention)
                .await
            {
                Ok(p) if p != Default::default() => tracing::info!(
                    events = p.events,
                    dlq = p.dlq,
                    dedup = p.dedup,
                    workflow_runs = p.runs,
                    "retention: old entries removed"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
            ctx.purging.store(false, Ordering::Release);
        });
    }
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
        let permits = Arc::new(Semaphore::new(settings.max_in_flight));
        let ctx = Arc::new(Ctx {
            store: store.clone(),
            timer: timer.clone(),
            clock: clock.clone(),
            client: client::HttpClient::new(settings.max_in_flight),
            keys,
            settings,
            queues: QueueGate::default(),
            cache: Mutex::new(HashMap::new()),
            last_purge: Mutex::new(None),
            purging: AtomicBool::new(false),
        });
        for (queue, parallelism) in store.queue_parallelisms().await? {
            ctx.queues.configure(&queue, parallelism);
        }
        for (id, at) in store.armed_schedules().await? {
            ctx.arm_schedule(&id, at);
        }
        // In publish order, so queues keep their FIFO order across restarts.
        for p in store.pending_messages().await? {
            ctx.arm_message(&p.id, p.due_at, p.queue.as_deref());
        }
        tracing::info!(armed = timer.len(), "engine: timer loaded");
        ctx.maybe_purge();

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
            ctx: self.ctx.clone(),
        }
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
    ctx: Arc<Ctx>,
}

impl EngineHandle {
    /// Arms (or, with `None`, disarms) schedule `id`.
    pub fn schedule_changed(&self, id: &str, next_fire_at: Option<Millis>) {
        match next_fire_at {
            Some(at) => self.ctx.arm_schedule(id, at),
            None => self.ctx.timer.disarm(&TimerKey::Schedule(id.into())),
        }
    }

    /// Arms new messages.
    pub fn messages_added(&self, messages: Vec<Message>) {
        self.ctx.arm_messages(messages);
        self.ctx.maybe_purge();
    }

    /// Forgets cancelled messages and lets their queues move on.
    pub fn messages_cancelled(&self, ids: &[String]) {
        for id in ids {
            self.ctx.take_cached(id);
            self.ctx
                .timer
                .disarm(&TimerKey::Message(id.as_str().into()));
            self.ctx.finished(id);
        }
    }

    /// A queue's parallelism, as stored.
    pub fn queue_configured(&self, queue: &str, parallelism: u32) {
        self.ctx.queues.configure(queue, parallelism);
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
