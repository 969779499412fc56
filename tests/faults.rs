//! Promises kept under faults, against the real binary: hosts that hang, a
//! database that stops taking writes, SIGTERM while deliveries hang, a
//! second cronhook on the same file, a `--db` that cannot work.
//!
//! Bounds here are wide (seconds where the behaviour is milliseconds), so
//! they hold on a slow, busy machine and still fail on the behaviour they
//! guard against (tens of seconds, or forever). The milliseconds are
//! measured by `cronhook-bench`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::api::{assert_error, call, create_schedule, publish};
use common::hang::Hanging;
use common::sink::Sink;
use common::wait::{now_ms, wait_until, WAIT};
use common::{run_with_timeout, ServerOptions, ServerProcess};
use serde_json::{json, Value};

/// A directory on the checkout's file system (where `chattr` works), not
/// a tmpfs.
fn workdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Publishes `n` messages to `url` in batches; each attempt may hang for
/// 40 s and is not retried.
fn publish_hanging(server: &ServerProcess, url: &str, n: usize) {
    let item = json!({
        "destination": url,
        "headers": {"Upstash-Timeout": "40s", "Upstash-Retries": "0"},
    });
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let items = Value::Array(chunk.iter().map(|_| item.clone()).collect());
        let (status, json) = call(
            server,
            "POST",
            "/v2/batch",
            &[("Content-Type", "application/json")],
            items.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{json}");
    }
}

/// Checks that with `hanging` destinations holding every attempt they get,
/// deliveries elsewhere and a seconds schedule run on time.
fn others_are_not_held_up(server: &ServerProcess, hanging: &[Hanging], share: usize) {
    for h in hanging {
        wait_until(WAIT, "the hanging hosts to hold their share", || {
            (h.accepted() >= share).then_some(())
        });
    }
    let sink = Sink::start();
    let published_at = now_ms();
    for i in 0..5 {
        publish(server, &sink.url(&format!("/healthy/{i}")), &[], b"");
    }
    create_schedule(
        server,
        &sink.url("/tick"),
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Cronhook-Cron-Seconds", "true"),
        ],
        b"",
    );
    for i in 0..5 {
        let got = sink.wait_for(&format!("/healthy/{i}"), 1, WAIT);
        assert_eq!(got.len(), 1, "healthy delivery {i} never arrived");
        let late = got[0].at_ms - published_at;
        // Held up, it would wait for the 40 s timeouts.
        assert!(
            late < 10_000,
            "healthy delivery {i} arrived {late} ms after publish"
        );
    }
    let ticks = sink.wait_for("/tick", 3, WAIT);
    assert!(ticks.len() >= 3, "the schedule fired {} times", ticks.len());
    for t in &ticks {
        let slot: i64 = t.header("cronhook-slot-time").unwrap().parse().unwrap();
        let late = t.at_ms - slot;
        assert!(late < 10_000, "a firing arrived {late} ms after its slot");
    }
    let log = server.stderr_text();
    assert!(
        !log.contains("missed slot skipped"),
        "slots were skipped:\n{log}"
    );
    for h in hanging {
        assert!(
            h.accepted() <= share,
            "a hanging host got {} attempts at once, more than its share {share}",
            h.accepted()
        );
    }
}

#[test]
fn ten_hanging_hosts_delay_neither_other_deliveries_nor_firings() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    let hanging: Vec<Hanging> = (0..10).map(|_| Hanging::start(100)).collect();
    // 600 attempts that hang: more than the 512 in flight allowed in all.
    for h in &hanging {
        publish_hanging(&server, &h.url("/never"), 60);
    }
    others_are_not_held_up(&server, &hanging, 32);
}

