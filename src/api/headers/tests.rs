//! Header parsing as a table: what each `Upstash-*` header becomes, and what
//! each bad value is told.

use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn cron(extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let mut v = vec![("upstash-cron", "*/5 * * * *".to_owned())];
    v.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    v.into_iter()
        .map(|(k, v)| (Box::leak(k.to_owned().into_boxed_str()) as &str, v))
        .collect()
}

fn parse(pairs: &[(&str, &str)]) -> Result<ScheduleHeaders, HeaderError> {
    let owned = cron(pairs);
    let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    schedule(&map(&refs))
}

#[test]
fn defaults_are_qstash_defaults() {
    let s = parse(&[]).unwrap();
    assert_eq!(s.delivery, Delivery::default());
    assert_eq!(s.delivery.method, "POST");
    assert_eq!(s.delivery.retries, 3);
    assert_eq!(s.misfire, Misfire::Once);
    assert_eq!(s.schedule_id, None);
    assert_eq!(s.cron.expression(), "*/5 * * * *");
}

#[test]
fn every_setting_is_read() {
    let s = parse(&[
        ("upstash-method", "put"),
        ("upstash-retries", "5"),
        ("upstash-retry-delay", "1000 * retried"),
        ("upstash-timeout", "90s"),
        ("upstash-delay", "1h30m"),
        ("upstash-callback", "https://cb.test/ok"),
        ("upstash-failure-callback", "https://cb.test/fail"),
        ("upstash-label", "a, b"),
        ("upstash-queue-name", "q1"),
        ("upstash-flow-control-key", "k"),
        (
            "upstash-flow-control-value",
            "parallelism=2, rate=10, period=1m",
        ),
        ("upstash-redact-fields", "body,header[Authorization]"),
        ("upstash-schedule-id", "user-summary-ann@example.com"),
        ("cronhook-misfire", "ALL"),
        ("content-type", "application/json"),
        ("upstash-forward-test-header", "v1"),
        ("upstash-forward-x-two", "a"),
        ("upstash-forward-x-two", "b"),
        ("upstash-callback-forward-cb-auth", "c1"),
        ("upstash-callback-py-style", "c2"),
        ("upstash-callback-method", "PUT"),
        ("upstash-failure-callback-forward-f-auth", "f1"),
        ("upstash-telemetry-sdk", "ignored"),
    ])
    .unwrap();
    let d = &s.delivery;
    assert_eq!(d.method, "PUT");
    assert_eq!(d.retries, 5);
    assert_eq!(d.retry_delay.as_deref(), Some("1000 * retried"));
    assert_eq!(d.timeout_ms, Some(90_000));
    assert_eq!(d.delay_ms, 5_400_000);
    assert_eq!(d.callback.as_deref(), Some("https://cb.test/ok"));
    assert_eq!(d.failure_callback.as_deref(), Some("https://cb.test/fail"));
    assert_eq!(d.labels, ["a", "b"]);
    assert_eq!(d.queue_name.as_deref(), Some("q1"));
    assert_eq!(
        d.flow_control,
        Some(FlowControl {
            key: "k".into(),
            parallelism: Some(2),
            rate: Some(10),
            period: 60
        })
    );
    assert_eq!(d.redact.as_deref(), Some("body,header[Authorization]"));
    assert_eq!(
        s.schedule_id.as_deref(),
        Some("user-summary-ann@example.com")
    );
    assert_eq!(s.misfire, Misfire::All);
    let forwarded: Vec<_> = d
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    assert_eq!(
        forwarded,
        [
            ("Content-Type", vec!["application/json".to_owned()]),
            ("Test-Header", vec!["v1".to_owned()]),
            ("X-Two", vec!["a".to_owned(), "b".to_owned()]),
        ]
    );
    assert_eq!(d.callback_headers.len(), 2, "{:?}", d.callback_headers);
    assert_eq!(d.callback_headers["Cb-Auth"], ["c1"]);
    assert_eq!(d.callback_headers["Py-Style"], ["c2"]);
    assert_eq!(d.failure_callback_headers["F-Auth"], ["f1"]);
}

#[test]
fn python_forwarded_content_type_counts_and_the_real_one_wins() {
    let s = parse(&[("upstash-forward-content-type", "text/plain")]).unwrap();
    assert_eq!(s.delivery.headers["Content-Type"], ["text/plain"]);
    let s = parse(&[
        ("upstash-forward-content-type", "text/plain"),
        ("content-type", "application/json"),
    ])
    .unwrap();
    assert_eq!(s.delivery.headers["Content-Type"], ["application/json"]);
}

