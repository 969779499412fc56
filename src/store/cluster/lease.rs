//! Leader election by a lease (`cluster_lease`, one row).
//!
//! Exactly one node at a time runs the engine: the queue gate's order, the
//! flow-control permits and the timer are in memory and rest on one owner
//! (see ARCHITECTURE.md, "Several nodes"). The lease row says who that is
//! until when, by the database's clock, so the nodes' clocks do not matter.
//!
//! A [`Lease`] runs two threads. The worker holds its own connection and,
//! every `lease / 3`, takes or renews the lease with one compare-and-set
//! (the row is free when it expired or is already this node's), then
//! records the node in `cluster_nodes`. The watchdog steps down on its own
//! when no renewal succeeded before `expires_at - margin` by this process's
//! monotonic clock, even while the worker is stuck in a call to a dead
//! network: the leader gives up before any other node can take over, so
//! two engines never run for long at once (and the database still decides
//! each schedule slot, see `fire_schedule`). Transitions reach the caller's
//! callback in order: `Leader { term }`, then `Lost`, then perhaps a later
//! term. On [`Lease::stop`] the lease is released, so a follower takes over
//! at once instead of after expiry.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{connect, db_now_ms, Backoff, DB_NOW_MS};

/// What the lease needs.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The database (`postgres://…`).
    pub db_url: String,
    /// This process's node id (random per start, `ids::node_id`).
    pub node: String,
    /// Where other nodes and operators reach this node's API (`--node-url`).
    pub node_url: Option<String>,
    /// How long a taken or renewed lease lasts (`--lease`).
    pub lease: Duration,
}

impl LeaseSettings {
    /// How often the lease is renewed (or, by a follower, tried).
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// How long before the lease's end the leader gives up unrenewed: its
    /// engine must be stopped before another node may take over.
    pub fn margin(&self) -> Duration {
        self.lease / 5
    }
}

/// A change of this node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// This node leads from now on, in term `term` (terms only grow).
    Leader { term: i64 },
    /// It no longer does (not renewed in time, taken over, or stopped).
    Lost,
}

type Callback = Box<dyn Fn(Transition) + Send + Sync>;

struct Shared {
    settings: LeaseSettings,
    state: Mutex<State>,
    changed: Condvar,
    on: Callback,
}

#[derive(Default)]
struct State {
    /// The term led, and until when (monotonic, less the margin).
    leading: Option<(i64, Instant)>,
    stopping: bool,
    /// Rounds tried so far (taken, renewed, refused or failed).
    rounds: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `until` or a stop; true when stopping.
    fn sleep_until(&self, until: Instant) -> bool {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The outcome of a take-or-renew sent at `sent`: `Some(term)` when
    /// the row is this node's now.
    fn taken(&self, got: Option<i64>, sent: Instant) {
        let mut st = self.lock();
        if st.stopping {
            return;
        }
        match got {
            Some(term) => {
                let until = sent + self.settings.lease - self.settings.margin();
                if Instant::now() >= until {
                    return; // too slow to count: the watchdog decides
                }
                match st.leading {
                    Some((led, _)) if led == term => {}
                    Some(_) => {
                        (self.on)(Transition::Lost);
                        (self.on)(Transition::Leader { term });
                    }
                    None => {
                        tracing::info!(node = %self.settings.node, term, "cluster: this node leads");
                        (self.on)(Transition::Leader { term });
                    }
                }
                st.leading = Some((term, until));
            }
            None => {
                if st.leading.take().is_some() {
                    tracing::error!(
                        node = %self.settings.node,
                        "cluster: another node holds the lease this node still led; stepping down"
                    );
                    (self.on)(Transition::Lost);
                }
            }
        }
        self.changed.notify_all();
    }
}

/// A running lease; see the module's doc.
pub struct Lease {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Lease {
    /// Starts taking part in the election. `on` is called with every
    /// transition, in order, from the lease's threads: it must be quick
    /// (send on a channel).
    pub fn start(
        settings: LeaseSettings,
        on: impl Fn(Transition) + Send + Sync + 'static,
    ) -> std::io::Result<Lease> {
        tracing::info!(node = %settings.node, lease_ms = settings.lease.as_millis() as u64, "cluster: joining the leader election");
        let shared = Arc::new(Shared {
            settings,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            on: Box::new(on),
        });
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("cronhook-lease".into())
                .spawn(move || work(&shared))?
        };
        let watchdog = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("cronhook-lease-watch".into())
                .spawn(move || watch(&shared))?
        };
        Ok(Lease {
            shared,
            threads: vec![worker, watchdog],
        })
    }

