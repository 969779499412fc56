"""Shared harness of the Python SDK programs (test_schedules.py,
test_messages.py): check bookkeeping, steps, the recording HTTP sink and
plain-HTTP helpers. Not a test itself.
"""

import base64
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from qstash.errors import QStashError

# --------------------------------------------------------------------------
# Check bookkeeping: failed checks are recorded and the program goes on, so a
# single run reports every problem; the exit status is 1 if any check failed.
# --------------------------------------------------------------------------

PASSED = 0
FAILED = []


class StepAborted(Exception):
    """A required check failed: the rest of the current step is skipped."""


def check(cond, what, detail=None, required=False):
    global PASSED
    if cond:
        PASSED += 1
        print(f"ok   - {what}", flush=True)
        return True
    msg = what if detail is None else f"{what}: {detail}"
    FAILED.append(msg)
    print(f"FAIL - {msg}", flush=True)
    if required:
        raise StepAborted(msg)
    return False


def check_eq(actual, expected, what, required=False):
    return check(
        actual == expected,
        f"{what} == {expected!r}",
        f"got {actual!r}",
        required=required,
    )


def check_between(value, lo, hi, what, required=False):
    return check(
        isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi,
        f"{what} in [{lo}, {hi}]",
        f"got {value!r}",
        required=required,
    )


def step(name, fn=None):
    """Runs fn as the step `name`: a failed required check skips the rest of
    it, an unexpected exception is a failed check. As a decorator,
    `@step(name)` runs the function right where it is defined (in program
    order, like the JS programs' `await step(name, async () => ...)`)."""
    if fn is None:

        def run_here(f):
            step(name, f)
            return f

        return run_here
    print(f"\n== {name}", flush=True)
    try:
        fn()
    except StepAborted:
        print(f"   (rest of step '{name}' skipped)", flush=True)
    except Exception as e:  # an unexpected SDK error is a failed check too
        msg = f"{name}: unexpected {type(e).__name__}: {e}"
        FAILED.append(msg)
        print(f"FAIL - {msg}", flush=True)
        traceback.print_exc()


def summary():
    """Prints the totals and the failed checks; returns the exit status."""
    print(f"\n{PASSED} passed, {len(FAILED)} failed", flush=True)
    if FAILED:
        print("\nFailed checks:", flush=True)
        for f in FAILED:
            print(f"  - {f}", flush=True)
        return 1
    return 0


def env(name):
    value = os.environ.get(name)
    if not value:
        print(f"FAIL - environment variable {name} is not set", flush=True)
        sys.exit(2)
    return value


def now_ms():
    return int(time.time() * 1000)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64decode_or_none(text):
    try:
        return base64.b64decode(text, validate=True)
    except Exception:
        return None


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------
# HTTP sink: records method, path, headers and raw body bytes of each request,
# and answers each path as configured (status, body, headers, delay); by
# default 200 "ok".
# --------------------------------------------------------------------------


class Sink:
    def __init__(self):
        self.requests = []
        self.cond = threading.Condition()
        # path (without query) -> {"status", "body", "headers", "sleep"}
        self.behaviour = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self):
                length = self.headers.get("Content-Length")
                if length is not None:
                    return self.rfile.read(int(length))
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            # trailers until the empty line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return b""

            def _handle(self):
                body = self._read_body()
                path_only = self.path.split("?", 1)[0]
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": self.headers,  # case-insensitive lookups
                    "header_names": list(self.headers.keys()),  # as sent
                    "body": body,
                    "received_at": time.time(),
                    "responded_at": None,
                }
                with sink.cond:
                    sink.requests.append(record)
                    beh = dict(sink.behaviour.get(path_only, {}))
                    sink.cond.notify_all()
                if beh.get("sleep"):
                    time.sleep(beh["sleep"])
                status = beh.get("status", 200)
                reply = beh.get("body", b"ok")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    for k, v in beh.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(reply)
                    self.wfile.flush()
                except OSError:
                    pass  # the caller gave up (timeout test)
                with sink.cond:
                    record["responded_at"] = time.time()
                    sink.cond.notify_all()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, fmt, *args):
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except OSError:
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, path, **beh):
        with self.cond:
            self.behaviour[path] = beh

    def wait_for(self, predicate, timeout):
        hits = self.wait_count(predicate, 1, timeout)
        return hits[0] if hits else None

    def wait_count(self, predicate, n, timeout):
        """Waits until at least n recorded requests match; returns them all
        (possibly fewer than n on timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [r for r in self.requests if predicate(r)]
                left = deadline - time.monotonic()
                if len(hits) >= n or left <= 0:
                    return hits
                self.cond.wait(left)

    def matching(self, predicate):
        with self.cond:
            return [r for r in self.requests if predicate(r)]


def on_path(path):
    return lambda r: r["path"].split("?", 1)[0] == path


# --------------------------------------------------------------------------
# Plain HTTP and SDK errors
# --------------------------------------------------------------------------


def raw_request(method, url, token, headers=None, body=None):
    """Plain HTTP to the server (for what the SDK cannot send or hides).
    Returns (status, body_text)."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def status_of(message):
    """The HTTP status in a QStashError message (or None)."""
    m = re.search(r"status: (\d+)", message or "")
    return int(m.group(1)) if m else None


def error_body_of(message):
    """The parsed JSON body in a QStashError message (or None)."""
    m = re.search(r"body: (.*)$", message or "", re.S)
    return parse_json(m.group(1)) if m else None


def expect_qstash_error(fn, what, status=None):
    """Runs fn, which must raise QStashError; with a status, also checks the
    HTTP status and the {"error": "..."} body. Returns the message (or None)."""
    try:
        fn()
    except QStashError as e:
        check(True, f"{what} raises QStashError ({e})")
        msg = str(e)
        if status is not None:
            check_eq(status_of(msg), status, f"{what}: status")
            body = error_body_of(msg)
            check(
                isinstance(body, dict) and isinstance(body.get("error"), str),
                f'{what}: body is {{"error": "..."}}',
                f"got {msg!r}",
            )
        return msg
    except Exception as e:
        check(False, f"{what} raises QStashError", f"raised {type(e).__name__}: {e}")
        return None
    check(False, f"{what} raises QStashError", "no error raised")
    return None
