//! The store's contract: group commit, slot uniqueness, outcomes, persistence.

use super::*;
use crate::model::{schedule_state, Delivery, FailedResponse, Message, Misfire, Schedule};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("t.db"), SyncMode::Normal).unwrap()
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
        caller_ip: None,
    }
}

fn message(id: &str, due: i64) -> Message {
    Message {
        id: id.into(),
        url: "http://127.0.0.1:1/x".into(),
        schedule_id: None,
        slot_at: None,
        delivery: Delivery::default(),
        body: b"hi".to_vec(),
        created_at: 1,
        not_before: due,
        due_at: due,
        retried: 0,
        caller_ip: None,
    }
}

fn fire_plan(slots: Vec<i64>, next: i64) -> impl FnOnce(&Schedule, i64) -> FirePlan + Send {
    move |_, _| FirePlan {
        fire: slots,
        next: Some(next),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let writes = (0..500).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.insert_message(message(&format!("m{i}"), i)).await })
    });
    for w in writes {
        w.await.unwrap().unwrap();
    }
    assert_eq!(store.pending_messages().await.unwrap().len(), 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_write_does_not_undo_the_others_in_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.insert_message(message("dup", 1)).await.unwrap();
    let a = store.insert_message(message("dup", 2)); // primary key violation
    let b = store.insert_message(message("fresh", 3));
    let (a, b) = tokio::join!(a, b);
    assert!(a.is_err());
    b.unwrap();
    let mut ids: Vec<_> = store
        .pending_messages()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["dup", "fresh"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn firing_creates_messages_and_moves_the_schedule_on_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.put_schedule(schedule("s", 1000)).await.unwrap();

    let fired = store
        .fire_schedule("s", 1500, fire_plan(vec![1000], 2000))
        .await
        .unwrap()
        .expect("due");
    assert_eq!(fired.messages.len(), 1);
    assert_eq!(fired.messages[0].schedule_id.as_deref(), Some("s"));
    assert_eq!(fired.next_fire_at, Some(2000));

    // The same slot again (a stale timer entry): nothing is due any more.
    assert!(store
        .fire_schedule("s", 1500, fire_plan(vec![1000], 2000))
        .await
        .unwrap()
        .is_none());

    let s = store.schedule("s").await.unwrap().unwrap();
    assert_eq!(s.last_fire_at, Some(1000));
    assert_eq!(
        s.last_states.get(&fired.messages[0].id).map(String::as_str),
        Some(schedule_state::IN_PROGRESS)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_slot_key_refuses_a_slot_that_already_fired() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.put_schedule(schedule("s", 1000)).await.unwrap();
    store
        .fire_schedule("s", 1000, fire_plan(vec![1000], 1000))
        .await
        .unwrap();
    // A plan that tries slot 1000 again (as a buggy or raced firing would).
    let again = store
        .fire_schedule("s", 1000, fire_plan(vec![1000], 3000))
        .await
        .unwrap()
        .unwrap();
    assert!(again.messages.is_empty());
    assert_eq!(store.pending_messages().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_or_deleted_schedules_do_not_fire() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.put_schedule(schedule("p", 1000)).await.unwrap();
    store.put_schedule(schedule("d", 1000)).await.unwrap();
    let paused = store
        .set_paused("p", true, |_| None)
        .await
        .unwrap()
        .unwrap();
    assert!(paused.paused && paused.next_fire_at.is_none());
    assert!(store.delete_schedule("d").await.unwrap());
    assert!(!store.delete_schedule("d").await.unwrap());
    for id in ["p", "d"] {
        assert!(store
            .fire_schedule(id, 5000, fire_plan(vec![1000], 2000))
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
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_replaces_settings_but_keeps_created_at() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
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
}

#[tokio::test(flavor = "multi_thread")]
async fn outcomes_move_messages_out_and_record_schedule_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.put_schedule(schedule("s", 1000)).await.unwrap();
    let fired = store
        .fire_schedule("s", 1000, fire_plan(vec![1000], 2000))
        .await
        .unwrap()
        .unwrap();
    let id = fired.messages[0].id.clone();

    assert!(store.record_retry(&id, 1, 9000).await.unwrap());
    let m = store.message(&id).await.unwrap().unwrap();
    assert_eq!((m.retried, m.due_at), (1, 9000));

    let response = FailedResponse {
        status: Some(500),
        body: b"boom".to_vec(),
        error: "HTTP 500".into(),
        ..Default::default()
    };
    let entry = store
        .record_failed(&id, 1, 9100, response.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(entry.dlq_id.starts_with("9100-"));
    assert!(store.message(&id).await.unwrap().is_none());
    let dlq = store.dlq_entries().await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].message.id, id);
    assert_eq!(dlq[0].response, response);
    let s = store.schedule("s").await.unwrap().unwrap();
    assert_eq!(s.last_states[&id], schedule_state::FAIL);

    // A second outcome for a message that already left is a no-op.
    assert!(store
        .record_failed(&id, 1, 9200, FailedResponse::default())
        .await
        .unwrap()
        .is_none());
    assert!(!store.record_retry(&id, 2, 9300).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store.put_schedule(schedule("s", 1000)).await.unwrap();
        store.insert_message(message("m", 42)).await.unwrap();
        store.record_retry("m", 2, 4242).await.unwrap();
        assert!(store.close(Duration::from_secs(5)));
    }
    let store = open(&dir);
    assert_eq!(
        store.armed_schedules().await.unwrap(),
        [("s".to_owned(), 1000)]
    );
    assert_eq!(
        store.pending_messages().await.unwrap(),
        [("m".to_owned(), 4242)]
    );
    assert_eq!(store.message("m").await.unwrap().unwrap().retried, 2);
}
