// A schedule: every setting, the next firings, the fire history (planned
// time, lateness, attempts, outcome; missed slots with the reason) with a
// chart of lateness per fire, and run now / pause / resume / edit / delete.

import { h, fill, route, routeQuery, timeEl, absTime, browserZone, duration } from '../dom.js';
import { get } from '../api.js';
import {
  pageHead, section, dl, pre, headerTable, tableWrap, badge, button, busy, confirmDialog,
  toast, loadMore, emptyState, errorBox,
} from '../ui.js';
import { latenessChart } from '../chart.js';
import { pause, runNow, remove, nextRun } from './schedules.js';

const HISTORY_PAGE = 50;

function outcomeKind(f) {
  if (f.kind === 'missed') return 'missed';
  if (f.state === 'DELIVERED') return 'ok';
  if (f.state === 'FAILED' || f.state === 'CANCELED') return 'bad';
  return 'info';
}

export default async function scheduleDetail(view, ctx) {
  const id = ctx.params.id;
  let s;
  try {
    s = await get(`/cronhook/v1/schedules/${encodeURIComponent(id)}`, null, { signal: ctx.signal });
  } catch (e) {
    const head = pageHead(id);
    head.querySelector('h1').classList.add('mono', 'wrap');
    view.append(head, errorBox(e), h('p', h('a', { href: '#/schedules' }, 'Back to the schedules')));
    return;
  }
  const zone = s.timezone || 'UTC';

  const actions = [
    button('Run now', (ev) => busy(ev.currentTarget, async () => {
      await runNow(id);
      await loadHistory();
    }, 'run now'), { kind: 'primary', small: false, attrs: { id: 'run-now' } }),
    s.state === 'ended' ? null : s.isPaused
      ? button('Resume', (ev) => busy(ev.currentTarget, async () => { await pause(id, false); toast(`Resumed ${id}`); ctx.refresh(); }, 'resume'), { small: false })
      : button('Pause', (ev) => busy(ev.currentTarget, async () => { await pause(id, true); toast(`Paused ${id}`); ctx.refresh(); }, 'pause'), { small: false }),
    h('a', { href: route('schedules', id, 'edit'), class: 'btn' }, 'Edit'),
    button('Delete', async (ev) => {
      const btn = ev.currentTarget;
      if (!(await confirmDialog('Delete schedule', `Delete schedule ${id}? Its future firings stop; messages already fired are still delivered.`, { confirm: 'Delete' }))) return;
      await busy(btn, async () => {
        await remove(id);
        toast(`Deleted ${id}`);
        location.hash = '#/schedules';
      }, 'delete');
    }, { kind: 'danger', small: false }),
  ];

  const head = pageHead(id, actions);
  head.querySelector('h1').classList.add('mono');
  const stateBadge = s.state === 'ended' ? badge('ended', 'Ended')
    : s.isPaused ? badge('paused', 'Paused') : badge('active', 'Active');
  const sub = h('p.subtitle', stateBadge, ' ',
    s.description || '', ' ', h('span.muted', `(${zone})`));

  const labels = s.labels || (s.label ? [s.label] : []);
  const settings = dl([
    ['Destination', h('span.mono.wrap', s.destination)],
    ['Method', s.method],
    ['Cron', h('code', s.cron)],
    ['In words', s.description],
    ['Time zone', zone],
    ['Seconds field', s.cronSeconds ? 'yes (6 fields)' : 'no'],
    ['Created', timeEl(s.createdAt, { both: true })],
    ['Starts', s.startAt ? timeEl(s.startAt, { both: true }) : 'at once'],
    ['Ends', s.endAt ? timeEl(s.endAt, { both: true }) : 'never'],
    ['Next run', nextRun(s)],
    ['Last run', s.lastScheduleTime ? timeEl(s.lastScheduleTime, { both: true }) : 'never'],
    ['Retries', String(s.retries ?? 3)],
    ['Retry delay', s.retryDelayExpression ? h('code', s.retryDelayExpression) : 'default backoff'],
    ['Delay', s.delay ? `${s.delay} s` : 'none'],
    ['Timeout', s.timeout ? `${s.timeout} s` : 'default'],
    ['Callback', s.callback ? h('span.mono.wrap', s.callback) : null],
    ['Failure callback', s.failureCallback ? h('span.mono.wrap', s.failureCallback) : null],
    ['Labels', labels.length ? labels.map((l) => h('span.tag', l)) : null],
    ['Misfire policy', s.misfire],
    ['Queue', s.queueName ? h('a.mono', { href: '#/queues' }, s.queueName) : undefined],
    ['Flow control', s.flowControlKey ? [h('a.mono', { href: '#/flow-control' }, s.flowControlKey),
      h('span.small.muted', ` ${[s.parallelism != null ? `parallelism ${s.parallelism}` : null, s.rate != null ? `rate ${s.rate} per ${s.period ?? 1} s` : null].filter(Boolean).join(', ')}`)] : undefined],
    ['Caller IP', s.callerIP || undefined],
  ]);

  const nextList = (s.next || []).length
    ? tableWrap(h('table.table.table-compact',
      h('thead', h('tr', ['#', `In ${zone}`, `Your browser (${browserZone})`, 'From now'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', s.next.map((t, i) => h('tr', h('td', String(i + 1)), h('td.nowrap', absTime(t, zone)), h('td.nowrap', absTime(t, browserZone)), h('td', timeEl(t)))))), 'Next firings')
    : emptyState(s.state === 'ended' ? 'Ended: its end has passed, it never fires again.'
      : s.isPaused ? 'Paused: no firings until resumed.' : 'No upcoming firing.');

  const chartBox = h('div.history-chart');
  const tbody = h('tbody');
  const histTable = h('table.table.table-collapse.history',
    h('thead', h('tr', ['Planned', 'Fired', 'Lateness', 'Attempts', 'Outcome', 'Status', 'Response time', 'Message']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const histEmpty = h('div');
  let firings = [];
  let pagesLoaded = 1;
  const more = loadMore(async (cursor) => {
    const r = await get(`/cronhook/v1/schedules/${encodeURIComponent(id)}/history`, { cursor, count: HISTORY_PAGE }, { signal: ctx.signal });
    firings = firings.concat(r.firings);
    pagesLoaded++;
    draw();
    return r.cursor || null;
  });

  const firingRow = (f) => {
    const kindText = f.kind === 'manual' ? 'run now' : f.kind === 'missed' ? 'missed' : 'slot';
    return h('tr', { class: `firing firing-${f.kind}` },
      h('td', { 'data-label': 'Planned' }, f.slot != null ? h('span.nowrap', absTime(f.slot, zone)) : h('span.muted', '—'), ' ',
        f.kind !== 'slot' ? badge(f.kind, kindText) : null),
      h('td', { 'data-label': 'Fired' }, f.kind === 'missed' ? h('span.muted', 'not fired') : timeEl(f.firedAt, { both: true })),
      h('td', { 'data-label': 'Lateness' }, f.latenessMs != null ? duration(f.latenessMs) : '—'),
      h('td', { 'data-label': 'Attempts' }, f.attempts != null ? String(f.attempts) : '—'),
      h('td', { 'data-label': 'Outcome' }, f.kind === 'missed' ? h('span.reason', f.reason || 'missed') : (f.state ? badge(f.state) : '—')),
      h('td', { 'data-label': 'Status' }, f.status != null ? String(f.status) : '—'),
      h('td', { 'data-label': 'Response time' }, f.responseMs != null ? duration(f.responseMs) : '—'),
      h('td', { 'data-label': 'Message' }, f.messageId
        ? [h('a.mono', { href: route('messages', f.messageId) }, f.messageId), ' ',
          h('a', { href: routeQuery('logs', { messageId: f.messageId }), class: 'small' }, 'log')]
        : '—'),
    );
  };

  function draw() {
    fill(tbody, firings.map(firingRow));
    fill(histEmpty, firings.length ? null : emptyState('No firings yet.'));
    const points = firings.slice(0, 100).reverse().map((f) => ({
      lateness: f.latenessMs,
      kind: outcomeKind(f),
      title: `${absTime(f.slot ?? f.firedAt, zone)}: ${f.kind === 'missed' ? `missed (${f.reason || ''})` : `${f.state || 'pending'}, late ${duration(f.latenessMs)}, ${f.attempts ?? 0} attempts`}`,
    }));
    fill(chartBox, points.length ? latenessChart(points) : emptyState('No firings yet.'));
  }

  async function loadHistory() {
    const r = await get(`/cronhook/v1/schedules/${encodeURIComponent(id)}/history`, { count: HISTORY_PAGE }, { signal: ctx.signal });
    firings = r.firings;
    pagesLoaded = 1;
    draw();
    more.set(r.cursor || null);
  }

  const bodyText = s.body ?? (s.bodyBase64 ? `(binary, base64) ${s.bodyBase64}` : '');
  view.append(
    head, sub,
    section('Lateness and outcome per fire', chartBox),
    h('div.grid-2',
      section('Settings', settings),
      h('div.stack',
        section('Next 10 firings', nextList),
        section('Forwarded headers', headerTable(s.header)),
        section('Body', bodyText ? pre(bodyText) : emptyState('No body.')))),
    section('Fire history',
      h('p.muted', 'Newest first. ', h('a', { href: routeQuery('logs', { scheduleId: id }) }, 'All log entries of this schedule'), ' · ',
        h('a', { href: routeQuery('dlq', { scheduleId: id }) }, 'Its DLQ entries')),
      tableWrap(histTable, 'Fire history'), histEmpty, more.el),
  );
  await loadHistory();
  // Keep the first page current while it is the only one shown.
  ctx.every(2000, () => {
    if (pagesLoaded === 1 && !document.hidden) loadHistory().catch(() => {});
  });
}
