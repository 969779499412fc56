// The checks every Workflow SDK program counts: each prints `ok   - …` or
// `FAIL - …`, and the program's last line is the tally `N passed, N failed`
// that tests/workflow.rs reads. One copy for workflow.test.mjs,
// dev_mode.test.mjs and harness.mjs (webhook.test.mjs, serve-many.test.mjs).

import { inspect, isDeepStrictEqual } from "node:util";

export const show = (v) => inspect(v, { depth: 6, breakLength: Infinity });
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0;
const failed = [];

// The counts so far: `tally.passed`, `tally.failed` (the failed messages).
export const tally = {
  get passed() {
    return passed;
  },
  get failed() {
    return failed;
  },
};

// Counts a failure that is not a check (an exception, a deadline).
export function fail(msg) {
  failed.push(msg);
  console.log(`FAIL - ${msg}`);
}

export function check(cond, what, detail) {
  if (cond) {
    passed += 1;
    console.log(`ok   - ${what}`);
    return true;
  }
  fail(detail === undefined ? what : `${what}: ${detail}`);
  return false;
}

export const checkEq = (actual, expected, what) =>
  check(isDeepStrictEqual(actual, expected), `${what} == ${show(expected)}`, `got ${show(actual)}`);

// Polls fn until it returns a truthy value; returns it, or undefined after
// timeoutMs.
export async function waitFor(fn, timeoutMs, intervalMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= end) return undefined;
    await sleep(intervalMs);
  }
}
