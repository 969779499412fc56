#!/usr/bin/env python3
"""Runs the official Python SDK (PyPI `qstash` 3.4.0) against a cronhook server:
publish, enqueue, batch, messages, DLQ, logs, signing keys, callbacks and
deduplication.

Standalone program: exit 0 means every check passed; anything else is a
failure, with each failed check printed as `FAIL - ...`.

Environment (printed by `cronhook serve`):
  QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY

SDK methods called (every method of docs/qstash-wire.md §4 rows 1-6 and
24-33 that qstash 3.4.0 has; rows 7-12 are in test_schedules.py):
  message.publish, publish_json, enqueue, enqueue_json, batch, batch_json,
  get, cancel, cancel_many, cancel_all; dlq.list, get, delete, delete_many;
  log.list; signing_key.get, rotate; Receiver.verify.
Rows the SDK has no method for are called with plain HTTP: 29
(POST /v2/dlq/retry/{dlqId}) and 31 (GET /v2/logs).

Wire contract: docs/qstash-wire.md §4.1-4.4, §4.8-4.10 (endpoints), §5.1-5.2
(headers), §6.1, §6.2, §6.6 (objects), §7 (what the destination receives),
§8 (signature), §9.2 (retry delay), §9.4 (callbacks), §9.6 (log states),
§9.7 (dedup).
"""

import base64
import contextlib
import hashlib
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jwt
from qstash import QStash, Receiver
from qstash.errors import QStashError, SignatureError
from qstash.log import LogState
from qstash.receiver import verify_with_key

from harness import (
    Sink,
    b64,
    b64decode_or_none,
    check,
    check_between,
    check_eq,
    env,
    expect_qstash_error,
    now_ms,
    on_path,
    parse_json,
    raw_request,
    step,
    summary,
)

