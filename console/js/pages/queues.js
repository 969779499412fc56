// Queues (docs/qstash-wire.md §4.6, §6.4): each queue's lag (messages not
// yet delivered), parallelism and whether it is paused; create one, change
// its parallelism (the same upsert an SDK makes), pause, resume, delete.
// A server without the queue endpoints gets a note instead of a table.

import { h, fill, routeQuery, timeEl, num } from '../dom.js';
import { api, get } from '../api.js';
import {
  pageHead, tableWrap, badge, button, act, confirmDialog, toast, emptyState, field, input,
  formDialog, isUnavailable, unavailable, errorBox,
} from '../ui.js';

const path = (name, ...rest) => ['/v2/queues', encodeURIComponent(name), ...rest].join('/');

/** POST /v2/queues: creates the queue or changes it. */
export async function upsertQueue(queueName, parallelism, paused) {
  await api('POST', '/v2/queues', { json: { queueName, parallelism, paused } });
}

/** The create / edit dialog; resolves true when saved. */
function queueDialog(existing) {
  const name = input({ name: 'queueName', required: true, value: existing?.name ?? '', readonly: Boolean(existing) });
  const parallelism = input({
    type: 'number', min: '1', name: 'parallelism', inputmode: 'numeric', value: String(existing?.parallelism ?? 1),
  });
  const paused = h('input', { type: 'checkbox', name: 'paused', checked: Boolean(existing?.paused) });
  return formDialog(
    existing ? `Parallelism of ${existing.name}` : 'New queue',
    h('div.form-grid',
      field('Queue name', name, { wide: true, hint: existing ? undefined : 'Letters, digits, - _ .' }),
      field('Parallelism', parallelism, { hint: 'How many of its messages are delivered at once (FIFO with 1).' }),
      existing ? null : h('div.field', h('label.check', paused, ' Created paused'))),
    existing ? 'Save' : 'Create queue',
    async () => {
      const n = Number(parallelism.value);
      if (!name.value.trim()) throw new Error('The queue name is required.');
      if (!Number.isInteger(n) || n < 1) throw new Error('Parallelism must be a whole number of at least 1.');
      await upsertQueue(name.value.trim(), n, existing ? Boolean(existing.paused) : paused.checked);
      toast(existing ? `Parallelism of ${existing.name} is ${n}` : `Created queue ${name.value.trim()}`);
      return true;
    });
}

export default async function queues(view, ctx) {
  const tbody = h('tbody');
  const table = h('table.table.table-collapse.queues',
    h('thead', h('tr', ['Queue', 'Lag', 'Parallelism', 'State', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const body = h('div');
  const newBtn = button('New queue', async () => {
    if (await queueDialog(null)) await load();
  }, { kind: 'primary', small: false });
  view.append(pageHead('Queues', newBtn),
    h('p.muted', 'Messages enqueued to a queue are delivered in order, as many at a time as its parallelism allows. A schedule can fire into a queue.'),
    body);

  const row = (q) => {
    const name = q.name;
    const actions = h('div.row-actions',
      button('Parallelism', async () => {
        if (await queueDialog(q)) await load();
      }),
      q.paused
        ? button('Resume', (ev) => act(ev.currentTarget, async () => { await api('POST', path(name, 'resume')); toast(`Resumed ${name}`); await load(); }, 'resume'))
        : button('Pause', (ev) => act(ev.currentTarget, async () => { await api('POST', path(name, 'pause')); toast(`Paused ${name}`); await load(); }, 'pause')),
      h('a', { href: routeQuery('logs', { queueName: name }), class: 'btn btn-small' }, 'Logs'),
      button('Delete', async (ev) => {
        const btn = ev.currentTarget;
        const lag = q.lag ? ` It still holds ${num(q.lag)} undelivered messages.` : '';
        if (!(await confirmDialog('Delete queue', `Delete queue ${name}?${lag}`, { confirm: 'Delete queue' }))) return;
        await act(btn, async () => { await api('DELETE', path(name)); toast(`Deleted queue ${name}`); await load(); }, 'delete');
      }, { kind: 'danger' }));
    return h('tr', { 'data-queue': name },
      h('td', { 'data-label': 'Queue' }, h('span.mono.strong', name)),
      h('td', { 'data-label': 'Lag', class: 'num' }, num(q.lag ?? 0)),
      h('td', { 'data-label': 'Parallelism', class: 'num' }, num(q.parallelism ?? 1)),
      h('td', { 'data-label': 'State' }, q.paused ? badge('paused', 'paused') : badge('active', 'active')),
      h('td', { 'data-label': 'Created' }, timeEl(q.createdAt)),
      h('td', { 'data-label': 'Actions' }, actions));
  };

  async function load() {
    let list;
    try {
      list = await get('/v2/queues', null, { signal: ctx.signal });
    } catch (e) {
      if (e.name === 'AbortError') return false;
      newBtn.hidden = isUnavailable(e, { anyNotFound: true });
      fill(body, newBtn.hidden ? unavailable('Queues') : errorBox(e));
      return false;
    }
    newBtn.hidden = false;
    const rows = (Array.isArray(list) ? list : []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    fill(tbody, rows.map(row));
    fill(body, rows.length ? tableWrap(table, 'Queues') : emptyState('No queues yet. Enqueue a message or create one here.'));
    return true;
  }

  if (await load()) {
    ctx.every(5000, () => {
      if (!document.hidden && !document.querySelector('dialog[open]')) load().catch(() => {});
    });
  }
}
