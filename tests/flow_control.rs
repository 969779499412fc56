//! Flow control (§4.11, §9.5), enforced: per key, at most `parallelism`
//! attempts in flight and at most `rate` attempt starts per `period`; the
//! rest wait in the key's waitlist, in order, and are never dropped, also
//! across a kill -9. Limits are observed where they matter, at real sinks.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Router;
use serde_json::Value;

use common::api::{assert_error, call, publish};
use common::inproc::InProcess;
use common::sink::{Sink, QUIET};
use common::wait::{wait_until, WAIT};
use common::{ServerProcess, Target};

/// A destination that holds every request until the test lets it go, and
/// counts how many it holds at once: parallelism, observed.
struct HoldingSink {
    addr: SocketAddr,
    shared: Arc<Held>,
    _runtime: tokio::runtime::Runtime,
}

struct Held {
    arrived: AtomicUsize,
    holding: AtomicUsize,
    most: AtomicUsize,
    /// One permit lets one held request answer.
    release: tokio::sync::Semaphore,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            arrived: AtomicUsize::new(0),
            holding: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            release: tokio::sync::Semaphore::new(0),
        }
    }
}

async fn hold(State(held): State<Arc<Held>>) -> &'static str {
    held.arrived.fetch_add(1, Ordering::SeqCst);
    let now = held.holding.fetch_add(1, Ordering::SeqCst) + 1;
    held.most.fetch_max(now, Ordering::SeqCst);
    held.release.acquire().await.unwrap().forget();
    held.holding.fetch_sub(1, Ordering::SeqCst);
    "ok"
}

impl HoldingSink {
    fn start() -> HoldingSink {
        HoldingSink::sharing(Arc::new(Held::default()))
    }

    /// A second destination (another port, so another lane) that counts
    /// and holds together with this one.
    fn another(&self) -> HoldingSink {
        HoldingSink::sharing(self.shared.clone())
    }

