#!/usr/bin/env node
// Runs the official JS SDK (npm @upstash/qstash 2.12.0) against a cronhook
// server: URL groups.
//
// Standalone program: exit 0 means every check passed; anything else is a
// failure, with each failed check printed as `FAIL - ...`.
//
// Environment (printed by `cronhook serve`):
//   QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY
//
// SDK methods called (every URL-group method @upstash/qstash 2.12.0 has,
// rows 19-23 of docs/qstash-wire.md §4, and publishing to a group):
//   urlGroups.addEndpoints/removeEndpoints/get/list/delete;
//   publishJSON({urlGroup}), queue().enqueueJSON({urlGroup}),
//   batchJSON([{urlGroup}]), messages.get; dlq.listMessages and logs
//   filtered by urlGroup.
//
// Wire contract: docs/qstash-wire.md §4.7 (endpoints), §4.1 and §4.3 (the
// array answers), §6.1, §6.2, §6.5, §6.6 (topicName, endpointName), §7.2
// (Upstash-Topic-Name).

import { Client } from "@upstash/qstash";
import { Sink, check, checkEq, env, expectQstashError, onPath, run, show, sleep, step, summary } from "./harness.mjs";

const GROUP = "sdk-js-group";

async function main() {
  const baseUrl = env("QSTASH_URL");
  const token = env("QSTASH_TOKEN");
  const sink = new Sink();
  await sink.start();
  const S = sink.base;
  console.log(`server ${baseUrl}, sink ${S}`);
  const client = new Client({ baseUrl, token, devMode: false, retry: false });
  sink.set("/js/ug/bad", { status: 500 });

  await step("addEndpoints, get and list", async () => {
    await client.urlGroups.addEndpoints({
      name: GROUP,
      endpoints: [{ name: "first", url: `${S}/js/ug/first` }, { url: `${S}/js/ug/second` }],
    });
    let g = await client.urlGroups.get(GROUP);
    checkEq(g.name, GROUP, "get: name");
    check(Number.isInteger(g.createdAt) && g.updatedAt >= g.createdAt, "get: createdAt, updatedAt", show(g));
    checkEq(g.endpoints, [{ name: "first", url: `${S}/js/ug/first` }, { url: `${S}/js/ug/second` }], "get: endpoints");
    // Adding "first" again moves it to a new URL, in its place.
    await client.urlGroups.addEndpoints({ name: GROUP, endpoints: [{ name: "first", url: `${S}/js/ug/first2` }] });
    g = await client.urlGroups.get(GROUP);
    checkEq(g.endpoints.map((e) => e.url), [`${S}/js/ug/first2`, `${S}/js/ug/second`], "add by name updates the URL");
    const all = await client.urlGroups.list();
    checkEq(all.map((x) => x.name), [GROUP], "list");
  });

  await step("removeEndpoints by name and by url", async () => {
    await client.urlGroups.addEndpoints({
      name: GROUP,
      endpoints: [{ name: "third", url: `${S}/js/ug/third` }, { url: `${S}/js/ug/fourth` }],
    });
    await client.urlGroups.removeEndpoints({ name: GROUP, endpoints: [{ name: "third" }] });
    await client.urlGroups.removeEndpoints({ name: GROUP, endpoints: [{ url: `${S}/js/ug/fourth` }] });
    const g = await client.urlGroups.get(GROUP);
    checkEq(g.endpoints.map((e) => e.url), [`${S}/js/ug/first2`, `${S}/js/ug/second`], "what is left after removing");
  });

  await step("publishJSON to the group: one message per endpoint", async () => {
    await client.urlGroups.addEndpoints({ name: GROUP, endpoints: [{ name: "bad", url: `${S}/js/ug/bad` }] });
    const res = await client.publishJSON({ urlGroup: GROUP, body: { hi: 1 }, retries: 0 });
    check(Array.isArray(res), "publish to a group answers an array", show(res), true);
    checkEq(res.map((r) => r.url), [`${S}/js/ug/first2`, `${S}/js/ug/second`, `${S}/js/ug/bad`], "one answer per endpoint");
    checkEq(new Set(res.map((r) => r.messageId)).size, 3, "each with its own message id");
    for (const [i, path] of ["/js/ug/first2", "/js/ug/second"].entries()) {
      const rec = await sink.waitFor(onPath(path), 10_000);
      check(rec !== undefined, `${path} delivered`, undefined, true);
      checkEq(rec.headers["upstash-topic-name"], GROUP, `${path}: Upstash-Topic-Name`);
      checkEq(rec.headers["upstash-message-id"], res[i].messageId, `${path}: message id`);
    }
    const badId = res[2].messageId;
    let page;
    let entry;
    for (let i = 0; i < 100 && !entry; i++) {
      page = await client.dlq.listMessages({ filter: { urlGroup: GROUP } });
      entry = page.messages.find((m) => m.messageId === badId);
      if (!entry) await sleep(100);
    }
    check(entry !== undefined, "the failing endpoint's message is in the DLQ", undefined, true);
    checkEq(page.messages.length, 1, "only it");
    checkEq(entry.urlGroup ?? entry.topicName, GROUP, "DLQ entry: group");
    checkEq(entry.endpointName, "bad", "DLQ entry: endpointName");
    const logs = await client.logs({ filter: { messageId: res[0].messageId } });
    check(logs.logs.length > 0, "logs of an endpoint's message", undefined, true);
    check(logs.logs.every((l) => l.urlGroup === GROUP), "logs: urlGroup", show(logs.logs.map((l) => l.urlGroup)));
    check(logs.logs.every((l) => l.endpointName === "first"), "logs: endpointName", show(logs.logs.map((l) => l.endpointName)));
    await client.urlGroups.removeEndpoints({ name: GROUP, endpoints: [{ name: "bad" }] });
  });

  await step("messages.get of a delayed group message", async () => {
    const res = await client.publishJSON({ urlGroup: GROUP, body: { later: true }, delay: 3600 });
    const m = await client.messages.get(res[0].messageId);
    checkEq(m.urlGroup, GROUP, "message: urlGroup");
    checkEq(m.endpointName, "first", "message: endpointName");
    checkEq(m.url, `${S}/js/ug/first2`, "message: url is the endpoint's");
    for (const r of res) await client.messages.cancel(r.messageId);
  });

  await step("enqueueJSON and batchJSON to the group", async () => {
    const res = await client.queue({ queueName: "sdk-js-ug-queue" }).enqueueJSON({ urlGroup: GROUP, body: { q: 1 } });
    check(Array.isArray(res) && res.length === 2, "enqueue to a group answers an array", show(res));
    const out = await client.batchJSON([
      { url: `${S}/js/ug/single`, body: { b: 0 } },
      { urlGroup: GROUP, body: { b: 1 } },
    ]);
    check(!Array.isArray(out[0]), "batch: a URL item answers one object", show(out));
    check(Array.isArray(out[1]) && out[1].length === 2, "batch: a group item answers an array", show(out));
    check((await sink.waitFor(onPath("/js/ug/single"), 10_000)) !== undefined, "batch URL item delivered");
  });

  await step("unknown groups and delete", async () => {
    await expectQstashError(() => client.publishJSON({ urlGroup: "sdk-js-nobody", body: {} }), "publish to an unknown group", 404);
    await client.urlGroups.delete(GROUP);
    await expectQstashError(() => client.urlGroups.get(GROUP), "get after delete", 404);
    checkEq(await client.urlGroups.list(), [], "list after delete");
    await expectQstashError(() => client.urlGroups.delete(GROUP), "delete twice", 404);
  });

  sink.close();
  return summary();
}

run(main);
