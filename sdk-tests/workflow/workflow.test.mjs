#!/usr/bin/env node
// End-to-end test of Upstash Workflow on cronhook: the example app in
// examples/workflow (imported, not copied) runs its workflow with the official
// SDK (@upstash/workflow 1.3.3, @upstash/qstash 2.12.0) against a real
// `cronhook serve` that this program starts, kills with SIGKILL and restarts.
//
//   CRONHOOK_BIN=target/debug/cronhook node sdk-tests/workflow/workflow.test.mjs
//
// Run by tests/workflow.rs after sdk-tests/setup-workflow.sh. Exit 0 means
// every check passed; each failed check prints `FAIL - ...`, and the last
// line is `N passed, N failed`.
//
// Environment:
//   CRONHOOK_BIN      the cronhook binary (required)
//   WORK_DIR          a scratch directory for the database and env file
//                     (default: a new temporary directory, removed at exit)
//   CRONHOOK_PIDFILE  appends the pid of every cronhook started here, so the
//                     caller can kill a leftover one if this program is killed
//
// What is checked (issue #5), with the runs started for it:
//   A  client.trigger: every step once, in order; the sleep is honoured; the
//      context.call response reaches the next step; both parallel steps run
//      once; waitForEvent returns the data of notify.mjs (client.notify); the
//      trigger's header reaches every step; client.logs says RUN_SUCCESS.
//   T  trigger.mjs (the README command): the same, with waitForEvent timing
//      out after 2 s.
//   S  a cronhook schedule (6-field cron with Cronhook-Cron-Seconds) aimed at
//      the workflow: a complete run, deleted after its first run started, and
//      no run after the delete.
//   F  a failing step, 1 retry: tried twice, then the failure function gets
//      the original payload and headers; RUN_FAILED; the run in client.dlq.
//   C  client.cancel of a sleeping run: the step after the sleep never runs;
//      RUN_STARTED before, RUN_CANCELED after.
//   K  kill -9 of cronhook while a run sleeps, restart on the same database:
//      the run completes, RUN_STARTED across the restart, then RUN_SUCCESS.
//   and schedule.mjs / runs.mjs (README commands) against the server.
//
// Wire contract: docs/workflow-wire.md (sections cited below).

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { check, checkEq, fail, show, sleep, tally, waitFor } from "./checks.mjs";
import { createApp } from "../../examples/workflow/server.mjs";
import { SCHEDULE_ID, eventIdFor, qstashClient, workflowClient } from "../../examples/workflow/clients.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE_DIR = path.resolve(HERE, "../../examples/workflow");
const T0 = Date.now();
// The whole program stays well under the caller's timeout.
const DEADLINE_MS = 100_000;
// cronhook's default backoff (12 s for the first retry) times this.
const RETRY_SCALE = "0.01";

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

const stamp = () => `${((Date.now() - T0) / 1000).toFixed(2)}s`;

// Runs one part of the test; an exception fails it and the rest goes on.
async function part(name, fn) {
  try {
    await fn();
  } catch (e) {
    fail(`${name}: unexpected ${e?.name}: ${e?.message}`);
    console.log(e?.stack);
  }
}

// ---------------------------------------------------------------------------
// cronhook, started and killed here (by its pid only)
// ---------------------------------------------------------------------------

const SCRUB = [
  "QSTASH_URL", "QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY",
  "QSTASH_DEV", "QSTASH_DEV_PORT", "QSTASH_REGION", "UPSTASH_REGION", "UPSTASH_WORKFLOW_URL",
  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
];

function scrubbedEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of SCRUB) delete env[k];
  return { ...env, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost", ...extra };
}

class Cronhook {
  constructor(bin, db, pidfile) {
    this.bin = bin;
    this.db = db;
    this.pidfile = pidfile;
    this.child = undefined;
    this.stdout = "";
    this.stderr = "";
    this.logs = []; // stderr of every instance, for the failure report
    this.vars = {};
  }

