//! This process's part in running the engine: alone on SQLite, or as one
//! of several nodes on one PostgreSQL database, where only the leader runs
//! an engine (ARCHITECTURE.md, "Several nodes").
//!
//! Every node serves the whole API. On SQLite the engine starts once, as it
//! always did ([`Node::single`]). With several nodes ([`Node::cluster`]),
//! the lease (`store::cluster::lease`) says when this node leads; each term
//! gets a fresh engine, which loads everything from the database as at a
//! start, and loses it when the term ends: its attempts are cut short and
//! stay pending, for the next leader to make again (at-least-once, as
//! after a crash). Between terms the node has no engine; the service's
//! `EngineHandle` follows the current one.
//!
//! The terms are driven by [`TermEvent`]s on a channel, from the lease and
//! the LISTEN thread in production, by hand in tests, so the term
//! machinery is tested without PostgreSQL.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::engine::{self, Engine, EngineHandle};
use crate::model::SigningKeys;
use crate::store::cluster::{Heard, Lease, LeaseSettings, Listener, Remote, Transition};
use crate::store::{Change, CommitListener, Store, StoreError};

/// How long a node that lost its lease waits for its engine's cut tasks.
const STEP_DOWN_WAIT: Duration = Duration::from_secs(1);

/// How several nodes find each other (PostgreSQL only).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The database (`postgres://…`).
    pub db_url: String,
    /// This process's node id: new at every start (`ids::node_id`).
    pub node: String,
    /// `--node-url`, listed with the node.
    pub node_url: Option<String>,
    /// `--lease`.
    pub lease: Duration,
    /// `--catch-up`.
    pub catch_up: Duration,
}

/// What starts an engine.
#[derive(Clone)]
pub struct EngineParts {
    pub store: Store,
    pub settings: engine::Settings,
    /// Shared by every term's engine and the service's handle: the keys in
    /// use, or the last ones this node knows.
    pub keys: Arc<RwLock<SigningKeys>>,
    pub clock: Arc<dyn Clock>,
}

/// The engine side of a running cronhook.
pub enum Node {
    /// SQLite: one engine for the process's life.
    Single(Engine),
    /// Several nodes: an engine while this node leads.
    Cluster(Cluster),
}

/// The running parts of a node of several.
pub struct Cluster {
    terms: Terms,
    lease: Lease,
    listener: Listener,
}

impl Node {
    /// Starts the one engine (SQLite), as cronhook always has.
    pub async fn single(parts: EngineParts) -> Result<(Node, EngineHandle), StoreError> {
        let engine = Engine::start(parts.store, parts.settings, parts.keys, parts.clock).await?;
        let handle = engine.handle();
        Ok((Node::Single(engine), handle))
    }

    /// Joins the nodes on `cluster.db_url`: listens for other nodes'
    /// changes, and takes part in the election; this node runs an engine
    /// while it leads. Returns at once (a follower until the lease says
    /// otherwise). Must be called inside the runtime.
    pub fn cluster(
        mut parts: EngineParts,
        cluster: ClusterSettings,
    ) -> std::io::Result<(Node, EngineHandle)> {
        parts.settings.queue_line_from_notices = true;
        tracing::info!(node = %cluster.node, url = cluster.node_url.as_deref().unwrap_or("-"), "cluster: this node's id");
        let terms = Terms::start(parts, cluster.catch_up);
        let handle = terms.handle();
        let heard = terms.events();
        let listener = Listener::start(
            cluster.db_url.clone(),
            cluster.node.clone(),
            (cluster.lease / 3).max(Duration::from_secs(1)),
            move |h| heard.send(TermEvent::Heard(h)),
        )?;
        let elected = terms.events();
        let lease = Lease::start(
            LeaseSettings {
                db_url: cluster.db_url,
                node: cluster.node,
                node_url: cluster.node_url,
                lease: cluster.lease,
            },
            move |t| elected.send(t.into()),
        );
        let lease = match lease {
            Ok(l) => l,
            Err(e) => {
                listener.stop();
                return Err(e);
            }
        };
        let node = Node::Cluster(Cluster {
            terms,
            lease,
            listener,
        });
        Ok((node, handle))
    }

