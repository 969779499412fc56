//! Two nodes on one PostgreSQL database keep the rules one cronhook keeps:
//! a deduplication id sent to both at once creates one message, a queue's
//! parallelism and order hold for messages enqueued through either node, a
//! key rotation on one node is what every node answers and signs with, a
//! schedule created on the node that does not lead fires, once per slot,
//! and both nodes name the same leader.
//!
//! PostgreSQL only (`CRONHOOK_TEST_POSTGRES`; without it each test says so
//! and returns). Real binaries, a real sink on 127.0.0.1.

mod common;

use std::path::Path;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use common::api::{call, create_schedule};
use common::sink::Sink;
use common::wait::wait_until;
use common::{ServerOptions, ServerProcess};

const TOKEN: &str = "cluster-rules-token-0123456789";

/// Two nodes on a fresh database, or None (after saying why) on SQLite.
fn two_nodes() -> Option<(tempfile::TempDir, ServerProcess, ServerProcess)> {
    if common::skip_on_sqlite("several nodes share a PostgreSQL database") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two(&dir.path().join("cronhook.db"));
    Some((dir, a, b))
}

fn start_two(db: &Path) -> (ServerProcess, ServerProcess) {
    let opts = || {
        ServerOptions::default()
            .env("QSTASH_TOKEN", TOKEN)
            .env("QSTASH_CURRENT_SIGNING_KEY", "sig_rules_current_0123456789")
            .env("QSTASH_NEXT_SIGNING_KEY", "sig_rules_next_0123456789")
            .arg("--lease")
            .arg("2s")
    };
    let a = ServerProcess::start_with(db, opts());
    let b = ServerProcess::start_with(db, opts());
    (a, b)
}

#[test]
fn one_deduplication_id_sent_to_two_nodes_at_once_creates_one_message() {
    let Some((_dir, a, b)) = two_nodes() else {
        return;
    };
    let sink = Sink::start();
    let url = sink.url("/dedup");
    const IDS: usize = 20;
    for i in 0..IDS {
        let dedup = format!("order-{i}");
        let barrier = Barrier::new(2);
        let answers: Vec<(u16, serde_json::Value)> = thread::scope(|scope| {
            [&a, &b]
                .map(|node| {
                    let (barrier, url, dedup) = (&barrier, &url, &dedup);
                    scope.spawn(move || {
                        barrier.wait();
                        call(
                            node,
                            "POST",
                            &format!("/v2/publish/{url}"),
                            &[("Upstash-Deduplication-Id", dedup)],
                            b"x",
                        )
                    })
                })
                .map(|t| t.join().unwrap())
                .into()
        });
        let mut statuses = [answers[0].0, answers[1].0];
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 202],
            "one creates, one is deduplicated: {answers:?}"
        );
        assert_eq!(
            answers[0].1["messageId"], answers[1].1["messageId"],
            "both nodes answer the message the id created first"
        );
    }
    sink.wait_for("/dedup", IDS, Duration::from_secs(30));
    sink.assert_stays("/dedup", IDS, "one message per deduplication id");
}

#[test]
/// The enqueues alternate between the nodes, each acknowledged before the
/// next is sent: so whichever node leads, one of each pair is its own
/// commit and the other arrives as a notice, and the line must still be in
/// the order of the acknowledgements.
fn a_queue_keeps_its_parallelism_and_its_order_across_nodes() {
    let Some((_dir, a, b)) = two_nodes() else {
        return;
    };
    let sink = Sink::start();
    sink.answer_after("/queued", 200, &[], Duration::from_millis(100));
    let (status, json) = call(
        &a,
        "POST",
        "/v2/queues",
        &[("Content-Type", "application/json")],
        br#"{"queueName":"jobs","parallelism":1}"#,
    );
    assert_eq!(status, 200, "{json}");
    const N: usize = 10;
    for i in 0..N {
        let node = if i % 2 == 0 { &a } else { &b };
        let (status, json) = call(
            node,
            "POST",
            &format!("/v2/enqueue/jobs/{}", sink.url("/queued")),
            &[],
            i.to_string().as_bytes(),
        );
        assert_eq!(status, 201, "{json}");
    }
    let got = sink.wait_for("/queued", N, Duration::from_secs(30));
    let bodies: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(bodies, want, "in enqueue order, each once");
    assert_eq!(sink.max_concurrent("/queued"), 1, "one at a time");
}

