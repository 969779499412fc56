#!/usr/bin/env python3
"""Runs the official Python SDK (PyPI qstash 3.4.0) against a cronhook
server: schedule bounds (cronhook's Cronhook-Start-At / Cronhook-End-At).

The SDK prefixes every header of `headers=` with Upstash-Forward-, so it
cannot send a Cronhook-* header; it keeps the destination's query string,
so the bounds go there, as the query-parameter form of the headers
(`?cronhook-start-at=…`), which cronhook takes out of the destination.

Standalone program: exit 0 means every check passed; anything else is a
failure, with each failed check printed as `FAIL - ...`.

Environment (printed by `cronhook serve`):
  QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY

SDK methods called: schedule.create_json, schedule.create, schedule.get,
schedule.list.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qstash import QStash

from harness import (
    Sink,
    check,
    check_eq,
    env,
    expect_qstash_error,
    now_ms,
    on_path,
    raw_request,
    step,
    summary,
)

WEEK_S = 7 * 86400


def main():
    url = env("QSTASH_URL")
    token = env("QSTASH_TOKEN")
    sink = Sink()
    S = sink.base
    print(f"server {url}, sink {S}", flush=True)
    client = QStash(token, base_url=url, retry=False)

    def raw_get(schedule_id):
        status, text = raw_request("GET", f"{url}/v2/schedules/{schedule_id}", token)
        if status != 200:
            check_eq(status, 200, f"GET {schedule_id}: status", required=True)
        return json.loads(text)

    @step("the README's weekly report, first one 7 days after signup")
    def weekly_report():
        signup_s = now_ms() // 1000
        first_s = signup_s + WEEK_S
        client.schedule.create_json(
            schedule_id="weekly-report-ann@example.com",
            destination=f"{S}/api/weekly-report?cronhook-start-at={first_s}",
            body={"userId": 42},
            cron="CRON_TZ=Europe/Berlin 0 9 * * 1",
        )
        s = client.schedule.get("weekly-report-ann@example.com")
        check_eq(s.destination, f"{S}/api/weekly-report", "the bounds are not part of the destination")
        check_eq(s.cron, "CRON_TZ=Europe/Berlin 0 9 * * 1", "get: cron")
        check(s.next_schedule_time >= first_s * 1000, "the first slot is on or after the start", f"got {s.next_schedule_time}")
        check(
            s.next_schedule_time < (first_s + WEEK_S) * 1000,
            "and within the week after it",
            f"got {s.next_schedule_time}",
        )
        raw = raw_get("weekly-report-ann@example.com")
        check_eq(raw.get("startAt"), first_s * 1000, "startAt (ms)")
        check_eq(raw.get("state"), "active", "state")
        check("endAt" not in raw, "no endAt", f"got {raw.get('endAt')}")
        ids = [x.schedule_id for x in client.schedule.list()]
        check("weekly-report-ann@example.com" in ids, "list parses the schedule with its cronhook fields", f"got {ids}")

    @step("a seconds schedule bounded to a window of 2 s fires only inside it, then is ended")
    def window():
        start_s = now_ms() // 1000 + 2
        end_s = start_s + 2
        client.schedule.create(
            schedule_id="py-window",
            destination=(
                f"{S}/py/window?cronhook-cron-seconds=true"
                f"&cronhook-start-at={start_s}&cronhook-end-at={end_s}"
            ),
            body="tick",
            cron="* * * * * *",
        )
        deadline = time.monotonic() + 15
        raw = raw_get("py-window")
        while raw.get("state") != "ended" and time.monotonic() < deadline:
            time.sleep(0.1)
            raw = raw_get("py-window")
        check_eq(raw.get("state"), "ended", "ended after its end", required=True)
        check_eq((raw.get("startAt"), raw.get("endAt")), (start_s * 1000, end_s * 1000), "startAt, endAt")
        check("nextScheduleTime" not in raw, "no next slot", f"got {raw.get('nextScheduleTime')}")
        time.sleep(0.3)  # anything fired has arrived
        slots = sorted({int(r["headers"].get("Cronhook-Slot-Time")) for r in sink.matching(on_path("/py/window"))})
        check(len(slots) >= 1, "it fired", f"got {slots}")
        outside = [t for t in slots if not start_s * 1000 <= t <= end_s * 1000]
        check_eq(outside, [], f"every slot inside [{start_s * 1000}, {end_s * 1000}] (slots {slots})")
        s = client.schedule.get("py-window")
        check_eq(s.schedule_id, "py-window", "an ended schedule is kept and the SDK reads it")

    @step("an end in the past is refused with the header's name")
    def bad_end():
        past = now_ms() // 1000 - 60
        msg = expect_qstash_error(
            lambda: client.schedule.create(
                destination=f"{S}/py/never?cronhook-end-at={past}",
                cron="* * * * *",
            ),
            "create with an end in the past",
            status=400,
        )
        check(msg is not None and "Cronhook-End-At" in msg, "the error names Cronhook-End-At", f"got {msg!r}")

    sys.exit(summary())


if __name__ == "__main__":
    main()
