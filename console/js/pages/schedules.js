// Schedules: active, paused and ended tabs, search, paged with the API's cursor,
// row and bulk actions.

import { h, fill, route, routeQuery, timeEl, debounce } from '../dom.js';
import { api, get } from '../api.js';
import {
  pageHead, tabs, tableWrap, badge, button, busy, confirmDialog, toast, reportError,
  loadMore, emptyState, input, nextId,
} from '../ui.js';

const PAGE = 25;

/** A schedule id in a /v2 path: the id characters are kept as they are. */
export function idPath(id) {
  return encodeURIComponent(id).replace(/%40/g, '@').replace(/%2B/gi, '+');
}

export async function pause(id, paused) {
  await api('PATCH', `/v2/schedules/${idPath(id)}/${paused ? 'pause' : 'resume'}`);
}

export async function runNow(id) {
  const r = await api('POST', `/cronhook/v1/schedules/${encodeURIComponent(id)}/trigger`);
  toast(`Ran ${id} now: message ${r.messageId}`);
  return r.messageId;
}

export async function remove(id) {
  await api('DELETE', `/v2/schedules/${idPath(id)}`);
}

/** The last run's state from lastScheduleStates (messageId → state). */
export function lastState(s) {
  const states = Object.values(s.lastScheduleStates || {});
  if (!states.length) return null;
  if (states.includes('FAIL')) return 'FAIL';
  if (states.includes('IN_PROGRESS')) return 'IN_PROGRESS';
  return 'SUCCESS';
}

/**
 * The "Next run" of a schedule: ended, paused, or its next slot, with
 * "starts <time>" while its start (Cronhook-Start-At) is still ahead.
 */
export function nextRun(s) {
  if (s.state === 'ended') return badge('ended');
  if (s.isPaused) return h('span.muted', 'paused');
  const next = timeEl(s.nextScheduleTime, { both: true });
  if (s.startAt && s.startAt > Date.now()) {
    return [next, h('div.muted.small', 'starts ', timeEl(s.startAt, { both: true }))];
  }
  return next;
}

/** The 5 or 6 cron fields without the CRON_TZ= prefix. */
export function cronFields(cron) {
  return String(cron || '').replace(/^\s*(CRON_TZ|TZ)=\S+\s+/, '').trim();
}

