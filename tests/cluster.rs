//! Several `cronhook serve` nodes on one PostgreSQL database behave as one
//! cronhook: no acknowledged message is lost and no schedule slot fires
//! twice when nodes die by kill -9 or the database restarts under load.
//!
//! PostgreSQL only (`CRONHOOK_TEST_POSTGRES`; without it each test says so
//! and returns). Three real binaries share one schema, one token and one
//! pair of signing keys, each with `--lease 2s` (the leader's lease, design
//! item 5); a real sink on 127.0.0.1 counts deliveries by message id and by
//! schedule and slot. Duplicates of a message are allowed (at-least-once)
//! only for attempts that were in flight when a node died or the database
//! went away, and are reported. The restart test stops and starts the test
//! cluster (`scripts/pg-cluster.sh down|up`, `CRONHOOK_TEST_POSTGRES_DATA`),
//! so `scripts/test.sh` runs this file alone, one test at a time.
//!
//! Times printed (kill to the first delivery after it) are measurements,
//! bounded only generously.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::api::{call, create_schedule};
use common::sink::{Received, Sink};
use common::wait::{now_ms, wait_until};
use common::{ServerOptions, ServerProcess};
use serde_json::Value;

const TOKEN: &str = "cluster-test-token-0123456789";
const CURRENT_KEY: &str = "sig_cluster_current_0123456789";
const NEXT_KEY: &str = "sig_cluster_next_0123456789";
/// The leader's lease: short, so that a takeover happens within the test.
const LEASE: &str = "2s";
/// Each node's bound on attempts in flight: also the most duplicates one
/// disruption may cause.
const MAX_IN_FLIGHT: usize = 32;
const SCHEDULES: usize = 5;
const PUBLISHES: usize = 600;
/// The publish stream's length (PUBLISHES spread evenly over it).
const STREAM: Duration = Duration::from_secs(20);
/// How long after the stream every acknowledged message must have arrived.
const SETTLE: Duration = Duration::from_secs(30);
/// A generous bound on a takeover: kill to the first delivery after it.
const TAKEOVER_BOUND: Duration = Duration::from_secs(60);
/// How long before a disruption a delivered attempt may still have been in
/// flight (delivered, but its outcome not yet committed).
const IN_FLIGHT_WINDOW_MS: i64 = 5_000;

fn node_options() -> ServerOptions {
    ServerOptions::default()
        .env("QSTASH_TOKEN", TOKEN)
        .env("QSTASH_CURRENT_SIGNING_KEY", CURRENT_KEY)
        .env("QSTASH_NEXT_SIGNING_KEY", NEXT_KEY)
        .arg("--lease")
        .arg(LEASE)
        .arg("--max-in-flight")
        .arg(MAX_IN_FLIGHT.to_string())
}

/// Three nodes on the database named by `db` (one schema for all).
fn three_nodes(db: &Path) -> Vec<ServerProcess> {
    (0..3)
        .map(|_| ServerProcess::start_with(db, node_options()))
        .collect()
}

/// The node that holds the lease now, if the lease row tells which: by its
/// `url` (a node's address) or by its node id, which a node names in what it
/// prints.
fn leader(db: &Path, nodes: &[ServerProcess]) -> Option<usize> {
    let row = common::db::row(db, "SELECT node, url FROM cluster_lease WHERE id = 1", &[])?;
    let node = row.text(0);
    if let Some(url) = row.opt_text(1) {
        if let Some(i) = nodes.iter().position(|n| {
            url.contains(&n.addr.to_string())
                || url.trim_end_matches('/') == n.url.trim_end_matches('/')
        }) {
            return Some(i);
        }
    }
    if node.len() < 6 {
        return None;
    }
    nodes
        .iter()
        .position(|n| n.stderr_text().contains(&node) || n.stdout_text().contains(&node))
}

