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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::lanes::Lanes;
use super::timer::{Lane, TimerKey};
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

pub(super) async fn run(
    ctx: Arc<Ctx>,
    mut due: mpsc::Receiver<(TimerKey, Millis)>,
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
    // when the attempt in progress is over.
    let mut scheduled: HashSet<Arc<str>> = HashSet::new();
    let mut again: HashMap<Arc<str>, Lane> = HashMap::new();
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
                    match again.remove(&id) {
                        Some(lane) => lanes.push(lane, id),
                        None => {
                            scheduled.remove(&id);
                        }
                    }
                }
            },
            item = due.recv() => match item {
                None => return,
                Some((TimerKey::Schedule(id), _)) => fires.push_back(id),
                Some((TimerKey::Message(key), _)) => {
                    if scheduled.insert(key.id.clone()) {
                        lanes.push(key.lane, key.id);
                    } else {
                        again.insert(key.id, key.lane);
                    }
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
            let ctx = ctx.clone();
            ctx.tasks.clone().spawn(async move {
                deliver::deliver(&ctx, &id, sent).await;
                drop(recorded);
            });
        }
    }
}
