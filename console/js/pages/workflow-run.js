// One workflow run: its state and a timeline of its steps (run, sleep,
// call, waits, webhooks with the call each one got, invoked child runs,
// parallel groups, the failure function) with each step's output; the step
// in flight or the one that failed the run with each failed attempt (the
// `next` group of client.logs), and the failure function's call
// (`failureFunction`); cancel while it runs.

import { h, fill, route, routeQuery, timeEl, pretty, duration, b64text } from '../dom.js';
import { get } from '../api.js';
import { pageHead, section, dl, pre, headerTable, badge, button, busy, confirmDialog, emptyState, errorBox } from '../ui.js';
import { cancelRun } from './workflows.js';

const KNOWN = new Set(['stepId', 'stepName', 'stepType', 'out', 'concurrent', 'messageId', 'callType', 'state', 'createdAt', 'headers', 'retries', 'retryDelay', 'targetStep']);

const TYPE_TEXT = {
  Initial: 'Trigger', Run: 'Run', SleepFor: 'Sleep', SleepUntil: 'Sleep until', Call: 'HTTP call',
  Wait: 'Wait for event', Notify: 'Notify', Invoke: 'Invoke',
  CreateWebhook: 'Create webhook', WaitForWebhook: 'Wait for webhook',
};

/** A step's out as data: JSON, JSON inside a JSON string, or base64 of JSON. */
export function decodeOut(out) {
  if (out == null || out === '') return null;
  if (typeof out === 'object') return out;
  const parse = (t) => {
    try {
      return JSON.parse(t);
    } catch {
      return undefined;
    }
  };
  let v = parse(String(out));
  if (typeof v === 'string') v = parse(v) ?? v;
  if (v !== undefined && typeof v === 'object') return v;
  if (/^[A-Za-z0-9+/=\s]+$/.test(String(out))) {
    const fromB64 = parse(b64text(String(out)));
    if (fromB64 && typeof fromB64 === 'object') return fromB64;
  }
  return null;
}

const kindOf = (st) => String(st.stepType || '').toLowerCase();

/** What a webhook step shows: the URL it made, or the request it got. */
function webhookPart(st) {
  const kind = kindOf(st);
  const out = decodeOut(st.out);
  if (kind === 'createwebhook') {
    if (!out) return null;
    return h('div.webhook', dl([
      ['Webhook URL', out.webhookUrl ? h('span.mono.wrap.webhook-url', String(out.webhookUrl)) : undefined],
      ['Event id', out.eventId ? h('span.mono', String(out.eventId)) : undefined],
    ]));
  }
  if (st.waitTimeout) return h('p.small.webhook', 'No call came before the timeout.');
  if (!out) return null;
  const bodyText = out.body != null ? b64text(String(out.body)) : '';
  return h('div.webhook.webhook-call',
    h('div.small.muted', 'The call it got'),
    dl([
      ['Request', h('span.mono.wrap', `${out.method || ''} ${out.url || ''}`.trim())],
      ['Host', out.host ? h('span.mono.wrap', String(out.host)) : undefined],
      ['Protocol', out.proto ? String(out.proto) : undefined],
    ]),
    h('h4', 'Headers'), headerTable(out.header),
    h('h4', 'Body'), bodyText ? pre(pretty(bodyText), 'webhook-body') : emptyState('Empty.'));
}

/** What an Invoke step shows: the child run (linked when its id is known) and how it ended. */
function invokePart(st) {
  const out = decodeOut(st.out);
  const child = [st.invokedWorkflowRunId, st.childWorkflowRunId, out?.workflowRunId, out?.invokedWorkflowRunId, out?.childWorkflowRunId]
    .find((v) => typeof v === 'string' && v !== '');
  const ended = out ? (out.isFailed ? 'failed' : out.isCanceled ? 'canceled' : 'succeeded') : null;
  return h('div.invoke', dl([
    ['Child run', child ? h('a.mono.child-run', { href: route('workflows', child) }, child) : (st.invokedWorkflowUrl || st.callUrl ? h('span.mono.wrap', String(st.invokedWorkflowUrl || st.callUrl)) : h('span.muted', 'id not recorded'))],
    ['Child ended', ended ? badge(ended === 'succeeded' ? 'RUN_SUCCESS' : ended === 'failed' ? 'RUN_FAILED' : 'RUN_CANCELED', ended) : 'still running'],
    ['Child result', out && out.body !== undefined ? pre(pretty(typeof out.body === 'string' ? out.body : JSON.stringify(out.body)), 'invoke-result') : undefined],
  ]));
}

