//! How committed messages reach dispatch: a message due at its commit goes
//! straight there, one due later waits in the timer, and the queue gate
//! still holds what a paused queue must not start. With several nodes, a
//! new queued message joins its line in notice order, whichever node took
//! it.

use std::sync::{Arc, RwLock};

use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::clock::ManualClock;
use crate::model::{Delivery, FlowControl};
use crate::store::SyncMode;

const T0: Millis = 1_800_000_000_000;

struct Fixture {
    ctx: Arc<Ctx>,
    due_now: UnboundedReceiver<(MessageKey, Millis)>,
    arming: Arming,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    fixture_with(Settings::default())
}

/// The leader's engine of several nodes.
fn cluster_fixture() -> Fixture {
    fixture_with(Settings {
        queue_line_from_notices: true,
        ..Settings::default()
    })
}

fn fixture_with(settings: Settings) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db").into(), SyncMode::Normal).unwrap();
    let keys = Arc::new(RwLock::new(SigningKeys {
        current: "sig_current".into(),
        next: "sig_next".into(),
    }));
    let clock = Arc::new(ManualClock::new(T0));
    let (ctx, due_now) = Ctx::new(store, settings, keys, clock);
    let ctx = Arc::new(ctx);
    Fixture {
        arming: Arming(ctx.clone()),
        ctx,
        due_now,
        _dir: dir,
    }
}

fn message(due_at: Millis, delivery: Delivery) -> Message {
    Message::new(
        "http://127.0.0.1:9/".into(),
        delivery,
        b"x".to_vec(),
        T0,
        due_at,
    )
}

fn pending(m: &Message) -> Change {
    Change::Pending(Box::new(m.clone()))
}

fn timer_key(m: &Message) -> TimerKey {
    TimerKey::Message(MessageKey::id(&m.id))
}

#[test]
fn a_message_due_at_its_commit_goes_to_dispatch_without_the_timer() {
    let mut f = fixture();
    let now = message(T0, Delivery::default());
    let overdue = message(T0 - 5_000, Delivery::default());
    let later = message(T0 + 5_000, Delivery::default());
    f.arming
        .committed(vec![pending(&now), pending(&later), pending(&overdue)]);
    let (first, due) = f
        .due_now
        .try_recv()
        .expect("the due message went to dispatch");
    assert_eq!((&*first.id, due), (now.id.as_str(), T0));
    let (second, _) = f.due_now.try_recv().expect("so did the overdue one");
    assert_eq!(&*second.id, overdue.id, "in commit order");
    assert!(f.due_now.try_recv().is_err(), "the later one did not");
    assert_eq!(f.ctx.timer.armed_at(&timer_key(&now)), None);
    assert_eq!(f.ctx.timer.armed_at(&timer_key(&overdue)), None);
    assert_eq!(f.ctx.timer.armed_at(&timer_key(&later)), Some(T0 + 5_000));
    assert_eq!(
        f.ctx.take_cached(&now.id).as_ref(),
        Some(&now),
        "and it is kept in memory"
    );
}

#[test]
fn a_due_message_replaces_an_earlier_arming_of_itself() {
    let mut f = fixture();
    let m = message(T0 + 5_000, Delivery::default());
    f.arming.committed(vec![pending(&m)]);
    assert!(f.ctx.timer.armed_at(&timer_key(&m)).is_some());
    let now = Message {
        due_at: T0,
        ..m.clone()
    };
    f.arming.committed(vec![pending(&now)]);
    assert!(f.due_now.try_recv().is_ok());
    assert_eq!(
        f.ctx.timer.armed_at(&timer_key(&m)),
        None,
        "it does not come due a second time"
    );
}

#[test]
fn a_due_message_of_a_paused_queue_waits_until_the_queue_is_resumed() {
    let mut f = fixture();
    let queued = Delivery {
        queue_name: Some("held".into()),
        ..Delivery::default()
    };
    let m = message(T0, queued);
    f.arming.committed(vec![
        Change::Queue {
            name: "held".into(),
            parallelism: 1,
            paused: true,
        },
        pending(&m),
    ]);
    assert!(
        f.due_now.try_recv().is_err(),
        "a paused queue starts nothing"
    );
    assert!(f.ctx.timer.is_empty());
    f.arming.committed(vec![Change::Queue {
        name: "held".into(),
        parallelism: 1,
        paused: false,
    }]);
    let (key, _) = f.due_now.try_recv().expect("resuming lets it go");
    assert_eq!(&*key.id, m.id);
}

#[test]
fn a_queue_admits_due_messages_one_at_a_time_in_order() {
    let mut f = fixture();
    let queued = || Delivery {
        queue_name: Some("one".into()),
        ..Delivery::default()
    };
    let (a, b) = (message(T0, queued()), message(T0, queued()));
    f.arming.committed(vec![
        Change::Queue {
            name: "one".into(),
            parallelism: 1,
            paused: false,
        },
        pending(&a),
        pending(&b),
    ]);
    let (first, _) = f.due_now.try_recv().unwrap();
    assert_eq!(&*first.id, a.id);
    assert!(
        f.due_now.try_recv().is_err(),
        "parallelism 1: b waits for a"
    );
    f.arming.committed(vec![Change::Gone(a.id.clone())]);
    let (second, _) = f.due_now.try_recv().expect("a is done, b goes");
    assert_eq!(&*second.id, b.id);
}

