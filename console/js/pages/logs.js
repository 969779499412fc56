// Logs: GET /v2/events newest first with the API's filters, a histogram of
// the range, live tail (polling every 2 s while on) and a detail view per
// row with the request and every attempt's response.

import { h, fill, route, routeQuery, timeEl, absTime, b64text, pretty } from '../dom.js';
import { get } from '../api.js';
import {
  filtersBox, pageHead, section, dl, pre, headerTable, tableWrap, badge, loadMore, emptyState, field, input,
  select, button, reportError, filtersForm, dateInput,
} from '../ui.js';
import { stackedBars } from '../chart.js';

const PAGE = 50;
const STATES = ['', 'CREATED', 'ACTIVE', 'ERROR', 'RETRY', 'DELIVERED', 'FAILED', 'CANCEL_REQUESTED', 'CANCELED', 'IN_PROGRESS'];
const FILTERS = ['state', 'url', 'scheduleId', 'queueName', 'label', 'messageId', 'fromDate', 'toDate'];
const HOUR = 3600000;

const key = (e) => `${e.messageId}|${e.state}|${e.time}`;

/** The entries of one message, as a detail block: request, attempts, next delivery. */
export function messageDetail(entries) {
  const first = entries[entries.length - 1] || {};
  const withBody = entries.find((e) => e.body) || first;
  const attempts = entries.filter((e) => ['ERROR', 'DELIVERED', 'FAILED'].includes(e.state)).reverse();
  const next = entries.find((e) => e.nextDeliveryTime);
  return h('div.detail',
    h('div.grid-2',
      h('div',
        h('h3', 'Request'),
        dl([
          ['Message', h('a.mono', { href: route('messages', first.messageId) }, first.messageId)],
          ['URL', h('span.mono.wrap', first.url)],
          ['Method', first.method],
          ['Schedule', first.scheduleId ? h('a.mono', { href: route('schedules', first.scheduleId) }, first.scheduleId) : undefined],
          ['Queue', first.queueName || undefined],
          ['Label', first.label || undefined],
          ['Retries', first.maxRetries != null ? String(first.maxRetries) : undefined],
          ['Next delivery', next && entries[0].state !== 'DELIVERED' && entries[0].state !== 'FAILED' ? timeEl(next.nextDeliveryTime, { both: true }) : undefined],
        ]),
        h('h4', 'Headers'), headerTable(first.header),
        h('h4', 'Body'), withBody.body ? pre(pretty(b64text(withBody.body))) : emptyState('No body.')),
      h('div',
        h('h3', `Attempts (${attempts.length})`),
        attempts.length ? h('ol.attempts', attempts.map((a) => h('li.attempt',
          h('div.attempt-head', badge(a.state), ' ', timeEl(a.time, { both: true }),
            a.responseStatus != null ? h('span.status', ` HTTP ${a.responseStatus}`) : null),
          a.error ? h('p.form-error', a.error) : null,
          a.responseHeader && Object.keys(a.responseHeader).length ? h('details', h('summary', 'Response headers'), headerTable(a.responseHeader)) : null,
          a.responseBody ? [h('div.small.muted', 'Response body'), pre(pretty(b64text(a.responseBody)))] : null,
        ))) : emptyState('No attempt yet.'))));
}

