//! The engine: timer → dispatch → firing or delivery → outcome → timer.
//!
//! Invariants (see ARCHITECTURE.md):
//! - the timer only holds what is committed: every write names its timer
//!   changes, and the store's writer hands them to `Arming` right after the
//!   commit, in commit order;
//! - the timer never does work inline; dispatch never waits for capacity:
//!   firings have their own bound, and deliveries wait in the lane of their
//!   destination, so a slow destination delays no one else;
//! - the timer holds schedules and the messages due within its window
//!   (`WINDOW`); a message due later is read from the database when the
//!   window reaches it, so memory does not grow with delayed messages;
//! - a delivery attempt's outcome is a row before anything follows from it;
//! - with several nodes on one database only the leader runs an engine
//!   (`crate::node`); what other nodes commit comes in through
//!   `RemoteArming` (`remote.rs`), the one way in besides `Arming`.

mod cache;
pub mod callback;
pub mod client;
mod deliver;
mod dispatch;
mod fire;
pub mod flow;
pub mod lanes;
pub mod misfire;
pub mod outcome;
pub mod queues;
mod remote;
#[cfg(test)]
mod tests;
pub mod timer;
mod workflow;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::metrics::{FlowWaiting, Metrics, QueueSizes};
use crate::model::{Message, Millis, SigningKeys};
use crate::signing::PreparedKey;
use crate::store::{Change, CommitListener, Pending, Retention, Store, StoreError};
use cache::MessageCache;
use flow::FlowGate;
use queues::QueueGate;
pub use remote::RemoteArming;
pub use timer::{Lane, Loader, MessageKey, Timer, TimerKey};

/// The engine's tunables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most delivery attempts in progress at once.
    pub max_in_flight: usize,
    /// Most of them to one destination (scheme, host, port).
    pub max_in_flight_per_destination: usize,
    /// Per-attempt timeout when the message sets none.
    pub default_timeout: Duration,
    /// Multiplies the default backoff (1.0 = QStash's).
    pub retry_scale: f64,
    /// Most missed slots fired at once under `Cronhook-Misfire: all`.
    pub misfire_all_cap: usize,
    /// Bounds on the log, the DLQ and deduplication keys.
    pub retention: Retention,
    /// Most bytes of messages kept in memory for their first attempt.
    pub message_cache_bytes: usize,
    /// Several nodes: a new queued message joins its queue's line when its
    /// notice arrives, also when this node committed it, because
    /// PostgreSQL hands every node's notices on in commit order and the
    /// leader's own commits would otherwise overtake other nodes' earlier
    /// ones (ARCHITECTURE.md, "The rules across nodes").
    pub queue_line_from_notices: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_in_flight: 512,
            max_in_flight_per_destination: 32,
            default_timeout: Duration::from_secs(30),
            retry_scale: 1.0,
            misfire_all_cap: 100,
            retention: Retention {
                log_max_age_ms: 14 * 86_400_000,
                log_max_entries: 1_000_000,
                dlq_max_age_ms: 14 * 86_400_000,
                dlq_max_entries: 100_000,
            },
            message_cache_bytes: 32 << 20,
            queue_line_from_notices: false,
        }
    }
}

/// How far ahead of its slot a schedule fires: the slot's message is
/// committed and armed before the instant comes, so the commit's fsync is not
/// in the delivery's latency. A pause or delete takes effect for slots more
/// than this far away.
pub const FIRE_LEAD: Millis = 100;

/// How far ahead the timer holds pending messages. Each costs about 150
/// bytes there; messages due later cost nothing until the window reaches
/// them.
pub const WINDOW: Millis = 60_000;

/// Purges run at most this often (on the engine's clock), and only when
/// there has been activity, so an idle cronhook does not wake up for them.
const PURGE_EVERY: Millis = 60_000;

/// How long to wait before trying again after the store failed us.
const STORE_RETRY: Millis = 1000;