    /// Waits (at most `bound`) until the node knows whether it leads and,
    /// if it does, until its engine runs: so that, as on SQLite, a start
    /// that returns has armed every stored schedule on the leader, and no
    /// request served meanwhile races the engine's first load.
    pub async fn settled(&self, bound: Duration) {
        let Node::Cluster(c) = self else { return };
        let until = Instant::now() + bound;
        while Instant::now() < until {
            if c.lease.rounds() > 0 && (c.lease.term().is_none() || c.terms.handle().running()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::warn!("cluster: not settled within {bound:?}; serving as a follower meanwhile");
    }

    /// Stops taking due work and waits until `deadline` for work in
    /// progress, cutting attempts still out `margin` before it (see
    /// `Engine::shutdown`). A leader then releases its lease, so another
    /// node takes over at once.
    pub async fn shutdown(self, deadline: Instant, margin: Duration) {
        match self {
            Node::Single(engine) => engine.shutdown(deadline, margin).await,
            Node::Cluster(c) => {
                c.terms.shutdown(deadline, margin).await;
                let Cluster {
                    lease, listener, ..
                } = c;
                let left = deadline.saturating_duration_since(Instant::now());
                let stopping = tokio::task::spawn_blocking(move || {
                    lease.stop();
                    listener.stop();
                });
                if tokio::time::timeout(left.max(Duration::from_millis(500)), stopping)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "cluster: the lease was not released in time; it expires on its own"
                    );
                }
            }
        }
    }
}

/// What drives the terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermEvent {
    /// This node leads from now on, in `term`.
    Leader { term: i64 },
    /// It no longer does.
    Lost,
    /// The LISTEN thread heard other nodes' changes, or asks for a re-read.
    Heard(Heard),
}

impl From<Transition> for TermEvent {
    fn from(t: Transition) -> Self {
        match t {
            Transition::Leader { term } => TermEvent::Leader { term },
            Transition::Lost => TermEvent::Lost,
        }
    }
}

enum Msg {
    Event(TermEvent),
    Shutdown {
        deadline: Instant,
        margin: Duration,
        done: oneshot::Sender<()>,
    },
}

/// Sends [`TermEvent`]s to the terms; cheap to clone, usable from any
/// thread. Events sent after the terms stopped are dropped.
#[derive(Clone)]
pub struct TermEvents(mpsc::UnboundedSender<Msg>);

impl TermEvents {
    pub fn send(&self, event: TermEvent) {
        let _ = self.0.send(Msg::Event(event));
    }
}

/// An engine per leadership term, driven by [`TermEvent`]s.
pub struct Terms {
    tx: mpsc::UnboundedSender<Msg>,
    handle: EngineHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Terms {
    /// Starts as a follower (no engine). `catch_up`: how often a running
    /// engine re-reads what comes due (and a failed term start is tried
    /// again). Must be called inside the runtime.
    pub fn start(parts: EngineParts, catch_up: Duration) -> Terms {
        let handle = EngineHandle::idle(parts.keys.clone(), parts.settings.max_in_flight);
        // Before returning: a commit right after start finds the listener.
        parts
            .store
            .set_listener(Arc::new(KeysOnly(parts.keys.clone())));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(rx, parts, handle.clone(), catch_up));
        Terms { tx, handle, task }
    }

    pub fn events(&self) -> TermEvents {
        TermEvents(self.tx.clone())
    }

    /// What the service reads: the current term's engine, if any.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Ends the current term, if any, as `Engine::shutdown` does (with the
    /// grace), and stops following events. The request is queued at the
    /// call, so events sent after it are handled during the shutdown.
    pub fn shutdown(
        self,
        deadline: Instant,
        margin: Duration,
    ) -> impl std::future::Future<Output = ()> {
        let (done, finished) = oneshot::channel();
        let sent = self
            .tx
            .send(Msg::Shutdown {
                deadline,
                margin,
                done,
            })
            .is_ok();
        async move {
            if sent {
                let _ = finished.await;
            }
            let _ = self.task.await;
        }
    }
}

/// On a node without an engine, commits still tell it of new signing
/// keys (its own rotations), so the service shows the keys in use.
struct KeysOnly(Arc<RwLock<SigningKeys>>);

impl CommitListener for KeysOnly {
    fn committed(&self, changes: Vec<Change>) {
        for change in changes {
            if let Change::Keys(keys) = change {
                *self.0.write().unwrap_or_else(|p| p.into_inner()) = keys;
            }
        }
    }
}

