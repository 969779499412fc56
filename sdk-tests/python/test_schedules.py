#!/usr/bin/env python3
"""Runs the official Python SDK (PyPI `qstash` 3.4.0) against a cronhook server.

Standalone program: exit 0 means every check passed; anything else is a
failure, with each failed check printed as `FAIL: ...`.

Environment (printed by `cronhook serve`):
  QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY

Wire contract: docs/qstash-wire.md §4.5 (schedules API), §5.3 (headers the
SDK sends), §6.3 (schedule object), §7.2 (delivery headers), §8 (signature),
§10 (schedule semantics).
"""

import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qstash import QStash, Receiver
from qstash.errors import SignatureError
from qstash.receiver import verify_with_key

from harness import (
    Sink,
    check,
    check_eq,
    env,
    expect_qstash_error,
    raw_request,
    status_of,
    step,
    summary,
)

SEED_ID = "user-summary-ann@example.com"
SEED_CRON = "CRON_TZ=Europe/Berlin 30 9 * * 1"
OPTIONS_ID = "sdk-py-options"
SECONDS_ID = "sdk-py-seconds"

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def berlin_tz():
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Berlin")
    except Exception:
        return None


def berlin_offset_hours(utc_dt):
    """Europe/Berlin UTC offset (fallback when no tz database is installed):
    CEST (+2) from the last Sunday of March 01:00 UTC to the last Sunday of
    October 01:00 UTC, CET (+1) otherwise."""

    def last_sunday(year, month):
        d = datetime.datetime(year, month + 1, 1, 1, tzinfo=datetime.timezone.utc)
        d -= datetime.timedelta(days=1)
        while d.weekday() != 6:
            d -= datetime.timedelta(days=1)
        return d

    y = utc_dt.year
    return 2 if last_sunday(y, 3) <= utc_dt < last_sunday(y, 10) else 1


def to_berlin(ms):
    utc = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    tz = berlin_tz()
    if tz is not None:
        return utc.astimezone(tz)
    return (utc + datetime.timedelta(hours=berlin_offset_hours(utc))).replace(tzinfo=None)


