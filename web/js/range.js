// The time range picker shared by search, map and service overview: a relative lookback
// (`lookback=1h`) or an absolute range (`start=…&end=…`, RFC 3339), as URL parameters.

import { h, toLocalInput, timeRange } from './util.js';

export const LOOKBACKS = [
  ['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['3h', 'Last 3 hours'],
  ['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['24h', 'Last 24 hours'], ['2d', 'Last 2 days'],
  ['7d', 'Last 7 days'],
];

/**
 * A picker showing the range in `params`; `onChange({lookback, start, end})` gets the new URL
 * parameters (the unused ones null).
 */
export function rangePicker(params, onChange, fallback = '1h') {
  const range = timeRange(params, fallback);
  const select = h('select', { name: 'range', 'aria-label': 'Time range' },
    LOOKBACKS.map(([value, label]) => h('option', { value, text: label })),
    h('option', { value: 'custom', text: 'Absolute range…' }));
  const lookback = range.lookback || 'custom';
  if (!LOOKBACKS.some(([v]) => v === lookback) && lookback !== 'custom') {
    select.prepend(h('option', { value: lookback, text: `Last ${lookback}` }));
  }
  select.value = lookback;
  const start = h('input', { type: 'datetime-local', name: 'start', value: toLocalInput(range.startMs), 'aria-label': 'Start' });
  const end = h('input', { type: 'datetime-local', name: 'end', value: toLocalInput(range.endMs), 'aria-label': 'End' });
  const custom = h('span', { class: 'range-picker' }, start, h('span', { class: 'muted', text: '→' }), end);
  custom.hidden = select.value !== 'custom';

  const emit = () => {
    const valid = !Number.isNaN(new Date(start.value).getTime()) && !Number.isNaN(new Date(end.value).getTime());
    if (select.value !== 'custom' || valid) onChange(read());
  };
  select.addEventListener('change', () => {
    custom.hidden = select.value !== 'custom';
    emit();
  });
  start.addEventListener('change', emit);
  end.addEventListener('change', emit);
  const el = h('span', { class: 'range-picker' }, select, custom);
  const read = () => {
    if (select.value !== 'custom') return { lookback: select.value, start: null, end: null };
    return { lookback: null, start: new Date(start.value).toISOString(), end: new Date(end.value).toISOString() };
  };
  return { el, read };
}
