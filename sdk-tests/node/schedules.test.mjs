#!/usr/bin/env node
// Runs the official JS SDK (npm @upstash/qstash 2.12.0) against a cronhook server.
//
// Standalone program: exit 0 means every check passed; anything else is a
// failure, with each failed check printed as `FAIL - ...`.
//
// Environment (printed by `cronhook serve`):
//   QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY
//
// Wire contract: docs/qstash-wire.md §4.5 (schedules API), §5.3 (headers the
// SDK sends), §6.3 (schedule object), §7.2 (delivery headers), §8 (signature),
// §10 (schedule semantics).

import { Client, Receiver } from "@upstash/qstash";
import { Sink, check, checkEq, env, expectQstashError, rawRequest, run, show, step, summary } from "./harness.mjs";

const SEED_ID = "user-summary-ann@example.com";
const SEED_CRON = "CRON_TZ=Europe/Berlin 30 9 * * 1";
const OPTIONS_ID = "sdk-js-options";
const TRIM_ID = "sdk-js-trim";
const SECONDS_ID = "sdk-js-seconds";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const berlinParts = (ms) => {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: "Europe/Berlin",
    weekday: "short",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(ms));
  const o = {};
  for (const p of parts) o[p.type] = p.value;
  return o;
};

// The first Monday 09:30:00 Berlin time strictly after nowMs.
function expectedNextMonday0930(nowMs) {
  const dayMs = 86400000;
  for (let d = 0; d <= 8; d++) {
    for (const offsetH of [1, 2]) {
      const p = berlinParts(nowMs + d * dayMs);
      const cand = Date.UTC(+p.year, +p.month - 1, +p.day, 9 - offsetH, 30);
      const q = berlinParts(cand);
      if (q.weekday === "Mon" && q.hour === "09" && q.minute === "30" && cand > nowMs) {
        return cand;
      }
    }
  }
  return undefined;
}


