// Shared pieces of the smaller Workflow SDK programs (webhook.test.mjs,
// serve-many.test.mjs): start one `cronhook serve` (killed by its pid at
// exit), put its variables into process.env for the SDK, serve a Fetch
// handler on node:http, and count checks (checks.mjs, which every program
// shares). workflow.test.mjs starts cronhook its own way, because it also
// kills and restarts it.
//
// Environment: CRONHOOK_BIN (required), WORK_DIR (scratch directory, default
// a new temporary one), CRONHOOK_PIDFILE (every started pid is appended).

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { check, checkEq, fail, show, sleep, tally, waitFor } from "./checks.mjs";

export { check, checkEq, show, sleep, waitFor };

const T0 = Date.now();
export const stamp = () => `${((Date.now() - T0) / 1000).toFixed(2)}s`;

const SCRUB = [
  "QSTASH_URL", "QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY",
  "QSTASH_DEV", "QSTASH_DEV_PORT", "QSTASH_REGION", "UPSTASH_REGION", "UPSTASH_WORKFLOW_URL",
  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
];

// Starts cronhook on a free loopback port, waits for its variables and
// /healthz, and exports the variables (URL, token, both signing keys, so the
// app verifies every delivery) to process.env. Returns { url, vars, stderr }.
export async function startCronhook() {
  const bin = process.env.CRONHOOK_BIN;
  if (!bin) throw new Error("CRONHOOK_BIN is not set");
  const ownDir = !process.env.WORK_DIR;
  const workDir = process.env.WORK_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "cronhook-wf-"));
  const env = { ...process.env };
  for (const k of SCRUB) delete env[k];
  const args = ["serve", "--listen", "127.0.0.1:0", "--db", path.join(workDir, "cronhook.db"), "--retry-scale", "0.01"];
  const child = spawn(bin, args, { env: { ...env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  if (process.env.CRONHOOK_PIDFILE && child.pid) fs.appendFileSync(process.env.CRONHOOK_PIDFILE, `${child.pid}\n`);
  const state = { stdout: "", stderr: "", exited: undefined };
  child.stdout.on("data", (d) => (state.stdout += d));
  child.stderr.on("data", (d) => (state.stderr += d));
  child.on("exit", (code, signal) => (state.exited = { code, signal }));
  process.on("exit", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (ownDir) fs.rmSync(workDir, { recursive: true, force: true });
  });
  const vars = {};
  const wanted = ["QSTASH_URL", "QSTASH_TOKEN", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"];
  const ready = await waitFor(() => {
    if (state.exited) return true;
    for (const line of state.stdout.split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) vars[m[1]] = m[2];
    }
    return wanted.every((k) => vars[k]);
  }, 30_000);
  if (state.exited || !ready) throw new Error(`cronhook did not start: ${show(state)}`);
  const healthy = await waitFor(async () => {
    try {
      return (await fetch(`${vars.QSTASH_URL}/healthz`)).status === 200;
    } catch {
      return false;
    }
  }, 30_000);
  if (!healthy) throw new Error(`cronhook at ${vars.QSTASH_URL}: /healthz did not answer 200`);
  for (const k of SCRUB) delete process.env[k];
  for (const [k, v] of Object.entries(vars)) process.env[k] = v;
  process.env.NO_PROXY = "127.0.0.1,localhost";
  console.log(`# ${stamp()} cronhook pid ${child.pid} at ${vars.QSTASH_URL}`);
  return { url: vars.QSTASH_URL, vars, stderr: () => state.stderr };
}

// The SDK as examples/workflow installed it (setup-workflow.sh): this
// directory has no node_modules of its own. `entry` is a file of the package,
// e.g. "index.mjs" or "hono.mjs" (serveMany and createWorkflow).
export const importSdk = (entry = "index.mjs") =>
  import(new URL(`../../examples/workflow/node_modules/@upstash/workflow/${entry}`, import.meta.url).href);

const HOP_BY_HOP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive", "expect"]);

// Serves `handle(Request) => Response` on a free loopback port (node:http to
// Fetch and back, the exact body bytes kept for the signature check).
// Returns { base, close }.
export async function startApp(handle, log) {
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (!HOP_BY_HOP.has(k)) headers.set(k, [v].flat().join(", "));
      }
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      });
      const response = await handle(request);
      const text = await response.text();
      if (response.status >= 300) log(`${req.url} answered ${response.status}: ${text.slice(0, 300)}`);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(text);
    } catch (e) {
      log(`error serving ${req.method} ${req.url}: ${e?.stack ?? e}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    close: () => {
      server.closeAllConnections?.();
      server.close();
    },
  };
}

// Runs `main` under a deadline; prints the tally and exits 0 only when every
// check passed.
export async function runProgram(name, main, deadlineMs = 60_000) {
  setTimeout(() => {
    console.log(`FAIL - ${name} did not finish within ${deadlineMs / 1000} s`);
    console.log(`\n${tally.passed} passed, ${tally.failed.length + 1} failed`);
    process.exit(1);
  }, deadlineMs).unref();
  try {
    await main();
  } catch (e) {
    fail(`${name}: unexpected ${e?.name}: ${e?.message}`);
    console.log(e?.stack ?? e);
  }
  console.log(`\n${tally.passed} passed, ${tally.failed.length} failed`);
  process.exit(tally.failed.length === 0 && tally.passed > 0 ? 0 : 1);
}