#[test]
fn a_due_message_keeps_its_flow_control_key_for_dispatch() {
    let mut f = fixture();
    let limited = Delivery {
        flow_control: Some(FlowControl {
            key: "k".into(),
            parallelism: Some(1),
            rate: None,
            period: 1,
        }),
        ..Delivery::default()
    };
    f.arming.committed(vec![pending(&message(T0, limited))]);
    let (key, _) = f.due_now.try_recv().unwrap();
    assert_eq!(
        key.flow.as_deref(),
        Some("k"),
        "dispatch asks the key's gate for a permit before the lanes"
    );
}

#[test]
fn new_keys_are_prepared_for_signing() {
    let f = fixture();
    let token = |ctx: &Ctx| ctx.sign("http://a.test/", b"x", 1_000, "jwt_t");
    let before = token(&f.ctx);
    assert_eq!(
        before,
        crate::signing::sign(
            &crate::signing::Claims::new("http://a.test/", b"x", 1_000, "jwt_t".into()),
            "sig_current"
        )
    );
    f.arming.committed(vec![Change::Keys(SigningKeys {
        current: "sig_next".into(),
        next: "sig_after".into(),
    })]);
    let after = token(&f.ctx);
    assert_eq!(
        after,
        crate::signing::sign(
            &crate::signing::Claims::new("http://a.test/", b"x", 1_000, "jwt_t".into()),
            "sig_next"
        )
    );
}

/// What a notice says of `m`: its row without the body.
fn noticed(m: &Message) -> crate::store::Pending {
    crate::store::Pending {
        id: m.id.clone(),
        url: m.url.clone(),
        due_at: m.due_at,
        queue: m.delivery.queue_name.clone(),
        flow: None,
    }
}

fn queue_one(f: &Fixture) {
    f.arming.committed(vec![Change::Queue {
        name: "one".into(),
        parallelism: 1,
        paused: false,
    }]);
}

fn in_queue_one() -> Delivery {
    Delivery {
        queue_name: Some("one".into()),
        ..Delivery::default()
    }
}

#[test]
fn with_several_nodes_a_queue_line_follows_the_notices_not_the_leaders_own_commits() {
    let mut f = cluster_fixture();
    let remote = RemoteArming(f.ctx.clone());
    queue_one(&f);
    // Another node's enqueue committed first; its notice is still on the
    // way when the leader commits its own.
    let (theirs, mine) = (message(T0, in_queue_one()), message(T0, in_queue_one()));
    f.arming.committed(vec![pending(&mine)]);
    assert!(
        f.due_now.try_recv().is_err(),
        "the leader's own new queued message waits for its notice"
    );
    remote.arm(vec![crate::store::cluster::Remote::Pending(noticed(
        &theirs,
    ))]);
    remote.arm_own(vec![noticed(&mine)]);
    let (first, _) = f.due_now.try_recv().unwrap();
    assert_eq!(&*first.id, theirs.id, "the first committed goes first");
    assert!(f.due_now.try_recv().is_err(), "parallelism 1");
    f.arming.committed(vec![Change::Gone(theirs.id.clone())]);
    let (second, _) = f.due_now.try_recv().expect("then the leader's own");
    assert_eq!(&*second.id, mine.id);
    assert_eq!(
        f.ctx.take_cached(&mine.id).as_ref(),
        Some(&mine),
        "kept in memory meanwhile"
    );
}

#[test]
fn with_several_nodes_a_queued_retry_is_armed_at_its_commit_and_its_notice_is_skipped() {
    let mut f = cluster_fixture();
    let remote = RemoteArming(f.ctx.clone());
    queue_one(&f);
    let m = message(T0, in_queue_one());
    f.arming.committed(vec![pending(&m)]);
    remote.arm_own(vec![noticed(&m)]);
    assert!(f.due_now.try_recv().is_ok(), "admitted by its notice");
    let retry = Message {
        retried: 1,
        due_at: T0 + 5_000,
        ..m.clone()
    };
    f.arming.committed(vec![pending(&retry)]);
    assert_eq!(
        f.ctx.timer.armed_at(&timer_key(&m)),
        Some(T0 + 5_000),
        "armed for its retry at once"
    );
    // A notice of the message as it was (due at T0) arrives after that:
    // the gate knows the message, so it is not offered again.
    remote.arm_own(vec![noticed(&m)]);
    assert_eq!(f.ctx.timer.armed_at(&timer_key(&m)), Some(T0 + 5_000));
    assert!(
        f.due_now.try_recv().is_err(),
        "a late notice changes nothing"
    );
}

#[test]
fn alone_a_new_queued_message_joins_its_line_at_its_commit() {
    let mut f = fixture();
    queue_one(&f);
    let m = message(T0, in_queue_one());
    f.arming.committed(vec![pending(&m)]);
    assert!(f.due_now.try_recv().is_ok());
}