/// A periodic `/v2/publish` to the sink, round-robin over the nodes still
/// alive; records each acknowledged (201) message id.
struct Publisher {
    acked: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<Vec<String>>>,
    done: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Publisher {
    /// `alive[i]` says whether node `i` may be sent to; `addrs[i]` is its
    /// address.
    fn start(
        addrs: Vec<std::net::SocketAddr>,
        alive: Arc<Mutex<Vec<bool>>>,
        destination: String,
    ) -> Publisher {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let (a, r, d) = (acked.clone(), refused.clone(), done.clone());
        let thread = thread::spawn(move || {
            let gap = STREAM / PUBLISHES as u32;
            let start = Instant::now();
            let auth = format!("Bearer {TOKEN}");
            for i in 0..PUBLISHES {
                let due = start + gap * i as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let up: Vec<usize> = {
                    let alive = alive.lock().unwrap();
                    (0..addrs.len()).filter(|&n| alive[n]).collect()
                };
                let node = up[i % up.len()];
                let body = format!("{{\"n\":{i}}}");
                let got = common::request(
                    addrs[node],
                    "POST",
                    &format!("/v2/publish/{destination}"),
                    &[
                        ("Authorization", auth.as_str()),
                        ("Content-Type", "application/json"),
                    ],
                    body.as_bytes(),
                );
                match got {
                    Ok((201, text)) => {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        a.lock()
                            .unwrap()
                            .push(v["messageId"].as_str().unwrap().to_owned());
                    }
                    // Not acknowledged (a node dying, the database away):
                    // the client would retry; nothing is owed.
                    Ok((status, text)) => r.lock().unwrap().push(format!("{status} {text}")),
                    Err(e) => r.lock().unwrap().push(format!("error {e}")),
                }
            }
            d.store(true, Ordering::SeqCst);
        });
        Publisher {
            acked,
            refused,
            done,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> usize {
        self.acked.lock().unwrap().len() + self.refused.lock().unwrap().len()
    }

    /// Waits for the stream to end; the acknowledged ids and the refusals.
    fn finish(mut self) -> (Vec<String>, Vec<String>) {
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("publisher thread");
        assert!(self.done.load(Ordering::SeqCst));
        let acked = self.acked.lock().unwrap().clone();
        let refused = self.refused.lock().unwrap().clone();
        (acked, refused)
    }
}

fn header(r: &Received, name: &str) -> String {
    r.header(name)
        .unwrap_or_else(|| panic!("a delivery without {name}: {:?}", r.headers))
        .to_owned()
}

/// A time span in which attempts may have been cut: from
/// `IN_FLIGHT_WINDOW_MS` before `from` to `to`.
#[derive(Clone, Copy, Debug)]
struct Disruption {
    what: &'static str,
    from: i64,
    to: i64,
}

impl Disruption {
    fn covers(&self, at_ms: i64) -> bool {
        at_ms >= self.from - IN_FLIGHT_WINDOW_MS && at_ms <= self.to
    }
}

/// The counts both tests assert: nothing acknowledged is lost, no slot
/// fires twice, a message is delivered twice only if an attempt of it was
/// in flight at a disruption, and at most `MAX_IN_FLIGHT` such per
/// disruption.
fn assert_counts(sink: &Sink, acked: &[String], disruptions: &[Disruption]) {
    for d in disruptions {
        println!(
            "disruption: {} from {} to {} (Unix ms)",
            d.what, d.from, d.to
        );
    }
    // Deliveries of published messages, by message id.
    let mut by_id: HashMap<String, Vec<i64>> = HashMap::new();
    for r in sink.received("/m") {
        by_id
            .entry(header(&r, "Upstash-Message-Id"))
            .or_default()
            .push(r.at_ms);
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !by_id.contains_key(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages were never delivered: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
    let acked_set: HashSet<&String> = acked.iter().collect();
    let mut duplicates = 0;
    for (id, times) in &by_id {
        if times.len() < 2 {
            continue;
        }
        // A message the publisher saw refused may still have been stored
        // (the node died after the commit, before answering): it is
        // delivered, maybe more than once, and owed nothing; count it too.
        duplicates += times.len() - 1;
        let first = *times.iter().min().unwrap();
        assert!(
            disruptions.iter().any(|d| d.covers(first)),
            "message {id} (acknowledged: {}) was delivered {} times, first at {first}, \
             not in flight at any disruption {disruptions:?}",
            acked_set.contains(id),
            times.len()
        );
    }
    assert!(
        duplicates <= MAX_IN_FLIGHT * disruptions.len().max(1),
        "{duplicates} duplicate deliveries for {} disruptions",
        disruptions.len()
    );

    // Schedule slots: each (schedule, slot) fired once, as one message. Its
    // attempt may be repeated (same message id) like any message's.
    let mut slots: BTreeMap<(String, String), HashSet<String>> = BTreeMap::new();
    let mut slot_deliveries = 0;
    for r in sink.received("/s") {
        slot_deliveries += 1;
        slots
            .entry((
                header(&r, "Upstash-Schedule-Id"),
                header(&r, "Cronhook-Slot-Time"),
            ))
            .or_default()
            .insert(header(&r, "Upstash-Message-Id"));
    }
    let twice: Vec<_> = slots.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "schedule slots fired more than once: {twice:?}"
    );
    assert!(
        slots.len() >= SCHEDULES,
        "the schedules fired only {} slots",
        slots.len()
    );
    println!(
        "{} acknowledged, {} delivered ids, {duplicates} duplicate deliveries; \
         {} slots fired ({slot_deliveries} deliveries), none twice",
        acked.len(),
        by_id.len(),
        slots.len()
    );
}

/// Creates the seconds schedules (through node 0).
fn create_schedules(node: &ServerProcess, sink: &Sink) {
    for _ in 0..SCHEDULES {
        create_schedule(
            node,
            &sink.url("/s"),
            &[
                ("Upstash-Cron", "*/1 * * * * *"),
                ("Cronhook-Cron-Seconds", "true"),
            ],
            b"",
        );
    }
}

/// Waits (bounded by `SETTLE`) until every id in `acked` reached `/m`; on
/// a timeout returns anyway, and `assert_counts` names what is missing.
fn wait_all_delivered(sink: &Sink, acked: &[String]) {
    let want: HashSet<&str> = acked.iter().map(String::as_str).collect();
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        let got: HashSet<String> = sink
            .received("/m")
            .iter()
            .filter_map(|r| r.header("Upstash-Message-Id").map(str::to_owned))
            .collect();
        if want.iter().all(|id| got.contains(*id)) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The first delivery (to any path) after `after` (Unix ms), waiting for it
/// up to `TAKEOVER_BOUND`; its time.
fn first_delivery_after(sink: &Sink, after: i64) -> i64 {
    wait_until(TAKEOVER_BOUND, "a delivery after the kill", || {
        ["/m", "/s"]
            .iter()
            .flat_map(|p| sink.received(p))
            .map(|r| r.at_ms)
            .filter(|&t| t > after)
            .min()
    })
}

/// What both tests run under: three nodes on a fresh database, the
/// seconds schedules, and the publish stream through every node alive.
struct Load {
    _dir: tempfile::TempDir,
    db: PathBuf,
    nodes: Vec<ServerProcess>,
    sink: Sink,
    /// Which nodes the publisher may send to.
    alive: Arc<Mutex<Vec<bool>>>,
    publisher: Publisher,
}

impl Load {
    fn start() -> Load {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cluster.db");
        let nodes = three_nodes(&db);
        let sink = Sink::start();
        create_schedules(&nodes[0], &sink);
        let alive = Arc::new(Mutex::new(vec![true; nodes.len()]));
        let publisher = Publisher::start(
            nodes.iter().map(|n| n.addr).collect(),
            alive.clone(),
            sink.url("/m"),
        );
        Load {
            _dir: dir,
            db,
            nodes,
            sink,
            alive,
            publisher,
        }
    }
}

#[test]
fn three_nodes_lose_nothing_and_fire_each_slot_once_across_two_kill_9s() {
    if common::skip_on_sqlite("several nodes share a PostgreSQL database") {
        return;
    }
    let Load {
        _dir,
        db,
        mut nodes,
        sink,
        alive,
        publisher,
    } = Load::start();
    let mut disruptions = Vec::new();
    let mut takeovers = Vec::new();
    // Kill at a third and at two thirds of the stream: the leader when the
    // lease row names it (else the next node still alive).
    for (k, at) in [PUBLISHES / 3, 2 * PUBLISHES / 3].into_iter().enumerate() {
        wait_until(STREAM * 2, "the publish stream to reach the kill", || {
            (publisher.sent() >= at).then_some(())
        });
        // Unknown leader: the first node alive, the earliest started, which
        // is the likeliest to have taken the lease first.
        let known = leader(&db, &nodes).filter(|&i| alive.lock().unwrap()[i]);
        let victim = known.unwrap_or_else(|| {
            let i = (0..nodes.len())
                .find(|&i| alive.lock().unwrap()[i])
                .unwrap();
            println!(
                "kill {}: the lease row names no node; killing node {i}",
                k + 1
            );
            i
        });
        alive.lock().unwrap()[victim] = false;
        nodes[victim].kill9();
        let killed = now_ms();
        disruptions.push(Disruption {
            what: "kill -9",
            from: killed,
            to: killed,
        });
        let first = first_delivery_after(&sink, killed);
        let took = Duration::from_millis((first - killed) as u64);
        println!(
            "kill {} (node {victim}, pid {}, {}): first delivery after it {took:?} later",
            k + 1,
            nodes[victim].pid,
            if known.is_some() {
                "the leader: a survivor took the lease once it expired"
            } else {
                "maybe a follower"
            }
        );
        takeovers.push(took);
    }
    let (acked, refused) = publisher.finish();
    println!(
        "{} publishes acknowledged, {} refused or cut: {:?}",
        acked.len(),
        refused.len(),
        &refused[..refused.len().min(5)]
    );
    assert!(
        acked.len() >= PUBLISHES * 9 / 10,
        "only {} of {PUBLISHES} publishes were acknowledged: {refused:?}",
        acked.len()
    );
    wait_all_delivered(&sink, &acked);
    assert_counts(&sink, &acked, &disruptions);
    for t in takeovers {
        assert!(t <= TAKEOVER_BOUND, "a takeover took {t:?}");
    }
    drop(nodes);
}

/// Stops the test cluster; starts it again when dropped (also when the test
/// fails half-way), so the tests after this one have their database.
struct DatabaseDown {
    cluster: PathBuf,
    up: bool,
}

fn pg_cluster(verb: &str, cluster: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(verb).arg(cluster);
    let (status, out, err) = common::run_with_timeout(cmd, Duration::from_secs(90));
    assert!(
        matches!(status, Some(s) if s.success()),
        "pg-cluster.sh {verb} {}: {status:?}\n{out}\n{err}",
        cluster.display()
    );
}

impl DatabaseDown {
    fn stop(cluster: PathBuf) -> DatabaseDown {
        pg_cluster("down", &cluster);
        DatabaseDown { cluster, up: false }
    }

    fn start(&mut self) {
        if !self.up {
            pg_cluster("up", &self.cluster);
            self.up = true;
        }
    }
}

impl Drop for DatabaseDown {
    fn drop(&mut self) {
        if !self.up {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.start()));
        }
    }
}

#[test]
fn a_database_restart_under_load_loses_nothing_and_healthz_says_503_meanwhile() {
    if common::skip_on_sqlite("restarts the PostgreSQL test cluster") {
        return;
    }
    let Some(data) = std::env::var_os(common::backend::DATA_ENV) else {
        println!(
            "skipped: {} is not set (scripts/pg-cluster.sh env DIR prints it)",
            common::backend::DATA_ENV
        );
        return;
    };
    let cluster = Path::new(&data)
        .parent()
        .expect("the data folder is inside the cluster's folder")
        .to_path_buf();
    let Load {
        _dir,
        nodes,
        sink,
        publisher,
        ..
    } = Load::start();
    wait_until(
        STREAM * 2,
        "the publish stream to reach the restart",
        || (publisher.sent() >= PUBLISHES / 3).then_some(()),
    );
    let down_at = now_ms();
    let mut down = DatabaseDown::stop(cluster);
    // While the database is away a node cannot write: /healthz says 503.
    let unhealthy = wait_until(
        Duration::from_secs(20),
        "a /healthz answering 503 while the database is down",
        || {
            nodes
                .iter()
                .enumerate()
                .find_map(|(i, n)| matches!(n.get("/healthz"), Ok((503, _))).then_some(i))
        },
    );
    println!(
        "node {unhealthy}: /healthz 503 {} ms after the database stopped",
        now_ms() - down_at
    );
    down.start();
    let up_at = now_ms();
    // Every node is healthy again once it reconnected.
    for (i, n) in nodes.iter().enumerate() {
        wait_until(TAKEOVER_BOUND, &format!("node {i} healthy again"), || {
            matches!(n.get("/healthz"), Ok((200, _))).then_some(())
        });
    }
    let first = first_delivery_after(&sink, up_at);
    println!(
        "database down {} ms; first delivery {} ms after it came back",
        up_at - down_at,
        first - up_at
    );
    let (acked, refused) = publisher.finish();
    println!(
        "{} publishes acknowledged, {} refused while the database was away",
        acked.len(),
        refused.len()
    );
    assert!(
        acked.len() >= PUBLISHES / 2,
        "only {} of {PUBLISHES} publishes were acknowledged: {:?}",
        acked.len(),
        &refused[..refused.len().min(5)]
    );
    wait_all_delivered(&sink, &acked);
    // Cut attempts are repeated by the node that leads after the restart;
    // count an outage until the lease after it could have been taken.
    assert_counts(
        &sink,
        &acked,
        &[Disruption {
            what: "database restart",
            from: down_at,
            to: now_ms().min(up_at + 30_000),
        }],
    );
    // Every node still answers the API on the same database.
    for n in &nodes {
        let (status, _) = call(n, "GET", "/v2/schedules", &[], b"");
        assert_eq!(status, 200);
    }
}
