// The web console in Debian's headless Chromium (tests/console.rs starts the
// servers and the sink and seeds what a browser cannot make). Every step
// waits for elements, not for time; the only loops are bounded polls.
//
// Environment: CONSOLE_URL (a server with the dev token: the console opens
// without a login), LOCKED_URL and LOCKED_TOKEN (a server that asks for its
// token), CONSOLE_TOKEN, SINK_URL, DLQ_MESSAGE_ID, WORKFLOW_RUN_ID,
// RUNNING_RUN_ID, SCREENSHOT_DIR.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as b from './browser.mjs';
import { elapsed, env, log, newPage, problems } from './browser.mjs';

const BASE = env('CONSOLE_URL');
const TOKEN = env('CONSOLE_TOKEN');
const LOCKED = env('LOCKED_URL');
const LOCKED_TOKEN = env('LOCKED_TOKEN');
const SINK = env('SINK_URL').replace(/\/$/, '');
const DLQ_MESSAGE = env('DLQ_MESSAGE_ID');
const RUN_DONE = env('WORKFLOW_RUN_ID');
const RUN_RUNNING = env('RUNNING_RUN_ID');
const SHOTS = env('SCREENSHOT_DIR');

const XSS = [
  '<script>window.__xss=1</script>',
  '"><img src=x onerror="window.__xss=1">',
  'javascript:window.__xss=1',
];

