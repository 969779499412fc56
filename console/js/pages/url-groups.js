// URL groups (topics, docs/qstash-wire.md §4.7, §6.5): each group with its
// endpoints; make a group by adding its first endpoint, add and remove
// endpoints, delete a group. A message published to a group's name goes to
// every endpoint. Names and URLs are shown as text only. A server without
// the topic endpoints gets a note instead.

import { h, fill, timeEl } from '../dom.js';
import { api, get } from '../api.js';
import {
  pageHead, section, tableWrap, button, act, confirmDialog, toast, emptyState, field, input,
  isUnavailable, unavailable, errorBox, reportError, nextId,
} from '../ui.js';

const path = (name, ...rest) => ['/v2/topics', encodeURIComponent(name), ...rest].join('/');

/** POST /v2/topics/{group}/endpoints: creates the group when it is new. */
export async function addEndpoint(group, url, name) {
  const endpoint = name ? { name, url } : { url };
  await api('POST', path(group, 'endpoints'), { json: { endpoints: [endpoint] } });
}

/** The inline "add endpoint" form (group name too when `group` is null). */
function endpointForm(group, done) {
  const groupName = group == null ? input({ name: 'group', required: true, placeholder: 'e.g. order-events' }) : null;
  const name = input({ name: 'endpointName', placeholder: 'optional' });
  const url = input({ type: 'url', name: 'endpointUrl', required: true, placeholder: 'https://example.com/hook' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-small' }, group == null ? 'Create group' : 'Add endpoint');
  const err = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { class: ['endpoint-form form-grid', group == null ? 'endpoint-form-new' : null], 'aria-label': group == null ? 'New URL group' : `Add an endpoint to ${group}` },
    groupName ? field('Group name', groupName) : null,
    field('Endpoint name', name),
    field('Endpoint URL', url),
    h('div.field.form-actions', submit), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const g = group ?? groupName.value.trim();
    if (!g) {
      err.textContent = 'The group name is required.';
      return;
    }
    if (!url.value.trim()) {
      err.textContent = 'The endpoint URL is required.';
      return;
    }
    submit.disabled = true;
    try {
      await addEndpoint(g, url.value.trim(), name.value.trim());
      toast(group == null ? `Created group ${g}` : `Added ${url.value.trim()} to ${g}`);
      await done();
    } catch (e) {
      err.textContent = isUnavailable(e) ? 'Not available on this server.' : e.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export default async function urlGroups(view, ctx) {
  const body = h('div.stack');
  const newBox = h('div');
  view.append(pageHead('URL groups'),
    h('p.muted', 'Publish to a group’s name instead of a URL and every endpoint of the group gets its own copy of the message.'),
    newBox, body);

  const groupCard = (g) => {
    const eps = g.endpoints || [];
    const tbody = h('tbody', eps.map((ep) => h('tr', { 'data-endpoint': ep.url },
      h('td', { 'data-label': 'Name' }, ep.name ? h('span.mono', ep.name) : h('span.muted', '—')),
      h('td.mono.wrap', { 'data-label': 'URL' }, ep.url),
      h('td', { 'data-label': 'Actions' }, button('Remove', async (ev) => {
        const btn = ev.currentTarget;
        const last = eps.length === 1 ? ' It is the last one: the group goes with it.' : '';
        if (!(await confirmDialog('Remove endpoint', `Remove ${ep.url} from ${g.name}?${last}`, { confirm: 'Remove' }))) return;
        const entry = ep.name ? { name: ep.name, url: ep.url } : { url: ep.url };
        await act(btn, async () => {
          await api('DELETE', path(g.name, 'endpoints'), { json: { endpoints: [entry] } });
          toast(`Removed ${ep.url} from ${g.name}`);
          await load();
        }, 'remove endpoint');
      }, { kind: 'danger' })))));
    const titleId = nextId('group');
    return h('section', { class: 'card url-group', 'data-group': g.name, 'aria-labelledby': titleId },
      h('div.group-title',
        h('h2', { class: 'card-title mono', id: titleId }, g.name),
        h('span.muted.small', `${eps.length} endpoint${eps.length === 1 ? '' : 's'} · updated `, timeEl(g.updatedAt ?? g.createdAt)),
        h('div.row-actions',
          button('Delete group', async (ev) => {
            const btn = ev.currentTarget;
            if (!(await confirmDialog('Delete URL group', `Delete group ${g.name} and its ${eps.length} endpoints? Messages already published to it are still delivered.`, { confirm: 'Delete group' }))) return;
            await act(btn, async () => { await api('DELETE', path(g.name)); toast(`Deleted group ${g.name}`); await load(); }, 'delete group');
          }, { kind: 'danger' }))),
      eps.length
        ? tableWrap(h('table.table.table-collapse.table-compact',
          h('thead', h('tr', ['Name', 'URL', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))), tbody), `Endpoints of ${g.name}`)
        : emptyState('No endpoints.'),
      endpointForm(g.name, load));
  };

  async function load() {
    let list;
    try {
      list = await get('/v2/topics', null, { signal: ctx.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      const missing = isUnavailable(e, { anyNotFound: true });
      fill(newBox);
      fill(body, missing ? unavailable('URL groups') : errorBox(e));
      return;
    }
    if (!newBox.firstChild) fill(newBox, section('New group', endpointForm(null, load)));
    const groups = (Array.isArray(list) ? list : []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    fill(body, groups.length ? groups.map(groupCard) : emptyState('No URL groups yet.'));
  }

  await load().catch((e) => reportError(e, 'URL groups'));
}
