use super::*;

const GOOD: &str = r#"
[schedules.nightly]
destination = "https://example.com/nightly"
cron = "CRON_TZ=Europe/Berlin 0 3 * * *"
method = "PUT"
body = '{"kind":"nightly"}'
content_type = "application/json"
headers = { X-Team = "ops" }
retries = 2
retry_delay = "1000 * (1 + retried)"
delay = "30s"
timeout = 10
callback = "https://example.com/cb"
callback_retries = 1
failure_callback = "https://example.com/failed"
labels = ["reports", "nightly"]
queue = "reports"
flow_control = { key = "reports", parallelism = 2, rate = 10, period = "1m" }
misfire = "all"
start_at = "2030-01-01T00:00:00Z"
end_at = 1924992000
paused = true

[schedules."every-second@example.com"]
destination = "https://example.com/tick"
cron = "*/5 * * * * *"
seconds = true
"#;

#[test]
fn every_key_reaches_the_declared_schedule() {
    let file = parse(GOOD, "s.toml").unwrap();
    let ids: Vec<_> = file.entries.iter().map(|e| e.entry.id.as_str()).collect();
    assert_eq!(ids, ["nightly", "every-second@example.com"], "file order");
    let d = &file.entries[0].declared;
    let r = &d.request;
    assert!(d.paused);
    assert_eq!(r.destination, "https://example.com/nightly");
    assert_eq!(r.cron.expression(), "CRON_TZ=Europe/Berlin 0 3 * * *");
    assert_eq!(r.body, br#"{"kind":"nightly"}"#);
    assert_eq!(r.misfire, crate::model::Misfire::All);
    let del = &r.delivery;
    assert_eq!(del.method, "PUT");
    assert_eq!(del.headers["Content-Type"], ["application/json"]);
    assert_eq!(del.headers["X-Team"], ["ops"]);
    assert_eq!(del.retries, 2);
    assert_eq!(del.retry_delay.as_deref(), Some("1000 * (1 + retried)"));
    assert_eq!(del.delay_ms, 30_000);
    assert_eq!(del.timeout_ms, Some(10_000));
    assert_eq!(del.callback.as_deref(), Some("https://example.com/cb"));
    assert_eq!(del.callback_options.retries, Some(1));
    assert_eq!(
        del.failure_callback.as_deref(),
        Some("https://example.com/failed")
    );
    assert_eq!(del.labels, ["reports", "nightly"]);
    assert_eq!(del.queue_name.as_deref(), Some("reports"));
    let fc = del.flow_control.as_ref().unwrap();
    assert_eq!(
        (fc.key.as_str(), fc.parallelism, fc.rate, fc.period),
        ("reports", Some(2), Some(10), 60)
    );
    // Both forms of a bound: RFC 3339 and Unix seconds.
    assert_eq!(r.start_at, Some(1_893_456_000_000));
    assert_eq!(r.end_at, Some(1_924_992_000_000));
    let tick = &file.entries[1].declared.request;
    assert!(tick.cron.has_seconds());
}

fn error(text: &str) -> FileError {
    parse(text, "s.toml").unwrap_err()
}

#[test]
fn a_bad_cron_names_its_line_and_the_problem() {
    let e = error(
        "[schedules.a]\ndestination = \"https://x.test/\"\ncron = \"* * * * *\"\n\n[schedules.b]\ndestination = \"https://x.test/\"\ncron = \"61 * * * *\"\n",
    );
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.problem.starts_with("schedule \"b\", cron: "), "{e}");
    assert!(e.to_string().starts_with("s.toml:7: "), "{e}");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let e = error(
        "[schedules.a]\ndestination = \"https://x.test/\"\ncron = \"* * * * *\"\nretires = 3\n",
    );
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.problem.contains("retires"), "{e}");
}

#[test]
fn bad_toml_names_its_line() {
    let e = error("[schedules.a]\ndestination = \"https://x.test/\"\ncron = \"* * * * *\n");
    assert_eq!(e.line, Some(3), "{e}");
}

#[test]
fn required_keys_and_bad_values_name_the_schedule() {
    let e = error("\n[schedules.a]\ncron = \"* * * * *\"\n");
    assert_eq!(
        (e.line, e.problem.as_str()),
        (Some(2), "schedule \"a\": destination is required")
    );
    let e = error("[schedules.a]\ndestination = \"ftp://x\"\ncron = \"* * * * *\"\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.problem.starts_with("schedule \"a\", destination: "),
        "{e}"
    );
    let e = error("[schedules.a]\ndestination = \"https://x.test/\"\ncron = \"* * * * *\"\nretries = 3\n\nretry_delay = \"0 - 1000\"\n");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.problem.starts_with("schedule \"a\", retry_delay: "),
        "{e}"
    );
    let e = error("[schedules.\"a b\"]\ndestination = \"https://x.test/\"\ncron = \"* * * * *\"\n");
    assert!(e.problem.starts_with("schedule \"a b\", id: "), "{e}");
}
