// Workflow runs (GET /v2/workflows/events, the shape of client.logs) with
// filters, cancel; and the workflow DLQ (GET /v2/dlq?source=workflow) with
// resume, restart and calling the failure function again.

import { h, fill, route, routeQuery, timeEl } from '../dom.js';
import { api, get, qs } from '../api.js';
import {
  filtersBox, pageHead, section, tableWrap, tabs, badge, loadMore, emptyState, field, input, select, button,
  busy, confirmDialog, toast, nextId,
  filtersForm, dateInput,
} from '../ui.js';
import { entryDetail } from './dlq.js';

const PAGE = 20;
const STATES = [['', 'any state'], ['RUN_STARTED', 'running'], ['RUN_SUCCESS', 'succeeded'], ['RUN_FAILED', 'failed'], ['RUN_CANCELED', 'cancelled']];
const FILTERS = ['state', 'workflowUrl', 'workflowRunId', 'label', 'fromDate', 'toDate'];

export function stepCount(run) {
  return (run.steps || []).reduce((a, g) => a + (g.steps || []).length, 0);
}

export async function cancelRun(id) {
  await api('DELETE', `/v2/workflows/runs/${encodeURIComponent(id)}${qs({ cancel: 'true' })}`);
  toast(`Cancelled run ${id}`);
}

