// What both console programs (console.test.mjs, surface.test.mjs) need of
// the browser: Debian's chromium launched headless with a throwaway profile,
// pages that record page errors, CSP refusals and unexpected dialogs, the
// check that hostile values stayed text, screenshots at 1280 and 390 px, and
// hash-route navigation.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** A required environment variable. */
export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

const started = Date.now();
export const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
export const log = (...a) => console.log(`[${elapsed()}s]`, ...a);

/** Page errors, CSP refusals and unexpected dialogs seen on any page. */
export const problems = [];

/** Chromium with a profile of its own; `close()` ends it and removes the profile. */
export async function launch(prefix) {
  const profile = mkdtempSync(join(tmpdir(), prefix));
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    // Playwright gives each launch a fresh profile directory of its own.
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--disk-cache-dir=${join(profile, 'cache')}`,
    ],
    timeout: 60000,
  });
  const close = async () => {
    await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

/** A new page in `context` whose problems are recorded under `name`. */
export async function newPage(context, name) {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content.Security.Policy|Refused to/i.test(t)) problems.push(`${name}: CSP: ${t}`);
  });
  page.on('dialog', (d) => {
    problems.push(`${name}: unexpected ${d.type()} dialog: ${d.message()}`);
    d.dismiss();
  });
  return page;
}

/** The page's text holds every hostile value as text, and none of them ran or became markup. */
export async function assertInert(page, where, values) {
  const r = await page.evaluate(() => ({
    xss: window.__xss,
    text: document.body.innerText,
    injected: document.querySelectorAll('img[src="x"], script:not([src]), [onerror]').length,
  }));
  assert.equal(r.xss, undefined, `${where}: a hostile value ran`);
  assert.equal(r.injected, 0, `${where}: a hostile value became markup`);
  for (const v of values) assert.ok(r.text.includes(v), `${where}: "${v}" is shown as text`);
}

/** `dir/name-1280.png` and `dir/name-390.png`, toasts cleared, scrolled to `scroll` (a selector) or the top. */
export async function shot(page, dir, name, { scroll, fullPage = false } = {}) {
  const place = () => page.evaluate((sel) => {
    document.getElementById('toasts')?.replaceChildren();
    window.scrollTo(0, 0);
    if (sel) document.querySelector(sel)?.scrollIntoView({ block: 'start' });
  }, scroll || null);
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    await page.setViewportSize({ width, height });
    await place();
    await page.screenshot({ path: join(dir, `${name}-${width}.png`), fullPage });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** Opens `base/hash` and waits for its heading. */
export async function go(page, base, hash, heading) {
  await page.goto(`${base}/${hash}`);
  if (heading) await page.locator('h1', { hasText: heading }).first().waitFor();
}
