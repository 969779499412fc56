#!/usr/bin/env node
// The JS SDK's dev mode (npm @upstash/qstash 2.12.0) finds cronhook and uses
// it: with QSTASH_DEV=true and QSTASH_DEV_PORT=<cronhook's port>, and neither
// QSTASH_URL nor QSTASH_TOKEN set, `new Client()` probes
// `GET http://127.0.0.1:<port>/v2/keys` with the dev user's token, accepts
// cronhook (it answers dev user 1's exact keys) and sends everything there;
// `new Receiver()` verifies with user 1's keys. Nothing is downloaded or
// spawned: ./no-download.mjs makes any such attempt throw, and
// `dev_mode.test.mjs dead-port` (QSTASH_DEV_PORT where nothing listens) shows
// that the guard really stops the SDK when no server answers the probe.
//
// Run by tests/sdk.rs (node_sdk_dev_mode). Environment:
//   QSTASH_DEV=true, QSTASH_DEV_PORT  cronhook's port on 127.0.0.1
//   HOME                              a scratch directory (the SDK's binary cache)
//
// Wire contract: docs/qstash-wire.md §11.3 (dev mode), §4.1 (publish), §4.5
// (schedules), §8 (signature).

import { blocked } from "./no-download.mjs";
import { Client, Receiver } from "@upstash/qstash";
import { Sink, check, checkEq, env, onPath, run, show, step, summary } from "./harness.mjs";

const DEV_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0=";

// The SDK's own "[QStash Dev] ..." lines, to see what it decided.
const devLines = [];
for (const level of ["log", "warn", "error"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    const text = args.map((a) => (typeof a === "string" ? a : show(a))).join(" ");
    if (text.includes("[QStash Dev]")) devLines.push(text);
    original(...args);
  };
}

async function verified(rec, what) {
  try {
    const ok = await new Receiver().verify({
      signature: rec.headers["upstash-signature"],
      body: rec.body.toString("utf8"),
    });
    checkEq(ok, true, `${what}: new Receiver() (dev keys) verifies the signature`);
  } catch (e) {
    check(false, `${what}: new Receiver() (dev keys) verifies the signature`, `${e?.name}: ${e?.message}`);
  }
}

async function main() {
  const port = env("QSTASH_DEV_PORT");
  const base = `http://127.0.0.1:${port}`;
  checkEq(process.env.QSTASH_DEV, "true", "QSTASH_DEV", true);
  checkEq(process.env.QSTASH_URL, undefined, "QSTASH_URL is not set");
  checkEq(process.env.QSTASH_TOKEN, undefined, "QSTASH_TOKEN is not set");

  const sink = new Sink();
  await sink.start();
  const client = new Client();

  await step("publish in dev mode", async () => {
    const res = await client.publishJSON({ url: `${sink.base}/dev/publish`, body: { hello: "dev mode" } });
    check(typeof res?.messageId === "string", "publishJSON answers a messageId", show(res));
    const rec = await sink.waitFor(onPath("/dev/publish"), 10_000);
    if (!check(rec !== undefined, "the message reached the sink")) return;
    checkEq(JSON.parse(rec.body.toString("utf8")), { hello: "dev mode" }, "delivered body");
    checkEq(rec.headers["upstash-message-id"], res.messageId, "Upstash-Message-Id");
    await verified(rec, "publish");
    check(
      devLines.some((l) => l.includes(`Server already running at ${base}`)),
      "the SDK found cronhook at the dev port",
      show(devLines),
    );
  });

  await step("schedule in dev mode", async () => {
    const scheduleId = "dev-mode-schedule";
    const created = await client.schedules.create({
      destination: `${sink.base}/dev/schedule`,
      cron: "0 9 * * *",
      scheduleId,
      body: "from a schedule",
    });
    checkEq(created?.scheduleId, scheduleId, "schedules.create answers the id");
    const got = await client.schedules.get(scheduleId);
    checkEq(got?.cron, "0 9 * * *", "schedules.get: cron");
    checkEq(got?.destination, `${sink.base}/dev/schedule`, "schedules.get: destination");
    // Fire it now instead of waiting for 09:00 (cronhook's console endpoint,
    // docs/console-api.md), with the token dev mode uses.
    const fired = await fetch(`${base}/cronhook/v1/schedules/${scheduleId}/trigger`, {
      method: "POST",
      headers: { Authorization: `Bearer ${DEV_TOKEN}` },
    });
    checkEq(fired.status, 201, "the schedule runs now");
    const rec = await sink.waitFor(onPath("/dev/schedule"), 10_000);
    if (!check(rec !== undefined, "the schedule's message reached the sink")) return;
    checkEq(rec.body.toString("utf8"), "from a schedule", "delivered body");
    checkEq(rec.headers["upstash-schedule-id"], scheduleId, "Upstash-Schedule-Id");
    await verified(rec, "schedule");
    await client.schedules.delete(scheduleId);
  });

  await step("nothing was downloaded or spawned", async () => {
    checkEq(blocked, [], "download or spawn attempts");
  });

  sink.close();
  return summary();
}

// With nothing on the dev port the SDK goes for the binary; the guard
// refuses and the call fails at once instead. (A second process: the SDK
// remembers a successful probe for the life of the process.)
async function deadPortMain() {
  const started = Date.now();
  let error;
  try {
    await new Client({ retry: false }).publishJSON({ url: "http://127.0.0.1:9/never", body: {} });
  } catch (e) {
    error = e;
  }
  check(error !== undefined, "publish with no server on the dev port throws", show(error?.message));
  check(blocked.length > 0 && blocked.every((b) => b.startsWith("https.")), "the guard refused the release lookup", show(blocked));
  check(Date.now() - started < 10_000, "within 10 s", `${Date.now() - started} ms`);
  return summary();
}

run(process.argv[2] === "dead-port" ? deadPortMain : main);
