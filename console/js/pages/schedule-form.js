// Create or edit a schedule: the destination (a URL, a URL group, or a URL
// through a queue), typed fields, flow control, a cron builder and a time-zone
// picker, a live preview from the API (meaning, errors, next fire times,
// DST notes), and the request as curl / Python / JS. Saving is the same
// POST /v2/schedules/{destination} an SDK makes; editing overwrites by id.

import { h, fill, route, absTime, browserZone, relTime, debounce } from '../dom.js';
import { api, get, ApiError } from '../api.js';
import {
  pageHead, section, field, input, select, pairsEditor, copyButton, pre, toast, errorBox,
} from '../ui.js';
import { pause } from './schedules.js';

const METHODS = ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'];
const DEST_KINDS = [['url', 'URL'], ['group', 'URL group'], ['queue', 'URL through a queue']];
const DAYS = [['1', 'Mon'], ['2', 'Tue'], ['3', 'Wed'], ['4', 'Thu'], ['5', 'Fri'], ['6', 'Sat'], ['0', 'Sun']];
const PRESETS = [
  ['minutes', 'Every N minutes'],
  ['hourly', 'Hourly'],
  ['daily', 'Daily at'],
  ['weekly', 'Weekly on'],
  ['monthly', 'Monthly on'],
  ['seconds', 'Every N seconds'],
  ['custom', 'Custom expression'],
];

export function timeZones() {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf('timeZone');
  } catch {
    zones = [];
  }
  const all = new Set(['UTC', ...zones]);
  if (browserZone) all.add(browserZone);
  return [...all];
}

