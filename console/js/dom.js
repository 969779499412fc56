// Building DOM from data, safely: every value becomes a text node or an
// attribute set with setAttribute; nothing is ever parsed as HTML. Links
// take same-origin hash routes only (a URL from the API is shown as text,
// never put in an href).

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false || c === true) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'href') {
      if (typeof v !== 'string' || !v.startsWith('#')) throw new Error('links must be hash routes');
      el.setAttribute('href', v);
    } else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = Boolean(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' || k === 'src' || k === 'srcdoc' || k === 'action' || k === 'formaction') {
      throw new Error(`attribute ${k} is not set from code`);
    } else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h('tag.class', {attrs}, ...children): an HTML element. */
export function h(tag, attrs, ...children) {
  if (attrs instanceof Node || typeof attrs !== 'object' || Array.isArray(attrs) || attrs === null) {
    if (attrs !== undefined && attrs !== null) children.unshift(attrs);
    attrs = {};
  }
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs.class) {
    const extra = Array.isArray(attrs.class) ? attrs.class.filter(Boolean).join(' ') : attrs.class;
    attrs = { ...attrs, class: [el.className, extra].filter(Boolean).join(' ') };
  }
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element with attributes (numbers and strings only). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'href' || k === 'style') throw new Error(`attribute ${k} is not set from code`);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Replaces the children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A hash route: '#/schedules/' + encoded parts. */
export function route(...parts) {
  return '#/' + parts.map((p, i) => (i === 0 ? p : encodeURIComponent(String(p)))).join('/');
}

/** A route with a query string of the non-empty values. */
export function routeQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v != null && v !== '') q.set(k, v);
  }
  const qs = q.toString();
  return '#/' + path + (qs ? '?' + qs : '');
}

// ---- time and numbers ----

const absFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit',
});

const fmtCache = new Map();
function zoneFormat(zone) {
  let f = fmtCache.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(undefined, {
        timeZone: zone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
        hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
      });
    } catch {
      f = absFmt;
    }
    fmtCache.set(zone, f);
  }
  return f;
}

export const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function absTime(ms, zone) {
  if (ms == null || !Number.isFinite(Number(ms))) return '—';
  const d = new Date(Number(ms));
  return zone ? zoneFormat(zone).format(d) : absFmt.format(d);
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

export function relTime(ms, now = Date.now()) {
  if (ms == null) return '—';
  const diff = Number(ms) - now;
  const abs = Math.abs(diff);
  const units = [
    ['day', 86400000], ['hour', 3600000], ['minute', 60000], ['second', 1000],
  ];
  for (const [unit, size] of units) {
    if (abs >= size || unit === 'second') {
      const v = Math.round(diff / size);
      if (unit === 'second' && Math.abs(v) < 1) return 'now';
      return rtf.format(v, unit);
    }
  }
  return '';
}

/** <time> with the relative time, the absolute one as its title. */
export function timeEl(ms, { zone, both = false } = {}) {
  if (ms == null) return h('span.muted', '—');
  const iso = new Date(Number(ms)).toISOString();
  const abs = absTime(ms, zone);
  const t = h('time', { datetime: iso, title: abs, 'data-ms': String(ms) }, relTime(ms));
  if (!both) return t;
  return h('span.when', t, h('span.abs', abs));
}

export function duration(ms) {
  if (ms == null) return '—';
  const n = Number(ms);
  const a = Math.abs(n);
  if (a < 1000) return `${Math.round(n)} ms`;
  if (a < 60000) return `${(n / 1000).toFixed(a < 10000 ? 2 : 1)} s`;
  if (a < 3600000) return `${(n / 60000).toFixed(1)} min`;
  return `${(n / 3600000).toFixed(1)} h`;
}

export function bytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function num(n) {
  return n == null ? '—' : new Intl.NumberFormat().format(n);
}

/** Base64 (standard) to text; invalid UTF-8 is shown with replacement characters. */
export function b64text(b64) {
  if (b64 == null || b64 === '') return '';
  try {
    const bin = atob(b64);
    const bytesArr = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: false }).decode(bytesArr);
  } catch {
    return String(b64);
  }
}

/** Pretty-prints JSON text; other text is returned unchanged. */
export function pretty(text) {
  if (typeof text !== 'string') return text == null ? '' : JSON.stringify(text, null, 2);
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return text;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return text;
  }
}

/** Calls fn at most once per `wait` ms after the last call. */
export function debounce(fn, wait) {
  let timer = null;
  const d = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}

/** Keeps every <time data-ms> under root showing its relative time. */
export function tickTimes(root) {
  for (const t of root.querySelectorAll('time[data-ms]')) {
    t.textContent = relTime(Number(t.dataset.ms));
  }
}
