// A message: while pending (GET /v2/messages/{id}) its settings and next
// attempt, and always its state timeline from the log, its attempts and,
// when it failed, its DLQ entry. Cancel while pending.

import { h, fill, route, routeQuery, timeEl, pretty } from '../dom.js';
import { api, get, ApiError } from '../api.js';
import {
  pageHead, section, dl, pre, headerTable, badge, button, busy, confirmDialog, toast, emptyState,
} from '../ui.js';
import { messageDetail } from './logs.js';

export default async function message(view, ctx) {
  const id = ctx.params.id;
  const head = pageHead('Message');
  const title = head.querySelector('h1');
  title.append(' ', h('span.mono', id));
  const body = h('div.stack');
  view.append(head, body);

  const load = async () => {
    let m = null;
    try {
      m = await get(`/v2/messages/${encodeURIComponent(id)}`, null, { signal: ctx.signal });
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
    const [events, dlqPage] = await Promise.all([
      get('/v2/events', { messageId: id, count: 100 }, { signal: ctx.signal }),
      get('/v2/dlq', { messageId: id, count: 1 }, { signal: ctx.signal }).catch(() => ({ messages: [] })),
    ]);
    const entries = events.events;
    const latest = entries[0];
    const dlqEntry = dlqPage.messages[0];

    const actions = head.querySelector('.page-actions');
    fill(actions,
      h('a', { href: routeQuery('logs', { messageId: id }), class: 'btn' }, 'In the logs'),
      m ? button('Cancel message', async (ev) => {
        const btn = ev.currentTarget;
        if (!(await confirmDialog('Cancel message', `Cancel message ${id}? It will not be delivered.`, { confirm: 'Cancel message' }))) return;
        await busy(btn, async () => {
          await api('DELETE', `/v2/messages/${encodeURIComponent(id)}`);
          toast(`Cancelled ${id}`);
          await load();
        }, 'cancel');
      }, { kind: 'danger', small: false }) : null);

    const status = m
      ? h('p.subtitle', badge('IN_PROGRESS', 'Pending'), ' next attempt ', timeEl(m.notBefore, { both: true }))
      : h('p.subtitle', latest ? [badge(latest.state), ' ', 'no longer pending (last log entry ', timeEl(latest.time), ')'] : 'Unknown message: no log entry and not pending.');

    const settings = m ? section('Settings', dl([
      ['URL', h('span.mono.wrap', m.url)],
      ['Method', m.method],
      ['Created', timeEl(m.createdAt, { both: true })],
      ['Next attempt (not before)', timeEl(m.notBefore, { both: true })],
      ['Retries', String(m.maxRetries)],
      ['Retry delay', m.retryDelayExpression ? h('code', m.retryDelayExpression) : 'default backoff'],
      ['Timeout', m.timeout ? `${m.timeout} s` : 'default'],
      ['Callback', m.callback ? h('span.mono.wrap', m.callback) : undefined],
      ['Failure callback', m.failureCallback ? h('span.mono.wrap', m.failureCallback) : undefined],
      ['Schedule', m.scheduleId ? h('a.mono', { href: route('schedules', m.scheduleId) }, m.scheduleId) : undefined],
      ['Queue', m.queueName ? h('a.mono', { href: '#/queues' }, m.queueName) : undefined],
      ['Flow control', m.flowControlKey ? [h('a.mono', { href: '#/flow-control' }, m.flowControlKey),
        h('span.small.muted', ` ${[m.parallelism != null ? `parallelism ${m.parallelism}` : null, m.rate != null ? `rate ${m.rate} per ${m.period ?? 1} s` : null].filter(Boolean).join(', ')}`)] : undefined],
      ['Labels', (m.labels || []).length ? m.labels.map((l) => h('span.tag', l)) : undefined],
    ]), h('h3', 'Headers'), headerTable(m.header), h('h3', 'Body'),
    m.body != null ? pre(pretty(m.body)) : (m.bodyBase64 ? pre(`(binary, base64) ${m.bodyBase64}`) : emptyState('No body.'))) : null;

    const timeline = entries.length
      ? h('ol.timeline', entries.slice().reverse().map((e) => h('li', { class: `tl tl-${e.state}` },
        badge(e.state), ' ', timeEl(e.time, { both: true }),
        e.responseStatus != null ? h('span.small', ` HTTP ${e.responseStatus}`) : null,
        e.error ? h('span.small.muted', ` ${e.error}`) : null,
        e.nextDeliveryTime && e.state === 'RETRY' ? h('span.small', ' next try ', timeEl(e.nextDeliveryTime)) : null)))
      : emptyState('No log entries.');

    fill(body,
      status,
      dlqEntry ? h('div.notice', 'This message failed into the dead-letter queue. ',
        h('a', { href: routeQuery('dlq', { messageId: id }) }, `Open DLQ entry ${dlqEntry.dlqId}`)) : null,
      settings,
      section('State timeline', timeline),
      entries.length ? section('Request and attempts', messageDetail(entries)) : null);
    return !m && latest && ['DELIVERED', 'FAILED', 'CANCELED'].includes(latest.state);
  };
  let done = await load();
  // Follow a message until it is delivered, failed or cancelled.
  ctx.every(2000, async () => {
    if (done || document.hidden) return;
    try {
      done = await load();
    } catch {
      /* shown on the next successful load */
    }
  });
}
