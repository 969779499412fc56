#!/usr/bin/env node
// context.invoke across serveMany with the official SDK (@upstash/workflow
// 1.3.3) on cronhook (workflow-wire §3.8). One app serves three workflows
// with serveMany (the framework-free Hono flavour, fed a minimal context):
// `parent` invokes `double` (succeeds), `explode` (fails, no retries) and
// `quit` (cancels itself), and records what each invoke returned. cronhook
// must start each child with the invoke body and, when the child ends, add
// the invoke step's result to the parent.
//
//   CRONHOOK_BIN=target/debug/cronhook node sdk-tests/workflow/serve-many.test.mjs
//
// Run by tests/workflow.rs after sdk-tests/setup-workflow.sh.

import { check, checkEq, importSdk, runProgram, stamp, startApp, startCronhook, waitFor } from "./harness.mjs";

await runProgram("serve-many.test.mjs", async () => {
  await startCronhook();
  // After the QSTASH_* variables are in process.env: serve reads them.
  const { Client } = await importSdk();
  const { serveMany, createWorkflow } = await importSdk("hono.mjs");
  const log = (line) => console.log(`# ${stamp()} app: ${line}`);
  const journal = [];

  const double = createWorkflow(async (context) => {
    const n = context.requestPayload.n;
    const tag = context.headers.get("x-from-parent");
    return await context.run("double", () => {
      journal.push({ runId: context.workflowRunId, step: "double", n, tag });
      return { doubled: n * 2, tag };
    });
  });
  const explode = createWorkflow(async (context) => {
    await context.run("boom", () => {
      throw new Error("child kaboom");
    });
  });
  const quit = createWorkflow(async (context) => {
    await context.run("before-cancel", () => "x");
    await context.cancel();
  });
  const parent = createWorkflow(async (context) => {
    const ok = await context.invoke("call-double", {
      workflow: double,
      body: { n: context.requestPayload.n },
      headers: { "x-from-parent": "hello" },
    });
    const bad = await context.invoke("call-explode", { workflow: explode, body: {}, retries: 0 });
    const gone = await context.invoke("call-quit", { workflow: quit, body: {} });
    await context.run("record", () => {
      journal.push({ runId: context.workflowRunId, step: "record", ok, bad, gone });
    });
    return { ok: ok.body };
  });

  const handler = serveMany({ parent, double, explode, quit });
  const app = await startApp((request) => handler({ req: { url: request.url, raw: request } }), log);
  try {
    const client = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
    const { workflowRunId } = await client.trigger({ url: `${app.base}/wf/parent`, body: { n: 21 } });
    console.log(`# ${stamp()} parent run ${workflowRunId}`);

    const child = await waitFor(() => journal.find((e) => e.step === "double"), 20_000);
    if (check(child, "the invoked child ran")) {
      checkEq({ n: child.n, tag: child.tag }, { n: 21, tag: "hello" }, "the child's payload and header");
      check(child.runId !== workflowRunId, "the child has its own run id", child.runId);
    }
    const done = await waitFor(() => journal.find((e) => e.step === "record" && e.runId === workflowRunId), 30_000);
    if (!check(done, "the parent continued after all three invokes")) return;
    checkEq(done.ok.body, { doubled: 42, tag: "hello" }, "a successful child's result reaches the parent");
    check(!done.ok.isFailed && !done.ok.isCanceled, "a successful child is neither failed nor cancelled", JSON.stringify(done.ok));
    checkEq(done.bad.isFailed, true, "a failed child gives the parent isFailed");
    check(
      JSON.stringify(done.bad.body ?? "").includes("child kaboom"),
      "the failed child's error reaches the parent",
      JSON.stringify(done.bad),
    );
    checkEq(done.gone.isCanceled, true, "a cancelled child gives the parent isCanceled");

    const state = await waitFor(async () => {
      const { runs } = await client.logs({ filter: { workflowRunId } });
      const s = runs?.[0]?.workflowState;
      return s === "RUN_SUCCESS" ? s : undefined;
    }, 10_000);
    checkEq(state, "RUN_SUCCESS", "client.logs state of the parent");
  } finally {
    app.close();
  }
});