#[test]
fn one_hanging_host_holds_only_its_share_of_a_small_in_flight_bound() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path().join("cronhook.db"),
        ServerOptions::default()
            .arg("--max-in-flight")
            .arg("64")
            .arg("--max-in-flight-per-destination")
            .arg("16"),
    );
    let hanging = [Hanging::start(200)];
    publish_hanging(&server, &hanging[0].url("/never"), 100);
    others_are_not_held_up(&server, &hanging, 16);
}

#[test]
fn sigterm_with_deliveries_hanging_exits_within_the_grace_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let mut server = ServerProcess::start_with(
        &db,
        ServerOptions::default().arg("--shutdown-grace").arg("2s"),
    );
    let hanging = Hanging::start(10);
    publish_hanging(&server, &hanging.url("/never"), 5);
    wait_until(WAIT, "the attempts to be out", || {
        (hanging.accepted() >= 5).then_some(())
    });
    let sent = Instant::now();
    let (status, by_itself) = server.terminate_timeout(Duration::from_secs(20));
    let took = sent.elapsed();
    assert!(by_itself, "cronhook did not exit on SIGTERM");
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    // The grace, plus room for a busy machine to schedule the exit; before,
    // it took the grace twice plus 10 s.
    assert!(
        took < Duration::from_millis(4_500),
        "exit took {took:?} with --shutdown-grace 2s"
    );
    let log = server.stderr_text();
    assert!(log.contains("store closed; everything committed"), "{log}");
    assert_eq!(
        common::db::rows(&db, "messages"),
        5,
        "attempts cut short stay pending, to be made again"
    );
}

