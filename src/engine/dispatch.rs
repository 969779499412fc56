//! Dispatch: takes due keys from the timer and starts their work, never
//! waiting for capacity itself.
//!
//! Firings (a short store write each) run up to `FIRE_CONCURRENCY` at once
//! and queue beyond that; deliveries wait in the lane of their destination
//! (`lanes`) for a share of `max_in_flight`. So a destination that hangs
//! holds its lane's share and nothing else: firings, and deliveries to
//! everyone else, go on.
//!
//! A lane slot is held for the HTTP exchange only: once the response (or
//! its absence) is in, the slot goes to the next attempt while this one's
//! outcome waits for its commit. A commit takes an fsync; holding a slot
//! through it would cap a fast destination at a few slots per fsync. At
//! most `RECORDING` outcomes wait for their commit at once. Every task
//! reports back, also when it panics or is cut short, through guards.
//!
//! A message with a flow-control key first waits for its key's permit
//! (`flow`), outside the lanes, and holds it until its outcome is recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::flow::Started;
use super::lanes::Lanes;
use super::timer::{Lane, MessageKey, TimerKey};
use super::{deliver, fire, Ctx};
use crate::model::Millis;

/// Most firings in progress at once. A firing is one write job, folded with
/// others into the writer's group commit, so a few hundred share a commit.
const FIRE_CONCURRENCY: usize = 256;

/// Most attempts whose exchange is over and whose outcome waits for its
/// commit; beyond it, no new attempt starts (the writer is the bottleneck).
const RECORDING: usize = 4096;

/// What a task reports.
enum Done {
    Fire,
    /// The exchange of an attempt on `lane` is over: the slot is free.
    Sent {
        lane: Lane,
    },
    /// The attempt of message `id` is over, outcome recorded.
    Delivery {
        id: Arc<str>,
    },
}

/// Sends its report when dropped: when the work is done, or when the task
/// panics or is dropped unfinished.
pub(super) struct Report {
    tx: mpsc::UnboundedSender<Done>,
    done: Option<Done>,
}

impl Report {
    fn new(tx: &mpsc::UnboundedSender<Done>, done: Done) -> Report {
        Report {
            tx: tx.clone(),
            done: Some(done),
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = self.tx.send(done);
        }
    }
}

