// Overview: counts, the last 24 hours, the lines for an app's environment
// and the next firings across all schedules.

import { h, fill, route, routeQuery, num, timeEl, absTime } from '../dom.js';
import { get } from '../api.js';
import { pageHead, section, copyButton, tableWrap, emptyState } from '../ui.js';
import { stackedBars } from '../chart.js';

function stat(label, value, href, kind) {
  const body = [h('span.stat-value', num(value)), h('span.stat-label', label)];
  return href
    ? h('a', { href, class: ['stat', kind && `stat-${kind}`] }, body)
    : h('div', { class: ['stat', kind && `stat-${kind}`] }, body);
}

export default async function overview(view, ctx) {
  const head = pageHead('Overview');
  const body = h('div.overview');
  view.append(head, body);

  const draw = (o) => {
    const runs = o.runs || {};
    const stats = h('div.stats',
      stat('Active schedules', o.schedules.active, routeQuery('schedules', { state: 'active' })),
      stat('Paused schedules', o.schedules.paused, routeQuery('schedules', { state: 'paused' })),
      stat('Pending messages', o.pendingMessages, routeQuery('logs', { state: 'IN_PROGRESS' })),
      stat('In the DLQ', o.dlq, '#/dlq', o.dlq ? 'bad' : null),
      stat('Workflow runs running', runs.RUN_STARTED || 0, routeQuery('workflows', { state: 'RUN_STARTED' })),
      stat('Runs succeeded', runs.RUN_SUCCESS || 0, routeQuery('workflows', { state: 'RUN_SUCCESS' })),
      stat('Runs failed', runs.RUN_FAILED || 0, routeQuery('workflows', { state: 'RUN_FAILED' }), runs.RUN_FAILED ? 'bad' : null),
      stat('Runs cancelled', runs.RUN_CANCELED || 0, routeQuery('workflows', { state: 'RUN_CANCELED' })),
    );

    const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
    const activity = o.activity || [];
    const delivered = activity.reduce((a, b) => a + b.delivered, 0);
    const failed = activity.reduce((a, b) => a + b.failed, 0);
    const chart = stackedBars({
      label: `Deliveries per hour over the last 24 hours: ${delivered} delivered, ${failed} failed attempts`,
      bars: activity.map((b) => ({
        label: hourFmt.format(new Date(b.from)),
        title: `${absTime(b.from)}: ${b.delivered} delivered, ${b.failed} failed attempts`,
        values: { delivered: b.delivered, failed: b.failed },
      })),
      series: [
        { key: 'delivered', label: 'Delivered', cls: 'c-ok' },
        { key: 'failed', label: 'Failed attempts', cls: 'c-bad' },
      ],
      tickEvery: 3,
    });

    const envText = () => o.env.map((e) => `${e.name}=${e.value}`).join('\n');
    const env = h('div.env',
      h('ul.env-lines', o.env.map((e) => h('li.env-line',
        h('code.mono', h('span.env-name', e.name), '=', h('span.env-value', e.value)),
        copyButton(`${e.name}=${e.value}`, 'Copy')))),
      h('div.env-actions', copyButton(envText, 'Copy all'),
        o.tokenShown ? null : h('span.muted', 'QSTASH_TOKEN is the token this server was started with; it is not shown here.')));

    const next = o.nextFirings || [];
    const nextTable = next.length
      ? tableWrap(h('table.table',
        h('thead', h('tr', ['Schedule', 'Destination', 'Fires'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', next.map((n) => h('tr',
          h('td', h('a.mono', { href: route('schedules', n.scheduleId) }, n.scheduleId)),
          h('td.mono.wrap', n.destination),
          h('td', timeEl(n.at, { both: true })))))), 'Next firings')
      : emptyState('No active schedule. ');

    fill(body,
      stats,
      h('div.grid-2',
        section(`Last 24 hours: ${num(delivered)} delivered, ${num(failed)} failed attempts`, chart),
        section('For your app\'s environment', h('p.muted', 'Paste these into the environment of the app that publishes or receives messages.'), env)),
      section('Next firings', nextTable,
        next.length ? null : h('p', h('a', { href: '#/schedules/new' }, 'Create a schedule'))),
    );
  };

  const load = async () => draw(await get('/cronhook/v1/overview', null, { signal: ctx.signal }));
  head.querySelector('.page-actions').append(
    h('a', { href: '#/schedules/new', class: 'btn btn-primary' }, 'New schedule'));
  await load();
  ctx.every(10000, () => load().catch(() => {}));
}
