//! The LISTEN thread: other nodes' committed changes, in commit order.
//!
//! PostgreSQL delivers a transaction's notices when it commits, in commit
//! order, and none of a rolled-back one. This thread holds its own
//! connection, `LISTEN`s on its schema's channel ([`CHANNEL_SQL`]), decodes
//! each notice and hands it to the callback, one notice at a time, in
//! arrival order. Of this node's own notices (its commits armed themselves
//! locally) only the new queued messages go on, as [`Heard::Own`]: a
//! queue's line is joined in commit order across all nodes.
//!
//! Notices sent while no connection listened are gone: so after every
//! (re)connect, the first thing handed on is [`Heard::Resync`], and the
//! engine re-reads what is due. A payload it cannot read is a `Resync` too.
//! An idle connection is checked now and then, so a silently dropped one is
//! noticed (and followed by a resync) within about one timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;

use super::notice::{decode, Remote};
use super::{connect, Backoff, CHANNEL_SQL};
use crate::store::Pending;

/// What the listener hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Notices may have been missed: re-read what is due.
    Resync,
    /// One notice of another node, in commit order.
    Changes(Vec<Remote>),
    /// The queued messages of one of this node's own notices, in commit
    /// order with the others.
    Own(Vec<Pending>),
}

/// How long one wait for notices lasts before the stop flag is looked at.
const POLL: Duration = Duration::from_millis(200);

/// A running listener thread.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts listening on `db_url` for notices of nodes other than `node`.
    /// `timeout` bounds connects, statements and the idle check. `on` is
    /// called on the listener's thread and must be quick.
    pub fn start(
        db_url: String,
        node: String,
        timeout: Duration,
        on: impl Fn(Heard) + Send + 'static,
    ) -> std::io::Result<Listener> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cronhook-listen".into())
                .spawn(move || run(&db_url, &node, timeout, &stop, &on))?
        };
        Ok(Listener {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops listening (within about `POLL`, or one timeout if a call is
    /// out).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn run(db_url: &str, node: &str, timeout: Duration, stop: &AtomicBool, on: &dyn Fn(Heard)) {
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    let role = format!("cronhook-listen {node}");
    while !stop.load(Ordering::SeqCst) {
        let listening = connect(db_url, timeout, &role).and_then(|mut c| {
            let channel: String = c.query_one(&format!("SELECT {CHANNEL_SQL}"), &[])?.get(0);
            c.batch_execute(&format!("LISTEN {channel}"))?;
            Ok((c, channel))
        });
        let (mut client, channel) = match listening {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot listen for other nodes' changes; trying again");
                let until = Instant::now() + backoff.next();
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(POLL.min(until - Instant::now()));
                }
                continue;
            }
        };
        backoff.reset();
        tracing::info!("cluster: listening for other nodes' changes");
        on(Heard::Resync);
        if let Err(e) = listen(&mut client, &channel, node, timeout, stop, on) {
            tracing::warn!(error = %e, "cluster: the listening connection broke; reconnecting");
        }
    }
}

/// Hands on what the leader needs of this node's own notice: its queued
/// messages, and a re-read if one could not travel.
fn own(changes: Vec<Remote>, on: &dyn Fn(Heard)) {
    let mut queued = Vec::new();
    let mut resync = false;
    for change in changes {
        match change {
            Remote::Pending(p) if p.queue.is_some() => queued.push(p),
            Remote::Resync => resync = true,
            _ => {}
        }
    }
    if resync {
        on(Heard::Resync);
    }
    if !queued.is_empty() {
        on(Heard::Own(queued));
    }
}