async function runsTab(view, ctx) {
  const q = Object.fromEntries(FILTERS.map((k) => [k, ctx.query.get(k) || '']));
  const inputs = {
    state: select(STATES, q.state, { name: 'state' }),
    workflowUrl: input({ name: 'workflowUrl', value: q.workflowUrl, placeholder: 'the whole URL' }),
    workflowRunId: input({ name: 'workflowRunId', value: q.workflowRunId }),
    label: input({ name: 'label', value: q.label }),
    fromDate: dateInput('fromDate', q.fromDate),
    toDate: dateInput('toDate', q.toDate),
  };
  const labels = { state: 'State', workflowUrl: 'Workflow URL', workflowRunId: 'Run id', label: 'Label', fromDate: 'From', toDate: 'To' };
  const form = filtersForm('workflows', FILTERS, inputs, labels);
  const query = () => Object.fromEntries(FILTERS.filter((k) => q[k]).map((k) => [k, q[k]]));
  const tbody = h('tbody');
  const table = h('table.table.table-collapse.runs',
    h('thead', h('tr', ['Run', 'State', 'Workflow URL', 'Steps', 'Started', 'Ended', ''].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const empty = h('div');
  const row = (r) => h('tr', { 'data-run-id': r.workflowRunId },
    h('td', { 'data-label': 'Run' }, h('a.mono', { href: route('workflows', r.workflowRunId) }, r.workflowRunId),
      r.label ? h('div', h('span.tag', r.label)) : null),
    h('td', { 'data-label': 'State' }, badge(r.workflowState)),
    h('td.mono.wrap', { 'data-label': 'Workflow URL' }, r.workflowUrl),
    h('td', { 'data-label': 'Steps' }, String(stepCount(r))),
    h('td', { 'data-label': 'Started' }, timeEl(r.workflowRunCreatedAt, { both: true })),
    h('td', { 'data-label': 'Ended' }, r.workflowRunCompletedAt ? timeEl(r.workflowRunCompletedAt, { both: true }) : h('span.muted', '—')),
    h('td', r.workflowState === 'RUN_STARTED' ? button('Cancel', async (ev) => {
      const btn = ev.currentTarget;
      if (!(await confirmDialog('Cancel run', `Cancel workflow run ${r.workflowRunId}? Its remaining steps are not run.`, { confirm: 'Cancel run' }))) return;
      await busy(btn, async () => { await cancelRun(r.workflowRunId); ctx.refresh(); }, 'cancel');
    }, { kind: 'danger' }) : null));
  const more = loadMore(async (cursor) => page(cursor));
  async function page(cursor) {
    const r = await get('/v2/workflows/events', { ...query(), count: PAGE, cursor }, { signal: ctx.signal });
    for (const run of r.runs) tbody.append(row(run));
    fill(empty, tbody.children.length ? null : emptyState('No workflow runs match.'));
    return r.cursor || null;
  }
  view.append(filtersBox(form, FILTERS.some((k) => q[k])), tableWrap(table, 'Workflow runs'), empty, more.el);
  more.set(await page(null));
}

async function dlqTab(view, ctx) {
  const tbody = h('tbody');
  const table = h('table.table.table-collapse.wf-dlq',
    h('thead', h('tr', ['Run', 'Workflow URL', 'Status', 'Failure function', 'Run started', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const empty = h('div');
  const act = async (btn, what, fn) => busy(btn, async () => {
    const r = await fn();
    const runs = r.workflowRuns || (r.workflowRunId ? [r] : []);
    toast(`${what}: ${runs.map((x) => x.workflowRunId).join(', ') || 'done'}`);
    ctx.refresh();
  }, what);
  const row = (e) => {
    const ids = qs({ dlqIds: e.dlqId });
    const detailId = nextId('wfdlq');
    const detailRow = h('tr.detail-row', { hidden: true, id: detailId }, h('td', { colspan: '6' }));
    const toggle = h('button', { type: 'button', class: 'btn btn-small', 'aria-expanded': 'false', 'aria-controls': detailId }, 'Details');
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') === 'true';
      toggle.setAttribute('aria-expanded', String(!open));
      detailRow.hidden = open;
      if (!open) fill(detailRow.firstChild, entryDetail(e));
    });
    const info = e.failureCallbackInfo;
    return [h('tr', { 'data-dlq-id': e.dlqId },
      h('td', { 'data-label': 'Run' }, h('a.mono', { href: route('workflows', e.workflowRunId) }, e.workflowRunId)),
      h('td.mono.wrap', { 'data-label': 'Workflow URL' }, e.workflowUrl),
      h('td', { 'data-label': 'Status' }, h('span.badge.badge-bad', e.responseStatus ? String(e.responseStatus) : 'no response')),
      h('td', { 'data-label': 'Failure function' }, e.failureCallback
        ? [h('span.mono.small.wrap', e.failureCallback), info ? [' ', badge(info.state)] : null] : h('span.muted', 'none')),
      h('td', { 'data-label': 'Run started' }, timeEl(e.workflowCreatedAt, { both: true })),
      h('td', { 'data-label': 'Actions' }, h('div.row-actions', toggle,
        button('Resume', (ev) => act(ev.currentTarget, 'Resumed', () => api('POST', `/v2/workflows/dlq/resume${ids}`))),
        button('Restart', async (ev) => {
          const btn = ev.currentTarget;
          if (!(await confirmDialog('Restart run', `Start run ${e.workflowRunId} over from its first step?`, { confirm: 'Restart', danger: false }))) return;
          await act(btn, 'Restarted', () => api('POST', `/v2/workflows/dlq/restart${ids}`));
        }),
        e.failureCallback ? button('Retry failure function', (ev) => act(ev.currentTarget, 'Called the failure function',
          () => api('POST', `/v2/workflows/dlq/callback/${encodeURIComponent(e.dlqId)}`))) : null,
        button('Delete', async (ev) => {
          const btn = ev.currentTarget;
          if (!(await confirmDialog('Delete entry', `Delete the failed run ${e.workflowRunId} from the DLQ? It cannot be resumed afterwards.`, { confirm: 'Delete' }))) return;
          await busy(btn, async () => {
            await api('DELETE', `/v2/workflows/dlq${ids}`);
            toast(`Deleted ${e.dlqId}`);
            ctx.refresh();
          }, 'delete');
        }, { kind: 'danger' })))), detailRow];
  };
  const more = loadMore(async (cursor) => page(cursor));
  async function page(cursor) {
    const r = await get('/v2/dlq', { source: 'workflow', count: PAGE, cursor }, { signal: ctx.signal });
    for (const e of r.messages) tbody.append(...row(e));
    fill(empty, tbody.children.length ? null : emptyState('No failed workflow runs.'));
    return r.cursor || null;
  }
  view.append(tableWrap(table, 'Failed workflow runs'), empty, more.el);
  more.set(await page(null));
}

export default async function workflows(view, ctx) {
  const tab = ctx.query.get('tab') === 'dlq' ? 'dlq' : 'runs';
  view.append(pageHead('Workflows'), tabs([
    { label: 'Runs', href: '#/workflows', active: tab === 'runs' },
    { label: 'Failed runs (DLQ)', href: routeQuery('workflows', { tab: 'dlq' }), active: tab === 'dlq' },
  ], 'Workflow views'));
  const body = h('div');
  view.append(body);
  await (tab === 'dlq' ? dlqTab(body, ctx) : runsTab(body, ctx));
}
