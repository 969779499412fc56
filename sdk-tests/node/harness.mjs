// Shared harness of the JS SDK programs (schedules.test.mjs,
// messages.test.mjs): check bookkeeping, steps, the recording HTTP sink and
// plain-HTTP helpers. Not a test itself.

import http from "node:http";
import { isDeepStrictEqual, inspect } from "node:util";
import { QstashError } from "@upstash/qstash";

// ---------------------------------------------------------------------------
// Check bookkeeping: failed checks are recorded and the program goes on, so a
// single run reports every problem; the exit status is 1 if any check failed.
// ---------------------------------------------------------------------------

let passed = 0;
const failed = [];

export class StepAborted extends Error {}

export const show = (v) => inspect(v, { depth: 5, breakLength: Infinity });

export function check(cond, what, detail, required = false) {
  if (cond) {
    passed += 1;
    console.log(`ok   - ${what}`);
    return true;
  }
  const msg = detail === undefined ? what : `${what}: ${detail}`;
  failed.push(msg);
  console.log(`FAIL - ${msg}`);
  if (required) throw new StepAborted(msg);
  return false;
}

export function checkEq(actual, expected, what, required = false) {
  return check(isDeepStrictEqual(actual, expected), `${what} == ${show(expected)}`, `got ${show(actual)}`, required);
}

export function checkBetween(value, lo, hi, what, required = false) {
  return check(
    typeof value === "number" && value >= lo && value <= hi,
    `${what} in [${lo}, ${hi}]`,
    `got ${show(value)}`,
    required,
  );
}

export async function step(name, fn) {
  console.log(`\n== ${name}`);
  try {
    await fn();
  } catch (e) {
    if (e instanceof StepAborted) {
      console.log(`   (rest of step '${name}' skipped)`);
      return;
    }
    const msg = `${name}: unexpected ${e?.name}: ${e?.message}`;
    failed.push(msg);
    console.log(`FAIL - ${msg}`);
    console.log(e?.stack);
  }
}

// Prints the totals and the failed checks; returns the exit status.
export function summary() {
  console.log(`\n${passed} passed, ${failed.length} failed`);
  if (failed.length > 0) {
    console.log("\nFailed checks:");
    for (const f of failed) console.log(`  - ${f}`);
    return 1;
  }
  return 0;
}

// Runs the program's async main and exits with its status (1 on a throw).
export function run(main) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.log(`FAIL - unexpected error: ${e?.stack ?? e}`);
      process.exit(1);
    },
  );
}

export function env(name) {
  const v = process.env[name];
  if (!v) {
    console.log(`FAIL - environment variable ${name} is not set`);
    process.exit(2);
  }
  return v;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const b64 = (buf) => Buffer.from(buf).toString("base64");
export const fromB64 = (s) => (typeof s === "string" ? Buffer.from(s, "base64") : undefined);
export const isMs = (v) => Number.isInteger(v) && v > 1_600_000_000_000;

export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// HTTP sink: records method, path, headers (lower-cased, plus the raw names)
// and raw body bytes of each request, and answers each path as configured;
// by default 200 "ok".
// ---------------------------------------------------------------------------

export class Sink {
  constructor() {
    this.requests = [];
    this.waiters = [];
    this.behaviour = new Map(); // path (no query) -> {status, body, headers, delayMs}
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const record = {
          method: req.method,
          path: req.url,
          headers: req.headers, // lower-cased names
          headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0),
          body: Buffer.concat(chunks),
          receivedAt: Date.now(),
          respondedAt: undefined,
        };
        this.requests.push(record);
        this.notify();
        const beh = this.behaviour.get(req.url.split("?")[0]) ?? {};
        const reply = () => {
          if (!res.destroyed) {
            res.writeHead(beh.status ?? 200, { "Content-Type": "text/plain", ...(beh.headers ?? {}) });
            res.end(beh.body ?? "ok");
          }
          record.respondedAt = Date.now();
          this.notify();
        };
        if (beh.delayMs) setTimeout(reply, beh.delayMs);
        else reply();
      });
    });
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  set(path, beh) {
    this.behaviour.set(path, beh);
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = this.server.address().port;
    this.base = `http://127.0.0.1:${this.port}`;
  }

  matching(predicate) {
    return this.requests.filter(predicate);
  }

  // Resolves with every matching request once there are at least n (or with
  // what there is when the timeout passes).
  waitCount(predicate, n, timeoutMs) {
    return new Promise((resolve) => {
      const hits = () => this.requests.filter(predicate);
      if (hits().length >= n) return resolve(hits());
      const waiter = () => {
        if (hits().length >= n) done();
      };
      const timer = setTimeout(() => done(), Math.max(0, timeoutMs));
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(hits());
      };
      this.waiters.push(waiter);
    });
  }

  // The first matching request (undefined when the timeout passes first).
  async waitFor(predicate, timeoutMs) {
    return (await this.waitCount(predicate, 1, timeoutMs))[0];
  }

  close() {
    this.server.closeAllConnections?.();
    this.server.close();
  }
}

export const onPath = (p) => (r) => r.path.split("?")[0] === p;

// ---------------------------------------------------------------------------
// Plain HTTP and SDK errors
// ---------------------------------------------------------------------------

// Plain HTTP to the server (for what the SDK cannot send or hides).
export async function rawRequest(method, url, token, headers = {}, body = undefined) {
  const res = await fetch(url, { method, headers: { Authorization: `Bearer ${token}`, ...headers }, body });
  const text = await res.text();
  return { status: res.status, text, json: parseJson(text) };
}

// Runs fn, which must throw QstashError; with a status, also checks the HTTP
// status and the {"error": "..."} body. Returns the error (or undefined).
export async function expectQstashError(fn, what, status = undefined) {
  try {
    await fn();
  } catch (e) {
    if (e instanceof QstashError) {
      check(true, `${what} throws QstashError (status ${e.status}: ${e.message})`);
      if (status !== undefined) {
        checkEq(e.status, status, `${what}: status`);
        const body = parseJson(e.message);
        check(typeof body?.error === "string", `${what}: body is {"error": "..."}`, `got ${show(e.message)}`);
      }
      return e;
    }
    check(false, `${what} throws QstashError`, `threw ${e?.name}: ${e?.message}`);
    return undefined;
  }
  check(false, `${what} throws QstashError`, "nothing thrown");
  return undefined;
}
