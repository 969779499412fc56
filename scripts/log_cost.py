#!/usr/bin/env python3
"""Rows and bytes the log costs per delivered message (issue 13, item 1).

    python3 scripts/log_cost.py path/to/cronhook [messages]

Starts the given cronhook on a throwaway database, publishes `messages`
(default 2000) messages through /v2/batch to a sink on 127.0.0.1 (each with
a content type, one forwarded header and a 100-byte body), waits until each
is logged DELIVERED, stops the server and counts, with SQLite's dbstat, the
log's rows and the bytes of its tables and indexes (`events` up to schema
9; `log` and `log_messages` from 10). Prints one JSON line.
"""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    work = tempfile.mkdtemp()
    db = os.path.join(work, "cost.db")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen(
        [binary, "serve", "--db", db, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {TOKEN}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    for _ in range(200):
        try:
            call("GET", "/v2/schedules")
            break
        except OSError:
            time.sleep(0.05)
    body = "x" * 100
    headers = {"Content-Type": "text/plain", "Upstash-Forward-X-Tenant": "acme"}
    for start in range(0, n, 500):
        items = [{"destination": url, "headers": headers, "body": body}] * min(500, n - start)
        call("POST", "/v2/batch", json.dumps(items).encode())
    deadline = time.time() + 120
    while time.time() < deadline:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        (pending,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        conn.close()
        if pending == 0:
            break
        time.sleep(0.2)
    # CPU of the store's writer thread (its name starts with cronhook-store).
    tick = os.sysconf("SC_CLK_TCK")
    writer_s = 0.0
    for tid in os.listdir(f"/proc/{server.pid}/task"):
        try:
            with open(f"/proc/{server.pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            if name.startswith("cronhook-store"):
                with open(f"/proc/{server.pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                writer_s += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    sink.shutdown()
    conn = sqlite3.connect(db)
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    tables = ["events"] if version < 10 else ["log", "log_messages"]
    rows = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)
    names = tables + [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN (%s)"
            % ",".join("?" * len(tables)),
            tables,
        )
    ]
    try:
        size = {
            name: conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (name,)).fetchone()[0]
            for name in names
        }
        payload = {
            name: conn.execute("SELECT sum(payload) FROM dbstat WHERE name = ?", (name,)).fetchone()[0]
            for name in names
        }
    except sqlite3.OperationalError:
        size, payload = {}, {}
    conn.close()
    print(
        json.dumps(
            {
                "schema": version,
                "messages": n,
                "log_rows": rows,
                "rows_per_message": rows / n,
                "writer_cpu_us_per_message": round(writer_s * 1e6 / n, 1),
                "bytes_per_message": sum(size.values()) / n if size else None,
                "payload_bytes_per_message": sum(payload.values()) / n if payload else None,
                "pages_by_btree": size,
            }
        )
    )


if __name__ == "__main__":
    main()
