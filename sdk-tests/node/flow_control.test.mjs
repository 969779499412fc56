#!/usr/bin/env node
// Runs the official JS SDK (npm @upstash/qstash 2.12.0) against a cronhook
// server: flow control, enforced.
//
// Standalone program: exit 0 means every check passed; anything else is a
// failure, with each failed check printed as `FAIL - ...`.
//
// Environment (printed by `cronhook serve`): QSTASH_URL, QSTASH_TOKEN.
//
// SDK methods called (docs/qstash-wire.md §4 rows 34-38, every flow-control
// method @upstash/qstash 2.12.0 has): flowControl.get, getGlobalParallelism,
// pause, resume, pin, unpin, resetRate; publishJSON with flowControl and
// messages.get (its flowControlKey and limits).
//
// Wire contract: docs/qstash-wire.md §4.11, §5.1 (Upstash-Flow-Control-*),
// §6.7 (FlowControlInfo), §9.5.

import { Client } from "@upstash/qstash";
import { Sink, check, checkBetween, checkEq, env, expectQstashError, onPath, run, sleep, step, summary } from "./harness.mjs";

const KEY = "sdk-js-flow";
const HOLD_MS = 300; // how long the sink holds each delivery

async function main() {
  const baseUrl = env("QSTASH_URL");
  const token = env("QSTASH_TOKEN");
  const sink = new Sink();
  await sink.start();
  sink.set("/fc", { delayMs: HOLD_MS });
  const client = new Client({ baseUrl, token, devMode: false, retry: false });
  const fc = client.flowControl;
  const url = `${sink.base}/fc`;
  const limits = { key: KEY, parallelism: 1, rate: 10, period: "1m" };
  const publish = async () => (await client.publishJSON({ url, body: { n: 1 }, flowControl: limits })).messageId;
  const nowS = () => Date.now() / 1000;

  await step("publishJSON with flowControl, then flowControl.get", async () => {
    await publish();
    check((await sink.waitFor(onPath("/fc"), 10_000)) !== undefined, "delivered", undefined, true);
    const info = await fc.get(KEY);
    checkEq(info.flowControlKey, KEY, "flowControlKey");
    checkEq(info.parallelismMax, 1, "parallelismMax");
    checkEq(info.rateMax, 10, "rateMax");
    checkEq(info.ratePeriod, 60, "ratePeriod (1m in seconds)");
    checkEq(info.rateCount, 1, "rateCount");
    checkBetween(info.ratePeriodStart, nowS() - 120, nowS() + 5, "ratePeriodStart (unix seconds)");
    checkEq(info.isPaused, false, "isPaused");
    checkEq([info.isPinnedParallelism, info.isPinnedRate], [false, false], "not pinned");
  });

  await step("pause: messages wait; messages.get shows the flow control; resume: one at a time", async () => {
    await fc.pause(KEY);
    checkEq((await fc.get(KEY)).isPaused, true, "isPaused after pause");
    const ids = [await publish(), await publish()];
    await sleep(500);
    checkEq(sink.matching(onPath("/fc")).length, 1, "nothing delivered while paused");
    checkEq((await fc.get(KEY)).waitListSize, 2, "waitListSize");
    const m = await client.messages.get(ids[0]);
    checkEq(m.flowControlKey, KEY, "messages.get: flowControlKey");
    checkEq(m.parallelism, 1, "messages.get: parallelism");
    checkEq(m.period, 60, "messages.get: period");
    await fc.resume(KEY);
    const got = await sink.waitCount(onPath("/fc"), 3, 15_000);
    checkEq(got.length, 3, "both delivered after resume", true);
    const [first, second] = got.slice(1).sort((a, b) => a.receivedAt - b.receivedAt);
    check(
      second.receivedAt >= first.receivedAt + HOLD_MS - 50,
      "parallelism 1: the second started after the first was answered",
      `${second.receivedAt - first.receivedAt} ms apart`,
    );
    checkEq((await fc.get(KEY)).isPaused, false, "isPaused after resume");
  });

  await step("pin, unpin, resetRate", async () => {
    await fc.pin(KEY, { parallelism: 2, rate: 5, period: 30 });
    let info = await fc.get(KEY);
    checkEq([info.parallelismMax, info.rateMax, info.ratePeriod], [2, 5, 30], "pinned limits");
    checkEq([info.isPinnedParallelism, info.isPinnedRate], [true, true], "pinned");
    checkEq(info.rateCount, 0, "pinning starts a new period");
    await fc.unpin(KEY, { parallelism: true, rate: false });
    info = await fc.get(KEY);
    checkEq([info.isPinnedParallelism, info.isPinnedRate], [false, true], "parallelism unpinned");
    checkEq(info.parallelismMax, 1, "back to the received parallelism");
    await fc.unpin(KEY, { rate: true });
    info = await fc.get(KEY);
    checkEq([info.rateMax, info.ratePeriod, info.isPinnedRate], [10, 60, false], "rate unpinned");
    await publish();
    await sink.waitCount(onPath("/fc"), 4, 10_000);
    await fc.resetRate(KEY);
    info = await fc.get(KEY);
    checkEq(info.rateCount, 0, "resetRate clears the count");
    checkBetween(info.ratePeriodStart, nowS() - 5, nowS() + 5, "a new period starts now");
  });

  await step("getGlobalParallelism; unknown key", async () => {
    const g = await fc.getGlobalParallelism();
    check(g.parallelismMax > 0, "parallelismMax > 0", JSON.stringify(g));
    check(g.parallelismCount >= 0, "parallelismCount >= 0", JSON.stringify(g));
    await expectQstashError(() => fc.get("sdk-js-no-such-key"), "get of an unknown key", 404);
    await expectQstashError(() => fc.pause("sdk-js-no-such-key"), "pause of an unknown key", 404);
  });

  sink.close();
  return summary();
}

run(main);
