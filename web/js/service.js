// Service overview: `/service/{name}?lookback=|start=&end=&kind=&sort=`. Rate, error rate and
// latency percentiles over time from /api/v1/red, and a table of the service's operations
// with the same figures over the whole range. Charts and rows link to matching traces.

import { api, query } from './api.js';
import { navigate, setParams } from './router.js';
import { lineChart } from './charts.js';
import { rangePicker } from './range.js';
import { sortableTable } from './table.js';
import {
  h, fmtMs, fmtRate, rateAxisFormat, fmtPct, fmtCount, colorFor, errorBox, nsToMs, timeRange, rangeParams,
} from './util.js';

const KINDS = ['server', 'client', 'producer', 'consumer', 'internal'];

/** Several series of the same steps as one: sums of calls, the busiest series' percentiles. */
export function mergeSeries(series) {
  if (series.length === 1) return series[0].points;
  const points = [];
  for (const se of series) {
    se.points.forEach((p, i) => {
      const acc = points[i] ||= { time: p.time, calls: 0, errors: 0, rate: 0, best: 0, p50Ms: null, p95Ms: null, p99Ms: null };
      acc.calls += p.calls;
      acc.errors += p.errors;
      acc.rate += p.rate;
      if (p.calls > acc.best) Object.assign(acc, { best: p.calls, p50Ms: p.p50Ms, p95Ms: p.p95Ms, p99Ms: p.p99Ms });
    });
  }
  for (const p of points) p.errorRate = p.calls ? p.errors / p.calls : 0;
  return points;
}

function total(points, seconds) {
  const calls = points.reduce((sum, p) => sum + p.calls, 0);
  const errors = points.reduce((sum, p) => sum + p.errors, 0);
  const busiest = points.reduce((best, p) => (!best || p.calls > best.calls ? p : best), null);
  return {
    calls,
    errors,
    rate: calls / seconds,
    errorRate: calls ? errors / calls : null,
    p50Ms: busiest?.p50Ms ?? null,
    p95Ms: busiest?.p95Ms ?? null,
    p99Ms: busiest?.p99Ms ?? null,
  };
}

