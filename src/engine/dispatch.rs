//! Dispatch: takes due keys from the timer and starts their work, never
//! waiting for capacity itself.
//!
//! Firings (a short store write each) run up to `FIRE_CONCURRENCY` at once
//! and queue beyond that; deliveries wait in the lane of their destination
//! (`lanes`) for a share of `max_in_flight`. So a destination that hangs
//! holds its lane's share and nothing else: firings, and deliveries to
//! everyone else, go on. Every task reports back when it ends, also when it
//! panics or is cut short, through a guard.

use std::collections::{HashSet, VecDeque};
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

/// What a task reports when it ends.
enum Done {
    Fire,
    Delivery { lane: Lane, id: Arc<str> },
}

/// Sends its report when dropped: at the end of the task, or when the task
/// panics or is dropped unfinished.
struct Report {
    tx: mpsc::UnboundedSender<Done>,
    done: Option<Done>,
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
    // Messages waiting in a lane or being attempted: a key armed again
    // meanwhile (a window read racing a commit) is not attempted twice.
    let mut scheduled: HashSet<Arc<str>> = HashSet::new();
    let mut fires: VecDeque<Arc<str>> = VecDeque::new();
    let mut firing = 0usize;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            Some(done) = done_rx.recv() => match done {
                Done::Fire => firing -= 1,
                Done::Delivery { lane, id } => {
                    lanes.done(&lane);
                    scheduled.remove(&id);
                }
            },
            item = due.recv() => match item {
                None => return,
                Some((TimerKey::Schedule(id), _)) => fires.push_back(id),
                Some((TimerKey::Message(key), _)) => {
                    if scheduled.insert(key.id.clone()) {
                        lanes.push(key.lane, key.id);
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
            let report = Report {
                tx: done_tx.clone(),
                done: Some(Done::Fire),
            };
            let ctx = ctx.clone();
            ctx.tasks.clone().spawn(async move {
                fire::fire(&ctx, &id).await;
                drop(report);
            });
        }
        while let Some((lane, id)) = lanes.start_next() {
            let report = Report {
                tx: done_tx.clone(),
                done: Some(Done::Delivery {
                    lane,
                    id: id.clone(),
                }),
            };
            let ctx = ctx.clone();
            ctx.tasks.clone().spawn(async move {
                deliver::deliver(&ctx, &id).await;
                drop(report);
            });
        }
    }
}
