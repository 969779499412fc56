#!/usr/bin/env python3
"""Runs the official Python SDK (PyPI `qstash` 3.4.0) against a cronhook
server: URL groups.

Standalone program: exit 0 means every check passed; anything else is a
failure, with each failed check printed as `FAIL - ...`.

Environment (printed by `cronhook serve`):
  QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY

SDK methods called (every URL-group method qstash 3.4.0 has, rows 19-23 of
docs/qstash-wire.md §4, and publishing to a group):
  url_group.upsert_endpoints, remove_endpoints, get, list, delete;
  message.publish_json(url_group=), enqueue_json(url_group=),
  batch_json([{url_group}]), message.get; dlq.list and log.list filtered
  by url_group.

Wire contract: docs/qstash-wire.md §4.7 (endpoints), §4.1 and §4.3 (the
array answers), §6.1, §6.2, §6.5, §6.6 (topicName, endpointName), §7.2
(Upstash-Topic-Name).
"""

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
    on_path,
    step,
    summary,
)

GROUP = "sdk-py-group"


def main():
    url = env("QSTASH_URL")
    token = env("QSTASH_TOKEN")
    sink = Sink()
    print(f"server {url}, sink {sink.base}", flush=True)
    client = QStash(token, base_url=url, retry=False)
    S = sink.base
    sink.set("/py/ug/bad", status=500)

    @step("upsert_endpoints, get and list")
    def _():
        client.url_group.upsert_endpoints(
            url_group=GROUP,
            endpoints=[
                {"name": "first", "url": f"{S}/py/ug/first"},
                {"url": f"{S}/py/ug/second"},
            ],
        )
        g = client.url_group.get(GROUP)
        check_eq(g.name, GROUP, "get: name")
        check(isinstance(g.created_at, int) and g.created_at > 0, "get: created_at", g.created_at)
        check(g.updated_at >= g.created_at, "get: updated_at", g.updated_at)
        check_eq(
            [(e.name, e.url) for e in g.endpoints],
            [("first", f"{S}/py/ug/first"), (None, f"{S}/py/ug/second")],
            "get: endpoints in order",
        )
        # Upserting "first" again moves it to a new URL, in its place.
        client.url_group.upsert_endpoints(
            url_group=GROUP,
            endpoints=[{"name": "first", "url": f"{S}/py/ug/first2"}],
        )
        g = client.url_group.get(GROUP)
        check_eq(g.endpoints[0].url, f"{S}/py/ug/first2", "upsert by name updates the URL")
        check_eq(len(g.endpoints), 2, "upsert by name adds no endpoint")
        groups = client.url_group.list()
        check_eq([x.name for x in groups], [GROUP], "list")

    @step("remove_endpoints by name and by url")
    def _():
        client.url_group.upsert_endpoints(
            url_group=GROUP,
            endpoints=[{"name": "third", "url": f"{S}/py/ug/third"}, {"url": f"{S}/py/ug/fourth"}],
        )
        client.url_group.remove_endpoints(url_group=GROUP, endpoints=[{"name": "third"}])
        client.url_group.remove_endpoints(url_group=GROUP, endpoints=[{"url": f"{S}/py/ug/fourth"}])
        g = client.url_group.get(GROUP)
        check_eq(
            [e.url for e in g.endpoints],
            [f"{S}/py/ug/first2", f"{S}/py/ug/second"],
            "what is left after removing",
        )

    @step("publish_json to the group: one message per endpoint")
    def _():
        client.url_group.upsert_endpoints(
            url_group=GROUP, endpoints=[{"name": "bad", "url": f"{S}/py/ug/bad"}]
        )
        res = client.message.publish_json(url_group=GROUP, body={"hi": 1}, retries=0)
        check(isinstance(res, list), "publish to a group answers a list", res, required=True)
        check_eq(
            [r.url for r in res],
            [f"{S}/py/ug/first2", f"{S}/py/ug/second", f"{S}/py/ug/bad"],
            "one answer per endpoint",
        )
        check_eq(len({r.message_id for r in res}), 3, "each with its own message id")
        for r, path in zip(res[:2], ["/py/ug/first2", "/py/ug/second"]):
            rec = sink.wait_for(on_path(path), 10)
            check(rec is not None, f"{path} delivered", required=True)
            check_eq(rec["headers"].get("Upstash-Topic-Name"), GROUP, f"{path}: Upstash-Topic-Name")
            check_eq(rec["headers"].get("Upstash-Message-Id"), r.message_id, f"{path}: message id")
        bad_id = res[2].message_id
        entry = None
        for _ in range(100):
            listed = client.dlq.list(filter={"url_group": GROUP})
            entry = next((m for m in listed.messages if m.message_id == bad_id), None)
            if entry:
                break
            time.sleep(0.1)
        check(entry is not None, "the failing endpoint's message is in the DLQ", required=True)
        check_eq(len(listed.messages), 1, "only it")
        check_eq(entry.url_group, GROUP, "DLQ entry: url_group")
        check_eq(entry.endpoint, "bad", "DLQ entry: endpoint")
        logs = client.log.list(filter={"message_id": res[0].message_id}).logs
        check(len(logs) > 0, "logs of an endpoint's message", required=True)
        check(all(l.url_group == GROUP for l in logs), "logs: url_group", [l.url_group for l in logs])
        check(all(l.endpoint == "first" for l in logs), "logs: endpoint", [l.endpoint for l in logs])
        client.url_group.remove_endpoints(url_group=GROUP, endpoints=[{"name": "bad"}])

    @step("message.get of a delayed group message")
    def _():
        res = client.message.publish_json(url_group=GROUP, body={"later": True}, delay="1h")
        m = client.message.get(res[0].message_id)
        check_eq(m.url_group, GROUP, "message: url_group")
        check_eq(m.endpoint, "first", "message: endpoint")
        check_eq(m.url, f"{S}/py/ug/first2", "message: url is the endpoint's")
        for r in res:
            client.message.cancel(r.message_id)

    @step("enqueue_json and batch_json to the group")
    def _():
        res = client.message.enqueue_json(queue="sdk-py-ug-queue", url_group=GROUP, body={"q": 1})
        check(isinstance(res, list) and len(res) == 2, "enqueue to a group answers a list", res)
        out = client.message.batch_json(
            [
                {"url": f"{S}/py/ug/single", "body": {"b": 0}},
                {"url_group": GROUP, "body": {"b": 1}},
            ]
        )
        check(not isinstance(out[0], list), "batch: a URL item answers one object", out)
        check(isinstance(out[1], list) and len(out[1]) == 2, "batch: a group item answers a list", out)
        check(sink.wait_for(on_path("/py/ug/single"), 10) is not None, "batch URL item delivered")

    @step("unknown groups and delete")
    def _():
        expect_qstash_error(
            lambda: client.message.publish_json(url_group="sdk-py-nobody", body={}),
            "publish to an unknown group",
            status=404,
        )
        client.url_group.delete(GROUP)
        expect_qstash_error(lambda: client.url_group.get(GROUP), "get after delete", status=404)
        check_eq(client.url_group.list(), [], "list after delete")
        expect_qstash_error(lambda: client.url_group.delete(GROUP), "delete twice", status=404)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