/** The failed attempts of a step (client.logs `StepError[]`), newest last. */
function errorList(errors) {
  if (!(errors || []).length) return null;
  return h('ol.step-errors', errors.map((e) => h('li.step-error',
    h('div.small', e.status ? `HTTP ${e.status}` : 'no response', ' · ', timeEl(e.time),
      e.error && e.error !== `HTTP ${e.status}` ? [' · ', h('span.mono.wrap', e.error)] : null),
    e.body ? pre(pretty(e.body), 'error-body') : null)));
}

const NEXT_TEXT = { STEP_PROGRESS: 'in progress', STEP_RETRY: 'retrying', STEP_FAILED: 'failed', STEP_CANCELED: 'canceled' };

/** A step of the `next` group: being delivered (maybe retrying) or failed. */
function nextCard(st) {
  return h('li', { class: 'step step-next', 'data-state': st.state ?? '' },
    h('div.step-head',
      h('span.step-type', st.state === 'STEP_FAILED' ? 'Failed step' : 'Next step'),
      h('strong.step-name', st.stepName ?? ''),
      ' ', badge(st.state, NEXT_TEXT[st.state] || st.state)),
    h('p.small', `retries ${st.retries ?? '—'}`, st.retryDelay ? ['; delay ', h('span.mono', st.retryDelay)] : null,
      `; ${(st.errors || []).length} failed attempt(s)`),
    errorList(st.errors),
    st.messageId ? h('p.small', 'Message ', h('a.mono', { href: route('messages', st.messageId) }, st.messageId)) : null);
}

/** The run's failure-function call (client.logs `failureFunction`). */
function failurePart(run) {
  const f = run.failureFunction;
  return section('Failure',
    dl([
      ['Failed step response', f ? (f.failStatus ? `HTTP ${f.failStatus}` : 'no response') : undefined],
      ['DLQ id', run.dlqId ? h('span.mono', run.dlqId) : 'not in the DLQ'],
      ['Failure function', f ? h('span.mono.wrap', f.url) : 'none'],
      ['Failure function state', f ? badge(f.state) : undefined],
      ['Failure function answer', f && f.responseStatus ? `HTTP ${f.responseStatus}` : undefined],
    ]),
    f && f.failResponse ? [h('h3', 'Failed step body'), pre(pretty(f.failResponse), 'fail-response')] : null,
    f && Object.keys(f.failHeaders || {}).length ? [h('h3', 'Failed step headers'), headerTable(f.failHeaders)] : null,
    f && f.responseBody ? [h('h3', 'Failure function body'), pre(pretty(f.responseBody), 'failure-response')] : null,
    f && (f.errors || []).length ? [h('h3', 'Failure function errors'), errorList(f.errors)] : null,
    h('p', h('a', { href: routeQuery('workflows', { tab: 'dlq' }) }, 'Resume, restart or retry the failure function in the workflow DLQ')));
}

