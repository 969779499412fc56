"""Runs the official Python SDK (PyPI `qstash` 3.4.0) against a cronhook
server: flow control, enforced.

Standalone program: exit 0 means every check passed; anything else is a
failure, with each failed check printed as `FAIL - ...`.

Environment (printed by `cronhook serve`):
  QSTASH_URL, QSTASH_TOKEN

SDK methods called (docs/qstash-wire.md §4 rows 34-38, every flow-control
method qstash 3.4.0 has): flow_control.get, get_global_parallelism, pause,
resume, pin, unpin, reset_rate; message.publish_json with flow_control and
message.get (its flow_control).

Wire contract: docs/qstash-wire.md §4.11, §5.1 (Upstash-Flow-Control-*),
§6.7 (FlowControlInfo), §9.5.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qstash import QStash

from harness import (
    Sink,
    check,
    check_between,
    check_eq,
    env,
    expect_qstash_error,
    on_path,
    step,
    summary,
)

KEY = "sdk-py-flow"
HOLD = 0.3  # seconds the sink holds each delivery


def main():
    url = env("QSTASH_URL")
    token = env("QSTASH_TOKEN")
    sink = Sink()
    sink.set("/fc", sleep=HOLD)
    client = QStash(token, base_url=url, retry=False)
    fc = client.flow_control
    dest = sink.base + "/fc"
    limits = {"key": KEY, "parallelism": 1, "rate": 10, "period": "1m"}

    def publish():
        return client.message.publish_json(url=dest, body={"n": 1}, flow_control=limits).message_id

    @step("publish with flow_control, then flow_control.get")
    def _():
        publish()
        check(sink.wait_for(on_path("/fc"), 10) is not None, "delivered", required=True)
        info = fc.get(KEY)
        check_eq(info.key, KEY, "key")
        check_eq(info.parallelism_max, 1, "parallelism_max")
        check_eq(info.rate_max, 10, "rate_max")
        check_eq(info.rate_period, 60, "rate_period (1m in seconds)")
        check_between(info.rate_count, 1, 1, "rate_count")
        check_between(info.rate_period_start, time.time() - 120, time.time() + 5, "rate_period_start (unix seconds)")
        check_eq(info.is_paused, False, "is_paused")
        check_eq((info.is_pinned_parallelism, info.is_pinned_rate), (False, False), "not pinned")

    @step("pause: messages wait; message.get shows the flow control; resume: one at a time")
    def _():
        fc.pause(KEY)
        check_eq(fc.get(KEY).is_paused, True, "is_paused after pause")
        ids = [publish(), publish()]
        time.sleep(0.5)
        check_eq(len(sink.matching(on_path("/fc"))), 1, "nothing delivered while paused")
        check_eq(fc.get(KEY).wait_list_size, 2, "wait_list_size")
        m = client.message.get(ids[0])
        check_eq(m.flow_control.key if m.flow_control else None, KEY, "message.get: flow_control.key")
        check_eq(m.flow_control.parallelism if m.flow_control else None, 1, "message.get: parallelism")
        check_eq(m.flow_control.period if m.flow_control else None, 60, "message.get: period")
        fc.resume(KEY)
        got = sink.wait_count(on_path("/fc"), 3, 15)
        check_eq(len(got), 3, "both delivered after resume", required=True)
        # Parallelism 1: the second waited for the first's answer.
        first, second = sorted(got[1:], key=lambda r: r["received_at"])
        check(
            second["received_at"] >= first["received_at"] + HOLD - 0.05,
            "the second started after the first was answered",
            f"{second['received_at'] - first['received_at']:.3f}s apart",
        )
        check_eq(fc.get(KEY).is_paused, False, "is_paused after resume")

    @step("pin, unpin, reset_rate")
    def _():
        fc.pin(KEY, {"parallelism": 2, "rate": 5, "period": 30})
        info = fc.get(KEY)
        check_eq((info.parallelism_max, info.rate_max, info.rate_period), (2, 5, 30), "pinned limits")
        check_eq((info.is_pinned_parallelism, info.is_pinned_rate), (True, True), "pinned")
        check_eq(info.rate_count, 0, "pinning starts a new period")
        fc.unpin(KEY, {"parallelism": True, "rate": False})
        info = fc.get(KEY)
        check_eq((info.is_pinned_parallelism, info.is_pinned_rate), (False, True), "parallelism unpinned")
        check_eq(info.parallelism_max, 1, "back to the received parallelism")
        fc.unpin(KEY, {"rate": True})
        info = fc.get(KEY)
        check_eq((info.rate_max, info.rate_period, info.is_pinned_rate), (10, 60, False), "rate unpinned")
        publish()
        sink.wait_count(on_path("/fc"), 4, 10)
        fc.reset_rate(KEY)
        info = fc.get(KEY)
        check_eq(info.rate_count, 0, "reset_rate clears the count")
        check_between(info.rate_period_start, time.time() - 5, time.time() + 5, "a new period starts now")

    @step("get_global_parallelism; unknown key")
    def _():
        g = fc.get_global_parallelism()
        check(g.parallelism_max > 0, "parallelism_max > 0", g)
        check(g.parallelism_count >= 0, "parallelism_count >= 0", g)
        expect_qstash_error(lambda: fc.get("sdk-py-no-such-key"), "get of an unknown key", 404)
        expect_qstash_error(lambda: fc.pause("sdk-py-no-such-key"), "pause of an unknown key", 404)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
