//! The store's contract: group commit, slot uniqueness, outcomes, the timer
//! changes each write names, persistence.

use std::sync::Mutex;

use super::*;
use crate::filter::Filter;
use crate::model::{
    schedule_state, Attempt, AttemptResponse, Delivery, LogState, Message, Misfire, Schedule,
};

/// Where a test's store lives: a SQLite file in a folder of its own, or a
/// fresh schema of the PostgreSQL server at `CRONHOOK_TEST_POSTGRES`.
struct TestDb {
    _dir: Option<tempfile::TempDir>,
    target: DbTarget,
    /// The server's URL and the schema, dropped with the `TestDb`.
    schema: Option<(String, String)>,
}

const PG_ENV: &str = "CRONHOOK_TEST_POSTGRES";

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        TestDb {
            target: DbTarget::Sqlite(dir.path().join("t.db")),
            _dir: Some(dir),
            schema: None,
        }
    }

    /// A fresh schema `t_<random>`, the store's connections confined to it
    /// by their `search_path`; `None` without the environment variable.
    fn postgres() -> Option<TestDb> {
        let url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
        let schema = format!("t_{:016x}", rand::random::<u64>());
        let create = format!("CREATE SCHEMA {schema}");
        let base = url.clone();
        std::thread::spawn(move || {
            let conn = crate::store::db::PgConn::connect(&base).unwrap();
            db::Conn::from(conn).execute_batch(&create).unwrap();
        })
        .join()
        .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        Some(TestDb {
            _dir: None,
            // The application name finds this test's connections in
            // `pg_stat_activity`.
            target: DbTarget::Postgres(format!(
                "{url}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
            )),
            schema: Some((url, schema)),
        })
    }

    fn is_postgres(&self) -> bool {
        matches!(self.target, DbTarget::Postgres(_))
    }

    /// Runs `f` on a connection of its own to the test's database, off the
    /// async threads.
    fn with_conn<R: Send>(&self, f: impl FnOnce(&db::Conn) -> R + Send) -> R {
        let target = &self.target;
        std::thread::scope(|s| {
            s.spawn(move || {
                let conn = match target {
                    DbTarget::Sqlite(p) => db::Conn::Sqlite(rusqlite::Connection::open(p).unwrap()),
                    DbTarget::Postgres(u) => {
                        db::Conn::from(crate::store::db::PgConn::connect(u).unwrap())
                    }
                };
                f(&conn)
            })
            .join()
            .unwrap()
        })
    }
}

impl TestDb {
    /// Ends every connection the test's store holds, as a server restart
    /// would.
    fn cut_connections(&self) {
        let (url, schema) = self.schema.clone().expect("a PostgreSQL test");
        std::thread::spawn(move || {
            let conn = db::Conn::from(crate::store::db::PgConn::connect(&url).unwrap());
            let cut: i64 = conn
                .query_row(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = ?1",
                    [schema.as_str()],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(cut > 0, "the store had connections");
        })
        .join()
        .unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((url, schema)) = self.schema.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            if let Ok(conn) = crate::store::db::PgConn::connect(&url) {
                let _ =
                    db::Conn::from(conn).execute_batch(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        })
        .join();
    }
}

/// Runs `test` on SQLite, then on PostgreSQL when `CRONHOOK_TEST_POSTGRES`
/// names a server (CI sets it), each on a database of its own.
async fn on_both<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(TestDb::sqlite()).await;
    match TestDb::postgres() {
        Some(db) => test(db).await,
        None => eprintln!("note: {PG_ENV} is not set; the PostgreSQL half of this test is skipped"),
    }
}

fn open(db: &TestDb) -> Store {
    Store::open(&db.target, SyncMode::Normal).unwrap()
}

/// What the engine would be told: each commit's changes, as text.
#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl CommitListener for Heard {
    fn committed(&self, changes: Vec<Change>) {
        let mut heard = self.0.lock().unwrap();
        for c in changes {
            heard.push(match c {
                Change::Schedule { id, next } => format!("schedule {id} {next:?}"),
                Change::Pending(m) => format!("pending {} {}", m.id, m.due_at),
                Change::Gone(id) => format!("gone {id}"),
                Change::Queue {
                    name,
                    parallelism,
                    paused,
                } => format!("queue {name} {parallelism} {paused}"),
                Change::QueueGone(name) => format!("queue gone {name}"),
                Change::Keys(k) => format!("keys {}", k.current),
                Change::Flow { settings, .. } => format!("flow {}", settings.key),
            });
        }
    }
}

