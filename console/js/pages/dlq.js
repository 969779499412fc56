// The dead-letter queue: filters, each entry's request, last response and
// meta; retry, delete, edit-and-retry (publish a corrected copy as a new
// message, then delete the entry); bulk retry / delete by selection or by
// filter. The API refuses empty selectors, so a selector is only sent with
// values, and "everything" (a request without any selector) is confirmed
// by typing.

import { h, fill, route, routeQuery, timeEl, pretty, b64text } from '../dom.js';
import { api, get, qs } from '../api.js';
import {
  filtersBox, pageHead, section, dl, pre, headerTable, tableWrap, loadMore, emptyState, field, input, button,
  busy, confirmDialog, toast, reportError, modal, select, pairsEditor, nextId,
  filtersForm, dateInput,
} from '../ui.js';

const PAGE = 25;
const FILTERS = ['url', 'scheduleId', 'queueName', 'label', 'messageId', 'responseStatus', 'fromDate', 'toDate'];
const METHODS = ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'];

export function entryDetail(e) {
  const responseBody = e.responseBody != null ? e.responseBody : (e.responseBodyBase64 ? b64text(e.responseBodyBase64) : '');
  return h('div.detail.grid-3',
    h('div',
      h('h3', 'Request'),
      dl([['URL', h('span.mono.wrap', e.url)], ['Method', e.method]]),
      h('h4', 'Headers'), headerTable(e.header),
      h('h4', 'Body'), e.body != null ? pre(pretty(e.body)) : (e.bodyBase64 ? pre(`(binary, base64) ${e.bodyBase64}`) : emptyState('No body.'))),
    h('div',
      h('h3', 'Last response'),
      dl([['Status', e.responseStatus ? String(e.responseStatus) : 'no response'], ['Error', e.error || undefined]]),
      h('h4', 'Headers'), headerTable(e.responseHeader),
      h('h4', 'Body'), responseBody ? pre(pretty(responseBody), 'response-body') : emptyState('Empty.')),
    h('div',
      h('h3', 'Meta'),
      dl([
        ['DLQ id', h('span.mono', e.dlqId)],
        ['Message', h('a.mono', { href: route('messages', e.messageId) }, e.messageId)],
        ['Schedule', e.scheduleId ? h('a.mono', { href: route('schedules', e.scheduleId) }, e.scheduleId) : undefined],
        ['Created', timeEl(e.createdAt, { both: true })],
        ['Attempts', `${(e.retried ?? e.maxRetries) + 1} (retries ${e.maxRetries})`],
        ['Retry delay', e.retryDelayExpression ? h('code', e.retryDelayExpression) : undefined],
        ['Callback', e.callback ? h('span.mono.wrap', e.callback) : undefined],
        ['Failure callback', e.failureCallback ? h('span.mono.wrap', e.failureCallback) : undefined],
        ['Queue', e.queueName || undefined],
        ['Labels', (e.labels || []).length ? e.labels.map((l) => h('span.tag', l)) : undefined],
        ['Caller IP', e.callerIP || undefined],
      ])));
}

/** Edit-and-retry: a dialog to change URL, headers or body; publishes a new message and deletes the entry. */
async function editAndRetry(e) {
  const url = input({ type: 'url', value: e.url, required: true, name: 'url' });
  const method = select(METHODS, e.method || 'POST', { name: 'method' });
  const hdrs = Object.entries(e.header || {});
  const ctHeader = hdrs.find(([k]) => k.toLowerCase() === 'content-type');
  const contentType = input({ value: ctHeader ? ctHeader[1][0] : '', name: 'contentType' });
  const headers = pairsEditor({ addLabel: 'Add header' });
  headers.set(hdrs.filter(([k]) => k.toLowerCase() !== 'content-type').flatMap(([k, vs]) => vs.map((v) => [k, v])));
  const body = h('textarea', { rows: '6', class: 'mono', spellcheck: 'false', name: 'body' });
  body.value = e.body ?? '';
  const retries = input({ type: 'number', min: '0', value: String(e.maxRetries ?? 3), name: 'retries' });
  const err = h('div', { role: 'alert' });
  let published = null;
  const ok = await modal({
    title: `Edit and retry ${e.dlqId}`,
    wide: true,
    content: [
      h('p.muted', 'Publishes a corrected copy as a new message, then deletes this entry.'),
      h('div.form-grid',
        field('URL', url, { wide: true }), field('Method', method), field('Content type', contentType),
        h('div.field.field-wide', h('span.label', 'Forwarded headers'), headers.el),
        field('Body', body, { wide: true }), field('Retries', retries)),
      err,
    ],
    buttons: [
      { label: 'Cancel', value: null },
      {
        label: 'Publish and delete entry', kind: 'primary', value: 'yes', submit: true,
        check: async () => {
          fill(err);
          const hs = [['Upstash-Method', method.value]];
          if (contentType.value.trim()) hs.push(['Content-Type', contentType.value.trim()]);
          for (const [n, v] of headers.rows()) hs.push([`Upstash-Forward-${n}`, v]);
          if (retries.value !== '') hs.push(['Upstash-Retries', retries.value]);
          if (e.retryDelayExpression) hs.push(['Upstash-Retry-Delay', e.retryDelayExpression]);
          if (e.callback) hs.push(['Upstash-Callback', e.callback]);
          if (e.failureCallback) hs.push(['Upstash-Failure-Callback', e.failureCallback]);
          if ((e.labels || []).length) hs.push(['Upstash-Label', e.labels.join(',')]);
          try {
            published = await api('POST', `/v2/publish/${url.value.trim()}`, { headers: hs, body: body.value });
            await api('DELETE', `/v2/dlq/${encodeURIComponent(e.dlqId)}`);
            return true;
          } catch (x) {
            fill(err, h('p.form-error', published ? `Published ${published.messageId}, but the entry was not deleted: ${x.message}` : x.message));
            return Boolean(published);
          }
        },
      },
    ],
    onOpen: () => url.focus(),
  });
  return ok === 'yes' ? published : null;
}

