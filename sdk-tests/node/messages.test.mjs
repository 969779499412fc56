#!/usr/bin/env node
// Runs the official JS SDK (npm @upstash/qstash 2.12.0) against a cronhook
// server: publish, enqueue, batch, messages, DLQ, logs, callbacks, dedup and
// signing-key rotation.
//
// Standalone program: exit 0 means every check passed; anything else is a
// failure, with each failed check printed as `FAIL - ...`.
//
// Environment (printed by `cronhook serve`):
//   QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY
//
// SDK methods called (every method of docs/qstash-wire.md §4 rows 1-6 and
// 24-33 that @upstash/qstash 2.12.0 has; rows 7-12 are in schedules.test.mjs):
//   publish, publishJSON, queue().enqueue, queue().enqueueJSON, batch,
//   batchJSON, messages.get/cancel/delete/deleteMany/deleteAll,
//   dlq.listMessages/delete/deleteMany/retry, logs, events, Receiver.verify.
// The JS SDK has no method for rows 25 (GET /v2/dlq/{id}), 29
// (POST /v2/dlq/retry/{id}), 31 (GET /v2/logs), 32 and 33 (keys): those are
// called with plain HTTP.
//
// Wire contract: docs/qstash-wire.md §4.1-4.4, §4.8-4.10 (endpoints),
// §5.1-5.2 (headers), §6.1, §6.2, §6.6 (objects), §7 (what the destination
// receives), §8 (signature), §9.2 (retry delay), §9.4 (callbacks), §9.6 (log
// states), §9.7 (dedup).

import crypto from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { Client, Receiver } from "@upstash/qstash";
import {
  Sink,
  b64,
  check,
  checkBetween,
  checkEq,
  env,
  expectQstashError,
  fromB64,
  isMs,
  onPath,
  parseJson,
  rawRequest,
  run,
  show,
  sleep,
  step,
  summary,
} from "./harness.mjs";