/// What every engine task needs.
pub(crate) struct Ctx {
    pub store: Store,
    pub timer: Timer,
    pub clock: Arc<dyn Clock>,
    pub client: client::HttpClient,
    pub keys: Arc<RwLock<SigningKeys>>,
    /// The current signing key, prepared once per key (not per attempt).
    signer: RwLock<PreparedKey>,
    /// Messages due when their commit armed them, straight to dispatch
    /// (no timer round trip). Unbounded: the writer thread sends, and
    /// dispatch drains it at once into its own queues, as it does the
    /// timer's channel.
    due_now: mpsc::UnboundedSender<(MessageKey, Millis)>,
    pub settings: Settings,
    pub queues: QueueGate,
    /// Flow-control limits and waitlists (§4.11), used by dispatch.
    pub flow: FlowGate,
    /// Messages dispatch holds: in a lane, waiting for a flow-control
    /// permit, or being attempted (see `dispatch::run`).
    dispatching: Mutex<HashSet<Arc<str>>>,
    /// Where deliveries and firings are counted (the store's metrics).
    pub metrics: Arc<Metrics>,
    cache: Mutex<MessageCache>,
    /// Messages due up to here are in the timer; later ones are read when
    /// the window moves on.
    window_end: AtomicI64,
    /// When this engine started: slots before it were missed while down.
    pub up_since: Millis,
    last_purge: Mutex<Option<Millis>>,
    purging: AtomicBool,
    pub tasks: TaskTracker,
    /// Cut short attempts still out when shutdown's grace runs out.
    pub abort: CancellationToken,
}

impl Ctx {
    /// The engine's shared state, and the receiving end of `due_now` for
    /// dispatch.
    fn new(
        store: Store,
        settings: Settings,
        keys: Arc<RwLock<SigningKeys>>,
        clock: Arc<dyn Clock>,
    ) -> (Ctx, mpsc::UnboundedReceiver<(MessageKey, Millis)>) {
        let now = clock.now_ms();
        let (due_now, due_now_rx) = mpsc::unbounded_channel();
        let signer = RwLock::new(PreparedKey::new(
            &keys.read().unwrap_or_else(|p| p.into_inner()).current,
        ));
        let ctx = Ctx {
            metrics: store.metrics().clone(),
            store,
            timer: Timer::new(),
            clock,
            client: client::HttpClient::new(settings.max_in_flight_per_destination),
            keys,
            signer,
            due_now,
            cache: Mutex::new(MessageCache::new(settings.message_cache_bytes)),
            settings,
            queues: QueueGate::default(),
            flow: FlowGate::default(),
            dispatching: Mutex::default(),
            window_end: AtomicI64::new(now + WINDOW),
            up_since: now,
            last_purge: Mutex::new(None),
            purging: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            abort: CancellationToken::new(),
        };
        (ctx, due_now_rx)
    }

    /// Arms schedule `id` to fire `FIRE_LEAD` before its slot `next`.
    fn arm_schedule(&self, id: &str, next: Option<Millis>) {
        match next {
            Some(at) => self.timer.arm_schedule(id, at - FIRE_LEAD),
            None => self.timer.disarm(&TimerKey::Schedule(id.into())),
        }
    }

    /// Arms message `key`, through its queue's gate if it has one.
    fn arm_message(&self, key: MessageKey, due_at: Millis, queue: Option<&str>) {
        match queue {
            None => self.due(key, due_at),
            Some(q) => self.arm_all(self.queues.offer(q, key, due_at)),
        }
    }

    /// Arms what the queue gate let through.
    fn arm_all(&self, admitted: Vec<queues::Arm>) {
        for (key, due) in admitted {
            self.due(key, due);
        }
    }

    /// Message `key` is due at `due_at`: if that is now or past, it goes
    /// straight to dispatch (which applies flow control and the lanes, as
    /// for a key from the timer); otherwise the timer holds it. Any earlier
    /// arming of it is dropped, so it does not come due twice. Never waits.
    fn due(&self, key: MessageKey, due_at: Millis) {
        if due_at > self.clock.now_ms() {
            self.timer.arm(TimerKey::Message(key), due_at);
            return;
        }
        self.timer.disarm(&TimerKey::Message(key.clone()));
        // Fails only once dispatch has stopped (shutdown): the message is
        // still pending in the database and is attempted after the restart.
        let _ = self.due_now.send((key, due_at));
    }