/// Hands on notices until `stop` (Ok) or the connection fails (Err).
fn listen(
    client: &mut postgres::Client,
    channel: &str,
    node: &str,
    timeout: Duration,
    stop: &AtomicBool,
    on: &dyn Fn(Heard),
) -> Result<(), postgres::Error> {
    let mut checked = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let mut heard = false;
        {
            let mut notices = client.notifications();
            let mut iter = notices.timeout_iter(POLL);
            while let Some(n) = iter.next()? {
                heard = true;
                if n.channel() != channel {
                    continue;
                }
                match decode(n.payload()) {
                    None => {
                        tracing::warn!(payload = %n.payload(), "cluster: a notice could not be read; re-reading what is due");
                        on(Heard::Resync);
                    }
                    Some(notice) if notice.node == node => own(notice.changes, on),
                    Some(notice) if notice.changes.is_empty() => {}
                    Some(notice) => on(Heard::Changes(notice.changes)),
                }
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
            }
        }
        if heard {
            checked = Instant::now();
        } else if checked.elapsed() >= timeout {
            client.is_valid(timeout)?;
            checked = Instant::now();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cluster::{encode, TestDb};
    use crate::store::Change;
    use std::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(10);

    /// Notices are per database, not per schema, and tests run at once on
    /// one cluster: each test names its messages with its schema and looks
    /// only at those (and at re-read requests where it expects one).
    struct Test {
        db: TestDb,
        rx: mpsc::Receiver<Heard>,
        listener: Listener,
        node: String,
    }

    impl Test {
        fn start(name: &str) -> Option<Test> {
            let db = TestDb::new(name)?;
            let node = format!("me_{}", db.schema);
            let (tx, rx) = mpsc::channel();
            let listener = Listener::start(
                db.url.clone(),
                node.clone(),
                Duration::from_secs(2),
                move |h| {
                    let _ = tx.send(h);
                },
            )
            .unwrap();
            let t = Test {
                db,
                rx,
                listener,
                node,
            };
            assert_eq!(t.next(true), None, "a (re)connect asks for a re-read first");
            Some(t)
        }

        fn id(&self, name: &str) -> String {
            format!("{}_{name}", self.db.schema)
        }

        /// The next notice of this test (`Some(ids)`), or a re-read
        /// request (`None`) if `resync` asks for those.
        fn next(&self, resync: bool) -> Option<Vec<String>> {
            let until = Instant::now() + WAIT;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left).expect("a notice in time") {
                    Heard::Resync if resync => return None,
                    Heard::Resync => {}
                    Heard::Changes(changes) => {
                        let ids: Vec<String> = changes
                            .into_iter()
                            .filter_map(|c| match c {
                                Remote::Gone(id) if id.starts_with(&self.db.schema) => Some(id),
                                _ => None,
                            })
                            .collect();
                        if !ids.is_empty() {
                            return Some(ids);
                        }
                    }
                    Heard::Own(queued) => {
                        let ids: Vec<String> = queued
                            .into_iter()
                            .filter(|p| p.id.starts_with(&self.db.schema))
                            .map(|p| format!("own {}", p.id))
                            .collect();
                        if !ids.is_empty() {
                            return Some(ids);
                        }
                    }
                }
            }
        }

        /// Sends `names` as one notice each, from `node`, in `tx`.
        fn notify(&self, tx: &mut postgres::Transaction, node: &str, names: &[&str]) {
            for name in names {
                for p in encode(node, &[Change::Gone(self.id(name))]) {
                    tx.execute(&format!("SELECT pg_notify({CHANNEL_SQL}, $1)"), &[&p])
                        .unwrap();
                }
            }
        }

        /// Sends one notice from `node` in `tx`: message `name` pending,
        /// in `queue` if one is given, and message `gone` no longer.
        fn notify_pending(
            &self,
            tx: &mut postgres::Transaction,
            node: &str,
            name: &str,
            queue: Option<&str>,
            gone: &str,
        ) {
            let mut m = crate::model::Message::new(
                "http://127.0.0.1:9/".into(),
                crate::model::Delivery {
                    queue_name: queue.map(str::to_owned),
                    ..Default::default()
                },
                Vec::new(),
                0,
                0,
            );
            m.id = self.id(name);
            let changes = [Change::Pending(Box::new(m)), Change::Gone(self.id(gone))];
            for p in encode(node, &changes) {
                tx.execute(&format!("SELECT pg_notify({CHANNEL_SQL}, $1)"), &[&p])
                    .unwrap();
            }
        }

        /// A committed notice: what was committed before it is heard
        /// before it.
        fn fence(&self, name: &str) {
            let mut c = self.db.client();
            let mut tx = c.transaction().unwrap();
            self.notify(&mut tx, "fence", &[name]);
            tx.commit().unwrap();
        }
    }

    #[test]
    fn notices_arrive_at_commit_in_commit_order_and_never_after_a_rollback() {
        let Some(t) = Test::start("notices_arrive_at_commit_in_commit_order") else {
            return;
        };
        let (mut c1, mut c2) = (t.db.client(), t.db.client());
        let mut first = c1.transaction().unwrap();
        let mut second = c2.transaction().unwrap();
        t.notify(&mut first, "node_x", &["1a", "1b"]);
        t.notify(&mut second, "node_y", &["2a"]);
        // Nothing is heard of a transaction still open.
        t.fence("f1");
        assert_eq!(t.next(false), Some(vec![t.id("f1")]));
        // The later sender commits first: its notices come first.
        second.commit().unwrap();
        first.commit().unwrap();
        let mut rolled_back = c1.transaction().unwrap();
        t.notify(&mut rolled_back, "node_x", &["never"]);
        rolled_back.rollback().unwrap();
        t.fence("f2");
        let heard: Vec<Option<Vec<String>>> = (0..4).map(|_| t.next(false)).collect();
        assert_eq!(
            heard,
            [
                Some(vec![t.id("2a")]),
                Some(vec![t.id("1a")]),
                Some(vec![t.id("1b")]),
                Some(vec![t.id("f2")]),
            ]
        );
        t.listener.stop();
    }

    #[test]
    fn its_own_notices_are_skipped_and_unreadable_ones_ask_for_a_re_read() {
        let Some(t) = Test::start("its_own_notices_are_skipped") else {
            return;
        };
        let mut c = t.db.client();
        let mut tx = c.transaction().unwrap();
        t.notify(&mut tx, &t.node, &["mine"]);
        tx.execute(&format!("SELECT pg_notify({CHANNEL_SQL}, 'garbage')"), &[])
            .unwrap();
        t.notify(&mut tx, "other", &["theirs"]);
        tx.commit().unwrap();
        assert_eq!(t.next(true), None, "the garbage asks for a re-read");
        let mut rest = t.next(true);
        while rest.is_none() {
            rest = t.next(true); // other tests' garbage
        }
        assert_eq!(rest, Some(vec![t.id("theirs")]), "its own was skipped");
        t.listener.stop();
    }

    #[test]
    fn of_its_own_notices_only_the_queued_messages_go_on_in_commit_order() {
        let Some(t) = Test::start("of_its_own_notices_only_the_queued") else {
            return;
        };
        let mut c = t.db.client();
        let mut tx = c.transaction().unwrap();
        t.notify_pending(&mut tx, &t.node, "unqueued", None, "mine_gone");
        t.notify_pending(&mut tx, &t.node, "queued", Some("q"), "mine_gone");
        t.notify_pending(&mut tx, "other", "theirs", Some("q"), "theirs_gone");
        tx.commit().unwrap();
        assert_eq!(
            t.next(false),
            Some(vec![format!("own {}", t.id("queued"))]),
            "its own queued message, and nothing else of its own"
        );
        assert_eq!(
            t.next(false),
            Some(vec![t.id("theirs_gone")]),
            "then the other node's notice, whole"
        );
        t.listener.stop();
    }

    #[test]
    fn after_its_connection_is_killed_it_listens_again_and_asks_for_a_re_read() {
        let Some(t) = Test::start("after_its_connection_is_killed") else {
            return;
        };
        let mut c = t.db.client();
        let killed: i64 = c
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1) k",
                &[&format!("cronhook-listen {}", t.node)],
            )
            .unwrap()
            .get(0);
        assert_eq!(killed, 1);
        assert_eq!(t.next(true), None, "reconnected, and asks for a re-read");
        // Other tests' garbage asks for re-reads too: wait until the new
        // connection really listens before the notice that must be heard.
        let until = Instant::now() + WAIT;
        while c
            .query_opt(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
                &[&format!("cronhook-listen {}", t.node)],
            )
            .unwrap()
            .is_none()
        {
            assert!(Instant::now() < until, "listening again in time");
            std::thread::sleep(Duration::from_millis(20));
        }
        t.fence("after");
        assert_eq!(t.next(false), Some(vec![t.id("after")]));
        t.listener.stop();
    }
}