/// Runs until `stop`. `due` is the timer's channel; `due_now` brings
/// messages that were due when their commit armed them (`Ctx::due`), which
/// are handled exactly as if the timer had popped them.
pub(super) async fn run(
    ctx: Arc<Ctx>,
    mut due: mpsc::Receiver<(TimerKey, Millis)>,
    mut due_now: mpsc::UnboundedReceiver<(MessageKey, Millis)>,
    stop: CancellationToken,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut lanes = Lanes::new(
        ctx.settings.max_in_flight,
        ctx.settings.max_in_flight_per_destination,
    );
    // Messages waiting in a lane or being attempted. A key that comes due
    // again meanwhile (a retry due at once, committed before its attempt's
    // task reported back; a window read racing a commit) is neither
    // attempted twice at once nor lost: it waits in `again` and is queued
    // when the attempt in progress is over. The set is the engine's
    // (`Ctx::dispatching`), so catch-up reads can leave those messages be.
    let mut again: HashMap<Arc<str>, (MessageKey, Millis)> = HashMap::new();
    // Messages holding a flow-control permit, and the key they hold it of.
    let mut permits: HashMap<Arc<str>, Arc<str>> = HashMap::new();
    let mut fires: VecDeque<Arc<str>> = VecDeque::new();
    let mut firing = 0usize;
    // Attempts started and not yet recorded.
    let mut attempts = 0usize;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            Some(done) = done_rx.recv() => match done {
                Done::Fire => firing -= 1,
                Done::Sent { lane } => lanes.done(&lane),
                Done::Delivery { id } => {
                    attempts -= 1;
                    if let Some(flow) = permits.remove(&id) {
                        let next = ctx.flow.release(&flow, ctx.clock.now_ms());
                        started(&ctx, &mut lanes, &mut permits, next);
                    }
                    match again.remove(&id) {
                        Some((key, due)) => route(&ctx, &mut lanes, &mut permits, key, due),
                        None => {
                            ctx.dispatching().remove(&id);
                        }
                    }
                }
            },
            Some((key, due)) = due_now.recv() => {
                came_due(&ctx, &mut lanes, &mut permits, &mut again, key, due);
            }
            item = due.recv() => match item {
                None => return,
                Some((TimerKey::Schedule(id), _)) => fires.push_back(id),
                Some((TimerKey::Message(key), due)) => {
                    came_due(&ctx, &mut lanes, &mut permits, &mut again, key, due);
                }
                Some((TimerKey::Flow(flow), _)) => {
                    for id in ctx.flow.take_forgotten() {
                        ctx.dispatching().remove(&id);
                        again.remove(&id);
                    }
                    let next = ctx.flow.wake_up(&flow, ctx.clock.now_ms());
                    started(&ctx, &mut lanes, &mut permits, next);
                }
                Some((TimerKey::Window, _)) => {
                    let ctx = ctx.clone();
                    ctx.tasks.clone().spawn(async move { ctx.advance_window().await });
                }
            },
        }
        while firing < FIRE_CONCURRENCY {
            let Some(id) = fires.pop_front() else { break };
            firing += 1;
            let report = Report::new(&done_tx, Done::Fire);
            let ctx = ctx.clone();
            ctx.tasks.clone().spawn(async move {
                fire::fire(&ctx, &id).await;
                drop(report);
            });
        }
        while attempts < ctx.settings.max_in_flight + RECORDING {
            let Some((lane, id)) = lanes.start_next() else {
                break;
            };
            attempts += 1;
            let sent = Report::new(&done_tx, Done::Sent { lane });
            let recorded = Report::new(&done_tx, Done::Delivery { id: id.clone() });
            let flow = permits.get(&id).cloned();
            let ctx = ctx.clone();
            // Boxed: the attempt's future is large, and a task moves its
            // future in and out of its cell; a box is moved as a pointer.
            ctx.tasks.clone().spawn(Box::pin(async move {
                deliver::deliver(&ctx, &id, flow.as_deref(), sent).await;
                drop(recorded);
            }));
        }
        ctx.flow.set_running(lanes.running());
    }
}

/// Message `key` came due (from the timer, or at its commit): routed,
/// unless an attempt of it is in progress; then it waits in `again` until
/// that attempt reports back, so it is never attempted twice at once.
fn came_due(
    ctx: &Ctx,
    lanes: &mut Lanes,
    permits: &mut HashMap<Arc<str>, Arc<str>>,
    again: &mut HashMap<Arc<str>, (MessageKey, Millis)>,
    key: MessageKey,
    due: Millis,
) {
    let first = ctx.dispatching().insert(key.id.clone());
    if first {
        route(ctx, lanes, permits, key, due);
    } else {
        again.insert(key.id.clone(), (key, due));
    }
}

/// Files due message `key` in its lane, after its flow-control permit if
/// it names a key (§4.11): without one it waits in the key's waitlist.
fn route(
    ctx: &Ctx,
    lanes: &mut Lanes,
    permits: &mut HashMap<Arc<str>, Arc<str>>,
    key: MessageKey,
    due: Millis,
) {
    match &key.flow {
        None => lanes.push(key.lane, key.id),
        Some(flow) => {
            let next = ctx
                .flow
                .admit(flow, key.id, key.lane, due, ctx.clock.now_ms());
            started(ctx, lanes, permits, next);
        }
    }
}

/// Files the messages that got their permit, and sets the key's wake-up
/// for the end of its rate period.
fn started(ctx: &Ctx, lanes: &mut Lanes, permits: &mut HashMap<Arc<str>, Arc<str>>, next: Started) {
    let Some(flow) = next.key else { return };
    if let Some(at) = next.wake {
        ctx.timer.arm_no_later(TimerKey::Flow(flow.clone()), at);
    }
    for (lane, id) in next.start {
        permits.insert(id.clone(), flow.clone());
        lanes.push(lane, id);
    }
}
