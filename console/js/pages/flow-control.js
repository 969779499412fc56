// Flow control (docs/qstash-wire.md §4.11, §6.7): the global parallelism
// line and every flow-control key with its waitlist, parallelism and rate
// counters and its paused / pinned flags; pause, resume, pin a config (the
// messages' own configs are ignored while pinned), unpin, reset the rate
// period. Keys come from GET /v2/flowControl; a server that cannot list them
// still lets you look one up by name, and a server with no flow control at
// all gets a note.

import { h, fill, timeEl, num } from '../dom.js';
import { api, get } from '../api.js';
import {
  pageHead, section, tableWrap, badge, button, act, toast, emptyState, field, input, formDialog,
  isUnavailable, unavailable, errorBox,
} from '../ui.js';

const path = (key, ...rest) => ['/v2/flowControl', encodeURIComponent(key), ...rest].join('/');

/** The list answer: an array, or an object holding one. */
function keysOf(answer) {
  if (Array.isArray(answer)) return answer;
  if (answer && typeof answer === 'object') {
    const arr = Object.values(answer).find(Array.isArray);
    if (arr) return arr;
  }
  return [];
}

const flags = (k) => [
  k.isPaused ? badge('paused', 'paused') : null,
  k.isPinnedParallelism ? badge('ACTIVE', 'parallelism pinned') : null,
  k.isPinnedRate ? badge('ACTIVE', 'rate pinned') : null,
].filter(Boolean);

function pinDialog(k) {
  const parallelism = input({ type: 'number', min: '1', name: 'parallelism', inputmode: 'numeric', value: k.parallelismMax ? String(k.parallelismMax) : '' });
  const rate = input({ type: 'number', min: '1', name: 'rate', inputmode: 'numeric', value: k.rateMax ? String(k.rateMax) : '' });
  const period = input({ type: 'number', min: '1', name: 'period', inputmode: 'numeric', value: String(k.ratePeriod || 1) });
  return formDialog(`Pin ${k.flowControlKey}`,
    [h('p.muted', 'While pinned, the config that messages carry for this key is ignored. Pinning starts a new rate period.'),
      h('div.form-grid',
        field('Parallelism', parallelism, { hint: 'At most this many in flight; empty leaves it as it is.' }),
        field('Rate', rate, { hint: 'At most this many started per period.' }),
        field('Period (seconds)', period))],
    'Pin',
    async () => {
      const query = {};
      for (const [name, el] of [['parallelism', parallelism], ['rate', rate], ['period', period]]) {
        const v = el.value.trim();
        if (v === '') continue;
        if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`${name} must be a whole number of at least 1.`);
        query[name] = v;
      }
      if (query.parallelism == null && query.rate == null) throw new Error('Give a parallelism, a rate or both.');
      await api('POST', path(k.flowControlKey, 'pin'), { query });
      toast(`Pinned ${k.flowControlKey}`);
      return true;
    });
}

function unpinDialog(k) {
  const parallelism = h('input', { type: 'checkbox', name: 'parallelism', checked: Boolean(k.isPinnedParallelism) });
  const rate = h('input', { type: 'checkbox', name: 'rate', checked: Boolean(k.isPinnedRate) });
  return formDialog(`Unpin ${k.flowControlKey}`,
    [h('p.muted', 'The next message’s config for this key applies again.'),
      h('div.field', h('label.check', parallelism, ' Parallelism')),
      h('div.field', h('label.check', rate, ' Rate'))],
    'Unpin',
    async () => {
      if (!parallelism.checked && !rate.checked) throw new Error('Choose what to unpin.');
      await api('POST', path(k.flowControlKey, 'unpin'), { query: { parallelism: String(parallelism.checked), rate: String(rate.checked) } });
      toast(`Unpinned ${k.flowControlKey}`);
      return true;
    });
}

