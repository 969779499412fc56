//! Crashes and restarts, against the real binary and a real database file.
//!
//! The server is killed with SIGKILL (no chance to clean up) in the middle of
//! its work and started again on the same file. What a crash may and may not
//! do (design.md, "Data flow" and "Missed runs"):
//! - a schedule slot fires at most once, also across the crash;
//! - a message pending at the crash is attempted again after the restart
//!   (at-least-once); only an attempt in flight at the kill may arrive twice;
//! - the retry count survives the crash;
//! - slots that passed while the server was down follow the schedule's
//!   misfire policy, and every slot not fired is logged: nothing vanishes
//!   silently.
//!
//! Times are wall-clock Unix milliseconds; the server and these tests read the
//! same clock. Every wait is bounded and generous, and the assertions are on
//! what must hold whatever the timing, so a slow, busy machine passes too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use common::api::{call, create_schedule};
use common::db::int as db_int;
use common::sink::{Received, Sink};
use common::wait::{now_ms, wait_until};
use common::ServerProcess;

/// How far ahead of a slot the server fires it (`cronhook::engine::FIRE_LEAD`).
const FIRE_LEAD: i64 = cronhook::engine::FIRE_LEAD;

const SECOND: i64 = 1000;
const POLICIES: [&str; 3] = ["skip", "once", "all"];
/// Upper bound for each wait here: a restart on a busy machine takes a while.
const LONG_WAIT: Duration = Duration::from_secs(30);
/// How long the sink takes to answer a scheduled delivery (under the 1 s
/// between slots, so attempts do not pile up).
const SLOW_ANSWER: Duration = Duration::from_millis(500);

/// One delivery as the sink saw it.
#[derive(Debug, Clone)]
struct Delivery {
    /// Arrival at the sink.
    at_ms: i64,
    message_id: String,
    retried: u32,
    /// `Cronhook-Slot-Time`, for messages a schedule fired.
    slot: Option<i64>,
}

fn delivery(r: &Received) -> Delivery {
    let header = |name: &str| {
        r.header(name)
            .unwrap_or_else(|| panic!("a delivery without {name}: {r:?}"))
    };
    Delivery {
        at_ms: r.at_ms,
        message_id: header("Upstash-Message-Id").to_owned(),
        retried: header("Upstash-Retried").parse().unwrap(),
        slot: r.header("Cronhook-Slot-Time").map(|s| s.parse().unwrap()),
    }
}

fn deliveries(sink: &Sink, path: &str) -> Vec<Delivery> {
    sink.received(path).iter().map(delivery).collect()
}

/// A `missed slot skipped` line of the server's log.
#[derive(Debug, Clone)]
struct Skipped {
    /// When the line was logged (the log's own timestamp).
    logged_ms: i64,
    schedule: String,
    slot: i64,
    misfire: String,
}

/// The value of `name=value` in a log line, without quotes.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|token| token.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
}

/// Every `missed slot skipped` line in `log`.
fn skipped_slots(log: &str) -> Vec<Skipped> {
    log.lines()
        .filter(|line| line.contains("missed slot skipped"))
        .map(|line| {
            let parse = || -> Option<Skipped> {
                let stamp = line.split_whitespace().next()?;
                Some(Skipped {
                    logged_ms: chrono::DateTime::parse_from_rfc3339(stamp)
                        .ok()?
                        .timestamp_millis(),
                    schedule: field(line, "schedule")?.to_owned(),
                    slot: field(line, "slot")?.parse().ok()?,
                    misfire: field(line, "misfire")?.to_owned(),
                })
            };
            parse().unwrap_or_else(|| panic!("cannot read the log line {line:?}"))
        })
        .collect()
}

/// The whole seconds strictly between `from` and `to`.
fn whole_seconds_between(from: i64, to: i64) -> Vec<i64> {
    let first = from.div_euclid(SECOND) * SECOND + SECOND;
    (first..to).step_by(SECOND as usize).collect()
}

/// The last slot of the first run of consecutive seconds in `slots` (the
/// run the restart skipped; a later run could only come from the server
/// stalling for over a second after it, and is not the one looked at).
fn first_run_end(slots: &BTreeSet<i64>) -> i64 {
    let mut end = *slots.first().expect("some slot was skipped");
    while slots.contains(&(end + SECOND)) {
        end += SECOND;
    }
    end
}