impl Heard {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn listening(store: &Store) -> Arc<Heard> {
    let heard = Arc::new(Heard::default());
    store.set_listener(heard.clone());
    heard
}

fn schedule(id: &str, next: i64) -> Schedule {
    Schedule {
        id: id.into(),
        destination: "http://127.0.0.1:1/x".into(),
        cron: "* * * * *".into(),
        cron_seconds: false,
        delivery: Delivery::default(),
        body: b"{}".to_vec(),
        misfire: Misfire::Once,
        paused: false,
        created_at: 1,
        next_fire_at: Some(next),
        last_fire_at: None,
        last_states: Default::default(),
        last_error: None,
        caller_ip: None,
        start_at: None,
        end_at: None,
    }
}

fn message(id: &str, due: i64) -> Message {
    Message {
        id: id.into(),
        ..Message::new(
            "http://127.0.0.1:1/x".into(),
            Delivery::default(),
            b"hi".to_vec(),
            due,
            due,
        )
    }
}

fn new(m: Message) -> NewMessage {
    NewMessage {
        message: m,
        dedup_keys: Vec::new(),
        group: None,
    }
}

/// The answer to a publish of one message to a URL.
fn one(items: &[crate::store::PublishedItem]) -> &crate::store::Published {
    match &items[0] {
        crate::store::PublishedItem::One(p) => p,
        other => panic!("not a URL item: {other:?}"),
    }
}

async fn insert(store: &Store, m: Message) -> Result<(), StoreError> {
    store.publish(vec![new(m)], 0).await.map(|_| ())
}

/// Ids of the pending messages the timer would load (due by `until`).
async fn pending(store: &Store, until: i64) -> Vec<String> {
    let mut ids: Vec<String> = store
        .pending_at_start(until)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    ids.sort();
    ids
}

fn attempt(status: u16, at: i64) -> Attempt {
    Attempt {
        started_at: at,
        ended_at: at + 5,
        response: AttemptResponse {
            status: Some(status),
            body: format!("said {status}").into_bytes(),
            error: format!("HTTP {status}"),
            ..Default::default()
        },
    }
}

async fn states(store: &Store, id: &str) -> Vec<&'static str> {
    let filter = Filter {
        message_ids: vec![id.to_owned()],
        ..Default::default()
    };
    let (mut page, _) = store.events(filter, None, 100).await.unwrap();
    page.reverse();
    page.into_iter().map(|e| e.state.as_str()).collect()
}

fn fire_plan(slots: Vec<i64>, next: i64) -> impl FnOnce(&Schedule, i64) -> FirePlan + Send {
    move |_, _| FirePlan {
        fire: slots,
        next: Some(next),
        ..FirePlan::default()
    }
}