    /// How many rounds the election has had on this node: after the first,
    /// `term` says whether this node won it.
    pub fn rounds(&self) -> u64 {
        self.shared.lock().rounds
    }

    /// Whether this node leads now, and in which term.
    pub fn term(&self) -> Option<i64> {
        self.shared.lock().leading.map(|(term, _)| term)
    }

    /// Leaves the election: releases the lease if this node holds it (so
    /// another node takes over at once), forgets this node in
    /// `cluster_nodes`, and reports `Lost` if it led. Call it after this
    /// node's engine stopped. Blocking (up to about one statement timeout).
    pub fn stop(mut self) {
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.lock().stopping = true;
            self.shared.changed.notify_all();
        }
    }
}

/// Takes the lease, or renews it: one statement, decided by the database.
/// Free when it expired or is this node's; the term grows whenever the
/// lease changes hands (or this node takes it again after stepping down).
fn take_or_renew(
    client: &mut postgres::Client,
    s: &LeaseSettings,
    renewing: bool,
) -> Result<Option<i64>, postgres::Error> {
    let sql = format!(
        "WITH now AS (SELECT {DB_NOW_MS} AS ms) \
         INSERT INTO cluster_lease AS l (id, node, term, expires_at, url) \
         SELECT 1, $1, 1, ms + $2, $3 FROM now \
         ON CONFLICT (id) DO UPDATE SET \
           term = CASE WHEN l.node = EXCLUDED.node AND $4 THEN l.term ELSE l.term + 1 END, \
           node = EXCLUDED.node, expires_at = EXCLUDED.expires_at, url = EXCLUDED.url \
         WHERE l.node = EXCLUDED.node OR l.expires_at < (SELECT ms FROM now) \
         RETURNING l.term"
    );
    let lease_ms = s.lease.as_millis() as i64;
    let row = client.query_opt(&sql, &[&s.node, &lease_ms, &s.node_url, &renewing])?;
    Ok(row.map(|r| r.get(0)))
}

/// Records this node as alive in `cluster_nodes`.
fn seen(client: &mut postgres::Client, s: &LeaseSettings) -> Result<(), postgres::Error> {
    let sql = format!(
        "INSERT INTO cluster_nodes (node, url, started_at, seen_at) \
         VALUES ($1, $2, {DB_NOW_MS}, {DB_NOW_MS}) \
         ON CONFLICT (node) DO UPDATE SET url = EXCLUDED.url, seen_at = EXCLUDED.seen_at"
    );
    client.execute(&sql, &[&s.node, &s.node_url])?;
    Ok(())
}

/// A node as `cluster_nodes` lists it, for the console and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node: String,
    pub url: Option<String>,
    /// Database clock, ms since the epoch.
    pub started_at: i64,
    pub seen_at: i64,
    /// Whether it holds an unexpired lease now.
    pub leader: bool,
}