fn seconds_schedule(server: &ServerProcess, sink: &Sink, policy: &str) -> String {
    create_schedule(
        server,
        &sink.url(&format!("/{policy}")),
        &[
            ("Upstash-Cron", "* * * * * *"),
            ("Cronhook-Cron-Seconds", "true"),
            ("Cronhook-Misfire", policy),
            ("Upstash-Schedule-Id", &format!("every-second-{policy}")),
        ],
        b"tick",
    )
}

/// Three every-second schedules, one per misfire policy, run; the server is
/// killed; more than three slots pass; it starts again on the same file.
///
/// Names used below, per schedule:
/// - `killed`: the test's clock once the killed process has been reaped; the
///   server fires a slot at most `FIRE_LEAD` before the wall clock reaches it
///   (its message is then due at the slot), so no slot after
///   `killed + FIRE_LEAD` was fired before the crash.
/// - `restart`: the test's clock just before the second process is spawned;
///   no slot before it is fired on time by the restarted server.
/// - the *downtime gap*: the whole seconds strictly between
///   `killed + FIRE_LEAD` and `restart` (the test sleeps 4.2 s, so there are at least 4). Each is a
///   slot that passed while nothing ran, so the restart finds the schedule's
///   stored next slot `N` in the past: `N <= first gap slot` (N is the first
///   slot not fired before the crash), and the slots `N ..= latest` have come
///   due, `latest` being the last slot at or before the restarted server's
///   clock, so `latest >= last gap slot`. The policy applies to exactly
///   `N ..= latest` and the gap lies inside it.
/// - `delivered`: the slot times the sink received; `skipped`: the slots
///   the servers logged as `missed slot skipped`.

