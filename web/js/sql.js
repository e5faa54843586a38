// SQL console: `/sql?q=SELECT…`. Runs on Ctrl/Cmd+Enter, shows a table, a chart when the
// result is a time series (a timestamp column and numeric columns, optionally a text column
// naming the series), and downloads the result as CSV.

import { api } from './api.js';
import { navigate } from './router.js';
import { lineChart } from './charts.js';
import { h, fmtBytes, errorBox, download, parseTimeMs } from './util.js';

const EXAMPLES = [
  ['Spans and errors per service', `SELECT service_name,
       count(*) AS spans,
       sum(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS errors
FROM spans
GROUP BY service_name
ORDER BY spans DESC`],
  ['Spans per minute and service (chart)', `SELECT date_trunc('minute', start_time) AS minute,
       service_name,
       count(*) AS spans
FROM spans
WHERE start_time > now() - INTERVAL '1 hour'
GROUP BY 1, 2
ORDER BY 1`],
  ['Slowest operations', `SELECT service_name, name,
       count(*) AS calls,
       avg(duration_ns) / 1e6 AS avg_ms,
       max(duration_ns) / 1e6 AS max_ms
FROM spans
GROUP BY service_name, name
ORDER BY max_ms DESC
LIMIT 20`],
  ['Recent errors', `SELECT start_time, trace_id, service_name, name, status_message,
       duration_ns / 1e6 AS ms
FROM spans
WHERE status_code = 'error'
ORDER BY start_time DESC
LIMIT 50`],
  ['HTTP routes by status code', `SELECT http_route, http_status_code, count(*) AS spans
FROM spans
WHERE http_route IS NOT NULL
GROUP BY 1, 2
ORDER BY spans DESC`],
  ['Any attribute', `SELECT attributes['http.route'] AS route, count(*) AS spans
FROM spans
WHERE attributes['http.route'] IS NOT NULL
GROUP BY 1
ORDER BY spans DESC`],
  ['Calls per minute (span_metrics)', `SELECT minute, service_name, sum(calls) AS calls, sum(errors) AS errors
FROM span_metrics
GROUP BY 1, 2
ORDER BY 1`],
  ['Service dependencies (service_edges)', `SELECT parent, child, child_type, sum(calls) AS calls, sum(errors) AS errors
FROM service_edges
GROUP BY 1, 2, 3
ORDER BY calls DESC`],
  ['Tables', 'SHOW TABLES'],
  ['Columns of spans', 'DESCRIBE spans'],
];

const MAX_ROWS_SHOWN = 2000;
const isTime = (type) => /^(Timestamp|Date)/.test(type);
const isNumber = (type) => /^(U?Int|Float|Decimal)/.test(type);

export function render(root, { params, signal }) {
  const text = params.get('q') || EXAMPLES[0][1];
  const editor = h('textarea', { class: 'editor', spellcheck: false, 'aria-label': 'SQL query' });
  editor.value = text;
  const examples = h('select', { 'aria-label': 'Example queries' },
    h('option', { value: '', text: 'Example queries…' }),
    EXAMPLES.map(([label], i) => h('option', { value: String(i), text: label })));
  const runButton = h('button', { class: 'primary', type: 'button', text: 'Run', title: 'Ctrl+Enter' });
  const csvButton = h('button', { type: 'button', text: 'Download CSV', disabled: true });
  const status = h('span', { class: 'muted sql-status' });
  const output = h('div', { class: 'sql-output', style: { display: 'flex', flexDirection: 'column', gap: '10px', minHeight: '0', flex: '1' } });
  root.append(h('div', { class: 'sql-layout' },
    h('div', { class: 'row' }, h('h1', { text: 'SQL' }), h('span', { class: 'muted', text: 'Read-only SQL over spans, span_metrics and service_edges' }), h('span', { class: 'spacer' }), examples),
    editor,
    h('div', { class: 'row' }, runButton, csvButton, h('span', { class: 'hint', text: 'Ctrl+Enter to run' }), h('span', { class: 'spacer' }), status),
    output));

  examples.addEventListener('change', () => {
    if (!examples.value) return;
    editor.value = EXAMPLES[Number(examples.value)][1];
    examples.value = '';
    editor.focus();
  });
  const run = () => {
    const q = editor.value.trim();
    if (!q) return;
    if (q === params.get('q')) execute(q, output, status, csvButton, signal);
    else navigate(`/sql?q=${encodeURIComponent(q)}`);
  };
  runButton.addEventListener('click', run);
  editor.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    } else if (event.key === 'Tab' && !event.shiftKey) {
      event.preventDefault();
      editor.setRangeText('  ', editor.selectionStart, editor.selectionEnd, 'end');
    }
  });
  csvButton.addEventListener('click', async () => {
    try {
      download('meshscope-query.csv', await api.sqlCsv(editor.value.trim()));
    } catch (error) {
      output.replaceChildren(errorBox(error));
    }
  });
  if (params.get('q')) execute(params.get('q'), output, status, csvButton, signal);
  else editor.focus();
  return undefined;
}