    fn sharing(shared: Arc<Held>) -> HoldingSink {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = Router::new().fallback(hold).with_state(shared.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await });
        HoldingSink {
            addr,
            shared,
            _runtime: runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn arrived(&self) -> usize {
        self.shared.arrived.load(Ordering::SeqCst)
    }

    fn holding(&self) -> usize {
        self.shared.holding.load(Ordering::SeqCst)
    }

    fn most(&self) -> usize {
        self.shared.most.load(Ordering::SeqCst)
    }

    fn let_go(&self, n: usize) {
        self.shared.release.add_permits(n);
    }
}

fn flow(value: &'static str) -> [(&'static str, &'static str); 2] {
    [
        ("Upstash-Flow-Control-Key", "fk"),
        ("Upstash-Flow-Control-Value", value),
    ]
}

fn info<S: Target + ?Sized>(server: &S, key: &str) -> Value {
    let (status, json) = call(server, "GET", &format!("/v2/flowControl/{key}"), &[], b"");
    assert_eq!(status, 200, "{json}");
    json
}

fn post<S: Target + ?Sized>(server: &S, path: &str) -> (u16, Value) {
    call(server, "POST", path, &[], b"")
}

fn wait_for_info<S: Target + ?Sized>(server: &S, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_until(WAIT, what, || Some(info(server, "fk")).filter(|i| f(i)))
}

#[test]
fn parallelism_caps_attempts_in_flight_across_destinations_sharing_a_key() {
    let server = InProcess::start();
    let a = HoldingSink::start();
    let b = a.another();
    for i in 0..6 {
        let sink = if i % 2 == 0 { &a } else { &b };
        publish(&server, &sink.url("/p"), &flow("parallelism=2"), b"");
    }
    wait_until(WAIT, "two attempts in flight", || {
        (a.holding() == 2).then_some(())
    });
    std::thread::sleep(QUIET);
    assert_eq!(a.arrived(), 2, "no third while two are held");
    let i = info(&server, "fk");
    assert_eq!(i["parallelismCount"], 2, "{i}");
    assert_eq!(i["waitListSize"], 4, "{i}");
    assert_eq!(i["parallelismMax"], 2, "{i}");

    // Each answer lets one waiter start, until all six arrived.
    for arrived in 3..=6 {
        a.let_go(1);
        wait_until(WAIT, "the next waiter starts", || {
            (a.arrived() >= arrived).then_some(())
        });
    }
    a.let_go(2);
    wait_for_info(&server, "all six done", |i| {
        i["parallelismCount"] == 0 && i["waitListSize"] == 0
    });
    assert_eq!(a.arrived(), 6, "each message once");
    assert_eq!(
        a.most(),
        2,
        "never more than two at once, on both destinations"
    );
}

#[test]
fn rate_caps_attempt_starts_per_period_on_the_engines_clock() {
    let server = InProcess::start();
    let sink = Sink::start();
    for _ in 0..5 {
        publish(&server, &sink.url("/r"), &flow("rate=2, period=10s"), b"");
    }
    let t0 = server.now_ms();
    sink.wait_for("/r", 2, WAIT);
    sink.assert_stays("/r", 2, "two starts in the first period");
    let i = info(&server, "fk");
    assert_eq!(i["rateCount"], 2, "{i}");
    assert_eq!(i["rateMax"], 2, "{i}");
    assert_eq!(i["ratePeriod"], 10, "{i}");
    assert_eq!(i["waitListSize"], 3, "{i}");
    assert_eq!(i["ratePeriodStart"], t0 / 1000, "{i}");

    server.advance(Duration::from_millis(9_999));
    sink.assert_stays("/r", 2, "the period has not ended");
    server.advance(Duration::from_millis(1));
    sink.wait_for("/r", 4, WAIT);
    sink.assert_stays("/r", 4, "two more in the second period");
    server.advance(Duration::from_secs(10));
    assert_eq!(sink.wait_for("/r", 5, WAIT).len(), 5, "the last one");
    let ids: BTreeSet<_> = sink
        .received("/r")
        .iter()
        .map(|r| r.header("Upstash-Message-Id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 5, "each message once");
}

#[test]
fn a_paused_key_keeps_its_messages_waiting_until_resumed() {
    let server = InProcess::start();
    let sink = Sink::start();
    publish(&server, &sink.url("/w"), &flow("parallelism=5"), b"");
    sink.wait_for("/w", 1, WAIT);
    assert_eq!(post(&server, "/v2/flowControl/fk/pause").0, 200);
    assert_eq!(info(&server, "fk")["isPaused"], true);
    for _ in 0..3 {
        publish(&server, &sink.url("/w"), &flow("parallelism=5"), b"");
    }
    sink.assert_stays("/w", 1, "nothing starts while paused");
    assert_eq!(info(&server, "fk")["waitListSize"], 3);
    assert_eq!(post(&server, "/v2/flowControl/fk/resume").0, 200);
    assert_eq!(sink.wait_for("/w", 4, WAIT).len(), 4);
    assert_eq!(info(&server, "fk")["isPaused"], false);
}

#[test]
fn pins_override_received_limits_until_unpinned() {
    let server = InProcess::start();
    let sink = Sink::start();
    publish(
        &server,
        &sink.url("/n"),
        &flow("parallelism=1, rate=5, period=10"),
        b"",
    );
    sink.wait_for("/n", 1, WAIT);
    let i = info(&server, "fk");
    assert_eq!(
        (&i["parallelismMax"], &i["rateMax"], &i["ratePeriod"]),
        (&Value::from(1), &Value::from(5), &Value::from(10)),
        "{i}"
    );
    assert_eq!(i["isPinnedParallelism"], false);

    assert_eq!(post(&server, "/v2/flowControl/fk/pin?parallelism=3").0, 200);
    // A later message's limits are stored but the pin wins.
    publish(
        &server,
        &sink.url("/n"),
        &flow("parallelism=2, rate=5, period=10"),
        b"",
    );
    let i = info(&server, "fk");
    assert_eq!(i["parallelismMax"], 3, "{i}");
    assert_eq!(i["isPinnedParallelism"], true);
    assert_eq!(i["isPinnedRate"], false);

    server.advance(Duration::from_secs(3));
    assert_eq!(
        post(&server, "/v2/flowControl/fk/pin?rate=7&period=20").0,
        200
    );
    let i = info(&server, "fk");
    assert_eq!(
        (&i["rateMax"], &i["ratePeriod"]),
        (&Value::from(7), &Value::from(20))
    );
    assert_eq!(i["isPinnedRate"], true);
    assert_eq!(i["rateCount"], 0, "pinning starts a new period: {i}");
    assert_eq!(i["ratePeriodStart"], server.now_ms() / 1000);

    let (status, _) = post(
        &server,
        "/v2/flowControl/fk/unpin?parallelism=true&rate=false",
    );
    assert_eq!(status, 200);
    let i = info(&server, "fk");
    assert_eq!(i["parallelismMax"], 2, "the latest received value: {i}");
    assert_eq!(i["isPinnedParallelism"], false);
    assert_eq!(i["isPinnedRate"], true);
    assert_eq!(post(&server, "/v2/flowControl/fk/unpin?rate=true").0, 200);
    let i = info(&server, "fk");
    assert_eq!(
        (&i["rateMax"], &i["ratePeriod"]),
        (&Value::from(5), &Value::from(10))
    );
}

#[test]
fn reset_rate_clears_the_count_and_lets_waiters_start_now() {
    let server = InProcess::start();
    let sink = Sink::start();
    for _ in 0..3 {
        publish(&server, &sink.url("/x"), &flow("rate=1, period=1h"), b"");
    }
    sink.wait_for("/x", 1, WAIT);
    sink.assert_stays("/x", 1, "one start per hour");
    assert_eq!(info(&server, "fk")["rateCount"], 1);
    server.advance(Duration::from_secs(5));
    assert_eq!(post(&server, "/v2/flowControl/fk/resetRate").0, 200);
    assert_eq!(sink.wait_for("/x", 2, WAIT).len(), 2, "a new period began");
    sink.assert_stays("/x", 2, "and holds one start");
    let i = info(&server, "fk");
    assert_eq!(i["ratePeriodStart"], server.now_ms() / 1000, "{i}");
    assert_eq!(i["rateCount"], 1, "{i}");
    assert_eq!(i["waitListSize"], 1, "{i}");
}

#[test]
fn keys_are_listed_and_searched_and_unknown_ones_are_404() {
    let server = InProcess::start();
    let sink = Sink::start();
    for key in ["orders-eu", "orders-us", "mail"] {
        publish(
            &server,
            &sink.url("/l"),
            &[
                ("Upstash-Flow-Control-Key", key),
                ("Upstash-Flow-Control-Value", "parallelism=1"),
            ],
            b"",
        );
    }
    let (status, all) = call(&server, "GET", "/v2/flowControl", &[], b"");
    assert_eq!(status, 200);
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["flowControlKey"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&all), ["mail", "orders-eu", "orders-us"]);
    let (_, some) = call(&server, "GET", "/v2/flowControl?search=orders", &[], b"");
    assert_eq!(names(&some), ["orders-eu", "orders-us"]);
    common::api::assert_has_fields(
        &all[0],
        &[
            "flowControlKey",
            "waitListSize",
            "parallelismMax",
            "parallelismCount",
            "rateMax",
            "rateCount",
            "ratePeriod",
            "ratePeriodStart",
            "isPaused",
            "isPinnedParallelism",
            "isPinnedRate",
        ],
    );

    let (status, json) = call(&server, "GET", "/v2/flowControl/nope", &[], b"");
    assert_error(status, &json, 404, &["nope"]);
    for action in [
        "pause",
        "resume",
        "resetRate",
        "pin?rate=1",
        "unpin?rate=true",
    ] {
        let (status, json) = post(&server, &format!("/v2/flowControl/nope/{action}"));
        assert_error(status, &json, 404, &["nope"]);
    }
}

#[test]
fn bad_flow_control_input_is_a_400_naming_it() {
    let server = InProcess::start();
    let sink = Sink::start();
    publish(&server, &sink.url("/b"), &flow("parallelism=1"), b"");
    let table = [
        ("pin?parallelism=0", "parallelism"),
        ("pin?rate=many", "rate"),
        ("pin?period=8d", "period"),
        ("pin?period=0", "period"),
        ("pin", "pin"),
        ("pin?parallelism=1&burst=2", "burst"),
        ("unpin?rate=yes", "rate"),
        ("unpin", "unpin"),
        ("pause?now=1", "now"),
    ];
    for (path, needle) in table {
        let (status, json) = post(&server, &format!("/v2/flowControl/fk/{path}"));
        assert_error(status, &json, 400, &[needle]);
    }
    let (status, json) = post(&server, "/v2/flowControl/fk/freeze");
    assert_error(status, &json, 404, &["freeze"]);
    let (status, json) = call(&server, "GET", "/v2/flowControl?serch=x", &[], b"");
    assert_error(status, &json, 400, &["serch"]);
    for value in ["period=8d", "rate=0", "parallelism=-1", "burst=3"] {
        let (status, json) = call(
            &server,
            "POST",
            &format!("/v2/publish/{}", sink.url("/b")),
            &[
                ("Upstash-Flow-Control-Key", "fk"),
                ("Upstash-Flow-Control-Value", value),
            ],
            b"",
        );
        assert_error(status, &json, 400, &["Upstash-Flow-Control-Value"]);
    }
}

#[test]
fn global_parallelism_reports_the_bound_and_the_attempts_in_flight() {
    let server = InProcess::start_with(|c| c.max_in_flight = 7);
    let held = HoldingSink::start();
    publish(&server, &held.url("/g"), &[], b"");
    wait_until(WAIT, "one attempt in flight", || {
        (held.holding() == 1).then_some(())
    });
    let (status, json) = call(&server, "GET", "/v2/globalParallelism", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(json["parallelismMax"], 7, "{json}");
    wait_until(WAIT, "counted", || {
        let (_, json) = call(&server, "GET", "/v2/globalParallelism", &[], b"");
        (json["parallelismCount"] == 1).then_some(())
    });
    held.let_go(1);
}

#[test]
fn schedules_and_batches_carry_their_flow_control() {
    let server = InProcess::start();
    let held = HoldingSink::start();
    let one = serde_json::json!({
        "destination": held.url("/batch"),
        "headers": {
            "Upstash-Flow-Control-Key": "fk",
            "Upstash-Flow-Control-Value": "parallelism=1",
        },
    });
    let batch = serde_json::to_vec(&vec![one.clone(), one]).unwrap();
    let (status, json) = call(
        &server,
        "POST",
        "/v2/batch",
        &[("Content-Type", "application/json")],
        &batch,
    );
    assert_eq!(status, 200, "{json}");
    common::api::create_schedule(
        &server,
        &held.url("/cron"),
        &[
            ("Upstash-Cron", "* * * * *"),
            flow("parallelism=1")[0],
            flow("parallelism=1")[1],
        ],
        b"",
    );
    server.advance(Duration::from_secs(60));
    wait_for_info(&server, "one running, two waiting", |i| {
        i["parallelismCount"] == 1 && i["waitListSize"] == 2
    });
    assert_eq!(held.arrived(), 1);
    held.let_go(3);
    wait_until(WAIT, "all three", || (held.arrived() == 3).then_some(()));
    assert_eq!(held.most(), 1);
}

#[test]
fn the_waitlist_survives_kill_9_and_every_message_is_delivered_once_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    sink.answer_after("/k", 200, &[], Duration::from_millis(100));
    let mut first = ServerProcess::start(&db);
    let mut ids = BTreeSet::new();
    for _ in 0..20 {
        ids.insert(publish(
            &first,
            &sink.url("/k"),
            &flow("parallelism=1"),
            b"",
        ));
    }
    sink.wait_for("/k", 2, WAIT);
    first.kill9();
    let delivered_before = sink.received("/k").len();
    assert!(delivered_before < 20, "killed while most still waited");

    let second = ServerProcess::start(&db);
    let got = wait_until(Duration::from_secs(60), "every message delivered", || {
        let got: BTreeSet<String> = sink
            .received("/k")
            .iter()
            .map(|r| r.header("Upstash-Message-Id").unwrap().to_owned())
            .collect();
        (got.len() == ids.len()).then_some(got)
    });
    assert_eq!(got, ids, "none lost, none invented");
    // At most the attempt in flight at the kill arrives twice.
    let all = sink.received("/k").len();
    assert!(
        all <= ids.len() + 1,
        "{all} deliveries of {} messages",
        ids.len()
    );
    let i = wait_until(WAIT, "the waitlist drained", || {
        Some(info(&second, "fk")).filter(|i| i["waitListSize"] == 0 && i["parallelismCount"] == 0)
    });
    assert_eq!(i["parallelismMax"], 1, "the key's limits survived: {i}");
}

#[test]
fn after_a_restart_waiting_messages_rejoin_the_waitlist_and_the_pause_holds() {
    let mut server = InProcess::start();
    let sink = Sink::start();
    publish(&server, &sink.url("/s"), &flow("parallelism=1"), b"");
    sink.wait_for("/s", 1, WAIT);
    assert_eq!(post(&server, "/v2/flowControl/fk/pause").0, 200);
    for _ in 0..4 {
        publish(&server, &sink.url("/s"), &flow("parallelism=1"), b"");
    }
    server.stop();
    server.start_again();
    let i = wait_for_info(&server, "all four back in the waitlist", |i| {
        i["waitListSize"] == 4
    });
    assert_eq!(i["isPaused"], true, "{i}");
    sink.assert_stays("/s", 1, "still paused after the restart");
    assert_eq!(post(&server, "/v2/flowControl/fk/resume").0, 200);
    assert_eq!(sink.wait_for("/s", 5, WAIT).len(), 5);
}

#[test]
fn a_cancelled_waiter_leaves_the_waitlist_and_the_others_still_go() {
    let server = InProcess::start();
    let sink = Sink::start();
    publish(&server, &sink.url("/c"), &flow("parallelism=1"), b"");
    sink.wait_for("/c", 1, WAIT);
    assert_eq!(post(&server, "/v2/flowControl/fk/pause").0, 200);
    let waiting: Vec<String> = (0..3)
        .map(|_| publish(&server, &sink.url("/c"), &flow("parallelism=1"), b""))
        .collect();
    wait_for_info(&server, "three waiting", |i| i["waitListSize"] == 3);
    let (status, json) = call(
        &server,
        "DELETE",
        &format!("/v2/messages/{}", waiting[1]),
        &[],
        b"",
    );
    assert!((200..300).contains(&status), "{status} {json}");
    wait_for_info(&server, "two waiting", |i| i["waitListSize"] == 2);
    assert_eq!(post(&server, "/v2/flowControl/fk/resume").0, 200);
    sink.wait_for("/c", 3, WAIT);
    sink.assert_stays("/c", 3, "the cancelled one is not delivered");
    let got: BTreeSet<String> = sink
        .received("/c")
        .iter()
        .map(|r| r.header("Upstash-Message-Id").unwrap().to_owned())
        .collect();
    assert!(!got.contains(&waiting[1]));
}

/// A workflow message as the SDK sends it in a batch (workflow-wire §2.1).
fn workflow_item(url: &str, init: bool, extra: &[(&str, &str)], body: &str) -> Value {
    let mut h = serde_json::json!({
        "upstash-workflow-runid": "wfr_flow",
        "upstash-workflow-init": init.to_string(),
        "upstash-workflow-url": url,
        "upstash-workflow-sdk-version": "1",
        "upstash-forward-upstash-workflow-sdk-version": "1",
        "upstash-method": "POST",
        "content-type": "application/json",
    });
    for (k, v) in extra {
        h[*k] = Value::from(*v);
    }
    serde_json::json!([{ "destination": url, "headers": h, "body": body }])
}

#[test]
fn workflow_steps_wait_under_the_flow_control_their_run_was_triggered_with() {
    let server = InProcess::start();
    let sink = Sink::start();
    let url = sink.url("/wf");
    let batch = |items: Value| {
        let (status, json) = call(
            &server,
            "POST",
            "/v2/batch",
            &[("Content-Type", "application/json")],
            items.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{json}");
    };
    batch(workflow_item(
        &url,
        true,
        &[
            ("upstash-flow-control-key", "fk"),
            ("upstash-flow-control-value", "parallelism=1"),
        ],
        r#"{"n":1}"#,
    ));
    sink.wait_for("/wf", 1, WAIT);
    assert_eq!(post(&server, "/v2/flowControl/fk/pause").0, 200);
    // Steps carry no flow control of their own (§3.2): the run's applies.
    batch(workflow_item(
        &url,
        false,
        &[],
        r#"{"stepId":1,"stepName":"one","stepType":"Run","out":"1","concurrent":1}"#,
    ));
    wait_for_info(&server, "the step waits", |i| i["waitListSize"] == 1);
    sink.assert_stays("/wf", 1, "not while paused");
    assert_eq!(post(&server, "/v2/flowControl/fk/resume").0, 200);
    assert_eq!(sink.wait_for("/wf", 2, WAIT).len(), 2);
}