export default async function dlq(view, ctx) {
  const q = Object.fromEntries(FILTERS.map((k) => [k, ctx.query.get(k) || '']));
  const filtered = FILTERS.some((k) => q[k]);
  const inputs = {
    url: input({ name: 'url', value: q.url, placeholder: 'https://…' }),
    scheduleId: input({ name: 'scheduleId', value: q.scheduleId }),
    queueName: input({ name: 'queueName', value: q.queueName }),
    label: input({ name: 'label', value: q.label }),
    messageId: input({ name: 'messageId', value: q.messageId }),
    responseStatus: input({ name: 'responseStatus', value: q.responseStatus, inputmode: 'numeric', placeholder: 'e.g. 500' }),
    fromDate: dateInput('fromDate', q.fromDate),
    toDate: dateInput('toDate', q.toDate),
  };
  const labels = { url: 'URL', scheduleId: 'Schedule', queueName: 'Queue', label: 'Label', messageId: 'Message id', responseStatus: 'Response status', fromDate: 'From', toDate: 'To' };
  const filterForm = filtersForm('dlq', FILTERS, inputs, labels);

  const filterQuery = () => Object.fromEntries(FILTERS.filter((k) => q[k]).map((k) => [k, q[k]]));
  const selected = new Set();
  const bulk = h('div.bulk');
  const tbody = h('tbody');
  const table = h('table.table.table-collapse.dlq',
    h('thead', h('tr', h('th', { scope: 'col', class: 'col-check' }, h('span.sr-only', 'Select')),
      ['Entry', 'URL', 'Status', 'Failed message', 'Schedule', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const empty = h('div');

  const retryOne = async (e) => {
    const r = await api('POST', `/v2/dlq/retry/${encodeURIComponent(e.dlqId)}`);
    toast(`Retried ${e.dlqId} as message ${r.messageId}`);
    ctx.refresh();
  };
  const deleteOne = async (e) => {
    await api('DELETE', `/v2/dlq/${encodeURIComponent(e.dlqId)}`);
    toast(`Deleted ${e.dlqId}`);
    ctx.refresh();
  };

  /** A bulk call, following the API's cursor (bounded). */
  const bulkCall = async (method, path, query) => {
    let total = 0;
    let cursor = null;
    for (let i = 0; i < 100; i++) {
      const r = await api(method, path + qs({ ...query, cursor }));
      total += r.deleted ?? (r.responses ? r.responses.length : 0);
      cursor = r.cursor || null;
      if (!cursor) break;
    }
    return total;
  };

  const drawBulk = () => {
    const ids = [...selected];
    fill(bulk,
      ids.length ? h('span.bulk-count', `${ids.length} selected`) : null,
      ids.length ? button('Retry selected', (ev) => busy(ev.currentTarget, async () => {
        const n = await bulkCall('POST', '/v2/dlq/retry', { dlqIds: ids });
        toast(`Retried ${n} entries`);
        ctx.refresh();
      }, 'retry')) : null,
      ids.length ? button('Delete selected', async (ev) => {
        const btn = ev.currentTarget;
        if (!(await confirmDialog('Delete entries', `Delete ${ids.length} DLQ entries? They cannot be retried afterwards.`, { confirm: 'Delete' }))) return;
        await busy(btn, async () => {
          const n = await bulkCall('DELETE', '/v2/dlq', { dlqIds: ids });
          toast(`Deleted ${n} entries`);
          ctx.refresh();
        }, 'delete');
      }, { kind: 'danger' }) : null,
      button(filtered ? 'Retry all matching' : 'Retry all', async (ev) => {
        const btn = ev.currentTarget;
        const ok = filtered
          ? await confirmDialog('Retry matching entries', 'Publish every DLQ entry that matches the filters again, as new messages?', { confirm: 'Retry', danger: false })
          : await confirmDialog('Retry the whole DLQ', 'No filter is set: this retries every entry in the dead-letter queue.', { confirm: 'Retry all', typed: 'ALL' });
        if (!ok) return;
        await busy(btn, async () => {
          const n = await bulkCall('POST', '/v2/dlq/retry', filterQuery());
          toast(`Retried ${n} entries`);
          ctx.refresh();
        }, 'retry');
      }),
      button(filtered ? 'Delete all matching' : 'Delete all', async (ev) => {
        const btn = ev.currentTarget;
        const ok = filtered
          ? await confirmDialog('Delete matching entries', 'Delete every DLQ entry that matches the filters?', { confirm: 'Delete' })
          : await confirmDialog('Empty the DLQ', 'No filter is set: this deletes every entry in the dead-letter queue.', { confirm: 'Delete all', typed: 'ALL' });
        if (!ok) return;
        await busy(btn, async () => {
          const n = await bulkCall('DELETE', '/v2/dlq', filterQuery());
          toast(`Deleted ${n} entries`);
          ctx.refresh();
        }, 'delete');
      }, { kind: 'danger' }),
    );
  };

  const row = (e) => {
    const check = h('input', { type: 'checkbox', 'aria-label': `Select ${e.dlqId}` });
    check.addEventListener('change', () => {
      if (check.checked) selected.add(e.dlqId);
      else selected.delete(e.dlqId);
      drawBulk();
    });
    const detailId = nextId('dlq-detail');
    const detailRow = h('tr.detail-row', { hidden: true, id: detailId }, h('td', { colspan: '8' }));
    const toggle = h('button', { type: 'button', class: 'btn btn-small', 'aria-expanded': 'false', 'aria-controls': detailId }, 'Details');
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') === 'true';
      toggle.setAttribute('aria-expanded', String(!open));
      detailRow.hidden = open;
      if (!open) fill(detailRow.firstChild, entryDetail(e));
    });
    const tr = h('tr', { 'data-dlq-id': e.dlqId },
      h('td.col-check', check),
      h('td', { 'data-label': 'Entry' }, h('span.mono.small', e.dlqId)),
      h('td.mono.wrap', { 'data-label': 'URL' }, e.url),
      h('td', { 'data-label': 'Status' }, h('span.badge.badge-bad', e.responseStatus ? String(e.responseStatus) : 'no response')),
      h('td', { 'data-label': 'Failed message' }, h('a.mono.small', { href: route('messages', e.messageId) }, e.messageId)),
      h('td', { 'data-label': 'Schedule' }, e.scheduleId ? h('a.mono.small', { href: route('schedules', e.scheduleId) }, e.scheduleId) : '—'),
      h('td', { 'data-label': 'Created' }, timeEl(e.createdAt, { both: true })),
      h('td', { 'data-label': 'Actions' }, h('div.row-actions',
        toggle,
        button('Retry', (ev) => busy(ev.currentTarget, () => retryOne(e), 'retry')),
        button('Edit and retry', async () => {
          try {
            const p = await editAndRetry(e);
            if (p) {
              toast(`Published ${p.messageId}; entry ${e.dlqId} deleted`);
              location.hash = route('messages', p.messageId);
            }
          } catch (x) {
            reportError(x, 'edit and retry');
          }
        }),
        button('Delete', async (ev) => {
          const btn = ev.currentTarget;
          if (!(await confirmDialog('Delete entry', `Delete DLQ entry ${e.dlqId}?`, { confirm: 'Delete' }))) return;
          await busy(btn, () => deleteOne(e), 'delete');
        }, { kind: 'danger' }))));
    return [tr, detailRow];
  };

  const more = loadMore(async (cursor) => page(cursor));
  async function page(cursor) {
    const r = await get('/v2/dlq', { ...filterQuery(), count: PAGE, cursor }, { signal: ctx.signal });
    for (const e of r.messages) tbody.append(...row(e));
    fill(empty, tbody.children.length ? null : emptyState(filtered ? 'No DLQ entry matches the filters.' : 'The dead-letter queue is empty.'));
    return r.cursor || null;
  }

  view.append(
    pageHead('Dead-letter queue'),
    h('p.muted', 'Messages that ran out of retries. Workflow runs that failed are under ', h('a', { href: routeQuery('workflows', { tab: 'dlq' }) }, 'Workflows → Failed runs'), '.'),
    filtersBox(filterForm, filtered),
    bulk,
    tableWrap(table, 'DLQ entries'), empty, more.el);
  drawBulk();
  more.set(await page(null));
}