export default async function logs(view, ctx) {
  const q = Object.fromEntries(FILTERS.map((k) => [k, ctx.query.get(k) || '']));
  const inputs = {
    state: select(STATES.map((s) => [s, s || 'any state']), q.state, { name: 'state' }),
    url: input({ name: 'url', value: q.url, placeholder: 'https://…' }),
    scheduleId: input({ name: 'scheduleId', value: q.scheduleId }),
    queueName: input({ name: 'queueName', value: q.queueName }),
    label: input({ name: 'label', value: q.label }),
    messageId: input({ name: 'messageId', value: q.messageId }),
    fromDate: dateInput('fromDate', q.fromDate),
    toDate: dateInput('toDate', q.toDate),
  };
  const labels = { state: 'State', url: 'URL', scheduleId: 'Schedule', queueName: 'Queue', label: 'Label', messageId: 'Message id', fromDate: 'From', toDate: 'To' };
  const filterForm = filtersForm('logs', FILTERS, inputs, labels);

  const live = h('input', { type: 'checkbox', id: 'live-tail' });
  const liveNote = h('span.muted.small', { 'aria-live': 'polite' });
  const histBox = h('div');
  const tbody = h('tbody');
  const table = h('table.table.table-collapse.logs',
    h('thead', h('tr', ['Time', 'State', 'Message', 'URL', 'Schedule', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const empty = h('div');
  const seen = new Set();

  const query = (extra) => {
    const p = { count: PAGE, ...extra };
    for (const k of FILTERS) if (q[k]) p[k] = q[k];
    return p;
  };

  const row = (e) => {
    const detailRow = h('tr.detail-row', { hidden: true }, h('td', { colspan: '7' }));
    const toggle = h('button', { type: 'button', class: 'btn btn-small', 'aria-expanded': 'false' }, 'Details');
    toggle.addEventListener('click', async () => {
      const open = toggle.getAttribute('aria-expanded') === 'true';
      toggle.setAttribute('aria-expanded', String(!open));
      detailRow.hidden = open;
      if (open) return;
      const cell = detailRow.firstChild;
      fill(cell, h('p.muted', 'Loading…'));
      try {
        const r = await get('/v2/events', { messageId: e.messageId, count: 100 }, { signal: ctx.signal });
        fill(cell, messageDetail(r.events));
      } catch (err) {
        fill(cell, h('p.form-error', err.message));
      }
    });
    const tr = h('tr', { class: `log-${e.state}`, 'data-key': key(e) },
      h('td', { 'data-label': 'Time' }, timeEl(e.time, { both: true })),
      h('td', { 'data-label': 'State' }, badge(e.state)),
      h('td', { 'data-label': 'Message' }, h('a.mono.small', { href: route('messages', e.messageId) }, e.messageId)),
      h('td.mono.wrap', { 'data-label': 'URL' }, e.url),
      h('td', { 'data-label': 'Schedule' }, e.scheduleId ? h('a.mono.small', { href: route('schedules', e.scheduleId) }, e.scheduleId) : '—'),
      h('td', { 'data-label': 'Status' }, e.responseStatus != null ? String(e.responseStatus) : (e.error ? h('span.small', e.error) : '—')),
      h('td', toggle));
    return [tr, detailRow];
  };

  const add = (events, { prepend = false } = {}) => {
    const rows = [];
    for (const e of events) {
      const k = key(e);
      if (seen.has(k)) continue;
      seen.add(k);
      rows.push(...row(e));
    }
    if (prepend) tbody.prepend(...rows);
    else tbody.append(...rows);
    fill(empty, tbody.children.length ? null : emptyState('No log entries match.'));
    return rows.length / 2;
  };

  const more = loadMore(async (cursor) => {
    const r = await get('/v2/events', query({ cursor }), { signal: ctx.signal });
    add(r.events);
    return r.cursor || null;
  });

  const drawHistogram = async () => {
    const toMs = Number(q.toDate) || Date.now();
    const fromMs = Number(q.fromDate) || toMs - 24 * HOUR;
    const buckets = 48;
    const r = await get('/cronhook/v1/logs/histogram', {
      fromDate: fromMs, toDate: toMs, buckets, scheduleId: q.scheduleId,
    }, { signal: ctx.signal });
    const width = Math.max(1, Math.floor((toMs - fromMs) / buckets));
    const byFrom = new Map(r.buckets.map((b) => [b.from, b.counts]));
    const fmt = new Intl.DateTimeFormat(undefined, toMs - fromMs > 2 * 86400000
      ? { month: 'short', day: 'numeric' } : { hour: '2-digit', minute: '2-digit' });
    const bars = [];
    const n = Math.ceil((toMs - fromMs) / width);
    for (let i = 0; i < n; i++) {
      const start = fromMs + i * width;
      const c = byFrom.get(start) || {};
      const good = c.DELIVERED || 0;
      const bad = (c.ERROR || 0) + (c.FAILED || 0);
      const other = Object.entries(c).filter(([k]) => !['DELIVERED', 'ERROR', 'FAILED'].includes(k)).reduce((a, [, n]) => a + n, 0);
      bars.push({
        label: fmt.format(new Date(start)),
        title: `${absTime(start)}: ${Object.entries(c).map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing'}`,
        values: { good, bad, other },
      });
    }
    fill(histBox, stackedBars({
      label: 'Log entries per time bucket', bars, height: 140,
      series: [
        { key: 'good', label: 'Delivered', cls: 'c-ok' },
        { key: 'bad', label: 'Errors and failures', cls: 'c-bad' },
        { key: 'other', label: 'Other states', cls: 'c-neutral' },
      ],
    }), h('p.muted.small', `From ${absTime(fromMs)} to ${absTime(toMs)}${q.scheduleId ? `, schedule ${q.scheduleId}` : ''}.`));
  };

  const tail = async () => {
    if (!live.checked) return;
    try {
      const r = await get('/v2/events', query(), { signal: ctx.signal });
      const n = add(r.events, { prepend: true });
      liveNote.textContent = n ? `${n} new` : `checked ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (e.name !== 'AbortError') liveNote.textContent = e.message;
    }
  };

  view.append(
    pageHead('Logs', h('label.check.live', live, ' Live tail'), liveNote,
      button('Refresh', () => ctx.refresh(), { small: false })),
    filtersBox(filterForm, FILTERS.some((k) => q[k])),
    section('Activity in the range', histBox),
    tableWrap(table, 'Log entries'), empty, more.el);

  const [, first] = await Promise.all([
    drawHistogram().catch((e) => reportError(e, 'histogram')),
    get('/v2/events', query(), { signal: ctx.signal }),
  ]);
  add(first.events);
  more.set(first.cursor || null);
  ctx.every(2000, tail);
}
