#!/usr/bin/env node
// Runs the official JS SDK (npm @upstash/qstash 2.12.0) against a cronhook
// server: schedule bounds (cronhook's Cronhook-Start-At / Cronhook-End-At).
//
// schedules.create({headers}) prefixes every header that does not start
// with "upstash-" with Upstash-Forward-, so a Cronhook-* header would be
// forwarded to the destination instead of read. The SDK keeps the
// destination's query string, so the bounds go there, as the
// query-parameter form of the headers (`?cronhook-start-at=…`), which
// cronhook takes out of the destination.
//
// Standalone program: exit 0 means every check passed; anything else is a
// failure, with each failed check printed as `FAIL - ...`.
//
// SDK methods called: schedules.create, schedules.get, schedules.list.

import { Client } from "@upstash/qstash";
import { Sink, check, checkEq, env, expectQstashError, onPath, rawRequest, run, sleep, step, summary } from "./harness.mjs";

const WEEK_S = 7 * 86400;

async function main() {
  const baseUrl = env("QSTASH_URL");
  const token = env("QSTASH_TOKEN");
  const sink = new Sink();
  await sink.start();
  const S = sink.base;
  console.log(`server ${baseUrl}, sink ${S}`);
  const client = new Client({ baseUrl, token, devMode: false, retry: false });
  const rawGet = async (id) => (await rawRequest("GET", `${baseUrl}/v2/schedules/${id}`, token)).json;

  await step("the README's weekly report, first one 7 days after signup", async () => {
    const signupS = Math.floor(Date.now() / 1000);
    const firstS = signupS + WEEK_S;
    await client.schedules.create({
      scheduleId: "weekly-report-bob@example.com",
      destination: `${S}/api/weekly-report?cronhook-start-at=${firstS}`,
      body: JSON.stringify({ userId: 43 }),
      cron: "CRON_TZ=Europe/Berlin 0 9 * * 1",
    });
    const s = await client.schedules.get("weekly-report-bob@example.com");
    checkEq(s.destination, `${S}/api/weekly-report`, "the bounds are not part of the destination");
    check(s.nextScheduleTime >= firstS * 1000, "the first slot is on or after the start", `got ${s.nextScheduleTime}`);
    check(s.nextScheduleTime < (firstS + WEEK_S) * 1000, "and within the week after it", `got ${s.nextScheduleTime}`);
    checkEq(s.startAt, firstS * 1000, "startAt (ms), passed through by the SDK");
    checkEq(s.state, "active", "state");
    const ids = (await client.schedules.list()).map((x) => x.scheduleId);
    check(ids.includes("weekly-report-bob@example.com"), "list has it", `got ${ids}`);
  });

  await step("a seconds schedule bounded to a window of 2 s fires only inside it, then is ended", async () => {
    const startS = Math.floor(Date.now() / 1000) + 2;
    const endS = startS + 2;
    await client.schedules.create({
      scheduleId: "js-window",
      destination: `${S}/js/window?cronhook-cron-seconds=true&cronhook-start-at=${startS}&cronhook-end-at=${endS}`,
      body: "tick",
      cron: "* * * * * *",
    });
    const deadline = Date.now() + 15000;
    let raw = await rawGet("js-window");
    while (raw?.state !== "ended" && Date.now() < deadline) {
      await sleep(100);
      raw = await rawGet("js-window");
    }
    checkEq(raw?.state, "ended", "ended after its end", true);
    checkEq([raw.startAt, raw.endAt], [startS * 1000, endS * 1000], "startAt, endAt");
    check(raw.nextScheduleTime === undefined, "no next slot", `got ${raw.nextScheduleTime}`);
    await sleep(300); // anything fired has arrived
    const slots = [...new Set(sink.matching(onPath("/js/window")).map((r) => Number(r.headers["cronhook-slot-time"])))].sort();
    check(slots.length >= 1, "it fired", `got ${slots}`);
    const outside = slots.filter((t) => !(startS * 1000 <= t && t <= endS * 1000));
    checkEq(outside, [], `every slot inside [${startS * 1000}, ${endS * 1000}] (slots ${slots})`);
    const s = await client.schedules.get("js-window");
    checkEq(s.state, "ended", "an ended schedule is kept and shows its state");
  });

  await step("an end before the start is refused with the header's name", async () => {
    const now = Math.floor(Date.now() / 1000);
    const e = await expectQstashError(
      () =>
        client.schedules.create({
          destination: `${S}/js/never?cronhook-start-at=${now + 7200}&cronhook-end-at=${now + 3600}`,
          cron: "* * * * *",
        }),
      "create with an end before the start",
      400,
    );
    check(e?.message?.includes("Cronhook-End-At"), "the error names Cronhook-End-At", `got ${e?.message}`);
  });

  sink.close();
  return summary();
}

run(main);
