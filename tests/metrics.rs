//! `GET /metrics`: every `cronhook_*` family after a run with deliveries, a
//! retry, dead letters and missed slots, read back through the official
//! Python client's parser (`sdk-tests/python/parse_metrics.py`); the token
//! on the main listener and none on `--metrics-listen`.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use common::api::{call, create_schedule, publish, wait_for_dlq};
use common::inproc::InProcess;
use common::sink::Sink;
use common::wait::{wait_until, WAIT};
use common::{request, run_setup, run_with_timeout, ServerOptions, Target};

/// `GET /metrics` on `addr` with `headers`: status and body.
fn scrape(addr: SocketAddr, headers: &[(&str, &str)]) -> (u16, String) {
    request(addr, "GET", "/metrics", headers, b"").expect("GET /metrics")
}

/// The value of the series written exactly `series` (name and labels as
/// cronhook writes them), read from the text: only for waiting.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Scrapes the token-free listener until `series` has `want`.
fn wait_for_series(addr: SocketAddr, name: &str, want: f64) -> String {
    wait_for_scrape(addr, &[(name, want)])
}

/// Scrapes the token-free listener until one scrape has every `(series,
/// want)` pair.
///
/// A scrape is not one snapshot: it counts the database's rows, then reads
/// the counters, so an attempt whose outcome commits in between is counted
/// delivered while its message is still counted pending. Waiting for one
/// scrape that shows the settled state keeps the test exact.
fn wait_for_scrape(addr: SocketAddr, wanted: &[(&str, f64)]) -> String {
    let what: Vec<String> = wanted.iter().map(|(n, w)| format!("{n} = {w}")).collect();
    wait_until(WAIT, &what.join(", "), || {
        let (_, text) = scrape(addr, &[]);
        wanted
            .iter()
            .all(|(name, want)| series(&text, name) == Some(*want))
            .then_some(text)
    })
}

/// What the Python client's parser read.
struct Parsed {
    /// family name → type.
    families: serde_json::Map<String, Value>,
    /// `[sample name, labels, value]`.
    samples: Vec<Value>,
}

impl Parsed {
    /// The value of sample `name` whose labels include every one of `labels`;
    /// panics unless exactly one matches.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s[0] == name)
            .filter(|s| labels.iter().all(|(k, v)| s[1][*k] == *v))
            .map(|s| s[2].as_f64().expect("a number"))
            .collect();
        assert_eq!(found.len(), 1, "one {name} {labels:?}: {found:?}");
        found[0]
    }

    /// The cumulative count of histogram `name`'s bucket with upper bound `le`.
    fn bucket(&self, name: &str, le: f64) -> f64 {
        let sample = format!("{name}_bucket");
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s[0] == sample.as_str())
            .filter(|s| s[1]["le"].as_str().and_then(|v| v.parse::<f64>().ok()) == Some(le))
            .map(|s| s[2].as_f64().expect("a number"))
            .collect();
        assert_eq!(found.len(), 1, "one {sample} le={le}: {found:?}");
        found[0]
    }

    /// Every sample `name`'s labels.
    fn label_sets(&self, name: &str) -> Vec<Value> {
        self.samples
            .iter()
            .filter(|s| s[0] == name)
            .map(|s| s[1].clone())
            .collect()
    }

    fn family(&self, name: &str) -> &str {
        self.families
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no family {name} in {:?}", self.families.keys()))
    }
}

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sdk-tests")
        .join("python")
}

/// Parses `text` with `prometheus_client.parser`; panics if it refuses it.
fn parse(text: &str) -> Parsed {
    run_setup("setup-python.sh");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scrape.txt");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(python_dir().join(".venv").join("bin").join("python"));
    cmd.arg(python_dir().join("parse_metrics.py")).arg(&file);
    let (status, out, err) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        matches!(status, Some(s) if s.success()),
        "the Prometheus parser refused the scrape ({status:?}):\n{err}\n--- text ---\n{text}"
    );
    let v: Value = serde_json::from_str(&out).expect("parse_metrics.py prints JSON");
    Parsed {
        families: v["families"].as_object().unwrap().clone(),
        samples: v["samples"].as_array().unwrap().clone(),
    }
}

fn post<S: Target>(server: &S, path: &str, body: Value) {
    let (status, json) = call(
        server,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "POST {path}: {json}");
}

/// An address nothing listens on: deliveries to it get no response.
fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/nobody")
}

fn with_metrics_listener(c: &mut cronhook::Config) {
    c.metrics_listen = Some("127.0.0.1:0".into());
}