QUEUE = "sdk-py-queue"
BATCH_QUEUE = "sdk-py-batch-queue"

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def quiet(fn):
    """qstash 3.4.0's log.list prints the raw response; keep stdout readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def forbidden_delivery_headers(rec):
    """Headers that must not reach the destination (§7.2): the API token and
    the Upstash-* configuration headers of the publish request."""
    bad = []
    for name in rec["header_names"]:
        low = name.lower()
        if low == "authorization" or low.startswith("upstash-forward-") or low.startswith("upstash-callback") \
                or low.startswith("upstash-failure-callback") or low.startswith("upstash-telemetry") \
                or low in ("upstash-retries", "upstash-retry-delay", "upstash-delay", "upstash-not-before",
                           "upstash-label", "upstash-method", "upstash-timeout", "upstash-deduplication-id",
                           "upstash-content-based-deduplication"):
            bad.append(name)
    return bad


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


def main():
    url = env("QSTASH_URL")
    token = env("QSTASH_TOKEN")
    keys = {"current": env("QSTASH_CURRENT_SIGNING_KEY"), "next": env("QSTASH_NEXT_SIGNING_KEY")}

    sink = Sink()
    print(f"server {url}, sink {sink.base}", flush=True)
    client = QStash(token, base_url=url, retry=False)
    S = sink.base
    state = {}

    # -- shared checks -----------------------------------------------------

    def verify(rec, what, expect_url=None):
        """Receiver.verify on a recorded request (with the url), plus the
        JWT claims of §8.2. Returns the decoded claims (or None)."""
        sig = rec["headers"].get("Upstash-Signature")
        if not check(bool(sig), f"{what}: Upstash-Signature present"):
            return None
        target = expect_url or (S + rec["path"])
        text = rec["body"].decode("utf-8")
        receiver = Receiver(current_signing_key=keys["current"], next_signing_key=keys["next"])
        try:
            receiver.verify(signature=sig, body=text, url=target)
            check(True, f"{what}: Receiver.verify passes (url {target})")
        except SignatureError as e:
            check(False, f"{what}: Receiver.verify passes (url {target})", f"{e} (token {sig})")
        try:
            return jwt.decode(sig, options={"verify_signature": False})
        except Exception as e:
            check(False, f"{what}: signature is a JWT", str(e))
            return None

    def check_delivery_basics(rec, what, message_id=None, retried="0"):
        h = rec["headers"]
        check_eq(h.get("User-Agent"), "Upstash-QStash", f"{what}: User-Agent")
        check_eq(h.get("Upstash-Retried"), retried, f"{what}: Upstash-Retried")
        if message_id is not None:
            check_eq(h.get("Upstash-Message-Id"), message_id, f"{what}: Upstash-Message-Id is the publish messageId")
        check_eq(forbidden_delivery_headers(rec), [], f"{what}: no token or Upstash-* config headers forwarded")

    def log_entries(mid, until=("DELIVERED", "FAILED", "CANCELED"), timeout=6.0):
        """Log entries of one message, newest first (as the server returns
        them), polling until the newest one has a state in `until`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                res = quiet(lambda: client.log.list(filter={"message_id": mid}))
            except (QStashError, ValueError, KeyError) as e:
                check(False, f"log.list for {mid}", f"{type(e).__name__}: {e}")
                return []
            logs = res.logs
            if (logs and logs[0].state.value in until) or time.monotonic() > deadline:
                return logs
            time.sleep(0.2)

    def check_state_sequence(mid, expected, what, until=None):
        logs = log_entries(mid, until=until or (expected[-1],))
        states = [l.state.value for l in reversed(logs)]
        check_eq(states, expected, f"{what}: log states oldest to newest (§9.6)")
        times = [l.time for l in logs]
        check(times == sorted(times, reverse=True), f"{what}: logs newest first", f"times {times}")
        check(all(l.message_id == mid for l in logs), f"{what}: every entry has the messageId")
        return logs

    def check_callback(rec, what, *, status, retried, max_retries, source_id, dest, method,
                       source_body, response_body, response_header=None, source_header=None,
                       dlq=False, forwarded=None):
        check_eq(rec["method"], "POST", f"{what}: method")
        check_eq((rec["headers"].get("Content-Type") or "").split(";")[0], "application/json", f"{what}: Content-Type")
        check_eq(rec["headers"].get("User-Agent"), "Upstash-QStash", f"{what}: User-Agent")
        cb_id = rec["headers"].get("Upstash-Message-Id")
        check(bool(cb_id) and cb_id != source_id, f"{what}: own Upstash-Message-Id (a new message)",
              f"got {cb_id!r}, source {source_id!r}")
        for name, value in (forwarded or {}).items():
            check_eq(rec["headers"].get(name), value, f"{what}: forwarded header {name}")
            check(name in rec["header_names"], f"{what}: header name {name} canonical", f"names {rec['header_names']}")
        verify(rec, what)
        body = parse_json(rec["body"].decode("utf-8", "replace"))
        if not check(isinstance(body, dict), f"{what}: body is a JSON object", f"got {rec['body']!r}"):
            return None
        check_eq(body.get("status"), status, f"{what}: status")
        check_eq(body.get("retried"), retried, f"{what}: retried")
        check_eq(body.get("maxRetries"), max_retries, f"{what}: maxRetries")
        check_eq(body.get("sourceMessageId"), source_id, f"{what}: sourceMessageId")
        check_eq(body.get("url"), dest, f"{what}: url")
        check_eq(body.get("method"), method, f"{what}: method field")
        check_eq(b64decode_or_none(body.get("body") or ""), response_body, f"{what}: body (base64 of the response)")
        check_eq(b64decode_or_none(body.get("sourceBody") or ""), source_body, f"{what}: sourceBody (base64)")
        for name, value in (response_header or {}).items():
            check_eq((body.get("header") or {}).get(name), [value], f"{what}: header[{name}] (response headers)")
        for name, value in (source_header or {}).items():
            check_eq((body.get("sourceHeader") or {}).get(name), [value], f"{what}: sourceHeader[{name}]")
        for k in ("notBefore", "createdAt"):
            v = body.get(k)
            check(isinstance(v, int) and not isinstance(v, bool) and v > 1_600_000_000_000,
                  f"{what}: {k} is ms", f"got {v!r}")
        if dlq:
            check(isinstance(body.get("dlqId"), str) and body.get("dlqId"), f"{what}: dlqId present",
                  f"got {body.get('dlqId')!r}")
        else:
            check("dlqId" not in body, f"{what}: no dlqId", f"got {body.get('dlqId')!r}")
        return body

    # ---- 1. message get and every cancel form (nothing else pending) --------
    cancelled = {"ids": [], "due": 0.0}

    @step("message get and every cancel form")
    def get_and_cancel():
        dest = f"{S}/py/cancel/options?x=1&y=two"
        t0 = now_ms()
        res = client.message.publish(
            url=dest,
            body="plain text body",
            content_type="text/plain",
            method="PUT",
            headers={"Test-Header": "test-value", "x-lower-case": "lower"},
            callback_headers={"Cb-Extra": "cb-value", "Upstash-Callback-Forward-Js-Extra": "js-cb"},
            failure_callback_headers={"Fcb-Extra": "fcb-value"},
            retries=2,
            retry_delay="1000 * retried",
            callback=f"{S}/py/cancel/callback",
            failure_callback=f"{S}/py/cancel/failure-callback",
            delay="4s",
            timeout=20,
            label="py-options",
        )
        t1 = now_ms()
        cancelled["due"] = max(cancelled["due"], t1 / 1000 + 4)
        mid = res.message_id
        check(isinstance(mid, str) and mid, "publish: messageId is a non-empty string", f"got {mid!r}", required=True)
        check_eq(res.deduplicated, False, "publish: deduplicated false")

        m = client.message.get(mid)
        check_eq(m.message_id, mid, "get: messageId")
        check_eq(m.url, dest, "get: url (with query)")
        check_eq(m.method, "PUT", "get: method")
        check_eq(m.body, "plain text body", "get: body")
        check_eq(m.body_base64, None, "get: bodyBase64 absent for UTF-8")
        check_eq(
            m.headers,
            {"Content-Type": ["text/plain"], "Test-Header": ["test-value"], "X-Lower-Case": ["lower"]},
            "get: header (forwarded, canonical names, no Upstash-* config)",
        )
        check_eq(
            m.callback_headers,
            {"Cb-Extra": ["cb-value"], "Js-Extra": ["js-cb"]},
            "get: callbackHeader (Python Upstash-Callback-X and JS Upstash-Callback-Forward-X spellings)",
        )
        check_eq(m.failure_callback_headers, {"Fcb-Extra": ["fcb-value"]}, "get: failureCallbackHeader")
        check_eq(m.max_retries, 2, "get: maxRetries")
        check_eq(m.retry_delay_expression, "1000 * retried", "get: retryDelayExpression")
        check_eq(m.callback, f"{S}/py/cancel/callback", "get: callback")
        check_eq(m.failure_callback, f"{S}/py/cancel/failure-callback", "get: failureCallback")
        check_eq(m.label, "py-options", "get: label")
        check_eq((m.url_group, m.endpoint, m.queue, m.schedule_id), (None, None, None, None),
                 "get: topicName/endpointName/queueName/scheduleId absent")
        check_between(m.created_at, t0 - 1000, t1 + 1000, "get: createdAt (ms)")
        check(isinstance(m.not_before, int) and abs(m.not_before - (m.created_at + 4000)) <= 1000,
              "get: notBefore == createdAt + 4 s (ms)", f"got notBefore {m.not_before!r}, createdAt {m.created_at!r}")
        check_eq(m.caller_ip, "127.0.0.1", "get: callerIP")

        status, text = raw_request("GET", f"{url}/v2/messages/{mid}", token)
        raw = parse_json(text) or {}
        check_eq(status, 200, "raw GET /v2/messages/{id}: status")
        check_eq(raw.get("labels"), ["py-options"], "raw get: labels")
        check_eq(raw.get("callerIp"), "127.0.0.1", "raw get: callerIp (both spellings, §6.1)")
        nulls = [k for k, v in raw.items() if v is None]
        check_eq(nulls, [], "raw get: no null fields (§6)")

        # Non-UTF-8 body: bodyBase64 instead of body.
        binary = b"\xff\xfe\x00bin\x80ary"
        rb = client.message.publish(url=f"{S}/py/cancel/binary", body=binary,
                                    content_type="application/octet-stream", delay=4)
        cancelled["due"] = max(cancelled["due"], time.time() + 4)
        mb = client.message.get(rb.message_id)
        check_eq(mb.body, None, "get binary: body absent")
        check_eq(mb.body_base64, b64(binary), "get binary: bodyBase64")
        check_eq(mb.method, "POST", "get binary: method defaults to POST")
        check_eq(mb.max_retries, 3, "get binary: maxRetries defaults to 3")

        client.message.cancel(mid)
        check(True, "cancel(id): no error")
        cancelled["ids"].append(mid)
        state["cancelled_one"] = mid
        expect_qstash_error(lambda: client.message.get(mid), "get after cancel", status=404)
        expect_qstash_error(lambda: client.message.cancel("msg_does_not_exist"), "cancel unknown id", status=404)

        ids = []
        for i in range(2):
            r = client.message.publish_json(url=f"{S}/py/cancel/many-{i}", body={"i": i}, delay="4s")
            ids.append(r.message_id)
        cancelled["due"] = max(cancelled["due"], time.time() + 4)
        n = client.message.cancel_many(ids + [rb.message_id])
        check_eq(n, 3, "cancel_many: cancelled count")
        cancelled["ids"].extend(ids + [rb.message_id])
        for i in ids + [rb.message_id]:
            expect_qstash_error(lambda: client.message.get(i), f"get {i} after cancel_many", status=404)

        ids = []
        for i in range(2):
            r = client.message.publish(url=f"{S}/py/cancel/all-{i}", body=f"all {i}", delay="4s")
            ids.append(r.message_id)
        cancelled["due"] = max(cancelled["due"], time.time() + 4)
        n = client.message.cancel_all()
        check_eq(n, 2, "cancel_all: cancelled count (every pending message)")
        cancelled["ids"].extend(ids)
        for i in ids:
            expect_qstash_error(lambda: client.message.get(i), f"get {i} after cancel_all", status=404)
        check_eq(client.message.cancel_all(), 0, "cancel_all with nothing pending: 0")

    # ---- 2. start delayed / not-before deliveries (checked in step 11) -----
    timed = {}

    @step("start delayed and not-before messages")
    def start_timed():
        t0 = time.time()
        r = client.message.publish(url=f"{S}/py/timed/delay", body="delayed 3s", delay="3s")
        timed["delay"] = (r.message_id, t0, time.time())
        nb = int(time.time()) + 4
        r2 = client.message.publish_json(url=f"{S}/py/timed/not-before", body={"nb": nb}, not_before=nb)
        timed["not_before"] = (r2.message_id, nb)
        r3 = client.message.publish(url=f"{S}/py/timed/both", body="nb wins", delay="1h", not_before=nb)
        timed["both"] = (r3.message_id, nb)
        m = client.message.get(r.message_id)
        check(abs(m.not_before - (m.created_at + 3000)) <= 1000, "delay 3s: get notBefore == createdAt + 3000",
              f"notBefore {m.not_before}, createdAt {m.created_at}")
        check_eq(client.message.get(r2.message_id).not_before, nb * 1000, "not_before: get notBefore (ms)")
        check_eq(client.message.get(r3.message_id).not_before, nb * 1000,
                 "delay 1h + not_before: Not-Before overrides Delay (§5.1)")
        check(not sink.matching(lambda r: r["path"].startswith("/py/timed/")), "timed messages not delivered early")

    # ---- 3. publish / publish_json delivered -------------------------------
    @step("publish and publish_json delivered")
    def publish_delivered():
        dest = f"{S}/py/deliver/options?x=1&y=two"
        body = "grüße ✓ plain".encode("utf-8")
        res = client.message.publish(
            url=dest,
            body=body,
            content_type="text/plain; charset=utf-8",
            method="PUT",
            headers={"Test-Header": "test-value", "x-lower-case": "lower"},
            retries=1,
            timeout="15s",
            label="py-deliver",
        )
        mid = res.message_id
        state["delivered_id"] = mid
        rec = sink.wait_for(on_path("/py/deliver/options"), 10)
        check(rec is not None, "publish: delivered within 10 s", required=True)
        check_eq(rec["method"], "PUT", "delivery: method (Upstash-Method)")
        check_eq(S + rec["path"], dest, "delivery: URL with query")
        check_eq(rec["body"], body, "delivery: exact body bytes")
        h = rec["headers"]
        check_eq(h.get("Content-Type"), "text/plain; charset=utf-8", "delivery: Content-Type")
        check_eq(h.get("Test-Header"), "test-value", "delivery: forwarded Test-Header")
        check_eq(h.get("X-Lower-Case"), "lower", "delivery: forwarded x-lower-case")
        check("X-Lower-Case" in rec["header_names"], "delivery: forwarded name canonical (X-Lower-Case)",
              f"names {rec['header_names']}")
        check_delivery_basics(rec, "delivery", mid)
        claims = verify(rec, "delivery") or {}
        check_eq(claims.get("iss"), "Upstash", "JWT: iss")
        check_eq(claims.get("sub"), dest, "JWT: sub is the destination URL")
        iat = claims.get("iat")
        check_between(iat, int(time.time()) - 60, int(time.time()) + 1, "JWT: iat (s)")
        check(isinstance(iat, int) and claims.get("exp") == iat + 300, "JWT: exp == iat + 300", f"claims {claims}")
        check(claims.get("nbf") in (0, iat), "JWT: nbf is 0 or iat", f"got {claims.get('nbf')!r}")
        check(isinstance(claims.get("jti"), str) and claims.get("jti"), "JWT: jti string")
        want_hash = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
        check_eq((claims.get("body") or "").rstrip("="), want_hash, "JWT: body claim is base64url sha256 of body")
        check(claims.get("aud") in (None, ""), "JWT: no non-empty aud", f"got {claims.get('aud')!r}")
        try:
            verify_with_key(keys["current"], signature=h.get("Upstash-Signature", ""), body=body.decode(), url=dest)
            check(True, "delivery: signed with the current key")
        except SignatureError as e:
            check(False, "delivery: signed with the current key", str(e))

        logs = check_state_sequence(mid, ["CREATED", "ACTIVE", "DELIVERED"], "delivered message")
        if logs:
            first = logs[-1]
            check_eq(first.url, dest, "log: url")
            check_eq(first.method, "PUT", "log: method")
            check_eq(first.max_retries, 1, "log: maxRetries")
            check_eq(first.label, "py-deliver", "log: label")
            check_eq(b64decode_or_none(first.body_base64 or ""), body, "log: body is base64 of the body (§6.6)")
            check_eq((first.headers or {}).get("Test-Header"), ["test-value"], "log: header map")

        res = client.message.publish_json(url=f"{S}/py/deliver/json", body={"hello": "world", "n": [1, 2]},
                                          headers={"X-Json": "yes"})
        rec = sink.wait_for(on_path("/py/deliver/json"), 10)
        check(rec is not None, "publish_json: delivered", required=True)
        check_eq(rec["method"], "POST", "publish_json delivery: default method POST")
        check_eq(rec["body"], json.dumps({"hello": "world", "n": [1, 2]}).encode(), "publish_json delivery: body")
        check_eq(rec["headers"].get("Content-Type"), "application/json", "publish_json delivery: Content-Type")
        check_eq(rec["headers"].get("X-Json"), "yes", "publish_json delivery: forwarded header")
        check_delivery_basics(rec, "publish_json delivery", res.message_id)
        verify(rec, "publish_json delivery")

        binary = bytes(range(256))
        res = client.message.publish(url=f"{S}/py/deliver/binary", body=binary, content_type="application/octet-stream")
        rec = sink.wait_for(on_path("/py/deliver/binary"), 10)
        if check(rec is not None, "binary publish: delivered"):
            check_eq(rec["body"], binary, "binary delivery: exact bytes")
            try:
                claims = jwt.decode(rec["headers"].get("Upstash-Signature", ""), keys["current"],
                                    algorithms=["HS256"], issuer="Upstash")
                check(True, "binary delivery: JWT verifies with the current key")
            except Exception as e:
                claims = {}
                check(False, "binary delivery: JWT verifies with the current key", str(e))
            want = base64.urlsafe_b64encode(hashlib.sha256(binary).digest()).decode().rstrip("=")
            check_eq(claims.get("body", "").rstrip("="), want, "binary delivery: body claim hashes the raw bytes")

    # ---- 4. enqueue / enqueue_json: FIFO, parallelism 1 --------------------
    @step("enqueue and enqueue_json (FIFO, parallelism 1)")
    def enqueue():
        sink.set("/py/queue/0", sleep=1.0)
        r0 = client.message.enqueue(queue=QUEUE, url=f"{S}/py/queue/0", body="first", content_type="text/plain",
                                    headers={"Q-Header": "q"}, label="py-queue")
        r1 = client.message.enqueue_json(queue=QUEUE, url=f"{S}/py/queue/1", body={"second": True})
        r2 = client.message.enqueue(queue=QUEUE, url=f"{S}/py/queue/2", body="third", method="PATCH")
        ids = [r0.message_id, r1.message_id, r2.message_id]
        check_eq(len(set(ids)), 3, "enqueue: three distinct messageIds")
        check_eq((r0.deduplicated, r1.deduplicated, r2.deduplicated), (False, False, False), "enqueue: not deduplicated")
        try:
            m1 = client.message.get(r1.message_id)
            check_eq(m1.queue, QUEUE, "get while waiting in the queue: queueName")
            check_eq(m1.body, json.dumps({"second": True}), "get queued: body")
        except QStashError as e:
            check(False, "get while waiting in the queue (parallelism 1: the 2nd waits for the slow 1st)", str(e))
        recs = sink.wait_count(lambda r: r["path"].startswith("/py/queue/"), 3, 15)
        check_eq(len(recs), 3, "enqueue: 3 deliveries", required=True)
        check_eq([r["path"] for r in recs], ["/py/queue/0", "/py/queue/1", "/py/queue/2"], "enqueue: FIFO order")
        check_eq([r["headers"].get("Upstash-Message-Id") for r in recs], ids, "enqueue: message ids in order")
        sink.wait_for(lambda r: r["path"] == "/py/queue/0" and r["responded_at"], 5)
        first_done = recs[0]["responded_at"]
        check(first_done is not None and recs[1]["received_at"] >= first_done - 0.01,
              "queue parallelism 1: 2nd delivery starts after the 1st answered",
              f"1st answered {first_done}, 2nd received {recs[1]['received_at']}")
        check_eq(recs[0]["body"], b"first", "enqueue delivery: body")
        check_eq(recs[0]["headers"].get("Q-Header"), "q", "enqueue delivery: forwarded header")
        check_eq(recs[1]["headers"].get("Content-Type"), "application/json", "enqueue_json delivery: Content-Type")
        check_eq(recs[1]["body"], b'{"second": true}', "enqueue_json delivery: body")
        check_eq(recs[2]["method"], "PATCH", "enqueue delivery: method")
        for i, rec in enumerate(recs):
            check_delivery_basics(rec, f"enqueue delivery {i}", ids[i])
            verify(rec, f"enqueue delivery {i}")
        logs = check_state_sequence(r0.message_id, ["CREATED", "ACTIVE", "DELIVERED"], "enqueued message")
        check(all(l.queue == QUEUE for l in logs), "enqueued message logs: queueName", f"{[l.queue for l in logs]}")
        log_entries(r2.message_id)  # the last DELIVERED row is written after the sink answered
        q = quiet(lambda: client.log.list(filter={"queue": QUEUE, "state": LogState.DELIVERED}))
        check_eq(sorted(l.message_id for l in q.logs), sorted(ids), "logs filter queue + state DELIVERED")

    # ---- 5. batch / batch_json ---------------------------------------------
    @step("batch and batch_json")
    def batch():
        res = client.message.batch([
            {"url": f"{S}/py/batch/a?k=v", "body": "batch a", "content_type": "text/plain",
             "headers": {"B-Header": "b"}, "method": "PUT", "retries": 0},
            {"url": f"{S}/py/batch/b", "body": "batch b", "queue": BATCH_QUEUE},
            {"url": f"{S}/py/batch/c"},
        ])
        check_eq(len(res), 3, "batch: one response per item", required=True)
        ids = [r.message_id for r in res]
        check(all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 3, "batch: distinct messageIds", f"{ids}")
        check_eq([r.deduplicated for r in res], [False] * 3, "batch: not deduplicated")
        recs = {}
        for p in ("a", "b", "c"):
            recs[p] = sink.wait_for(on_path(f"/py/batch/{p}"), 10)
            check(recs[p] is not None, f"batch item {p}: delivered")
        if recs["a"]:
            a = recs["a"]
            check_eq(a["method"], "PUT", "batch a: method")
            check_eq(a["path"], "/py/batch/a?k=v", "batch a: path and query")
            check_eq(a["body"], b"batch a", "batch a: body")
            check_eq(a["headers"].get("Content-Type"), "text/plain", "batch a: Content-Type")
            check_eq(a["headers"].get("B-Header"), "b", "batch a: forwarded header")
            check_delivery_basics(a, "batch a", ids[0])
            verify(a, "batch a")
        if recs["b"]:
            check_eq(recs["b"]["body"], b"batch b", "batch b: body")
            check_delivery_basics(recs["b"], "batch b", ids[1])
            logs = log_entries(ids[1])
            check(logs and all(l.queue == BATCH_QUEUE for l in logs), "batch b: logged with queueName",
                  f"{[l.queue for l in logs]}")
        if recs["c"]:
            check_eq(recs["c"]["body"], b"", "batch c: empty body (null body)")
            check_eq(recs["c"]["method"], "POST", "batch c: method POST")

        res = client.message.batch_json([
            {"url": f"{S}/py/batchjson/a", "body": {"a": 1}, "headers": {"J-Header": "j"}},
            {"url": f"{S}/py/batchjson/b", "body": ["x", None], "queue": BATCH_QUEUE, "method": "PUT"},
        ])
        check_eq(len(res), 2, "batch_json: one response per item", required=True)
        for p, want_body, method, mid in (("a", b'{"a": 1}', "POST", res[0].message_id),
                                          ("b", b'["x", null]', "PUT", res[1].message_id)):
            rec = sink.wait_for(on_path(f"/py/batchjson/{p}"), 10)
            if check(rec is not None, f"batch_json {p}: delivered"):
                check_eq(rec["body"], want_body, f"batch_json {p}: body")
                check_eq(rec["method"], method, f"batch_json {p}: method")
                check_eq(rec["headers"].get("Content-Type"), "application/json", f"batch_json {p}: Content-Type")
                check_delivery_basics(rec, f"batch_json {p}", mid)
                verify(rec, f"batch_json {p}")
        rec = sink.wait_for(on_path("/py/batchjson/a"), 1)
        if rec:
            check_eq(rec["headers"].get("J-Header"), "j", "batch_json a: forwarded header")

    # ---- 6. deduplication ---------------------------------------------------
    @step("deduplication (id and content)")
    def dedup():
        dest = f"{S}/py/dedup/id"
        r1 = client.message.publish(url=dest, body="one", deduplication_id="py-dedup-1")
        r2 = client.message.publish(url=dest, body="two", deduplication_id="py-dedup-1")
        check_eq(r1.deduplicated, False, "dedup id: first publish not deduplicated")
        check_eq(r2.deduplicated, True, "dedup id: second publish deduplicated")
        check_eq(r2.message_id, r1.message_id, "dedup id: second publish returns the original messageId")
        r3 = client.message.publish(url=dest, body="three", deduplication_id="py-dedup-2")
        check(r3.message_id != r1.message_id and not r3.deduplicated, "dedup id: another id is a new message")

        status, text = raw_request("POST", f"{url}/v2/publish/{dest}", token,
                                   headers={"Upstash-Deduplication-Id": "py-dedup-1"}, body=b"raw")
        raw = parse_json(text) or {}
        check_eq(status, 202, "raw duplicate publish: status 202 (§9.7)")
        check_eq(raw.get("messageId"), r1.message_id, "raw duplicate publish: original messageId")
        check_eq(raw.get("deduplicated"), True, "raw duplicate publish: deduplicated true")

        cdest = f"{S}/py/dedup/content"
        c1 = client.message.publish(url=cdest, body="same", content_type="text/plain",
                                    headers={"H": "1"}, content_based_deduplication=True)
        c2 = client.message.publish(url=cdest, body="same", content_type="text/plain",
                                    headers={"H": "1"}, content_based_deduplication=True)
        c3 = client.message.publish(url=cdest, body="different", content_type="text/plain",
                                    headers={"H": "1"}, content_based_deduplication=True)
        c4 = client.message.publish(url=cdest, body="same", content_type="text/plain",
                                    headers={"H": "2"}, content_based_deduplication=True)
        c5 = client.message.publish(url=f"{cdest}?other", body="same", content_type="text/plain",
                                    headers={"H": "1"}, content_based_deduplication=True)
        check_eq((c1.deduplicated, c2.deduplicated), (False, True), "content dedup: same content deduplicated")
        check_eq(c2.message_id, c1.message_id, "content dedup: duplicate returns original messageId")
        check(not c3.deduplicated and c3.message_id != c1.message_id, "content dedup: other body is new")
        check(not c4.deduplicated and c4.message_id != c1.message_id, "content dedup: other forwarded header is new")
        check(not c5.deduplicated and c5.message_id != c1.message_id, "content dedup: other destination is new")

        want = {"id": 2, "content": 4}
        for name, n in want.items():
            sink.wait_count(on_path(f"/py/dedup/{name}"), n + 1, 3)  # give a duplicate time to show up
            got = sink.matching(on_path(f"/py/dedup/{name}"))
            check_eq(len(got), n, f"dedup ({name}): deliveries to the destination")
        got = sorted(r["body"] for r in sink.matching(on_path("/py/dedup/id")))
        check_eq(got, [b"one", b"three"], "dedup id: delivered bodies")

    # ---- 7. callback after a successful delivery ----------------------------
    @step("callback after a delivery")
    def callback_success():
        dest = f"{S}/py/cb/target"
        sink.set("/py/cb/target", status=200, body=b"hello from sink", headers={"X-Reply": "r1"})
        res = client.message.publish(
            url=dest, body="cb source body", content_type="text/plain", headers={"Test-Header": "src"},
            retries=2, callback=f"{S}/py/cb/callback", failure_callback=f"{S}/py/cb/never-failure",
            callback_headers={"Cb-Extra": "x", "Upstash-Callback-Forward-Js-Extra": "js"},
        )
        mid = res.message_id
        rec = sink.wait_for(on_path("/py/cb/callback"), 10)
        check(rec is not None, "callback arrived within 10 s", required=True)
        body = check_callback(rec, "callback", status=200, retried=0, max_retries=2, source_id=mid, dest=dest,
                              method="POST", source_body=b"cb source body", response_body=b"hello from sink",
                              response_header={"X-Reply": "r1"}, source_header={"Test-Header": "src"},
                              forwarded={"Cb-Extra": "x", "Js-Extra": "js"})
        time.sleep(0.5)
        check_eq(len(sink.matching(on_path("/py/cb/callback"))), 1, "callback: exactly one after one attempt")
        check_eq(sink.matching(on_path("/py/cb/never-failure")), [], "no failure callback after success")
        cb_id = rec["headers"].get("Upstash-Message-Id")
        if cb_id:
            check_state_sequence(cb_id, ["CREATED", "ACTIVE", "DELIVERED"], "callback message (its own message)")

    # ---- 8. failed attempts: retry delay, callbacks, failure callback -------
    @step("retry delay, callbacks and failure callback")
    def failure_with_retry():
        dest = f"{S}/py/fail/target"
        sink.set("/py/fail/target", status=500, body=b"boom", headers={"X-Fail": "f1"})
        t0 = time.time()
        res = client.message.publish(
            url=dest, body="failing body", content_type="text/plain", headers={"Test-Header": "fail"},
            retries=1, retry_delay="1000", label="py-fail",
            callback=f"{S}/py/fail/callback", failure_callback=f"{S}/py/fail/failure-callback",
            failure_callback_headers={"Fcb-Extra": "y", "Upstash-Failure-Callback-Forward-Js-Fcb": "jsf"},
        )
        mid = res.message_id
        state["fail_retry_id"] = mid
        fcb = sink.wait_for(on_path("/py/fail/failure-callback"), 15)
        attempts = sink.matching(on_path("/py/fail/target"))
        check_eq(len(attempts), 2, "retries=1: two attempts")
        if len(attempts) >= 2:
            check_eq([a["headers"].get("Upstash-Retried") for a in attempts[:2]], ["0", "1"], "attempts: Upstash-Retried")
            check_eq([a["headers"].get("Upstash-Message-Id") for a in attempts[:2]], [mid, mid],
                     "attempts: same Upstash-Message-Id across retries")
            gap = attempts[1]["received_at"] - attempts[0]["received_at"]
            check_between(round(gap, 3), 0.9, 5.0, "Upstash-Retry-Delay 1000: seconds between attempts")
            for i, a in enumerate(attempts[:2]):
                verify(a, f"attempt {i}")
        cbs = sink.wait_count(on_path("/py/fail/callback"), 2, 5)
        check_eq(len(cbs), 2, "callback after every attempt (2)")
        for i, rec in enumerate(cbs[:2]):
            check_callback(rec, f"callback {i}", status=500, retried=i, max_retries=1, source_id=mid, dest=dest,
                           method="POST", source_body=b"failing body", response_body=b"boom",
                           response_header={"X-Fail": "f1"}, source_header={"Test-Header": "fail"})
        check(fcb is not None, "failure callback arrived", required=True)
        body = check_callback(fcb, "failure callback", status=500, retried=1, max_retries=1, source_id=mid,
                              dest=dest, method="POST", source_body=b"failing body", response_body=b"boom",
                              response_header={"X-Fail": "f1"}, dlq=True,
                              forwarded={"Fcb-Extra": "y", "Js-Fcb": "jsf"})
        time.sleep(0.5)
        check_eq(len(sink.matching(on_path("/py/fail/failure-callback"))), 1, "failure callback exactly once")
        state["fail_retry_dlq"] = (body or {}).get("dlqId")
        logs = check_state_sequence(
            mid, ["CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "ERROR", "FAILED"], "retried then failed message")
        errs = [l for l in logs if l.state == LogState.ERROR]
        check(errs and all(l.response_status == 500 for l in errs), "ERROR logs: responseStatus 500",
              f"{[l.response_status for l in errs]}")
        check(errs and all(b64decode_or_none(l.response_body or "") == b"boom" for l in errs),
              "ERROR logs: responseBody base64 of the response (§6.6)", f"{[l.response_body for l in errs]}")
        retry = [l for l in logs if l.state == LogState.RETRY]
        check(retry and isinstance(retry[0].next_delivery_time, int), "RETRY log: nextDeliveryTime",
              f"{[l.next_delivery_time for l in retry]}")
        if logs:
            check_eq(logs[-1].retry_delay_expression, "1000", "CREATED log: retryDelayExpr")
            check_eq(logs[-1].max_retries, 1, "CREATED log: maxRetries")
            check_eq(logs[-1].label, "py-fail", "CREATED log: label")
        if state.get("fail_retry_dlq"):
            d = client.dlq.get(state["fail_retry_dlq"])
            check_eq(d.message_id, mid, "failure callback dlqId: DLQ entry of the message")
            check_eq(d.retry_delay_expression, "1000", "DLQ entry: retryDelayExpression")

    # ---- 9. per-attempt timeout ----------------------------------------------
    @step("per-attempt timeout")
    def timeout():
        dest = f"{S}/py/timeout/slow"
        sink.set("/py/timeout/slow", sleep=3.0)
        res = client.message.publish(url=dest, body="slow", retries=0, timeout=1,
                                     failure_callback=f"{S}/py/timeout/failure-callback")
        mid = res.message_id
        rec = sink.wait_for(on_path("/py/timeout/slow"), 10)
        check(rec is not None, "timeout: the attempt reached the sink", required=True)
        logs = log_entries(mid, timeout=6)
        states = [l.state.value for l in reversed(logs)]
        check_eq(states, ["CREATED", "ACTIVE", "ERROR", "FAILED"], "timeout: log states")
        failed = [l for l in logs if l.state == LogState.FAILED]
        if failed:
            check(failed[0].time / 1000 - rec["received_at"] < 2.5,
                  "timeout: Upstash-Timeout 1s aborts the attempt before the 3 s reply",
                  f"FAILED logged {failed[0].time / 1000 - rec['received_at']:.2f} s after the attempt began")
        fcb = sink.wait_for(on_path("/py/timeout/failure-callback"), 5)
        if check(fcb is not None, "timeout: failure callback arrived"):
            verify(fcb, "timeout failure callback")
        status, text = raw_request("GET", f"{url}/v2/dlq?messageId={mid}", token)
        raw = parse_json(text) or {}
        msgs = raw.get("messages") or []
        if check_eq(len(msgs), 1, "timeout: one DLQ entry"):
            rs = msgs[0].get("responseStatus")
            check(isinstance(rs, int), "timeout DLQ entry: responseStatus present (PY-REQ, §6.2)", f"got {rs!r}")
            state["timeout_dlq"] = msgs[0].get("dlqId")

    # ---- 10. DLQ ----------------------------------------------------------------
    @step("DLQ list, get, retry, delete")
    def dlq():
        paths = [f"/py/dlq/{i}" for i in range(3)]
        for p in paths:
            sink.set(p, status=500, body=b"boom from sink", headers={"X-Sink-Error": "yes"})
        ids = []
        for i, p in enumerate(paths):
            r = client.message.publish(url=f"{S}{p}?n={i}", body=f"dlq body {i}", content_type="text/plain",
                                       headers={"D-Header": f"d{i}"}, method="PUT", retries=0, label="py-dlq")
            ids.append(r.message_id)
        for p in paths:
            sink.wait_for(on_path(p), 10)
        for i, mid in enumerate(ids):
            log_entries(mid, until=("FAILED",), timeout=10 if i == 0 else 3)

        res = client.dlq.list(filter={"label": "py-dlq"})
        got = {m.message_id: m for m in res.messages}
        check_eq(sorted(got), sorted(ids), "dlq.list filter label: the three failed messages", required=True)
        check_eq(res.cursor, None, "dlq.list: no cursor on the last page")
        m = got[ids[0]]
        check(isinstance(m.dlq_id, str) and m.dlq_id, "dlq entry: dlqId", f"got {m.dlq_id!r}")
        check_eq(m.url, f"{S}{paths[0]}?n=0", "dlq entry: url")
        check_eq(m.method, "PUT", "dlq entry: method")
        check_eq(m.body, "dlq body 0", "dlq entry: body")
        check_eq(m.headers, {"Content-Type": ["text/plain"], "D-Header": ["d0"]}, "dlq entry: header")
        check_eq(m.max_retries, 0, "dlq entry: maxRetries")
        check_eq(m.label, "py-dlq", "dlq entry: label")
        check_eq(m.response_status, 500, "dlq entry: responseStatus")
        check_eq(m.response_body, "boom from sink", "dlq entry: responseBody")
        check_eq((m.response_headers or {}).get("X-Sink-Error"), ["yes"], "dlq entry: responseHeader")
        check(isinstance(m.created_at, int) and isinstance(m.not_before, int), "dlq entry: createdAt, notBefore ms")

        g = client.dlq.get(m.dlq_id)
        for field in ("message_id", "url", "method", "body", "headers", "max_retries", "label", "response_status",
                      "response_body", "response_headers", "created_at", "not_before", "dlq_id"):
            check_eq(getattr(g, field), getattr(m, field), f"dlq.get: {field} as in dlq.list")
        expect_qstash_error(lambda: client.dlq.get("dlq_does_not_exist"), "dlq.get unknown id", status=404)

        status, text = raw_request("GET", f"{url}/v2/dlq/{m.dlq_id}", token)
        raw = parse_json(text) or {}
        check_eq(raw.get("labels"), ["py-dlq"], "raw dlq get: labels")
        check_eq(raw.get("callerIP"), "127.0.0.1", "raw dlq get: callerIP")

        for flt, want, what in (
            ({"message_id": ids[1]}, [ids[1]], "message_id"),
            ({"url": f"{S}{paths[2]}?n=2"}, [ids[2]], "url"),
            ({"response_status": 500, "label": "py-dlq"}, ids, "response_status + label"),
            ({"response_status": 404}, [], "response_status 404"),
            ({"label": "py-dlq", "from_time": now_ms() + 60000}, [], "from_time in the future"),
            ({"label": "py-dlq", "to_time": now_ms()}, ids, "to_time now"),
        ):
            got_ids = sorted(x.message_id for x in client.dlq.list(filter=flt).messages)
            check_eq(got_ids, sorted(want), f"dlq.list filter {what}")

        seen, cursor, pages, last_cursor = [], None, 0, "unset"
        while pages < 6:
            page = client.dlq.list(cursor=cursor, count=1, filter={"label": "py-dlq"})
            pages += 1
            check(len(page.messages) <= 1, f"dlq.list count=1 page {pages}: at most one entry")
            if pages == 1:
                check(page.cursor is not None, "dlq.list count=1: first page has a cursor")
            seen += [x.message_id for x in page.messages]
            cursor = page.cursor
            if cursor is None:
                break
        check(cursor is None, "dlq.list pagination ends with no cursor")
        check_eq(sorted(seen), sorted(ids), "dlq.list pagination: every entry once")

        # Retry one entry (row 29, plain HTTP) now that the sink answers 200.
        sink.set(paths[0], status=200, body=b"ok now")
        status, text = raw_request("POST", f"{url}/v2/dlq/retry/{m.dlq_id}", token)
        raw = parse_json(text) or {}
        check_eq(status, 201, "POST /v2/dlq/retry/{dlqId}: status 201")
        new_id = raw.get("messageId")
        check(isinstance(new_id, str) and new_id and new_id != ids[0], "dlq retry: a new messageId", f"got {raw!r}")
        rec = sink.wait_for(lambda r: on_path(paths[0])(r) and r["headers"].get("Upstash-Message-Id") == new_id, 10)
        if check(rec is not None, "dlq retry: the message is delivered again"):
            check_eq(rec["method"], "PUT", "dlq retry delivery: method")
            check_eq(rec["path"], f"{paths[0]}?n=0", "dlq retry delivery: path and query")
            check_eq(rec["body"], b"dlq body 0", "dlq retry delivery: body")
            check_eq(rec["headers"].get("D-Header"), "d0", "dlq retry delivery: forwarded header")
            check_delivery_basics(rec, "dlq retry delivery", new_id)
            verify(rec, "dlq retry delivery")
            check_state_sequence(new_id, ["CREATED", "ACTIVE", "DELIVERED"], "retried DLQ message")
        expect_qstash_error(lambda: client.dlq.get(m.dlq_id), "dlq.get after retry (entry removed)", status=404)
        status, _ = raw_request("POST", f"{url}/v2/dlq/retry/{m.dlq_id}", token)
        check_eq(status, 404, "retry of a removed DLQ entry: 404")

        d1 = got[ids[1]].dlq_id
        client.dlq.delete(d1)
        check(True, "dlq.delete: no error")
        expect_qstash_error(lambda: client.dlq.delete(d1), "second dlq.delete", status=404)
        expect_qstash_error(lambda: client.dlq.get(d1), "dlq.get after delete", status=404)

        rest = [got[ids[2]].dlq_id] + [x for x in (state.get("fail_retry_dlq"), state.get("timeout_dlq")) if x]
        n = client.dlq.delete_many(rest + ["dlq_does_not_exist"])
        check_eq(n, len(rest), "dlq.delete_many: deleted count (unknown ids not counted)")
        final = client.dlq.list()
        check_eq(final.messages, [], "dlq.list: empty after deleting everything")
        check_eq(final.cursor, None, "dlq.list: no cursor when empty")
        check_eq(client.dlq.delete_many([d1]), 0, "dlq.delete_many of already deleted ids: 0")

    # ---- 11. logs: filters, pagination, /v2/logs -----------------------------
    @step("logs filters and pagination")
    def logs():
        mid = state.get("delivered_id")
        check(mid is not None, "a delivered message from step 3", required=True)
        res = quiet(lambda: client.log.list(filter={"message_id": mid, "state": LogState.DELIVERED}))
        check_eq([(l.message_id, l.state) for l in res.logs], [(mid, LogState.DELIVERED)],
                 "log.list message_id + state DELIVERED: exactly one entry")
        other = state.get("fail_retry_id")
        res = quiet(lambda: client.log.list(filter={"message_ids": [mid, other]}))
        check_eq(sorted({l.message_id for l in res.logs}), sorted([mid, other]), "log.list message_ids")
        res = quiet(lambda: client.log.list(filter={"label": "py-fail", "state": LogState.FAILED}))
        check_eq([l.message_id for l in res.logs], [other], "log.list label + state FAILED")
        res = quiet(lambda: client.log.list(filter={"url": f"{S}/py/deliver/json"}))
        check(res.logs and all(l.url == f"{S}/py/deliver/json" for l in res.logs), "log.list url filter",
              f"{[l.url for l in res.logs]}")
        res = quiet(lambda: client.log.list(filter={"message_id": mid, "from_time": now_ms() + 60000}))
        check_eq(res.logs, [], "log.list from_time in the future: nothing")
        res = quiet(lambda: client.log.list(filter={"message_id": other, "state": LogState.IN_PROGRESS}))
        check_eq(sorted({l.state.value for l in res.logs}), ["ACTIVE", "ERROR", "RETRY"],
                 "log.list state IN_PROGRESS matches ACTIVE, RETRY and ERROR (§4.9)")

        everything = quiet(lambda: client.log.list(count=100)).logs
        bad = [(a, b) for a, b in zip(everything, everything[1:]) if b.time > a.time]
        check(len(everything) > 20 and not bad, "log.list: entries newest first (§4.9)",
              f"{len(everything)} entries, {len(bad)} out of order, first: "
              + (f"{bad[0][0].time} {bad[0][0].state.value} {bad[0][0].message_id} listed before "
                 f"{bad[0][1].time} {bad[0][1].state.value} {bad[0][1].message_id}" if bad else "-"))
        seen, cursor, pages = [], None, 0
        while pages < 10:
            page = quiet(lambda: client.log.list(cursor=cursor, count=2, filter={"message_id": other}))
            pages += 1
            check(len(page.logs) <= 2, f"log.list count=2 page {pages}: at most 2 entries")
            seen += [(l.time, l.state.value) for l in page.logs]
            cursor = page.cursor
            if cursor is None:
                break
        full = quiet(lambda: client.log.list(filter={"message_id": other}))
        check_eq(seen, [(l.time, l.state.value) for l in full.logs], "log.list cursor pages == the full list")
        check(pages >= 4, "log.list count=2 over 7 entries: several pages", f"{pages} pages")

        status, text = raw_request("GET", f"{url}/v2/logs?messageId={mid}", token)
        raw = parse_json(text) or {}
        check_eq(status, 200, "GET /v2/logs: status")
        entries = raw.get("logs")
        check(isinstance(entries, list) and [e.get("state") for e in entries] == ["DELIVERED", "ACTIVE", "CREATED"],
              "GET /v2/logs: logs array (openapi shape)", f"got {text[:300]!r}")
        check_eq(raw.get("events"), entries, "GET /v2/logs: events key too")
        check("cursor" not in raw, "GET /v2/logs: no cursor on the last page", f"cursor {raw.get('cursor')!r}")
        status, text = raw_request("GET", f"{url}/v2/events?messageId={other}", token)
        raw = parse_json(text) or {}
        events = raw.get("events") or []
        check_eq(raw.get("logs"), events, "GET /v2/events: logs key mirrors events")
        created = [e for e in events if e.get("state") == "CREATED"]
        if check_eq(len(created), 1, "GET /v2/events: one CREATED entry"):
            check_eq(created[0].get("retryDelayExpr"), "1000", "log entry: retryDelayExpr")
            check_eq(created[0].get("retryDelayExpression"), "1000", "log entry: retryDelayExpression (both, §6.6)")
        errors = [e for e in events if e.get("state") == "ERROR"]
        if check(len(errors) == 2, "GET /v2/events: two ERROR entries", f"{len(errors)}"):
            check_eq((errors[0].get("responseHeader") or {}).get("X-Fail"), ["f1"], "ERROR entry: responseHeader")
            check_eq((errors[0].get("responseHeaders") or {}).get("X-Fail"), ["f1"], "ERROR entry: responseHeaders (both)")
        nulls = sorted({k for e in events for k, v in e.items() if v is None})
        check_eq(nulls, [], "log entries: no null fields (§6)")

    # ---- 12. timed deliveries, cancelled messages never delivered -----------
    @step("delayed deliveries and cancelled messages")
    def timed_results():
        check(set(timed) == {"delay", "not_before", "both"}, "step 2 published the timed messages", required=True)
        mid, t0, t1 = timed["delay"]
        rec = sink.wait_for(on_path("/py/timed/delay"), max(0, t1 + 3 + 6 - time.time()))
        if check(rec is not None, "delay 3s: delivered"):
            check_between(round(rec["received_at"] - t0, 3), 3.0 - 0.05, (t1 - t0) + 3 + 5, "delay 3s: seconds after publish")
            check_delivery_basics(rec, "delayed delivery", mid)
            verify(rec, "delayed delivery")
        for key, path in (("not_before", "/py/timed/not-before"), ("both", "/py/timed/both")):
            mid, nb = timed[key]
            rec = sink.wait_for(on_path(path), max(0, nb + 6 - time.time()))
            if check(rec is not None, f"{key}: delivered"):
                check_between(round(rec["received_at"], 3), nb - 0.05, nb + 5, f"{key}: delivery time vs not-before {nb}")
                check_eq(rec["headers"].get("Upstash-Message-Id"), mid, f"{key}: message id")
                verify(rec, f"{key} delivery")
        check_state_sequence(timed["delay"][0], ["CREATED", "ACTIVE", "DELIVERED"], "delayed message")

        wait = cancelled["due"] + 2 - time.time()
        if wait > 0:
            time.sleep(wait)
        check_eq([r["path"] for r in sink.matching(lambda r: r["path"].startswith("/py/cancel/"))], [],
                 "cancelled messages were never delivered (nor their callbacks)")
        one = state.get("cancelled_one")
        if one:
            check_state_sequence(one, ["CREATED", "CANCEL_REQUESTED", "CANCELED"], "cancelled message",
                                 until=("CANCELED",))
        for mid in cancelled["ids"]:
            res = quiet(lambda: client.log.list(filter={"message_id": mid}))
            states = [l.state.value for l in res.logs]
            check("DELIVERED" not in states and "ACTIVE" not in states and "CANCELED" in states,
                  f"cancelled {mid}: logs end CANCELED, never ACTIVE", f"states {states}")

    # ---- 13. signing keys -----------------------------------------------------
    @step("signing keys and rotation")
    def signing_keys():
        k = client.signing_key.get()
        check_eq((k.current, k.next), (keys["current"], keys["next"]), "signing_key.get: the keys printed at startup")
        old = dict(keys)
        r = client.signing_key.rotate()
        check_eq(r.current, old["next"], "rotate: the old next key becomes current")
        check(isinstance(r.next, str) and r.next.startswith("sig_") and r.next not in (old["current"], old["next"]),
              "rotate: a fresh next key", f"got {r.next!r}")
        check(len(r.next) == 32, "rotate: next key is sig_ + 28 characters (§4.10)", f"got {r.next!r}")
        k = client.signing_key.get()
        check_eq((k.current, k.next), (r.current, r.next), "signing_key.get after rotate")
        keys.update(current=r.current, next=r.next)

        dest = f"{S}/py/rotated?k=1"
        res = client.message.publish_json(url=dest, body={"after": "rotate"})
        rec = sink.wait_for(on_path("/py/rotated"), 10)
        check(rec is not None, "delivery after rotation", required=True)
        verify(rec, "delivery after rotation (new keys)")
        sig = rec["headers"].get("Upstash-Signature", "")
        text = rec["body"].decode()
        try:
            verify_with_key(r.current, signature=sig, body=text, url=dest)
            check(True, "delivery after rotation: signed with the new current key")
        except SignatureError as e:
            check(False, "delivery after rotation: signed with the new current key", str(e))
        try:
            Receiver(current_signing_key=old["current"], next_signing_key=old["next"]).verify(
                signature=sig, body=text, url=dest)
            check(True, "Receiver with the pre-rotation keys still verifies (via its next key)")
        except SignatureError as e:
            check(False, "Receiver with the pre-rotation keys still verifies (via its next key)", str(e))
        try:
            verify_with_key(old["current"], signature=sig, body=text, url=dest)
            check(False, "the retired current key no longer verifies", "verification passed")
        except SignatureError:
            check(True, "the retired current key no longer verifies")
        check_eq(rec["headers"].get("Upstash-Message-Id"), res.message_id, "delivery after rotation: message id")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