    /// Signs a request to `url` with `body` with the current key (§8).
    fn sign(&self, url: &str, body: &[u8], now_secs: Millis, jti: &str) -> String {
        self.signer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sign_request(url, body, now_secs, jti)
    }

    fn key_of(id: &str, url: &str) -> MessageKey {
        MessageKey {
            id: id.into(),
            lane: lanes::lane_of(url).into(),
            flow: None,
        }
    }

    /// The timer key of message `m`, with its flow-control key.
    fn key_of_message(m: &Message) -> MessageKey {
        MessageKey {
            flow: m
                .delivery
                .flow_control
                .as_ref()
                .map(|f| f.key.as_str().into()),
            ..Self::key_of(&m.id, &m.url)
        }
    }

    /// Message `m` reached an attempt without its flow-control key (it was
    /// read from the database, or its workflow run gave it one): it goes
    /// back to dispatch with the key, to wait for its permit (§4.11).
    fn needs_permit(&self, m: &Message, flow: Option<&str>) -> bool {
        let Some(fc) = &m.delivery.flow_control else {
            return false;
        };
        if flow == Some(fc.key.as_str()) {
            return false;
        }
        self.flow.learn(fc);
        self.timer
            .arm(TimerKey::Message(Self::key_of_message(m)), m.due_at);
        true
    }

    /// Wakes dispatch for flow-control key `key` now.
    fn wake_flow(&self, key: &str) {
        self.timer
            .arm(TimerKey::Flow(key.into()), self.clock.now_ms());
    }

    /// A committed pending message: armed if it is due within the window
    /// (queued ones always are: their order lives in the gate), and kept in
    /// memory if it is due very soon.
    fn offer(&self, m: Message) {
        let queue = m.delivery.queue_name.clone();
        if queue.is_none() && m.due_at > self.window_end.load(Ordering::SeqCst) {
            self.window_reaches(m.due_at);
            return;
        }
        let key = Self::key_of_message(&m);
        let due_at = m.due_at;
        // A new queued message (a retry has `retried` > 0) waits for its
        // notice to join the line; see `Settings::queue_line_from_notices`.
        let from_notice =
            queue.is_some() && m.retried == 0 && self.settings.queue_line_from_notices;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .offer(m, self.clock.now_ms());
        if !from_notice {
            self.arm_message(key, due_at, queue.as_deref());
        }
    }

    /// Makes the window move on in time for a message due at `due_at`
    /// (beyond it now): its key comes due one `WINDOW` before.
    fn window_reaches(&self, due_at: Millis) {
        self.timer.arm_no_later(TimerKey::Window, due_at - WINDOW);
    }

    /// The messages dispatch holds now (see `dispatching`).
    fn dispatching(&self) -> std::sync::MutexGuard<'_, HashSet<Arc<str>>> {
        self.dispatching.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms a row a catch-up read found, unless dispatch holds it already:
    /// a message in flight or waiting for its flow-control permit must not
    /// come due a second time, or its repeat would take a permit (and a
    /// place in the waitlist) once its attempt is over.
    fn arm_found(&self, p: Pending) {
        if !self.dispatching().contains(p.id.as_str()) {
            self.arm_loaded(p);
        }
    }

    /// A pending message read from the database (start-up, window).
    fn arm_loaded(&self, p: Pending) {
        let key = MessageKey {
            flow: p.flow.as_deref().map(Arc::from),
            ..Self::key_of(&p.id, &p.url)
        };
        self.arm_message(key, p.due_at, p.queue.as_deref());
    }