function stepCard(st) {
  const kind = kindOf(st);
  const special = kind === 'createwebhook' || kind === 'waitforwebhook' ? webhookPart(st) : kind === 'invoke' ? invokePart(st) : null;
  const extra = Object.entries(st).filter(([k]) => !KNOWN.has(k));
  const what = [];
  if (st.sleepFor != null) what.push(`sleeps ${duration(Number(st.sleepFor) * 1000)}`);
  if (st.sleepUntil != null) what.push(['until ', timeEl(Number(st.sleepUntil) * 1000, { both: true })]);
  if (st.callUrl) what.push(['calls ', h('span.mono.wrap', `${st.callMethod || 'GET'} ${st.callUrl}`)]);
  if (st.waitEventId) what.push(['waits for event ', h('span.mono', st.waitEventId)]);
  return h('li', { class: `step step-${String(st.stepType || 'other').toLowerCase()}`, 'data-step-name': st.stepName ?? '' },
    h('div.step-head',
      h('span.step-type', TYPE_TEXT[st.stepType] || st.stepType || 'Step'),
      h('strong.step-name', st.stepName ?? ''),
      st.stepId != null ? h('span.muted.small', ` #${st.stepId}`) : null,
      ' ', badge(st.state || 'STEP_SUCCESS', st.state === 'STEP_SUCCESS' ? 'done' : st.state),
      h('span.step-time', timeEl(st.createdAt, { both: true }))),
    what.length ? h('p.small', what.map((w, i) => [i ? '; ' : '', w])) : null,
    special,
    !special && st.out != null && st.out !== '' ? [h('div.small.muted', st.stepType === 'Initial' ? 'Payload' : 'Output'), pre(pretty(String(st.out)), 'step-out')] : null,
    extra.length ? h('details', h('summary', 'Other fields'), dl(extra.map(([k, v]) => [k, h('span.mono.wrap', typeof v === 'string' ? v : JSON.stringify(v))]))) : null,
    st.messageId ? h('p.small', 'Message ', h('a.mono', { href: route('messages', st.messageId) }, st.messageId)) : null);
}

export default async function workflowRun(view, ctx) {
  const id = ctx.params.id;
  const head = pageHead('Workflow run');
  head.querySelector('h1').append(' ', h('span.mono', id));
  const body = h('div.stack');
  view.append(head, body);

  const load = async () => {
    const r = await get('/v2/workflows/events', { workflowRunId: id, count: 1 }, { signal: ctx.signal });
    const run = r.runs[0];
    if (!run) {
      fill(body, errorBox(`No workflow run ${id}.`), h('p', h('a', { href: '#/workflows' }, 'Back to the runs')));
      return true;
    }
    fill(head.querySelector('.page-actions'),
      h('a', { href: routeQuery('logs', { url: run.workflowUrl }), class: 'btn' }, 'Its log entries'),
      run.workflowState === 'RUN_STARTED' ? button('Cancel run', async (ev) => {
        const btn = ev.currentTarget;
        if (!(await confirmDialog('Cancel run', `Cancel workflow run ${id}? Its remaining steps are not run.`, { confirm: 'Cancel run' }))) return;
        await busy(btn, async () => { await cancelRun(id); await load(); }, 'cancel');
      }, { kind: 'danger', small: false }) : null);
    const headers = run.steps?.[0]?.steps?.[0]?.headers;
    fill(body,
      h('p.subtitle', badge(run.workflowState), ' ', h('span.mono.wrap', run.workflowUrl)),
      h('div.grid-2',
        section('Run', dl([
          ['State', badge(run.workflowState)],
          ['Workflow URL', h('span.mono.wrap', run.workflowUrl)],
          ['Started', timeEl(run.workflowRunCreatedAt, { both: true })],
          ['Ended', run.workflowRunCompletedAt ? timeEl(run.workflowRunCompletedAt, { both: true }) : 'still running'],
          ['Took', run.workflowRunCompletedAt ? duration(run.workflowRunCompletedAt - run.workflowRunCreatedAt) : undefined],
          ['Labels', (run.labels || []).length ? run.labels.map((l) => h('span.tag', l)) : undefined],
        ]), run.workflowRunResponse != null ? [h('h3', 'Result'), pre(pretty(run.workflowRunResponse), 'run-response')] : null),
        section('Trigger headers', headerTable(headers))),
      run.workflowState === 'RUN_FAILED' || run.failureFunction ? failurePart(run) : null,
      section('Steps',
        (run.steps || []).length
          ? h('ol.steps', run.steps.map((g) => g.type === 'parallel'
            ? h('li.step-group', h('div.group-head', `Parallel: ${g.steps.length} steps`), h('ol.parallel', g.steps.map(stepCard)))
            : g.type === 'next' ? g.steps.map(nextCard) : stepCard(g.steps[0])))
          : emptyState('No steps yet.')));
    return run.workflowState !== 'RUN_STARTED';
  };
  let done = await load();
  ctx.every(3000, async () => {
    if (done || document.hidden) return;
    try {
      done = await load();
    } catch {
      /* try again on the next tick */
    }
  });
}
