// The console's shell: the session (or the login form), the hash router and
// the navigation. Each page is a module that renders into a fresh view and
// registers its timers with the route context, so leaving a page stops them.

import { h, fill, tickTimes } from './dom.js';
import { session, login, setUnauthorizedHandler } from './api.js';
import { errorBox } from './ui.js';
import overview from './pages/overview.js';
import schedules from './pages/schedules.js';
import scheduleForm from './pages/schedule-form.js';
import scheduleDetail from './pages/schedule-detail.js';
import logs from './pages/logs.js';
import message from './pages/message.js';
import dlq from './pages/dlq.js';
import workflows from './pages/workflows.js';
import workflowRun from './pages/workflow-run.js';
import settings from './pages/settings.js';
import queues from './pages/queues.js';
import urlGroups from './pages/url-groups.js';
import flowControl from './pages/flow-control.js';

const ROUTES = [
  [[], overview, 'overview', 'Overview'],
  [['schedules'], schedules, 'schedules', 'Schedules'],
  [['schedules', 'new'], scheduleForm, 'schedules', 'New schedule'],
  [['schedules', ':id', 'edit'], scheduleForm, 'schedules', 'Edit schedule'],
  [['schedules', ':id'], scheduleDetail, 'schedules', 'Schedule'],
  [['queues'], queues, 'queues', 'Queues'],
  [['url-groups'], urlGroups, 'url-groups', 'URL groups'],
  [['flow-control'], flowControl, 'flow-control', 'Flow control'],
  [['logs'], logs, 'logs', 'Logs'],
  [['messages', ':id'], message, 'logs', 'Message'],
  [['dlq'], dlq, 'dlq', 'Dead-letter queue'],
  [['workflows'], workflows, 'workflows', 'Workflow runs'],
  [['workflows', ':id'], workflowRun, 'workflows', 'Workflow run'],
  [['settings'], settings, 'settings', 'Settings'],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let current = null;
let authenticated = false;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const segs = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { segs, query: new URLSearchParams(query) };
}

function match(segs) {
  for (const [pattern, page, section, title] of ROUTES) {
    if (pattern.length !== segs.length) continue;
    const params = {};
    let ok = true;
    pattern.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = segs[i];
      else if (p !== segs[i]) ok = false;
    });
    if (ok) return { page, params, section, title };
  }
  return null;
}

function leave() {
  if (!current) return;
  current.abort.abort();
  for (const fn of current.cleanups) {
    try {
      fn();
    } catch {
      /* a cleanup must not stop the next page */
    }
  }
  current = null;
}

async function render() {
  if (!authenticated) return;
  leave();
  const { segs, query } = parseHash();
  const m = match(segs);
  for (const a of nav.querySelectorAll('a')) {
    if (m && a.dataset.route === m.section) {
      a.setAttribute('aria-current', 'page');
      // On a narrow screen the bar scrolls: keep the current page in view.
      a.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
    else a.removeAttribute('aria-current');
  }
  const view = h('div.view');
  fill(main, view);
  if (!m) {
    document.title = 'Not found · cronhook';
    view.append(h('h1', 'Not found'), h('p', 'There is no page here. ', h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  document.title = `${m.title} · cronhook`;
  const abort = new AbortController();
  const ctx = {
    params: m.params,
    query,
    signal: abort.signal,
    cleanups: [],
    abort,
    onCleanup(fn) {
      this.cleanups.push(fn);
    },
    every(ms, fn) {
      const t = setInterval(fn, ms);
      this.cleanups.push(() => clearInterval(t));
      return t;
    },
    /** Re-renders the current route (after an action changed things). */
    refresh: () => render(),
  };
  current = ctx;
  ctx.every(15000, () => tickTimes(view));
  try {
    await m.page(view, ctx);
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (current === ctx) view.append(errorBox(e));
  }
}

function showLogin(message) {
  authenticated = false;
  leave();
  nav.hidden = true;
  document.title = 'Log in · cronhook';
  const tokenInput = h('input', {
    id: 'login-token', type: 'password', name: 'token', autocomplete: 'current-password',
    required: true, spellcheck: 'false',
  });
  const err = h('p', { class: 'form-error', role: 'alert', id: 'login-error' });
  if (message) err.textContent = message;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log in');
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to cronhook'),
    h('p.muted', 'Paste the API token this server was started with (QSTASH_TOKEN). It is sent once; the browser keeps only a session cookie.'),
    h('div.field', h('label', { for: 'login-token' }, 'API token'), tokenInput),
    err, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    try {
      await login(tokenInput.value.trim());
      tokenInput.value = '';
      await start();
    } catch (e) {
      err.textContent = e.status === 401 ? `Wrong token: ${e.message}` : e.message;
      tokenInput.select();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, h('div.view.view-login', form));
  tokenInput.focus();
}

async function start() {
  let s;
  try {
    s = await session();
  } catch (e) {
    fill(main, h('div.view', h('h1', 'cronhook is not reachable'), errorBox(e)));
    return;
  }
  if (!s.authenticated) {
    showLogin();
    return;
  }
  authenticated = true;
  nav.hidden = false;
  await render();
}

setUnauthorizedHandler((message) => {
  if (authenticated) showLogin(`Your session ended (${message}). Log in again.`);
});

window.addEventListener('hashchange', () => {
  render();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

start();
