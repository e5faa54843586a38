// Search view: `/search?service=&operation=&kind=&status=&attr=…&minDuration=&maxDuration=
// &lookback=|start=&end=&limit=&sort=`. The form mirrors the URL; results come from
// /api/v1/search with the same parameters.

import { api } from './api.js';
import { navigate, setParams } from './router.js';
import { scatterPlot } from './charts.js';
import { rangePicker } from './range.js';
import {
  h, fmtMs, fmtTime, fmtAgo, nsToMs, colorFor, errorBox, parseDurationMs, timeRange,
} from './util.js';

const FIELDS = ['service', 'operation', 'kind', 'status', 'minDuration', 'maxDuration', 'limit'];
const SORTS = {
  recent: ['Most recent', (a, b) => b.startMs - a.startMs],
  longest: ['Longest first', (a, b) => b.durationMs - a.durationMs],
  shortest: ['Shortest first', (a, b) => a.durationMs - b.durationMs],
  spans: ['Most spans', (a, b) => b.spanCount - a.spanCount],
  errors: ['Most errors', (a, b) => b.errorCount - a.errorCount],
};

function field(label, control, hint) {
  return h('div', { class: 'field' }, h('label', { text: label }), control, hint ? h('div', { class: 'hint', text: hint }) : null);
}

function select(name, options, value) {
  const el = h('select', { name }, options.map(([v, text]) => h('option', { value: v, text })));
  el.value = value || '';
  return el;
}

export function render(root, { params, signal }) {
  const form = h('form', { class: 'panel search-form', autocomplete: 'off' });
  const results = h('div', { class: 'search-results' });
  root.append(h('div', { class: 'search-layout' }, form, results));

  const service = select('service', [['', 'All services']], '');
  const operation = select('operation', [['', 'All operations']], '');
  const kind = select('kind', [['', 'Any kind'], ...['server', 'client', 'producer', 'consumer', 'internal'].map((k) => [k, k])], params.get('kind'));
  const status = select('status', [['', 'Any status'], ['error', 'Error'], ['ok', 'OK'], ['unset', 'Unset']], params.get('status'));
  const attrs = h('textarea', { name: 'attr', rows: 3, spellcheck: false, placeholder: 'http.route=/cart\nhttp.status_code!=200\nurl.path=~^/api' });
  attrs.value = params.getAll('attr').join('\n');
  const minDuration = h('input', { name: 'minDuration', placeholder: 'e.g. 100ms', value: params.get('minDuration') || '' });
  const maxDuration = h('input', { name: 'maxDuration', placeholder: 'e.g. 2s', value: params.get('maxDuration') || '' });
  const limit = select('limit', [['20', '20'], ['50', '50'], ['100', '100'], ['200', '200'], ['500', '500'], ['1000', '1000']], params.get('limit') || '20');
  const picker = rangePicker(params, () => form.requestSubmit());

  form.append(
    field('Service', service),
    field('Operation', operation),
    h('div', { class: 'field-pair' }, field('Kind', kind), field('Status', status)),
    field('Attributes', attrs, 'One per line: key=value, key!=value, key=~regex, key!~regex'),
    h('div', { class: 'field-pair' }, field('Min duration', minDuration), field('Max duration', maxDuration)),
    h('div', { class: 'field' }, h('span', { class: 'label', text: 'Time range' }), picker.el),
    field('Limit', limit),
    h('button', { class: 'primary', type: 'submit', text: 'Find traces' }),
  );

  const fillOperations = async (selected) => {
    operation.replaceChildren(h('option', { value: '', text: 'All operations' }));
    if (!service.value) return;
    try {
      const ops = await api.operations(service.value);
      const names = [...new Set(ops.map((op) => op.name))].sort();
      operation.append(...names.map((name) => h('option', { value: name, text: name })));
      if (selected && !names.includes(selected)) operation.append(h('option', { value: selected, text: selected }));
      operation.value = selected || '';
    } catch (error) {
      operation.append(h('option', { value: '', text: `(${error.message})` }));
    }
  };
  service.addEventListener('change', () => fillOperations(''));

  api.services().then(async (names) => {
    const wanted = params.get('service');
    service.append(...names.map((name) => h('option', { value: name, text: name })));
    if (wanted && !names.includes(wanted)) service.append(h('option', { value: wanted, text: wanted }));
    service.value = wanted || '';
    await fillOperations(params.get('operation'));
  }, (error) => results.prepend(errorBox(error)));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    for (const input of [minDuration, maxDuration]) {
      input.setCustomValidity(input.value && parseDurationMs(input.value) === null ? 'Use a duration such as 250ms, 1.5s or 1m30s' : '');
    }
    if (!form.reportValidity()) return;
    const next = new URLSearchParams();
    const values = { service, operation, kind, status, minDuration, maxDuration };
    for (const [key, el] of Object.entries(values)) if (el.value.trim()) next.set(key, el.value.trim());
    for (const line of attrs.value.split('\n')) if (line.trim()) next.append('attr', line.trim());
    const chosen = picker.read();
    for (const key of ['lookback', 'start', 'end']) if (chosen[key]) next.set(key, chosen[key]);
    if (limit.value !== '20') next.set('limit', limit.value);
    if (params.get('sort')) next.set('sort', params.get('sort'));
    navigate(`/search?${next}`);
  });

  runSearch(results, params, signal);
  return undefined;
}