  // Starts `cronhook serve` on `listen` and waits until it prints its
  // variables and /healthz answers 200. Retries a few times when the port is
  // not free yet (restart on the same port).
  async start(listen) {
    let lastError;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        return await this.startOnce(listen);
      } catch (e) {
        lastError = e;
        await sleep(300);
      }
    }
    throw lastError;
  }

  async startOnce(listen) {
    const args = ["serve", "--listen", listen, "--db", this.db, "--retry-scale", RETRY_SCALE];
    const child = spawn(this.bin, args, { env: scrubbedEnv({ NO_COLOR: "1" }), stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.stdout = "";
    this.stderr = "";
    this.vars = {};
    const log = { pid: child.pid, text: "" };
    this.logs.push(log);
    if (this.pidfile && child.pid) fs.appendFileSync(this.pidfile, `${child.pid}\n`);
    child.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    child.stdout.on("data", (d) => {
      this.stdout += d;
    });
    child.stderr.on("data", (d) => {
      this.stderr += d;
      log.text += d;
    });
    let exited;
    child.exited.then((s) => {
      exited = s;
    });
    const wanted = ["QSTASH_URL", "QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"];
    const ready = await waitFor(() => {
      if (exited) return true;
      for (const line of this.stdout.split("\n")) {
        const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
        if (m) this.vars[m[1]] = m[2];
      }
      return wanted.every((k) => this.vars[k]);
    }, 30_000);
    if (exited || !ready) {
      if (!exited) await this.kill9();
      throw new Error(
        `cronhook ${args.join(" ")} did not start (${exited ? show(exited) : "no variables printed"})\n` +
          `stdout: ${this.stdout}\nstderr: ${this.stderr.slice(-4000)}`,
      );
    }
    this.url = this.vars.QSTASH_URL;
    this.port = Number(new URL(this.url).port);
    const healthy = await waitFor(async () => {
      try {
        return (await fetch(`${this.url}/healthz`)).status === 200;
      } catch {
        return false;
      }
    }, 30_000);
    if (!healthy) {
      // Do not leave it running: the next start would replace this child.
      await this.kill9();
      throw new Error(`cronhook at ${this.url}: /healthz did not answer 200`);
    }
    console.log(`# ${stamp()} cronhook pid ${child.pid} at ${this.url}`);
    return this;
  }

  async kill9() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGKILL");
    await child.exited;
  }

  killNowSync() {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }

  // The variables as `cronhook serve` printed them: an env file for
  // `node --env-file` (README, Workflows).
  writeEnvFile(file) {
    fs.writeFileSync(file, this.stdout);
  }

  logTail(n) {
    const all = this.logs.map((l) => `--- cronhook pid ${l.pid} stderr ---\n${l.text}`).join("\n");
    return all.length <= n ? all : `…${all.slice(-n)}`;
  }
}

// ---------------------------------------------------------------------------
// Example scripts, run as the README says: `node --env-file=cronhook.env X.mjs`
// in examples/workflow, with nothing of ours in their environment.
// ---------------------------------------------------------------------------

