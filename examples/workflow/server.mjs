// An Upstash Workflow app on plain node:http, run by cronhook.
//
//   cd examples/workflow && npm ci
//   node --env-file=cronhook.env server.mjs      # cronhook.env: what `cronhook serve` printed
//
// Routes:
//   POST /workflow   the workflow endpoint (`serve` from @upstash/workflow)
//   POST /echo       the HTTP API that the workflow's `context.call` step calls
//   GET  /journal    every step execution so far, as JSON (`?runId=wfr_...`)
//
// The workflow: start -> sleep -> after-sleep -> call /echo -> use-call ->
// par-a + par-b in parallel -> wait for the "approval" event (notify.mjs, or a
// timeout) -> after-wait. A payload with "fail" set throws in an "explode" step
// after start instead, which ends in the failure function. The payload may set
// sleepSeconds and waitTimeout (defaults in clients.mjs DEMO_PAYLOAD).
//
// Every step body appends to an in-memory journal (and prints one line), so
// you see each step execute exactly once, in order, although the route
// function itself runs again on every delivery: the SDK replays the results
// cronhook stored and executes only the next step.
//
// server.mjs is also a module: sdk-tests/workflow imports createApp() and runs
// this very workflow against a real cronhook.
//
// Wire contract: docs/workflow-wire.md §5 (adapter and environment), §3
// (what each step sends), §4 (signatures).

import http from "node:http";
import { pathToFileURL } from "node:url";
import { serve } from "@upstash/workflow";
import { DEMO_PAYLOAD, checkEnv, devMode, eventIdFor } from "./clients.mjs";

// Request headers that describe this hop, not the request (workflow-wire.md §5).
const HOP_BY_HOP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive", "expect"]);

const readBody = async (req) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
};

const sendJson = (res, status, value) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
};

// Returns { server, journal }. The server is not listening yet. `serve` reads
// QSTASH_URL, QSTASH_TOKEN, the signing keys and UPSTASH_WORKFLOW_URL from
// process.env here, at creation.
export function createApp({ log = console.log } = {}) {
  const journal = [];
  const note = (context, step, data = {}) => {
    const entry = {
      runId: context.workflowRunId,
      step,
      at: Date.now(),
      // A header given to client.trigger (or sent by a schedule): cronhook
      // replays it on every delivery of the run (workflow-wire.md §3.2).
      user: context.headers.get("x-example-user"),
      ...data,
    };
    journal.push(entry);
    log(`[${entry.runId}] ${step} ${JSON.stringify(data)}`);
    return entry;
  };

  const { handler } = serve(
    async (context) => {
      const payload = context.requestPayload;
      const input = payload !== null && typeof payload === "object" ? payload : {};
      const sleepSeconds = input.sleepSeconds ?? DEMO_PAYLOAD.sleepSeconds;
      const waitTimeout = input.waitTimeout ?? DEMO_PAYLOAD.waitTimeout;

      const start = await context.run("start", () => note(context, "start", { input }));

      if (input.fail) {
        await context.run("explode", () => {
          note(context, "explode");
          throw new Error(`kaboom: ${input.fail}`);
        });
      }

      // cronhook holds the next delivery back (Upstash-Delay, §3.4).
      await context.sleep("nap", sleepSeconds);
      const woke = await context.run("after-sleep", () =>
        note(context, "after-sleep", { sleptMs: Date.now() - start.at }),
      );

      // cronhook makes the HTTP call and posts the response back (§3.6).
      const echo = await context.call("echo", {
        url: new URL("/echo", context.url).href,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ runId: context.workflowRunId, startedAt: start.at }),
      });
      await context.run("use-call", () => note(context, "use-call", { status: echo.status, body: echo.body }));

      // Two steps at once (§3.5).
      const [a, b] = await Promise.all([
        context.run("par-a", () => note(context, "par-a").at),
        context.run("par-b", () => note(context, "par-b").at),
      ]);

      // Until `notify.mjs <runId>` or the timeout (§3.7).
      const { eventData, timeout } = await context.waitForEvent("approval", eventIdFor(context.workflowRunId), {
        timeout: waitTimeout,
      });
      await context.run("after-wait", () => note(context, "after-wait", { eventData, timeout }));

      // Sent to cronhook as the run's result (DELETE /v2/workflows/runs/{id}).
      return { sleptMs: woke.sleptMs, callStatus: echo.status, parallel: [a, b], approved: !timeout, eventData };
    },
    {
      // After the last retry of a failing step (§3.9): the payload and headers
      // are the run's original ones.
      failureFunction: async ({ context, failStatus, failResponse }) => {
        note(context, "failure", { payload: context.requestPayload, failStatus, failResponse });
        return "failure noted";
      },
    },
  );

  const server = http.createServer(async (req, res) => {
    try {
      const path = new URL(req.url, "http://x").pathname;
      const body = await readBody(req);

      if (path === "/echo" && req.method === "POST") {
        let echoed;
        try {
          echoed = JSON.parse(body.toString("utf8"));
        } catch {
          echoed = body.toString("utf8");
        }
        journal.push({ runId: echoed?.runId, step: "echo", at: Date.now() });
        return sendJson(res, 200, { echoed, servedAt: Date.now() });
      }

      if (path === "/journal" && req.method === "GET") {
        const runId = new URL(req.url, "http://x").searchParams.get("runId");
        return sendJson(res, 200, runId ? journal.filter((e) => e.runId === runId) : journal);
      }

      if (path !== "/workflow") return sendJson(res, 404, { error: `no route ${req.method} ${path}` });

      // node:http -> Fetch Request -> serve's handler -> node:http (§5). The
      // body is passed on as the exact bytes received, so the signature's body
      // hash matches (§4).
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (!HOP_BY_HOP.has(k)) headers.set(k, [v].flat().join(", "));
      }
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      });
      const response = await handler(request);
      const text = await response.text();
      if (response.status >= 300) {
        let why = text;
        try {
          why = JSON.parse(text).message.split("\n")[0];
        } catch {}
        log(`workflow endpoint answered ${response.status}: ${why}`);
      }
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(text);
    } catch (e) {
      log(`error serving ${req.method} ${req.url}: ${e?.stack ?? e}`);
      if (!res.headersSent) sendJson(res, 500, { error: String(e?.message ?? e) });
      else res.end();
    }
  });

  return { server, journal };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  checkEnv();
  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST || "127.0.0.1";
  const { server } = createApp();
  server.listen(port, host, () => {
    const dev = devMode();
    const verified = dev || (process.env.QSTASH_CURRENT_SIGNING_KEY && process.env.QSTASH_NEXT_SIGNING_KEY);
    const cronhook = dev ? `http://127.0.0.1:${process.env.QSTASH_DEV_PORT || 8080} (dev mode)` : process.env.QSTASH_URL;
    console.log(`workflow endpoint: http://${host}:${port}/workflow (cronhook at ${cronhook})`);
    console.log(
      verified
        ? `signatures: every request must carry a valid Upstash-Signature${dev ? " (dev keys)" : ""}`
        : "signatures: NOT verified (QSTASH_CURRENT_SIGNING_KEY / QSTASH_NEXT_SIGNING_KEY unset)",
    );
  });
}
