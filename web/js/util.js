// Small shared helpers: DOM building, formatting, times, colours, downloads.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = value;
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string' && !(el instanceof SVGElement)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** An HTML element: h('div', {class: 'x', onclick}, child, 'text', [more]). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, as h(). */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// ---- numbers and durations ----

/** A duration in milliseconds as short text: 812µs, 45.6ms, 1.23s, 2m 5s. */
export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  const abs = Math.abs(ms);
  if (abs === 0) return '0';
  if (abs < 0.001) return `${Math.round(ms * 1e6)}ns`;
  if (abs < 1) return `${trim(ms * 1000)}µs`;
  if (abs < 1000) return `${trim(ms)}ms`;
  if (abs < 60_000) return `${trim(ms / 1000)}s`;
  if (abs < 3_600_000) return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h ${Math.round((ms % 3_600_000) / 60_000)}m`;
}

/** A duration in nanoseconds as short text. */
export function fmtNs(ns) {
  return fmtMs(ns / 1e6);
}

function trim(value) {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return String(Number(value.toFixed(digits)));
}

export function fmtCount(n) {
  if (n === null || n === undefined) return '–';
  if (Math.abs(n) < 10_000) return String(Math.round(n * 100) / 100);
  if (Math.abs(n) < 1e6) return `${trim(n / 1e3)}k`;
  if (Math.abs(n) < 1e9) return `${trim(n / 1e6)}M`;
  return `${trim(n / 1e9)}G`;
}

export function fmtRate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '–';
  if (perSecond > 0 && perSecond < 0.01) return `${(perSecond * 60).toFixed(2)}/min`;
  return `${fmtCount(perSecond < 10 ? Number(perSecond.toFixed(2)) : perSecond)}/s`;
}

/** A formatter for a rate axis whose largest value is `maxPerSecond`: one unit for every tick
 * (per minute below 1/s, so small rates do not print as 0.01/s twice). */
export function rateAxisFormat(maxPerSecond) {
  const perMinute = maxPerSecond < 1;
  return (perSecond) => {
    const v = perMinute ? perSecond * 60 : perSecond;
    return `${fmtCount(Number(v.toFixed(v < 10 ? 2 : 0)))}${perMinute ? '/min' : '/s'}`;
  };
}

/** A ratio (0..1) as a percentage. */
export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '–';
  const pct = ratio * 100;
  if (pct === 0) return '0%';
  if (pct < 0.1) return '<0.1%';
  return `${Number(pct.toFixed(pct < 10 ? 1 : 0))}%`;
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${trim(value)} ${units[unit]}`;
}

// ---- times ----

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Epoch milliseconds as local "YYYY-MM-DD HH:MM:SS.mmm". */
export function fmtTime(ms, { date = true, millis = true } = {}) {
  const d = new Date(ms);
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date ? `${day} ` : ''}${time}${millis ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
}

/** "3 min ago" style text for epoch milliseconds. */
export function fmtAgo(ms, now = Date.now()) {
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

/**
 * A nanosecond timestamp string split into whole seconds and nanoseconds, so that differences
 * stay exact in plain numbers (epoch nanoseconds exceed 2^53).
 */
export function splitNs(text) {
  const str = String(text);
  if (str.length <= 9) return [0, Number(str)];
  return [Number(str.slice(0, -9)), Number(str.slice(-9))];
}

/** Exact `a - b` of two nanosecond timestamps (strings), as a number of nanoseconds. */
export function diffNs(a, b) {
  const [as, an] = splitNs(a);
  const [bs, bn] = splitNs(b);
  return (as - bs) * 1e9 + (an - bn);
}

/** Epoch milliseconds (float) of a nanosecond timestamp string. */
export function nsToMs(text) {
  const [sec, ns] = splitNs(text);
  return sec * 1000 + ns / 1e6;
}

/** Parses a Go-style duration (500ms, 1.5s, 1m30s, 2h, 2d) into milliseconds, or null. */
export function parseDurationMs(text) {
  const units = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3 };
  const str = String(text || '').trim();
  if (!str) return null;
  if (str === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let match;
  let consumed = 0;
  while ((match = re.exec(str))) {
    total += Number(match[1]) * units[match[2]];
    consumed = re.lastIndex;
  }
  return consumed === str.length ? total : null;
}

/** RFC 3339 (or ns since the epoch) to epoch milliseconds; null when unparseable. */
export function parseTimeMs(text) {
  if (!text) return null;
  if (/^\d{13,}$/.test(text)) return nsToMs(text);
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** The value of an `<input type=datetime-local>` for epoch milliseconds. */
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * The time range a view's URL asks for: `start`/`end` (RFC 3339 or ns) or `lookback`
 * (default `fallback`), as epoch milliseconds plus the query parameters to pass on.
 */
export function timeRange(params, fallback = '1h') {
  const end = parseTimeMs(params.get('end'));
  const start = parseTimeMs(params.get('start'));
  if (start !== null) {
    const endMs = end ?? Date.now();
    return { startMs: start, endMs, lookback: null, absolute: true };
  }
  const lookback = params.get('lookback') || fallback;
  const endMs = end ?? Date.now();
  return { startMs: endMs - (parseDurationMs(lookback) ?? 3600e3), endMs, lookback, absolute: false };
}

/** API parameters (ns since the epoch) for a range from timeRange(). */
export function rangeParams(range) {
  const toNs = (ms) => `${Math.floor(ms)}000000`;
  return { start: toNs(range.startMs), end: toNs(range.endMs) };
}

// ---- colours ----

const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f',
  '#ff9da7', '#6b9ac4', '#d37295', '#8cd17d', '#a0cbe8', '#f1ce63', '#86bcb6',
  '#e15759', '#bab0ac',
];

function hash(text) {
  let value = 2166136261;
  for (let i = 0; i < text.length; i += 1) {
    value ^= text.charCodeAt(i);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
}

/** A stable colour for a service name, the same in every view. */
export function colorFor(name) {
  return PALETTE[hash(name || '') % PALETTE.length];
}

// ---- misc ----

export function copyText(text, el) {
  const done = () => {
    if (!el) return;
    el.classList.add('copied');
    setTimeout(() => el.classList.remove('copied'), 1200);
  };
  if (navigator.clipboard?.writeText) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
}

function fallbackCopy(text, done) {
  const area = h('textarea', { style: { position: 'fixed', opacity: '0' } });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
  done();
}

/** A value shown as a copyable span. */
export function copyable(text, label = text) {
  const el = h('span', { class: 'copy mono', title: 'Click to copy', text: label });
  el.addEventListener('click', (event) => {
    event.stopPropagation();
    copyText(text, el);
  });
  return el;
}

export function download(filename, content, type) {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** An error box with the message of `error`. */
export function errorBox(error) {
  return h('div', { class: 'alert', role: 'alert', text: error?.message || String(error) });
}

/** A floating tooltip shared by the charts and the map. */
export const tooltip = {
  el: null,
  show(x, y, content) {
    if (!this.el) {
      this.el = h('div', { class: 'tooltip' });
      document.body.append(this.el);
    }
    this.el.replaceChildren(...[content].flat());
    this.el.style.display = 'block';
    const { innerWidth, innerHeight } = window;
    const rect = this.el.getBoundingClientRect();
    this.el.style.left = `${Math.min(x + 14, innerWidth - rect.width - 8)}px`;
    this.el.style.top = `${Math.min(y + 14, innerHeight - rect.height - 8)}px`;
  },
  hide() {
    if (this.el) this.el.style.display = 'none';
  },
};
