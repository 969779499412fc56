// Import this module first in a dev-mode program (dev_mode.test.mjs,
// sdk-tests/workflow/dev_mode.test.mjs). In dev mode @upstash/qstash probes
// `GET http://127.0.0.1:<QSTASH_DEV_PORT>/v2/keys`; when that probe fails it
// would fetch the list of releases over HTTPS, download Upstash's dev-server
// binary and spawn it (docs/qstash-wire.md §11.3). A test must never do that.
//
// This module replaces https.get/request, and http.get/request to anything
// but loopback, and child_process's spawn family with functions that throw at
// once, and makes the ES-module views of those built-ins follow
// (syncBuiltinESMExports), so the SDK's dynamic `import("node:https")` sees
// the guard too. A blocked attempt makes the SDK call fail fast; each one is
// recorded in `blocked`, so a program can also check that none happened.
// fetch() is not touched: the SDKs' own API calls use it, and only go to
// cronhook.

import childProcess from "node:child_process";
import http from "node:http";
import https from "node:https";
import { syncBuiltinESMExports } from "node:module";

export const blocked = [];

const refuse = (what) => {
  blocked.push(what);
  throw new Error(`no-download guard: refused ${what}`);
};

const target = (args) => {
  const a = args[0];
  if (typeof a === "string") return a;
  if (a instanceof URL) return a.href;
  return `${a?.protocol ?? "http:"}//${a?.hostname ?? a?.host ?? "?"}:${a?.port ?? ""}${a?.path ?? ""}`;
};

const isLoopback = (url) => {
  try {
    const host = new URL(url).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
  } catch {
    return false;
  }
};

for (const name of ["get", "request"]) {
  https[name] = (...args) => refuse(`https.${name} ${target(args)}`);
  const original = http[name];
  http[name] = (...args) => {
    const url = target(args);
    return isLoopback(url) ? original(...args) : refuse(`http.${name} ${url}`);
  };
}
for (const name of ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"]) {
  childProcess[name] = (...args) => refuse(`child_process.${name} ${args[0]}`);
}
syncBuiltinESMExports();