#[test]
fn kill_9_then_restart_fires_each_slot_once_and_applies_the_misfire_policy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    // The sink takes a while to answer, so the kill lands while an attempt is
    // in flight (sent, its outcome not yet stored).
    for policy in POLICIES {
        sink.answer_after(&format!("/{policy}"), 200, &[], SLOW_ANSWER);
    }

    let mut first = ServerProcess::start(&db);
    let ids: BTreeMap<&str, String> = POLICIES
        .iter()
        .map(|&policy| (policy, seconds_schedule(&first, &sink, policy)))
        .collect();
    for policy in POLICIES {
        let path = format!("/{policy}");
        wait_until(
            LONG_WAIT,
            &format!("3 deliveries on {path} before the kill"),
            || (sink.received(&path).len() >= 3).then_some(()),
        );
    }
    let kill_at = now_ms();
    first.kill9();
    let killed = now_ms();

    sleep(Duration::from_millis(4200));
    let restart = now_ms();
    let second = ServerProcess::start(&db);
    for policy in POLICIES {
        let path = format!("/{policy}");
        wait_until(
            LONG_WAIT,
            &format!("3 deliveries on {path} after the restart"),
            || {
                let after = sink.received(&path);
                (after.iter().filter(|r| r.at_ms >= restart).count() >= 3).then_some(())
            },
        );
    }
    // Stop firing, then let every fired message be delivered, so what the sink
    // holds is everything fired: no slot is still on its way.
    for id in ids.values() {
        let (status, json) = call(
            &second,
            "POST",
            &format!("/v2/schedules/{id}/pause"),
            &[],
            b"",
        );
        assert_eq!(status, 200, "pause {id}: {json}");
    }
    wait_until(LONG_WAIT, "every fired message delivered", || {
        (db_int(&db, "SELECT count(*) FROM messages", &[]) == 0).then_some(())
    });

    let before_log = first.stderr_text();
    let after_log = second.stderr_text();
    let skipped_before = skipped_slots(&before_log);
    let skipped_after = skipped_slots(&after_log);
    let gap = whole_seconds_between(killed + FIRE_LEAD, restart);
    assert!(gap.len() >= 3, "gap {gap:?}");

    for policy in POLICIES {
        let path = format!("/{policy}");
        let id = &ids[policy];
        let got = deliveries(&sink, &path);
        let context = format!(
            "{path}: killed at {killed}, restarted at {restart}, gap {gap:?}\n\
             deliveries {got:#?}\n--- log after the restart ---\n{after_log}"
        );
        for d in &got {
            let slot = d.slot.expect("a scheduled delivery names its slot");
            assert_eq!(slot % SECOND, 0, "slots are whole seconds; {context}");
            assert_eq!(d.retried, 0, "the sink answers 200: no retries; {context}");
        }

        // A slot fires at most once: one message per slot, also across the crash.
        let mut ids_by_slot: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
        for d in &got {
            ids_by_slot
                .entry(d.slot.unwrap())
                .or_default()
                .insert(&d.message_id);
        }
        for (slot, ids) in &ids_by_slot {
            assert_eq!(ids.len(), 1, "slot {slot} fired as {ids:?}; {context}");
        }

        // At-least-once: a message arrives twice only if its attempt was in
        // flight at the kill (sent, its outcome not yet committed). So a
        // repeat was first delivered just before the kill and again after the
        // restart; with one slot a second, there are at most two of them.
        let mut arrivals: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for d in &got {
            arrivals.entry(&d.message_id).or_default().push(d.at_ms);
        }
        let repeated: Vec<_> = arrivals.iter().filter(|(_, at)| at.len() > 1).collect();
        assert!(repeated.len() <= 2, "{repeated:?}; {context}");
        for (message, at) in &repeated {
            assert_eq!(at.len(), 2, "{message} arrived {at:?}; {context}");
            assert!(
                at[0] >= kill_at - 3 * SECOND && at[0] <= killed && at[1] >= restart,
                "{message} arrived at {at:?}: only an attempt in flight at the kill may \
                 arrive again after the restart; {context}"
            );
        }

        // Nothing vanishes silently: from the first slot delivered to the last
        // (everything fired was delivered, see above), every second was either
        // delivered or logged as skipped, never both. (The first server may
        // have skipped a slot too if this machine stalled it for over a
        // second; that is the same policy at work, logged the same way.)
        let delivered: BTreeSet<i64> = ids_by_slot.keys().copied().collect();
        let lines_after: Vec<&Skipped> =
            skipped_after.iter().filter(|s| &s.schedule == id).collect();
        let skipped: BTreeSet<i64> = skipped_before
            .iter()
            .filter(|s| &s.schedule == id)
            .chain(lines_after.iter().copied())
            .map(|s| s.slot)
            .collect();
        for s in skipped_before.iter().chain(&skipped_after) {
            if &s.schedule == id {
                assert_eq!(s.misfire, policy, "{s:?}");
            }
        }
        let both: Vec<_> = delivered.intersection(&skipped).collect();
        assert!(
            both.is_empty(),
            "delivered and skipped: {both:?}; {context}"
        );
        let (lo, hi) = (*delivered.first().unwrap(), *delivered.last().unwrap());
        let silent: Vec<i64> = (lo..=hi)
            .step_by(SECOND as usize)
            .filter(|s| !delivered.contains(s) && !skipped.contains(s))
            .collect();
        assert!(
            silent.is_empty(),
            "slots neither delivered nor logged: {silent:?}; {context}"
        );

        // The downtime gap, by policy. `skipped_now` is what the restarted
        // server logged for this schedule: exactly the missed slots it did
        // not fire.
        let skipped_now: BTreeSet<i64> = lines_after.iter().map(|s| s.slot).collect();
        let in_gap: Vec<i64> = gap
            .iter()
            .copied()
            .filter(|s| delivered.contains(s))
            .collect();
        match policy {
            // `all` fires every missed slot: each gap slot is delivered (fired
            // late, at the restart), and none is skipped.
            "all" => {
                assert!(skipped_now.is_empty(), "{skipped_now:?}; {context}");
                assert_eq!(in_gap, gap, "{context}");
                for d in got.iter().filter(|d| gap.contains(&d.slot.unwrap())) {
                    assert!(d.at_ms >= restart, "{d:?}; {context}");
                }
            }
            // `skip` fires none of `N ..= latest`: every gap slot is logged
            // skipped and none delivered. The first slot delivered after
            // them, `latest + 1 s`, was still ahead of the clock when the
            // restarted server fired the misfire (its first firing is at or
            // after `restart`): a regular, on-time firing.
            "skip" => {
                assert!(in_gap.is_empty(), "skip delivered {in_gap:?}; {context}");
                let not_logged: Vec<_> = gap.iter().filter(|s| !skipped_now.contains(s)).collect();
                assert!(
                    not_logged.is_empty(),
                    "gap slots not logged {not_logged:?}; {context}"
                );
                let next = first_run_end(&skipped_now) + SECOND;
                assert!(delivered.contains(&next), "{next}; {context}");
                assert!(next > restart, "{next} <= {restart}; {context}");
            }
            // `once` fires `latest` only: every gap slot is logged skipped
            // except `latest` itself when it is in the gap, so at most one gap
            // slot is delivered. `latest` comes right after the logged run,
            // and it had already passed when the restarted server logged the
            // run (`latest <= now` at that firing <= the log line's time):
            // the one missed slot fired late.
            "once" => {
                assert!(in_gap.len() <= 1, "once delivered {in_gap:?}; {context}");
                let latest = first_run_end(&skipped_now) + SECOND;
                let not_logged: Vec<_> = gap
                    .iter()
                    .filter(|&&s| s != latest && !skipped_now.contains(&s))
                    .collect();
                assert!(
                    not_logged.is_empty(),
                    "gap slots not logged {not_logged:?}; {context}"
                );
                assert!(delivered.contains(&latest), "{latest}; {context}");
                let logged = lines_after
                    .iter()
                    .find(|s| s.slot == latest - SECOND)
                    .unwrap()
                    .logged_ms;
                assert!(
                    latest <= logged,
                    "the slot fired by `once` ({latest}) was not yet due when the run \
                     was logged ({logged}); {context}"
                );
                assert!(latest >= *gap.last().unwrap(), "{latest}; {context}");
            }
            _ => unreachable!(),
        }
    }
}