/// Every listed node, oldest first, with whether it holds the lease now
/// (its expiry against the database's clock): the store's `cluster_nodes`
/// runs it for the API. A node renews its row with the lease (every
/// `lease / 3`): a `seen_at` much older than that is a node that died (a
/// clean stop removes its row).
pub const NODES_SQL: &str = concat!(
    "SELECT n.node, n.url, n.started_at, n.seen_at, \
     EXISTS (SELECT 1 FROM cluster_lease l WHERE l.node = n.node AND l.expires_at >= ",
    db_now_ms!(),
    ") FROM cluster_nodes n ORDER BY n.started_at, n.node"
);

/// Whether some node holds an unexpired lease: a cronhook serves the
/// database (`cronhook migrate` refuses such a target).
pub const SERVED_SQL: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM cluster_lease WHERE expires_at > ",
    db_now_ms!(),
    ")"
);

/// Gives the lease up (it expires now) and forgets this node.
fn release(client: &mut postgres::Client, s: &LeaseSettings) -> Result<(), postgres::Error> {
    client.execute(
        "UPDATE cluster_lease SET expires_at = 0 WHERE id = 1 AND node = $1",
        &[&s.node],
    )?;
    client.execute("DELETE FROM cluster_nodes WHERE node = $1", &[&s.node])?;
    Ok(())
}

/// The worker: take or renew every `renew_every`, reconnecting with backoff.
fn work(shared: &Shared) {
    let s = &shared.settings;
    let every = s.renew_every();
    let mut backoff = Backoff::new(Duration::from_millis(50), every);
    let mut conn: Option<postgres::Client> = None;
    loop {
        let round = Instant::now();
        if shared.lock().stopping {
            break;
        }
        let client = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&s.db_url, every, &format!("cronhook-lease {}", s.node)) {
                Ok(c) => {
                    backoff.reset();
                    conn.insert(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: cannot reach the database for the lease; trying again");
                    if shared.sleep_until(round + backoff.next()) {
                        break;
                    }
                    continue;
                }
            },
        };
        let renewing = shared.lock().leading.is_some();
        let outcome = take_or_renew(client, s, renewing).and_then(|got| {
            // Reported before the node list is written: a renewal counts
            // even if the second statement fails.
            shared.taken(got, round);
            seen(client, s)
        });
        shared.lock().rounds += 1;
        match outcome {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cluster: renewing the lease failed; reconnecting");
                conn = None;
                if shared.sleep_until(round + backoff.next()) {
                    break;
                }
                continue;
            }
        }
        if shared.sleep_until(round + every) {
            break;
        }
    }
    // Leaving: hand the lease over at once, if the database can be reached.
    let client = match conn {
        Some(c) => Some(c),
        None => connect(&s.db_url, every, &format!("cronhook-lease {}", s.node)).ok(),
    };
    if let Some(mut c) = client {
        match release(&mut c, s) {
            Ok(()) => tracing::info!(node = %s.node, "cluster: lease released"),
            Err(e) => {
                tracing::warn!(error = %e, "cluster: releasing the lease failed; it expires on its own")
            }
        }
    }
    if shared.lock().leading.take().is_some() {
        (shared.on)(Transition::Lost);
    }
}