fn no_callbacks(_: Option<&crate::model::DlqEntry>) -> Vec<Message> {
    Vec::new()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_all_commit() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let writes = (0..500).map(|i| {
            let store = store.clone();
            tokio::spawn(async move { insert(&store, message(&format!("m{i}"), i)).await })
        });
        for w in writes {
            w.await.unwrap().unwrap();
        }
        assert_eq!(pending(&store, i64::MAX).await.len(), 500);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_write_does_not_undo_the_others_in_its_batch() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        insert(&store, message("dup", 1)).await.unwrap();
        let heard = listening(&store);
        let a = insert(&store, message("dup", 2)); // primary key violation
        let b = insert(&store, message("fresh", 3));
        let (a, b) = tokio::join!(a, b);
        assert!(a.is_err());
        b.unwrap();
        assert_eq!(pending(&store, i64::MAX).await, ["dup", "fresh"]);
        assert_eq!(
            heard.take(),
            ["pending fresh 3"],
            "the failed write arms nothing"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn firing_creates_messages_and_moves_the_schedule_on_once() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        let heard = listening(&store);

        let fired = store
            .fire_schedule("s", 1500, 1500, fire_plan(vec![1000], 2000))
            .await
            .unwrap()
            .expect("due");
        assert_eq!(fired.messages, 1);
        assert_eq!(fired.next_fire_at, Some(2000));
        let changes = heard.take();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes[0].starts_with("pending msg_") && changes[0].ends_with(" 1000"));
        assert_eq!(changes[1], "schedule s Some(2000)");

        // The same slot again (a stale timer entry): nothing is due any more,
        // and the timer is set right.
        assert!(store
            .fire_schedule("s", 1500, 1500, fire_plan(vec![1000], 2000))
            .await
            .unwrap()
            .is_none());
        assert_eq!(heard.take(), ["schedule s Some(2000)"]);

        let s = store.schedule("s").await.unwrap().unwrap();
        assert_eq!(s.last_fire_at, Some(1000));
        let (id, state) = s.last_states.iter().next().unwrap();
        assert!(id.starts_with("msg_"));
        assert_eq!(state, schedule_state::IN_PROGRESS);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firing_that_finds_a_later_slot_arms_that_slot() {
    // An overwrite committed after the timer took the old slot: the firing
    // finds nothing due and must leave the schedule armed at its new slot.
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        store.put_schedule(schedule("s", 90_000)).await.unwrap();
        let heard = listening(&store);
        let fired = store
            .fire_schedule("s", 1000, 1100, fire_plan(vec![1000], 2000))
            .await
            .unwrap();
        assert!(fired.is_none());
        assert_eq!(heard.take(), ["schedule s Some(90000)"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_slot_key_refuses_a_slot_that_already_fired() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        store
            .fire_schedule("s", 1000, 1000, fire_plan(vec![1000], 1000))
            .await
            .unwrap();
        // A plan that tries slot 1000 again (as a buggy or raced firing would).
        let again = store
            .fire_schedule("s", 1000, 1000, fire_plan(vec![1000], 3000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.messages, 0);
        assert_eq!(pending(&store, i64::MAX).await.len(), 1);
    })
    .await
}

/// Two engines (several nodes) may fire one slot at once: the schedule
/// moves on only from the slot a firing read, so the later one finds it
/// moved and fires nothing (`cluster::tests` races it on PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_moves_on_only_from_the_slot_its_firing_read() {
    on_both(|db| async move {
        let store = open(&db);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        db.with_conn(|other| {
            assert!(rows::schedules::move_next(other, "s", 1000, Some(2000)).unwrap());
            assert!(
                !rows::schedules::move_next(other, "s", 1000, Some(2000)).unwrap(),
                "slot 1000 is gone: a second firing of it moves nothing"
            );
        });
        store.set_paused("s", true, |_| None).await.unwrap();
        db.with_conn(|other| {
            assert!(
                !rows::schedules::move_next(other, "s", 2000, Some(3000)).unwrap(),
                "paused"
            );
        });
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_or_deleted_schedules_do_not_fire_and_are_disarmed() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        store.put_schedule(schedule("p", 1000)).await.unwrap();
        store.put_schedule(schedule("d", 1000)).await.unwrap();
        let heard = listening(&store);
        let paused = store
            .set_paused("p", true, |_| None)
            .await
            .unwrap()
            .unwrap();
        assert!(paused.paused && paused.next_fire_at.is_none());
        assert!(store.delete_schedule("d").await.unwrap());
        assert!(!store.delete_schedule("d").await.unwrap());
        assert_eq!(heard.take(), ["schedule p None", "schedule d None"]);
        for id in ["p", "d"] {
            assert!(store
                .fire_schedule(id, 5000, 5000, fire_plan(vec![1000], 2000))
                .await
                .unwrap()
                .is_none());
        }
        let resumed = store
            .set_paused("p", false, |_| Some(7000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resumed.next_fire_at, Some(7000));
        assert_eq!(
            heard.take(),
            [
                "schedule p None",
                "schedule d None",
                "schedule p Some(7000)"
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_replaces_settings_but_keeps_created_at() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        let mut changed = schedule("s", 5000);
        changed.destination = "http://127.0.0.1:2/other".into();
        changed.created_at = 99;
        changed.body = vec![];
        let stored = store.put_schedule(changed).await.unwrap();
        assert_eq!(stored.destination, "http://127.0.0.1:2/other");
        assert_eq!(stored.created_at, 1);
        assert!(stored.body.is_empty());
        assert_eq!(store.schedules().await.unwrap().len(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn outcomes_move_messages_out_log_states_and_record_schedule_states() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        store
            .fire_schedule("s", 1000, 1000, fire_plan(vec![1000], 2000))
            .await
            .unwrap()
            .unwrap();
        let id = pending(&store, i64::MAX).await.remove(0);
        let m = store.message(&id).await.unwrap().unwrap();
        let heard = listening(&store);

        let r = store
            .record_outcome(
                m.clone(),
                attempt(500, 8000),
                Outcome::Retry { due_at: 9000 },
                |_| vec![message("cb", 9000)],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r, Recorded::default());
        assert_eq!(
            heard.take(),
            ["pending cb 9000", format!("pending {id} 9000").as_str()]
        );
        let stored = store.message(&id).await.unwrap().unwrap();
        assert_eq!((stored.retried, stored.due_at), (1, 9000));
        assert!(
            store.message("cb").await.unwrap().is_some(),
            "callback stored"
        );

        let r = store
            .record_outcome(
                stored.clone(),
                attempt(500, 9100),
                Outcome::Failed,
                |entry| vec![message(&format!("fail-{}", entry.unwrap().dlq_id), 9200)],
            )
            .await
            .unwrap()
            .unwrap();
        let dlq_id = r.dlq_id.unwrap();
        assert!(dlq_id.starts_with("9105-"));
        assert_eq!(
            heard.take(),
            [format!("gone {id}"), format!("pending fail-{dlq_id} 9200")]
        );
        assert!(store.message(&id).await.unwrap().is_none());
        let (dlq, _) = store
            .dlq_page(Filter::default(), None, usize::MAX)
            .await
            .unwrap();
        assert_eq!(dlq.len(), 1);
        assert_eq!(dlq[0].message.id, id);
        assert_eq!(dlq[0].response.status, Some(500));
        assert_eq!(dlq[0].response.body, b"said 500");
        let s = store.schedule("s").await.unwrap().unwrap();
        assert_eq!(s.last_states[&id], schedule_state::FAIL);
        assert_eq!(
            states(&store, &id).await,
            ["CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "ERROR", "FAILED"]
        );

        // A second outcome for a message that already left writes nothing.
        for outcome in [Outcome::Failed, Outcome::Delivered] {
            assert!(store
                .record_outcome(stored.clone(), attempt(500, 9300), outcome, no_callbacks)
                .await
                .unwrap()
                .is_none());
        }
        assert_eq!(states(&store, &id).await.len(), 7);
        assert!(heard.take().is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_is_logged_created_active_delivered() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        insert(&store, message("m", 10)).await.unwrap();
        store
            .record_outcome(
                message("m", 10),
                attempt(200, 20),
                Outcome::Delivered,
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            states(&store, "m").await,
            ["CREATED", "ACTIVE", "DELIVERED"]
        );
        assert!(store.message("m").await.unwrap().is_none());
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn dedup_keys_suppress_repeats_within_their_window() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let keyed = |m: Message| NewMessage {
            message: m,
            dedup_keys: vec!["id:x".into()],
            group: None,
        };
        let first = store
            .publish(vec![keyed(message("a", 1))], 1000)
            .await
            .unwrap();
        assert!(!one(&first).duplicate);
        let again = store
            .publish(vec![keyed(message("b", 1))], 1000)
            .await
            .unwrap();
        assert!(one(&again).duplicate);
        assert_eq!(one(&again).id, "a", "the first message's id");
        assert!(store.message("b").await.unwrap().is_none());
        // Past the window (created at 1000 ≥ expiry 1000) the key is free again.
        let later = store
            .publish(vec![keyed(message("c", 1000))], 5000)
            .await
            .unwrap();
        assert_eq!(
            (one(&later).id.as_str(), one(&later).duplicate),
            ("c", false)
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_by_id_and_by_filter_logs_removes_and_disarms() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        for id in ["a", "b", "c"] {
            insert(&store, message(id, 5)).await.unwrap();
        }
        let heard = listening(&store);
        let by_id = store
            .cancel(
                vec!["b".into(), "zz".into()],
                Filter::default(),
                usize::MAX,
                7,
            )
            .await
            .unwrap();
        assert_eq!(by_id, 1);
        assert_eq!(heard.take(), ["gone b"]);
        assert_eq!(
            states(&store, "b").await,
            [
                "CREATED",
                LogState::CancelRequested.as_str(),
                LogState::Canceled.as_str()
            ]
        );
        let limited = store.cancel(vec![], Filter::default(), 1, 8).await.unwrap();
        assert_eq!(limited, 1);
        assert_eq!(heard.take(), ["gone a"], "oldest first, up to the count");
        let rest = store
            .cancel(vec![], Filter::default(), usize::MAX, 9)
            .await
            .unwrap();
        assert_eq!(rest, 1);
        assert!(pending(&store, i64::MAX).await.is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timer_loads_the_window_and_every_queued_message_in_order() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let queued = |id: &str, due| {
            let mut m = message(id, due);
            m.delivery.queue_name = Some("q".into());
            m
        };
        for m in [
            message("soon", 100),
            message("later", 1_000_000),
            queued("q1", 5_000_000),
            queued("q2", 10),
        ] {
            insert(&store, m).await.unwrap();
        }
        let at_start: Vec<String> = store
            .pending_at_start(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(
            at_start,
            ["q1", "q2", "soon"],
            "queues in enqueue order, then the window"
        );
        let next: Vec<String> = store
            .due_between(1000, 2_000_000)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(next, ["later"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_rows_carry_their_flow_control_key() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let mut keyed = message("keyed", 10);
        keyed.delivery.flow_control = Some(crate::model::FlowControl {
            key: "k".into(),
            parallelism: Some(1),
            rate: None,
            period: 1,
        });
        let mut queued = keyed.clone();
        queued.id = "queued".into();
        queued.delivery.queue_name = Some("q".into());
        for m in [keyed, queued, message("plain", 10)] {
            insert(&store, m).await.unwrap();
        }
        let mut flows: Vec<(String, Option<String>)> = store
            .pending_at_start(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.flow))
            .collect();
        flows.sort();
        assert_eq!(
            flows,
            [
                ("keyed".to_owned(), Some("k".to_owned())),
                ("plain".to_owned(), None),
                ("queued".to_owned(), Some("k".to_owned())),
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_keeps_the_newest_entries_within_the_bounds() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        for i in 0..30 {
            insert(&store, message(&format!("m{i}"), i)).await.unwrap();
        }
        let bounds = Retention {
            log_max_age_ms: 1_000_000,
            log_max_entries: 10,
            dlq_max_age_ms: 1_000_000,
            dlq_max_entries: 10,
        };
        let purged = store.purge(100, bounds).await.unwrap();
        assert_eq!(purged.events, 20);
        let (left, _) = store.events(Filter::default(), None, 100).await.unwrap();
        assert_eq!(left.len(), 10);
        assert_eq!(left[0].message_id, "m29", "the newest are kept");
        // Age: everything created before now - max_age goes.
        let purged = store
            .purge(
                1_000_000 + 25,
                Retention {
                    log_max_entries: 1000,
                    ..bounds
                },
            )
            .await
            .unwrap();
        assert_eq!(purged.events, 5, "m20..m24 are older than the age bound");
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn ended_workflow_runs_go_with_the_log_and_failed_ones_with_the_dlq() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        {
            // Rows as the workflow code writes them; only the purge is under test.
            dir.with_conn(|conn| {
                for (run, state, ended_at) in [
                    ("wfr_old_ok", "RUN_SUCCESS", Some(10)),
                    ("wfr_old_cancel", "RUN_CANCELED", Some(10)),
                    ("wfr_old_failed", "RUN_FAILED", Some(10)),
                    ("wfr_new_ok", "RUN_SUCCESS", Some(990)),
                    ("wfr_running", "RUN_STARTED", None),
                ] {
                    conn.execute(
                "INSERT INTO workflow_runs (run_id, url, state, created_at, ended_at, config, \
                 init_message_id, initial_body) VALUES (?1, 'http://127.0.0.1:9/wf', ?2, 0, ?3, \
                 '{}', 'msg_x', ?4)",
                db::params![run, state, ended_at, Vec::<u8>::new()],
            )
            .unwrap();
                    for seq in 0..3i64 {
                        conn.execute(
                    "INSERT INTO workflow_steps (run_id, seq, message_id, call_type, body, \
                     created_at) VALUES (?1, ?2, ?3, 'step', ?4, 0)",
                    db::params![run, seq, format!("msg_{run}_{seq}"), Vec::<u8>::new()],
                )
                .unwrap();
                    }
                }
            });
        }
        let bounds = Retention {
            log_max_age_ms: 500,
            log_max_entries: 1000,
            dlq_max_age_ms: 2000,
            dlq_max_entries: 1000,
        };
        let purged = store.purge(1000, bounds).await.unwrap();
        assert_eq!(purged.runs, 2, "the old successful and cancelled runs");
        let left = |sql: &str| -> Vec<String> {
            dir.with_conn(|conn| {
                let mut stmt = conn.prepare_cached(sql).unwrap();
                let rows = stmt.query_map([], |r| r.get(0)).unwrap();
                rows.map(Result::unwrap).collect()
            })
        };
        assert_eq!(
            left("SELECT run_id FROM workflow_runs ORDER BY run_id"),
            ["wfr_new_ok", "wfr_old_failed", "wfr_running"]
        );
        assert_eq!(
            left("SELECT DISTINCT run_id FROM workflow_steps ORDER BY run_id"),
            ["wfr_new_ok", "wfr_old_failed", "wfr_running"],
            "a run's log goes with it"
        );
        // Once the DLQ may no longer hold it, the failed run goes too.
        let purged = store.purge(2100, bounds).await.unwrap();
        assert_eq!(
            purged.runs, 2,
            "the failed run, and the newer successful one"
        );
        assert_eq!(left("SELECT run_id FROM workflow_runs"), ["wfr_running"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn run_pages_do_not_skip_runs_created_in_the_same_millisecond() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        {
            dir.with_conn(|conn| {
                // One batch of triggers: five runs, one creation time, and an older one.
                for (run, created) in [
                    ("wfr_a", 10),
                    ("wfr_b", 10),
                    ("wfr_c", 10),
                    ("wfr_d", 10),
                    ("wfr_e", 10),
                    ("wfr_old", 5),
                ] {
                    conn.execute(
                        "INSERT INTO workflow_runs (run_id, url, state, created_at, config, \
                 init_message_id, initial_body) VALUES (?1, 'http://127.0.0.1:9/wf', \
                 'RUN_STARTED', ?2, '{}', 'msg_x', ?3)",
                        db::params![run, created, Vec::<u8>::new()],
                    )
                    .unwrap();
                }
            });
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let (page, next) = store
                .workflow_runs_page(RunSelection::default(), cursor, 2)
                .await
                .unwrap();
            seen.extend(page.into_iter().map(|(r, _)| r.run_id));
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            ["wfr_a", "wfr_b", "wfr_c", "wfr_d", "wfr_e", "wfr_old"],
            "newest first, ties by id, each run once"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_keys_survive_restarts_until_the_configuration_changes() {
    on_both(|dir| async move {
        let dir = &dir;
        let configured = SigningKeys {
            current: "sig_a".into(),
            next: "sig_b".into(),
        };
        {
            let store = open(dir);
            let (keys, generated) = store
                .signing_keys(KeySource::Configured(configured.clone()))
                .await
                .unwrap();
            assert_eq!((keys, generated), (configured.clone(), false));
            let heard = listening(&store);
            let rotated = store.rotate_keys("sig_c".into()).await.unwrap();
            assert_eq!(
                (rotated.current.as_str(), rotated.next.as_str()),
                ("sig_b", "sig_c")
            );
            assert_eq!(
                heard.take(),
                ["keys sig_b"],
                "the engine signs with them at once"
            );
            assert!(store.close(Duration::from_secs(5)).await);
        }
        let store = open(dir);
        let (kept, _) = store
            .signing_keys(KeySource::Configured(configured.clone()))
            .await
            .unwrap();
        assert_eq!(kept.current, "sig_b");
        let changed = SigningKeys {
            current: "sig_x".into(),
            next: "sig_y".into(),
        };
        let (now, _) = store
            .signing_keys(KeySource::Configured(changed.clone()))
            .await
            .unwrap();
        assert_eq!(now, changed);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_keys_are_made_once_and_never_taken_over_from_public_ones() {
    on_both(|dir| async move {
        let dir = &dir;
        let dev = SigningKeys {
            current: crate::config::DEV_CURRENT_SIGNING_KEY.into(),
            next: crate::config::DEV_NEXT_SIGNING_KEY.into(),
        };
        let first = {
            let store = open(dir);
            store
                .signing_keys(KeySource::Configured(dev.clone()))
                .await
                .unwrap();
            let (made, generated) = store.signing_keys(KeySource::Generated).await.unwrap();
            assert!(generated);
            assert_ne!(made.current, dev.current, "not the public keys");
            assert_ne!(made.current, made.next);
            assert!(made.current.starts_with("sig_") && made.current.len() == 32);
            assert!(store.close(Duration::from_secs(5)).await);
            made
        };
        let store = open(dir);
        let (again, generated) = store.signing_keys(KeySource::Generated).await.unwrap();
        assert!(generated);
        assert_eq!(again, first, "kept across restarts");
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_survives_a_reopen() {
    on_both(|dir| async move {
        let dir = &dir;
        {
            let store = open(dir);
            store.put_schedule(schedule("s", 1000)).await.unwrap();
            insert(&store, message("m", 42)).await.unwrap();
            let mut m = message("m", 42);
            m.retried = 1;
            store
                .record_outcome(
                    m,
                    attempt(500, 40),
                    Outcome::Retry { due_at: 4242 },
                    no_callbacks,
                )
                .await
                .unwrap();
            assert!(store.close(Duration::from_secs(5)).await);
        }
        let store = open(dir);
        assert_eq!(
            store.armed_schedules().await.unwrap(),
            [("s".to_owned(), 1000)]
        );
        let pending = store.pending_at_start(i64::MAX).await.unwrap();
        assert_eq!((pending[0].id.as_str(), pending[0].due_at), ("m", 4242));
        assert_eq!(store.message("m").await.unwrap().unwrap().retried, 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_after_close_fail_and_a_second_store_on_the_file_is_refused() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        if !dir.is_postgres() {
            // The file's lock; PostgreSQL is shared by design (several nodes).
            assert!(matches!(
                Store::open(&dir.target, SyncMode::Normal),
                Err(OpenError::InUse)
            ));
        }
        assert!(store.close(Duration::from_secs(5)).await);
        assert!(matches!(
            insert(&store, message("late", 1)).await,
            Err(StoreError::Closed)
        ));
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn long_api_reads_do_not_hold_up_the_engines_reads() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        insert(&store, message("m", 1)).await.unwrap();
        // Every API connection busy with a read that waits until released.
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut long = Vec::new();
        for _ in 0..8 {
            let (store, gate) = (store.clone(), gate.clone());
            long.push(tokio::spawn(async move {
                store
                    .read_api(move |_| {
                        let _ = gate.lock().unwrap().recv();
                        Ok(())
                    })
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let engine_read =
            tokio::time::timeout(Duration::from_secs(10), store.message_to_attempt("m"))
                .await
                .expect("the engine's read was held up by the API's");
        assert!(engine_read.unwrap().is_some());
        drop(release);
        for r in long {
            r.await.unwrap().unwrap();
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_settings_reach_the_gate_and_a_delete_cancels_its_messages_first() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let heard = listening(&store);
        let queued = |id: &str| {
            let mut m = message(id, 10);
            m.delivery.queue_name = Some("q".into());
            m
        };
        insert(&store, queued("q1")).await.unwrap();
        insert(&store, queued("q2")).await.unwrap();
        assert_eq!(
            heard.take(),
            ["queue q 1 false", "pending q1 10", "pending q2 10"],
            "the first enqueue makes the queue"
        );
        store.upsert_queue("q", 4, true, 20).await.unwrap();
        assert!(store.set_queue_paused("q", false, 30).await.unwrap());
        assert!(!store.set_queue_paused("nope", true, 30).await.unwrap());
        assert_eq!(heard.take(), ["queue q 4 true", "queue q 4 false"]);
        let q = store.queue("q").await.unwrap().unwrap();
        assert_eq!(
            (q.parallelism, q.paused, q.lag, q.created_at, q.updated_at),
            (4, false, 2, 10, 30)
        );

        let deleted = store.delete_queue("q", 40).await.unwrap();
        assert_eq!(deleted.map(|d| d.cancelled), Some(2));
        assert_eq!(heard.take(), ["gone q1", "gone q2", "queue gone q"]);
        assert_eq!(
            states(&store, "q1").await,
            ["CREATED", "CANCEL_REQUESTED", "CANCELED"]
        );
        assert!(store.queue("q").await.unwrap().is_none());
        assert!(pending(&store, i64::MAX).await.is_empty());
        assert_eq!(store.delete_queue("q", 50).await.unwrap(), None);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_group_list_holds_each_group_with_its_endpoints_in_order() {
    use crate::model::Endpoint;
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let e = |name: Option<&str>, url: &str| Endpoint {
            name: name.map(str::to_owned),
            url: url.to_owned(),
        };
        store
            .upsert_endpoints(
                "b",
                vec![e(None, "http://x/1"), e(Some("n"), "http://x/2")],
                1,
            )
            .await
            .unwrap();
        store
            .upsert_endpoints("a", vec![e(None, "http://y/1")], 2)
            .await
            .unwrap();
        store
            .upsert_endpoints("b", vec![e(None, "http://x/3")], 3)
            .await
            .unwrap();
        let all = store.url_groups().await.unwrap();
        let one_by_one = vec![
            store.url_group("b").await.unwrap().unwrap(),
            store.url_group("a").await.unwrap().unwrap(),
        ];
        assert_eq!(all, one_by_one);
        let urls: Vec<&str> = all[0].endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(urls, ["http://x/1", "http://x/2", "http://x/3"]);
    })
    .await
}

/// One integer from `sql` on the store's file, read beside the store.
fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.with_conn(|c| c.query_row(sql, [], |r| r.get(0)).unwrap())
}

/// `(time, state, message id)` of every entry, newest first, walked with
/// pages of `count`.
async fn walk(store: &Store, filter: Filter, count: usize) -> Vec<(i64, &'static str, String)> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let (page, next) = store.events(filter.clone(), cursor, count).await.unwrap();
        assert!(page.len() <= count);
        out.extend(
            page.into_iter()
                .map(|e| (e.time, e.state.as_str(), e.message_id)),
        );
        match next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
    panic!("the cursor never ends")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_is_one_row_and_a_message_s_settings_are_stored_once() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let mut m = message("m", 0);
        m.delivery.labels = vec!["nightly".into()];
        m.caller_ip = Some("127.0.0.9".into());
        insert(&store, m.clone()).await.unwrap();
        store
            .record_outcome(
                m.clone(),
                attempt(500, 10),
                Outcome::Retry { due_at: 100 },
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        store
            .record_outcome(
                m.clone(),
                attempt(200, 100),
                Outcome::Delivered,
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            states(&store, "m").await,
            ["CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "DELIVERED"]
        );
        // CREATED, and one row per attempt, none with a copy of the settings.
        assert_eq!(scalar(dir, "SELECT count(*) FROM log"), 3);
        assert_eq!(scalar(dir, "SELECT count(*) FROM log_messages"), 1);
        assert_eq!(
            scalar(dir, "SELECT count(*) FROM log WHERE delivery IS NOT NULL"),
            0
        );
        let (log, _) = store.events(Filter::default(), None, 100).await.unwrap();
        for e in &log {
            assert_eq!(e.url, m.url);
            assert_eq!(e.delivery, m.delivery);
            assert_eq!(e.caller_ip.as_deref(), Some("127.0.0.9"));
            assert_eq!(e.body.is_some(), e.state == LogState::Created, "{e:?}");
        }
        let [delivered, active2, retry, error, active1, created] = &log[..] else {
            panic!("{log:?}")
        };
        assert_eq!(created.body.as_deref(), Some(&b"hi"[..]));
        assert_eq!((active1.time, error.time, retry.time), (10, 15, 15));
        assert_eq!(error.error.as_deref(), Some("HTTP 500"));
        assert_eq!(error.response.as_ref().unwrap().body, b"said 500");
        assert_eq!(
            (retry.next_delivery_time, &retry.response),
            (Some(100), &None)
        );
        assert_eq!((active2.time, delivered.time), (100, 105));
        assert_eq!(delivered.response.as_ref().unwrap().status, Some(200));
        assert_eq!(delivered.error, None);
    })
    .await
}

/// An attempt's ACTIVE entry sits at its start and its others at its end,
/// among the other messages' entries by time; a page may end anywhere
/// within an attempt's entries and the next one goes on from there.
#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_s_entries_list_at_their_own_times_and_pages_split_them_anywhere() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        insert(&store, message("a", 0)).await.unwrap();
        insert(&store, message("b", 1)).await.unwrap();
        let long = Attempt {
            started_at: 2,
            ended_at: 10,
            ..attempt(500, 2)
        };
        store
            .record_outcome(
                message("b", 1),
                attempt(200, 5),
                Outcome::Delivered,
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        store
            .record_outcome(
                message("a", 0),
                long,
                Outcome::Retry { due_at: 50 },
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        let want: Vec<(i64, &str, String)> = [
            (10, "RETRY", "a"),
            (10, "ERROR", "a"),
            (10, "DELIVERED", "b"),
            (5, "ACTIVE", "b"),
            (2, "ACTIVE", "a"),
            (1, "CREATED", "b"),
            (0, "CREATED", "a"),
        ]
        .into_iter()
        .map(|(t, s, id)| (t, s, id.to_owned()))
        .collect();
        for count in [1, 2, 3, 100] {
            assert_eq!(
                walk(&store, Filter::default(), count).await,
                want,
                "count {count}"
            );
        }
        let by_id = Filter {
            message_ids: vec!["a".into()],
            ..Default::default()
        };
        let of_a: Vec<_> = want.iter().filter(|e| e.2 == "a").cloned().collect();
        assert_eq!(walk(&store, by_id, 1).await, of_a);
        let active = Filter {
            states: vec![crate::model::StateFilter::Is(LogState::Active)],
            ..Default::default()
        };
        let actives: Vec<_> = want.iter().filter(|e| e.1 == "ACTIVE").cloned().collect();
        assert_eq!(walk(&store, active, 1).await, actives);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_purge_drops_a_message_s_settings_with_its_last_row_unless_it_is_pending() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        insert(&store, message("done", 0)).await.unwrap();
        insert(&store, message("waiting", 0)).await.unwrap();
        store
            .record_outcome(
                message("done", 0),
                attempt(200, 5),
                Outcome::Delivered,
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        let none_kept = Retention {
            log_max_age_ms: 1_000_000,
            log_max_entries: 0,
            dlq_max_age_ms: 1_000_000,
            dlq_max_entries: 10,
        };
        let purged = store.purge(100, none_kept).await.unwrap();
        assert_eq!(purged.events, 3, "three rows: two CREATED, one attempt");
        assert_eq!(scalar(dir, "SELECT count(*) FROM log"), 0);
        assert_eq!(
            scalar(
                dir,
                "SELECT count(*) FROM log_messages WHERE id = 'waiting'"
            ),
            1,
            "a pending message keeps its settings for its attempts' rows"
        );
        assert_eq!(scalar(dir, "SELECT count(*) FROM log_messages"), 1);
        store
            .record_outcome(
                message("waiting", 0),
                attempt(200, 50),
                Outcome::Delivered,
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        let (log, _) = store.events(Filter::default(), None, 10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert!(
            log.iter().all(|e| e.url == "http://127.0.0.1:1/x"),
            "{log:?}"
        );
    })
    .await
}

/// The count bound counts entries, an attempt as the two or three it lists
/// as; a row that would cross it goes whole.
#[tokio::test(flavor = "multi_thread")]
async fn the_count_bound_counts_an_attempt_s_entries() {
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        insert(&store, message("m", 0)).await.unwrap();
        store
            .record_outcome(
                message("m", 0),
                attempt(500, 5),
                Outcome::Failed,
                no_callbacks,
            )
            .await
            .unwrap()
            .unwrap();
        let bounds = |max| Retention {
            log_max_age_ms: 1_000_000,
            log_max_entries: max,
            dlq_max_age_ms: 1_000_000,
            dlq_max_entries: 10,
        };
        assert_eq!(store.purge(100, bounds(4)).await.unwrap().events, 0);
        assert_eq!(store.purge(100, bounds(3)).await.unwrap().events, 1);
        assert_eq!(states(&store, "m").await, ["ACTIVE", "ERROR", "FAILED"]);
        assert_eq!(store.purge(100, bounds(2)).await.unwrap().events, 1);
        assert!(states(&store, "m").await.is_empty());
        assert_eq!(scalar(dir, "SELECT count(*) FROM log_messages"), 0);
    })
    .await
}

/// A page of the log ends early once its bodies reach `PAGE_BYTES`, with a
/// cursor, and walking the cursors still gives every entry once.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_page_of_large_bodies_ends_early_and_the_walk_misses_nothing() {
    use crate::store::rows::events::PAGE_BYTES;
    on_both(|dir| async move {
        let dir = &dir;
        let store = open(dir);
        let body = vec![b'x'; 1 << 20];
        for i in 0..20 {
            let mut m = message(&format!("m{i:02}"), 0);
            m.body = body.clone();
            insert(&store, m).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let (page, next) = store.events(Filter::default(), cursor, 1000).await.unwrap();
            let bytes: usize = page
                .iter()
                .map(|e| e.body.as_ref().map_or(0, Vec::len))
                .sum();
            assert!(!page.is_empty());
            assert!(
                bytes <= PAGE_BYTES + body.len(),
                "a page held {bytes} bytes"
            );
            seen.extend(page.into_iter().map(|e| e.message_id));
            pages += 1;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert!(pages > 1, "20 MiB of bodies fit in one page");
        seen.sort();
        let all: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
        assert_eq!(seen, all);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_connection_fails_writes_as_unwritable_until_the_writer_reconnects() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("note: {PG_ENV} is not set; this PostgreSQL-only test is skipped");
        return;
    };
    let store = open(&db);
    insert(&store, message("before", 1)).await.unwrap();
    assert_eq!(pending(&store, i64::MAX).await, ["before"]);
    db.cut_connections();
    let lost = insert(&store, message("during", 2)).await;
    assert!(matches!(lost, Err(StoreError::Unwritable(_))), "{lost:?}");
    assert!(store.write_fault().is_some(), "health knows");
    assert!(matches!(
        store.probe_writes().await,
        Err(StoreError::Unwritable(_))
    ));
    // The next write reconnects first (the first try is not held back).
    insert(&store, message("after", 3)).await.unwrap();
    assert!(store.write_fault().is_none());
    // A read client that broke was dropped: reads connect anew.
    let mut read = Vec::new();
    for _ in 0..3 {
        match store.pending_at_start(i64::MAX).await {
            Ok(p) => {
                read = p.into_iter().map(|p| p.id).collect();
                break;
            }
            Err(StoreError::Unwritable(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(read, ["before", "after"], "the lost write stored nothing");
}

/// Errors that are not the request's fault (the API answers 503, not 500).
#[test]
fn a_read_only_server_or_a_lock_not_had_in_time_is_unwritable() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("note: {PG_ENV} is not set; this PostgreSQL-only test is skipped");
        return;
    };
    let unwritable = |r: db::Result<()>| {
        let e = StoreError::from(r.expect_err("the statement fails"));
        assert!(matches!(e, StoreError::Unwritable(_)), "{e:?}");
    };
    db.with_conn(|a| {
        a.execute_batch("CREATE TABLE held (v BIGINT)").unwrap();
        unwritable(a.execute_batch("BEGIN READ ONLY; INSERT INTO held VALUES (1)"));
        a.execute_batch("ROLLBACK").unwrap();
        a.execute_batch("BEGIN; LOCK TABLE held").unwrap();
        db.with_conn(|b| {
            unwritable(b.execute_batch("BEGIN; LOCK TABLE held NOWAIT"));
            b.execute_batch("ROLLBACK").unwrap();
        });
        a.execute_batch("ROLLBACK").unwrap();
    });
}

#[test]
fn db_names_a_postgres_url_by_its_scheme_and_never_shows_its_password() {
    assert_eq!(
        DbTarget::parse("data/cronhook.db"),
        DbTarget::Sqlite("data/cronhook.db".into())
    );
    for url in ["postgres://h/db", "postgresql://h/db"] {
        assert_eq!(DbTarget::parse(url), DbTarget::Postgres(url.into()));
    }
    let db =
        DbTarget::parse("postgres://app:s3cret@db.internal:5432/cron?password=s3cret&sslmode=off");
    assert_eq!(
        db.to_string(),
        "postgres://app:********@db.internal:5432/cron?password=********&sslmode=off"
    );
    assert_eq!(
        DbTarget::parse("postgres://app@h/db").redacted(),
        "postgres://app@h/db"
    );
}

/// Counts the changes of each batch it sees, in the batch's transaction.
struct CountChanges;

impl BeforeCommit for CountChanges {
    fn before_commit(&self, conn: &db::Conn, changes: &[&[Change]]) -> Result<(), StoreError> {
        let n: usize = changes.iter().map(|c| c.len()).sum();
        if n > 1 {
            return Err(StoreError::Unwritable("the hook refused".into()));
        }
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('hook', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [n.to_string()],
        )?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_before_commit_hook_writes_in_the_batch_and_can_undo_it() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("note: {PG_ENV} is not set; this PostgreSQL-only test is skipped");
        return;
    };
    let store = open(&db);
    store.set_before_commit(Arc::new(CountChanges));
    insert(&store, message("one", 1)).await.unwrap();
    assert_eq!(
        scalar(
            &db,
            "SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'hook'"
        ),
        1,
        "the hook saw the message's change and its write committed with it"
    );
    let mut flow = message("two", 2);
    flow.delivery.queue_name = Some("q".into()); // a new queue: two changes
    assert!(matches!(
        insert(&store, flow).await,
        Err(StoreError::Unwritable(_))
    ));
    assert_eq!(
        pending(&store, i64::MAX).await,
        ["one"],
        "the batch was undone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timer_load_reads_every_armed_schedule_once() {
    on_both(|db| async move {
        let store = open(&db);
        for (id, next) in [("e", 5), ("a", 1), ("d", 4), ("c", 3), ("b", 2)] {
            store.put_schedule(schedule(id, next)).await.unwrap();
        }
        let mut paused = schedule("p", 9);
        paused.paused = true;
        store.put_schedule(paused).await.unwrap();
        let mut armed = store.armed_schedules().await.unwrap();
        armed.sort();
        let want: Vec<(String, i64)> = [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]
            .iter()
            .map(|(id, at)| (id.to_string(), *at))
            .collect();
        assert_eq!(armed, want, "in chunks on PostgreSQL, whole on SQLite");
    })
    .await
}