async function expectVerifyFails(receiver, request, what) {
  try {
    const r = await receiver.verify(request);
    check(false, `Receiver.verify rejects ${what}`, `resolved ${show(r)}`);
  } catch (e) {
    check(true, `Receiver.verify rejects ${what} (${e?.name}: ${e?.message})`);
  }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

async function main() {
  const baseUrl = env("QSTASH_URL");
  const token = env("QSTASH_TOKEN");
  const currentSigningKey = env("QSTASH_CURRENT_SIGNING_KEY");
  const nextSigningKey = env("QSTASH_NEXT_SIGNING_KEY");

  const sink = new Sink();
  await sink.start();
  console.log(`server ${baseUrl}, sink ${sink.base}`);
  const client = new Client({ baseUrl, token, devMode: false, retry: false });

  const seedDest = `${sink.base}/api/send-weekly-summary`;
  const seedBody = JSON.stringify({ userId: 42 });
  const optionsDest = `${sink.base}/api/options`;
  const state = {};

  // ---- the seed use case ---------------------------------------------------
  await step("seed: schedules.create", async () => {
    const before = Date.now();
    const res = await client.schedules.create({
      scheduleId: SEED_ID,
      destination: seedDest,
      body: seedBody,
      cron: SEED_CRON,
    });
    state.seedWindow = [before, Date.now()];
    checkEq(res?.scheduleId, SEED_ID, "create returns the schedule id", true);
  });

  await step("seed: get returns every field", async () => {
    const s = await client.schedules.get(SEED_ID);
    const now = Date.now();
    checkEq(s.scheduleId, SEED_ID, "get: scheduleId");
    checkEq(s.cron, SEED_CRON, "get: cron");
    checkEq(s.destination, seedDest, "get: destination");
    checkEq(s.method, "POST", "get: method");
    checkEq(s.retries, 3, "get: retries (default)");
    checkEq(s.isPaused, false, "get: isPaused");
    checkEq(s.body, seedBody, "get: body");
    checkEq(s.bodyBase64, undefined, "get: bodyBase64 absent");
    checkEq(s.header, { "Content-Type": ["application/json"] }, "get: header map");
    for (const k of ["callback", "failureCallback", "retryDelayExpression", "label", "queueName"]) {
      checkEq(s[k], undefined, `get: ${k} absent`);
    }
    check(s.delay === undefined || s.delay === 0, "get: delay absent or 0", `got ${show(s.delay)}`);
    const [lo, hi] = state.seedWindow ?? [now - 60000, now];
    check(
      Number.isInteger(s.createdAt) && s.createdAt >= lo - 2000 && s.createdAt <= hi + 2000,
      "get: createdAt is the creation time in ms",
      `got ${show(s.createdAt)}, window [${lo}, ${hi}]`,
    );
    const nst = s.nextScheduleTime;
    check(Number.isInteger(nst) && nst > now, "get: nextScheduleTime in the future (ms)", `got ${show(nst)}, now ${now}`);
    if (Number.isInteger(nst)) {
      const p = berlinParts(nst);
      check(
        p.weekday === "Mon" && p.hour === "09" && p.minute === "30" && p.second === "00" && nst % 1000 === 0,
        "get: nextScheduleTime is a Monday 09:30:00 Berlin time",
        `got ${show(p)} (${nst})`,
      );
      checkEq(nst, expectedNextMonday0930(now), "get: nextScheduleTime is the next Monday 09:30 Berlin");
    }
  });

  // ---- create with more options --------------------------------------------
  await step("create with more options", async () => {
    const res = await client.schedules.create({
      scheduleId: OPTIONS_ID,
      destination: optionsDest,
      cron: "*/5 * * * *",
      body: "plain text body",
      headers: { "Content-Type": "text/plain", "Test-Header": "test-value", "x-lower-case": "lower" },
      method: "PUT",
      retries: 5,
      retryDelay: "1000 * retried",
      delay: 30,
      timeout: 20,
      callback: `${sink.base}/callback`,
      failureCallback: `${sink.base}/failure-callback`,
      label: "weekly-digest",
    });
    checkEq(res?.scheduleId, OPTIONS_ID, "create with options returns the schedule id", true);
    const s = await client.schedules.get(OPTIONS_ID);
    checkEq(s.destination, optionsDest, "options get: destination");
    checkEq(s.cron, "*/5 * * * *", "options get: cron");
    checkEq(s.method, "PUT", "options get: method");
    checkEq(s.retries, 5, "options get: retries");
    checkEq(s.retryDelayExpression, "1000 * retried", "options get: retryDelayExpression");
    checkEq(s.delay, 30, "options get: delay (seconds)");
    checkEq(s.timeout, 20, "options get: timeout (seconds)");
    checkEq(s.callback, `${sink.base}/callback`, "options get: callback");
    checkEq(s.failureCallback, `${sink.base}/failure-callback`, "options get: failureCallback");
    checkEq(s.label, "weekly-digest", "options get: label");
    if (s.labels !== undefined) checkEq(s.labels, ["weekly-digest"], "options get: labels");
    checkEq(s.body, "plain text body", "options get: body");
    checkEq(
      s.header,
      { "Content-Type": ["text/plain"], "Test-Header": ["test-value"], "X-Lower-Case": ["lower"] },
      "options get: header map (forwarded, canonical names, no telemetry headers)",
    );
    checkEq(s.isPaused, false, "options get: isPaused");
  });

  await step("cron with trailing spaces comes back trimmed", async () => {
    const res = await client.schedules.create({
      scheduleId: TRIM_ID,
      destination: `${sink.base}/api/trim`,
      cron: "*/10 * * * * ",
    });
    checkEq(res?.scheduleId, TRIM_ID, "create returns the schedule id", true);
    const s = await client.schedules.get(TRIM_ID);
    checkEq(s.cron, "*/10 * * * *", "get: cron trimmed");
    checkEq(s.body, undefined, "get: body absent when none was sent");
  });

  // ---- list, pause, resume -------------------------------------------------
  await step("list, pause, resume", async () => {
    const ids = (await client.schedules.list()).map((s) => s.scheduleId).sort();
    checkEq(ids, [SEED_ID, OPTIONS_ID, TRIM_ID].sort(), "list: schedule ids");
    await client.schedules.pause({ schedule: SEED_ID });
    checkEq((await client.schedules.get(SEED_ID)).isPaused, true, "pause: get isPaused");
    await client.schedules.pause({ schedule: SEED_ID });
    check(true, "pause again: no error (idempotent)");
    checkEq((await client.schedules.get(SEED_ID)).isPaused, true, "pause again: still isPaused");
    const listed = Object.fromEntries((await client.schedules.list()).map((s) => [s.scheduleId, s]));
    checkEq(listed[SEED_ID]?.isPaused, true, "list: isPaused true for the paused schedule");
    checkEq(listed[OPTIONS_ID]?.isPaused, false, "list: other schedule not paused");
    await client.schedules.resume({ schedule: SEED_ID });
    checkEq((await client.schedules.get(SEED_ID)).isPaused, false, "resume: get isPaused");
    await client.schedules.resume({ schedule: SEED_ID });
    checkEq((await client.schedules.get(SEED_ID)).isPaused, false, "resume again: still not paused (idempotent)");
  });

  // ---- overwrite -----------------------------------------------------------
  await step("overwrite with the same schedule id", async () => {
    const newDest = `${sink.base}/api/send-weekly-summary-v2`;
    const res = await client.schedules.create({ scheduleId: SEED_ID, destination: newDest, cron: SEED_CRON });
    checkEq(res?.scheduleId, SEED_ID, "overwrite: returns the same schedule id");
    const same = (await client.schedules.list()).filter((s) => s.scheduleId === SEED_ID);
    checkEq(same.length, 1, "overwrite: list has exactly one schedule with that id", true);
    checkEq(same[0].destination, newDest, "overwrite: list shows the new destination");
    checkEq(same[0].body, undefined, "overwrite: body absent");
    checkEq(same[0].bodyBase64, undefined, "overwrite: bodyBase64 absent");
    const g = await client.schedules.get(SEED_ID);
    checkEq(g.destination, newDest, "overwrite: get shows the new destination");
    checkEq(g.body, undefined, "overwrite: get body absent");
    checkEq((await client.schedules.list()).length, 3, "overwrite: list still has 3 schedules");
  });

  // ---- delete --------------------------------------------------------------
  await step("delete", async () => {
    await client.schedules.delete(SEED_ID);
    check(true, "delete: no error");
    await expectQstashError(() => client.schedules.get(SEED_ID), "get after delete", 404);
    const ids = (await client.schedules.list()).map((s) => s.scheduleId);
    check(!ids.includes(SEED_ID), "delete: list no longer has the schedule", `got ${show(ids)}`);
    await client.schedules.delete(OPTIONS_ID);
    await client.schedules.delete(TRIM_ID);
    checkEq(await client.schedules.list(), [], "delete: list is empty after deleting all");
  });

  // ---- bad crons -----------------------------------------------------------
  await step("bad crons are rejected", async () => {
    let e = await expectQstashError(
      () => client.schedules.create({ destination: `${sink.base}/never`, cron: "0 0 * * 25" }),
      'create with cron "0 0 * * 25"',
    );
    if (e) {
      checkEq(e.status, 400, "bad day-of-week cron: status");
      check(/day[-_ ]?of[-_ ]?week/i.test(e.message), "bad day-of-week cron: message mentions day-of-week", `got ${show(e.message)}`);
    }
    e = await expectQstashError(
      () => client.schedules.create({ destination: `${sink.base}/never`, cron: "* * * * * *" }),
      "create with a 6-field cron and no Cronhook-Cron-Seconds header",
    );
    if (e) checkEq(e.status, 400, "6-field cron without header: status");
    checkEq(await client.schedules.list(), [], "rejected crons created no schedule");
  });

  // ---- delivery + Receiver -------------------------------------------------
  await step("delivery, headers and Receiver", async () => {
    const dest = `${sink.base}/hook?x=1`;
    const bodyBytes = Buffer.from(JSON.stringify({ hello: "world", note: "grüße ✓" }), "utf8");
    const { status, text } = await rawRequest(
      "POST",
      `${baseUrl}/v2/schedules/${dest}`,
      token,
      {
        "Upstash-Cron": "* * * * * *",
        "Cronhook-Cron-Seconds": "true",
        "Upstash-Schedule-Id": SECONDS_ID,
        "Content-Type": "application/json",
      },
      bodyBytes,
    );
    // §2.4: the SDKs accept any 2xx (cronhook answers 201 Created).
    check(status >= 200 && status < 300, "plain HTTP create of a seconds schedule: 2xx", `got ${status}, body ${show(text)}`, true);
    checkEq(JSON.parse(text).scheduleId, SECONDS_ID, "seconds schedule: scheduleId");
    const s = await client.schedules.get(SECONDS_ID);
    checkEq(s.cron, "* * * * * *", "seconds schedule get: cron");
    checkEq(s.destination, dest, "seconds schedule get: destination (with query)");

    const rec = await sink.waitFor((r) => r.path.startsWith("/hook"), 15000);
    check(rec !== undefined, "a delivery arrived within 15 s", undefined, true);
    const h = rec.headers;
    const deliveredUrl = sink.base + rec.path;
    checkEq(rec.method, "POST", "delivery: method");
    checkEq(deliveredUrl, dest, "delivery: URL (path and query)");
    check(rec.body.equals(bodyBytes), "delivery: exact body bytes", `got ${show(rec.body.toString("utf8"))}`);
    checkEq(h["content-type"], "application/json", "delivery: Content-Type");
    checkEq(h["user-agent"], "Upstash-QStash", "delivery: User-Agent");
    checkEq(h["upstash-retried"], "0", "delivery: Upstash-Retried");
    checkEq(h["upstash-schedule-id"], SECONDS_ID, "delivery: Upstash-Schedule-Id");
    check(Boolean(h["upstash-message-id"]), "delivery: Upstash-Message-Id present", `got ${show(h["upstash-message-id"])}`);
    const signature = h["upstash-signature"];
    check(Boolean(signature), "delivery: Upstash-Signature present", undefined, true);

    const receiver = new Receiver({ currentSigningKey, nextSigningKey, devMode: false });
    const bodyText = rec.body.toString("utf8");
    try {
      const ok = await receiver.verify({ signature, body: bodyText, url: deliveredUrl });
      checkEq(ok, true, "Receiver.verify resolves true on the delivered request");
    } catch (e) {
      check(false, "Receiver.verify resolves true on the delivered request", `${e?.name}: ${e?.message} (token ${signature})`);
    }
    const rotated = new Receiver({
      currentSigningKey: "sig_wrongwrongwrongwrongwrong",
      nextSigningKey: currentSigningKey,
      devMode: false,
    });
    try {
      const ok = await rotated.verify({ signature, body: bodyText, url: deliveredUrl });
      checkEq(ok, true, "Receiver.verify resolves true via the fallback key (key rotation)");
    } catch (e) {
      check(false, "Receiver.verify resolves true via the fallback key (key rotation)", `${e?.name}: ${e?.message}`);
    }
    await expectVerifyFails(
      receiver,
      { signature, body: bodyText.replace("world", "w0rld"), url: deliveredUrl },
      "a tampered body",
    );
    await expectVerifyFails(receiver, { signature, body: bodyText, url: `${sink.base}/hook?x=2` }, "a wrong url");
    await expectVerifyFails(
      new Receiver({
        currentSigningKey: "sig_aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        nextSigningKey: "sig_bbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        devMode: false,
      }),
      { signature, body: bodyText, url: deliveredUrl },
      "other signing keys",
    );

    // The schedule fires every second: a second delivery has a new message id.
    const rec2 = await sink.waitFor((r) => r.path.startsWith("/hook") && r !== rec, 5000);
    if (check(rec2 !== undefined, "a second delivery arrived")) {
      check(
        rec2.headers["upstash-message-id"] !== h["upstash-message-id"],
        "second delivery: new Upstash-Message-Id",
        `both ${show(h["upstash-message-id"])}`,
      );
    }

    await client.schedules.delete(SECONDS_ID);
    check(true, "delete the seconds schedule");
    const e = await expectQstashError(() => client.schedules.get(SECONDS_ID), "get seconds schedule after delete");
    checkEq(e?.status, 404, "get seconds schedule after delete: status");
  });

  sink.close();
  return summary();
}

run(main);
