// Settings: the signing keys and their rotation, the settings in force,
// the version and the database, the nodes on a PostgreSQL database and
// who leads; log out.

import { h, fill, bytes, timeEl } from '../dom.js';
import { api, get, logout } from '../api.js';
import { pageHead, section, dl, tableWrap, copyButton, button, busy, confirmDialog, toast, badge } from '../ui.js';

export default async function settings(view, ctx) {
  const keysBox = h('div');
  const infoBox = h('div');
  view.append(
    pageHead('Settings', button('Log out', async () => {
      await logout();
      location.hash = '#/';
      location.reload();
    }, { small: false })),
    h('div.grid-2', section('Signing keys', keysBox), section('This server', infoBox)),
  );

  const drawKeys = (k) => fill(keysBox,
    h('p.muted', 'Every delivery is signed with the current key; receivers should accept the next key too, so a rotation does not break them.'),
    h('ul.env-lines',
      [['QSTASH_CURRENT_SIGNING_KEY', k.current], ['QSTASH_NEXT_SIGNING_KEY', k.next]].map(([name, value]) => h('li.env-line',
        h('code.mono', h('span.env-name', name), '=', h('span.env-value', value)), copyButton(`${name}=${value}`, 'Copy')))),
    button('Rotate keys', async (ev) => {
      const btn = ev.currentTarget;
      const ok = await confirmDialog('Rotate the signing keys',
        'The next key becomes the current key and a new next key is made. Receivers that only know the current key will reject deliveries until they are given the new keys.',
        { confirm: 'Rotate' });
      if (!ok) return;
      await busy(btn, async () => {
        drawKeys(await api('POST', '/v2/keys/rotate'));
        toast('Rotated the signing keys');
      }, 'rotate');
    }, { kind: 'danger', small: false }));

  const [keys, info, cluster] = await Promise.all([
    get('/v2/keys', null, { signal: ctx.signal }),
    get('/cronhook/v1/settings', null, { signal: ctx.signal }),
    get('/cronhook/v1/cluster', null, { signal: ctx.signal }),
  ]);
  drawKeys(keys);
  fill(infoBox,
    dl([
      ['Version', info.version],
      ['Database', h('span.mono.wrap', info.database.path)],
      ['Database size', bytes(info.database.bytes)],
      ['Deliveries', cluster.leader ? 'made by this server' : 'made by the leading node; this one serves the API'],
    ]),
    cluster.nodes.length === 0 ? null : nodesTable(cluster.nodes),
    h('h3', 'Settings in force'),
    tableWrap(h('table.table.table-compact',
      h('thead', h('tr', h('th', { scope: 'col' }, 'Setting'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', info.settings.map((s) => h('tr', h('td.mono', s.name), h('td.mono.wrap', s.value))))), 'Settings'));
}

/** The nodes on the database, oldest first: which one leads, which one is this. */
function nodesTable(nodes) {
  return [
    h('h3', 'Nodes'),
    tableWrap(h('table.table.table-compact.nodes',
      h('thead', h('tr', ...['Node', 'URL', 'Started', 'Last seen', 'Role'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', nodes.map((n) => h('tr', { 'data-node': n.node },
        h('td.mono', n.node, n.self ? h('span.muted', ' (this server)') : null),
        h('td.mono.wrap', n.url ?? '—'),
        h('td', timeEl(n.startedAt)),
        h('td', timeEl(n.seenAt)),
        h('td', n.leader ? badge('active', 'leader') : badge('paused', 'follower')))))), 'Nodes'),
  ];
}