export default async function flowControl(view, ctx) {
  const global = h('div');
  const body = h('div.stack');
  const lookupKey = input({ name: 'key', placeholder: 'a flow-control key' });
  const lookupOut = h('div');
  const lookupForm = h('form.toolbar.lookup', { 'aria-label': 'Key lookup' },
    h('div.field.field-inline', h('label', { for: 'fc-lookup' }, 'Look up a key'), Object.assign(lookupKey, { id: 'fc-lookup' })),
    h('button', { type: 'submit', class: 'btn' }, 'Show'));
  let looked = null;
  const lookupSection = section('One key', lookupForm, lookupOut);
  view.append(pageHead('Flow control'),
    h('p.muted', 'Messages that name a flow-control key share its limits: at most parallelism in flight and rate started per period; the rest wait in the key’s waitlist.'),
    global, body, lookupSection);

  const actions = (k) => h('div.row-actions',
    k.isPaused
      ? button('Resume', (ev) => act(ev.currentTarget, async () => { await api('POST', path(k.flowControlKey, 'resume')); toast(`Resumed ${k.flowControlKey}`); await load(); }, 'resume'))
      : button('Pause', (ev) => act(ev.currentTarget, async () => { await api('POST', path(k.flowControlKey, 'pause')); toast(`Paused ${k.flowControlKey}`); await load(); }, 'pause')),
    button('Pin', async () => {
      if (await pinDialog(k)) await load();
    }),
    k.isPinnedParallelism || k.isPinnedRate
      ? button('Unpin', async () => {
        if (await unpinDialog(k)) await load();
      })
      : null,
    button('Reset rate', (ev) => act(ev.currentTarget, async () => { await api('POST', path(k.flowControlKey, 'resetRate')); toast(`Reset the rate of ${k.flowControlKey}`); await load(); }, 'reset rate')));

  const limit = (count, max) => `${num(count ?? 0)} of ${max ? num(max) : 'no limit'}`;
  const row = (k) => h('tr', { 'data-key': k.flowControlKey },
    h('td', { 'data-label': 'Key' }, h('span.mono.strong.wrap', k.flowControlKey), h('div.flags', flags(k))),
    h('td', { 'data-label': 'Waitlist', class: 'num' }, num(k.waitListSize ?? 0)),
    h('td', { 'data-label': 'In flight' }, limit(k.parallelismCount, k.parallelismMax)),
    h('td', { 'data-label': 'Rate' }, k.rateMax ? `${num(k.rateCount ?? 0)} of ${num(k.rateMax)} per ${num(k.ratePeriod || 1)} s` : h('span.muted', 'no limit'),
      k.ratePeriodStart ? h('div.small.muted', 'period from ', timeEl(Number(k.ratePeriodStart) * 1000)) : null),
    h('td', { 'data-label': 'Actions' }, actions(k)));
  const table = (keys) => tableWrap(h('table.table.table-collapse.flow-keys',
    h('thead', h('tr', ['Key', 'Waitlist', 'In flight', 'Rate', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', keys.map(row))), 'Flow-control keys');

  const drawLookup = async () => {
    if (!looked) return fill(lookupOut);
    try {
      const k = await get(path(looked), null, { signal: ctx.signal });
      fill(lookupOut, table([k]));
    } catch (e) {
      if (e.name === 'AbortError') return undefined;
      if (isUnavailable(e)) fill(lookupOut, unavailable('Flow control'));
      else fill(lookupOut, e.status === 404 ? emptyState(`No flow-control key “${looked}”.`) : errorBox(e));
    }
    return undefined;
  };
  lookupForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    looked = lookupKey.value.trim() || null;
    drawLookup();
  });

  async function load() {
    const [g, list] = await Promise.allSettled([
      get('/v2/globalParallelism', null, { signal: ctx.signal }),
      get('/v2/flowControl', null, { signal: ctx.signal }),
    ]);
    if (g.status === 'fulfilled') {
      const v = g.value || {};
      fill(global, h('p', { class: 'global-parallelism' }, h('strong', 'Global parallelism: '),
        `${num(v.parallelismCount ?? 0)} in flight of ${v.parallelismMax ? num(v.parallelismMax) : 'no limit'}`));
    } else {
      fill(global, isUnavailable(g.reason, { anyNotFound: true }) ? h('p.muted', 'Global parallelism: not available on this server.') : errorBox(g.reason));
    }
    if (list.status === 'fulfilled') lookupSection.hidden = false;
    if (list.status === 'fulfilled') {
      const keys = keysOf(list.value).slice().sort((a, b) => String(a.flowControlKey).localeCompare(String(b.flowControlKey)));
      fill(body, section('Keys', keys.length ? table(keys) : emptyState('No flow-control keys yet. Publish a message with a flow-control key to make one.')));
    } else if (isUnavailable(list.reason, { anyNotFound: true })) {
      const none = g.status !== 'fulfilled';
      lookupSection.hidden = none;
      fill(body, none ? unavailable('Flow control') : h('p.muted', 'This server cannot list its keys: look one up by name below.'));
    } else {
      fill(body, errorBox(list.reason));
    }
    await drawLookup();
  }

  await load();
  ctx.every(5000, () => {
    if (!document.hidden && !document.querySelector('dialog[open]')) load().catch(() => {});
  });
}
