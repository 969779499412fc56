//! Leadership terms, driven by hand on SQLite: each term's engine delivers,
//! a node that lost its term attempts nothing, and other nodes' changes
//! (notices, catch-up) reach the leader's engine.

use std::sync::Mutex;

use super::*;
use crate::clock::SystemClock;
use crate::model::{Delivery, Message, Millis};
use crate::store::{KeySource, NewMessage, Pending, SyncMode};

/// Bounds every wait.
const WAIT: Duration = Duration::from_secs(10);

/// A destination on 127.0.0.1 recording the paths it was asked for;
/// `/slow` answers only after a minute.
struct Sink {
    base: String,
    got: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    async fn start() -> Sink {
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = got.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(uri.path().to_owned());
                if uri.path() == "/slow" {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Sink { base, got }
    }

    fn count(&self, path: &str) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    async fn wait_for(&self, path: &str, n: usize) {
        let until = Instant::now() + WAIT;
        while self.count(path) < n {
            assert!(Instant::now() < until, "{path}: {n} requests in time");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

struct Fixture {
    store: Store,
    parts: EngineParts,
    /// `None` where the test runs a `Node` itself.
    terms: Option<Terms>,
    sink: Sink,
    _dir: tempfile::TempDir,
}

async fn fixture(catch_up: Duration) -> Fixture {
    let mut f = bare().await;
    f.terms = Some(Terms::start(f.parts.clone(), catch_up));
    f
}

/// A store, a sink and what starts an engine; no terms.
async fn bare() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &crate::store::DbTarget::Sqlite(dir.path().join("t.db")),
        SyncMode::Normal,
    )
    .unwrap();
    let (keys, _) = store.signing_keys(KeySource::Generated).await.unwrap();
    let parts = EngineParts {
        store: store.clone(),
        settings: engine::Settings::default(),
        keys: Arc::new(RwLock::new(keys)),
        clock: Arc::new(SystemClock),
    };
    Fixture {
        store,
        parts,
        terms: None,
        sink: Sink::start().await,
        _dir: dir,
    }
}

/// A commit listener that arms nothing: what a write on another node is
/// to this node's engine.
struct Elsewhere;

impl CommitListener for Elsewhere {
    fn committed(&self, _: Vec<Change>) {}
}

impl Fixture {
    fn now() -> Millis {
        SystemClock.now_ms()
    }

    /// Publishes a message to `path`, due now; returns its pending row.
    async fn publish(&self, path: &str) -> Pending {
        self.publish_at(path, Self::now()).await
    }

    /// Publishes a message to `path`, due at `due`.
    async fn publish_at(&self, path: &str, due: Millis) -> Pending {
        let now = Self::now();
        let m = Message::new(
            format!("{}{path}", self.sink.base),
            Delivery::default(),
            b"x".to_vec(),
            now,
            due,
        );
        let row = Pending {
            id: m.id.clone(),
            url: m.url.clone(),
            due_at: m.due_at,
            queue: None,
            flow: None,
        };
        let item = NewMessage {
            message: m,
            dedup_keys: Vec::new(),
            group: None,
        };
        self.store.publish(vec![item], now + 600_000).await.unwrap();
        row
    }

    /// Publishes as another node would: this node's engine is not told.
    async fn publish_elsewhere(&self, path: &str) -> Pending {
        self.store.set_listener(Arc::new(Elsewhere));
        self.publish(path).await
    }

    async fn lead(&self, term: i64) {
        self.terms().events().send(TermEvent::Leader { term });
        self.wait_running(true).await;
    }

    async fn lose(&self) {
        self.terms().events().send(TermEvent::Lost);
        self.wait_running(false).await;
    }

    async fn wait_running(&self, running: bool) {
        let until = Instant::now() + WAIT;
        while self.terms().handle().running() != running {
            assert!(Instant::now() < until, "engine running: {running}, in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn pending(&self, id: &str) -> bool {
        self.store.message(id).await.unwrap().is_some()
    }

    fn terms(&self) -> &Terms {
        self.terms.as_ref().expect("terms")
    }

    async fn stop(self) {
        if let Some(terms) = self.terms {
            terms
                .shutdown(
                    Instant::now() + Duration::from_secs(2),
                    Duration::from_secs(2),
                )
                .await;
        }
        self.store.close(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terms_in_a_row_both_deliver() {
    let f = fixture(Duration::from_secs(60)).await;
    f.lead(1).await;
    let first = f.publish("/first").await;
    f.sink.wait_for("/first", 1).await;
    // Its outcome committed: a term lost before that would repeat it
    // (at-least-once), which is not what this test is about.
    let until = Instant::now() + WAIT;
    while f.pending(&first.id).await {
        assert!(
            Instant::now() < until,
            "the first delivery recorded in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f.lose().await;
    f.lead(2).await;
    f.publish("/second").await;
    f.sink.wait_for("/second", 1).await;
    assert_eq!(f.sink.count("/first"), 1, "the first term's message once");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_term_is_lost_nothing_is_attempted_until_the_next_one() {
    let f = fixture(Duration::from_millis(50)).await;
    f.lead(1).await;
    // Armed in the first term's timer, due after it ends (a second leaves
    // room for a slow `lose`).
    let armed = f.publish_at("/armed", Fixture::now() + 1_000).await;
    f.lose().await;
    let row = f.publish("/later").await;
    // Past its due time, and many catch-up periods: a node without a term
    // does not look.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(f.sink.count("/later"), 0, "no attempt without a term");
    assert_eq!(
        f.sink.count("/armed"),
        0,
        "the lost term's timer is stopped"
    );
    assert!(f.pending(&row.id).await, "still pending");
    assert!(f.pending(&armed.id).await, "still pending");
    f.lead(2).await;
    f.sink.wait_for("/later", 1).await;
    f.sink.wait_for("/armed", 1).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_cut_by_the_lost_term_is_made_again_by_the_next() {
    let f = fixture(Duration::from_secs(60)).await;
    f.lead(1).await;
    let row = f.publish("/slow").await;
    f.sink.wait_for("/slow", 1).await;
    f.lose().await;
    assert!(f.pending(&row.id).await, "the cut attempt stays pending");
    f.lead(2).await;
    f.sink.wait_for("/slow", 2).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_lost_during_the_shutdown_grace_cuts_the_attempts_at_once() {
    let mut f = fixture(Duration::from_secs(60)).await;
    f.lead(1).await;
    let row = f.publish("/slow").await;
    f.sink.wait_for("/slow", 1).await;
    let terms = f.terms.take().unwrap();
    let events = terms.events();
    let started = Instant::now();
    let shutdown = tokio::spawn(terms.shutdown(
        Instant::now() + Duration::from_secs(30),
        Duration::from_secs(1),
    ));
    // Queued after the shutdown (see `Terms::shutdown`): it arrives during
    // the grace, not as an ordinary lost term before it.
    events.send(TermEvent::Lost);
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("the shutdown ends soon after the lease is lost, not at its deadline")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(f.pending(&row.id).await, "the cut attempt stays pending");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_message_is_armed_by_its_notice() {
    let f = fixture(Duration::from_secs(60)).await;
    f.lead(1).await;
    let row = f.publish_elsewhere("/remote").await;
    f.terms()
        .events()
        .send(TermEvent::Heard(Heard::Changes(vec![Remote::Pending(
            row.clone(),
        )])));
    f.sink.wait_for("/remote", 1).await;
    // Told twice (a late duplicate): harmless, no second attempt.
    f.terms()
        .events()
        .send(TermEvent::Heard(Heard::Changes(vec![Remote::Pending(row)])));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(f.sink.count("/remote"), 1, "delivered once");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_read_finds_what_no_notice_announced() {
    let f = fixture(Duration::from_secs(60)).await;
    f.lead(1).await;
    f.publish_elsewhere("/unannounced").await;
    f.terms().events().send(TermEvent::Heard(Heard::Resync));
    f.sink.wait_for("/unannounced", 1).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_catch_up_finds_what_no_notice_announced() {
    let f = fixture(Duration::from_millis(100)).await;
    f.lead(1).await;
    f.publish_elsewhere("/missed").await;
    f.sink.wait_for("/missed", 1).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_term_reports_no_live_counters_and_the_keys_it_knows() {
    let f = fixture(Duration::from_secs(60)).await;
    let handle = f.terms().handle();
    assert!(!handle.running());
    assert_eq!(handle.global_parallelism(), (512, 0));
    assert_eq!(handle.waitlists(), Default::default());
    let rotated = f.store.rotate_keys("sig_brand_new".into()).await.unwrap();
    assert_eq!(handle.signing_keys(), rotated, "its own rotation");
    f.stop().await;
}

/// The whole wiring of a node of several, with the lease and the LISTEN
/// thread on PostgreSQL (`CRONHOOK_TEST_POSTGRES`) and the store on SQLite:
/// the node takes the lease and delivers, arms another node's notice, and
/// hands the lease back when it shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_several_leads_arms_other_nodes_notices_and_releases_its_lease() {
    use crate::store::cluster::{encode, TestDb, CHANNEL_SQL};
    let blocking = |f: Box<dyn FnOnce() + Send>| tokio::task::spawn_blocking(f);
    let Some(db) = tokio::task::spawn_blocking(|| TestDb::new("a_node_of_several_leads"))
        .await
        .unwrap()
    else {
        return;
    };
    let db = Arc::new(db);
    let f = bare().await;
    let node_id = format!("node_{}", db.schema);
    let (node, handle) = Node::cluster(
        f.parts.clone(),
        ClusterSettings {
            db_url: db.url.clone(),
            node: node_id.clone(),
            node_url: Some("http://127.0.0.1:1".into()),
            lease: Duration::from_millis(1500),
            catch_up: Duration::from_secs(60),
        },
    )
    .unwrap();
    let until = Instant::now() + WAIT;
    while !handle.running() {
        assert!(Instant::now() < until, "the only node leads in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.publish("/own").await;
    f.sink.wait_for("/own", 1).await;

    let row = f.publish_elsewhere("/theirs").await;
    let message = f.store.message(&row.id).await.unwrap().unwrap();
    let notifier = db.clone();
    blocking(Box::new(move || {
        let mut c = notifier.client();
        let mut tx = c.transaction().unwrap();
        for p in encode("another_node", &[Change::Pending(Box::new(message))]) {
            tx.execute(&format!("SELECT pg_notify({CHANNEL_SQL}, $1)"), &[&p])
                .unwrap();
        }
        tx.commit().unwrap();
    }))
    .await
    .unwrap();
    f.sink.wait_for("/theirs", 1).await;

    node.shutdown(
        Instant::now() + Duration::from_secs(2),
        Duration::from_secs(1),
    )
    .await;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = db.clone();
    blocking(Box::new(move || {
        let row = reader
            .client()
            .query_one("SELECT node, expires_at FROM cluster_lease", &[])
            .unwrap();
        tx.send((row.get::<_, String>(0), row.get::<_, i64>(1)))
            .unwrap();
    }))
    .await
    .unwrap();
    assert_eq!(rx.recv().unwrap(), (node_id, 0), "released at shutdown");
    f.stop().await;
    blocking(Box::new(move || drop(db))).await.unwrap();
}