/// How long the sink holds an attempt it means to be in flight at a kill.
const HOLD: Duration = Duration::from_secs(3);

/// `retried` of message `id` as stored, or `None` once it left `messages`.
fn stored_retried(db: &Path, id: &str) -> Option<i64> {
    let n = db_int(db, "SELECT count(*) FROM messages WHERE id = ?1", &[id]);
    (n > 0).then(|| db_int(db, "SELECT retried FROM messages WHERE id = ?1", &[id]))
}

/// A message to a destination that always answers 500 (3 retries, 1.5 s
/// apart) survives two kills: one while an attempt is in flight, one between
/// attempts. Its attempts carry on from the stored count to the DLQ.
#[test]
fn retries_resume_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    sink.answer("/fail", 500, &[]);

    let mut first = ServerProcess::start(&db);
    let (status, json) = call(
        &first,
        "POST",
        &format!("/v2/publish/{}", sink.url("/fail")),
        &[("Upstash-Retries", "3"), ("Upstash-Retry-Delay", "1500")],
        b"retry me",
    );
    assert_eq!(status, 201, "{json}");
    let id = json["messageId"].as_str().unwrap().to_owned();

    // Kill 1, an attempt in flight: attempt 0 fails and its outcome is stored
    // (retried 1, due 1.5 s later). The sink then holds attempt 1 for HOLD
    // before answering, and the server is killed while it waits, so that
    // attempt's outcome is never stored.
    wait_until(LONG_WAIT, "attempt 0 recorded", || {
        (stored_retried(&db, &id) == Some(1)).then_some(())
    });
    sink.answer_after("/fail", 500, &[], HOLD);
    wait_until(LONG_WAIT, "attempt 1", || {
        (sink.received("/fail").len() >= 2).then_some(())
    });
    first.kill9();
    let killed_1 = now_ms();
    sink.answer("/fail", 500, &[]);
    let held = deliveries(&sink, "/fail");
    assert_eq!(held.len(), 2, "{held:#?}");
    assert!(
        killed_1 < held[1].at_ms + HOLD.as_millis() as i64,
        "this machine stalled: the kill came after the sink answered attempt 1 \
         ({killed_1} vs {held:?}), so it was not in flight"
    );
    assert_eq!(stored_retried(&db, &id), Some(1), "attempt 1 left no trace");

    // Kill 2, between attempts: down 2 s, so attempt 1 is overdue at the
    // restart and is made again; attempt 2's outcome is stored (retried 3),
    // then the server is killed before attempt 3 is due.
    sleep(Duration::from_secs(2));
    let restart_1 = now_ms();
    let mut second = ServerProcess::start(&db);
    wait_until(LONG_WAIT, "attempt 2 recorded", || {
        (stored_retried(&db, &id) == Some(3)).then_some(())
    });
    second.kill9();
    let killed_2 = now_ms();
    let log_2 = second.stderr_text();

    sleep(Duration::from_secs(1));
    let restart_2 = now_ms();
    let third = ServerProcess::start(&db);
    wait_until(LONG_WAIT, "the message dead-lettered", || {
        (db_int(&db, "SELECT count(*) FROM dlq", &[]) > 0).then_some(())
    });
    // Nothing is due any more; give a stray extra attempt a chance to show.
    sleep(Duration::from_millis(500));

    let got = deliveries(&sink, "/fail");
    let context = format!(
        "kills at {killed_1} and {killed_2}, restarts at {restart_1} and {restart_2}\n\
         attempts {got:#?}\n--- log of the second server ---\n{log_2}\n\
         --- log of the third server ---\n{}",
        third.stderr_text()
    );
    // One message id throughout (the receiver's idempotency key), and no
    // attempt while no server ran.
    for d in &got {
        assert_eq!(d.message_id, id, "{context}");
        assert!(
            d.at_ms < killed_1 || (restart_1..killed_2).contains(&d.at_ms) || d.at_ms >= restart_2,
            "{context}"
        );
    }
    // The count resumes from what was stored, it never starts over: 0 and 1
    // before kill 1; 1 again (the attempt in flight at kill 1, the only
    // repeat the crash may cause) and 2 before kill 2; 3 after it. 3 retries
    // make 4 attempts; the 5th arrival is the repeat.
    let retried: Vec<u32> = got.iter().map(|d| d.retried).collect();
    assert_eq!(retried, [0, 1, 1, 2, 3], "{context}");
    assert!(
        got[2].at_ms >= restart_1 && got[3].at_ms < killed_2,
        "{context}"
    );
    assert!(got[4].at_ms >= restart_2, "{context}");

    // Exhausted: one DLQ row with the last response, and nothing pending.
    assert_eq!(
        db_int(
            &db,
            "SELECT count(*) FROM dlq WHERE message_id = ?1 AND response_status = 500 \
             AND retried = 3",
            &[&id],
        ),
        1,
        "{context}"
    );
    assert_eq!(db_int(&db, "SELECT count(*) FROM dlq", &[]), 1, "{context}");
    assert_eq!(
        db_int(&db, "SELECT count(*) FROM messages", &[]),
        0,
        "{context}"
    );
}

