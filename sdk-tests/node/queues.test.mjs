#!/usr/bin/env node
// Runs the official JS SDK (npm @upstash/qstash 2.12.0) against a cronhook
// server: every queue method it has.
//
// Standalone program: exit 0 means every check passed; anything else is a
// failure, with each failed check printed as `FAIL - ...`.
//
// Environment (printed by `cronhook serve`):
//   QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY
//
// SDK methods called: queue({queueName}).upsert, .get, .list, .delete,
// .pause, .resume, .enqueue, .enqueueJSON (and messages.get to see that a
// cancelled message is gone).
//
// Wire contract: docs/qstash-wire.md §4.2 (enqueue), §4.6 (queue endpoints),
// §6.4 (the Queue object), §9.5 (FIFO, parallelism, pause).

import { Client } from "@upstash/qstash";
import { Sink, check, checkEq, env, expectQstashError, onPath, run, sleep, step, summary } from "./harness.mjs";

const QUEUE = "sdk-js-queues";
const WIDE = "sdk-js-wide";
const DOOMED = "sdk-js-doomed";

// The most requests the sink was answering at once. An arrival within
// 100 ms of an answer does not count as overlapping it (the real overlaps
// here last 500 ms).
function maxOverlap(recs) {
  let most = 0;
  for (const r of recs) {
    const at = r.receivedAt;
    const n = recs.filter((o) => o.receivedAt <= at && at < (o.respondedAt ?? at + 1000) - 100).length;
    most = Math.max(most, n);
  }
  return most;
}

async function main() {
  const baseUrl = env("QSTASH_URL");
  const token = env("QSTASH_TOKEN");
  const sink = new Sink();
  await sink.start();
  const S = sink.base;
  console.log(`server ${baseUrl}, sink ${S}`);
  const client = new Client({ baseUrl, token, devMode: false, retry: false });
  const started = Date.now();
  const queue = client.queue({ queueName: QUEUE });

  async function waitLag(q, want, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await q.get();
      if (info.lag === want || Date.now() > deadline) return info;
      await sleep(50);
    }
  }

  await step("upsert with the SDK's defaults, get, list", async () => {
    await queue.upsert({});
    const q = await queue.get();
    checkEq(q.name, QUEUE, "get: name");
    checkEq([q.parallelism, q.paused, q.lag], [1, false, 0], "get: defaults parallelism 1, not paused, lag 0");
    check(q.createdAt >= started - 1000 && q.createdAt <= Date.now() + 1000, "get: createdAt is now (ms)", `got ${q.createdAt}`);
    check(q.updatedAt >= q.createdAt, "get: updatedAt >= createdAt", `got ${q.updatedAt}`);
    const names = (await queue.list()).map((x) => x.name);
    check(names.includes(QUEUE), "list: has the queue", `got ${names}`);
  });

  await step("upsert replaces parallelism and pause, keeps createdAt", async () => {
    const before = await queue.get();
    await queue.upsert({ parallelism: 2, paused: true });
    const q = await queue.get();
    checkEq([q.parallelism, q.paused], [2, true], "get after upsert: parallelism 2, paused");
    checkEq(q.createdAt, before.createdAt, "upsert keeps createdAt");
    await queue.upsert({ parallelism: 1, paused: true });
  });

  await step("enqueue and enqueueJSON into a paused queue: stored, not delivered; resume delivers in order", async () => {
    const r0 = await queue.enqueue({ url: `${S}/js/q/0`, body: "zero" });
    const r1 = await queue.enqueueJSON({ url: `${S}/js/q/1`, body: { one: 1 } });
    const r2 = await queue.enqueue({ url: `${S}/js/q/2`, body: "two" });
    const ids = [r0.messageId, r1.messageId, r2.messageId];
    checkEq(new Set(ids).size, 3, "enqueue: three distinct message ids");
    const early = await sink.waitFor((r) => r.path.startsWith("/js/q/"), 500);
    check(early === undefined, "paused: nothing delivered", `got ${early?.path}`);
    checkEq((await queue.get()).lag, 3, "paused: lag counts the three");
    await queue.resume();
    const recs = await sink.waitCount((r) => r.path.startsWith("/js/q/"), 3, 15000);
    checkEq(recs.map((r) => r.path), ["/js/q/0", "/js/q/1", "/js/q/2"], "resumed: FIFO order");
    checkEq(recs.map((r) => r.headers["upstash-message-id"]), ids, "resumed: message ids in order");
    checkEq(recs[1]?.body.toString(), '{"one":1}', "enqueueJSON delivery: body");
    checkEq((await waitLag(queue, 0)).lag, 0, "lag 0 once all are delivered");
  });

  await step("pause and resume are idempotent", async () => {
    await queue.pause();
    await queue.pause();
    checkEq((await queue.get()).paused, true, "paused twice: paused");
    await queue.resume();
    await queue.resume();
    checkEq((await queue.get()).paused, false, "resumed twice: not paused");
  });

  await step("parallelism 2: two deliveries at once, never three", async () => {
    const wide = client.queue({ queueName: WIDE });
    await wide.upsert({ parallelism: 2, paused: true });
    sink.set("/js/wide", { delayMs: 500 });
    for (let i = 0; i < 6; i++) await wide.enqueue({ url: `${S}/js/wide`, body: String(i) });
    await wide.resume();
    checkEq((await waitLag(wide, 0)).lag, 0, "all six finished");
    const recs = sink.matching(onPath("/js/wide"));
    checkEq(recs.length, 6, "six deliveries");
    checkEq(maxOverlap(recs), 2, "most deliveries at once");
    await wide.delete();
  });

  await step("delete cancels what the queue holds; unknown queues are 404", async () => {
    const doomed = client.queue({ queueName: DOOMED });
    await doomed.upsert({ paused: true });
    const r = await doomed.enqueue({ url: `${S}/js/doomed`, body: "never" });
    await doomed.delete();
    await expectQstashError(() => doomed.get(), "get a deleted queue", 404);
    await expectQstashError(() => client.messages.get(r.messageId), "get its cancelled message", 404);
    const names = (await queue.list()).map((x) => x.name);
    check(!names.includes(DOOMED), "list: the deleted queue is gone", `got ${names}`);
    const none = client.queue({ queueName: "sdk-js-none" });
    await expectQstashError(() => none.delete(), "delete an unknown queue", 404);
    await expectQstashError(() => none.pause(), "pause an unknown queue", 404);
    await expectQstashError(() => none.resume(), "resume an unknown queue", 404);
    const late = await sink.waitFor(onPath("/js/doomed"), 300);
    check(late === undefined, "the cancelled message is never delivered");
  });

  await step("bad settings are refused with 400 naming the field", async () => {
    const e = await expectQstashError(() => queue.upsert({ parallelism: 0 }), "parallelism 0", 400);
    check(String(e?.message).includes("parallelism"), "the error names parallelism", e?.message);
    const bad = await expectQstashError(
      () => client.queue({ queueName: "bad name" }).upsert({}),
      "a name with a space",
      400,
    );
    check(String(bad?.message).includes("queueName"), "the error names queueName", bad?.message);
  });

  await queue.delete();
  sink.close();
  return summary();
}

run(main);