/** {zone, fields} of a stored cron with an optional CRON_TZ= prefix. */
export function splitCron(cron) {
  const m = /^\s*(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(cron || '');
  return m ? { zone: m[1], fields: m[2].trim() } : { zone: 'UTC', fields: String(cron || '').trim() };
}

/** "Wed, Dec 2, 09:30 GMT+1": short enough for two zones side by side. */
function shortTime(ms, zone, withSeconds) {
  try {
    return new Intl.DateTimeFormat(undefined, {
      timeZone: zone, weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
      second: withSeconds ? '2-digit' : undefined, timeZoneName: 'short',
    }).format(new Date(ms));
  } catch {
    return absTime(ms, zone);
  }
}

const shq = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;
const lit = (v) => JSON.stringify(String(v));

/** Unix ms → the value of a datetime-local input, in the browser's zone. */
function localInput(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function curlOf(req) {
  const plain = /^[^"$`\\!]*$/.test(req.path);
  const lines = [plain ? `curl -X POST "$QSTASH_URL${req.path}"` : `curl -X POST "$QSTASH_URL"${shq(req.path)}`, `  -H "Authorization: Bearer $QSTASH_TOKEN"`];
  for (const [k, v] of req.headers) lines.push(`  -H ${shq(`${k}: ${v}`)}`);
  if (req.body) lines.push(`  --data-raw ${shq(req.body)}`);
  return lines.join(' \\\n');
}

function pythonOf(req) {
  const hs = req.headers.map(([k, v]) => `        ${lit(k)}: ${lit(v)},`).join('\n');
  return [
    'import os',
    'import requests',
    '',
    'response = requests.post(',
    `    os.environ["QSTASH_URL"] + ${lit(req.path)},`,
    '    headers={',
    '        "Authorization": "Bearer " + os.environ["QSTASH_TOKEN"],',
    hs,
    '    },',
    `    data=${lit(req.body)}.encode(),`,
    ')',
    'print(response.status_code, response.json())',
  ].join('\n');
}

function jsOf(req) {
  const hs = req.headers.map(([k, v]) => `    ${lit(k)}: ${lit(v)},`).join('\n');
  return [
    `const response = await fetch(process.env.QSTASH_URL + ${lit(req.path)}, {`,
    '  method: "POST",',
    '  headers: {',
    '    Authorization: `Bearer ${process.env.QSTASH_TOKEN}`,',
    hs,
    '  },',
    req.body ? `  body: ${lit(req.body)},` : null,
    '});',
    'console.log(response.status, await response.json());',
  ].filter((l) => l !== null).join('\n');
}

export default async function scheduleForm(view, ctx) {
  const editing = ctx.params.id != null;
  let existing = null;
  if (editing) {
    try {
      existing = await get(`/cronhook/v1/schedules/${encodeURIComponent(ctx.params.id)}`, null, { signal: ctx.signal });
    } catch (e) {
      view.append(pageHead('Edit schedule'), errorBox(e), h('p', h('a', { href: '#/schedules' }, 'Back to the schedules')));
      return;
    }
  }

  // ---- fields ----
  const destKind = select(DEST_KINDS, 'url', { name: 'destinationKind' });
  const destination = input({ type: 'url', required: true, placeholder: 'https://example.com/api/job', name: 'destination' });
  const queueName = input({ name: 'queueName', list: 'queue-names', placeholder: 'e.g. emails' });
  const groupNames = h('datalist', { id: 'group-names' });
  const queueNames = h('datalist', { id: 'queue-names' });
  const fcKey = input({ name: 'flowControlKey', placeholder: 'e.g. tenant-42' });
  const fcParallelism = input({ type: 'number', min: '1', name: 'flowControlParallelism', inputmode: 'numeric' });
  const fcRate = input({ type: 'number', min: '1', name: 'flowControlRate', inputmode: 'numeric' });
  const fcPeriod = input({ name: 'flowControlPeriod', placeholder: 'e.g. 1s, 1m (default 1s)' });
  const method = select(METHODS, 'POST', { name: 'method' });
  const contentType = input({ name: 'contentType', list: 'content-types', placeholder: 'application/json' });
  const contentTypes = h('datalist', { id: 'content-types' },
    ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/xml'].map((v) => h('option', { value: v })));
  const body = h('textarea', { name: 'body', rows: '6', spellcheck: 'false', class: 'mono' });
  const headers = pairsEditor({ addLabel: 'Add forwarded header' });
  const scheduleId = input({ name: 'scheduleId', placeholder: 'chosen for you when empty', pattern: '[A-Za-z0-9._@+\\-]{1,200}' });
  const idNote = h('p', { class: 'hint', 'aria-live': 'polite' });

  const seconds = h('input', { type: 'checkbox', name: 'seconds' });
  const preset = select(PRESETS, 'daily', { name: 'preset' });
  const everyN = input({ type: 'number', min: '1', max: '59', value: '5', name: 'everyN', inputmode: 'numeric' });
  const minuteOf = input({ type: 'number', min: '0', max: '59', value: '0', name: 'minute', inputmode: 'numeric' });
  const at = h('input', { type: 'time', value: '09:00', name: 'at', required: true });
  const dayOfMonth = input({ type: 'number', min: '1', max: '31', value: '1', name: 'dayOfMonth', inputmode: 'numeric' });
  const dayBoxes = DAYS.map(([v, label]) => {
    const cb = h('input', { type: 'checkbox', value: v, checked: v === '1' });
    return { cb, el: h('label.day', cb, label) };
  });
  const expr = input({ name: 'cron', class: 'mono', required: true, 'aria-describedby': 'cron-help' });
  const zones = timeZones();
  const zone = select(zones, zones.includes(browserZone) ? browserZone : 'UTC', { name: 'timezone' });

  const retries = input({ type: 'number', min: '0', max: '100', name: 'retries', placeholder: '3', inputmode: 'numeric' });
  const retryDelay = input({ name: 'retryDelay', placeholder: 'e.g. 1000 * pow(2, retried)', class: 'mono' });
  const delay = input({ name: 'delay', placeholder: 'e.g. 30s, 5m, 1h30m' });
  const timeout = input({ name: 'timeout', placeholder: 'e.g. 30s, 2m' });
  const callback = input({ type: 'url', name: 'callback', placeholder: 'https://…' });
  const failureCallback = input({ type: 'url', name: 'failureCallback', placeholder: 'https://…' });
  const label = input({ name: 'label', placeholder: 'e.g. billing' });
  const misfire = select([
    ['once', 'once: fire one missed slot on start'],
    ['skip', 'skip: drop slots missed while down'],
    ['all', 'all: fire every missed slot'],
  ], 'once', { name: 'misfire' });
  // Bounds (Cronhook-Start-At / -End-At), in the browser's time zone.
  const startAt = input({ type: 'datetime-local', name: 'startAt' });
  const endAt = input({ type: 'datetime-local', name: 'endAt' });

  // ---- builder layout ----
  const everyNField = field('Every', everyN, { hint: 'minutes' });
  const minuteField = field('At minute', minuteOf);
  const atField = field('At', at);
  const domField = field('Day of month', dayOfMonth);
  const daysField = h('fieldset.field.days', h('legend', 'On'), dayBoxes.map((d) => d.el));
  const builder = h('div.builder', field('Repeat', preset), everyNField, minuteField, daysField, domField, atField);

  const showBuilder = () => {
    const p = preset.value;
    everyNField.hidden = !(p === 'minutes' || p === 'seconds');
    everyNField.querySelector('.hint').textContent = p === 'seconds' ? 'seconds' : 'minutes';
    minuteField.hidden = p !== 'hourly';
    atField.hidden = !(p === 'daily' || p === 'weekly' || p === 'monthly');
    daysField.hidden = p !== 'weekly';
    domField.hidden = p !== 'monthly';
  };

  const buildExpr = () => {
    const p = preset.value;
    if (p === 'custom') return;
    if (p === 'seconds') seconds.checked = true;
    const [hh, mm] = (at.value || '00:00').split(':').map((x) => String(Number(x)));
    const n = Math.max(1, Math.min(59, Number(everyN.value) || 1));
    let e;
    switch (p) {
      case 'minutes': e = n === 1 ? '* * * * *' : `*/${n} * * * *`; break;
      case 'hourly': e = `${Math.max(0, Math.min(59, Number(minuteOf.value) || 0))} * * * *`; break;
      case 'daily': e = `${mm} ${hh} * * *`; break;
      case 'weekly': {
        const days = dayBoxes.filter((d) => d.cb.checked).map((d) => d.cb.value);
        e = `${mm} ${hh} * * ${days.length ? days.join(',') : '*'}`;
        break;
      }
      case 'monthly': e = `${mm} ${hh} ${Math.max(1, Math.min(31, Number(dayOfMonth.value) || 1))} * *`; break;
      case 'seconds': e = `${n === 1 ? '*' : `*/${n}`} * * * * *`; break;
      default: return;
    }
    expr.value = seconds.checked && p !== 'seconds' ? `0 ${e}` : e;
  };

  // ---- preview and code ----
  const meaning = h('p', { class: 'meaning', id: 'cron-meaning', 'aria-live': 'polite' });
  const cronError = h('p', { class: 'form-error', id: 'cron-error', role: 'alert' });
  const dst = h('ul.dst');
  const nextBody = h('tbody');
  const zoneHead = h('th', { scope: 'col' }, 'Schedule\'s zone');
  const nextTable = h('table.table.table-compact.next-times',
    h('thead', h('tr', h('th', { scope: 'col' }, '#'), zoneHead,
      h('th', { scope: 'col' }, `Your browser (${browserZone})`))),
    nextBody);
  const preview = section('What it means', meaning, cronError, dst, h('div.table-wrap', nextTable));

  const codeTabs = [['curl', curlOf], ['Python', pythonOf], ['JavaScript', jsOf]];
  let codeKind = 'curl';
  const codePre = pre('', 'code-view');
  const codeButtons = h('div', { class: 'seg', role: 'group', 'aria-label': 'Language' });
  const code = section('The request it makes',
    h('p.muted', 'Saving sends this request (with your session instead of the token). Copy it to make the same schedule from a script.'),
    h('div.code-head', codeButtons, copyButton(() => codePre.textContent, 'Copy')),
    codePre);

  const formError = h('div', { role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save changes' : 'Create schedule');
  const destinationField = field('Destination URL', destination, { wide: true, hint: 'Where each firing is delivered.' });
  const queueField = field('Queue', queueName, { hint: 'Each firing is enqueued here (Upstash-Queue-Name): delivered in order, as many at a time as the queue allows.' });
  const destinationSection =
    section('Destination',
      h('div.form-grid',
        field('Destination kind', destKind, { hint: 'A URL; a URL group (every endpoint gets a copy); or a URL through a queue.' }),
        queueField,
        destinationField,
        groupNames, queueNames,
        field('Method', method),
        field('Content type', contentType),
        field('Body', body, { wide: true, hint: 'Sent as is with every firing.' }),
        h('div.field.field-wide', h('span.label', 'Forwarded headers'),
          h('p.hint', 'Sent to the destination with every firing (as Upstash-Forward-<Name>).'), headers.el),
        contentTypes));
  const whenSection =
    section('When',
      h('div.form-grid',
        field('Schedule id', scheduleId, { hint: editing ? 'The id of the schedule being edited.' : 'Letters, digits and . _ - @ +; an existing id is overwritten.' }),
        field('Time zone', zone, { hint: 'The clock the expression is read in.' }),
        h('div.field.field-wide', idNote)),
      builder,
      h('div.form-grid',
        field('Cron expression', expr, { wide: true }),
        h('div.field.field-wide', h('label.check', seconds, ' Seconds field: 6 fields, seconds first (cronhook extension)')),
        h('p', { class: 'hint field-wide', id: 'cron-help' }, 'minute hour day-of-month month day-of-week, e.g. 30 9 * * 1-5. Editing it by hand switches the builder to Custom.')));
  const deliverySection =
    section('Delivery',
      h('div.form-grid',
        field('Retries', retries, { hint: 'After the first attempt; default 3.' }),
        field('Retry delay', retryDelay, { hint: 'An expression in ms, with retried, e.g. 1000 * pow(2, retried).' }),
        field('Delay', delay, { hint: 'Wait after each firing before delivering.' }),
        field('Timeout', timeout, { hint: 'Per attempt.' }),
        field('Callback', callback, { hint: 'Called after every attempt.' }),
        field('Failure callback', failureCallback, { hint: 'Called when retries run out.' }),
        field('Label', label, { hint: 'For filtering logs and the DLQ; letters, digits, . _ -' }),
        field('Misfire policy', misfire, { hint: 'What to do with slots missed while cronhook was down.' }),
        field('Starts', startAt, { hint: `Optional, ${browserZone}: no firing before it.` }),
        field('Ends', endAt, { hint: `Optional, ${browserZone}: after it the schedule has ended and never fires again.` })),
      h('h3.subhead', 'Flow control'),
      h('p.hint', 'Messages with the same key share its limits, across schedules and publishers (Upstash-Flow-Control-Key / -Value).'),
      h('div.form-grid',
        field('Flow-control key', fcKey),
        field('Parallelism', fcParallelism, { hint: 'At most this many in flight for the key.' }),
        field('Rate', fcRate, { hint: 'At most this many started per period.' }),
        field('Period', fcPeriod, { hint: 'The rate’s period.' })));
  // Wide screens: the fields on the left, what they mean beside them.
  const form = h('form.schedule-form', { novalidate: true },
    h('div.fm-a', destinationSection, whenSection),
    h('aside.fm-side', { 'aria-label': 'Preview' }, h('div.fm-sticky', preview, code)),
    h('div.fm-b', deliverySection, formError,
      h('div.form-actions', submit, h('a', { href: editing ? route('schedules', ctx.params.id) : '#/schedules', class: 'btn' }, 'Cancel'))));

  view.append(pageHead(editing ? `Edit ${ctx.params.id}` : 'New schedule'), form);

  const showDestination = () => {
    const kind = destKind.value;
    queueField.hidden = kind !== 'queue';
    const label = destinationField.querySelector('label');
    const hint = destinationField.querySelector('.hint');
    if (kind === 'group') {
      label.textContent = 'URL group';
      hint.textContent = 'The group’s name: every endpoint of the group gets each firing.';
      destination.type = 'text';
      destination.placeholder = 'e.g. order-events';
      destination.setAttribute('list', 'group-names');
    } else {
      label.textContent = 'Destination URL';
      hint.textContent = kind === 'queue' ? 'Where the queue delivers each firing.' : 'Where each firing is delivered.';
      destination.type = 'url';
      destination.placeholder = 'https://example.com/api/job';
      destination.removeAttribute('list');
    }
  };

  // Names to pick from, where the server has them (a 404 leaves the lists empty).
  get('/v2/topics', null, { signal: ctx.signal }).then((gs) => {
    if (Array.isArray(gs)) fill(groupNames, gs.map((g) => h('option', { value: g.name })));
  }).catch(() => {});
  get('/v2/queues', null, { signal: ctx.signal }).then((qs) => {
    if (Array.isArray(qs)) fill(queueNames, qs.map((q) => h('option', { value: q.name })));
  }).catch(() => {});

  // ---- prefill ----
  if (existing) {
    const s = existing;
    destination.value = s.destination || '';
    if (s.queueName) {
      destKind.value = 'queue';
      queueName.value = s.queueName;
    } else if (s.destination && !/^https?:\/\//i.test(s.destination)) {
      destKind.value = 'group';
    }
    fcKey.value = s.flowControlKey || '';
    fcParallelism.value = s.parallelism ?? '';
    fcRate.value = s.rate ?? '';
    fcPeriod.value = s.flowControlKey && s.period ? `${s.period}s` : '';
    method.value = s.method || 'POST';
    const hdrs = Object.entries(s.header || {});
    const ct = hdrs.find(([k]) => k.toLowerCase() === 'content-type');
    contentType.value = ct ? ct[1][0] : '';
    headers.set(hdrs.filter(([k]) => k.toLowerCase() !== 'content-type').flatMap(([k, vs]) => vs.map((v) => [k, v])));
    body.value = s.body ?? '';
    if (s.bodyBase64) body.value = '';
    scheduleId.value = s.scheduleId;
    scheduleId.readOnly = true;
    const { zone: z, fields } = splitCron(s.cron);
    if (!zones.includes(z)) zone.appendChild(h('option', { value: z }, z));
    zone.value = z;
    seconds.checked = Boolean(s.cronSeconds);
    preset.value = 'custom';
    expr.value = fields;
    retries.value = s.retries ?? '';
    retryDelay.value = s.retryDelayExpression || '';
    delay.value = s.delay ? `${s.delay}s` : '';
    timeout.value = s.timeout ? `${s.timeout}s` : '';
    callback.value = s.callback || '';
    failureCallback.value = s.failureCallback || '';
    label.value = (s.labels || (s.label ? [s.label] : [])).join(',');
    misfire.value = s.misfire || 'once';
    startAt.value = localInput(s.startAt);
    endAt.value = localInput(s.endAt);
    if (s.bodyBase64) {
      body.disabled = true;
      body.placeholder = 'The body is binary and cannot be edited here; saving keeps it as it is.';
    }
  } else {
    buildExpr();
  }
  showBuilder();
  showDestination();

  // ---- the request ----
  const request = () => {
    const hs = [];
    hs.push(['Upstash-Cron', `CRON_TZ=${zone.value} ${expr.value.trim()}`]);
    if (seconds.checked) hs.push(['Cronhook-Cron-Seconds', 'true']);
    if (scheduleId.value.trim()) hs.push(['Upstash-Schedule-Id', scheduleId.value.trim()]);
    hs.push(['Upstash-Method', method.value]);
    if (contentType.value.trim()) hs.push(['Content-Type', contentType.value.trim()]);
    for (const [n, v] of headers.rows()) hs.push([`Upstash-Forward-${n}`, v]);
    const opt = (name, el) => {
      if (String(el.value).trim() !== '') hs.push([name, String(el.value).trim()]);
    };
    opt('Upstash-Retries', retries);
    opt('Upstash-Retry-Delay', retryDelay);
    opt('Upstash-Delay', delay);
    opt('Upstash-Timeout', timeout);
    opt('Upstash-Callback', callback);
    opt('Upstash-Failure-Callback', failureCallback);
    opt('Upstash-Label', label);
    hs.push(['Cronhook-Misfire', misfire.value]);
    for (const [name, el] of [['Cronhook-Start-At', startAt], ['Cronhook-End-At', endAt]]) {
      const ms = el.value ? new Date(el.value).getTime() : NaN;
      if (Number.isFinite(ms)) hs.push([name, new Date(ms).toISOString().replace('.000Z', 'Z')]);
    }
    if (destKind.value === 'queue' && queueName.value.trim()) hs.push(['Upstash-Queue-Name', queueName.value.trim()]);
    const fc = flowControlValue();
    if (fcKey.value.trim()) {
      hs.push(['Upstash-Flow-Control-Key', fcKey.value.trim()]);
      if (fc) hs.push(['Upstash-Flow-Control-Value', fc]);
    }
    if (existing) {
      // Settings the form does not edit, kept on overwrite.
      if (existing.redact) hs.push(['Upstash-Redact-Fields', existing.redact]);
      for (const [k, vs] of Object.entries(existing.callbackHeader || {})) for (const v of vs) hs.push([`Upstash-Callback-Forward-${k}`, v]);
      for (const [k, vs] of Object.entries(existing.failureCallbackHeader || {})) for (const v of vs) hs.push([`Upstash-Failure-Callback-Forward-${k}`, v]);
    }
    return {
      path: `/v2/schedules/${destination.value.trim()}`,
      headers: hs,
      body: body.disabled ? null : body.value,
      binary: body.disabled ? Uint8Array.from(atob(existing.bodyBase64), (c) => c.charCodeAt(0)) : null,
    };
  };

  /** "parallelism=2, rate=10, period=1m" from the fields that are set. */
  function flowControlValue() {
    const parts = [];
    if (fcParallelism.value.trim()) parts.push(`parallelism=${fcParallelism.value.trim()}`);
    if (fcRate.value.trim()) parts.push(`rate=${fcRate.value.trim()}`);
    if (fcPeriod.value.trim()) parts.push(`period=${fcPeriod.value.trim()}`);
    return parts.join(', ');
  }

  const drawCode = () => {
    fill(codeButtons, codeTabs.map(([kind]) => {
      const b = h('button', { type: 'button', class: ['btn btn-small', kind === codeKind && 'btn-on'], 'aria-pressed': String(kind === codeKind) }, kind);
      b.addEventListener('click', () => {
        codeKind = kind;
        drawCode();
      });
      return b;
    }));
    const req = request();
    codePre.textContent = codeTabs.find(([k]) => k === codeKind)[1](req);
  };

  // ---- live preview (debounced) ----
  let previewSeq = 0;
  const refreshPreview = debounce(async () => {
    const seq = ++previewSeq;
    const fields = expr.value.trim();
    if (!fields) {
      meaning.textContent = '';
      cronError.textContent = 'Enter a cron expression.';
      fill(nextBody);
      fill(dst);
      return;
    }
    try {
      const p = await get('/cronhook/v1/cron', {
        expr: `CRON_TZ=${zone.value} ${fields}`, seconds: seconds.checked ? 'true' : null, count: 10,
      }, { signal: ctx.signal });
      if (seq !== previewSeq) return;
      meaning.textContent = p.description;
      cronError.textContent = '';
      expr.removeAttribute('aria-invalid');
      zoneHead.textContent = `In ${p.timezone}`;
      const now = Date.now();
      fill(nextBody, p.next.map((t, i) => h('tr',
        h('td', String(i + 1)),
        h('td.nowrap', shortTime(t, p.timezone, seconds.checked)),
        h('td.nowrap', { title: relTime(t, now) }, shortTime(t, browserZone, seconds.checked)))));
      fill(dst, (p.dst || []).map((d) => h('li', { class: `dst-${d.kind}` }, h('strong', d.kind === 'forward' ? 'Clocks go forward: ' : 'Clocks go back: '), d.text)));
    } catch (e) {
      if (e.name === 'AbortError' || seq !== previewSeq) return;
      meaning.textContent = '';
      cronError.textContent = e.message;
      expr.setAttribute('aria-invalid', 'true');
      fill(nextBody);
      fill(dst);
    }
  }, 250);

  const checkId = debounce(async () => {
    const id = scheduleId.value.trim();
    idNote.textContent = '';
    idNote.className = 'hint';
    if (editing || !id) return;
    try {
      await get(`/cronhook/v1/schedules/${encodeURIComponent(id)}`, null, { signal: ctx.signal });
      if (scheduleId.value.trim() !== id) return;
      idNote.className = 'warning';
      idNote.textContent = `A schedule “${id}” exists: saving overwrites every one of its settings.`;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) return;
    }
  }, 300);

  form.addEventListener('input', (ev) => {
    const t = ev.target;
    if (t === expr) preset.value = 'custom';
    else if ([preset, everyN, minuteOf, at, dayOfMonth, seconds].includes(t) || dayBoxes.some((d) => d.cb === t)) buildExpr();
    if (t === preset) showBuilder();
    if (t === destKind) showDestination();
    if (t === scheduleId) checkId();
    drawCode();
    if ([expr, zone, seconds, preset, everyN, minuteOf, at, dayOfMonth].includes(t) || dayBoxes.some((d) => d.cb === t)) refreshPreview();
  });
  form.addEventListener('change', (ev) => {
    if (ev.target === destKind) {
      showDestination();
      drawCode();
    }
    if (ev.target === zone || ev.target === preset || ev.target === seconds || ev.target.type === 'checkbox') {
      if (ev.target === preset) {
        showBuilder();
        buildExpr();
      }
      drawCode();
      refreshPreview();
    }
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(formError);
    const kind = destKind.value;
    if (!destination.value.trim()) {
      fill(formError, errorBox(kind === 'group' ? 'The URL group is required.' : 'The destination URL is required.'));
      destination.focus();
      return;
    }
    if (kind === 'group' && /^https?:\/\//i.test(destination.value.trim())) {
      fill(formError, errorBox('A URL group is given by its name, not a URL; choose “URL” to send to a URL.'));
      destination.focus();
      return;
    }
    if (kind === 'queue' && !queueName.value.trim()) {
      fill(formError, errorBox('The queue name is required for a destination through a queue.'));
      queueName.focus();
      return;
    }
    if (!fcKey.value.trim() && flowControlValue()) {
      fill(formError, errorBox('Flow-control limits need a flow-control key.'));
      fcKey.focus();
      return;
    }
    if (fcKey.value.trim() && !fcParallelism.value.trim() && !fcRate.value.trim()) {
      fill(formError, errorBox('A flow-control key needs a parallelism, a rate or both.'));
      fcParallelism.focus();
      return;
    }
    if (!expr.value.trim()) {
      fill(formError, errorBox('The cron expression is required.'));
      expr.focus();
      return;
    }
    const req = request();
    submit.disabled = true;
    try {
      const r = await api('POST', req.path, { headers: req.headers, body: req.binary ?? req.body ?? undefined });
      if (existing && existing.isPaused) await pause(r.scheduleId, true);
      toast(editing ? `Saved ${r.scheduleId}` : `Created ${r.scheduleId}`);
      location.hash = route('schedules', r.scheduleId);
    } catch (e) {
      fill(formError, errorBox(e));
      formError.scrollIntoView({ block: 'center' });
    } finally {
      submit.disabled = false;
    }
  });

  drawCode();
  refreshPreview();
}