// In dev mode (extraEnv.QSTASH_DEV) the script preloads ../node/no-download.mjs,
// so a failed dev-server probe can never make the SDK download anything.
const GUARD = new URL("../node/no-download.mjs", import.meta.url).href;
function runScript(envFile, appUrl, script, args = [], extraEnv = {}) {
  const guard = extraEnv.QSTASH_DEV ? ["--import", GUARD] : [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...guard, `--env-file=${envFile}`, script, ...args], {
      cwd: EXAMPLE_DIR,
      env: scrubbedEnv({ UPSTASH_WORKFLOW_URL: appUrl, ...extraEnv }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------
// Workflow helpers
// ---------------------------------------------------------------------------

const RUN_STEPS = ["start", "after-sleep", "use-call", "par-a", "par-b", "after-wait"];

async function main() {
  const bin = process.env.CRONHOOK_BIN;
  if (!bin) {
    console.log("FAIL - CRONHOOK_BIN is not set");
    return 2;
  }
  const ownDir = !process.env.WORK_DIR;
  const workDir = process.env.WORK_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "cronhook-wf-"));
  const envFile = path.join(workDir, "cronhook.env");
  const cronhook = new Cronhook(bin, path.join(workDir, "cronhook.db"), process.env.CRONHOOK_PIDFILE);
  let app;

  const cleanup = () => {
    cronhook.killNowSync();
    app?.server.closeAllConnections?.();
    app?.server.close();
    if (ownDir) fs.rmSync(workDir, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  setTimeout(() => {
    console.log(`FAIL - the test did not finish within ${DEADLINE_MS / 1000} s`);
    console.log(`\n${tally.passed} passed, ${tally.failed.length + 1} failed`);
    console.log(cronhook.logTail(20_000));
    process.exit(1);
  }, DEADLINE_MS).unref();

  await cronhook.start("127.0.0.1:0");
  cronhook.writeEnvFile(envFile);

  // The app's environment, as `node --env-file=cronhook.env server.mjs` has
  // it: cronhook's URL and token, and both signing keys, so that `serve`
  // verifies every delivery (§4). QSTASH_DEV stays unset (§5).
  for (const k of SCRUB) delete process.env[k];
  for (const [k, v] of Object.entries(cronhook.vars)) process.env[k] = v;
  process.env.NO_PROXY = "127.0.0.1,localhost";

  // Every non-2xx answer of the workflow endpoint (server.mjs logs them).
  const refusals = [];
  app = createApp({
    log: (line) => {
      console.log(`# ${stamp()} app: ${line}`);
      if (line.startsWith("workflow endpoint answered")) refusals.push(line);
    },
  });
  await new Promise((resolve) => app.server.listen(0, "127.0.0.1", resolve));
  const appUrl = `http://127.0.0.1:${app.server.address().port}`;
  const wfUrl = `${appUrl}/workflow`;
  process.env.UPSTASH_WORKFLOW_URL = appUrl; // for clients.mjs workflowUrl()
  console.log(`# ${stamp()} example app at ${wfUrl}`);

  const client = workflowClient();
  const entries = (runId) => app.journal.filter((e) => e.runId === runId);
  const entry = (runId, step) => entries(runId).find((e) => e.step === step);
  const stepNames = (runId) => entries(runId).map((e) => e.step).filter((s) => s !== "echo");
  const waitStep = (runId, step, ms) => waitFor(() => entry(runId, step), ms);

  // client.logs (GET /v2/workflows/events, §1 #11): the run's state.
  const runState = async (runId) => {
    try {
      const { runs } = await client.logs({ filter: { workflowRunId: runId } });
      const run = (runs ?? []).find((r) => r.workflowRunId === runId);
      return run ? run.workflowState : `no run in ${show(runs)}`;
    } catch (e) {
      return `client.logs threw ${e?.name}: ${e?.message}`;
    }
  };
  const checkState = async (label, runId, want, ms = 5000) => {
    let last;
    await waitFor(async () => (last = await runState(runId)) === want, ms, 200);
    checkEq(last, want, `${label}: client.logs workflowState`);
  };

  // Every step once and in order, the sleep honoured, the call result in the
  // next step, the trigger's header on every step, the wait's outcome.
  const checkCompleted = async (label, runId, { sleepSeconds, user, timedOut, eventData, waitSeconds }) => {
    const done = await waitStep(runId, "after-wait", 30_000);
    if (!check(done, `${label}: run ${runId} reached its last step`, `journal: ${show(stepNames(runId))}`)) return;
    const names = stepNames(runId);
    checkEq(
      names.filter((n) => !n.startsWith("par-")),
      ["start", "after-sleep", "use-call", "after-wait"],
      `${label}: sequential steps, each once, in order`,
    );
    checkEq(names.filter((n) => n === "par-a").length, 1, `${label}: par-a ran`);
    checkEq(names.filter((n) => n === "par-b").length, 1, `${label}: par-b ran`);
    const idx = (n) => names.indexOf(n);
    check(
      idx("use-call") < Math.min(idx("par-a"), idx("par-b")) &&
        Math.max(idx("par-a"), idx("par-b")) < idx("after-wait"),
      `${label}: the parallel steps ran after use-call and before after-wait`,
      show(names),
    );
    check(
      names.every((n) => RUN_STEPS.includes(n)),
      `${label}: no other step ran`,
      show(names),
    );

    const start = entry(runId, "start");
    const woke = entry(runId, "after-sleep");
    const gap = woke.at - start.at;
    check(
      gap >= sleepSeconds * 1000,
      `${label}: sleep honoured (${gap} ms between start and after-sleep >= ${sleepSeconds * 1000} ms)`,
    );
    check(
      gap < sleepSeconds * 1000 + 5000,
      `${label}: sleep not much longer than asked (${gap} ms < ${sleepSeconds * 1000 + 5000} ms)`,
    );

    const used = entry(runId, "use-call");
    checkEq(used.status, 200, `${label}: context.call status reached use-call`);
    const body = typeof used.body === "string" ? JSON.parse(used.body) : used.body;
    checkEq(
      body?.echoed,
      { runId, startedAt: start.at },
      `${label}: context.call response body reached use-call`,
    );
    checkEq(
      app.journal.filter((e) => e.step === "echo" && e.runId === runId).length,
      1,
      `${label}: /echo was called once`,
    );

    checkEq(
      [...new Set(entries(runId).filter((e) => e.step !== "echo").map((e) => e.user))],
      [user],
      `${label}: x-example-user header on every step`,
    );

    checkEq(done.timeout, timedOut, `${label}: waitForEvent timeout flag`);
    checkEq(done.eventData, eventData, `${label}: waitForEvent eventData`);
    if (timedOut) {
      const parEnd = Math.max(entry(runId, "par-a").at, entry(runId, "par-b").at);
      check(
        done.at - parEnd >= waitSeconds * 1000,
        `${label}: the wait lasted its timeout (${done.at - parEnd} ms >= ${waitSeconds * 1000} ms)`,
      );
    }
    await checkState(label, runId, "RUN_SUCCESS");
  };

  // -------------------------------------------------------------------------
  // Phase 1: runs A, T, S, F and C at the same time.
  // -------------------------------------------------------------------------
  console.log(`\n== ${stamp()} phase 1: trigger, schedule, failure, cancel`);

  const runA = part("A (trigger + notify)", async () => {
    const payload = { sleepSeconds: 2, waitTimeout: "30s" };
    const { workflowRunId: id } = await client.trigger({
      url: wfUrl,
      body: payload,
      headers: { "x-example-user": "ann" },
      retries: 1,
    });
    console.log(`# ${stamp()} A is ${id}`);
    check(/^wfr_/.test(id), `A: client.trigger returned a run id`, show(id));
    // The waiter exists once the run is past its parallel steps; until then
    // a notify wakes nobody (no lookback without a run id, §3.7). notify.mjs
    // is the README's command: it calls client.notify.
    const parallelDone = await waitFor(() => entry(id, "par-a") && entry(id, "par-b"), 30_000);
    if (!check(parallelDone, "A: both parallel steps ran", show(stepNames(id)))) return;
    let last;
    const woken = await waitFor(
      async () => {
        last = await runScript(envFile, appUrl, "notify.mjs", [id, JSON.stringify({ approvedBy: "bob" })]);
        return last.code === 0 && /: 1 waiting run\(s\) got it/.test(last.stdout);
      },
      10_000,
      200,
    );
    check(woken, `A: notify.mjs woke the waiting run`, show(last));
    await checkCompleted("A", id, {
      sleepSeconds: 2,
      user: "ann",
      timedOut: false,
      eventData: { approvedBy: "bob" },
    });
    checkEq(entry(id, "start").input, payload, "A: the payload reached the first step");
  });

  const runT = part("T (trigger.mjs + wait timeout)", async () => {
    const payload = { sleepSeconds: 1, waitTimeout: "2s" };
    const r = await runScript(envFile, appUrl, "trigger.mjs", [JSON.stringify(payload)]);
    const id = r.stdout.trim();
    if (!check(r.code === 0 && /^wfr_\S+$/.test(id), "T: trigger.mjs printed a run id", show(r))) return;
    console.log(`# ${stamp()} T is ${id}`);
    await checkCompleted("T", id, { sleepSeconds: 1, user: "ann", timedOut: true, eventData: undefined, waitSeconds: 2 });
  });

  const runS = part("S (cronhook schedule)", async () => {
    // Every 2 seconds: a 6-field cron needs cronhook's Cronhook-Cron-Seconds
    // header, which the SDK cannot send (it would prefix it with
    // Upstash-Forward-), so this create is plain HTTP. The firing is a plain
    // signed POST to the workflow URL, which the SDK turns into a run (§3.2).
    const scheduleId = "workflow-e2e-seconds";
    const payload = { sleepSeconds: 1, waitTimeout: "2s", tag: "scheduled" };
    const res = await fetch(`${cronhook.url}/v2/schedules/${wfUrl}`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${cronhook.vars.QSTASH_TOKEN}`,
        "Content-Type": "application/json",
        "Upstash-Cron": "*/2 * * * * *",
        "Cronhook-Cron-Seconds": "true",
        "Upstash-Schedule-Id": scheduleId,
        "Upstash-Forward-X-Example-User": "scheduler",
      },
      body: JSON.stringify(payload),
    });
    if (!check(res.ok, "S: schedule created", `${res.status} ${await res.clone().text()}`)) return;
    const isScheduled = (e) => e.step === "start" && e.input?.tag === "scheduled";
    let first;
    try {
      first = await waitFor(() => app.journal.find(isScheduled), 10_000);
    } finally {
      await qstashClient().schedules.delete(scheduleId);
    }
    const deletedAt = Date.now();
    if (!check(first, "S: the schedule started a run")) return;
    console.log(`# ${stamp()} S is ${first.runId}; schedule deleted`);
    await checkCompleted("S", first.runId, {
      sleepSeconds: 1,
      user: "scheduler",
      timedOut: true,
      eventData: undefined,
      waitSeconds: 2,
    });
    checkEq(first.input, payload, "S: the schedule's body reached the first step");
    // Slots more than 100 ms after the delete never fire.
    await sleep(Math.max(0, deletedAt + 2500 - Date.now()));
    const late = app.journal.filter((e) => isScheduled(e) && e.at > deletedAt + 1000);
    checkEq(late.map((e) => e.runId), [], "S: no run started after the schedule was deleted");
  });

  const runF = part("F (failure function)", async () => {
    const payload = { fail: "on purpose", sleepSeconds: 1 };
    const { workflowRunId: id } = await client.trigger({
      url: wfUrl,
      body: payload,
      headers: { "x-example-user": "fay" },
      retries: 1,
    });
    console.log(`# ${stamp()} F is ${id}`);
    const failure = await waitStep(id, "failure", 30_000);
    if (!check(failure, "F: the failure function ran", show(stepNames(id)))) return;
    await sleep(500); // a second failure call or a stray step would show now
    checkEq(stepNames(id), ["start", "explode", "explode", "failure"], "F: steps (1 try + 1 retry, then failure)");
    checkEq(failure.payload, payload, "F: failure function got the original payload");
    checkEq(failure.user, "fay", "F: failure function got the trigger's header");
    checkEq(failure.failStatus, 500, "F: failStatus");
    check(
      typeof failure.failResponse === "string" && failure.failResponse.includes("kaboom: on purpose"),
      "F: failResponse carries the step's error",
      show(failure.failResponse),
    );
    await checkState("F", id, "RUN_FAILED");
    // The failed run is in the workflow DLQ (§3.9, §1 #12), with the failing
    // answer and the failure function's outcome.
    let dlq;
    await waitFor(
      async () => {
        dlq = await client.dlq.list({ filter: { workflowRunId: id } }).catch((e) => `threw ${e?.name}: ${e?.message}`);
        return dlq?.messages?.[0]?.failureCallbackInfo?.state === "CALLBACK_SUCCESS";
      },
      5000,
      200,
    );
    const m = Array.isArray(dlq?.messages) ? dlq.messages : [];
    check(
      isDeepStrictEqual(
        m.map((x) => [x.workflowRunId, x.workflowUrl, x.responseStatus]),
        [[id, wfUrl, 500]],
      ),
      "F: client.dlq.list has the run, once, with its failing status 500",
      `got ${show(dlq)}`,
    );
    checkEq(
      m[0]?.failureCallbackInfo?.state,
      "CALLBACK_SUCCESS",
      "F: client.dlq.list: failureCallbackInfo.state (the failure function answered 200)",
    );
  });

  const runC = part("C (cancel while sleeping)", async () => {
    // Long enough that the kill, the restart and its health check fit in
    // it on a slow machine; the check below needs the run still asleep.
    const sleepSeconds = 6;
    const { workflowRunId: id } = await client.trigger({
      url: wfUrl,
      body: { sleepSeconds },
      headers: { "x-example-user": "cid" },
    });
    console.log(`# ${stamp()} C is ${id}`);
    const start = await waitStep(id, "start", 20_000);
    if (!check(start, "C: the run started")) return;
    await sleep(1000); // the sleep step is published right after start
    await checkState("C", id, "RUN_STARTED", 1000);
    const res = await client.cancel(id);
    checkEq(res, { cancelled: 1 }, "C: client.cancel answer");
    await sleep(Math.max(0, start.at + sleepSeconds * 1000 + 2000 - Date.now()));
    checkEq(stepNames(id), ["start"], "C: nothing ran after the cancel (sleep over for 2 s)");
    await checkState("C", id, "RUN_CANCELED");
  });

  await Promise.all([runA, runT, runS, runF, runC]);

  // -------------------------------------------------------------------------
  // Phase 2: kill -9 while a run sleeps, restart on the same database.
  // -------------------------------------------------------------------------
  console.log(`\n== ${stamp()} phase 2: kill -9 and restart`);
  await part("K (kill -9 mid-sleep)", async () => {
    // Long enough that the kill, the restart and its health check fit in
    // it on a slow machine; the check below needs the run still asleep.
    const sleepSeconds = 6;
    const { workflowRunId: id } = await client.trigger({
      url: wfUrl,
      body: { sleepSeconds, waitTimeout: "1s" },
      headers: { "x-example-user": "kim" },
    });
    console.log(`# ${stamp()} K is ${id}`);
    const start = await waitStep(id, "start", 20_000);
    if (!check(start, "K: the run started")) return;
    await sleep(1000); // the sleep step is stored by now
    const before = { url: cronhook.url, vars: { ...cronhook.vars } };
    console.log(`# ${stamp()} kill -9 cronhook pid ${cronhook.child.pid}`);
    await cronhook.kill9();
    // The app keeps cronhook's URL from its start (serve reads it once), so
    // the new server takes the same port.
    await cronhook.start(`127.0.0.1:${cronhook.port}`);
    cronhook.writeEnvFile(envFile);
    checkEq(cronhook.vars, before.vars, "K: the restarted cronhook prints the same variables");
    check(!entry(id, "after-sleep"), "K: the run was still asleep at the restart");
    await checkState("K", id, "RUN_STARTED", 1000);
    await checkCompleted("K", id, { sleepSeconds, user: "kim", timedOut: true, eventData: undefined, waitSeconds: 1 });
  });

  // -------------------------------------------------------------------------
  // Phase 3: the README's other commands.
  // -------------------------------------------------------------------------
  console.log(`\n== ${stamp()} phase 3: schedule.mjs and runs.mjs`);
  await part("schedule.mjs", async () => {
    const r = await runScript(envFile, appUrl, "schedule.mjs");
    check(
      r.code === 0 && r.stdout.includes(`${SCHEDULE_ID}: * * * * * -> ${wfUrl}`),
      "schedule.mjs created the every-minute schedule",
      show(r),
    );
    const s = await qstashClient().schedules.get(SCHEDULE_ID);
    checkEq([s.cron, s.destination], ["* * * * *", wfUrl], "schedule.mjs: the stored schedule");
    const d = await runScript(envFile, appUrl, "schedule.mjs", ["--delete"]);
    check(d.code === 0, "schedule.mjs --delete", show(d));
    const left = await qstashClient()
      .schedules.list()
      .then((all) => all.filter((x) => x.scheduleId === SCHEDULE_ID));
    checkEq(left, [], "schedule.mjs --delete removed it");
  });
  await part("QSTASH_DEV", async () => {
    // With QSTASH_DEV=1 the SDK ignores QSTASH_URL and the token (§5) and
    // finds this cronhook at 127.0.0.1:QSTASH_DEV_PORT by its dev keys: the
    // README's runs.mjs works the same way.
    const port = new URL(cronhook.url).port;
    const r = await runScript(envFile, appUrl, "runs.mjs", ["50"], { QSTASH_DEV: "1", QSTASH_DEV_PORT: port, HOME: workDir });
    check(
      r.code === 0 && /\bRUN_SUCCESS\b/.test(r.stdout) && r.stderr.includes(`using cronhook at http://127.0.0.1:${port}`),
      "runs.mjs in dev mode lists this cronhook's runs",
      show(r),
    );
    check(!r.stderr.includes("no-download guard"), "dev mode downloaded nothing", show(r.stderr));
  });
  await part("signatures", async () => {
    // Both signing keys are set, so `serve` verifies every request (§4): a
    // direct POST without cronhook's signature runs nothing.
    const res = await fetch(wfUrl, { method: "POST", body: JSON.stringify({ sleepSeconds: 1, tag: "unsigned" }) });
    const text = await res.text();
    check(
      res.status === 500 && text.includes("Failed to verify"),
      "an unsigned POST to the workflow is refused (500 Failed to verify)",
      `${res.status} ${text.slice(0, 200)}`,
    );
    await sleep(500);
    checkEq(
      app.journal.filter((e) => e.input?.tag === "unsigned"),
      [],
      "the unsigned POST started no run",
    );
  });
  await part("endpoint answers", async () => {
    // The SDK answers non-2xx only for F's failing step (twice) and for the
    // unsigned POST: any other (auth-fail 400, "Failed to verify", a parse
    // error of a delivery body) is a delivery cronhook got wrong, even if a
    // retry hid it.
    checkEq(
      refusals.map((l) => l.replace(/^workflow endpoint answered /, "")),
      [
        "500: kaboom: on purpose",
        "500: kaboom: on purpose",
        "500: Failed to verify that the Workflow request comes from QStash: Error: `Upstash-Signature` header is not passed.",
      ],
      "non-2xx answers of the workflow endpoint",
    );
  });
  await part("runs.mjs", async () => {
    const r = await runScript(envFile, appUrl, "runs.mjs", ["50"]);
    check(r.code === 0 && /\bRUN_SUCCESS\b/.test(r.stdout), "runs.mjs lists finished runs", show(r));
    const res = await fetch(`${appUrl}/journal`);
    const journal = await res.json();
    checkEq(journal.length, app.journal.length, "GET /journal returns the journal");
  });

  console.log(`\n${tally.passed} passed, ${tally.failed.length} failed`);
  if (tally.failed.length > 0) {
    console.log("\nFailed checks:");
    for (const f of tally.failed) console.log(`  - ${f}`);
    console.log(`\n${cronhook.logTail(30_000)}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL - unexpected error: ${e?.stack ?? e}`);
    console.log(`\n${tally.passed} passed, ${tally.failed.length + 1} failed`);
    process.exit(1);
  },
);