#[test]
fn a_scrape_after_a_run_counts_every_family_and_parses_as_prometheus_text() {
    let mut server = InProcess::start_with(with_metrics_listener);
    let sink = Sink::start();
    let t0 = server.now_ms();

    // Five minutely slots pass while cronhook is down; `skip` fires none.
    create_schedule(
        &server,
        &sink.url("/tick"),
        &[("Upstash-Cron", "* * * * *"), ("Cronhook-Misfire", "skip")],
        b"",
    );
    server.stop();
    server.advance(Duration::from_secs(5 * 60 + 30));
    server.start_again();
    let metrics = server.app().metrics_addr().expect("--metrics-listen");
    wait_for_series(
        metrics,
        r#"cronhook_missed_slots_total{reason="skip"}"#,
        5.0,
    );

    // A paused schedule next to the active one.
    let paused = create_schedule(
        &server,
        &sink.url("/never"),
        &[("Upstash-Cron", "0 0 1 1 *")],
        b"",
    );
    post(&server, &format!("/v2/schedules/{paused}/pause"), json!({}));

    // One attempt held out at the sink: in flight while it hangs.
    sink.answer_after("/slow", 200, &[], Duration::from_millis(1500));
    publish(&server, &sink.url("/slow"), &[], b"");
    wait_for_series(metrics, "cronhook_in_flight_attempts", 1.0);
    sink.wait_for("/slow", 1, WAIT);

    // Two delivered; one retried once, then dead-lettered (503 both times);
    // one that reaches nobody, dead-lettered at once.
    publish(&server, &sink.url("/ok"), &[], b"");
    publish(&server, &sink.url("/ok"), &[], b"");
    sink.answer("/fail", 503, &[("Retry-After", "0")]);
    let failing = publish(
        &server,
        &sink.url("/fail"),
        &[("Upstash-Retries", "1")],
        b"",
    );
    let nobody = publish(&server, &refused_url(), &[("Upstash-Retries", "0")], b"");
    wait_for_dlq(&server, &[&failing, &nobody]);

    // The next slot, while up: delivered, and its lateness observed.
    server.advance_to(t0 + 6 * 60_000);
    sink.wait_for("/tick", 1, WAIT);

    // Waiting: a paused queue with two messages, a paused flow-control key
    // with two (the key exists once a message named it), one delayed a day.
    post(
        &server,
        "/v2/queues",
        json!({"queueName": "held", "paused": true}),
    );
    for _ in 0..2 {
        let (status, json) = call(
            &server,
            "POST",
            &format!("/v2/enqueue/held/{}", sink.url("/queued")),
            &[],
            b"",
        );
        assert_eq!(status, 201, "{json}");
    }
    let flow = [
        ("Upstash-Flow-Control-Key", "fk"),
        ("Upstash-Flow-Control-Value", "parallelism=5"),
    ];
    publish(&server, &sink.url("/flow"), &flow, b"");
    sink.wait_for("/flow", 1, WAIT);
    let (status, _) = call(&server, "POST", "/v2/flowControl/fk/pause", &[], b"");
    assert_eq!(status, 200);
    publish(&server, &sink.url("/flow"), &flow, b"");
    publish(&server, &sink.url("/flow"), &flow, b"");
    publish(
        &server,
        &sink.url("/later"),
        &[("Upstash-Delay", "1d")],
        b"",
    );

    // Delivered: /slow, /ok twice, /tick, the first /flow; pending: two
    // queued, two behind the key, one delayed.
    let text = wait_for_scrape(
        metrics,
        &[
            (
                r#"cronhook_deliveries_total{outcome="delivered",status_class="2xx"}"#,
                5.0,
            ),
            (r#"cronhook_flow_control_waiting_messages{key="fk"}"#, 2.0),
            ("cronhook_pending_messages", 5.0),
            ("cronhook_in_flight_attempts", 0.0),
        ],
    );
    let m = parse(&text);

    let delivered = [("outcome", "delivered"), ("status_class", "2xx")];
    assert_eq!(m.value("cronhook_deliveries_total", &delivered), 5.0);
    let retried = [("outcome", "retry"), ("status_class", "5xx")];
    assert_eq!(m.value("cronhook_deliveries_total", &retried), 1.0);
    let failed = [("outcome", "failed"), ("status_class", "5xx")];
    assert_eq!(m.value("cronhook_deliveries_total", &failed), 1.0);
    let unanswered = [("outcome", "failed"), ("status_class", "none")];
    assert_eq!(m.value("cronhook_deliveries_total", &unanswered), 1.0);
    assert_eq!(m.family("cronhook_deliveries"), "counter");

    assert_eq!(m.family("cronhook_delivery_duration_seconds"), "histogram");
    assert_eq!(
        m.value("cronhook_delivery_duration_seconds_count", &[]),
        8.0
    );
    let slow_bucket = m.bucket("cronhook_delivery_duration_seconds", 1.0);
    assert_eq!(slow_bucket, 7.0, "the 1.5 s exchange is above 1 s");

    assert_eq!(m.family("cronhook_fire_lateness_seconds"), "histogram");
    assert_eq!(
        m.value("cronhook_fire_lateness_seconds_count", &[]),
        1.0,
        "the one scheduled first attempt"
    );
    assert_eq!(
        m.value("cronhook_missed_slots_total", &[("reason", "skip")]),
        5.0
    );

    assert_eq!(m.value("cronhook_schedules", &[("state", "active")]), 1.0);
    assert_eq!(m.value("cronhook_schedules", &[("state", "paused")]), 1.0);
    assert_eq!(
        m.value("cronhook_pending_messages", &[]),
        5.0,
        "two queued, two behind the key, one delayed"
    );
    assert_eq!(m.value("cronhook_dlq_messages", &[]), 2.0);
    assert_eq!(
        m.value("cronhook_leader", &[]),
        1.0,
        "one node, and it runs the engine"
    );
    assert_eq!(m.value("cronhook_in_flight_attempts", &[]), 0.0);
    assert_eq!(
        m.value("cronhook_queue_lag_messages", &[("queue", "held")]),
        2.0
    );
    assert_eq!(
        m.value("cronhook_queue_waiting_messages", &[("queue", "held")]),
        2.0,
        "a paused queue admits none"
    );
    assert_eq!(
        m.value("cronhook_flow_control_waiting_messages", &[("key", "fk")]),
        2.0
    );

    let commits = m.value("cronhook_store_commits_total", &[("result", "ok")]);
    assert!(commits >= 10.0, "{commits} commits");
    assert_eq!(m.value("cronhook_store_batch_jobs_count", &[]), commits);
    assert!(m.value("cronhook_store_batch_jobs_sum", &[]) >= commits);
    assert_eq!(
        m.value("cronhook_store_commit_duration_seconds_count", &[]),
        commits
    );
    assert!(m.value("cronhook_database_size_bytes", &[]) > 0.0);

    let names: Vec<&String> = m.families.keys().collect();
    assert!(
        names.iter().all(|n| n.starts_with("cronhook_")),
        "{names:?}"
    );
    assert!(
        m.label_sets("cronhook_deliveries_total")
            .iter()
            .all(|l| l.as_object().unwrap().len() == 2),
        "outcome and status class on every delivery series"
    );
}

#[test]
fn metrics_need_the_token_on_the_main_listener_and_none_on_the_metrics_listener() {
    let server = InProcess::start_with(with_metrics_listener);
    let metrics = server.app().metrics_addr().expect("--metrics-listen");

    let (status, body) = scrape(server.addr(), &[]);
    assert_eq!(status, 401, "{body}");
    let wrong = scrape(server.addr(), &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.0, 401, "{}", wrong.1);
    let auth = format!("Bearer {}", server.token());
    let (status, body) = scrape(server.addr(), &[("Authorization", &auth)]);
    assert_eq!(status, 200, "{body}");
    assert!(
        series(&body, "cronhook_pending_messages").is_some(),
        "{body}"
    );

    let (status, body) = scrape(metrics, &[]);
    assert_eq!(status, 200, "{body}");
    assert!(
        series(&body, "cronhook_pending_messages").is_some(),
        "{body}"
    );
    let (status, _) = request(metrics, "GET", "/v2/schedules", &[], b"").unwrap();
    assert_eq!(status, 404, "the metrics listener serves /metrics only");
}

#[test]
fn the_binary_serves_metrics_on_the_address_in_cronhook_metrics_listen() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_dir, server, _sink) = common::start_with(
        ServerOptions::default().env("CRONHOOK_METRICS_LISTEN", format!("127.0.0.1:{port}")),
    );
    let metrics = SocketAddr::from(([127, 0, 0, 1], port));
    let (status, body) = scrape(metrics, &[]);
    assert_eq!(status, 200, "{body}");
    parse(&body);
    assert_eq!(scrape(server.addr(), &[]).0, 401);
}

#[test]
fn a_metrics_listen_address_that_cannot_be_used_is_refused_at_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _schema) = common::backend::db_arg(&dir.path().join("c.db"));
    let mut config = cronhook::Config::new(common::backend::config_db(&db), "127.0.0.1:0");
    config.metrics_listen = Some("not an address".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = match runtime.block_on(cronhook::App::start(config)) {
        Ok(_) => panic!("started with a bad --metrics-listen"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("--metrics-listen not an address:"), "{err}");
}