async function execute(q, output, status, csvButton, signal) {
  output.replaceChildren(h('div', { class: 'notice loading', text: 'Running' }));
  status.textContent = '';
  csvButton.disabled = true;
  let result;
  try {
    result = await api.sql(q, signal);
  } catch (error) {
    if (signal.aborted) return;
    output.replaceChildren(errorBox(error));
    output.firstChild.classList.add('sql-error');
    return;
  }
  csvButton.disabled = false;
  const st = result.stats || {};
  status.textContent = `${result.rowCount.toLocaleString('en-US')} row${result.rowCount === 1 ? '' : 's'} · ${st.elapsedMs?.toFixed(1)} ms`
    + ` · ${st.filesScanned}/${st.filesTotal} files · ${fmtBytes(st.bytesScanned || 0)} read`;
  output.replaceChildren();
  const chart = timeSeriesChart(result);
  if (chart) output.append(h('div', { class: 'panel panel-body sql-chart' }, chart));
  output.append(h('div', { class: 'panel result-box' }, resultTable(result)));
}

function cell(value, column) {
  if (value === null || value === undefined) return h('td', { class: 'null', text: 'NULL' });
  if (typeof value === 'object') return h('td', { title: JSON.stringify(value, null, 1), text: JSON.stringify(value) });
  if (typeof value === 'number') return h('td', { class: 'num', text: String(value) });
  if (/trace_id$/.test(column.name) && /^[0-9a-f]{32}$/.test(value)) {
    return h('td', {}, h('a', { href: `/trace/${value}`, text: value }));
  }
  return h('td', { title: String(value).length > 60 ? String(value) : null, text: String(value) });
}

function resultTable(result) {
  const rows = result.rows.slice(0, MAX_ROWS_SHOWN);
  return h('div', {},
    h('table', { class: 'grid sql-result' },
      h('thead', {}, h('tr', {}, result.columns.map((c) => h('th', { class: isNumber(c.type) ? 'num' : '', title: c.type, text: c.name })))),
      h('tbody', {}, rows.map((row) => h('tr', {}, row.map((v, i) => cell(v, result.columns[i])))))),
    result.rows.length > MAX_ROWS_SHOWN
      ? h('div', { class: 'notice', text: `Showing the first ${MAX_ROWS_SHOWN} of ${result.rows.length} rows; download the CSV for all.` })
      : null);
}

/** A line chart when the result has a time column and numeric columns; null otherwise. */
export function timeSeriesChart(result) {
  const { columns, rows } = result;
  const time = columns.findIndex((c) => isTime(c.type));
  const numbers = columns.map((c, i) => (isNumber(c.type) ? i : -1)).filter((i) => i >= 0);
  if (time < 0 || !numbers.length || rows.length < 2) return null;
  const key = columns.findIndex((c, i) => i !== time && /^(Utf8|LargeUtf8|Utf8View|Dictionary)/.test(c.type));
  const series = new Map();
  for (const row of rows) {
    const t = parseTimeMs(row[time]);
    if (t === null) continue;
    const group = key >= 0 ? String(row[key]) : null;
    for (const n of key >= 0 ? numbers.slice(0, 1) : numbers) {
      const name = group === null ? columns[n].name : group;
      if (!series.has(name)) series.set(name, []);
      series.get(name).push([t, row[n]]);
    }
  }
  const top = [...series.entries()]
    .sort((a, b) => b[1].reduce((s, p) => s + (p[1] || 0), 0) - a[1].reduce((s, p) => s + (p[1] || 0), 0))
    .slice(0, 12)
    .map(([name, points]) => ({ name, points: points.sort((a, b) => a[0] - b[0]) }));
  const title = key >= 0 ? `${columns[numbers[0]].name} by ${columns[key].name}` : numbers.map((n) => columns[n].name).join(', ');
  return h('div', {}, h('h2', { text: title }), lineChart({ series: top, yFormat: (v) => String(Number(v.toPrecision(4))) }));
}