/// The terms' state, owned by their task.
struct State {
    parts: EngineParts,
    handle: EngineHandle,
    /// The running engine and its term.
    current: Option<(i64, Engine)>,
    /// The term this node leads but could not start an engine for yet.
    wanted: Option<i64>,
}

impl State {
    /// No engine on this node: commits only update the keys.
    fn follow_nothing(&self) {
        self.parts
            .store
            .set_listener(Arc::new(KeysOnly(self.parts.keys.clone())));
        self.handle.follow(None);
    }

    async fn lead(&mut self, term: i64) {
        self.step_down().await;
        self.wanted = Some(term);
        self.try_start().await;
    }

    /// Starts the wanted term's engine; on failure it stays wanted and the
    /// next tick tries again.
    async fn try_start(&mut self) {
        let Some(term) = self.wanted else { return };
        // Another node may have rotated the keys while this one followed.
        self.refresh_keys().await;
        let p = &self.parts;
        match Engine::start(
            p.store.clone(),
            p.settings.clone(),
            p.keys.clone(),
            p.clock.clone(),
        )
        .await
        {
            Ok(engine) => {
                self.handle.follow(Some(&engine));
                self.current = Some((term, engine));
                self.wanted = None;
                tracing::info!(term, "engine: running for this leadership term");
            }
            Err(e) => {
                self.follow_nothing();
                tracing::error!(term, error = %e, "engine: could not start for this term; trying again shortly");
            }
        }
    }

    /// Ends the current term's engine at once (attempts cut, still pending).
    async fn step_down(&mut self) {
        self.wanted = None;
        let Some((term, engine)) = self.current.take() else {
            return;
        };
        self.follow_nothing();
        engine.stop_now(STEP_DOWN_WAIT).await;
        tracing::info!(term, "engine: stopped; this node no longer leads");
    }

    async fn refresh_keys(&self) {
        match self.parts.store.active_keys().await {
            Ok(Some(keys)) => {
                *self.parts.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the signing keys failed"),
        }
    }

    async fn heard(&self, heard: Heard) {
        match (&self.current, heard) {
            (Some((_, engine)), Heard::Changes(changes)) => engine.remote().arm(changes),
            (Some((_, engine)), Heard::Resync) => engine.remote().catch_up_soon(None),
            (None, Heard::Changes(changes)) if changes.contains(&Remote::KeysChanged) => {
                self.refresh_keys().await
            }
            (None, Heard::Resync) => self.refresh_keys().await,
            (Some((_, engine)), Heard::Own(queued)) => engine.remote().arm_own(queued),
            (None, Heard::Changes(_) | Heard::Own(_)) => {} // the leader arms them
        }
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    parts: EngineParts,
    handle: EngineHandle,
    catch_up: Duration,
) {
    let mut st = State {
        parts,
        handle,
        current: None,
        wanted: None,
    };
    let mut tick = tokio::time::interval(catch_up);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                None => {
                    st.step_down().await;
                    return;
                }
                Some(Msg::Shutdown { deadline, margin, done }) => {
                    st.wanted = None;
                    if let Some((_, engine)) = st.current.take() {
                        st.follow_nothing();
                        // The lease is released only after this: if it is
                        // lost meanwhile, another node may take over, so
                        // the grace ends here (attempts cut, still pending).
                        let cut = engine.cut_token();
                        let shutdown = engine.shutdown(deadline, margin);
                        tokio::pin!(shutdown);
                        let mut events = true;
                        loop {
                            tokio::select! {
                                () = &mut shutdown => break,
                                msg = rx.recv(), if events => match msg {
                                    Some(Msg::Event(TermEvent::Lost)) => {
                                        tracing::warn!("engine: the lease was lost during the shutdown; cutting the attempts still out");
                                        cut.cancel();
                                    }
                                    Some(_) => {}
                                    None => events = false,
                                },
                            }
                        }
                    }
                    let _ = done.send(());
                    return;
                }
                Some(Msg::Event(TermEvent::Leader { term })) => st.lead(term).await,
                Some(Msg::Event(TermEvent::Lost)) => st.step_down().await,
                Some(Msg::Event(TermEvent::Heard(heard))) => st.heard(heard).await,
            },
            _ = tick.tick() => match &st.current {
                Some((_, engine)) => engine.remote().catch_up_soon(Some(catch_up)),
                None => st.try_start().await,
            },
        }
    }
}

#[cfg(test)]
mod tests;
