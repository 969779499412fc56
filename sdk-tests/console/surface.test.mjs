// The console's queue, URL-group and flow-control pages, the schedule form's
// destination kinds and flow-control fields, and webhook / invoke steps on the
// workflow run page, in Debian's headless Chromium (tests/console.rs,
// the_console_manages_queues_url_groups_and_flow_control, starts the server
// and the sink and seeds the workflow run). Every step waits for elements or
// for the API, never for time.
//
// Environment: CONSOLE_URL (a server with the dev token: no login),
// CONSOLE_TOKEN, SINK_URL, HOOKS_RUN_ID, SCREENSHOT_DIR.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as b from './browser.mjs';
import { elapsed, env, log, newPage, problems } from './browser.mjs';

const BASE = env('CONSOLE_URL');
const TOKEN = env('CONSOLE_TOKEN');
const SINK = env('SINK_URL').replace(/\/$/, '');
const HOOKS_RUN = env('HOOKS_RUN_ID');
const FAILED_RUN = env('FAILED_RUN_ID');
const SHOTS = env('SCREENSHOT_DIR');

const XSS = ['<script>window.__xss=1</script>', '"><img src=x onerror="window.__xss=1">'];

/** The API with the token, from Node (seeding and checking, not the UI). */
async function api(method, path, { headers = {}, body, json } = {}) {
  const hs = { Authorization: `Bearer ${TOKEN}`, ...headers };
  if (json !== undefined) hs['Content-Type'] = 'application/json';
  const r = await fetch(BASE + path, { method, headers: hs, body: json !== undefined ? JSON.stringify(json) : body });
  const text = await r.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, data };
}
async function apiOk(method, path, opts) {
  const r = await api(method, path, opts);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

/** Polls the API (bounded) until check(answer) holds; returns the answer. */
async function apiUntil(path, check, what, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await api('GET', path);
    if (check(last)) return last;
    if (Date.now() > end) throw new Error(`${what}: last answer ${last.status} ${JSON.stringify(last.data)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const { browser, close } = await b.launch('cronhook-surface-');

const assertInert = (page, where, values) => b.assertInert(page, where, values);
const shot = (page, name) => b.shot(page, SHOTS, name, { fullPage: true });
const go = (page, hash, heading) => b.go(page, BASE, hash, heading);

const confirm = (page, name) => page.locator('dialog[open]').getByRole('button', { name, exact: true }).click();
const dialogGone = (page) => page.locator('dialog').waitFor({ state: 'detached' });

let page;
try {
  // ---- a server without these endpoints: every page says so ----
  {
    const bare = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const missing = /\/v2\/(queues|topics|flowControl|globalParallelism)(\/|\?|$)/;
    await bare.route((url) => missing.test(new URL(url).pathname + new URL(url).search), (route) => route.fulfill({
      status: 404, contentType: 'application/json',
      body: JSON.stringify({ error: `no such endpoint: ${route.request().method()} ${new URL(route.request().url()).pathname}` }),
    }));
    const p = await newPage(bare, 'bare');
    for (const [hash, heading] of [['#/queues', 'Queues'], ['#/url-groups', 'URL groups'], ['#/flow-control', 'Flow control']]) {
      await go(p, hash, heading);
      await p.locator('.unavailable', { hasText: 'not available on this server' }).waitFor();
      assert.equal(await p.locator('.error-box').count(), 0, `${hash}: no error box`);
    }
    await shot(p, 'not-available');
    // The schedule form works without them (the name lists stay empty).
    await go(p, '#/schedules/new', 'New schedule');
    await p.getByLabel('Destination kind').selectOption('queue');
    await p.getByLabel('Queue', { exact: true }).waitFor();
    await bare.close();
    log('without the endpoints: "not available on this server" on each page');
  }

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await newPage(context, 'surface');

  // ---- queues ----
  await go(page, '#/queues', 'Queues');
  await page.getByRole('button', { name: 'New queue' }).click();
  await page.locator('dialog[open]').getByLabel('Queue name').fill('console-q');
  await page.locator('dialog[open]').getByLabel('Parallelism', { exact: true }).fill('2');
  await confirm(page, 'Create queue');
  await dialogGone(page);
  const qrow = page.locator('tr[data-queue="console-q"]');
  await qrow.locator('td[data-label="Parallelism"]', { hasText: /^2$/ }).waitFor();
  await apiUntil('/v2/queues/console-q', (r) => r.status === 200 && r.data.parallelism === 2, 'queue created with parallelism 2');
  // Change the parallelism.
  await qrow.getByRole('button', { name: 'Parallelism' }).click();
  await page.locator('dialog[open]').getByLabel('Parallelism', { exact: true }).fill('3');
  await confirm(page, 'Save');
  await dialogGone(page);
  await qrow.locator('td[data-label="Parallelism"]', { hasText: /^3$/ }).waitFor();
  await apiUntil('/v2/queues/console-q', (r) => r.data?.parallelism === 3, 'parallelism changed to 3');
  // Pause, resume.
  await qrow.getByRole('button', { name: 'Pause' }).click();
  await qrow.locator('.badge', { hasText: 'paused' }).waitFor();
  await apiUntil('/v2/queues/console-q', (r) => r.data?.paused === true, 'queue paused');
  // A paused queue keeps what is enqueued: its lag shows.
  await apiOk('POST', `/v2/enqueue/console-q/${SINK}/lag`, { body: 'waits' });
  await qrow.locator('td[data-label="Lag"]', { hasText: /^1$/ }).waitFor();
  await shot(page, 'queues');
  await qrow.getByRole('button', { name: 'Resume' }).click();
  await qrow.locator('.badge', { hasText: 'active' }).waitFor();
  await apiUntil('/v2/queues/console-q', (r) => r.data?.paused === false, 'queue resumed');
  // Delete, confirmed.
  await qrow.getByRole('button', { name: 'Delete' }).click();
  await confirm(page, 'Delete queue');
  await qrow.waitFor({ state: 'detached' });
  await apiUntil('/v2/queues/console-q', (r) => r.status === 404, 'queue deleted');
  log('queues: created, parallelism 2 → 3, paused (lag 1), resumed, deleted');

  // ---- URL groups ----
  // Hostile values, seeded through the API: whichever the server accepts
  // (names may be restricted) must render as text.
  const shown = [];
  const refused = {};
  for (const [what, group, endpoint] of [
    ['group name', XSS[0], { url: `${SINK}/g-hostile` }],
    ['endpoint name', 'console-hostile', { name: XSS[1], url: `${SINK}/g-hostile` }],
    ['endpoint URL', 'console-hostile-url', { url: `${SINK}/g?x=${XSS[1]}` }],
  ]) {
    const r = await api('POST', `/v2/topics/${encodeURIComponent(group)}/endpoints`, { json: { endpoints: [endpoint] } });
    if (r.status >= 200 && r.status < 300) {
      const stored = await apiOk('GET', `/v2/topics/${encodeURIComponent(group)}`);
      shown.push(stored.name, ...stored.endpoints.flatMap((e) => [e.name, e.url]).filter((v) => v && /[<>"]/.test(v)));
      log(`URL groups: a hostile ${what} was accepted`);
    } else {
      // Refused is fine too, as bad input: a 4xx that says why.
      assert.ok(r.status >= 400 && r.status < 500 && typeof r.data?.error === 'string', `hostile ${what}: ${r.status} ${JSON.stringify(r.data)}`);
      refused[what] = r.data.error;
      log(`URL groups: a hostile ${what} was refused (${r.status}: ${r.data.error})`);
    }
  }
  await go(page, '#/url-groups', 'URL groups');
  const newGroup = page.getByRole('form', { name: 'New URL group' });
  if (refused['group name']) {
    // The same refusal through the form: the API's error, with the name in
    // it, shown as text.
    await newGroup.getByLabel('Group name').fill(XSS[0]);
    await newGroup.getByLabel('Endpoint URL').fill(`${SINK}/g-hostile`);
    await newGroup.getByRole('button', { name: 'Create group' }).click();
    await newGroup.locator('.form-error', { hasText: 'not a valid name' }).waitFor();
    await assertInert(page, 'URL group form error', [refused['group name']]);
  }
  await newGroup.getByLabel('Group name').fill('console-group');
  await newGroup.getByLabel('Endpoint name').fill('first');
  await newGroup.getByLabel('Endpoint URL').fill(`${SINK}/g1`);
  await newGroup.getByRole('button', { name: 'Create group' }).click();
  const card = page.locator('section.url-group[data-group="console-group"]');
  await card.locator(`tr[data-endpoint="${SINK}/g1"]`).waitFor();
  const add = card.getByRole('form', { name: 'Add an endpoint to console-group' });
  await add.getByLabel('Endpoint URL').fill(`${SINK}/g2`);
  await add.getByRole('button', { name: 'Add endpoint' }).click();
  await card.locator(`tr[data-endpoint="${SINK}/g2"]`).waitFor();
  await apiUntil('/v2/topics/console-group', (r) => r.data?.endpoints?.length === 2, 'two endpoints');
  await assertInert(page, 'URL groups', shown.filter((v) => typeof v === 'string' && /[<>"]/.test(v)));
  await shot(page, 'url-groups');
  await card.locator(`tr[data-endpoint="${SINK}/g1"]`).getByRole('button', { name: 'Remove' }).click();
  await confirm(page, 'Remove');
  await card.locator(`tr[data-endpoint="${SINK}/g1"]`).waitFor({ state: 'detached' });
  const left = await apiUntil('/v2/topics/console-group', (r) => r.data?.endpoints?.length === 1, 'one endpoint left');
  assert.equal(left.data.endpoints[0].url, `${SINK}/g2`);
  await card.getByRole('button', { name: 'Delete group' }).click();
  await confirm(page, 'Delete group');
  await card.waitFor({ state: 'detached' });
  await apiUntil('/v2/topics/console-group', (r) => r.status === 404, 'group deleted');
  log('URL groups: made with one endpoint, added one, removed one, deleted');

  // ---- flow control ----
  // Two messages with parallelism 1 to a sink path that answers slowly: one
  // in flight, one in the waitlist.
  const fcKeys = ['console-fc'];
  const hostileKey = XSS[1];
  for (let i = 0; i < 2; i++) {
    await apiOk('POST', `/v2/publish/${SINK}/fc`, {
      headers: { 'Upstash-Flow-Control-Key': 'console-fc', 'Upstash-Flow-Control-Value': 'parallelism=1, rate=5, period=10s', 'Upstash-Retries': '0' },
      body: `m${i}`,
    });
  }
  const hk = await api('POST', `/v2/publish/${SINK}/fc-hostile`, {
    headers: { 'Upstash-Flow-Control-Key': hostileKey, 'Upstash-Flow-Control-Value': 'parallelism=3' },
    body: 'x',
  });
  const hostileAccepted = hk.status >= 200 && hk.status < 300;
  if (!hostileAccepted) assert.ok(hk.status >= 400 && hk.status < 500, `hostile flow key: ${hk.status} ${JSON.stringify(hk.data)}`);
  log(`flow control: a hostile key was ${hostileAccepted ? 'accepted' : `refused (${hk.status})`}`);
  if (hostileAccepted) fcKeys.push(hostileKey);
  await go(page, '#/flow-control', 'Flow control');
  await page.locator('.global-parallelism').waitFor();
  const krow = page.locator('tr[data-key="console-fc"]');
  await krow.waitFor();
  if (hostileAccepted) {
    await page.locator('tr[data-key]').filter({ hasText: hostileKey }).waitFor();
    await assertInert(page, 'flow control', [hostileKey]);
  }
  const fc = (check, what) => apiUntil('/v2/flowControl/console-fc', (r) => r.status === 200 && check(r.data), what);
  await fc((d) => d.parallelismMax === 1 && d.rateMax === 5, 'the key has the messages\' config');
  await krow.getByRole('button', { name: 'Pause' }).click();
  await krow.locator('.badge', { hasText: 'paused' }).waitFor();
  await fc((d) => d.isPaused === true, 'key paused');
  await krow.getByRole('button', { name: 'Resume' }).click();
  await krow.getByRole('button', { name: 'Pause' }).waitFor();
  await fc((d) => d.isPaused === false, 'key resumed');
  await krow.getByRole('button', { name: 'Pin' }).click();
  const pin = page.locator('dialog[open]');
  await pin.getByLabel('Parallelism', { exact: true }).fill('2');
  await pin.getByLabel('Rate', { exact: true }).fill('7');
  await pin.getByLabel('Period (seconds)').fill('30');
  await confirm(page, 'Pin');
  await dialogGone(page);
  await krow.locator('.badge', { hasText: 'parallelism pinned' }).waitFor();
  await krow.locator('.badge', { hasText: 'rate pinned' }).waitFor();
  await fc((d) => d.isPinnedParallelism && d.isPinnedRate && d.parallelismMax === 2 && d.rateMax === 7 && d.ratePeriod === 30, 'pinned 2 / 7 per 30 s');
  await shot(page, 'flow-control');
  await krow.getByRole('button', { name: 'Reset rate' }).click();
  await fc((d) => d.rateCount === 0, 'rate count reset');
  await krow.getByRole('button', { name: 'Unpin' }).click();
  await confirm(page, 'Unpin');
  await dialogGone(page);
  await page.waitForFunction(() => ![...document.querySelectorAll('tr[data-key="console-fc"] .badge')]
    .some((b) => b.textContent.includes('pinned')), null, { timeout: 15000, polling: 200 });
  await fc((d) => !d.isPinnedParallelism && !d.isPinnedRate, 'unpinned');
  // One key by name.
  await page.getByLabel('Look up a key').fill('console-fc');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.locator('.card', { hasText: 'One key' }).locator('tr[data-key="console-fc"]').waitFor();
  log('flow control: listed, paused, resumed, pinned, rate reset, unpinned, looked up');

  // ---- the schedule form: a queue destination with flow control ----
  await apiOk('POST', '/v2/queues', { json: { queueName: 'console-sched-q', parallelism: 1 } });
  await go(page, '#/schedules/new', 'New schedule');
  await page.getByLabel('Destination kind').selectOption('queue');
  await page.getByLabel('Queue', { exact: true }).fill('console-sched-q');
  await page.getByLabel('Destination URL').fill(`${SINK}/queued`);
  await page.getByLabel('Schedule id').fill('console-queued');
  await page.getByLabel('Repeat').selectOption('seconds');
  await page.getByLabel('Every', { exact: true }).fill('1');
  await page.getByLabel('Flow-control key').fill('console-fc-sched');
  await page.getByLabel('Parallelism', { exact: true }).fill('1');
  await page.getByLabel('Rate', { exact: true }).fill('10');
  await page.getByLabel('Period', { exact: true }).fill('1m');
  const code = page.locator('pre.code-view');
  for (const kind of ['curl', 'Python', 'JavaScript']) {
    await page.getByRole('button', { name: kind, exact: true }).click();
    const text = await code.textContent();
    for (const want of ['Upstash-Queue-Name', 'console-sched-q', 'Upstash-Flow-Control-Key', 'console-fc-sched', 'parallelism=1, rate=10, period=1m']) {
      assert.ok(text.includes(want), `${kind} view holds ${want}:\n${text}`);
    }
  }
  await shot(page, 'schedule-form-queue');
  // A hostile flow-control key: saved as given or refused, it stays text.
  await page.getByLabel('Flow-control key').fill(XSS[1]);
  await page.getByRole('button', { name: 'Create schedule' }).click();
  const saved = await Promise.race([
    page.locator('.schedule-form .error-box').waitFor().then(() => false),
    page.locator('h1.mono', { hasText: /^console-queued$/ }).waitFor().then(() => true),
  ]);
  await assertInert(page, 'schedule form with a hostile key', saved ? [XSS[1]] : []);
  log(`schedule form: a hostile flow-control key was ${saved ? 'saved' : `refused: ${await page.locator('.schedule-form .error-box').textContent()}`}`);
  if (saved) await go(page, '#/schedules/console-queued/edit', 'Edit console-queued');
  await page.getByLabel('Flow-control key').fill('console-fc-sched');
  // The URL-group kind takes a name, not a URL.
  await page.getByLabel('Destination kind').selectOption('group');
  await page.getByLabel('URL group').waitFor();
  await page.getByLabel('Destination kind').selectOption('queue');
  await page.getByLabel('Destination URL').fill(`${SINK}/queued`);
  await page.getByRole('button', { name: /^(Create schedule|Save changes)$/ }).click();
  await page.locator('h1.mono', { hasText: /^console-queued$/ }).first().waitFor();
  const sched = await apiOk('GET', '/v2/schedules/console-queued');
  assert.equal(sched.queueName, 'console-sched-q', 'the schedule fires into the queue');
  assert.equal(sched.flowControlKey, 'console-fc-sched', 'the schedule carries the flow-control key');
  await page.locator('dd a[href="#/queues"]', { hasText: 'console-sched-q' }).waitFor();
  await page.locator('dd a[href="#/flow-control"]', { hasText: 'console-fc-sched' }).waitFor();
  // The edit form reads it back.
  await go(page, '#/schedules/console-queued/edit', 'Edit console-queued');
  assert.equal(await page.getByLabel('Destination kind').inputValue(), 'queue');
  assert.equal(await page.getByLabel('Queue', { exact: true }).inputValue(), 'console-sched-q');
  assert.equal(await page.getByLabel('Flow-control key').inputValue(), 'console-fc-sched');
  log('schedule form: queue destination and flow control, in every code view and saved');

  // ---- a workflow run with webhooks and an invoked child ----
  await go(page, `#/workflows/${HOOKS_RUN}`, 'Workflow run');
  await page.locator('li.step[data-step-name="make-hook"] .webhook-url', { hasText: `/v2/workflows/hooks/defaultUser/${HOOKS_RUN}/evt_1` }).waitFor();
  const call = page.locator('li.step[data-step-name="await-payment"] .webhook-call');
  await call.getByText(`POST /v2/workflows/hooks/defaultUser/${HOOKS_RUN}/evt_1?from=payments`).waitFor();
  await call.locator('pre.webhook-body', { hasText: '"paid": true' }).waitFor();
  await assertInert(page, 'webhook call', XSS);
  // The child's end as cronhook reported it: succeeded, with its result.
  // (cronhook's Invoke step carries no child run id, so there is no link.)
  const ship = page.locator('li.step[data-step-name="ship"]');
  await ship.locator('.badge', { hasText: 'succeeded' }).waitFor();
  await ship.locator('pre.invoke-result', { hasText: '"shipped": true' }).waitFor();
  assert.equal(await ship.locator('a.child-run').count(), 0);
  await shot(page, 'workflow-run-hooks');
  log('workflow run: webhook URL, the call cronhook recorded, the invoked child\'s result');

  // ---- a failed run: the failed step's error and the failure function ----
  await go(page, `#/workflows/${FAILED_RUN}`, 'Workflow run');
  const failedStep = page.locator('li.step-next[data-state="STEP_FAILED"]');
  await failedStep.locator('.step-error', { hasText: 'HTTP 400' }).waitFor();
  await failedStep.locator('pre.error-body', { hasText: 'refused here' }).waitFor();
  await page.locator('dd .badge', { hasText: 'CALLBACK_SUCCESS' }).waitFor();
  await page.locator('pre.fail-response', { hasText: 'refused here' }).waitFor();
  await page.locator('dd', { hasText: `${SINK}/wf-failure` }).waitFor();
  await shot(page, 'workflow-run-failed');
  log('workflow run: the failed step with its error, the failure function\'s call');

  assert.deepEqual(problems, [], 'no page errors and no CSP violations');
  console.log(`console surface test: passed in ${elapsed()} s`);
} catch (e) {
  try {
    if (page) {
      await page.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true });
      console.error('failed at', page.url(), '\n--- page text ---\n', (await page.evaluate(() => document.body.innerText)).slice(0, 4000));
    }
  } catch {
    /* the failure itself is what matters */
  }
  console.error('problems seen:', problems);
  throw e;
} finally {
  await close();
}
