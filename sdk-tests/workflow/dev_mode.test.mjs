#!/usr/bin/env node
// Upstash Workflow in the JS SDK's dev mode on cronhook: the example app of
// examples/workflow, with QSTASH_DEV=true and QSTASH_DEV_PORT=<cronhook's
// port> and no QSTASH_URL, token or keys, runs a whole workflow (sleep,
// context.call, parallel steps, a wait that times out) with every delivery's
// signature checked against dev user 1's keys (`serve` makes a
// `Receiver({devMode: true})`). The trigger, notify-free wait and logs go
// through the SDK clients in dev mode. Nothing is downloaded or spawned:
// ../node/no-download.mjs makes any such attempt throw.
//
// Run by tests/workflow.rs (workflow_sdk_dev_mode), which starts cronhook.
// Environment: QSTASH_DEV=true, QSTASH_DEV_PORT, HOME (a scratch directory).
//
// Wire contract: docs/workflow-wire.md §5 (environment), §4 (signatures);
// docs/qstash-wire.md §11.3 (dev mode).

import { blocked } from "../node/no-download.mjs";
import { check, checkEq, show, sleep, tally, waitFor } from "./checks.mjs";
import { createApp } from "../../examples/workflow/server.mjs";
import { workflowClient } from "../../examples/workflow/clients.mjs";

const DEADLINE_MS = 60_000;

async function main() {
  checkEq(process.env.QSTASH_DEV, "true", "QSTASH_DEV");
  checkEq(process.env.QSTASH_URL, undefined, "QSTASH_URL is not set");
  checkEq(process.env.QSTASH_TOKEN, undefined, "QSTASH_TOKEN is not set");
  checkEq(process.env.QSTASH_CURRENT_SIGNING_KEY, undefined, "no signing keys are set");

  const refusals = [];
  const app = createApp({
    log: (line) => {
      console.log(`# app: ${line}`);
      if (line.startsWith("workflow endpoint answered")) refusals.push(line);
    },
  });
  await new Promise((resolve) => app.server.listen(0, "127.0.0.1", resolve));
  const appUrl = `http://127.0.0.1:${app.server.address().port}`;
  const wfUrl = `${appUrl}/workflow`;

  try {
    // Verification is on, with the dev keys: an unsigned request is refused.
    const unsigned = await fetch(wfUrl, { method: "POST", body: "{}" });
    check(unsigned.status >= 400, "an unsigned POST to the workflow is refused", `status ${unsigned.status}`);
    refusals.length = 0;

    const client = workflowClient(); // baseUrl and token undefined: dev mode fills them in
    const { workflowRunId: id } = await client.trigger({
      url: wfUrl,
      body: { sleepSeconds: 1, waitTimeout: "1s" },
      headers: { "x-example-user": "dev" },
    });
    check(/^wfr_/.test(id ?? ""), "client.trigger in dev mode returned a run id", show(id));

    const steps = () => app.journal.filter((e) => e.runId === id && e.step !== "echo").map((e) => e.step);
    const done = await waitFor(() => steps().includes("after-wait"), 30_000);
    check(done, "the run reached its last step", show(steps()));
    // par-a and par-b run at the same time, in either order.
    checkEq([...steps()].sort(), ["after-sleep", "after-wait", "par-a", "par-b", "start", "use-call"], "every step ran once");
    const last = app.journal.find((e) => e.runId === id && e.step === "after-wait");
    checkEq(last?.timeout, true, "the wait timed out");
    checkEq(last?.user, "dev", "the trigger's header reached the last step");
    checkEq(refusals, [], "no delivery was refused (every signature verified with the dev keys)");

    const state = await waitFor(async () => {
      const { runs } = await client.logs({ filter: { workflowRunId: id } });
      const run = (runs ?? []).find((r) => r.workflowRunId === id);
      return run?.workflowState === "RUN_SUCCESS" ? run.workflowState : undefined;
    }, 10_000);
    checkEq(state, "RUN_SUCCESS", "client.logs in dev mode: the run's state");
    checkEq(blocked, [], "download or spawn attempts");
  } finally {
    app.server.closeAllConnections?.();
    app.server.close();
  }

  console.log(`\n${tally.passed} passed, ${tally.failed.length} failed`);
  for (const f of tally.failed) console.log(`  - ${f}`);
  return tally.failed.length === 0 ? 0 : 1;
}

const timer = setTimeout(() => {
  console.log(`FAIL - gave up after ${DEADLINE_MS} ms\n${tally.passed} passed, ${tally.failed.length + 1} failed`);
  process.exit(1);
}, DEADLINE_MS);
main().then(
  (code) => {
    clearTimeout(timer);
    process.exit(code);
  },
  (e) => {
    console.log(`FAIL - unexpected error: ${e?.stack ?? e}`);
    process.exit(1);
  },
);