#[test]
fn bad_values_name_the_header_and_the_problem() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let table: &[Case] = &[
        (
            &[("upstash-method", "FETCH")],
            "Upstash-Method",
            "not one of GET, POST",
        ),
        (
            &[("upstash-retries", "-1")],
            "Upstash-Retries",
            "whole number",
        ),
        (
            &[("upstash-retries", "1000")],
            "Upstash-Retries",
            "0 to 100",
        ),
        (
            &[("upstash-retry-delay", "1000 * foo(2)")],
            "Upstash-Retry-Delay",
            "foo",
        ),
        (&[("upstash-timeout", "soon")], "Upstash-Timeout", "soon"),
        (
            &[("upstash-timeout", "0s")],
            "Upstash-Timeout",
            "more than 0",
        ),
        (&[("upstash-delay", "3x")], "Upstash-Delay", "3x"),
        (
            &[("upstash-callback", "ftp://x")],
            "Upstash-Callback",
            "http://",
        ),
        (
            &[("upstash-failure-callback", "nope")],
            "Upstash-Failure-Callback",
            "http://",
        ),
        (&[("upstash-label", "a b")], "Upstash-Label", "not allowed"),
        (
            &[("upstash-queue-name", "q/1")],
            "Upstash-Queue-Name",
            "not allowed",
        ),
        (
            &[
                ("upstash-flow-control-key", "k"),
                ("upstash-flow-control-value", "speed=2"),
            ],
            "Upstash-Flow-Control-Value",
            "unknown setting",
        ),
        (
            &[
                ("upstash-flow-control-key", "k"),
                ("upstash-flow-control-value", "rate=0"),
            ],
            "Upstash-Flow-Control-Value",
            "> 0",
        ),
        (
            &[("upstash-redact-fields", "password")],
            "Upstash-Redact-Fields",
            "password",
        ),
        (
            &[("upstash-schedule-id", "a/b")],
            "Upstash-Schedule-Id",
            "not allowed",
        ),
        (
            &[("cronhook-misfire", "sometimes")],
            "Cronhook-Misfire",
            "skip, once, all",
        ),
        (
            &[("cronhook-cron-seconds", "yes")],
            "cronhook-cron-seconds",
            "true or false",
        ),
        (
            &[("upstash-not-before", "1700000000")],
            "Upstash-Not-Before",
            "not supported for schedules",
        ),
    ];
    for (pairs, header, needle) in table {
        let err = parse(pairs).unwrap_err();
        assert_eq!(err.header, *header, "{pairs:?}: {err}");
        assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
    }
}

#[test]
fn cron_is_required_and_validated() {
    let err = schedule(&map(&[])).unwrap_err();
    assert_eq!(err.header, "Upstash-Cron");
    assert!(err.problem.contains("required"));
    let err = schedule(&map(&[("upstash-cron", "0 0 * * 25")])).unwrap_err();
    assert!(err.to_string().contains("day-of-week"), "{err}");
    let err = schedule(&map(&[("upstash-cron", "* * * * * *")])).unwrap_err();
    assert!(err.to_string().contains("Cronhook-Cron-Seconds"), "{err}");
    let err = schedule(&map(&[("upstash-cron", "0 0 30 2 *")])).unwrap_err();
    assert!(err.to_string().contains("never fires"), "{err}");
    let ok = schedule(&map(&[
        ("upstash-cron", "*/2 * * * * *"),
        ("cronhook-cron-seconds", "true"),
    ]))
    .unwrap();
    assert!(ok.cron.has_seconds());
}

#[test]
fn schedule_ids_allow_email_style_names_only() {
    for ok in ["a", "user-summary-ann@example.com", "x.y_z-1+tag"] {
        assert!(validate_schedule_id(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a b", "a/b", "a?b", "é", &"x".repeat(201)] {
        assert!(validate_schedule_id(bad).is_err(), "{bad}");
    }
}

/// The Workflow SDK's settings on a call's callback and on the failure
/// callback are not forwarded headers (workflow-wire §3.6, §3.9).
#[test]
fn workflow_settings_of_callbacks_are_not_forwarded() {
    let d = delivery(&map(&[
        ("upstash-callback", "https://cb.test/wf"),
        ("upstash-callback-workflow-runid", "wfr_1"),
        ("upstash-callback-workflow-calltype", "fromCallback"),
        ("upstash-callback-workflow-init", "false"),
        ("upstash-callback-workflow-url", "https://cb.test/wf"),
        ("upstash-callback-feature-set", "LazyFetch"),
        ("upstash-callback-forward-upstash-workflow-callback", "true"),
        ("upstash-failure-callback-workflow-calltype", "failureCall"),
        ("upstash-failure-callback-flow-control-key", "k"),
        (
            "upstash-failure-callback-forward-upstash-workflow-is-failure",
            "true",
        ),
    ]))
    .unwrap();
    let names: Vec<&str> = d.callback_headers.keys().map(String::as_str).collect();
    assert_eq!(names, ["Upstash-Workflow-Callback"]);
    let names: Vec<&str> = d
        .failure_callback_headers
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, ["Upstash-Workflow-Is-Failure"]);
}