const QUEUE = "sdk-js-queue";
const BATCH_QUEUE = "sdk-js-batch-queue";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function jwtClaims(token) {
  try {
    return JSON.parse(Buffer.from(String(token).split(".")[1], "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

// Headers that must not reach the destination (§7.2): the API token and the
// Upstash-* configuration and telemetry headers of the publish request.
function forbiddenDeliveryHeaders(rec) {
  const config = new Set([
    "upstash-retries", "upstash-retry-delay", "upstash-delay", "upstash-not-before", "upstash-label",
    "upstash-method", "upstash-timeout", "upstash-deduplication-id", "upstash-content-based-deduplication",
  ]);
  return rec.headerNames.filter((n) => {
    const l = n.toLowerCase();
    return l === "authorization" || l.startsWith("upstash-forward-") || l.startsWith("upstash-callback") ||
      l.startsWith("upstash-failure-callback") || l.startsWith("upstash-telemetry") || config.has(l);
  });
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

async function main() {
  const baseUrl = env("QSTASH_URL");
  const token = env("QSTASH_TOKEN");
  const keys = { current: env("QSTASH_CURRENT_SIGNING_KEY"), next: env("QSTASH_NEXT_SIGNING_KEY") };

  const sink = new Sink();
  await sink.start();
  const S = sink.base;
  console.log(`server ${baseUrl}, sink ${S}`);
  const client = new Client({ baseUrl, token, devMode: false, retry: false });
  const state = {};

  // -- shared checks -----------------------------------------------------

  async function verify(rec, what, url = undefined) {
    const signature = rec.headers["upstash-signature"];
    if (!check(Boolean(signature), `${what}: Upstash-Signature present`)) return undefined;
    const target = url ?? S + rec.path;
    const receiver = new Receiver({ currentSigningKey: keys.current, nextSigningKey: keys.next, devMode: false });
    try {
      const ok = await receiver.verify({ signature, body: rec.body.toString("utf8"), url: target });
      checkEq(ok, true, `${what}: Receiver.verify resolves true (url ${target})`);
    } catch (e) {
      check(false, `${what}: Receiver.verify resolves true (url ${target})`, `${e?.name}: ${e?.message} (token ${signature})`);
    }
    return jwtClaims(signature);
  }

  function checkDeliveryBasics(rec, what, messageId, retried = "0") {
    const h = rec.headers;
    checkEq(h["user-agent"], "Upstash-QStash", `${what}: User-Agent`);
    checkEq(h["upstash-retried"], retried, `${what}: Upstash-Retried`);
    if (messageId !== undefined) checkEq(h["upstash-message-id"], messageId, `${what}: Upstash-Message-Id is the publish messageId`);
    checkEq(forbiddenDeliveryHeaders(rec), [], `${what}: no token, telemetry or Upstash-* config headers forwarded`);
  }

  // Log entries of one message, newest first, polling until the newest
  // entry's state is in `until`.
  async function logEntries(messageId, until = ["DELIVERED", "FAILED", "CANCELED"], timeoutMs = 6000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let res;
      try {
        res = await client.logs({ messageIds: [messageId] });
      } catch (e) {
        check(false, `logs for ${messageId}`, `${e?.name}: ${e?.message}`);
        return [];
      }
      const logs = res.logs;
      if ((logs.length > 0 && until.includes(logs[0].state)) || Date.now() > deadline) return logs;
      await sleep(200);
    }
  }

  async function checkStateSequence(messageId, expected, what, until = undefined) {
    const logs = await logEntries(messageId, until ?? [expected.at(-1)]);
    checkEq(logs.map((l) => l.state).reverse(), expected, `${what}: log states oldest to newest (§9.6)`);
    const times = logs.map((l) => l.time);
    check(isDeepStrictEqual(times, [...times].sort((a, b) => b - a)), `${what}: logs newest first`, `times ${show(times)}`);
    check(logs.every((l) => l.messageId === messageId), `${what}: every entry has the messageId`);
    return logs;
  }

  async function checkCallback(rec, what, o) {
    checkEq(rec.method, o.callbackMethod ?? "POST", `${what}: method`);
    checkEq((rec.headers["content-type"] ?? "").split(";")[0], "application/json", `${what}: Content-Type`);
    checkEq(rec.headers["user-agent"], "Upstash-QStash", `${what}: User-Agent`);
    const cbId = rec.headers["upstash-message-id"];
    check(Boolean(cbId) && cbId !== o.sourceId, `${what}: own Upstash-Message-Id (a new message)`, `got ${show(cbId)}`);
    for (const [name, value] of Object.entries(o.forwarded ?? {})) {
      checkEq(rec.headers[name.toLowerCase()], value, `${what}: forwarded header ${name}`);
      check(rec.headerNames.includes(name), `${what}: header name ${name} canonical`, `names ${show(rec.headerNames)}`);
    }
    await verify(rec, what);
    const body = parseJson(rec.body.toString("utf8"));
    if (!check(body !== null && typeof body === "object", `${what}: body is a JSON object`, `got ${show(rec.body.toString())}`)) return undefined;
    checkEq(body.status, o.status, `${what}: status`);
    checkEq(body.retried, o.retried, `${what}: retried`);
    checkEq(body.maxRetries, o.maxRetries, `${what}: maxRetries`);
    checkEq(body.sourceMessageId, o.sourceId, `${what}: sourceMessageId`);
    checkEq(body.url, o.dest, `${what}: url`);
    checkEq(body.method, o.method, `${what}: method field`);
    checkEq(fromB64(body.body)?.toString("utf8"), o.responseBody, `${what}: body (base64 of the response)`);
    checkEq(fromB64(body.sourceBody)?.toString("utf8"), o.sourceBody, `${what}: sourceBody (base64)`);
    for (const [name, value] of Object.entries(o.responseHeader ?? {})) {
      checkEq(body.header?.[name], [value], `${what}: header[${name}] (response headers)`);
    }
    for (const [name, value] of Object.entries(o.sourceHeader ?? {})) {
      checkEq(body.sourceHeader?.[name], [value], `${what}: sourceHeader[${name}]`);
    }
    check(isMs(body.notBefore), `${what}: notBefore is ms`, `got ${show(body.notBefore)}`);
    check(isMs(body.createdAt), `${what}: createdAt is ms`, `got ${show(body.createdAt)}`);
    if (o.dlq) check(typeof body.dlqId === "string" && body.dlqId.length > 0, `${what}: dlqId present`, `got ${show(body.dlqId)}`);
    else check(!("dlqId" in body), `${what}: no dlqId`, `got ${show(body.dlqId)}`);
    return body;
  }

  // ---- 1. messages.get and every cancel form (nothing else pending) --------
  const cancelled = { ids: [], due: 0 };
  const noteCancel = (ids) => {
    cancelled.ids.push(...ids);
    cancelled.due = Math.max(cancelled.due, Date.now() + 4000);
  };
  const pending = async (label, i, extra = {}) =>
    (await client.publish({ url: `${S}/js/cancel/${label}-${i}`, body: `${label} ${i}`, delay: 4, ...extra })).messageId;

  await step("messages.get and every cancel form", async () => {
    const dest = `${S}/js/cancel/options?x=1&y=two`;
    const t0 = Date.now();
    const res = await client.publish({
      url: dest,
      body: "plain text body",
      headers: {
        "Content-Type": "text/plain",
        "Test-Header": "test-value",
        "x-lower-case": "lower",
        "Upstash-Callback-Forward-Cb-Extra": "cb-value",
        "Upstash-Callback-Py-Extra": "py-cb",
        "Upstash-Failure-Callback-Forward-Fcb-Extra": "fcb-value",
      },
      method: "PUT",
      retries: 2,
      retryDelay: "1000 * retried",
      callback: `${S}/js/cancel/callback`,
      failureCallback: `${S}/js/cancel/failure-callback`,
      delay: "4s",
      timeout: 20,
      label: ["js-options", "second-label"],
    });
    const t1 = Date.now();
    noteCancel([]);
    const mid = res.messageId;
    check(typeof mid === "string" && mid.length > 0, "publish: messageId is a non-empty string", `got ${show(mid)}`, true);
    check(res.deduplicated === undefined || res.deduplicated === false, "publish: deduplicated absent or false", `got ${show(res.deduplicated)}`);

    const m = await client.messages.get(mid);
    checkEq(m.messageId, mid, "get: messageId");
    checkEq(m.url, dest, "get: url (with query)");
    checkEq(m.method, "PUT", "get: method");
    checkEq(m.body, "plain text body", "get: body");
    checkEq(m.bodyBase64, undefined, "get: bodyBase64 absent for UTF-8");
    checkEq(
      m.header,
      { "Content-Type": ["text/plain"], "Test-Header": ["test-value"], "X-Lower-Case": ["lower"] },
      "get: header (forwarded, canonical names, no Upstash-* config or telemetry)",
    );
    checkEq(m.callbackHeader, { "Cb-Extra": ["cb-value"], "Py-Extra": ["py-cb"] },
      "get: callbackHeader (JS Upstash-Callback-Forward-X and Python Upstash-Callback-X spellings)");
    checkEq(m.failureCallbackHeader, { "Fcb-Extra": ["fcb-value"] }, "get: failureCallbackHeader");
    checkEq(m.maxRetries, 2, "get: maxRetries");
    checkEq(m.retryDelayExpression, "1000 * retried", "get: retryDelayExpression");
    checkEq(m.callback, `${S}/js/cancel/callback`, "get: callback");
    checkEq(m.failureCallback, `${S}/js/cancel/failure-callback`, "get: failureCallback");
    checkEq(m.label, "js-options", "get: label (the first)");
    checkEq(m.labels, ["js-options", "second-label"], "get: labels (all)");
    checkEq([m.urlGroup, m.topicName, m.queueName, m.scheduleId], [undefined, undefined, undefined, undefined],
      "get: urlGroup/topicName/queueName/scheduleId absent");
    checkBetween(m.createdAt, t0 - 1000, t1 + 1000, "get: createdAt (ms)");
    check(Number.isInteger(m.notBefore) && Math.abs(m.notBefore - (m.createdAt + 4000)) <= 1000,
      "get: notBefore == createdAt + 4 s (ms)", `notBefore ${show(m.notBefore)}, createdAt ${show(m.createdAt)}`);
    checkEq(m.callerIp, "127.0.0.1", "get: callerIp");
    checkEq(m.callerIP, "127.0.0.1", "get: callerIP (both spellings, §6.1)");
    const nulls = Object.entries(m).filter(([, v]) => v === null).map(([k]) => k);
    checkEq(nulls, [], "get: no null fields (§6)");

    // Non-UTF-8 body: bodyBase64 instead of body.
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x62, 0x69, 0x6e, 0x80]);
    const rb = await client.publish({
      url: `${S}/js/cancel/binary`, body: new Uint8Array(binary), delay: 4,
      headers: { "Content-Type": "application/octet-stream" },
    });
    noteCancel([]);
    const mb = await client.messages.get(rb.messageId);
    checkEq(mb.body, undefined, "get binary: body absent");
    checkEq(mb.bodyBase64, b64(binary), "get binary: bodyBase64");
    checkEq(mb.method, "POST", "get binary: method POST (JS always sends Upstash-Method)");
    checkEq(mb.maxRetries, 3, "get binary: maxRetries defaults to 3");

    checkEq(await client.messages.cancel(mid), { cancelled: 1 }, "cancel(id) resolves {cancelled: 1}");
    noteCancel([mid]);
    state.cancelledOne = mid;
    await expectQstashError(() => client.messages.get(mid), "get after cancel", 404);
    await expectQstashError(() => client.messages.cancel("msg_does_not_exist"), "cancel unknown id", 404);

    await client.messages.delete(rb.messageId);
    check(true, "messages.delete(id) (deprecated): no error");
    noteCancel([rb.messageId]);
    await expectQstashError(() => client.messages.get(rb.messageId), "get after messages.delete", 404);

    let ids = [await pending("array", 0), await pending("array", 1)];
    checkEq(await client.messages.cancel(ids), { cancelled: 2 }, "cancel([ids]) (query messageIds)");
    noteCancel(ids);
    for (const i of ids) await expectQstashError(() => client.messages.get(i), `get ${i} after cancel([ids])`, 404);

    const la = await pending("label", 0, { label: "js-l-a" });
    const lb = await pending("label", 1, { label: ["js-l-b", "js-l-x"] });
    const lc = await pending("label", 2, { label: "js-l-c" });
    checkEq(await client.messages.cancel({ filter: { label: ["js-l-a", "js-l-b"] } }), { cancelled: 2 },
      "cancel({filter: {label: [a, b]}}) (OR within a key)");
    noteCancel([la, lb]);
    await expectQstashError(() => client.messages.get(la), "get after label cancel", 404);
    const still = await client.messages.get(lc);
    checkEq(still.messageId, lc, "a message with another label is still pending");
    checkEq(await client.messages.cancel({ filter: { url: `${S}/js/cancel/label-2`, label: "js-l-c" } }), { cancelled: 1 },
      "cancel({filter: {url, label}}) (AND across keys)");
    noteCancel([lc]);

    ids = [await pending("many", 0), await pending("many", 1)];
    checkEq(await client.messages.deleteMany(ids), 2, "deleteMany (deprecated) returns the count");
    noteCancel(ids);

    ids = [await pending("all", 0), await pending("all", 1)];
    checkEq(await client.messages.cancel({ all: true }), { cancelled: 2 }, "cancel({all: true}) (only count=100 in the query)");
    noteCancel(ids);
    for (const i of ids) await expectQstashError(() => client.messages.get(i), `get ${i} after cancel all`, 404);

    ids = [await pending("delete-all", 0)];
    checkEq(await client.messages.deleteAll(), 1, "deleteAll (deprecated) returns the count");
    noteCancel(ids);
    checkEq(await client.messages.cancel({ all: true }), { cancelled: 0 }, "cancel all with nothing pending: 0");
  });

  // ---- 2. delayed / not-before messages (checked in step 12) ---------------
  const timed = {};
  await step("start delayed and not-before messages", async () => {
    const t0 = Date.now();
    const r1 = await client.publish({ url: `${S}/js/timed/delay`, body: "delayed 3s", delay: 3 });
    timed.delay = { id: r1.messageId, t0, t1: Date.now() };
    const nb = Math.floor(Date.now() / 1000) + 4;
    const r2 = await client.publishJSON({ url: `${S}/js/timed/not-before`, body: { nb }, notBefore: nb });
    timed.notBefore = { id: r2.messageId, nb };
    const r3 = await client.publish({ url: `${S}/js/timed/both`, body: "nb wins", delay: "1h", notBefore: nb });
    timed.both = { id: r3.messageId, nb };
    const m1 = await client.messages.get(r1.messageId);
    check(Math.abs(m1.notBefore - (m1.createdAt + 3000)) <= 1000, "delay 3: get notBefore == createdAt + 3000",
      `notBefore ${m1.notBefore}, createdAt ${m1.createdAt}`);
    checkEq((await client.messages.get(r2.messageId)).notBefore, nb * 1000, "notBefore: get notBefore (ms)");
    checkEq((await client.messages.get(r3.messageId)).notBefore, nb * 1000, "delay 1h + notBefore: Not-Before overrides Delay (§5.1)");
    checkEq(sink.matching((r) => r.path.startsWith("/js/timed/")).length, 0, "timed messages not delivered early");
  });

  // ---- 3. publish / publishJSON delivered ---------------------------------
  await step("publish and publishJSON delivered", async () => {
    const dest = `${S}/js/deliver/options?x=1&y=two`;
    const body = "grüße ✓ plain";
    const res = await client.publish({
      url: dest,
      body,
      headers: { "Content-Type": "text/plain; charset=utf-8", "Test-Header": "test-value", "x-lower-case": "lower" },
      method: "PUT",
      retries: 1,
      timeout: "15s",
      label: "js-deliver",
    });
    const mid = res.messageId;
    state.deliveredId = mid;
    const rec = await sink.waitFor(onPath("/js/deliver/options"), 10000);
    check(rec !== undefined, "publish: delivered within 10 s", undefined, true);
    checkEq(rec.method, "PUT", "delivery: method (Upstash-Method)");
    checkEq(S + rec.path, dest, "delivery: URL with query");
    check(rec.body.equals(Buffer.from(body, "utf8")), "delivery: exact body bytes", `got ${show(rec.body.toString())}`);
    checkEq(rec.headers["content-type"], "text/plain; charset=utf-8", "delivery: Content-Type");
    checkEq(rec.headers["test-header"], "test-value", "delivery: forwarded Test-Header");
    checkEq(rec.headers["x-lower-case"], "lower", "delivery: forwarded x-lower-case");
    check(rec.headerNames.includes("X-Lower-Case"), "delivery: forwarded name canonical (X-Lower-Case)", show(rec.headerNames));
    checkDeliveryBasics(rec, "delivery", mid);
    const claims = (await verify(rec, "delivery")) ?? {};
    const now = Math.floor(Date.now() / 1000);
    checkEq(claims.iss, "Upstash", "JWT: iss");
    checkEq(claims.sub, dest, "JWT: sub is the destination URL");
    checkBetween(claims.iat, now - 60, now + 1, "JWT: iat (s)");
    checkEq(claims.exp, claims.iat + 300, "JWT: exp == iat + 300");
    check(claims.nbf === 0 || claims.nbf === claims.iat, "JWT: nbf is 0 or iat", `got ${show(claims.nbf)}`);
    check(typeof claims.jti === "string" && claims.jti.length > 0, "JWT: jti string");
    const want = crypto.createHash("sha256").update(Buffer.from(body, "utf8")).digest("base64url");
    checkEq(String(claims.body).replace(/=+$/, ""), want, "JWT: body claim is base64url sha256 of body");
    check(claims.aud === undefined || claims.aud === "", "JWT: no non-empty aud", `got ${show(claims.aud)}`);
    try {
      await new Receiver({ currentSigningKey: keys.current, nextSigningKey: "sig_wrongwrongwrongwrongwrong", devMode: false })
        .verify({ signature: rec.headers["upstash-signature"], body, url: dest });
      check(true, "delivery: signed with the current key");
    } catch (e) {
      check(false, "delivery: signed with the current key", e?.message);
    }

    const logs = await checkStateSequence(mid, ["CREATED", "ACTIVE", "DELIVERED"], "delivered message");
    const created = logs.at(-1);
    if (created) {
      checkEq(created.url, dest, "log: url");
      checkEq(created.label, "js-deliver", "log: label");
      checkEq(created.labels, ["js-deliver"], "log: labels");
      checkEq(fromB64(created.body)?.toString("utf8"), body, "log: body is base64 of the body (§6.6)");
      checkEq(created.header?.["Test-Header"], ["test-value"], "log: header map");
      checkEq(created.urlGroup, undefined, "log: urlGroup absent");
    }

    const r2 = await client.publishJSON({ url: `${S}/js/deliver/json`, body: { hello: "world", n: [1, 2] }, headers: { "X-Json": "yes" } });
    const j = await sink.waitFor(onPath("/js/deliver/json"), 10000);
    check(j !== undefined, "publishJSON: delivered", undefined, true);
    checkEq(j.method, "POST", "publishJSON delivery: method POST");
    checkEq(j.body.toString("utf8"), JSON.stringify({ hello: "world", n: [1, 2] }), "publishJSON delivery: body");
    checkEq(j.headers["content-type"], "application/json", "publishJSON delivery: Content-Type");
    checkEq(j.headers["x-json"], "yes", "publishJSON delivery: forwarded header");
    checkDeliveryBasics(j, "publishJSON delivery", r2.messageId);
    await verify(j, "publishJSON delivery");

    const binary = Buffer.from([...Array(256).keys()]);
    await client.publish({ url: `${S}/js/deliver/binary`, body: new Uint8Array(binary), headers: { "Content-Type": "application/octet-stream" } });
    const bin = await sink.waitFor(onPath("/js/deliver/binary"), 10000);
    if (check(bin !== undefined, "binary publish: delivered")) {
      check(bin.body.equals(binary), "binary delivery: exact bytes", `got ${bin.body.length} bytes`);
      const c = jwtClaims(bin.headers["upstash-signature"]) ?? {};
      checkEq(String(c.body).replace(/=+$/, ""), crypto.createHash("sha256").update(binary).digest("base64url"),
        "binary delivery: body claim hashes the raw bytes");
    }
  });

  // ---- 4. queue().enqueue / enqueueJSON: FIFO, parallelism 1 ---------------
  await step("queue().enqueue and enqueueJSON (FIFO, parallelism 1)", async () => {
    sink.set("/js/queue/0", { delayMs: 1000 });
    const q = client.queue({ queueName: QUEUE });
    const r0 = await q.enqueue({ url: `${S}/js/queue/0`, body: "first", headers: { "Content-Type": "text/plain", "Q-Header": "q" }, label: "js-queue" });
    const r1 = await q.enqueueJSON({ url: `${S}/js/queue/1`, body: { second: true } });
    const r2 = await q.enqueue({ url: `${S}/js/queue/2`, body: "third", method: "PATCH" });
    const ids = [r0.messageId, r1.messageId, r2.messageId];
    checkEq(new Set(ids).size, 3, "enqueue: three distinct messageIds");
    try {
      const m1 = await client.messages.get(r1.messageId);
      checkEq(m1.queueName, QUEUE, "get while waiting in the queue: queueName");
      checkEq(m1.body, JSON.stringify({ second: true }), "get queued: body");
    } catch (e) {
      check(false, "get while waiting in the queue (parallelism 1: the 2nd waits for the slow 1st)", e?.message);
    }
    const recs = await sink.waitCount((r) => r.path.startsWith("/js/queue/"), 3, 15000);
    checkEq(recs.length, 3, "enqueue: 3 deliveries", true);
    checkEq(recs.map((r) => r.path), ["/js/queue/0", "/js/queue/1", "/js/queue/2"], "enqueue: FIFO order");
    checkEq(recs.map((r) => r.headers["upstash-message-id"]), ids, "enqueue: message ids in order");
    await sink.waitFor((r) => r.path === "/js/queue/0" && r.respondedAt, 5000);
    check(recs[0].respondedAt !== undefined && recs[1].receivedAt >= recs[0].respondedAt - 10,
      "queue parallelism 1: 2nd delivery starts after the 1st answered",
      `1st answered ${recs[0].respondedAt}, 2nd received ${recs[1].receivedAt}`);
    checkEq(recs[0].body.toString(), "first", "enqueue delivery: body");
    checkEq(recs[0].headers["q-header"], "q", "enqueue delivery: forwarded header");
    checkEq(recs[1].headers["content-type"], "application/json", "enqueueJSON delivery: Content-Type");
    checkEq(recs[1].body.toString(), '{"second":true}', "enqueueJSON delivery: body");
    checkEq(recs[2].method, "PATCH", "enqueue delivery: method");
    for (const [i, rec] of recs.entries()) {
      checkDeliveryBasics(rec, `enqueue delivery ${i}`, ids[i]);
      await verify(rec, `enqueue delivery ${i}`);
    }
    const logs = await checkStateSequence(r0.messageId, ["CREATED", "ACTIVE", "DELIVERED"], "enqueued message");
    check(logs.every((l) => l.queueName === QUEUE), "enqueued message logs: queueName", show(logs.map((l) => l.queueName)));
    await logEntries(r2.messageId); // the last DELIVERED row is written after the sink answered
    const res = await client.logs({ filter: { queueName: QUEUE, state: "DELIVERED" } });
    checkEq(res.logs.map((l) => l.messageId).sort(), [...ids].sort(), "logs filter queueName + state DELIVERED");
  });

  // ---- 5. batch / batchJSON ---------------------------------------------------
  await step("batch and batchJSON", async () => {
    const res = await client.batch([
      { url: `${S}/js/batch/a?k=v`, body: "batch a", headers: { "Content-Type": "text/plain", "B-Header": "b" }, method: "PUT", retries: 0 },
      { url: `${S}/js/batch/b`, body: "batch b", queueName: BATCH_QUEUE },
      { url: `${S}/js/batch/c` },
    ]);
    checkEq(res.length, 3, "batch: one response per item", true);
    const ids = res.map((r) => r.messageId);
    check(ids.every((i) => typeof i === "string" && i) && new Set(ids).size === 3, "batch: distinct messageIds", show(ids));
    check(res.every((r) => !r.deduplicated), "batch: not deduplicated", show(res));
    const a = await sink.waitFor(onPath("/js/batch/a"), 10000);
    if (check(a !== undefined, "batch item a: delivered")) {
      checkEq(a.method, "PUT", "batch a: method");
      checkEq(a.path, "/js/batch/a?k=v", "batch a: path and query");
      checkEq(a.body.toString(), "batch a", "batch a: body");
      checkEq(a.headers["content-type"], "text/plain", "batch a: Content-Type");
      checkEq(a.headers["b-header"], "b", "batch a: forwarded header (lower-cased in the batch JSON)");
      check(a.headerNames.includes("B-Header"), "batch a: forwarded name canonical", show(a.headerNames));
      checkDeliveryBasics(a, "batch a", ids[0]);
      await verify(a, "batch a");
    }
    const b = await sink.waitFor(onPath("/js/batch/b"), 10000);
    if (check(b !== undefined, "batch item b: delivered")) {
      checkEq(b.body.toString(), "batch b", "batch b: body");
      checkDeliveryBasics(b, "batch b", ids[1]);
      const logs = await logEntries(ids[1]);
      check(logs.length > 0 && logs.every((l) => l.queueName === BATCH_QUEUE), "batch b: logged with queueName", show(logs.map((l) => l.queueName)));
    }
    const c = await sink.waitFor(onPath("/js/batch/c"), 10000);
    if (check(c !== undefined, "batch item c: delivered")) {
      checkEq(c.body.length, 0, "batch c: empty body (no body key)");
      checkEq(c.method, "POST", "batch c: method POST");
    }

    const rj = await client.batchJSON([
      { url: `${S}/js/batchjson/a`, body: { a: 1 }, headers: { "J-Header": "j" } },
      { url: `${S}/js/batchjson/b`, body: ["x", null], queueName: BATCH_QUEUE, method: "PUT" },
    ]);
    checkEq(rj.length, 2, "batchJSON: one response per item", true);
    for (const [p, wantBody, method, mid] of [
      ["a", '{"a":1}', "POST", rj[0].messageId],
      ["b", '["x",null]', "PUT", rj[1].messageId],
    ]) {
      const rec = await sink.waitFor(onPath(`/js/batchjson/${p}`), 10000);
      if (check(rec !== undefined, `batchJSON ${p}: delivered`)) {
        checkEq(rec.body.toString(), wantBody, `batchJSON ${p}: body`);
        checkEq(rec.method, method, `batchJSON ${p}: method`);
        checkEq(rec.headers["content-type"], "application/json", `batchJSON ${p}: Content-Type`);
        if (p === "a") checkEq(rec.headers["j-header"], "j", "batchJSON a: forwarded header");
        checkDeliveryBasics(rec, `batchJSON ${p}`, mid);
        await verify(rec, `batchJSON ${p}`);
      }
    }
  });

  // ---- 6. deduplication ---------------------------------------------------
  await step("deduplication (id and content)", async () => {
    const dest = `${S}/js/dedup/id`;
    const r1 = await client.publish({ url: dest, body: "one", deduplicationId: "js-dedup-1" });
    const r2 = await client.publish({ url: dest, body: "two", deduplicationId: "js-dedup-1" });
    check(!r1.deduplicated, "dedup id: first publish not deduplicated", show(r1));
    checkEq(r2.deduplicated, true, "dedup id: second publish deduplicated");
    checkEq(r2.messageId, r1.messageId, "dedup id: second publish returns the original messageId");
    const r3 = await client.publish({ url: dest, body: "three", deduplicationId: "js-dedup-2" });
    check(!r3.deduplicated && r3.messageId !== r1.messageId, "dedup id: another id is a new message");

    const raw = await rawRequest("POST", `${baseUrl}/v2/publish/${dest}`, token, { "Upstash-Deduplication-Id": "js-dedup-1" }, "raw");
    checkEq(raw.status, 202, "raw duplicate publish: status 202 (§9.7)");
    checkEq(raw.json?.messageId, r1.messageId, "raw duplicate publish: original messageId");
    checkEq(raw.json?.deduplicated, true, "raw duplicate publish: deduplicated true");

    const cdest = `${S}/js/dedup/content`;
    const pub = (url, body, h) => client.publish({ url, body, headers: { "Content-Type": "text/plain", H: h }, contentBasedDeduplication: true });
    const c1 = await pub(cdest, "same", "1");
    const c2 = await pub(cdest, "same", "1");
    const c3 = await pub(cdest, "different", "1");
    const c4 = await pub(cdest, "same", "2");
    const c5 = await pub(`${cdest}?other`, "same", "1");
    checkEq([Boolean(c1.deduplicated), c2.deduplicated], [false, true], "content dedup: same content deduplicated");
    checkEq(c2.messageId, c1.messageId, "content dedup: duplicate returns original messageId");
    check(!c3.deduplicated && c3.messageId !== c1.messageId, "content dedup: other body is new");
    check(!c4.deduplicated && c4.messageId !== c1.messageId, "content dedup: other forwarded header is new");
    check(!c5.deduplicated && c5.messageId !== c1.messageId, "content dedup: other destination is new");

    for (const [name, n] of [["id", 2], ["content", 4]]) {
      await sink.waitCount(onPath(`/js/dedup/${name}`), n + 1, 3000);
      checkEq(sink.matching(onPath(`/js/dedup/${name}`)).length, n, `dedup (${name}): deliveries to the destination`);
    }
    checkEq(sink.matching(onPath("/js/dedup/id")).map((r) => r.body.toString()).sort(), ["one", "three"], "dedup id: delivered bodies");
  });

  // ---- 7. callback after a successful delivery ----------------------------
  await step("callback after a delivery", async () => {
    const dest = `${S}/js/cb/target`;
    sink.set("/js/cb/target", { status: 200, body: "hello from sink", headers: { "X-Reply": "r1" } });
    const res = await client.publish({
      url: dest,
      body: "cb source body",
      headers: {
        "Content-Type": "text/plain",
        "Test-Header": "src",
        "Upstash-Callback-Forward-Cb-Extra": "x",
        "Upstash-Callback-Py-Extra": "py",
        "Upstash-Callback-Method": "PUT",
      },
      retries: 2,
      callback: `${S}/js/cb/callback`,
      failureCallback: `${S}/js/cb/never-failure`,
    });
    const mid = res.messageId;
    const rec = await sink.waitFor(onPath("/js/cb/callback"), 10000);
    check(rec !== undefined, "callback arrived within 10 s", undefined, true);
    await checkCallback(rec, "callback", {
      callbackMethod: "PUT", status: 200, retried: 0, maxRetries: 2, sourceId: mid, dest, method: "POST",
      sourceBody: "cb source body", responseBody: "hello from sink", responseHeader: { "X-Reply": "r1" },
      sourceHeader: { "Test-Header": "src" }, forwarded: { "Cb-Extra": "x", "Py-Extra": "py" },
    });
    await sleep(500);
    checkEq(sink.matching(onPath("/js/cb/callback")).length, 1, "callback: exactly one after one attempt");
    checkEq(sink.matching(onPath("/js/cb/never-failure")).length, 0, "no failure callback after success");
    const cbId = rec.headers["upstash-message-id"];
    if (cbId) await checkStateSequence(cbId, ["CREATED", "ACTIVE", "DELIVERED"], "callback message (its own message)");
  });

  // ---- 8. failed attempts: retry delay, callbacks, failure callback -------
  await step("retry delay, callbacks and failure callback", async () => {
    const dest = `${S}/js/fail/target`;
    sink.set("/js/fail/target", { status: 500, body: "boom", headers: { "X-Fail": "f1" } });
    const res = await client.publish({
      url: dest,
      body: "failing body",
      headers: {
        "Content-Type": "text/plain",
        "Test-Header": "fail",
        "Upstash-Failure-Callback-Forward-Fcb-Extra": "y",
        "Upstash-Failure-Callback-Py-Fcb": "pyf",
      },
      retries: 1,
      retryDelay: "1000",
      label: "js-fail",
      callback: `${S}/js/fail/callback`,
      failureCallback: `${S}/js/fail/failure-callback`,
    });
    const mid = res.messageId;
    state.failRetryId = mid;
    const fcb = await sink.waitFor(onPath("/js/fail/failure-callback"), 15000);
    const attempts = sink.matching(onPath("/js/fail/target"));
    checkEq(attempts.length, 2, "retries=1: two attempts");
    if (attempts.length >= 2) {
      checkEq(attempts.slice(0, 2).map((a) => a.headers["upstash-retried"]), ["0", "1"], "attempts: Upstash-Retried");
      checkEq(attempts.slice(0, 2).map((a) => a.headers["upstash-message-id"]), [mid, mid], "attempts: same Upstash-Message-Id across retries");
      checkBetween(attempts[1].receivedAt - attempts[0].receivedAt, 900, 5000, "retryDelay 1000: ms between attempts");
      for (const [i, a] of attempts.slice(0, 2).entries()) await verify(a, `attempt ${i}`);
    }
    const cbs = await sink.waitCount(onPath("/js/fail/callback"), 2, 5000);
    checkEq(cbs.length, 2, "callback after every attempt (2)");
    for (const [i, rec] of cbs.slice(0, 2).entries()) {
      await checkCallback(rec, `callback ${i}`, {
        status: 500, retried: i, maxRetries: 1, sourceId: mid, dest, method: "POST", sourceBody: "failing body",
        responseBody: "boom", responseHeader: { "X-Fail": "f1" }, sourceHeader: { "Test-Header": "fail" },
      });
    }
    check(fcb !== undefined, "failure callback arrived", undefined, true);
    const body = await checkCallback(fcb, "failure callback", {
      status: 500, retried: 1, maxRetries: 1, sourceId: mid, dest, method: "POST", sourceBody: "failing body",
      responseBody: "boom", responseHeader: { "X-Fail": "f1" }, dlq: true, forwarded: { "Fcb-Extra": "y", "Py-Fcb": "pyf" },
    });
    await sleep(500);
    checkEq(sink.matching(onPath("/js/fail/failure-callback")).length, 1, "failure callback exactly once");
    state.failRetryDlq = body?.dlqId;
    const logs = await checkStateSequence(mid, ["CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "ERROR", "FAILED"], "retried then failed message");
    const errs = logs.filter((l) => l.state === "ERROR");
    check(errs.length > 0 && errs.every((l) => l.responseStatus === 500), "ERROR logs: responseStatus 500", show(errs.map((l) => l.responseStatus)));
    check(errs.length > 0 && errs.every((l) => typeof l.error === "string" && l.error.length > 0), "ERROR logs: error message", show(errs.map((l) => l.error)));
    const retry = logs.filter((l) => l.state === "RETRY");
    check(retry.length === 1 && isMs(retry[0].nextDeliveryTime), "RETRY log: nextDeliveryTime (ms)", show(retry.map((l) => l.nextDeliveryTime)));
    if (state.failRetryDlq) {
      const page = await client.dlq.listMessages({ dlqIds: [state.failRetryDlq] });
      checkEq(page.messages.map((m) => m.messageId), [mid], "failure callback dlqId: DLQ entry of the message");
      checkEq(page.messages[0]?.retryDelayExpression, "1000", "DLQ entry: retryDelayExpression");
    }
  });

  // ---- 9. per-attempt timeout ---------------------------------------------
  await step("per-attempt timeout", async () => {
    const dest = `${S}/js/timeout/slow`;
    sink.set("/js/timeout/slow", { delayMs: 3000 });
    const res = await client.publish({ url: dest, body: "slow", retries: 0, timeout: 1, failureCallback: `${S}/js/timeout/failure-callback` });
    const rec = await sink.waitFor(onPath("/js/timeout/slow"), 10000);
    check(rec !== undefined, "timeout: the attempt reached the sink", undefined, true);
    const logs = await logEntries(res.messageId);
    checkEq(logs.map((l) => l.state).reverse(), ["CREATED", "ACTIVE", "ERROR", "FAILED"], "timeout: log states");
    const f = logs.find((l) => l.state === "FAILED");
    if (f) check(f.time - rec.receivedAt < 2500, "timeout: Upstash-Timeout 1s aborts the attempt before the 3 s reply",
      `FAILED logged ${f.time - rec.receivedAt} ms after the attempt began`);
    const fcb = await sink.waitFor(onPath("/js/timeout/failure-callback"), 5000);
    if (check(fcb !== undefined, "timeout: failure callback arrived")) await verify(fcb, "timeout failure callback");
    const page = await client.dlq.listMessages({ filter: { messageId: res.messageId } });
    if (checkEq(page.messages.length, 1, "timeout: one DLQ entry")) {
      check(Number.isInteger(page.messages[0].responseStatus), "timeout DLQ entry: responseStatus present (PY-REQ, §6.2)", show(page.messages[0].responseStatus));
    }
  });

  // ---- 10. DLQ ----------------------------------------------------------------
  await step("DLQ listMessages, retry, delete", async () => {
    const N = 8;
    const paths = [...Array(N).keys()].map((i) => `/js/dlq/${i}`);
    for (const p of paths) sink.set(p, { status: 500, body: "boom from sink", headers: { "X-Sink-Error": "yes" } });
    const ids = [];
    for (const [i, p] of paths.entries()) {
      const r = await client.publish({
        url: `${S}${p}?n=${i}`, body: `dlq body ${i}`, method: "PUT", retries: 0,
        headers: { "Content-Type": "text/plain", "D-Header": `d${i}` }, label: ["js-dlq", `js-dlq-${i}`],
      });
      ids.push(r.messageId);
    }
    await sink.waitCount((r) => r.path.startsWith("/js/dlq/"), N, 10000);
    for (const [i, mid] of ids.entries()) await logEntries(mid, ["FAILED"], i === 0 ? 10000 : 3000);

    const res = await client.dlq.listMessages({ filter: { label: "js-dlq" } });
    const byMsg = Object.fromEntries(res.messages.map((m) => [m.messageId, m]));
    checkEq(Object.keys(byMsg).sort(), [...ids].sort(), "listMessages filter label: the failed messages", true);
    checkEq(res.cursor, undefined, "listMessages: no cursor on the last page");
    const m = byMsg[ids[0]];
    check(typeof m.dlqId === "string" && m.dlqId.length > 0, "dlq entry: dlqId", show(m.dlqId));
    checkEq(m.url, `${S}${paths[0]}?n=0`, "dlq entry: url");
    checkEq(m.method, "PUT", "dlq entry: method");
    checkEq(m.body, "dlq body 0", "dlq entry: body");
    checkEq(m.header, { "Content-Type": ["text/plain"], "D-Header": ["d0"] }, "dlq entry: header");
    checkEq(m.maxRetries, 0, "dlq entry: maxRetries");
    checkEq(m.label, "js-dlq", "dlq entry: label");
    checkEq(m.labels, ["js-dlq", "js-dlq-0"], "dlq entry: labels");
    checkEq(m.responseStatus, 500, "dlq entry: responseStatus");
    checkEq(m.responseBody, "boom from sink", "dlq entry: responseBody");
    checkEq(m.responseHeader?.["X-Sink-Error"], ["yes"], "dlq entry: responseHeader");
    check(isMs(m.createdAt) && isMs(m.notBefore), "dlq entry: createdAt, notBefore ms");
    checkEq(m.callerIp ?? m.callerIP, "127.0.0.1", "dlq entry: caller IP");

    const raw = await rawRequest("GET", `${baseUrl}/v2/dlq/${m.dlqId}`, token);
    checkEq(raw.status, 200, "GET /v2/dlq/{dlqId} (plain HTTP): status");
    for (const k of ["dlqId", "messageId", "url", "method", "body", "header", "maxRetries", "responseStatus", "responseBody", "responseHeader", "createdAt", "notBefore", "labels"]) {
      checkEq(raw.json?.[k], m[k], `GET /v2/dlq/{dlqId}: ${k} as in listMessages`);
    }
    const missing = await rawRequest("GET", `${baseUrl}/v2/dlq/dlq_does_not_exist`, token);
    checkEq(missing.status, 404, "GET /v2/dlq/{unknown}: 404");

    const dlq = ids.map((id) => byMsg[id]?.dlqId);
    for (const [opts, want, what] of [
      [{ dlqIds: [dlq[1], dlq[2]] }, [ids[1], ids[2]], "dlqIds"],
      [{ filter: { messageId: ids[3] } }, [ids[3]], "messageId"],
      [{ filter: { url: `${S}${paths[4]}?n=4` } }, [ids[4]], "url"],
      [{ filter: { label: ["js-dlq-5", "js-dlq-6"] } }, [ids[5], ids[6]], "label [a, b]"],
      [{ filter: { responseStatus: 500, label: "js-dlq" } }, ids, "responseStatus + label"],
      [{ filter: { responseStatus: 404 } }, [], "responseStatus 404"],
      [{ filter: { label: "js-dlq", fromDate: Date.now() + 60000 } }, [], "fromDate in the future"],
      [{ filter: { label: "js-dlq", toDate: new Date() } }, ids, "toDate now (Date)"],
    ]) {
      const page = await client.dlq.listMessages(opts);
      checkEq(page.messages.map((x) => x.messageId).sort(), [...want].sort(), `listMessages ${what}`);
    }

    const seen = [];
    let cursor;
    let pages = 0;
    do {
      const page = await client.dlq.listMessages({ count: 3, cursor, filter: { label: "js-dlq" } });
      pages += 1;
      check(page.messages.length <= 3, `listMessages count=3 page ${pages}: at most 3 entries`);
      if (pages === 1) check(page.cursor !== undefined, "listMessages count=3: first page has a cursor");
      seen.push(...page.messages.map((x) => x.messageId));
      cursor = page.cursor;
    } while (cursor !== undefined && pages < 8);
    checkEq(cursor, undefined, "listMessages pagination ends with no cursor");
    checkEq([...seen].sort(), [...ids].sort(), "listMessages pagination: every entry once");

    // Retries, now that the sink answers 200 on those paths.
    for (const p of paths.slice(0, 4)) sink.set(p, { status: 200, body: "ok now" });
    const retried = [];
    const r0 = await client.dlq.retry(dlq[0]);
    checkEq(r0.cursor, undefined, "retry(id): no cursor");
    checkEq(r0.responses?.length, 1, "retry(id): one response");
    retried.push([0, r0.responses?.[0]?.messageId, "retry(id)"]);
    const r1 = await client.dlq.retry([dlq[1]]);
    checkEq(r1.responses?.length, 1, "retry([id]): one response");
    retried.push([1, r1.responses?.[0]?.messageId, "retry([id])"]);
    const r2 = await client.dlq.retry({ filter: { messageId: ids[2] } });
    checkEq(r2.responses?.length, 1, "retry({filter: {messageId}}): one response");
    checkEq(r2.cursor, undefined, "retry({filter}): no cursor when done");
    retried.push([2, r2.responses?.[0]?.messageId, "retry({filter})"]);
    const r3 = await rawRequest("POST", `${baseUrl}/v2/dlq/retry/${dlq[3]}`, token);
    checkEq(r3.status, 201, "POST /v2/dlq/retry/{dlqId} (plain HTTP): status 201");
    retried.push([3, r3.json?.messageId, "POST /v2/dlq/retry/{dlqId}"]);
    for (const [i, newId, what] of retried) {
      check(typeof newId === "string" && newId && newId !== ids[i], `${what}: a new messageId`, show(newId));
      const rec = await sink.waitFor((r) => onPath(paths[i])(r) && r.headers["upstash-message-id"] === newId, 10000);
      if (check(rec !== undefined, `${what}: the message is delivered again`)) {
        checkEq(rec.method, "PUT", `${what} delivery: method`);
        checkEq(rec.path, `${paths[i]}?n=${i}`, `${what} delivery: path and query`);
        checkEq(rec.body.toString(), `dlq body ${i}`, `${what} delivery: body`);
        checkEq(rec.headers["d-header"], `d${i}`, `${what} delivery: forwarded header`);
        checkDeliveryBasics(rec, `${what} delivery`, newId);
        await verify(rec, `${what} delivery`);
      }
    }
    if (retried[0][1]) await checkStateSequence(retried[0][1], ["CREATED", "ACTIVE", "DELIVERED"], "retried DLQ message");
    const left = await client.dlq.listMessages({ filter: { label: "js-dlq" } });
    checkEq(left.messages.map((x) => x.messageId).sort(), ids.slice(4).sort(), "retried entries left the DLQ");
    const again = await rawRequest("POST", `${baseUrl}/v2/dlq/retry/${dlq[0]}`, token);
    checkEq(again.status, 404, "retry of a removed DLQ entry: 404");

    checkEq(await client.dlq.delete(dlq[4]), { deleted: 1 }, "dlq.delete(id)");
    await expectQstashError(() => client.dlq.delete(dlq[4]), "second dlq.delete(id)", 404);
    const d5 = await client.dlq.delete([dlq[5], "dlq_does_not_exist"]);
    checkEq(d5, { deleted: 1 }, "dlq.delete([ids]) (unknown ids not counted, no cursor)");
    checkEq(await client.dlq.deleteMany({ dlqIds: [dlq[6]] }), { deleted: 1 }, "dlq.deleteMany({dlqIds}) (deprecated)");
    checkEq(await client.dlq.delete({ filter: { label: "js-dlq-7" } }), { deleted: 1 }, "dlq.delete({filter: {label}})");
    const before = await client.dlq.listMessages();
    checkEq(before.messages.length, 2, "DLQ holds the entries of steps 8 and 9");
    checkEq(await client.dlq.delete({ all: true }), { deleted: before.messages.length }, "dlq.delete({all: true}): every remaining entry");
    const empty = await client.dlq.listMessages();
    checkEq(empty, { messages: [], cursor: undefined }, "listMessages: empty DLQ, no cursor");
  });

  // ---- 11. logs ---------------------------------------------------------------
  await step("logs and events: filters and pagination", async () => {
    const mid = state.deliveredId;
    const other = state.failRetryId;
    check(mid !== undefined && other !== undefined, "messages from steps 3 and 8", undefined, true);
    let res = await client.logs({ filter: { messageId: mid, state: "DELIVERED" } });
    checkEq(res.logs.map((l) => [l.messageId, l.state]), [[mid, "DELIVERED"]], "logs filter messageId + state DELIVERED: one entry");
    checkEq(res.events, res.logs, "logs: events mirrors logs");
    res = await client.events({ messageIds: [mid, other] });
    checkEq([...new Set(res.logs.map((l) => l.messageId))].sort(), [mid, other].sort(), "events({messageIds})");
    res = await client.logs({ filter: { label: "js-fail", state: "FAILED" } });
    checkEq(res.logs.map((l) => l.messageId), [other], "logs filter label + state FAILED");
    res = await client.logs({ filter: { url: [`${S}/js/deliver/json`, `${S}/js/deliver/binary`] } });
    check(res.logs.length >= 6 && res.logs.every((l) => [`${S}/js/deliver/json`, `${S}/js/deliver/binary`].includes(l.url)),
      "logs filter url [a, b]", show(res.logs.map((l) => l.url)));
    res = await client.logs({ messageIds: [mid], filter: undefined });
    check(res.logs.length === 3, "logs({messageIds: [id]}): 3 entries");
    res = await client.logs({ filter: { messageId: other, state: "IN_PROGRESS" } });
    checkEq([...new Set(res.logs.map((l) => l.state))].sort(), ["ACTIVE", "ERROR", "RETRY"], "state IN_PROGRESS matches ACTIVE, RETRY and ERROR (§4.9)");
    res = await client.logs({ filter: { messageId: mid, fromDate: Date.now() + 60000 } });
    checkEq(res.logs, [], "logs fromDate in the future: nothing");

    res = await client.logs({ count: 100 });
    const bad = res.logs.slice(1).map((b, i) => [res.logs[i], b]).filter(([a, b]) => b.time > a.time);
    check(res.logs.length > 20 && bad.length === 0, "logs: entries newest first (§4.9)",
      `${res.logs.length} entries, ${bad.length} out of order, first: ` +
        (bad.length ? `${bad[0][0].time} ${bad[0][0].state} ${bad[0][0].messageId} listed before ${bad[0][1].time} ${bad[0][1].state} ${bad[0][1].messageId}` : "-"));

    const seen = [];
    let cursor;
    let pages = 0;
    do {
      const page = await client.logs({ count: 2, cursor, filter: { messageId: other } });
      pages += 1;
      check(page.logs.length <= 2, `logs count=2 page ${pages}: at most 2 entries`);
      check(page.cursor !== "", `logs page ${pages}: cursor is never an empty string`);
      seen.push(...page.logs.map((l) => [l.time, l.state]));
      cursor = page.cursor;
    } while (cursor !== undefined && pages < 10);
    const full = await client.logs({ filter: { messageId: other } });
    checkEq(seen, full.logs.map((l) => [l.time, l.state]), "logs cursor pages == the full list");
    check(pages >= 4, "logs count=2 over 7 entries: several pages", `${pages} pages`);
    checkEq(full.cursor, undefined, "logs: no cursor on the last page");

    const raw = await rawRequest("GET", `${baseUrl}/v2/logs?messageId=${mid}`, token);
    checkEq(raw.status, 200, "GET /v2/logs: status");
    checkEq(raw.json?.logs?.map((e) => e.state), ["DELIVERED", "ACTIVE", "CREATED"], "GET /v2/logs: logs array (openapi shape)");
    checkEq(raw.json?.events, raw.json?.logs, "GET /v2/logs: events key too");
    check(raw.json && !("cursor" in raw.json), "GET /v2/logs: no cursor on the last page", show(raw.json?.cursor));
    const ev = await rawRequest("GET", `${baseUrl}/v2/events?messageId=${other}`, token);
    const errors = (ev.json?.events ?? []).filter((e) => e.state === "ERROR");
    if (check(errors.length === 2, "GET /v2/events: two ERROR entries", `${errors.length}`)) {
      checkEq(errors[0].responseHeader?.["X-Fail"], ["f1"], "ERROR entry: responseHeader");
      checkEq(errors[0].responseHeaders?.["X-Fail"], ["f1"], "ERROR entry: responseHeaders (both, §6.6)");
      checkEq(fromB64(errors[0].responseBody)?.toString(), "boom", "ERROR entry: responseBody base64 (§6.6)");
    }
    const nulls = [...new Set((ev.json?.events ?? []).flatMap((e) => Object.entries(e).filter(([, v]) => v === null).map(([k]) => k)))];
    checkEq(nulls, [], "log entries: no null fields (§6)");
  });

  // ---- 12. timed deliveries, cancelled messages never delivered -----------
  await step("delayed deliveries and cancelled messages", async () => {
    check(timed.delay && timed.notBefore && timed.both, "step 2 published the timed messages", undefined, true);
    const { id, t0, t1 } = timed.delay;
    const rec = await sink.waitFor(onPath("/js/timed/delay"), t1 + 9000 - Date.now());
    if (check(rec !== undefined, "delay 3: delivered")) {
      checkBetween(rec.receivedAt - t0, 3000 - 50, t1 - t0 + 8000, "delay 3: ms after publish");
      checkDeliveryBasics(rec, "delayed delivery", id);
      await verify(rec, "delayed delivery");
    }
    for (const [key, path] of [["notBefore", "/js/timed/not-before"], ["both", "/js/timed/both"]]) {
      const { id: tid, nb } = timed[key];
      const r = await sink.waitFor(onPath(path), nb * 1000 + 6000 - Date.now());
      if (check(r !== undefined, `${key}: delivered`)) {
        checkBetween(r.receivedAt, nb * 1000 - 50, nb * 1000 + 5000, `${key}: delivery time vs not-before ${nb}`);
        checkEq(r.headers["upstash-message-id"], tid, `${key}: message id`);
        await verify(r, `${key} delivery`);
      }
    }
    await checkStateSequence(id, ["CREATED", "ACTIVE", "DELIVERED"], "delayed message");

    const wait = cancelled.due + 2000 - Date.now();
    if (wait > 0) await sleep(wait);
    checkEq(sink.matching((r) => r.path.startsWith("/js/cancel/")).map((r) => r.path), [],
      "cancelled messages were never delivered (nor their callbacks)");
    if (state.cancelledOne) {
      await checkStateSequence(state.cancelledOne, ["CREATED", "CANCEL_REQUESTED", "CANCELED"], "cancelled message", ["CANCELED"]);
    }
    for (const mid of cancelled.ids) {
      const states = (await client.logs({ messageIds: [mid] })).logs.map((l) => l.state);
      check(!states.includes("DELIVERED") && !states.includes("ACTIVE") && states.includes("CANCELED"),
        `cancelled ${mid}: logs end CANCELED, never ACTIVE`, `states ${show(states)}`);
    }
  });

  // ---- 13. signing keys (plain HTTP: the JS SDK has no keys API) -----------
  await step("signing keys and rotation", async () => {
    const k = await rawRequest("GET", `${baseUrl}/v2/keys`, token);
    checkEq(k.json, { current: keys.current, next: keys.next }, "GET /v2/keys: the keys printed at startup");
    const old = { ...keys };
    const r = await rawRequest("POST", `${baseUrl}/v2/keys/rotate`, token);
    check(r.status >= 200 && r.status < 300, "POST /v2/keys/rotate: 2xx", `got ${r.status} ${r.text}`, true);
    checkEq(r.json?.current, old.next, "rotate: the old next key becomes current");
    check(typeof r.json?.next === "string" && /^sig_.{28}$/.test(r.json.next) && ![old.current, old.next].includes(r.json.next),
      "rotate: a fresh next key (sig_ + 28 characters)", show(r.json?.next));
    const k2 = await rawRequest("GET", `${baseUrl}/v2/keys`, token);
    checkEq(k2.json, r.json, "GET /v2/keys after rotate");
    keys.current = r.json.current;
    keys.next = r.json.next;

    const dest = `${S}/js/rotated?k=1`;
    const res = await client.publishJSON({ url: dest, body: { after: "rotate" } });
    const rec = await sink.waitFor(onPath("/js/rotated"), 10000);
    check(rec !== undefined, "delivery after rotation", undefined, true);
    checkEq(rec.headers["upstash-message-id"], res.messageId, "delivery after rotation: message id");
    await verify(rec, "delivery after rotation (new keys)");
    const signature = rec.headers["upstash-signature"];
    const body = rec.body.toString("utf8");
    try {
      await new Receiver({ currentSigningKey: keys.current, nextSigningKey: "sig_wrongwrongwrongwrongwrong", devMode: false })
        .verify({ signature, body, url: dest });
      check(true, "delivery after rotation: signed with the new current key");
    } catch (e) {
      check(false, "delivery after rotation: signed with the new current key", e?.message);
    }
    try {
      await new Receiver({ currentSigningKey: old.current, nextSigningKey: old.next, devMode: false }).verify({ signature, body, url: dest });
      check(true, "Receiver with the pre-rotation keys still verifies (via its next key)");
    } catch (e) {
      check(false, "Receiver with the pre-rotation keys still verifies (via its next key)", e?.message);
    }
    try {
      await new Receiver({ currentSigningKey: old.current, nextSigningKey: old.current, devMode: false }).verify({ signature, body, url: dest });
      check(false, "the retired current key no longer verifies", "verification passed");
    } catch (e) {
      check(true, `the retired current key no longer verifies (${e?.message})`);
    }
  });

  sink.close();
  return summary();
}

run(main);