/// SIGTERM is the polite stop: attempts in progress finish, everything is
/// committed, the exit code is 0, and the next start finds it all.
#[test]
fn sigterm_stops_gracefully_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cronhook.db");
    let sink = Sink::start();
    sink.answer_after("/once", 200, &[], SLOW_ANSWER);

    let mut first = ServerProcess::start(&db);
    let id = seconds_schedule(&first, &sink, "once");
    // SIGTERM while the sink holds an attempt: the stop lets it finish and
    // stores its outcome (the grace is 10 s).
    wait_until(LONG_WAIT, "a delivery", || {
        (!sink.received("/once").is_empty()).then_some(())
    });
    let status = first.terminate().expect("an exit status");
    let stopped = now_ms();
    let log = first.stderr_text();
    assert!(status.success(), "exit {status}; stderr:\n{log}");
    let last = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert!(
        last.contains("store closed; everything committed"),
        "the last log line is {last:?}; stderr:\n{log}"
    );
    assert_eq!(
        db_int(&db, "SELECT count(*) FROM schedules WHERE id = ?1", &[&id]),
        1
    );
    // Every attempt made before the stop finished and its outcome is stored:
    // none of those messages is still pending.
    for d in deliveries(&sink, "/once") {
        assert_eq!(
            db_int(
                &db,
                "SELECT count(*) FROM messages WHERE id = ?1",
                &[&d.message_id]
            ),
            0,
            "{d:?} is still pending after a graceful stop; stderr:\n{log}"
        );
    }

    let restart = now_ms();
    let second = ServerProcess::start(&db);
    let (status, list) = call(&second, "GET", "/v2/schedules", &[], b"");
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["scheduleId"], id.as_str());
    assert_eq!(list[0]["cron"], "* * * * * *");
    assert_eq!(list[0]["destination"], sink.url("/once"));
    assert_eq!(list[0]["isPaused"], false);

    // It keeps firing after the restart, and a graceful stop cut no attempt
    // short: no message arrives twice.
    wait_until(LONG_WAIT, "a delivery after the restart", || {
        let got = sink.received("/once");
        got.iter().any(|r| r.at_ms >= restart).then_some(())
    });
    let got = deliveries(&sink, "/once");
    let mut seen = BTreeSet::new();
    for d in &got {
        assert!(
            seen.insert(d.message_id.clone()),
            "{} arrived twice (stopped at {stopped}): {got:#?}",
            d.message_id
        );
    }
}