    /// The cached message `id`, taken out of the cache.
    fn take_cached(&self, id: &str) -> Option<Message> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(id)
    }

    /// Message `id` is done for good: admit the next of its queue.
    fn finished(&self, id: &str) {
        self.arm_all(self.queues.forget(id));
    }

    /// Message `id` is no longer pending.
    fn gone(&self, id: &str) {
        self.take_cached(id);
        if let Some(key) = self.flow.forget(id) {
            self.wake_flow(&key);
        }
        self.timer.disarm(&TimerKey::Message(MessageKey::id(id)));
        self.finished(id);
    }

    /// Tries message `m` again at `at` without a commit (the store failed).
    fn retry_later(&self, id: &str, url: &str, at: Millis) {
        self.timer.arm(TimerKey::Message(Self::key_of(id, url)), at);
    }

    /// Starts a background purge when one is due (see `PURGE_EVERY`).
    fn maybe_purge(self: &Arc<Self>) {
        let now = self.clock.now_ms();
        {
            let mut last = self.last_purge.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now - t < PURGE_EVERY) {
                return;
            }
            if self.purging.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(now);
        }
        let ctx = self.clone();
        self.tasks.spawn(async move {
            match ctx.store.purge(now, ctx.settings.retention).await {
                Ok(p) if p != Default::default() => tracing::info!(
                    events = p.events,
                    dlq = p.dlq,
                    dedup = p.dedup,
                    workflow_runs = p.runs,
                    fire_history = p.firings,
                    "retention: old entries removed"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
            ctx.purging.store(false, Ordering::Release);
        });
    }

    /// Moves the window on: messages due up to one `WINDOW` after now come
    /// into the timer, and the window's key is set for the first message
    /// due after that, if there is one (an idle cronhook does not wake for
    /// nothing). The new end is published before the reads, so a message
    /// committed meanwhile is either armed by its commit or found by a read
    /// (both is harmless).
    async fn advance_window(self: &Arc<Self>) {
        let now = self.clock.now_ms();
        let old = self.window_end.load(Ordering::SeqCst);
        let new = old.max(now + WINDOW);
        self.window_end.store(new, Ordering::SeqCst);
        let read = async {
            let due = self.store.due_between(old, new).await?;
            let next = self.store.first_due_after(new).await?;
            Ok::<_, StoreError>((due, next))
        };
        match read.await {
            Ok((due, next)) => {
                for p in due {
                    self.arm_loaded(p);
                }
                if let Some(at) = next {
                    self.window_reaches(at);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the next due messages failed; trying again shortly");
                self.window_end.store(old, Ordering::SeqCst);
                self.timer.arm(TimerKey::Window, now + STORE_RETRY);
            }
        }
    }
}

impl Ctx {
    /// A queue's stored settings: arms what a raise or a resume admits.
    fn configure_queue(&self, name: &str, parallelism: u32, paused: bool) {
        self.arm_all(self.queues.configure(name, parallelism, paused));
    }

    /// Signs with `keys` from now on.
    fn use_keys(&self, keys: SigningKeys) {
        let mut signer = self.signer.write().unwrap_or_else(|p| p.into_inner());
        if !signer.is(&keys.current) {
            *signer = PreparedKey::new(&keys.current);
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    /// A flow-control key's stored settings; wakes its waitlist if they
    /// let more through.
    fn configure_flow(&self, settings: &crate::model::FlowSettings, reset_rate: bool) {
        if self
            .flow
            .configure(settings, reset_rate, self.clock.now_ms())
        {
            self.wake_flow(&settings.key);
        }
    }
}

/// Applies committed changes to the timer, in commit order (the store's
/// writer calls it right after each commit).
struct Arming(Arc<Ctx>);

impl CommitListener for Arming {
    fn committed(&self, changes: Vec<Change>) {
        let ctx = &self.0;
        for change in changes {
            match change {
                Change::Schedule { id, next } => ctx.arm_schedule(&id, next),
                Change::Pending(m) => ctx.offer(*m),
                Change::Gone(id) => ctx.gone(&id),
                Change::Queue {
                    name,
                    parallelism,
                    paused,
                } => ctx.configure_queue(&name, parallelism, paused),
                Change::QueueGone(name) => ctx.queues.remove(&name),
                Change::Keys(keys) => ctx.use_keys(keys),
                Change::Flow {
                    settings,
                    reset_rate,
                } => ctx.configure_flow(&settings, reset_rate),
            }
        }
    }
}

/// The running engine.
pub struct Engine {
    ctx: Arc<Ctx>,
    stop: CancellationToken,
}

impl Engine {
    /// Loads every armed schedule and the pending messages due within the
    /// window into the timer and starts it. Past due times fire at once:
    /// that is how a restart resumes retries and applies the misfire policy.
    pub async fn start(
        store: Store,
        settings: Settings,
        keys: Arc<RwLock<SigningKeys>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, StoreError> {
        let now = clock.now_ms();
        let (ctx, due_now_rx) = Ctx::new(store.clone(), settings, keys, clock.clone());
        let ctx = Arc::new(ctx);
        // From here on every commit arms itself; what is read below was
        // committed before (arming it twice is harmless).
        store.set_listener(Arc::new(Arming(ctx.clone())));
        // Every armed schedule, in one read and one heap build (see
        // `timer::Loader`), armed as `arm_schedule` would; meanwhile, on the
        // engine lane's other connection, what the gates and the window
        // need. Schedule and message keys are independent, so the order in
        // which the two reach the timer does not matter.
        let started = std::time::Instant::now();
        let schedules = async {
            let loader = store
                .each_armed_schedule(Loader::default(), |l, id, at| {
                    l.schedule(id, at - FIRE_LEAD)
                })
                .await?;
            let read = started.elapsed();
            let count = loader.len();
            let timer = ctx.timer.clone();
            // A million keys take a moment to index: off the async threads
            // (a panic there is this start's panic, not a timer left empty).
            if let Err(e) = tokio::task::spawn_blocking(move || timer.load(loader)).await {
                if let Ok(panic) = e.try_into_panic() {
                    std::panic::resume_unwind(panic);
                }
            }
            Ok::<_, StoreError>((count, read))
        };
        let window_end = ctx.window_end.load(Ordering::SeqCst);
        let messages = async {
            Ok::<_, StoreError>((
                store.queue_settings().await?,
                store.flow_keys_at_start().await?,
                store.pending_at_start(window_end).await?,
                store.first_due_after(window_end).await?,
            ))
        };
        let (schedules, messages) = tokio::join!(schedules, messages);
        let (schedule_count, read) = schedules?;
        let (queue_settings, flow_keys, pending, first_due) = messages?;
        // Each queue's parallelism and pause first, then its messages in
        // enqueue order: the gate is as it was before the restart.
        for (queue, parallelism, paused) in queue_settings {
            ctx.arm_all(ctx.queues.configure(&queue, parallelism, paused));
        }
        for settings in flow_keys {
            ctx.flow.configure(&settings, false, now);
        }
        for p in pending {
            ctx.arm_loaded(p);
        }
        if let Some(at) = first_due {
            ctx.window_reaches(at);
        }
        tracing::info!(
            armed = ctx.timer.len(),
            schedules = schedule_count,
            read_ms = read.as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "engine: timer loaded"
        );
        ctx.maybe_purge();

        let stop = CancellationToken::new();
        let (due_tx, due_rx) = mpsc::channel(1024);
        ctx.tasks
            .spawn(ctx.timer.clone().run(clock, due_tx, stop.clone()));
        ctx.tasks
            .spawn(dispatch::run(ctx.clone(), due_rx, due_now_rx, stop.clone()));
        Ok(Engine { ctx, stop })
    }

    /// What the service reads of the engine: a handle that follows this
    /// one (the single-node case; see `EngineHandle::follow` for terms).
    pub fn handle(&self) -> EngineHandle {
        let handle = EngineHandle::idle(self.ctx.keys.clone(), self.ctx.settings.max_in_flight);
        handle.follow(Some(self));
        handle
    }

    /// Where other nodes' committed changes enter this engine (several
    /// nodes; see `remote`).
    pub fn remote(&self) -> RemoteArming {
        RemoteArming(self.ctx.clone())
    }

    /// Cancelling it cuts the attempts in progress short (they stay
    /// pending), as `stop_now` does: for a shutdown whose grace outlives
    /// this node's leadership.
    pub fn cut_token(&self) -> CancellationToken {
        self.ctx.abort.clone()
    }

    /// Stops at once, as a node that lost its leadership must: attempts in
    /// progress are cut short (they stay pending, and the next leader makes
    /// them again), and this waits at most `wait` for the tasks to end.
    pub async fn stop_now(self, wait: Duration) {
        self.stop.cancel();
        self.ctx.abort.cancel();
        self.ctx.tasks.close();
        if tokio::time::timeout(wait, self.ctx.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("engine: some tasks did not end in time after stepping down");
        }
    }

    /// Stops taking due work and waits until `deadline` for firings and
    /// attempts in progress; attempts still out `margin` before it are cut
    /// short. Anything cut off is still in the database and is attempted
    /// again on the next start (at-least-once).
    pub async fn shutdown(self, deadline: tokio::time::Instant, margin: Duration) {
        self.stop.cancel();
        self.ctx.tasks.close();
        let soft = deadline.checked_sub(margin).unwrap_or(deadline);
        if tokio::time::timeout_at(soft, self.ctx.tasks.wait())
            .await
            .is_ok()
        {
            tracing::info!("engine: all in-flight work finished");
            return;
        }
        tracing::warn!(
            "engine: in-flight attempts did not finish in time; they are cut short and will be \
             attempted again on restart"
        );
        self.ctx.abort.cancel();
        let _ = tokio::time::timeout_at(deadline, self.ctx.tasks.wait()).await;
    }
}

/// What the service may read of the engine: the running one, or, on a
/// node of several that does not lead now, none (see ARCHITECTURE.md,
/// "Several nodes"). It follows the current term: the term wiring
/// (`node`) points it at each new engine and away from a stopped one.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    current: RwLock<Option<Arc<Ctx>>>,
    /// The keys in use, shared with every engine of this process: on a
    /// node without an engine, the last ones it knows.
    keys: Arc<RwLock<SigningKeys>>,
    max_in_flight: usize,
}

impl EngineHandle {
    /// A handle without an engine yet, reporting `keys` and
    /// `max_in_flight` until it follows one.
    pub fn idle(keys: Arc<RwLock<SigningKeys>>, max_in_flight: usize) -> EngineHandle {
        EngineHandle {
            inner: Arc::new(HandleInner {
                current: RwLock::new(None),
                keys,
                max_in_flight,
            }),
        }
    }

    /// Reads `engine` from now on (`None`: no engine runs on this node).
    pub fn follow(&self, engine: Option<&Engine>) {
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = engine.map(|e| e.ctx.clone());
    }

    fn current(&self) -> Option<Arc<Ctx>> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether an engine runs on this node now (always, except on a node
    /// of several that does not lead).
    pub fn running(&self) -> bool {
        self.current().is_some()
    }

    /// A flow-control key's live counters now (§6.7). Live counters are the
    /// leader's: a node without an engine reports none.
    pub fn flow_live(&self, key: &str) -> flow::FlowLive {
        match self.current() {
            Some(ctx) => ctx.flow.live(key, ctx.clock.now_ms()),
            None => flow::FlowLive::default(),
        }
    }

    /// `--max-in-flight`, and the attempts in flight now (§4.11); none on a
    /// node without an engine (the leader's are the live ones).
    pub fn global_parallelism(&self) -> (usize, usize) {
        match self.current() {
            Some(ctx) => (ctx.settings.max_in_flight, ctx.flow.running()),
            None => (self.inner.max_in_flight, 0),
        }
    }

    /// Queue sizes `(queue, waiting, not yet done)` and flow-control keys
    /// with messages waiting `(key, waiting)`, from the gates in memory;
    /// empty on a node without an engine (the leader's gates are the live
    /// ones).
    pub fn waitlists(&self) -> (QueueSizes, FlowWaiting) {
        match self.current() {
            Some(ctx) => (ctx.queues.sizes(), ctx.flow.waiting_sizes()),
            None => Default::default(),
        }
    }

    /// The signing keys in use (on a node without an engine, the last ones
    /// it knows: its own rotations, and other nodes' as notices tell).
    pub fn signing_keys(&self) -> SigningKeys {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
