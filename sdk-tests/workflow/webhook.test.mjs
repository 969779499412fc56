#!/usr/bin/env node
// Webhooks with the official SDK (@upstash/workflow 1.3.3) on cronhook
// (workflow-wire §3.7): a workflow creates a webhook, waits for it, and the
// test calls the webhook URL the way a third party would, with plain fetch
// and no token. The run must continue with the recorded request (method,
// headers, query and body) and complete with RUN_SUCCESS.
//
//   CRONHOOK_BIN=target/debug/cronhook node sdk-tests/workflow/webhook.test.mjs
//
// Run by tests/workflow.rs after sdk-tests/setup-workflow.sh.

import { check, checkEq, importSdk, runProgram, show, stamp, startApp, startCronhook, waitFor } from "./harness.mjs";

await runProgram("webhook.test.mjs", async () => {
  const cronhook = await startCronhook();
  // After the QSTASH_* variables are in process.env: serve reads them.
  const { serve, Client } = await importSdk();
  const log = (line) => console.log(`# ${stamp()} app: ${line}`);
  const journal = [];

  const { handler } = serve(async (context) => {
    const webhook = await context.createWebhook("make-hook");
    await context.run("publish-hook", () => {
      journal.push({ runId: context.workflowRunId, step: "hook", url: webhook.webhookUrl, eventId: webhook.eventId });
    });
    const { request, timeout } = await context.waitForWebhook("wait-hook", webhook, "30s");
    const seen = await context.run("use-hook", async () => {
      const got = {
        timeout,
        method: request?.method,
        tag: request?.headers.get("x-tag"),
        order: request ? new URL(request.url).searchParams.get("order") : undefined,
        body: request ? await request.text() : undefined,
      };
      journal.push({ runId: context.workflowRunId, step: "use-hook", got });
      return got;
    });
    return seen;
  });
  const app = await startApp(handler, log);
  try {
    const client = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
    const { workflowRunId } = await client.trigger({ url: `${app.base}/hook-flow`, body: { start: 1 } });
    console.log(`# ${stamp()} run ${workflowRunId}`);

    const hook = await waitFor(() => journal.find((e) => e.runId === workflowRunId && e.step === "hook"), 15_000);
    if (!check(hook, "the workflow got a webhook URL from createWebhook")) return;
    const url = new URL(hook.url);
    check(
      url.origin === new URL(cronhook.url).origin && url.pathname.startsWith("/v2/workflows/hooks/"),
      "the webhook URL points at cronhook's hooks route",
      hook.url,
    );
    check(url.pathname.endsWith(`/${workflowRunId}/${hook.eventId}`), "the URL names the run and the event", hook.url);

    // The third party: no Authorization, any method. The wait may not be
    // registered yet; cronhook keeps such a call for it.
    const res = await fetch(`${hook.url}?order=42`, {
      method: "PUT",
      headers: { "content-type": "application/json", "x-tag": "from-test" },
      body: JSON.stringify({ paid: true }),
    });
    checkEq(res.status, 200, "the webhook call without a token is accepted");

    const done = await waitFor(() => journal.find((e) => e.runId === workflowRunId && e.step === "use-hook"), 15_000);
    if (!check(done, "the run continued after the webhook call")) return;
    checkEq(
      done.got,
      { timeout: false, method: "PUT", tag: "from-test", order: "42", body: '{"paid":true}' },
      "waitForWebhook returned the recorded request",
    );
    const state = await waitFor(async () => {
      const { runs } = await client.logs({ filter: { workflowRunId } });
      const s = runs?.[0]?.workflowState;
      return s === "RUN_SUCCESS" ? s : undefined;
    }, 10_000);
    checkEq(state, "RUN_SUCCESS", "client.logs state of the run");

    // The URL is dead once its run has ended.
    const late = await fetch(hook.url, { method: "POST", body: "again" });
    checkEq(late.status, 404, "a webhook call after the run ended");
    const wrongUser = hook.url.replace("/v2/workflows/hooks/", "/v2/workflows/hooks/x");
    checkEq((await fetch(wrongUser, { method: "POST" })).status, 404, "a webhook URL with another user id");
  } finally {
    app.close();
    if (journal.length === 0) console.log(`# cronhook stderr: ${show(cronhook.stderr().slice(-4000))}`);
  }
});
