// One workflow run: its state and a timeline of its steps (run, sleep,
// call, waits, parallel groups, the failure function) with each step's
// output; cancel while it runs.

import { h, fill, route, routeQuery, timeEl, pretty, duration } from '../dom.js';
import { get } from '../api.js';
import { pageHead, section, dl, pre, headerTable, badge, button, busy, confirmDialog, emptyState, errorBox } from '../ui.js';
import { cancelRun } from './workflows.js';

const KNOWN = new Set(['stepId', 'stepName', 'stepType', 'out', 'concurrent', 'messageId', 'callType', 'state', 'createdAt', 'headers', 'retries', 'targetStep']);

const TYPE_TEXT = {
  Initial: 'Trigger', Run: 'Run', SleepFor: 'Sleep', SleepUntil: 'Sleep until', Call: 'HTTP call',
  Wait: 'Wait for event', Notify: 'Notify', Invoke: 'Invoke',
};

function stepCard(st) {
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
    st.out != null && st.out !== '' ? [h('div.small.muted', st.stepType === 'Initial' ? 'Payload' : 'Output'), pre(pretty(String(st.out)), 'step-out')] : null,
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
    let failed = null;
    if (run.workflowState === 'RUN_FAILED') {
      failed = (await get('/v2/dlq', { source: 'workflow', workflowRunId: id, count: 1 }, { signal: ctx.signal }).catch(() => ({ messages: [] }))).messages[0];
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
      failed ? section('Failure',
        dl([
          ['Failed step response', failed.responseStatus ? `HTTP ${failed.responseStatus}` : 'no response'],
          ['Failure function', failed.failureCallback ? h('span.mono.wrap', failed.failureCallback) : 'none'],
          ['Failure function state', failed.failureCallbackInfo ? badge(failed.failureCallbackInfo.state) : undefined],
        ]),
        failed.responseBody ? pre(pretty(failed.responseBody)) : null,
        h('p', h('a', { href: routeQuery('workflows', { tab: 'dlq' }) }, 'Resume, restart or retry the failure function in the workflow DLQ'))) : null,
      section('Steps',
        (run.steps || []).length
          ? h('ol.steps', run.steps.map((g) => g.type === 'parallel'
            ? h('li.step-group', h('div.group-head', `Parallel: ${g.steps.length} steps`), h('ol.parallel', g.steps.map(stepCard)))
            : stepCard(g.steps[0])))
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