export function render(root, { params, match, signal }) {
  const name = match[0];
  const kind = params.get('kind') || '';
  const range = timeRange(params, '1h');
  const rangeQ = Object.fromEntries(['lookback', 'start', 'end'].map((k) => [k, params.get(k)]));
  const seconds = Math.max(60, (range.endMs - range.startMs) / 1000);
  const whole = `${Math.ceil(seconds)}s`;
  const stepMinutes = Math.max(1, Math.ceil(seconds / 3600)); // about 60 points
  const step = `${stepMinutes}m`;
  const base = { service: name, kind, ...rangeParams(range) };

  const kindSelect = h('select', { 'aria-label': 'Span kind' }, h('option', { value: '', text: 'All span kinds' }), KINDS.map((k) => h('option', { value: k, text: k })));
  kindSelect.value = kind;
  kindSelect.addEventListener('change', () => navigate(`/service/${encodeURIComponent(name)}${query({ ...Object.fromEntries(params), kind: kindSelect.value })}`));
  const picker = rangePicker(params, (next) => navigate(`/service/${encodeURIComponent(name)}${query({ ...Object.fromEntries(params), ...next })}`));
  const stats = h('div', { class: 'stats' });
  const charts = h('div', { class: 'charts-grid' }, h('div', { class: 'panel notice loading', text: 'Loading' }));
  const operations = h('div', { class: 'panel' });
  root.append(h('div', { class: 'service-layout' },
    h('div', { class: 'row' },
      h('span', { class: 'swatch', style: { background: colorFor(name), width: '12px', height: '12px' } }),
      h('h1', { class: 'service-name', text: name }),
      h('a', { class: 'button', href: `/search${query({ service: name, ...rangeQ })}`, text: 'Traces' }),
      h('a', { class: 'button', href: `/search${query({ service: name, status: 'error', ...rangeQ })}`, text: 'Error traces' }),
      h('a', { class: 'button', href: `/map${query({ service: name, ...rangeQ })}`, text: 'Map' }),
      h('span', { class: 'spacer' }), kindSelect, picker.el),
    h('div', { class: 'panel panel-body' }, stats),
    charts, operations));

  const searchAt = (timeMs, extra) => navigate(`/search${query({
    service: name, start: new Date(timeMs).toISOString(), end: new Date(timeMs + stepMinutes * 60e3).toISOString(), ...extra,
  })}`);

  Promise.all([
    api.red({ ...base, step, groupBy: 'service' }, signal),
    api.red({ ...base, step: whole, groupBy: 'service' }, signal),
    api.red({ ...base, step: whole, groupBy: 'operation' }, signal),
  ]).then(([series, totals, byOperation]) => {
    if (signal.aborted) return;
    const points = series.series.length ? mergeSeries(series.series) : [];
    const sum = total(totals.series.length ? mergeSeries(totals.series) : [], seconds);
    const stat = (label, value, cls) => h('div', { class: `stat ${cls}` }, h('b', { text: value }), h('span', { text: label }));
    stats.replaceChildren(
      stat('Calls', fmtCount(sum.calls), 'stat-calls'),
      stat('Rate', fmtRate(sum.rate), 'stat-rate'),
      stat('Errors', `${fmtCount(sum.errors)} (${fmtPct(sum.errorRate)})`, `stat-errors ${sum.errors ? 'error-text' : ''}`),
      stat('p50', fmtMs(sum.p50Ms), 'stat-p50'),
      stat('p95', fmtMs(sum.p95Ms), 'stat-p95'),
      stat('p99', fmtMs(sum.p99Ms), 'stat-p99'),
      h('span', { class: 'hint', style: { alignSelf: 'end' }, text: kind ? `${kind} spans` : 'of its server spans (its entry spans when it has none)' }));
    const xs = points.map((p) => nsToMs(p.time));
    const xDomain = [range.startMs, range.endMs];
    const panel = (title, chart) => h('div', { class: 'panel panel-body' }, h('h2', { text: title }), chart);
    charts.replaceChildren(
      panel('Rate', lineChart({ xDomain, yFormat: rateAxisFormat(Math.max(0, ...points.map((p) => p.rate ?? 0))), series: [{ name: 'calls/s', color: colorFor(name), points: points.map((p, i) => [xs[i], p.rate]) }], onClick: (t) => searchAt(t, {}) })),
      panel('Error rate', lineChart({ xDomain, yFormat: fmtPct, series: [{ name: 'errors', color: 'var(--error)', points: points.map((p, i) => [xs[i], p.calls ? p.errorRate : null]) }], onClick: (t) => searchAt(t, { status: 'error' }) })),
      panel('Duration', lineChart({
        xDomain,
        yFormat: fmtMs,
        series: [['p50', '#59a14f', 'p50Ms'], ['p95', '#f28e2b', 'p95Ms'], ['p99', '#e15759', 'p99Ms']].map(([label, color, key]) => ({ name: label, color, points: points.map((p, i) => [xs[i], p[key]]) })),
        onClick: (t) => searchAt(t, { sort: 'longest' }),
      })));
    operations.replaceChildren(h('div', { class: 'panel-body' },
      h('h2', { text: `Operations (${byOperation.series.length})` }),
      operationTable(name, byOperation.series, seconds, params, rangeQ)));
  }, (error) => {
    if (signal.aborted) return;
    charts.replaceChildren(errorBox(error.status === 404 ? new Error('The RED API (/api/v1/red) is not available on this server.') : error));
  });
  return undefined;
}

function operationTable(service, series, seconds, params, rangeQ) {
  const rows = series.map((se) => ({ operation: se.operation, kind: se.kind, ...total(se.points, seconds) }));
  if (!rows.length) return h('div', { class: 'notice', text: 'No operations in this time range.' });
  const traces = (row, extra) => `/search${query({ service, operation: row.operation, kind: row.kind, ...rangeQ, ...extra })}`;
  return sortableTable({
    className: 'operations-table',
    sort: params.get('sort') || 'calls:desc',
    onSort: (sort) => setParams({ sort }),
    onRowClick: (row) => navigate(traces(row, {})),
    columns: [
      { key: 'operation', label: 'Operation', render: (r) => h('a', { href: traces(r, {}), class: 'op-name', text: r.operation }) },
      { key: 'kind', label: 'Kind', render: (r) => h('span', { class: 'muted', text: r.kind || '–' }) },
      { key: 'calls', label: 'Calls', num: true, render: (r) => fmtCount(r.calls) },
      { key: 'rate', label: 'Rate', num: true, render: (r) => fmtRate(r.rate) },
      { key: 'errorRate', label: 'Errors', num: true, render: (r) => (r.errors ? h('a', { class: 'error-text', href: traces(r, { status: 'error' }), text: `${fmtPct(r.errorRate)} (${fmtCount(r.errors)})` }) : '0%') },
      { key: 'p50Ms', label: 'p50', num: true, render: (r) => fmtMs(r.p50Ms) },
      { key: 'p95Ms', label: 'p95', num: true, render: (r) => (r.p95Ms === null ? '–' : h('a', { href: traces(r, { minDuration: `${Math.floor(r.p95Ms * 1000)}us`, sort: 'longest' }), title: 'Traces at or above p95', text: fmtMs(r.p95Ms) })) },
      { key: 'p99Ms', label: 'p99', num: true, render: (r) => fmtMs(r.p99Ms) },
    ],
    rows,
  });
}