#[test]
fn a_key_rotation_on_one_node_is_what_both_answer() {
    let Some((_dir, a, b)) = two_nodes() else {
        return;
    };
    let (status, rotated) = call(&b, "POST", "/v2/keys/rotate", &[], b"");
    assert_eq!(status, 200, "{rotated}");
    for node in [&a, &b] {
        wait_until(
            Duration::from_secs(15),
            "both nodes answer the new keys",
            || {
                let (_, keys) = call(node, "GET", "/v2/keys", &[], b"");
                (keys == rotated).then_some(())
            },
        );
    }
}

#[test]
fn a_schedule_created_on_either_node_fires_each_slot_once() {
    let Some((_dir, a, b)) = two_nodes() else {
        return;
    };
    let sink = Sink::start();
    for (node, path) in [(&a, "/from-a"), (&b, "/from-b")] {
        create_schedule(
            node,
            &sink.url(path),
            &[
                ("Upstash-Cron", "* * * * * *"),
                ("Cronhook-Cron-Seconds", "true"),
            ],
            b"tick",
        );
    }
    for path in ["/from-a", "/from-b"] {
        let got = sink.wait_for(path, 3, Duration::from_secs(30));
        assert!(
            got.len() >= 3,
            "{path}: the schedule fires: {} deliveries",
            got.len()
        );
        let mut slots: Vec<&str> = got
            .iter()
            .filter_map(|r| r.header("Cronhook-Slot-Time"))
            .collect();
        let n = slots.len();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), n, "{path}: no slot delivered twice: {slots:?}");
    }
}

#[test]
fn both_nodes_list_the_same_two_nodes_and_name_one_leader() {
    let Some((_dir, a, b)) = two_nodes() else {
        return;
    };
    let cluster = |node: &ServerProcess| {
        let (status, json) = call(node, "GET", "/cronhook/v1/cluster", &[], b"");
        assert_eq!(status, 200, "{json}");
        json
    };
    // The follower's first lease round may still be under way: both rows
    // are there within a round.
    let (seen_a, seen_b) = wait_until(Duration::from_secs(30), "two nodes listed by both", || {
        let (x, y) = (cluster(&a), cluster(&b));
        (x["nodes"].as_array()?.len() == 2 && y["nodes"].as_array()?.len() == 2).then_some((x, y))
    });
    let ids = |json: &serde_json::Value| -> Vec<String> {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["node"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&seen_a), ids(&seen_b), "the same list on both");
    assert_ne!(seen_a["node"], seen_b["node"], "each node has its own id");
    let leaders: Vec<&serde_json::Value> = seen_a["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["leader"] == true)
        .collect();
    assert_eq!(leaders.len(), 1, "one leader: {seen_a}");
    let leader = leaders[0]["node"].clone();
    for (seen, node) in [(&seen_a, &a), (&seen_b, &b)] {
        let leads = seen["node"] == leader;
        assert_eq!(
            seen["leader"], leads,
            "a node says it leads when it does: {seen}"
        );
        let (status, text) = common::request(
            common::Target::addr(node),
            "GET",
            "/metrics",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"",
        )
        .unwrap();
        assert_eq!(status, 200);
        let want = if leads {
            "cronhook_leader 1"
        } else {
            "cronhook_leader 0"
        };
        assert!(
            text.lines().any(|l| l == want),
            "{want} on {}: {text}",
            seen["node"]
        );
    }
}