async function runSearch(results, params, signal) {
  const query = {};
  for (const key of FIELDS) query[key] = params.get(key);
  query.attr = params.getAll('attr');
  const range = timeRange(params, '1h');
  if (range.absolute) {
    query.start = params.get('start');
    query.end = params.get('end');
  } else {
    query.lookback = range.lookback;
    query.end = params.get('end');
  }
  const status = h('div', { class: 'panel notice loading', text: 'Searching' });
  results.append(status);
  let traces;
  try {
    traces = await api.search(query, signal);
  } catch (error) {
    if (signal.aborted) return;
    status.replaceWith(errorBox(error));
    return;
  }
  status.remove();
  for (const t of traces) t.startMs = nsToMs(t.startTimeUnixNano);
  showResults(results, traces, params, range);
}

function showResults(results, traces, params, range) {
  if (traces.length === 0) {
    results.append(h('div', { class: 'panel notice' },
      h('div', { text: 'No traces match.' }),
      h('div', { class: 'hint', text: 'Widen the time range or remove a filter.' })));
    return;
  }
  const sortKey = SORTS[params.get('sort')] ? params.get('sort') : 'recent';
  const sortSelect = select('sort', Object.entries(SORTS).map(([k, [label]]) => [k, label]), sortKey);
  const list = h('ol', { class: 'trace-list', 'aria-label': 'Traces' });
  const maxDuration = Math.max(...traces.map((t) => t.durationMs));
  const errors = traces.filter((t) => t.errorCount > 0).length;
  const draw = () => {
    const sorted = [...traces].sort(SORTS[sortSelect.value][1]);
    list.replaceChildren(...sorted.map((t) => traceItem(t, maxDuration)));
  };
  sortSelect.addEventListener('change', () => {
    setParams({ sort: sortSelect.value === 'recent' ? null : sortSelect.value });
    draw();
  });
  draw();

  const xDomain = range ? [Math.min(range.startMs, ...traces.map((t) => t.startMs)), range.endMs] : undefined;
  const plot = scatterPlot({
    xDomain,
    yFormat: fmtMs,
    points: traces.map((t) => ({
      x: t.startMs,
      y: t.durationMs,
      r: Math.min(9, 3 + Math.log2(1 + t.spanCount) / 1.5),
      color: t.errorCount ? 'var(--error)' : colorFor(t.rootService),
      tip: () => [
        h('div', { class: 't-title', text: `${t.rootService}: ${t.rootOperation}` }),
        h('div', { text: `${fmtMs(t.durationMs)} · ${t.spanCount} spans${t.errorCount ? ` · ${t.errorCount} errors` : ''}` }),
        h('div', { class: 'muted', text: fmtTime(t.startMs) }),
      ],
      onClick: () => navigate(`/trace/${t.traceId}`),
    })),
  });

  results.append(
    h('div', { class: 'panel' },
      h('div', { class: 'results-head' },
        h('b', { class: 'result-count', text: `${traces.length} trace${traces.length === 1 ? '' : 's'}` }),
        errors ? h('span', { class: 'badge error', text: `${errors} with errors` }) : null,
        h('span', { class: 'spacer' }),
        h('span', { class: 'muted', text: 'Duration over time' })),
      h('div', { class: 'scatter' }, plot)),
    h('div', { class: 'panel' },
      h('div', { class: 'results-head' }, h('span', { class: 'spacer' }), h('label', { class: 'muted', text: 'Sort' }), sortSelect),
      list),
  );
}

function traceItem(t, maxDuration) {
  const services = [...t.services].sort((a, b) => b.spanCount - a.spanCount);
  return h('li', {},
    h('a', { class: 'trace-item', href: `/trace/${t.traceId}`, dataset: { traceId: t.traceId } },
      h('div', {},
        h('div', { class: 'trace-title' },
          h('span', { class: 'swatch', style: { background: colorFor(t.rootService), marginRight: '6px' } }),
          h('span', { class: 'root-service', text: t.rootService }), ': ',
          h('span', { class: 'root-operation', text: t.rootOperation })),
        h('div', { class: 'trace-sub' },
          h('span', { class: 'mono', text: t.traceId.slice(0, 16) }),
          h('span', { class: 'span-count', text: `${t.spanCount} span${t.spanCount === 1 ? '' : 's'}` }),
          t.errorCount ? h('span', { class: 'badge error error-count', text: `${t.errorCount} error${t.errorCount === 1 ? '' : 's'}` }) : null)),
      h('div', { class: 'trace-services' }, services.map((svc) => h('span', { class: 'chip', title: `${svc.spanCount} spans${svc.errorCount ? `, ${svc.errorCount} errors` : ''}` },
        h('span', { class: 'swatch', style: { background: colorFor(svc.name) } }),
        svc.name, h('span', { class: 'muted', text: String(svc.spanCount) }),
        svc.errorCount ? h('span', { class: 'error-text', text: '!' }) : null))),
      h('div', { class: 'trace-duration' },
        h('b', { class: 'duration', text: fmtMs(t.durationMs) }),
        h('div', { class: 'duration-bar' }, h('div', { style: { width: `${Math.max(1, (t.durationMs / maxDuration) * 100)}%` } }))),
      h('div', { class: 'trace-when' },
        h('div', { text: fmtAgo(t.startMs) }),
        h('div', { class: 'muted', text: fmtTime(t.startMs, { millis: false }) }))));
}