/// The watchdog: steps down when the lease was not renewed in time.
fn watch(shared: &Shared) {
    let mut st = shared.lock();
    loop {
        if st.stopping {
            return;
        }
        let wait = match st.leading {
            Some((_, until)) => {
                let now = Instant::now();
                if now >= until {
                    st.leading = None;
                    tracing::warn!(
                        node = %shared.settings.node,
                        "cluster: the lease could not be renewed in time; stepping down"
                    );
                    (shared.on)(Transition::Lost);
                    continue;
                }
                until - now
            }
            None => Duration::from_secs(3600),
        };
        st = shared
            .changed
            .wait_timeout(st, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cluster::TestDb;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    const LEASE: Duration = Duration::from_millis(1500);
    /// Bounds every wait for a transition.
    const WAIT: Duration = Duration::from_secs(15);

    fn settings(db: &str, node: &str) -> LeaseSettings {
        LeaseSettings {
            db_url: db.into(),
            node: node.into(),
            node_url: Some(format!("http://{node}.example:8080")),
            lease: LEASE,
        }
    }

    /// Node ids unique to the test's schema: tests run at once on one
    /// cluster, and find their connections by node id.
    fn node(db: &TestDb, name: &str) -> String {
        format!("{name}_{}", db.schema)
    }

    fn start(db: &str, node: &str) -> (Lease, mpsc::Receiver<Transition>) {
        start_with(db, node, LEASE)
    }

    fn start_with(db: &str, node: &str, lease: Duration) -> (Lease, mpsc::Receiver<Transition>) {
        let (tx, rx) = mpsc::channel();
        let settings = LeaseSettings {
            lease,
            ..settings(db, node)
        };
        let lease = Lease::start(settings, move |t| {
            let _ = tx.send(t);
        })
        .unwrap();
        (lease, rx)
    }

    fn next(rx: &mpsc::Receiver<Transition>) -> Transition {
        rx.recv_timeout(WAIT).expect("a transition in time")
    }

    fn term_of(t: Transition) -> i64 {
        match t {
            Transition::Leader { term } => term,
            Transition::Lost => panic!("expected to lead, lost"),
        }
    }

    /// A TCP relay to the database that the test can cut: then it drops
    /// every connection and refuses new ones, as a lost network would.
    struct Relay {
        port: u16,
        cut: Arc<AtomicBool>,
        open: Arc<Mutex<Vec<TcpStream>>>,
    }

    impl Relay {
        fn to(db_url: &str) -> Relay {
            let config: postgres::Config = db_url.parse().unwrap();
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let relay = Relay {
                port: listener.local_addr().unwrap().port(),
                cut: Arc::default(),
                open: Arc::default(),
            };
            let (cut, open) = (relay.cut.clone(), relay.open.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { return };
                    if cut.load(Ordering::SeqCst) {
                        continue; // dropped: refused
                    }
                    let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    let mut open = open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server, client),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            });
            relay
        }

        /// `db_url` through this relay.
        fn url(&self, db_url: &str) -> String {
            let rest = db_url.split_once('@').map_or(db_url, |(_, r)| r);
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            let user = db_url
                .strip_prefix("postgres://")
                .or_else(|| db_url.strip_prefix("postgresql://"))
                .and_then(|u| u.split_once('@'))
                .map_or("postgres", |(u, _)| u);
            format!("postgres://{user}@127.0.0.1:{}{path}", self.port)
        }

        fn cut(&self) {
            self.cut.store(true, Ordering::SeqCst);
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    #[test]
    fn of_two_nodes_exactly_one_leads() {
        let Some(db) = TestDb::new("of_two_nodes_exactly_one_leads") else {
            return;
        };
        let (a, a_rx) = start(&db.url, &node(&db, "a"));
        let (b, b_rx) = start(&db.url, &node(&db, "b"));
        // Several renewal rounds: whoever led first still leads, alone.
        let (leader, follower) = match a_rx.recv_timeout(WAIT) {
            Ok(t) => (term_of(t), &b_rx),
            Err(_) => (term_of(next(&b_rx)), &a_rx),
        };
        std::thread::sleep(LEASE * 2);
        assert!(follower.try_recv().is_err(), "the other node never led");
        assert_eq!(
            [a.term(), b.term()].iter().flatten().collect::<Vec<_>>(),
            [&leader],
            "exactly one node holds the term"
        );
        let mut c = db.client();
        let listed: Vec<(String, bool)> = c
            .query(NODES_SQL, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(4)))
            .collect();
        assert_eq!(listed.len(), 2, "both nodes are listed: {listed:?}");
        assert_eq!(
            listed.iter().filter(|(_, leader)| *leader).count(),
            1,
            "one of them as the leader: {listed:?}"
        );
        let url: Option<String> = c
            .query_one("SELECT url FROM cluster_lease", &[])
            .unwrap()
            .get(0);
        assert!(url.unwrap().ends_with(".example:8080"));
        a.stop();
        b.stop();
    }

    /// `name`'s row in `cluster_nodes` appears (it tried the lease once).
    fn wait_listed(db: &TestDb, name: &str) {
        let mut c = db.client();
        let until = Instant::now() + WAIT;
        while c
            .query_opt("SELECT 1 FROM cluster_nodes WHERE node = $1", &[&name])
            .unwrap()
            .is_none()
        {
            assert!(Instant::now() < until, "{name} listed in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_clean_stop_hands_the_lease_over_at_once() {
        let Some(db) = TestDb::new("a_clean_stop_hands_the_lease_over_at_once") else {
            return;
        };
        // A long lease: "at once" is well before it would have expired.
        let lease = Duration::from_secs(6);
        let (a, a_rx) = start_with(&db.url, &node(&db, "a"), lease);
        let first = term_of(next(&a_rx));
        let (b, b_rx) = start_with(&db.url, &node(&db, "b"), lease);
        wait_listed(&db, &node(&db, "b"));
        let mut c = db.client();
        let a_until: i64 = c
            .query_one("SELECT expires_at FROM cluster_lease", &[])
            .unwrap()
            .get(0);
        a.stop();
        assert_eq!(next(&a_rx), Transition::Lost);
        let second = term_of(next(&b_rx));
        assert!(second > first, "a new term: {first} then {second}");
        let (holder, b_took): (String, i64) = c
            .query_one(
                "SELECT node, expires_at - $1 FROM cluster_lease",
                &[&(lease.as_millis() as i64)],
            )
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!(holder, node(&db, "b"));
        assert!(
            b_took < a_until,
            "b took over (at {b_took}, database clock) before a's lease would have expired ({a_until})"
        );
        let left: i64 = c
            .query_one(
                "SELECT count(*) FROM cluster_nodes WHERE node = $1",
                &[&node(&db, "a")],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "a stopped node is no longer listed");
        b.stop();
    }

    #[test]
    fn a_leader_that_loses_the_database_steps_down_and_the_other_takes_over() {
        let Some(db) = TestDb::new("a_leader_that_loses_the_database_steps_down") else {
            return;
        };
        let relay = Relay::to(&db.url);
        let through = relay.url(&db.url);
        let (a, a_rx) = start(&through, &node(&db, "a"));
        let first = term_of(next(&a_rx));
        let (b, b_rx) = start(&db.url, &node(&db, "b"));
        relay.cut();
        assert_eq!(next(&a_rx), Transition::Lost, "a steps down on its own");
        // At that moment the row is still a's, unexpired by the database's
        // clock: a gave up before any other node could take over.
        let (holder, unexpired): (String, bool) = db
            .client()
            .query_one(
                &format!("SELECT node, expires_at > {DB_NOW_MS} FROM cluster_lease"),
                &[],
            )
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!((holder, unexpired), (node(&db, "a"), true));
        let second = term_of(next(&b_rx));
        assert!(second > first, "b leads after the expiry, in a new term");
        a.stop();
        b.stop();
    }

    #[test]
    fn a_killed_connection_is_reopened_and_the_leader_keeps_its_term() {
        let Some(db) = TestDb::new("a_killed_connection_is_reopened") else {
            return;
        };
        let (a, a_rx) = start(&db.url, &node(&db, "a"));
        let term = term_of(next(&a_rx));
        let mut c = db.client();
        let killed: i64 = c
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1) k",
                &[&format!("cronhook-lease {}", node(&db, "a"))],
            )
            .unwrap()
            .get(0);
        assert!(killed >= 1);
        // Two lease lengths: renewals went on over a new connection.
        std::thread::sleep(LEASE * 2);
        assert!(a_rx.try_recv().is_err(), "no step-down for a blip");
        assert_eq!(a.term(), Some(term));
        a.stop();
    }
}
