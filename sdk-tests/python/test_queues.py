#!/usr/bin/env python3
"""Runs the official Python SDK (PyPI qstash 3.4.0) against a cronhook
server: every queue method it has.

Standalone program: exit 0 means every check passed; anything else is a
failure, with each failed check printed as `FAIL - ...`.

Environment (printed by `cronhook serve`):
  QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY

SDK methods called: queue.upsert, queue.get, queue.list, queue.delete,
queue.pause, queue.resume, message.enqueue, message.enqueue_json (and
message.get to see a cancelled message is gone).

Wire contract: docs/qstash-wire.md §4.2 (enqueue), §4.6 (queue endpoints),
§6.4 (the Queue object), §9.5 (FIFO, parallelism, pause).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qstash import QStash
from qstash.errors import QStashError

from harness import (
    Sink,
    check,
    check_eq,
    env,
    expect_qstash_error,
    now_ms,
    on_path,
    step,
    summary,
)

QUEUE = "sdk-py-queue"
WIDE = "sdk-py-wide"
DOOMED = "sdk-py-doomed"


def max_overlap(recs):
    """The most requests the sink was answering at once. The sink notes an
    answer a moment after sending it, so an arrival within 0.1 s of an
    answer does not count as overlapping it (real overlaps here last 0.5 s)."""
    most = 0
    for r in recs:
        at = r["received_at"]
        most = max(most, sum(1 for o in recs if o["received_at"] <= at < (o["responded_at"] or at + 1) - 0.1))
    return most


def main():
    url = env("QSTASH_URL")
    token = env("QSTASH_TOKEN")
    sink = Sink()
    S = sink.base
    print(f"server {url}, sink {S}", flush=True)
    client = QStash(token, base_url=url, retry=False)
    started = now_ms()

    def wait_lag(name, want, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            q = client.queue.get(name)
            if q.lag == want or time.monotonic() > deadline:
                return q
            time.sleep(0.05)

    @step("upsert with the SDK's defaults, get, list")
    def defaults():
        client.queue.upsert(QUEUE)
        q = client.queue.get(QUEUE)
        check_eq(q.name, QUEUE, "get: name")
        check_eq((q.parallelism, q.paused, q.lag), (1, False, 0), "get: defaults parallelism 1, not paused, lag 0")
        check(started - 1000 <= q.created_at <= now_ms() + 1000, "get: createdAt is now (ms)", f"got {q.created_at}")
        check(q.updated_at >= q.created_at, "get: updatedAt >= createdAt", f"got {q.updated_at}")
        names = [x.name for x in client.queue.list()]
        check(QUEUE in names, "list: has the queue", f"got {names}")

    @step("upsert replaces parallelism and pause, keeps createdAt")
    def replace():
        before = client.queue.get(QUEUE)
        client.queue.upsert(QUEUE, parallelism=2, paused=True)
        q = client.queue.get(QUEUE)
        check_eq((q.parallelism, q.paused), (2, True), "get after upsert: parallelism 2, paused")
        check_eq(q.created_at, before.created_at, "upsert keeps createdAt")
        client.queue.upsert(QUEUE, parallelism=1, paused=True)

    @step("enqueue and enqueue_json into a paused queue: stored, not delivered; resume delivers in order")
    def paused_then_resumed():
        r0 = client.message.enqueue(queue=QUEUE, url=f"{S}/py/q/0", body="zero", content_type="text/plain")
        r1 = client.message.enqueue_json(queue=QUEUE, url=f"{S}/py/q/1", body={"one": 1})
        r2 = client.message.enqueue(queue=QUEUE, url=f"{S}/py/q/2", body="two")
        ids = [r0.message_id, r1.message_id, r2.message_id]
        check_eq(len(set(ids)), 3, "enqueue: three distinct message ids")
        early = sink.wait_for(lambda r: r["path"].startswith("/py/q/"), 0.5)
        check(early is None, "paused: nothing delivered", f"got {early and early['path']}")
        check_eq(client.queue.get(QUEUE).lag, 3, "paused: lag counts the three")
        client.queue.resume(QUEUE)
        recs = sink.wait_count(lambda r: r["path"].startswith("/py/q/"), 3, 15)
        check_eq([r["path"] for r in recs], ["/py/q/0", "/py/q/1", "/py/q/2"], "resumed: FIFO order")
        check_eq([r["headers"].get("Upstash-Message-Id") for r in recs], ids, "resumed: message ids in order")
        check_eq(recs[1]["body"] if len(recs) > 1 else None, b'{"one": 1}', "enqueue_json delivery: body")
        check_eq(wait_lag(QUEUE, 0).lag, 0, "lag 0 once all are delivered")

    @step("pause and resume are idempotent")
    def idempotent():
        client.queue.pause(QUEUE)
        client.queue.pause(QUEUE)
        check_eq(client.queue.get(QUEUE).paused, True, "paused twice: paused")
        client.queue.resume(QUEUE)
        client.queue.resume(QUEUE)
        check_eq(client.queue.get(QUEUE).paused, False, "resumed twice: not paused")

    @step("parallelism 2: two deliveries at once, never three")
    def parallelism():
        client.queue.upsert(WIDE, parallelism=2, paused=True)
        sink.set("/py/wide", sleep=0.5)
        for i in range(6):
            client.message.enqueue(queue=WIDE, url=f"{S}/py/wide", body=str(i))
        client.queue.resume(WIDE)
        check_eq(wait_lag(WIDE, 0).lag, 0, "all six finished")
        recs = sink.matching(on_path("/py/wide"))
        check_eq(len(recs), 6, "six deliveries")
        check_eq(max_overlap(recs), 2, "most deliveries at once")

    @step("delete cancels what the queue holds; unknown queues are 404")
    def delete():
        client.queue.upsert(DOOMED, paused=True)
        r = client.message.enqueue(queue=DOOMED, url=f"{S}/py/doomed", body="never")
        client.queue.delete(DOOMED)
        expect_qstash_error(lambda: client.queue.get(DOOMED), "get a deleted queue", 404)
        expect_qstash_error(lambda: client.message.get(r.message_id), "get its cancelled message", 404)
        check(DOOMED not in [x.name for x in client.queue.list()], "list: the deleted queue is gone")
        for what, fn in [
            ("delete", lambda: client.queue.delete("sdk-py-none")),
            ("pause", lambda: client.queue.pause("sdk-py-none")),
            ("resume", lambda: client.queue.resume("sdk-py-none")),
        ]:
            expect_qstash_error(fn, f"{what} an unknown queue", 404)
        late = sink.wait_for(on_path("/py/doomed"), 0.3)
        check(late is None, "the cancelled message is never delivered")

    @step("bad settings are refused with 400 naming the field")
    def bad():
        msg = expect_qstash_error(lambda: client.queue.upsert(QUEUE, parallelism=0), "parallelism 0", 400)
        check("parallelism" in (msg or ""), "the error names parallelism", msg)
        msg = expect_qstash_error(lambda: client.queue.upsert("bad/name"), "a name with /", 400)
        check("queueName" in (msg or ""), "the error names queueName", msg)

    try:
        client.queue.delete(QUEUE)
        client.queue.delete(WIDE)
    except QStashError as e:
        check(False, "clean-up deletes", str(e))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