/** The API with the token, from Node (seeding and checking, not the UI). */
async function api(method, path, { headers = {}, body } = {}) {
  const r = await fetch(BASE + path, { method, headers: { Authorization: `Bearer ${TOKEN}`, ...headers }, body });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const { browser, close } = await b.launch('cronhook-console-');

const assertInert = (page, where, values = XSS) => b.assertInert(page, where, values);
const shot = (page, name, opts) => b.shot(page, SHOTS, name, opts);
const go = (page, hash, heading) => b.go(page, BASE, hash, heading);

/** Waits (bounded) until fn() in the page is true. */
const until = (page, fn, arg, timeout = 20000) => page.waitForFunction(fn, arg, { timeout, polling: 200 });

const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await newPage(context, 'console');

try {
  // ---- overview ----
  await go(page, '', 'Overview');
  await page.locator('.env-line', { hasText: 'QSTASH_URL' }).waitFor();
  await page.locator('.env-line', { hasText: 'QSTASH_CURRENT_SIGNING_KEY' }).waitFor();
  log('overview opened without a login (dev token on loopback)');

  // ---- create a schedule through the form ----
  await go(page, '#/schedules/new', 'New schedule');
  await page.getByLabel('Destination URL').fill(`${SINK}/daily`);
  await page.getByLabel('Method').selectOption('POST');
  await page.getByLabel('Content type').fill('text/plain');
  await page.getByLabel('Body', { exact: true }).fill(XSS.join('\n'));
  await page.getByRole('button', { name: 'Add forwarded header' }).click();
  await page.getByLabel('Name', { exact: true }).last().fill('X-Evil');
  await page.getByLabel('Value', { exact: true }).last().fill(XSS[1]);
  await page.getByLabel('Schedule id').fill('console-daily');
  await page.getByLabel('Time zone').selectOption('Europe/Berlin');
  await page.getByLabel('Repeat').selectOption('daily');
  await page.getByLabel('At', { exact: true }).fill('09:30');
  await page.getByLabel('Label').fill('nightly-report');
  await page.getByLabel('Retries').fill('2');
  assert.equal(await page.getByLabel('Cron expression').inputValue(), '30 9 * * *');
  await until(page, () => /09:30/.test(document.querySelector('#cron-meaning')?.textContent || ''));
  await until(page, () => document.querySelectorAll('.next-times tbody tr').length === 10);
  await page.locator('.next-times th', { hasText: 'In Europe/Berlin' }).waitFor();
  const code = await page.locator('.code-view').textContent();
  assert.ok(code.includes('Upstash-Cron: CRON_TZ=Europe/Berlin 30 9 * * *'), code);
  assert.ok(code.includes('Upstash-Schedule-Id: console-daily'), code);
  // A wrong expression shows the API's own error text.
  await page.getByLabel('Cron expression').fill('61 9 * * *');
  await until(page, () => (document.querySelector('#cron-error')?.textContent || '').includes('Upstash-Cron'));
  await page.getByLabel('Repeat').selectOption('daily');
  await until(page, () => (document.querySelector('#cron-error')?.textContent || '') === '' && /09:30/.test(document.querySelector('#cron-meaning')?.textContent || ''));
  await page.getByRole('button', { name: 'Python' }).click();
  assert.ok((await page.locator('.code-view').textContent()).includes('requests.post('));
  await page.getByRole('button', { name: 'curl' }).click();
  await shot(page, 'schedule-form', { scroll: '.fm-a > .card:nth-child(2)' });
  await page.getByRole('button', { name: 'Create schedule' }).click();
  await page.locator('h1', { hasText: 'console-daily' }).waitFor();
  await page.getByText('nightly-report').first().waitFor();
  await assertInert(page, 'schedule detail (body and forwarded header)');
  const created = await api('GET', '/v2/schedules/console-daily');
  assert.equal(created.cron, 'CRON_TZ=Europe/Berlin 30 9 * * *');
  assert.equal(created.retries, 2);
  assert.deepEqual(created.header['X-Evil'], [XSS[1]]);
  log('created console-daily through the form');

  // ---- a seconds schedule into the sink: its history fills ----
  await go(page, '#/schedules/new', 'New schedule');
  await page.getByLabel('Schedule id').fill('console-daily');
  await page.locator('.warning', { hasText: 'exists' }).waitFor();
  await page.getByLabel('Schedule id').fill('console-tick');
  await page.locator('.warning').waitFor({ state: 'detached' });
  await page.getByLabel('Destination URL').fill(`${SINK}/tick`);
  await page.getByLabel('Time zone').selectOption('UTC');
  await page.getByLabel('Repeat').selectOption('seconds');
  await page.getByLabel('Every', { exact: true }).fill('2');
  assert.equal(await page.getByLabel('Cron expression').inputValue(), '*/2 * * * * *');
  assert.ok(await page.getByLabel(/Seconds field/).isChecked());
  await until(page, () => document.querySelectorAll('.next-times tbody tr').length === 10 && (document.querySelector('#cron-meaning')?.textContent || '') !== '');
  await page.getByRole('button', { name: 'Create schedule' }).click();
  await page.locator('h1', { hasText: 'console-tick' }).waitFor();
  await until(page, () => [...document.querySelectorAll('table.history tbody tr')]
    .filter((r) => r.textContent.includes('DELIVERED')).length >= 2, null, 30000);
  await page.locator('.history-chart svg rect.c-ok').first().waitFor();
  log('the seconds schedule fired and its history filled');
  await page.locator('#run-now').click();
  await page.locator('tr.firing-manual', { hasText: 'DELIVERED' }).first().waitFor();
  log('run now');
  await shot(page, 'schedule-detail');
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await page.locator('.subtitle .badge', { hasText: 'Paused' }).waitFor();

  // ---- the list: pause, resume, search, edit, delete ----
  await go(page, '#/schedules', 'Schedules');
  const daily = page.locator('tr[data-id="console-daily"]');
  await daily.waitFor();
  await page.locator('.tab-active', { hasText: 'Active' }).waitFor();
  await daily.getByRole('button', { name: 'Pause' }).click();
  await daily.waitFor({ state: 'detached' });
  await page.getByRole('link', { name: /^Paused/ }).click();
  await page.locator('tr[data-id="console-daily"]').waitFor();
  await page.locator('tr[data-id="console-tick"]').waitFor();
  await page.getByLabel('Search').fill('tick');
  await page.locator('tr[data-id="console-daily"]').waitFor({ state: 'detached' });
  await page.locator('tr[data-id="console-tick"]').waitFor();
  await page.getByLabel('Search').fill('');
  await page.locator('tr[data-id="console-daily"]').waitFor();
  await page.locator('tr[data-id="console-daily"]').getByRole('button', { name: 'Resume' }).click();
  await page.locator('tr[data-id="console-daily"]').waitFor({ state: 'detached' });
  await page.getByRole('link', { name: /^Active/ }).click();
  await daily.waitFor();
  log('paused, searched and resumed from the list');
  // Escape closes a dialog and nothing happens.
  await daily.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog[open]').waitFor();
  await page.keyboard.press('Escape');
  await page.locator('dialog').waitFor({ state: 'detached' });
  await daily.waitFor();
  // Edit: the form comes back filled in; saving overwrites.
  await daily.getByRole('link', { name: 'Edit' }).click();
  await page.locator('h1', { hasText: 'Edit console-daily' }).waitFor();
  assert.equal(await page.getByLabel('Destination URL').inputValue(), `${SINK}/daily`);
  assert.equal(await page.getByLabel('Cron expression').inputValue(), '30 9 * * *');
  assert.equal(await page.getByLabel('Time zone').inputValue(), 'Europe/Berlin');
  assert.equal(await page.getByLabel('Label').inputValue(), 'nightly-report');
  assert.equal(await page.getByLabel('Value', { exact: true }).last().inputValue(), XSS[1]);
  await page.getByLabel('Destination URL').fill(`${SINK}/daily2`);
  await page.getByRole('button', { name: 'Save changes' }).click();
  // The edit page's own heading and request preview name the id and the
  // new URL too: wait for the save's toast and the detail page itself.
  await page.getByText('Saved console-daily').waitFor();
  await page.getByRole('heading', { level: 1, name: 'console-daily', exact: true }).waitFor();
  await page.getByText(`${SINK}/daily2`).first().waitFor();
  assert.equal((await api('GET', '/v2/schedules/console-daily')).destination, `${SINK}/daily2`);
  log('edited console-daily');
  await go(page, '#/schedules', 'Schedules');
  await daily.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
  await daily.waitFor({ state: 'detached' });
  await page.locator('.empty', { hasText: 'No active schedules' }).waitFor();
  assert.equal((await fetch(`${BASE}/v2/schedules/console-daily`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 404);
  log('deleted console-daily');

  // ---- the DLQ: the hostile response as text; edit and retry ----
  await go(page, '#/dlq', 'Dead-letter queue');
  const entry = page.locator('tr', { hasText: DLQ_MESSAGE }).first();
  await entry.waitFor();
  await entry.getByRole('button', { name: 'Details' }).click();
  await page.locator('.response-body').waitFor();
  await assertInert(page, 'DLQ entry (response body and headers)', [...XSS, 'upstream broke:']);
  await shot(page, 'dlq');
  await entry.getByRole('button', { name: 'Edit and retry' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel('URL').fill(`${SINK}/fixed`);
  await dialog.getByRole('button', { name: 'Publish and delete entry' }).click();
  await page.waitForURL(/#\/messages\//);
  await page.locator('.timeline .badge', { hasText: 'DELIVERED' }).waitFor({ timeout: 20000 });
  await assertInert(page, 'message (the retried body)');
  await shot(page, 'message');
  log('edited and retried the DLQ entry; delivered');
  await go(page, '#/dlq', 'Dead-letter queue');
  await page.locator('.empty', { hasText: 'empty' }).waitFor();

  // ---- logs: filters, detail, live tail ----
  await go(page, '#/logs', 'Logs');
  await page.locator('table.logs tbody tr').first().waitFor();
  await page.locator('table.logs tbody tr', { hasText: '/fixed' }).first().getByRole('button', { name: 'Details' }).click();
  await page.locator('.detail .attempt').first().waitFor();
  await page.locator('.chart-box svg').first().waitFor();
  await shot(page, 'logs');
  await page.getByLabel('State').selectOption('DELIVERED');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/state=DELIVERED/);
  await page.locator('table.logs tbody tr').first().waitFor();
  const states = await page.locator('table.logs tbody tr:not(.detail-row) .badge').allTextContents();
  assert.ok(states.length > 0 && states.every((s) => s === 'DELIVERED'), states.join(','));
  await go(page, '#/logs', 'Logs');
  await page.locator('table.logs tbody tr').first().waitFor();
  await page.getByLabel('Live tail').check();
  await api('POST', `/v2/publish/${SINK}/live`, { body: 'live' });
  await page.locator('table.logs tbody tr', { hasText: '/live' }).first().waitFor({ timeout: 20000 });
  await page.getByLabel('Live tail').uncheck();
  log('logs: filter, detail and live tail');

  // ---- workflow runs ----
  await go(page, '#/workflows', 'Workflows');
  const running = page.locator(`tr[data-run-id="${RUN_RUNNING}"]`);
  await running.waitFor();
  await page.locator(`tr[data-run-id="${RUN_DONE}"]`, { hasText: 'RUN_SUCCESS' }).waitFor();
  await shot(page, 'workflows');
  await running.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Cancel run' }).click();
  await page.locator(`tr[data-run-id="${RUN_RUNNING}"]`, { hasText: 'RUN_CANCELED' }).waitFor();
  await page.locator(`tr[data-run-id="${RUN_DONE}"] a`).click();
  await page.locator('.step[data-step-name="charge-card"]').waitFor();
  await page.locator('.step-initial').waitFor();
  await assertInert(page, 'workflow run (step output and result)');
  await shot(page, 'workflow-run');
  await go(page, '#/workflows?tab=dlq', 'Workflows');
  await page.locator('.empty', { hasText: 'No failed workflow runs' }).waitFor();
  log('workflow runs: cancel, a run\'s steps, the workflow DLQ');

  // ---- settings: rotate the keys ----
  await go(page, '#/settings', 'Settings');
  const before = await api('GET', '/v2/keys');
  await page.getByText(before.current).waitFor();
  await page.getByRole('button', { name: 'Rotate keys' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Rotate' }).click();
  await page.locator('.toast', { hasText: 'Rotated the signing keys' }).waitFor();
  const rotated = await api('GET', '/v2/keys');
  assert.equal(rotated.current, before.next);
  await page.getByText(rotated.next).waitFor();
  await page.locator('.kv', { hasText: 'Database size' }).waitFor();
  await page.locator('.kv', { hasText: 'made by this server' }).waitFor();
  const cluster = await api('GET', '/cronhook/v1/cluster');
  if (cluster.nodes.length > 0) {
    // PostgreSQL: this server is listed, and it leads.
    await page.locator(`table.nodes tr[data-node="${cluster.node}"]`, { hasText: 'leader' }).waitFor();
    await page.locator(`table.nodes tr[data-node="${cluster.node}"]`, { hasText: 'this server' }).waitFor();
  } else {
    assert.equal(await page.locator('table.nodes').count(), 0, 'no node list on SQLite');
  }
  await shot(page, 'settings');
  log('settings: rotated the signing keys');

  // ---- a hostile value in a route is shown as text ----
  await page.goto(`${BASE}/#/schedules/${encodeURIComponent(XSS.join(' '))}`);
  await page.locator('.error-box').waitFor();
  await assertInert(page, 'a hostile schedule id in the route');

  // ---- an ended schedule (Cronhook-End-At passed) shows its state ----
  const endS = Math.floor(Date.now() / 1000) + 1;
  await api('POST', `/v2/schedules/${SINK}/bounded`, {
    headers: {
      'Upstash-Cron': '* * * * * *', 'Cronhook-Cron-Seconds': 'true',
      'Upstash-Schedule-Id': 'console-ended', 'Cronhook-Start-At': String(endS), 'Cronhook-End-At': String(endS),
    },
  });
  for (let i = 0; i < 100 && (await api('GET', '/v2/schedules/console-ended')).state !== 'ended'; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await go(page, '#/schedules?state=ended', 'Schedules');
  await page.locator('.tab-active', { hasText: 'Ended' }).waitFor();
  await page.locator('tr[data-id="console-ended"] .badge', { hasText: 'ended' }).waitFor();
  await go(page, '#/schedules/console-ended', 'console-ended');
  await page.locator('.subtitle .badge', { hasText: 'Ended' }).waitFor();
  await api('DELETE', '/v2/schedules/console-ended');
  log('an ended schedule is listed under Ended and shows its state');

  // ---- many schedules: the list is paged with the API's cursor ----
  const jobs = [
    ['billing-sync', 'CRON_TZ=America/New_York 0 2 * * *', 'billing'],
    ['weekly-digest', 'CRON_TZ=Europe/Berlin 30 9 * * 1', 'mail'],
    ['cache-warmup', '0 */6 * * *', 'ops'],
    ['invoice-reminder', 'CRON_TZ=Asia/Tokyo 0 10 1 * *', 'billing'],
    ['report-export', 'CRON_TZ=Europe/London 15 7 * * 1-5', 'reports'],
  ];
  for (let i = 0; i < 30; i++) {
    const [name, cron, label] = jobs[i % jobs.length];
    await api('POST', `/v2/schedules/${SINK}/jobs/${name}`, {
      headers: { 'Upstash-Cron': cron, 'Upstash-Schedule-Id': `${name}-${String(i + 1).padStart(2, '0')}`, 'Upstash-Label': label },
    });
  }
  await go(page, '#/schedules', 'Schedules');
  await until(page, () => document.querySelectorAll('table.table-collapse tbody tr').length === 25);
  await page.locator('.tab-active', { hasText: '30' }).waitFor();
  await shot(page, 'schedules');
  await page.getByRole('button', { name: 'Load more' }).click();
  await until(page, () => document.querySelectorAll('table.table-collapse tbody tr').length === 30);
  await page.locator('.load-more').waitFor({ state: 'hidden' });
  // Bulk: pause two at once.
  await page.getByLabel('Select billing-sync-01').check();
  await page.getByLabel('Select weekly-digest-02').check();
  await page.locator('.bulk-count', { hasText: '2 selected' }).waitFor();
  await page.getByRole('button', { name: 'Pause selected' }).click();
  await page.locator('.tab-active', { hasText: '28' }).waitFor();
  await page.locator('tr[data-id="billing-sync-01"]').waitFor({ state: 'detached' });
  assert.equal((await api('GET', '/v2/schedules/weekly-digest-02')).isPaused, true);
  log('30 schedules, paged with the cursor; two paused in bulk');

  // ---- the overview with data ----
  await go(page, '', 'Overview');
  await page.locator('.chart-box svg rect.c-ok').first().waitFor();
  await shot(page, 'overview');

  // ---- CSRF: the cookie alone does nothing ----
  const status = await page.evaluate(async () => {
    const r = await fetch('/v2/keys/rotate', { method: 'POST', credentials: 'same-origin' });
    return [r.status, await r.text()];
  });
  assert.equal(status[0], 403, status[1]);
  assert.ok(status[1].includes('X-Cronhook-Csrf'), status[1]);
  // Another origin (the sink's port) with the same browser and its cookie.
  await context.route(`${SINK}/evil`, (route) => route.fulfill({
    status: 200, contentType: 'text/html', body: '<!doctype html><title>evil</title><p>evil page</p>',
  }));
  const evil = await newPage(context, 'evil');
  await evil.goto(`${SINK}/evil`);
  await evil.evaluate(async (base) => {
    const opts = { method: 'POST', mode: 'no-cors', credentials: 'include' };
    await fetch(`${base}/v2/keys/rotate`, opts).catch(() => {});
    await fetch(`${base}/v2/schedules/console-tick/resume`, opts).catch(() => {});
    await fetch(`${base}/cronhook/v1/schedules/console-tick/trigger`, opts).catch(() => {});
  }, BASE);
  const after = await api('GET', '/v2/keys');
  assert.deepEqual(after, rotated, 'a cross-site POST did not rotate the keys');
  assert.equal((await api('GET', '/v2/schedules/console-tick')).isPaused, true, 'nor resume a schedule');
  await evil.close();
  log('CSRF: refused without the header, same-origin and cross-origin');
  for (const s of [page]) {
    const stored = await s.evaluate(() => localStorage.length + sessionStorage.length);
    assert.equal(stored, 0, 'nothing is kept in the browser\'s storage');
  }

  // ---- log in to a server that asks for its token ----
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const lp = await newPage(fresh, 'login');
  await lp.goto(`${LOCKED}/`);
  await lp.locator('#login-token').waitFor();
  await lp.locator('#login-token').fill('not-the-token');
  await lp.getByRole('button', { name: 'Log in' }).click();
  await lp.locator('#login-error', { hasText: 'Wrong token' }).waitFor();
  await shot(lp, 'login');
  await lp.locator('#login-token').fill(LOCKED_TOKEN);
  await lp.getByRole('button', { name: 'Log in' }).click();
  await lp.locator('h1', { hasText: 'Overview' }).waitFor();
  const kept = await lp.evaluate(() => ({
    storage: localStorage.length + sessionStorage.length, cookie: document.cookie, url: location.href,
  }));
  assert.equal(kept.storage, 0);
  assert.equal(kept.cookie, '', 'the session cookie is HttpOnly');
  assert.ok(!kept.url.includes(LOCKED_TOKEN), 'the token is not in the URL');
  // The env lines of a server with its own token leave the token out.
  assert.equal(await lp.locator('.env-line', { hasText: 'QSTASH_TOKEN' }).count(), 0);
  await fresh.close();
  log('login: refused with a wrong token, in with the right one');

  assert.deepEqual(problems, [], 'no page errors and no CSP violations');
  console.log(`console browser test: passed in ${elapsed()} s`);
} catch (e) {
  try {
    await page.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true });
    console.error('failed at', page.url(), '\n--- page text ---\n', (await page.evaluate(() => document.body.innerText)).slice(0, 4000));
  } catch {
    /* the failure itself is what matters */
  }
  console.error('problems seen:', problems);
  throw e;
} finally {
  await close();
}
