#!/usr/bin/env node
// `client.logs` of the official SDK (@upstash/workflow 1.3.3) on cronhook
// (workflow-wire §1 row 11): what a user reads to see why a run is stuck or
// failed. One run per state:
//
//   retrying   a step answers 500, retries 2 with a 60 s Upstash-Retry-Delay:
//              RUN_STARTED, the init step with the trigger's headers and
//              retryDelay, and a `next` group with the STEP_RETRY step and
//              its error; then cancelled: RUN_CANCELED, no `next` group;
//   success    RUN_SUCCESS, completion time, no `next`, dlqId or failure;
//   failed     retries 0, the destination answers 400, the failureUrl
//              answers 200: RUN_FAILED, dlqId, the STEP_FAILED step with its
//              error, and failureFunction in CALLBACK_SUCCESS;
//   failed     the same with a failureUrl answering 500: CALLBACK_FAIL.
//
//   CRONHOOK_BIN=target/debug/cronhook node sdk-tests/workflow/logs.test.mjs
//
// Run by tests/workflow.rs after sdk-tests/setup-workflow.sh.

import { check, checkEq, importSdk, runProgram, show, stamp, startApp, startCronhook, waitFor } from "./harness.mjs";

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

await runProgram("logs.test.mjs", async () => {
  await startCronhook();
  const { serve, Client } = await importSdk();
  const log = (line) => console.log(`# ${stamp()} app: ${line}`);
  const failureCalls = [];

  const ok = serve(async (context) => {
    const a = await context.run("add", () => 1 + 1);
    return { a };
  });
  const flaky = serve(async (context) => {
    await context.run("wobble", () => {
      throw new Error("wobbly on purpose");
    });
  });
  const app = await startApp(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/ok") return ok.handler(request);
    if (path === "/flaky") return flaky.handler(request);
    if (path === "/refuses") return new Response("no such workflow here", { status: 400, headers: { "x-why": "on-purpose" } });
    if (path === "/failure-ok" || path === "/failure-bad") {
      failureCalls.push(path);
      return path === "/failure-ok" ? new Response("noted") : new Response("cannot note", { status: 500 });
    }
    return new Response("not found", { status: 404 });
  }, log);

  const client = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
  const runLog = async (workflowRunId) => (await client.logs({ workflowRunId })).runs?.find((r) => r.workflowRunId === workflowRunId);
  const runWhen = (id, pred, ms = 15_000) => waitFor(async () => {
    const r = await runLog(id);
    return r && pred(r) ? r : undefined;
  }, ms);
  const nextGroup = (r) => r.steps.find((g) => g.type === "next");

  try {
    // --- a run whose step is retrying ---
    const retrying = await client.trigger({ url: `${app.base}/flaky`, body: { n: 1 }, retries: 2, retryDelay: "60000" });
    const stuck = await runWhen(retrying.workflowRunId, (r) => nextGroup(r)?.steps?.[0]?.state === "STEP_RETRY");
    if (check(stuck, "retrying: client.logs shows a next group in STEP_RETRY")) {
      checkEq(stuck.workflowState, "RUN_STARTED", "retrying: workflowState");
      const init = stuck.steps[0].steps[0];
      checkEq(stuck.steps[0].type, "sequential", "retrying: the first group is sequential");
      checkEq(init.stepType, "Initial", "retrying: the first step is the Initial step");
      check(!("stepId" in init), "retrying: the Initial step has no stepId", show(init));
      check(isObject(init.headers), "retrying: the Initial step carries headers", show(init.headers));
      checkEq(init.headers?.["Upstash-Workflow-Sdk-Version"], ["1"], "retrying: the Initial step has the trigger's Upstash-Workflow-Sdk-Version header");
      checkEq(init.headers?.["Content-Type"], ["application/json"], "retrying: the Initial step has the trigger's Content-Type");
      checkEq(init.retryDelay, "60000", "retrying: the Initial step has the run's retryDelay");
      checkEq(init.retries, 2, "retrying: the Initial step has the run's retries");
      checkEq(init.out, JSON.stringify({ n: 1 }), "retrying: the Initial step's out is the payload");
      checkEq(stuck.steps.at(-1).type, "next", "retrying: the next group comes last");
      const next = nextGroup(stuck).steps;
      checkEq(next.length, 1, "retrying: one step in flight");
      checkEq(next[0].messageId, init.messageId, "retrying: the step in flight is the init message being retried");
      checkEq(next[0].retries, 2, "retrying: the next step's retries");
      checkEq(next[0].retryDelay, "60000", "retrying: the next step's retryDelay");
      checkEq(next[0].errors?.length, 1, "retrying: one failed attempt so far");
      const e = next[0].errors?.[0] ?? {};
      checkEq(e.status, 500, "retrying: error status");
      check(typeof e.error === "string" && e.error.length > 0, "retrying: error message", show(e.error));
      check(typeof e.body === "string" && e.body.includes("wobbly on purpose"), "retrying: error body is the SDK's answer", show(e.body));
      check(isObject(e.headers), "retrying: error headers", show(e.headers));
      check(Number.isInteger(e.time) && e.time >= stuck.workflowRunCreatedAt, "retrying: error time", show(e.time));
      checkEq(next[0].stepName, "wobble", "retrying: the step name the SDK reported (Upstash-Error-Step-Name)");
      check(!("dlqId" in stuck) && !("failureFunction" in stuck), "retrying: no dlqId or failureFunction", show(stuck));
    }

    // --- the same run, cancelled ---
    await client.cancel({ ids: [retrying.workflowRunId] });
    const cancelled = await runWhen(retrying.workflowRunId, (r) => r.workflowState === "RUN_CANCELED");
    if (check(cancelled, "cancelled: workflowState RUN_CANCELED")) {
      check(!nextGroup(cancelled), "cancelled: no next group (nothing is in flight)", show(cancelled.steps));
      checkEq(cancelled.steps[0].steps[0].stepType, "Initial", "cancelled: the Initial step stays");
      check(Number.isInteger(cancelled.workflowRunCompletedAt), "cancelled: workflowRunCompletedAt", show(cancelled));
      check(!("dlqId" in cancelled) && !("failureFunction" in cancelled), "cancelled: no dlqId or failureFunction", show(cancelled));
    }

    // --- a successful run ---
    const good = await client.trigger({ url: `${app.base}/ok`, body: "hi" });
    const done = await runWhen(good.workflowRunId, (r) => r.workflowState === "RUN_SUCCESS");
    if (check(done, "success: workflowState RUN_SUCCESS")) {
      checkEq(done.steps.map((g) => g.type), ["sequential", "sequential"], "success: the init and the step, no next group");
      const [init, add] = done.steps.map((g) => g.steps[0]);
      check(!("stepId" in init) && !("retryDelay" in init), "success: the Initial step has no stepId and no retryDelay", show(init));
      checkEq(init.headers?.["Upstash-Workflow-Sdk-Version"], ["1"], "success: the Initial step has the trigger's headers");
      checkEq([add.stepName, add.stepType, add.state, add.out], ["add", "Run", "STEP_SUCCESS", "2"], "success: the step's log");
      checkEq(done.workflowRunResponse, JSON.stringify({ a: 2 }), "success: workflowRunResponse");
      check(Number.isInteger(done.workflowRunCompletedAt), "success: workflowRunCompletedAt", show(done));
      check(!("dlqId" in done) && !("failureFunction" in done), "success: no dlqId or failureFunction", show(done));
    }

    // --- failed runs, with a failure function that succeeds and one that fails ---
    for (const [path, fnState] of [["/failure-ok", "CALLBACK_SUCCESS"], ["/failure-bad", "CALLBACK_FAIL"]]) {
      const name = `failed (${path})`;
      const failureUrl = `${app.base}${path}`;
      const bad = await client.trigger({ url: `${app.base}/refuses`, body: { n: 2 }, retries: 0, failureUrl });
      const failed = await runWhen(bad.workflowRunId, (r) => r.workflowState === "RUN_FAILED" && r.failureFunction?.state === fnState, 30_000);
      if (!check(failed, `${name}: RUN_FAILED with failureFunction.state ${fnState}`, show(await runLog(bad.workflowRunId)))) continue;
      check(typeof failed.dlqId === "string" && failed.dlqId.length > 0, `${name}: dlqId`, show(failed.dlqId));
      const dlq = await client.dlq.list();
      check(
        dlq.messages?.some((m) => m.dlqId === failed.dlqId && m.workflowRunId === bad.workflowRunId),
        `${name}: dlqId is the run's entry in client.dlq.list`,
        show(dlq.messages?.map((m) => [m.dlqId, m.workflowRunId])),
      );
      const f = failed.failureFunction;
      check(typeof f.messageId === "string" && f.messageId.length > 0, `${name}: failureFunction.messageId`, show(f));
      checkEq(f.url, failureUrl, `${name}: failureFunction.url`);
      checkEq(f.failStatus, 400, `${name}: failureFunction.failStatus`);
      checkEq(f.failResponse, "no such workflow here", `${name}: failureFunction.failResponse`);
      checkEq(f.failHeaders?.["X-Why"], ["on-purpose"], `${name}: failureFunction.failHeaders`);
      checkEq(f.dlqId, failed.dlqId, `${name}: failureFunction.dlqId`);
      check(!("nextDeliveryTime" in f), `${name}: no nextDeliveryTime once the call is done`, show(f));
      if (fnState === "CALLBACK_SUCCESS") {
        checkEq([f.responseStatus, f.responseBody, f.errors], [200, "noted", undefined], `${name}: the failure function's answer, no errors`);
      } else {
        checkEq([f.responseStatus, f.responseBody], [500, "cannot note"], `${name}: the failure function's last answer`);
        check(
          f.errors?.length >= 1 && f.errors.every((e) => e.status === 500 && e.body === "cannot note"),
          `${name}: failureFunction.errors has each failed call`,
          show(f.errors),
        );
      }
      const next = nextGroup(failed);
      if (check(next, `${name}: a next group with the failed step`, show(failed.steps))) {
        const s = next.steps[0];
        checkEq([next.steps.length, s.state, s.retries], [1, "STEP_FAILED", 0], `${name}: the failed step`);
        checkEq(s.messageId, failed.steps[0].steps[0].messageId, `${name}: the failed step is the init message`);
        checkEq(s.errors?.length, 1, `${name}: one error (retries 0)`);
        const e = s.errors?.[0] ?? {};
        checkEq([e.status, e.body], [400, "no such workflow here"], `${name}: error status and body`);
        checkEq(e.headers?.["X-Why"], ["on-purpose"], `${name}: error headers`);
        check(typeof e.error === "string" && Number.isInteger(e.time), `${name}: error message and time`, show(e));
      }
    }
    check(failureCalls.includes("/failure-ok") && failureCalls.includes("/failure-bad"), "both failure URLs were called", show(failureCalls));
  } finally {
    app.close();
  }
});
