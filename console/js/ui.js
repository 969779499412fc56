// Reusable pieces: dialogs, toasts, copy buttons, badges, fields, tables.

import { h, fill, routeQuery } from './dom.js';
import { ApiError } from './api.js';

let uid = 0;
export const nextId = (prefix = 'f') => `${prefix}-${++uid}`;

export function toast(text, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}` }, text);
  box.appendChild(t);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** Shows an error from an API call in a toast; returns nothing. */
export function reportError(e, what) {
  if (e && e.name === 'AbortError') return;
  toast(`${what ? what + ': ' : ''}${e && e.message ? e.message : e}`, 'error');
}

/**
 * A modal <dialog>. content: nodes; buttons: [{label, kind, value}].
 * Resolves with the chosen value (null on Escape or Cancel). The browser's
 * own dialog handles focus and Escape.
 */
export function modal({ title, content, buttons, wide = false, onOpen }) {
  return new Promise((resolve) => {
    const titleId = nextId('dlg');
    const form = h('form', { method: 'dialog', class: 'dialog-form' });
    const dlg = h('dialog', { class: ['dialog', wide && 'dialog-wide'], 'aria-labelledby': titleId },
      form);
    const close = h('button', { type: 'button', class: 'icon-btn dialog-x', 'aria-label': 'Close' }, '×');
    close.addEventListener('click', () => dlg.close(''));
    const actions = h('div.dialog-actions');
    let result = null;
    for (const b of buttons || [{ label: 'Close', value: '' }]) {
      const btn = h('button', {
        type: b.submit ? 'submit' : 'button',
        class: `btn ${b.kind ? 'btn-' + b.kind : ''}`,
        value: b.value ?? '',
      }, b.label);
      if (!b.submit) {
        btn.addEventListener('click', async () => {
          if (b.check && !(await b.check())) return;
          result = b.value ?? null;
          dlg.close(String(b.value ?? ''));
        });
      }
      actions.appendChild(btn);
    }
    form.append(h('div.dialog-head', h('h2', { id: titleId }, title), close), h('div.dialog-body', content), actions);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const btn = buttons.find((b) => b.submit);
      if (btn && btn.check && !(await btn.check())) return;
      result = btn ? btn.value : null;
      dlg.close(String(result ?? ''));
    });
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(result);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    if (onOpen) onOpen(dlg);
  });
}

/** Asks before doing something that cannot be undone; resolves true/false. */
export async function confirmDialog(title, message, { confirm = 'Confirm', danger = true, typed } = {}) {
  let input = null;
  const body = [h('p', message)];
  if (typed) {
    const id = nextId('confirm');
    input = h('input', { id, type: 'text', autocomplete: 'off', spellcheck: 'false' });
    body.push(h('p', h('label', { for: id }, `Type ${typed} to confirm`)), input);
  }
  const v = await modal({
    title,
    content: body,
    buttons: [
      { label: 'Cancel', value: 'no' },
      {
        label: confirm, kind: danger ? 'danger' : 'primary', value: 'yes', submit: true,
        check: () => {
          if (!input || input.value.trim() === typed) return true;
          input.setCustomValidity(`Type ${typed}`);
          input.reportValidity();
          return false;
        },
      },
    ],
    onOpen: () => (input || null)?.focus(),
  });
  return v === 'yes';
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h('textarea', { class: 'offscreen', readonly: true });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try {
      document.execCommand('copy');
    } finally {
      ta.remove();
    }
  }
}

export function copyButton(getText, label = 'Copy') {
  const b = h('button', { type: 'button', class: 'btn btn-small' }, label);
  b.addEventListener('click', async () => {
    try {
      await copyText(typeof getText === 'function' ? getText() : getText);
      b.textContent = 'Copied';
      setTimeout(() => (b.textContent = label), 1500);
    } catch (e) {
      reportError(e, 'copy');
    }
  });
  return b;
}

const STATE_KIND = {
  DELIVERED: 'ok', SUCCESS: 'ok', RUN_SUCCESS: 'ok', STEP_SUCCESS: 'ok',
  FAILED: 'bad', FAIL: 'bad', RUN_FAILED: 'bad', ERROR: 'warn', missed: 'warn',
  RETRY: 'warn', ACTIVE: 'info', IN_PROGRESS: 'info', RUN_STARTED: 'info', CREATED: 'neutral',
  CANCEL_REQUESTED: 'neutral', CANCELED: 'neutral', RUN_CANCELED: 'neutral', paused: 'neutral',
  active: 'ok', manual: 'info', slot: 'neutral',
  STEP_FAILED: 'bad', STEP_RETRY: 'warn', STEP_PROGRESS: 'info', CALLBACK_SUCCESS: 'ok', CALLBACK_FAIL: 'bad',
  CALLBACK_INPROGRESS: 'info', CALLBACK_CANCELED: 'neutral',
};

export function badge(state, text) {
  const kind = STATE_KIND[state] || 'neutral';
  return h('span', { class: `badge badge-${kind}` }, text ?? String(state ?? '—'));
}

/** A definition list of [label, value] rows (values: text or nodes). */
export function dl(rows) {
  const el = h('dl.kv');
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    el.append(h('dt', k), h('dd', v == null || v === '' ? h('span.muted', '—') : v));
  }
  return el;
}

/** A block of text (a body, JSON, headers), shown exactly, scrollable. */
export function pre(text, cls = '') {
  return h('pre', { class: ['code', cls] }, text == null ? '' : String(text));
}

/** Header map {Name: [values]} as a two-column table. */
export function headerTable(map) {
  const entries = Object.entries(map || {});
  if (!entries.length) return h('p.muted', 'No headers');
  return tableWrap(h('table.table.table-compact',
    h('thead', h('tr', h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', entries.flatMap(([k, vs]) => (Array.isArray(vs) ? vs : [vs]).map((v) =>
      h('tr', h('td.mono', k), h('td.mono.wrap', String(v))))))));
}

export function tableWrap(table, label) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label || 'Table' }, table);
}

/** A labelled field. control: an input/select/textarea element. */
export function field(label, control, { hint, wide = false, id } = {}) {
  const cid = control.id || id || nextId('f');
  control.id = cid;
  const parts = [h('label', { for: cid }, label), control];
  if (hint) {
    const hid = cid + '-hint';
    const current = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', current ? `${current} ${hid}` : hid);
    parts.push(h('p', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: ['field', wide && 'field-wide'] }, parts);
}

export function input(attrs) {
  return h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
}

export function select(options, value, attrs = {}) {
  const el = h('select', attrs);
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    el.appendChild(h('option', { value: v }, label));
  }
  if (value != null) el.value = value;
  return el;
}

export function button(label, onclick, { kind, small = true, attrs = {} } = {}) {
  return h('button', {
    type: 'button',
    class: ['btn', small && 'btn-small', kind && `btn-${kind}`],
    onclick,
    ...attrs,
  }, label);
}

/** Runs an async action with the button disabled; reports errors. */
export async function busy(btn, fn, what) {
  btn.disabled = true;
  try {
    return await fn();
  } catch (e) {
    reportError(e, what);
    return undefined;
  } finally {
    btn.disabled = false;
  }
}

export function pageHead(title, ...actions) {
  return h('div.page-head', h('h1', title), h('div.page-actions', actions));
}

export function section(title, ...children) {
  return h('section.card', title ? h('h2.card-title', title) : null, children);
}

export function emptyState(text) {
  return h('p.empty', text);
}

export function errorBox(e) {
  return h('div', { class: 'error-box', role: 'alert' }, e && e.message ? e.message : String(e));
}

/** Tabs as links: [{label, href, active, count}]. */
export function tabs(items, label = 'Views') {
  return h('nav', { class: 'tabs', 'aria-label': label }, items.map((t) =>
    h('a', { href: t.href, class: ['tab', t.active && 'tab-active'], 'aria-current': t.active ? 'page' : null },
      t.label, t.count != null ? h('span.tab-count', String(t.count)) : null)));
}

/** A "Load more" footer driven by a cursor. load(cursor) → next cursor or null. */
export function loadMore(load) {
  const btn = h('button', { type: 'button', class: 'btn' }, 'Load more');
  const box = h('div.load-more', btn);
  let cursor = null;
  const set = (c) => {
    cursor = c || null;
    box.hidden = !cursor;
  };
  btn.addEventListener('click', () => busy(btn, async () => set(await load(cursor)), 'load more'));
  set(null);
  return { el: box, set };
}

/** A key/value rows editor (headers): returns {el, rows(), set(pairs)}. */
export function pairsEditor({ nameLabel = 'Name', valueLabel = 'Value', addLabel = 'Add header' } = {}) {
  const list = h('div.pairs');
  const addRow = (name = '', value = '') => {
    const n = input({ value: name, 'aria-label': nameLabel, placeholder: nameLabel, class: 'pair-name' });
    const v = input({ value, 'aria-label': valueLabel, placeholder: valueLabel, class: 'pair-value' });
    const rm = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Remove this header' }, '×');
    const row = h('div.pair', n, v, rm);
    rm.addEventListener('click', () => {
      row.remove();
      list.dispatchEvent(new Event('input', { bubbles: true }));
    });
    list.appendChild(row);
    return n;
  };
  const add = h('button', { type: 'button', class: 'btn btn-small' }, addLabel);
  add.addEventListener('click', () => addRow().focus());
  const el = h('div.pairs-editor', list, add);
  return {
    el,
    rows: () => [...list.querySelectorAll('.pair')].map((r) => [
      r.querySelector('.pair-name').value.trim(), r.querySelector('.pair-value').value,
    ]).filter(([n]) => n),
    set: (pairs) => {
      fill(list);
      for (const [n, v] of pairs) addRow(n, v);
    },
  };
}

/** Filters in a disclosure: open on wide screens or when a filter is set. */
export function filtersBox(form, active) {
  const wide = window.matchMedia('(min-width: 721px)').matches;
  return h('details', { class: 'card filters-box', open: wide || active },
    h('summary', active ? 'Filters (set)' : 'Filters'), form);
}

/**
 * True when an answer says the server has no such endpoint: its router's 404
 * ("no such endpoint"), or 405 (the path exists for other methods). Pages for
 * features a server may not have yet show `unavailable()` instead of an error.
 */
export function isUnavailable(e, { anyNotFound = false } = {}) {
  if (!(e instanceof ApiError)) return false;
  if (e.status === 405) return true;
  return e.status === 404 && (anyNotFound || /no such endpoint/i.test(e.message));
}

/** The note shown in place of a feature this server does not offer. */
export function unavailable(what) {
  return h('div', { class: 'notice unavailable', role: 'note' },
    h('p', h('strong', `${what}: not available on this server.`)),
    h('p.muted', 'This cronhook does not answer these endpoints yet. Everything else works; update cronhook to use this page.'));
}

/** Runs an action; when the server lacks its endpoint, says so in a toast. */
export async function act(btn, fn, what) {
  return busy(btn, async () => {
    try {
      return await fn();
    } catch (e) {
      if (isUnavailable(e)) {
        toast(`${what}: not available on this server`, 'error');
        return undefined;
      }
      throw e;
    }
  }, what);
}

/** A modal form: fields (nodes) and a submit label; check() returns true to close. */
export async function formDialog(title, content, submitLabel, check) {
  const err = h('div', { role: 'alert' });
  const v = await modal({
    title,
    content: [content, err],
    buttons: [
      { label: 'Cancel', value: null },
      {
        label: submitLabel, kind: 'primary', value: 'yes', submit: true,
        check: async () => {
          fill(err);
          try {
            return await check();
          } catch (e) {
            fill(err, h('p.form-error', isUnavailable(e) ? 'Not available on this server.' : e.message));
            return false;
          }
        },
      },
    ],
    onOpen: (dlg) => dlg.querySelector('input, select')?.focus(),
  });
  return v === 'yes';
}

/** datetime-local value ↔ Unix ms (the browser's zone). */
export function toLocalInput(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fromLocalInput(v) {
  if (!v) return '';
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? String(t) : '';
}

/** A datetime-local input named `name` holding Unix ms `ms` (empty when none). */
export const dateInput = (name, ms) => h('input', { type: 'datetime-local', name, value: toLocalInput(ms) });

/**
 * A list page's filter form: a field per key of `keys` (its control in
 * `inputs`, its label in `labels`), Apply and Clear. Apply goes to the
 * route `routeName` with the trimmed values; `fromDate` and `toDate` go as
 * Unix ms, as the API takes them.
 */
export function filtersForm(routeName, keys, inputs, labels) {
  const form = h('form.filters', keys.map((k) => field(labels[k], inputs[k])),
    h('div.filter-actions', h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
      h('a', { href: `#/${routeName}`, class: 'btn' }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = {};
    for (const k of keys) {
      const v = inputs[k].value.trim();
      p[k] = k === 'fromDate' || k === 'toDate' ? fromLocalInput(v) : v;
    }
    location.hash = routeQuery(routeName, p);
  });
  return form;
}