def expected_next_monday_0930_ms(now_ms):
    """The first Monday 09:30:00 Berlin time strictly after now_ms, in ms."""
    t = (now_ms // 60000 + 1) * 60000  # next whole minute
    # Walk minute by minute would be slow; walk in days over candidate dates.
    start = to_berlin(now_ms)
    for days in range(0, 9):
        day = (start + datetime.timedelta(days=days)).date()
        if day.weekday() != 0:
            continue
        # Find the UTC instant whose Berlin wall time is day 09:30.
        for offset in (1, 2):
            utc = datetime.datetime(day.year, day.month, day.day, 9, 30, tzinfo=datetime.timezone.utc)
            utc -= datetime.timedelta(hours=offset)
            cand = int(utc.timestamp() * 1000)
            b = to_berlin(cand)
            if (b.weekday(), b.hour, b.minute) == (0, 9, 30) and cand >= t:
                return cand
    return None


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


def main():
    url = env("QSTASH_URL")
    token = env("QSTASH_TOKEN")
    current_key = env("QSTASH_CURRENT_SIGNING_KEY")
    next_key = env("QSTASH_NEXT_SIGNING_KEY")

    sink = Sink()
    print(f"server {url}, sink {sink.base}", flush=True)
    client = QStash(token, base_url=url, retry=False)

    seed_dest = f"{sink.base}/api/send-weekly-summary"
    seed_body = {"userId": 42}
    options_dest = f"{sink.base}/api/options"
    state = {}

    # ---- the seed use case -------------------------------------------------
    @step("seed: create_json")
    def seed_create():
        before = int(time.time() * 1000)
        sid = client.schedule.create_json(
            schedule_id=SEED_ID,
            destination=seed_dest,
            body=seed_body,
            cron=SEED_CRON,
        )
        state["seed_window"] = (before, int(time.time() * 1000))
        check_eq(sid, SEED_ID, "create_json returns the schedule id", required=True)

    @step("seed: get returns every field")
    def seed_get():
        s = client.schedule.get(SEED_ID)
        now = int(time.time() * 1000)
        check_eq(s.schedule_id, SEED_ID, "get: scheduleId")
        check_eq(s.cron, SEED_CRON, "get: cron")
        check_eq(s.destination, seed_dest, "get: destination")
        check_eq(s.method, "POST", "get: method")
        check_eq(s.retries, 3, "get: retries (default)")
        check_eq(s.paused, False, "get: isPaused")
        check_eq(s.body, json.dumps(seed_body), "get: body")
        check_eq(s.body_base64, None, "get: bodyBase64 absent")
        check_eq(s.headers, {"Content-Type": ["application/json"]}, "get: header map")
        for field, name in (
            ("callback", "callback"),
            ("failure_callback", "failureCallback"),
            ("retry_delay_expression", "retryDelayExpression"),
            ("label", "label"),
            ("queue", "queueName"),
        ):
            check_eq(getattr(s, field), None, f"get: {name} absent")
        check(s.delay in (None, 0), "get: delay absent or 0", f"got {s.delay!r}")
        lo, hi = state.get("seed_window", (now - 60000, now))
        check(
            isinstance(s.created_at, int) and lo - 2000 <= s.created_at <= hi + 2000,
            "get: createdAt is the creation time in ms",
            f"got {s.created_at!r}, window [{lo}, {hi}]",
        )
        nst = s.next_schedule_time
        check(isinstance(nst, int) and nst > now, "get: nextScheduleTime in the future (ms)", f"got {nst!r}, now {now}")
        if isinstance(nst, int):
            b = to_berlin(nst)
            check(
                (b.weekday(), b.hour, b.minute, b.second, nst % 1000) == (0, 9, 30, 0, 0),
                "get: nextScheduleTime is a Monday 09:30:00 Berlin time",
                f"got {b.isoformat()} ({nst})",
            )
            expected = expected_next_monday_0930_ms(now)
            check_eq(nst, expected, "get: nextScheduleTime is the next Monday 09:30 Berlin")

        # The SDK defaults isPaused to False when missing; §6.3 wants it sent.
        status, text = raw_request("GET", f"{url}/v2/schedules/{SEED_ID}", token)
        check_eq(status, 200, "raw GET /v2/schedules/{id} status")
        raw = json.loads(text) if status == 200 else {}
        check(raw.get("isPaused") is False, "raw GET: isPaused is present and false", f"got {raw.get('isPaused')!r}")
        check(
            isinstance(raw.get("createdAt"), int) and not isinstance(raw.get("createdAt"), bool),
            "raw GET: createdAt is an integer",
            f"got {raw.get('createdAt')!r}",
        )

    # ---- create with more options ------------------------------------------
    @step("create with more options")
    def options_create():
        sid = client.schedule.create(
            schedule_id=OPTIONS_ID,
            destination=options_dest,
            cron="*/5 * * * *",
            body="plain text body",
            content_type="text/plain",
            method="PUT",
            headers={"Test-Header": "test-value", "x-lower-case": "lower"},
            callback_headers={"Cb-Header": "cb-value"},
            failure_callback_headers={"Fcb-Header": "fcb-value"},
            retries=5,
            retry_delay="1000 * retried",
            callback=f"{sink.base}/callback",
            failure_callback=f"{sink.base}/failure-callback",
            delay=30,
            timeout=20,
            label="weekly-digest",
        )
        check_eq(sid, OPTIONS_ID, "create with options returns the schedule id", required=True)
        s = client.schedule.get(OPTIONS_ID)
        check_eq(s.destination, options_dest, "options get: destination")
        check_eq(s.cron, "*/5 * * * *", "options get: cron")
        check_eq(s.method, "PUT", "options get: method")
        check_eq(s.retries, 5, "options get: retries")
        check_eq(s.retry_delay_expression, "1000 * retried", "options get: retryDelayExpression")
        check_eq(s.delay, 30, "options get: delay (seconds)")
        check_eq(s.timeout, 20, "options get: timeout (seconds)")
        check_eq(s.callback, f"{sink.base}/callback", "options get: callback")
        check_eq(s.failure_callback, f"{sink.base}/failure-callback", "options get: failureCallback")
        check_eq(s.label, "weekly-digest", "options get: label")
        check_eq(s.body, "plain text body", "options get: body")
        check_eq(
            s.headers,
            {
                "Content-Type": ["text/plain"],
                "Test-Header": ["test-value"],
                "X-Lower-Case": ["lower"],
            },
            "options get: header map (forwarded, canonical names)",
        )
        check_eq(s.callback_headers, {"Cb-Header": ["cb-value"]}, "options get: callbackHeader")
        check_eq(s.failure_callback_headers, {"Fcb-Header": ["fcb-value"]}, "options get: failureCallbackHeader")
        check_eq(s.paused, False, "options get: isPaused")

    # ---- list, pause, resume -----------------------------------------------
    @step("list, pause, resume")
    def list_pause_resume():
        ids = sorted(s.schedule_id for s in client.schedule.list())
        check_eq(ids, sorted([SEED_ID, OPTIONS_ID]), "list: schedule ids")
        client.schedule.pause(SEED_ID)
        check_eq(client.schedule.get(SEED_ID).paused, True, "pause: get isPaused")
        client.schedule.pause(SEED_ID)
        check(True, "pause again: no error (idempotent)")
        check_eq(client.schedule.get(SEED_ID).paused, True, "pause again: still isPaused")
        listed = {s.schedule_id: s for s in client.schedule.list()}
        check_eq(listed.get(SEED_ID) and listed[SEED_ID].paused, True, "list: isPaused true for the paused schedule")
        check_eq(listed.get(OPTIONS_ID) and listed[OPTIONS_ID].paused, False, "list: other schedule not paused")
        client.schedule.resume(SEED_ID)
        check_eq(client.schedule.get(SEED_ID).paused, False, "resume: get isPaused")
        client.schedule.resume(SEED_ID)
        check_eq(client.schedule.get(SEED_ID).paused, False, "resume again: still not paused (idempotent)")

    # ---- overwrite ---------------------------------------------------------
    @step("overwrite with the same schedule id")
    def overwrite():
        new_dest = f"{sink.base}/api/send-weekly-summary-v2"
        sid = client.schedule.create(schedule_id=SEED_ID, destination=new_dest, cron=SEED_CRON)
        check_eq(sid, SEED_ID, "overwrite: returns the same schedule id")
        same = [s for s in client.schedule.list() if s.schedule_id == SEED_ID]
        check_eq(len(same), 1, "overwrite: list has exactly one schedule with that id", required=True)
        s = same[0]
        check_eq(s.destination, new_dest, "overwrite: list shows the new destination")
        check_eq(s.body, None, "overwrite: body absent")
        check_eq(s.body_base64, None, "overwrite: bodyBase64 absent")
        check(
            "Content-Type" not in (s.headers or {}),
            "overwrite: old Content-Type header is gone (all settings replaced)",
            f"got header map {s.headers!r}",
        )
        g = client.schedule.get(SEED_ID)
        check_eq(g.destination, new_dest, "overwrite: get shows the new destination")
        check_eq(g.body, None, "overwrite: get body absent")
        check_eq(len(client.schedule.list()), 2, "overwrite: list still has 2 schedules")

    # ---- delete -------------------------------------------------------------
    @step("delete")
    def delete():
        client.schedule.delete(SEED_ID)
        check(True, "delete: no error")
        expect_qstash_error(lambda: client.schedule.get(SEED_ID), "get after delete", status=404)
        ids = [s.schedule_id for s in client.schedule.list()]
        check(SEED_ID not in ids, "delete: list no longer has the schedule", f"got {ids!r}")
        client.schedule.delete(OPTIONS_ID)
        check_eq(client.schedule.list(), [], "delete: list is empty after deleting both")

    # ---- bad crons ----------------------------------------------------------
    @step("bad crons are rejected")
    def bad_crons():
        msg = expect_qstash_error(
            lambda: client.schedule.create(destination=f"{sink.base}/never", cron="0 0 * * 25"),
            'create with cron "0 0 * * 25"',
        )
        if msg is not None:
            check_eq(status_of(msg), 400, "bad day-of-week cron: status")
            check(
                re.search(r"day[-_ ]?of[-_ ]?week", msg, re.I) is not None,
                "bad day-of-week cron: message mentions day-of-week",
                f"got {msg!r}",
            )
        msg = expect_qstash_error(
            lambda: client.schedule.create(destination=f"{sink.base}/never", cron="* * * * * *"),
            "create with a 6-field cron and no Cronhook-Cron-Seconds header",
        )
        if msg is not None:
            check_eq(status_of(msg), 400, "6-field cron without header: status")
        check_eq(client.schedule.list(), [], "rejected crons created no schedule")

    # ---- delivery + Receiver ------------------------------------------------
    @step("delivery, headers and Receiver")
    def delivery():
        dest = f"{sink.base}/hook?x=1"
        body_bytes = json.dumps({"hello": "world", "note": "grüße ✓"}, ensure_ascii=False).encode("utf-8")
        status, text = raw_request(
            "POST",
            f"{url}/v2/schedules/{dest}",
            token,
            headers={
                "Upstash-Cron": "* * * * * *",
                "Cronhook-Cron-Seconds": "true",
                "Upstash-Schedule-Id": SECONDS_ID,
                "Content-Type": "application/json",
            },
            body=body_bytes,
        )
        # §2.4: the SDKs accept any 2xx (cronhook answers 201 Created).
        check(200 <= status < 300, "plain HTTP create of a seconds schedule: 2xx", f"got {status}, body {text!r}", required=True)
        check_eq(json.loads(text).get("scheduleId"), SECONDS_ID, "seconds schedule: scheduleId")
        s = client.schedule.get(SECONDS_ID)
        check_eq(s.cron, "* * * * * *", "seconds schedule get: cron")
        check_eq(s.destination, dest, "seconds schedule get: destination (with query)")

        rec = sink.wait_for(lambda r: r["path"].startswith("/hook"), 15)
        check(rec is not None, "a delivery arrived within 15 s", required=True)
        h = rec["headers"]
        delivered_url = sink.base + rec["path"]
        check_eq(rec["method"], "POST", "delivery: method")
        check_eq(delivered_url, dest, "delivery: URL (path and query)")
        check_eq(rec["body"], body_bytes, "delivery: exact body bytes")
        check_eq(h.get("Content-Type"), "application/json", "delivery: Content-Type")
        check_eq(h.get("User-Agent"), "Upstash-QStash", "delivery: User-Agent")
        check_eq(h.get("Upstash-Retried"), "0", "delivery: Upstash-Retried")
        check_eq(h.get("Upstash-Schedule-Id"), SECONDS_ID, "delivery: Upstash-Schedule-Id")
        check(bool(h.get("Upstash-Message-Id")), "delivery: Upstash-Message-Id present", f"got {h.get('Upstash-Message-Id')!r}")
        sig = h.get("Upstash-Signature")
        check(bool(sig), "delivery: Upstash-Signature present", required=True)

        receiver = Receiver(current_signing_key=current_key, next_signing_key=next_key)
        body_text = rec["body"].decode("utf-8")
        try:
            receiver.verify(signature=sig, body=body_text, url=delivered_url)
            check(True, "Receiver.verify passes on the delivered request")
        except SignatureError as e:
            # verify() reports the next key's error; show the current key's too.
            try:
                verify_with_key(current_key, signature=sig, body=body_text, url=delivered_url)
                primary = "current key: ok"
            except SignatureError as e1:
                primary = f"current key: {e1}"
            check(False, "Receiver.verify passes on the delivered request", f"{e} ({primary}; token {sig})")

        receiver_next = Receiver(current_signing_key="sig_wrongwrongwrongwrongwrong", next_signing_key=current_key)
        try:
            receiver_next.verify(signature=sig, body=body_text, url=delivered_url)
            check(True, "Receiver.verify passes via the fallback key (key rotation)")
        except SignatureError as e:
            check(False, "Receiver.verify passes via the fallback key (key rotation)", str(e))

        for label, kwargs in (
            ("tampered body", dict(body=body_text.replace("world", "w0rld"), url=delivered_url)),
            ("wrong url", dict(body=body_text, url=f"{sink.base}/hook?x=2")),
        ):
            try:
                receiver.verify(signature=sig, **kwargs)
                check(False, f"Receiver.verify rejects a {label}", "verification passed")
            except SignatureError as e:
                check(True, f"Receiver.verify rejects a {label} ({e})")
        wrong_keys = Receiver(current_signing_key="sig_aaaaaaaaaaaaaaaaaaaaaaaaaaaa", next_signing_key="sig_bbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        try:
            wrong_keys.verify(signature=sig, body=body_text, url=delivered_url)
            check(False, "Receiver.verify rejects other signing keys", "verification passed")
        except SignatureError as e:
            check(True, f"Receiver.verify rejects other signing keys ({e})")

        # The schedule fires every second: a second delivery has a new message id.
        rec2 = sink.wait_for(lambda r: r["path"].startswith("/hook") and r is not rec, 5)
        if check(rec2 is not None, "a second delivery arrived"):
            check(
                rec2["headers"].get("Upstash-Message-Id") != h.get("Upstash-Message-Id"),
                "second delivery: new Upstash-Message-Id",
                f"both {h.get('Upstash-Message-Id')!r}",
            )

        client.schedule.delete(SECONDS_ID)
        check(True, "delete the seconds schedule")
        msg = expect_qstash_error(lambda: client.schedule.get(SECONDS_ID), "get seconds schedule after delete")
        check_eq(status_of(msg), 404, "get seconds schedule after delete: status")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
