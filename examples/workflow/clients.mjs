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
//   QSTASH_DEV                                must be unset (see checkEnv)
//
// Wire contract: docs/workflow-wire.md §5 (environment) and §1 (endpoints).

import { Client as QStashClient } from "@upstash/qstash";
import { Client as WorkflowClient } from "@upstash/workflow";

// What a run does when started without a payload of its own (README demo):
// sleep 5 s, then wait up to 20 s for `node notify.mjs <runId>`.
export const DEMO_PAYLOAD = { sleepSeconds: 5, waitTimeout: "20s" };

// Refuses to go on with a setting that would send the SDKs elsewhere: without
// QSTASH_URL both clients default to Upstash's cloud, and QSTASH_DEV=1 makes
// @upstash/qstash >= 2.11 ignore the URL, token and keys and start its own dev
// server (workflow-wire.md §5).
export function checkEnv() {
  const problems = [];
  for (const name of ["QSTASH_URL", "QSTASH_TOKEN"]) {
    if (!process.env[name]) problems.push(`${name} is not set`);
  }
  const dev = process.env.QSTASH_DEV;
  if (dev !== undefined && dev !== "" && dev !== "0" && dev !== "false") {
    problems.push(`QSTASH_DEV=${dev} must be unset: it makes the SDK ignore QSTASH_URL`);
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
