// Small SVG charts, drawn here (no library): stacked bars over time, with a
// title per bar for the exact numbers and a text summary for screen readers.

import { h, s } from './dom.js';

/**
 * A box whose chart is drawn at its own width in CSS pixels (so text keeps
 * its size on a phone), and drawn again when that width changes.
 */
function sized(draw) {
  const box = h('div.chart-area');
  let drawn = 0;
  const redraw = () => {
    const w = Math.round(box.clientWidth);
    if (!w || w === drawn) return;
    drawn = w;
    box.replaceChildren(draw(w));
  };
  new ResizeObserver(redraw).observe(box);
  box.replaceChildren(draw(600));
  return box;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Stacked bars. bars: [{label, title, values: {key: n}}]; series:
 * [{key, label, cls}]. fmtY formats the axis numbers.
 */
export function stackedBars(opts) {
  const legend = h('ul.legend', opts.series.map((se) => h('li', h('span', { class: `swatch ${se.cls}` }), se.label)));
  return h('figure.chart-box', sized((w) => stackedSvg(opts, w)), legend);
}

function stackedSvg({ bars, series, height = 180, label, fmtY = (v) => String(v), tickEvery }, W) {
  const H = height;
  const left = 44;
  const bottom = 22;
  const top = 8;
  const plotW = W - left - 8;
  const plotH = H - top - bottom;
  const totals = bars.map((b) => series.reduce((a, se) => a + (Number(b.values[se.key]) || 0), 0));
  const max = niceMax(Math.max(4, ...totals));
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart', role: 'img', 'aria-label': label || 'Chart',
  });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = top + plotH - (plotH * i) / 4;
    svg.append(
      s('line', { x1: left, x2: W - 8, y1: y, y2: y, class: 'grid' }),
      s('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, fmtY(v)),
    );
  }
  const n = Math.max(bars.length, 1);
  const slot = plotW / n;
  const bw = Math.max(1, Math.min(28, slot * 0.7));
  const fit = Math.max(1, Math.floor(plotW / 64));
  const every = Math.max(tickEvery || 1, Math.ceil(n / fit));
  bars.forEach((b, i) => {
    const x = left + i * slot + (slot - bw) / 2;
    let y = top + plotH;
    const g = s('g', { class: 'bar' });
    for (const se of series) {
      const v = Number(b.values[se.key]) || 0;
      if (!v) continue;
      const bh = (plotH * v) / max;
      y -= bh;
      g.append(s('rect', { x, y, width: bw, height: Math.max(bh, 1), class: se.cls }));
    }
    // A full-height transparent target for the tooltip.
    g.append(s('rect', { x: left + i * slot, y: top, width: slot, height: plotH, class: 'hit' },
      s('title', null, b.title || `${b.label}: ${series.map((se) => `${se.label} ${b.values[se.key] || 0}`).join(', ')}`)));
    svg.append(g);
    if (i % every === 0 && b.label) {
      svg.append(s('text', { x: left + i * slot + slot / 2, y: H - 6, class: 'axis', 'text-anchor': 'middle' }, b.label));
    }
  });
  return svg;
}

/**
 * One mark per fire: a bar as tall as its lateness, coloured by outcome.
 * points: [{label, lateness (ms, may be null), kind (ok|bad|warn|info|missed), title}].
 */
export function latenessChart(points, { height = 160 } = {}) {
  const legend = h('ul.legend',
    [['c-ok', 'delivered'], ['c-bad', 'failed'], ['c-info', 'in progress'], ['c-missed', 'missed']]
      .map(([cls, label]) => h('li', h('span', { class: `swatch ${cls}` }), label)));
  return h('figure.chart-box', sized((w) => latenessSvg(points, height, w)),
    h('figcaption.muted', 'Lateness per fire (oldest left): first attempt start minus the planned time'), legend);
}

function latenessSvg(points, height, W) {
  const H = height;
  const left = 58;
  const bottom = 22;
  const top = 8;
  const plotW = W - left - 8;
  const plotH = H - top - bottom;
  const values = points.map((p) => Math.max(0, Number(p.lateness) || 0));
  const max = niceMax(Math.max(10, ...values));
  const fmt = (v) => {
    if (v >= 1000) return `${+(v / 1000).toFixed(v >= 10000 ? 0 : 2)} s`;
    return `${+v.toFixed(v < 10 ? 1 : 0)} ms`;
  };
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart', role: 'img',
    'aria-label': `Lateness of the last ${points.length} fires`,
  });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = top + plotH - (plotH * i) / 4;
    svg.append(
      s('line', { x1: left, x2: W - 8, y1: y, y2: y, class: 'grid' }),
      s('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, fmt(v)),
    );
  }
  const n = Math.max(points.length, 1);
  const slot = plotW / Math.max(n, 20);
  const bw = Math.max(2, Math.min(24, slot * 0.7));
  points.forEach((p, i) => {
    const x = left + i * slot + (slot - bw) / 2;
    const g = s('g', { class: 'bar' });
    if (p.kind === 'missed') {
      g.append(s('rect', { x, y: top + plotH - 6, width: bw, height: 6, class: 'c-missed' }));
    } else {
      const v = Math.max(0, Number(p.lateness) || 0);
      const bh = Math.max(2, (plotH * v) / max);
      g.append(s('rect', { x, y: top + plotH - bh, width: bw, height: bh, class: `c-${p.kind}` }));
    }
    g.append(s('rect', { x: left + i * slot, y: top, width: slot, height: plotH, class: 'hit' },
      s('title', null, p.title)));
    svg.append(g);
  });
  return svg;
}