export default async function schedules(view, ctx) {
  const state = ['paused', 'ended'].includes(ctx.query.get('state')) ? ctx.query.get('state') : 'active';
  let q = ctx.query.get('q') || '';
  const selected = new Set();

  const tabBox = h('div');
  const searchId = nextId('search');
  const search = input({ id: searchId, type: 'search', value: q, placeholder: 'id, destination or label', class: 'search' });
  const bulk = h('div', { class: 'bulk', hidden: true });
  const tbody = h('tbody');
  const table = h('table.table.table-collapse',
    h('thead', h('tr',
      h('th', { scope: 'col', class: 'col-check' }, h('span.sr-only', 'Select')),
      ['Schedule', 'Destination', 'When', 'Time zone', 'Next run', 'Last run', 'Actions']
        .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const empty = h('div');
  const more = loadMore((cursor) => page(cursor));

  view.append(
    pageHead('Schedules', h('a', { href: '#/schedules/new', class: 'btn btn-primary' }, 'New schedule')),
    tabBox,
    h('div.toolbar',
      h('div.field.field-inline', h('label', { for: searchId }, 'Search'), search),
      bulk),
    tableWrap(table, 'Schedules'),
    empty,
    more.el,
  );

  const drawTabs = (counts) => fill(tabBox, tabs([
    { label: 'Active', href: routeQuery('schedules', { state: 'active', q }), active: state === 'active', count: counts?.active },
    { label: 'Paused', href: routeQuery('schedules', { state: 'paused', q }), active: state === 'paused', count: counts?.paused },
    { label: 'Ended', href: routeQuery('schedules', { state: 'ended', q }), active: state === 'ended', count: counts?.ended },
  ], 'Schedule state'));

  const drawBulk = () => {
    bulk.hidden = selected.size === 0;
    const ids = [...selected];
    const each = async (what, fn) => {
      let done = 0;
      for (const id of ids) {
        try {
          await fn(id);
          done++;
        } catch (e) {
          reportError(e, `${what} ${id}`);
        }
      }
      toast(`${what}: ${done} of ${ids.length} schedules`);
      ctx.refresh();
    };
    fill(bulk,
      h('span.bulk-count', `${selected.size} selected`),
      state === 'ended'
        ? null
        : state === 'active'
          ? button('Pause selected', () => each('Paused', (id) => pause(id, true)))
          : button('Resume selected', () => each('Resumed', (id) => pause(id, false))),
      button('Delete selected', async () => {
        if (await confirmDialog('Delete schedules', `Delete ${ids.length} schedules? Their future firings stop; messages already fired are still delivered.`, { confirm: 'Delete' })) {
          each('Deleted', remove);
        }
      }, { kind: 'danger' }),
    );
  };

  const row = (s) => {
    const id = s.scheduleId;
    const check = h('input', { type: 'checkbox', 'aria-label': `Select ${id}` });
    check.addEventListener('change', () => {
      if (check.checked) selected.add(id);
      else selected.delete(id);
      drawBulk();
    });
    const last = lastState(s);
    const actions = h('div.row-actions',
      s.state === 'ended' ? null : s.isPaused
        ? button('Resume', (ev) => busy(ev.currentTarget, async () => { await pause(id, false); toast(`Resumed ${id}`); ctx.refresh(); }, 'resume'))
        : button('Pause', (ev) => busy(ev.currentTarget, async () => { await pause(id, true); toast(`Paused ${id}`); ctx.refresh(); }, 'pause')),
      button('Run now', (ev) => busy(ev.currentTarget, () => runNow(id), 'run now')),
      h('a', { href: route('schedules', id, 'edit'), class: 'btn btn-small' }, 'Edit'),
      button('Delete', async (ev) => {
        const btn = ev.currentTarget;
        if (!(await confirmDialog('Delete schedule', `Delete schedule ${id}? Its future firings stop; messages already fired are still delivered.`, { confirm: 'Delete' }))) return;
        await busy(btn, async () => { await remove(id); toast(`Deleted ${id}`); ctx.refresh(); }, 'delete');
      }, { kind: 'danger' }),
    );
    return h('tr', { 'data-id': id },
      h('td.col-check', check),
      h('td', { 'data-label': 'Schedule' }, h('a.mono.strong', { href: route('schedules', id) }, id),
        s.label ? h('div', h('span.tag', s.label)) : null),
      h('td.mono.wrap', { 'data-label': 'Destination' }, s.destination),
      h('td', { 'data-label': 'When' }, h('div', s.description || ''), h('code.muted.small', cronFields(s.cron))),
      h('td', { 'data-label': 'Time zone' }, s.timezone || 'UTC'),
      h('td', { 'data-label': 'Next run' }, nextRun(s)),
      h('td', { 'data-label': 'Last run' }, s.lastScheduleTime ? [timeEl(s.lastScheduleTime, { both: true }), ' ', last ? badge(last) : null] : h('span.muted', 'never')),
      h('td', { 'data-label': 'Actions' }, actions),
    );
  };

  async function page(cursor) {
    const r = await get('/cronhook/v1/schedules', { state, q, cursor, count: PAGE }, { signal: ctx.signal });
    drawTabs(r.counts);
    if (!cursor) fill(tbody);
    for (const s of r.schedules) tbody.appendChild(row(s));
    fill(empty, tbody.children.length ? null : emptyState(q
      ? `No ${state} schedule matches “${q}”.`
      : `No ${state} schedules.`));
    return r.cursor || null;
  }

  const reload = async () => {
    selected.clear();
    drawBulk();
    more.set(await page(null));
  };

  search.addEventListener('input', debounce(() => {
    q = search.value.trim();
    history.replaceState(null, '', routeQuery('schedules', { state, q }));
    reload().catch((e) => reportError(e, 'search'));
  }, 250));

  drawTabs(null);
  await reload();
}
