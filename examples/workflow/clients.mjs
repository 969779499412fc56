// Shared configuration of the workflow example: where cronhook is, where the
// app is, and the two official SDK clients pointed at cronhook.
//
// Environment (the lines `cronhook serve` prints; `node --env-file=cronhook.env`
// loads them):
//   QSTASH_URL, QSTASH_TOKEN                  where cronhook is and its token
//   QSTASH_CURRENT_SIGNING_KEY, ..._NEXT_...  set both: the app verifies every
//                                             delivery's Upstash-Signature
//   UPSTASH_WORKFLOW_URL                      optional: scheme://host:port at
//                                             which cronhook reaches the app
//                                             (default http://127.0.0.1:$PORT)
//   PORT                                      the app's port (default 3000)
//   QSTASH_DEV=true (instead of the four above) the SDKs' dev mode: they use
//                                             cronhook at 127.0.0.1:$QSTASH_DEV_PORT
//                                             (default 8080) with the dev token
//                                             and keys (README, "dev mode")
//
// Wire contract: docs/workflow-wire.md §5 (environment) and §1 (endpoints).

import { Client as QStashClient } from "@upstash/qstash";
import { Client as WorkflowClient } from "@upstash/workflow";

// What a run does when started without a payload of its own (README demo):
// sleep 5 s, then wait up to 20 s for `node notify.mjs <runId>`.
export const DEMO_PAYLOAD = { sleepSeconds: 5, waitTimeout: "20s" };

// Dev mode of @upstash/qstash >= 2.11 (and so of @upstash/workflow): the SDK
// ignores QSTASH_URL, the token and the keys and uses the server on
// 127.0.0.1:${QSTASH_DEV_PORT:-8080}, which a default `cronhook serve` is
// (workflow-wire.md §5).
export const devMode = () => ["true", "1"].includes(process.env.QSTASH_DEV ?? "");

// Refuses to go on with a setting that would send the SDKs elsewhere: without
// QSTASH_URL (and outside dev mode) both clients default to Upstash's cloud.
export function checkEnv() {
  const problems = [];
  const dev = process.env.QSTASH_DEV;
  if (devMode()) {
    if (process.env.QSTASH_URL) {
      console.error(`QSTASH_DEV=${dev}: QSTASH_URL and QSTASH_TOKEN are ignored; ` +
        `using cronhook at http://127.0.0.1:${process.env.QSTASH_DEV_PORT || 8080}`);
    }
  } else {
    for (const name of ["QSTASH_URL", "QSTASH_TOKEN"]) {
      if (!process.env[name]) problems.push(`${name} is not set (or set QSTASH_DEV=true)`);
    }
  }
  if (dev !== undefined && !["", "0", "false", "true", "1"].includes(dev)) {
    problems.push(`QSTASH_DEV=${dev}: the SDK accepts only true, 1, false or 0`);
  }
  if (problems.length > 0) {
    console.error(
      `${problems.join("\n")}\n` +
        "Start cronhook with `cargo run --release -- serve | tee examples/workflow/cronhook.env`\n" +
        "and run this with `node --env-file=cronhook.env ...` (see README, Workflows).",
    );
    process.exit(2);
  }
}

// Base URL at which cronhook reaches the app.
export function appUrl() {
  const base = process.env.UPSTASH_WORKFLOW_URL || `http://127.0.0.1:${process.env.PORT || 3000}`;
  return base.replace(/\/+$/, "");
}

// The workflow endpoint served by server.mjs.
export const workflowUrl = () => `${appUrl()}/workflow`;

// The schedule schedule.mjs creates.
export const SCHEDULE_ID = "workflow-example-every-minute";

// The event a run waits for in its "approval" step.
export const eventIdFor = (workflowRunId) => `approval-${workflowRunId}`;

// trigger, notify, cancel, logs (@upstash/workflow).
export const workflowClient = () =>
  new WorkflowClient({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });

// schedules (@upstash/qstash).
export const qstashClient = () =>
  new QStashClient({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