/// Sets or clears the immutable flag on the database and its WAL.
fn immutable(db: &Path, on: bool) {
    for file in [db.to_path_buf(), db.with_extension("db-wal")] {
        let out = Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(&file)
            .output()
            .expect("chattr (e2fsprogs) runs");
        assert!(
            out.status.success(),
            "chattr on {}: {} (this test needs root on a file system with \
             immutable files, as CI has)",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Clears the immutable flag even when the test fails, so the directory
/// can be removed.
struct Unfreeze<'a>(&'a Path);

impl Drop for Unfreeze<'_> {
    fn drop(&mut self) {
        for file in [self.0.to_path_buf(), self.0.with_extension("db-wal")] {
            let _ = Command::new("chattr").arg("-i").arg(file).output();
        }
    }
}

#[test]
fn a_database_that_cannot_be_written_makes_healthz_say_so_until_it_can() {
    if common::skip_on_postgres("makes the SQLite file and its WAL immutable (chattr); PostgreSQL's outage is tests/cluster.rs's database restart") {
        return;
    }
    let dir = workdir();
    let db = dir.path().join("cronhook.db");
    let server = ServerProcess::start(&db);
    let sink = Sink::start();
    publish(&server, &sink.url("/before"), &[], b"");
    sink.wait_for("/before", 1, WAIT);

    let _guard = Unfreeze(&db);
    immutable(&db, true);
    let (status, body) = wait_until(WAIT, "healthz to report the fault", || {
        let (status, body) = server.get("/healthz").unwrap();
        (status != 200).then_some((status, body))
    });
    assert_eq!(status, 503, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot be written")),
        "{json}"
    );
    let (status, json) = call(
        &server,
        "POST",
        &format!("/v2/publish/{}", sink.url("/during")),
        &[],
        b"",
    );
    assert_error(
        status,
        &json,
        503,
        &["cannot be written", "nothing was stored"],
    );

    immutable(&db, false);
    wait_until(WAIT, "healthz to be ready again", || {
        (server.get("/healthz").unwrap().0 == 200).then_some(())
    });
    publish(&server, &sink.url("/after"), &[], b"");
    sink.wait_for("/after", 1, WAIT);
    assert!(
        sink.received("/during").is_empty(),
        "a refused publish was delivered"
    );
}

/// Runs `cronhook serve` expecting it to refuse to start; its stderr.
fn refused(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.arg("serve").args(args);
    for k in common::SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    let (status, _, err) = run_with_timeout(cmd, Duration::from_secs(30));
    let status = status.expect("it exits on its own");
    assert!(!status.success(), "it started: {err}");
    err
}

#[test]
fn a_second_cronhook_on_the_same_database_is_refused() {
    if common::skip_on_postgres("the file lock is SQLite's; on PostgreSQL several nodes share one database (tests/cluster.rs)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let _first = ServerProcess::start(&db);
    let err = refused(&["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()]);
    assert!(err.contains("another cronhook is using it"), "{err}");
    assert!(err.contains(db.to_str().unwrap()), "names the file: {err}");
}

#[test]
fn a_db_that_cannot_work_is_named_with_the_reason() {
    if common::skip_on_postgres(
        "names unusable SQLite paths (missing folder, a folder, an unwritable file)",
    ) {
        return;
    }
    let dir = workdir();
    let folder = dir.path().join("locked");
    std::fs::create_dir(&folder).unwrap();
    let missing = dir.path().join("no/such/folder/c.db");
    let table: [(&Path, &str); 2] = [(dir.path(), "is a directory"), (&missing, "does not exist")];
    for (db, why) in table {
        let err = refused(&["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()]);
        assert!(err.contains(why), "{}: {err}", db.display());
        assert!(
            err.contains(dir.path().to_str().unwrap()),
            "absolute path: {err}"
        );
    }
    // A folder nobody may create files in, not even root.
    let out = Command::new("chattr")
        .arg("+i")
        .arg(&folder)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chattr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--db",
        folder.join("c.db").to_str().unwrap(),
    ]);
    let _ = Command::new("chattr").arg("-i").arg(&folder).output();
    assert!(err.contains("permission denied"), "{err}");
    // A relative path is shown as the absolute one.
    let err = refused(&["--listen", "127.0.0.1:0", "--db", "no-such-folder-x/c.db"]);
    let cwd = std::env::current_dir().unwrap();
    assert!(err.contains(cwd.to_str().unwrap()), "{err}");
}

#[test]
fn listen_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path().join("cronhook.db"),
        ServerOptions::default().listen("localhost:0"),
    );
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    let (status, _) = call(&server, "GET", "/v2/schedules", &[], b"");
    assert_eq!(status, 200);
}

#[test]
fn serve_help_does_not_print_secrets_from_the_environment() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cronhook"));
    cmd.args(["serve", "--help"])
        .env("QSTASH_TOKEN", "super-secret-token-1")
        .env("QSTASH_CURRENT_SIGNING_KEY", "sig_secretcurrent")
        .env("QSTASH_NEXT_SIGNING_KEY", "sig_secretnext");
    let (status, out, err) = run_with_timeout(cmd, Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{err}");
    assert!(out.contains("QSTASH_TOKEN"), "the variable is named: {out}");
    for secret in [
        "super-secret-token-1",
        "sig_secretcurrent",
        "sig_secretnext",
    ] {
        assert!(!out.contains(secret), "--help printed {secret}");
    }
}

#[test]
fn a_failed_attempt_is_logged_with_its_schedule_and_destination() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path().join("cronhook.db"));
    let id = create_schedule(
        &server,
        "http://127.0.0.1:1/down?token=s3cret",
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Cronhook-Cron-Seconds", "true"),
            ("Upstash-Retries", "0"),
        ],
        b"",
    );
    let line = wait_until(WAIT, "a failed attempt in the log", || {
        server
            .stderr_text()
            .lines()
            .find(|l| l.contains("attempt failed"))
            .map(str::to_owned)
    });
    assert!(
        line.contains(&format!("schedule=\"{id}\"")) || line.contains(&format!("schedule={id}")),
        "{line}"
    );
    assert!(
        line.contains("destination=http://127.0.0.1:1/down"),
        "{line}"
    );
    assert!(
        !server.stderr_text().contains("s3cret"),
        "a query secret was logged"
    );
}
