//! Numbers into JSON, and the readable table at the end.

use serde_json::{Map, Value};

/// Rounds to `digits` decimals (for readable JSON); an integer for 0.
pub fn round(x: f64, digits: i32) -> Value {
    if digits <= 0 {
        return Value::from(x.round() as i64);
    }
    let f = 10f64.powi(digits);
    Value::from((x * f).round() / f)
}

/// The value at quantile `q` (0..=1) of sorted data, nearest rank; 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p90, p99, p99.9, max and mean of (unsorted) data in milliseconds,
/// under `prefix` (`""` or e.g. `"batch_"`).
pub fn distribution(prefix: &str, data: &mut [f64]) -> Map<String, Value> {
    data.sort_by(f64::total_cmp);
    let mean = if data.is_empty() {
        0.0
    } else {
        data.iter().sum::<f64>() / data.len() as f64
    };
    let mut m = Map::new();
    for (name, v) in [
        ("min_ms", data.first().copied().unwrap_or(0.0)),
        ("p50_ms", quantile(data, 0.50)),
        ("p90_ms", quantile(data, 0.90)),
        ("p99_ms", quantile(data, 0.99)),
        ("p999_ms", quantile(data, 0.999)),
        ("max_ms", data.last().copied().unwrap_or(0.0)),
        ("mean_ms", mean),
    ] {
        m.insert(format!("{prefix}{name}"), round(v, 2));
    }
    m
}

/// Per-thread CPU seconds as one short string, busiest first.
pub fn threads_text(threads: &[(String, f64)]) -> String {
    threads
        .iter()
        .take(5)
        .map(|(name, s)| format!("{name}={s:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// What names a run: its sync mode, size, or position.
fn run_label(key: &str, i: usize, run: &Value) -> String {
    for k in ["sync", "phase", "schedules"] {
        if let Some(v) = run.get(k).and_then(scalar) {
            return format!("{k}={v}");
        }
    }
    format!("{key}[{i}]")
}

/// (run, metric, value) rows of one scenario's JSON.
fn rows(v: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Some(obj) = v.as_object() else {
        return out;
    };
    for (k, x) in obj {
        if k == "scenario" {
            continue;
        }
        match x {
            Value::Object(inner) => {
                for (k2, y) in inner {
                    if let Some(s) = scalar(y) {
                        out.push((k.clone(), k2.clone(), s));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let label = run_label(k, i, item);
                    match item.as_object() {
                        Some(inner) => {
                            for (k2, y) in inner {
                                if let Some(s) = scalar(y) {
                                    out.push((label.clone(), k2.clone(), s));
                                }
                            }
                        }
                        None => {
                            if let Some(s) = scalar(item) {
                                out.push((String::new(), format!("{k}[{i}]"), s));
                            }
                        }
                    }
                }
            }
            other => {
                if let Some(s) = scalar(other) {
                    out.push((String::new(), k.clone(), s));
                }
            }
        }
    }
    out
}

/// The metrics the table shows; the JSON lines have every number.
const HEADLINE: &[&str] = &[
    "error",
    "requests_per_s",
    "request_p99_ms",
    "accept_messages_per_s",
    "deliveries_per_s",
    "ratio_to_raw",
    "due_deliveries_per_s",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "missing_slots",
    "missing_deliveries",
    "hanging_shares_reached",
    "hanging_connections_each",
    "hanging_connections_max",
    "hanging_peak_open_max",
    "accepted_before_instant",
    "first_delivery_after_instant_ms",
    "last_delivery_after_instant_ms",
    "drain_deliveries_per_s",
    "rss_with_all_pending_mb",
    "rss_before_mb",
    "rss_after_large_mb",
    "rss_after_small_mb",
    "rss_growth_large_mb",
    "rss_growth_small_mb",
    "rss_growth_total_mb",
    "memory_bytes_per_large_message",
    "memory_bytes_per_small_message",
    "large_publish_s",
    "small_publish_s",
    "create_per_s",
    "rss_empty_mb",
    "rss_loaded_mb",
    "memory_bytes_per_schedule",
    "memory_bytes_per_schedule_after_restart",
    "disk_bytes_per_schedule",
    "restart_to_ready_ms",
    "armed_after_restart",
    "binary_size_mb",
    "first_byte_ms",
    "total_s",
    "listing_mb",
    "rss_growth_peak_mb",
    "rss_growth_after_mb",
    "second_rss_growth_peak_mb",
    "second_rss_growth_after_mb",
    "dlq_rss_growth_peak_mb",
    "events_rss_growth_peak_mb",
    "dlq_delete_rss_growth_peak_mb",
    "dlq_delete_s",
    "cancel_rss_growth_peak_mb",
    "cancel_rss_growth_after_mb",
    "cancel_s",
    "cpu_s",
    "cpu_pct_of_one_core",
    "cronhook_cpu_pct_of_one_core",
    "rss_mb",
    "peak_rss_mb",
    "context_switches",
    "duplicate_deliveries",
    "early_deliveries",
    "sink_connections_accepted",
    "cronhook_log_warnings",
    "cronhook_log_errors",
    "scenario_seconds",
];

/// The headline numbers of the whole run as an aligned table.
pub fn table(results: &[Value]) -> String {
    let mut all = vec![(
        "scenario".to_owned(),
        "run".to_owned(),
        "metric".to_owned(),
        "value".to_owned(),
    )];
    for r in results {
        let name = r
            .get("scenario")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let mut rows = rows(r);
        rows.retain(|(_, metric, _)| HEADLINE.contains(&metric.as_str()));
        // Runs in order of appearance, metrics in HEADLINE order.
        let mut runs: Vec<String> = Vec::new();
        for (run, _, _) in &rows {
            if !runs.contains(run) {
                runs.push(run.clone());
            }
        }
        let rank = |m: &str| HEADLINE.iter().position(|h| *h == m).unwrap_or(usize::MAX);
        rows.sort_by_key(|(run, metric, _)| {
            (
                runs.iter().position(|r| r == run).unwrap_or(0),
                rank(metric),
            )
        });
        for (run, metric, value) in rows {
            all.push((name.clone(), run, metric, value));
        }
    }
    let w0 = all.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = all.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w2 = all.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut previous = String::new();
    for (i, (a, b, c, d)) in all.iter().enumerate() {
        if i > 0 && *a != previous {
            out.push_str(&"-".repeat(w0 + w1 + w2 + 20));
            out.push('\n');
        }
        previous = a.clone();
        out.push_str(&format!("{a:<w0$}  {b:<w1$}  {c:<w2$}  {d}\n"));
    }
    out
}
