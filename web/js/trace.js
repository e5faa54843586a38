// Trace view: `/trace/{id}?span=&zoom=FROM-TO&cp=1&q=&fold=1&toggle=ID,ID`.
//
// `zoom` is the visible time window in ms from the trace start; `fold=1` collapses every
// subtree below the top level and `toggle` lists spans whose collapsed state differs from
// that default; `cp=1` highlights the critical path; `q` searches within the trace; `span`
// opens a span's details. Rows are virtualised: only the rows in view are in the DOM.

import { api } from './api.js';
import { setParams } from './router.js';
import { niceTicks } from './charts.js';
import {
  buildTrace, criticalPath, clearCriticalPath, haystack, visibleRows, attributeList,
} from './trace-model.js';
import {
  h, fmtNs, fmtTime, colorFor, copyable, download, debounce, errorBox, diffNs,
} from './util.js';

const ROW = 24;
const OVERSCAN = 10;
const INDENT = 14;
const cache = new Map(); // trace id → {otlp, trace}, the last few opened

async function load(id, signal) {
  if (cache.has(id)) return cache.get(id);
  const otlp = await api.trace(id, signal);
  performance.mark('trace-fetched');
  const entry = { otlp, trace: buildTrace(otlp) };
  performance.mark('trace-built');
  cache.set(id, entry);
  if (cache.size > 3) cache.delete(cache.keys().next().value);
  return entry;
}

export function render(root, { params, match, signal }) {
  const id = match[0].trim().toLowerCase();
  root.append(h('div', { class: 'notice loading', text: `Loading trace ${id}` }));
  let view = null;
  load(id, signal).then((entry) => {
    if (signal.aborted) return;
    root.replaceChildren();
    view = new TraceView(root, entry, params);
  }, (error) => {
    if (signal.aborted) return;
    root.replaceChildren(h('div', { class: 'page' },
      errorBox(error.status === 404 ? new Error(`Trace ${id} was not found.`) : error),
      h('p', {}, h('a', { href: '/search', text: '← Back to search' }))));
  });
  return () => view?.destroy();
}

const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const msParam = (ns) => String(Number((ns / 1e6).toFixed(6)));

class TraceView {
  constructor(root, { otlp, trace }, params) {
    this.otlp = otlp;
    this.trace = trace;
    this.full = Math.max(trace.duration, 1);
    this.foldDepth = params.get('fold') === '1' ? 1 : null;
    this.toggled = new Set((params.get('toggle') || '').split(',').map(trace.find).filter(Boolean));
    this.selected = trace.find(params.get('span'));
    this.critical = params.get('cp') === '1';
    this.query = params.get('q') || '';
    this.matches = [];
    this.matchSet = new Set();
    this.matchPos = -1;
    const [z0, z1] = (params.get('zoom') || '').split('-').map((v) => Number(v) * 1e6);
    this.z0 = 0;
    this.z1 = this.full;
    if (Number.isFinite(z0) && Number.isFinite(z1) && z1 > z0) this.setWindow(z0, z1);
    this.range = [-1, -1];
    this.cleanups = [];

    clearCriticalPath(trace);
    if (this.critical) criticalPath(trace);
    this.build(root);
    this.refreshRows();
    this.drawTimeline();
    if (this.query) this.runSearch(this.query, false);
    if (this.selected) {
      this.reveal(this.selected);
      this.showDetail();
    }
    performance.mark('trace-rendered');
    // the minimap (a pass over every span) once the rows are on screen
    this.drawWindow();
    requestAnimationFrame(() => setTimeout(() => this.drawMinimap()));
  }

  destroy() {
    for (const fn of this.cleanups) fn();
  }

  listen(target, type, fn, options) {
    target.addEventListener(type, fn, options);
    this.cleanups.push(() => target.removeEventListener(type, fn, options));
  }

  // ---- layout ----

  build(root) {
    const t = this.trace;
    const rootSpan = t.root;
    const startMs = t.startSec * 1000 + t.startNs / 1e6;
    const stat = (label, value, cls) => h('div', { class: `stat ${cls || ''}` }, h('b', { text: value }), h('span', { text: label }));
    this.cpButton = h('button', { type: 'button', class: this.critical ? 'active' : '', text: 'Critical path', title: 'Highlight the spans that determined the trace duration', onclick: () => this.toggleCritical() });
    this.resetZoom = h('button', { type: 'button', text: 'Reset zoom', onclick: () => this.zoomTo(0, this.full) });
    this.searchInput = h('input', { type: 'search', placeholder: 'Find in trace (name, service, attribute)…', value: this.query, 'aria-label': 'Find in trace' });
    this.matchCount = h('span', { class: 'muted match-count' });
    const runSearch = debounce((value) => this.runSearch(value, true), 150);
    this.searchInput.addEventListener('input', () => runSearch(this.searchInput.value));
    this.searchInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        this.runSearch(this.searchInput.value, false);
        this.stepMatch(event.shiftKey ? -1 : 1);
      }
    });

    const header = h('div', { class: 'trace-header' },
      h('div', { class: 'title-row' },
        h('h1', { class: 'trace-title' },
          h('span', { class: 'swatch', style: { background: colorFor(rootSpan?.service), marginRight: '7px' } }),
          `${rootSpan?.service ?? ''}: `, h('span', { class: 'root-op', text: rootSpan?.name ?? '' })),
        t.errors ? h('span', { class: 'badge error', text: `${t.errors} error${t.errors === 1 ? '' : 's'}` }) : null,
        h('span', { class: 'spacer' }),
        h('span', { class: 'id' }, 'Trace ', copyable(t.traceId))),
      h('div', { class: 'row' },
        h('div', { class: 'stats' },
          stat('Started', fmtTime(startMs)),
          stat('Duration', fmtNs(t.duration), 'stat-duration'),
          stat('Spans', t.spans.length.toLocaleString('en-US'), 'stat-spans'),
          stat('Services', String(t.services.length), 'stat-services'),
          stat('Depth', String(t.depth)),
          stat('Errors', String(t.errors), `stat-errors ${t.errors ? 'error-text' : ''}`)),
        h('span', { class: 'spacer' }),
        h('div', { class: 'row service-chips' },
          t.services.map((svc) => h('span', { class: 'chip service-chip', title: `${svc.spans} spans, ${svc.errors} errors — click to find`, style: { cursor: 'pointer' }, onclick: () => { this.searchInput.value = svc.name; this.runSearch(svc.name, true); } },
            h('span', { class: 'swatch', style: { background: colorFor(svc.name) } }), svc.name,
            h('span', { class: 'muted', text: String(svc.spans) }),
            svc.errors ? h('span', { class: 'error-text', text: `${svc.errors}!` }) : null)))),
      h('div', { class: 'toolbar' },
        this.cpButton,
        h('button', { type: 'button', text: 'Expand all', onclick: () => this.fold(null) }),
        h('button', { type: 'button', text: 'Collapse all', onclick: () => this.fold(1) }),
        this.resetZoom,
        h('span', { style: { width: '10px' } }),
        this.searchInput,
        h('button', { type: 'button', class: 'icon-button', title: 'Previous match (Shift+Enter)', text: '▲', onclick: () => this.stepMatch(-1) }),
        h('button', { type: 'button', class: 'icon-button', title: 'Next match (Enter)', text: '▼', onclick: () => this.stepMatch(1) }),
        this.matchCount,
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', text: 'Download JSON', onclick: () => download(`trace-${t.traceId}.json`, JSON.stringify(this.otlp, null, 1), 'application/json') })));

    this.canvas = h('canvas');
    this.window = h('div', { class: 'window' });
    this.shadeLeft = h('div', { class: 'shade', style: { left: '0' } });
    this.shadeRight = h('div', { class: 'shade', style: { right: '0' } });
    this.minimap = h('div', { class: 'minimap', title: 'Drag to zoom to a range; click to move the window; double-click to reset' },
      this.canvas, this.shadeLeft, this.shadeRight, this.window);
    this.axis = h('div', { class: 'axis', title: 'Drag to zoom to a range; double-click to reset' });
    this.grid = h('div', { class: 'wf-grid' });
    this.spacer = h('div', { class: 'wf-spacer' });
    this.scroller = h('div', { class: 'wf-scroll', tabindex: '0' }, this.spacer);
    this.waterfall = h('div', { class: `waterfall ${this.critical ? 'critical-on' : ''}` },
      this.minimap,
      h('div', { class: 'wf-head' }, h('div', { class: 'name-col', text: 'Service · operation' }), this.axis),
      h('div', { class: 'wf-body' }, this.grid, this.scroller));
    this.detail = h('aside', { class: 'detail', hidden: true });
    root.append(h('div', { class: 'trace-view' }, header, h('div', { class: 'trace-body' }, this.waterfall, this.detail)));

    this.listen(this.scroller, 'scroll', () => this.schedule());
    this.listen(window, 'resize', () => {
      this.drawMinimap();
      this.drawTimeline();
      this.schedule(true);
    });
    this.listen(this.scroller, 'click', (event) => this.onRowClick(event));
    this.listen(this.scroller, 'keydown', (event) => this.onKey(event));
    this.brush(this.axis, (px) => this.z0 + px * (this.z1 - this.z0), () => this.zoomTo(0, this.full));
    this.brush(this.minimap, (px) => px * this.full, () => this.zoomTo(0, this.full), (t) => {
      const half = (this.z1 - this.z0) / 2;
      this.zoomTo(t - half, t + half);
    });
  }

  // ---- rows ----

  isCollapsed = (span) => (this.foldDepth !== null && span.depth >= this.foldDepth) !== this.toggled.has(span);

  refreshRows() {
    this.rows = visibleRows(this.trace, this.isCollapsed);
    for (let i = 0; i < this.rows.length; i += 1) this.rows[i].row = i;
    this.spacer.style.height = `${this.rows.length * ROW}px`;
    this.spacer.dataset.rows = String(this.rows.length);
    this.schedule(true);
    this.draw();
  }

  schedule(force) {
    if (force) this.range = [-1, -1];
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  draw() {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    if (first === this.range[0] && last === this.range[1]) return;
    this.range = [first, last];
    const html = [];
    for (let i = first; i < last; i += 1) html.push(this.rowHtml(this.rows[i], i));
    this.spacer.innerHTML = html.join('');
  }

  rowHtml(span, i) {
    const width = this.z1 - this.z0;
    const left = ((span.start - this.z0) / width) * 100;
    const barWidth = (span.dur / width) * 100;
    const color = colorFor(span.service);
    const classes = ['wf-row'];
    if (span === this.selected) classes.push('selected');
    if (this.matchSet.has(span)) classes.push('match');
    if (span.crit) classes.push('on-critical');
    const collapsed = span.children && this.isCollapsed(span);
    const toggle = span.children ? `<span class="toggle" title="${collapsed ? 'Expand' : 'Collapse'}">${collapsed ? '▸' : '▾'}</span>` : '<span class="toggle"></span>';
    const hidden = collapsed ? `<span class="count">+${span.end - span.index - 1}</span>` : '';
    const err = span.error ? '<span class="err" title="Error">!</span>' : '';
    let crit = '';
    if (span.crit) {
      for (const [from, to] of span.crit) {
        crit += `<div class="crit" style="left:${((from - this.z0) / width) * 100}%;width:${((to - from) / width) * 100}%"></div>`;
      }
    }
    const end = left + barWidth;
    let label;
    if (end <= 0) label = '<span class="label" style="left:4px">◂ ';
    else if (left >= 100) label = '<span class="label" style="right:4px">▸ ';
    else if (end < 78) label = `<span class="label" style="left:calc(${end}% + 4px)">`;
    else if (left > 12) label = `<span class="label" style="right:calc(${100 - left}% + 4px)">`;
    else label = `<span class="label inside" style="left:calc(${Math.max(left, 0)}% + 4px)">`;
    label += `${fmtNs(span.dur)}</span>`;
    return `<div class="${classes.join(' ')}" data-i="${i}" style="top:${i * ROW}px">`
      + `<div class="name-col" style="padding-left:${4 + Math.min(span.depth, 40) * INDENT}px">${toggle}`
      + `<span class="swatch" style="background:${color}"></span><span class="svc">${esc(span.service)}</span>`
      + `<span class="op">${esc(span.name)}</span>${err}${hidden}</div>`
      + `<div class="lane"><div class="bar${span.error ? ' error' : ''}" style="left:${left}%;width:${barWidth}%;background:${color}"></div>${crit}${label}</div></div>`;
  }

  onRowClick(event) {
    const row = event.target.closest('.wf-row');
    if (!row) return;
    const span = this.rows[Number(row.dataset.i)];
    if (event.target.closest('.toggle') && span.children) {
      this.toggle(span);
      return;
    }
    this.select(span === this.selected ? null : span);
  }

  onKey(event) {
    const at = this.selected ? this.rowOf(this.selected) : -1;
    const span = this.selected;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      const next = this.rows[Math.max(0, Math.min(this.rows.length - 1, at + (event.key === 'ArrowDown' ? 1 : -1)))];
      this.select(next);
      this.scrollToRow(next.row, false);
    } else if (event.key === 'ArrowRight' && span?.children && this.isCollapsed(span)) {
      this.toggle(span);
    } else if (event.key === 'ArrowLeft' && span) {
      if (span.children && !this.isCollapsed(span)) this.toggle(span);
      else if (span.parent) {
        this.select(span.parent);
        this.scrollToRow(span.parent.row, false);
      }
    } else if (event.key === 'Escape') {
      this.select(null);
    } else {
      return;
    }
    event.preventDefault();
  }

  toggle(span) {
    if (this.toggled.has(span)) this.toggled.delete(span);
    else this.toggled.add(span);
    this.saveFolding();
    this.refreshRows();
  }

  fold(depth) {
    this.foldDepth = depth;
    this.toggled.clear();
    if (this.selected) this.reveal(this.selected);
    this.saveFolding();
    this.refreshRows();
  }

  saveFolding() {
    setParams({ fold: this.foldDepth === null ? null : '1', toggle: [...this.toggled].map((s) => s.id).join(',') });
  }

  /** Expands the ancestors of `span` so that it has a row. */
  reveal(span) {
    let changed = false;
    for (let a = span.parent; a; a = a.parent) {
      if (this.isCollapsed(a)) {
        if (this.toggled.has(a)) this.toggled.delete(a);
        else this.toggled.add(a);
        changed = true;
      }
    }
    if (changed) {
      this.saveFolding();
      this.refreshRows();
    }
    this.scrollToRow(this.rowOf(span), true);
  }

  /** The row of `span`, or -1 while a collapsed ancestor hides it. */
  rowOf(span) {
    return this.rows[span.row] === span ? span.row : -1;
  }

  scrollToRow(i, center) {
    if (i < 0) return;
    const view = this.scroller.clientHeight;
    const y = i * ROW;
    if (center) this.scroller.scrollTop = Math.max(0, y - view / 3);
    else if (y < this.scroller.scrollTop) this.scroller.scrollTop = y;
    else if (y + ROW > this.scroller.scrollTop + view) this.scroller.scrollTop = y + ROW - view;
    this.schedule(true);
  }

  select(span) {
    this.selected = span;
    setParams({ span: span?.id });
    this.schedule(true);
    this.showDetail();
  }

  // ---- time window ----

  setWindow(z0, z1) {
    const minWidth = Math.min(this.full, 1000); // 1 µs
    let a = Math.max(0, Math.min(z0, this.full));
    let b = Math.max(0, Math.min(z1, this.full));
    if (b - a < minWidth) {
      const mid = (a + b) / 2;
      a = Math.max(0, mid - minWidth / 2);
      b = Math.min(this.full, a + minWidth);
    }
    this.z0 = a;
    this.z1 = b;
  }

  zoomTo(z0, z1) {
    const width = z1 - z0;
    let a = z0;
    let b = z1;
    if (a < 0) [a, b] = [0, width];
    if (b > this.full) [a, b] = [Math.max(0, this.full - width), this.full];
    this.setWindow(a, b);
    const zoomed = this.z0 > 0 || this.z1 < this.full;
    setParams({ zoom: zoomed ? `${msParam(this.z0)}-${msParam(this.z1)}` : null });
    this.drawTimeline();
    this.drawWindow();
    this.schedule(true);
  }

  /** Drag on `el` to choose a range; `toTime(fraction)` maps positions to ns offsets. */
  brush(el, toTime, onReset, onClick) {
    const band = h('div', { class: 'brush', hidden: true });
    el.append(band);
    this.listen(el, 'mousedown', (down) => {
      if (down.button !== 0) return;
      down.preventDefault();
      const rect = el.getBoundingClientRect();
      const frac = (x) => Math.max(0, Math.min(1, (x - rect.left) / rect.width));
      const x0 = frac(down.clientX);
      let x1 = x0;
      const move = (event) => {
        x1 = frac(event.clientX);
        band.hidden = false;
        band.style.left = `${Math.min(x0, x1) * 100}%`;
        band.style.width = `${Math.abs(x1 - x0) * 100}%`;
      };
      const up = () => {
        window.removeEventListener('mousemove', move);
        window.removeEventListener('mouseup', up);
        band.hidden = true;
        if (Math.abs(x1 - x0) * rect.width > 3) this.zoomTo(toTime(Math.min(x0, x1)), toTime(Math.max(x0, x1)));
        else onClick?.(toTime(x0));
      };
      window.addEventListener('mousemove', move);
      window.addEventListener('mouseup', up);
    });
    this.listen(el, 'dblclick', onReset);
  }

  drawTimeline() {
    const width = this.z1 - this.z0;
    const lanePx = this.axis.clientWidth || 800;
    const ticks = niceTicks(this.z0, this.z1, Math.max(2, Math.floor(lanePx / 110)));
    const band = this.axis.querySelector('.brush');
    this.axis.replaceChildren(band);
    this.grid.replaceChildren();
    for (const t of ticks) {
      const left = `${((t - this.z0) / width) * 100}%`;
      this.axis.append(h('div', { class: 'tick', style: { left }, text: fmtNs(t) }));
      this.grid.append(h('div', { class: 'gridline', style: { left } }));
    }
    this.resetZoom.disabled = this.z0 <= 0 && this.z1 >= this.full;
    const scrollbar = this.scroller.offsetWidth - this.scroller.clientWidth;
    this.waterfall.style.setProperty('--scrollbar', `${scrollbar}px`);
  }

  drawMinimap() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.floor(this.minimap.clientWidth * ratio));
    const hgt = Math.max(1, Math.floor(this.minimap.clientHeight * ratio));
    canvas.width = w;
    canvas.height = hgt;
    // rasterised by hand: a run of pixels per span (Uint32Array.fill), then one putImageData;
    // 100,000 fillRect calls would take a large part of the first render
    const image = new ImageData(w, hgt);
    const pixels = new Uint32Array(image.data.buffer);
    const spans = this.trace.spans;
    const n = spans.length;
    const rows = Math.max(1, Math.min(hgt, n));
    const rowH = Math.floor(hgt / rows);
    const scale = w / this.full;
    const packed = new Map();
    for (let i = 0; i < n; i += 1) {
      const span = spans[i];
      const color = span.error ? '#d4343b' : colorFor(span.service);
      let value = packed.get(color);
      if (value === undefined) {
        const rgb = parseInt(color.slice(1), 16);
        value = (0xff << 24) | ((rgb & 0xff) << 16) | (rgb & 0xff00) | (rgb >> 16); // RGBA bytes, little-endian
        packed.set(color, value);
      }
      const x0 = Math.min(w - 1, Math.floor(span.start * scale));
      const x1 = Math.min(w, Math.max(x0 + 1, Math.round((span.start + span.dur) * scale)));
      const top = Math.floor((i * rows) / n) * rowH;
      for (let y = top; y < top + rowH; y += 1) pixels.fill(value, y * w + x0, y * w + x1);
    }
    canvas.getContext('2d').putImageData(image, 0, 0);
    this.drawWindow();
  }

  drawWindow() {
    const left = (this.z0 / this.full) * 100;
    const right = 100 - (this.z1 / this.full) * 100;
    this.window.style.left = `${left}%`;
    this.window.style.right = `${right}%`;
    this.shadeLeft.style.width = `${left}%`;
    this.shadeRight.style.width = `${right}%`;
    this.window.hidden = left <= 0 && right <= 0;
  }

  // ---- critical path and search ----

  toggleCritical() {
    this.critical = !this.critical;
    clearCriticalPath(this.trace);
    if (this.critical) criticalPath(this.trace);
    this.cpButton.classList.toggle('active', this.critical);
    this.waterfall.classList.toggle('critical-on', this.critical);
    setParams({ cp: this.critical ? '1' : null });
    this.schedule(true);
  }

  runSearch(text, save) {
    const query = text.trim().toLowerCase();
    if (save) setParams({ q: text.trim() || null });
    if (query === this.query.toLowerCase() && this.matches.length && save) return;
    this.query = text.trim();
    this.matches = query ? this.trace.spans.filter((span) => haystack(span).includes(query)) : [];
    this.matchSet = new Set(this.matches);
    this.matchPos = -1;
    this.matchCount.textContent = query ? `${this.matches.length.toLocaleString('en-US')} match${this.matches.length === 1 ? '' : 'es'}` : '';
    this.schedule(true);
  }

  stepMatch(direction) {
    if (!this.matches.length) return;
    const n = this.matches.length;
    this.matchPos = this.matchPos < 0 && direction < 0 ? n - 1 : (this.matchPos + direction + n) % n;
    const span = this.matches[this.matchPos];
    this.matchCount.textContent = `${this.matchPos + 1} of ${n.toLocaleString('en-US')}`;
    this.selected = span;
    setParams({ span: span.id });
    this.reveal(span);
    this.showDetail();
  }

  // ---- span details ----

  showDetail() {
    const span = this.selected;
    this.detail.hidden = !span;
    if (!span) {
      this.detail.replaceChildren();
      return;
    }
    const raw = span.raw;
    const kv = (pairs) => h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
    const section = (title, count, body) => h('section', {}, h('h2', { text: count === null ? title : `${title} (${count})` }), body);
    const attributes = attributeList(raw.attributes).sort((a, b) => a[0].localeCompare(b[0]));
    const resource = attributeList(span.resource.attributes).sort((a, b) => a[0].localeCompare(b[0]));
    const status = ['unset', 'ok', 'error'][raw.status?.code || 0];
    const startMs = (this.trace.startSec * 1000) + (this.trace.startNs / 1e6) + span.start / 1e6;
    const parentCell = span.parent
      ? h('a', { href: '#', text: `${span.parentId} (${span.parent.service}: ${span.parent.name})`, onclick: (event) => { event.preventDefault(); this.select(span.parent); this.reveal(span.parent); } })
      : span.parentId ? h('span', {}, copyable(span.parentId), h('span', { class: 'muted', text: ' (not in this trace)' })) : h('span', { class: 'muted', text: '(root span)' });
    const scope = [span.scope.name, span.scope.version].filter(Boolean).join(' ');

    this.detail.replaceChildren(...[
      h('div', { class: 'detail-head' },
        h('div', { class: 'row' },
          h('span', { class: 'swatch', style: { background: colorFor(span.service) } }),
          h('b', { class: 'detail-service', text: span.service }),
          h('span', { class: 'spacer' }),
          h('button', { type: 'button', class: 'icon-button', title: 'Close (Esc)', text: '✕', onclick: () => this.select(null) })),
        h('div', { class: 'detail-name', style: { fontSize: '14px', fontWeight: 600, marginTop: '3px', wordBreak: 'break-all' }, text: span.name })),
      section('Span', null, kv([
        ['duration', h('b', { class: 'detail-duration', text: fmtNs(span.dur) })],
        ['start', `+${fmtNs(span.start)}  ·  ${fmtTime(startMs)}`],
        ['kind', span.kind],
        ['status', h('span', { class: status === 'error' ? 'error-text detail-status' : 'detail-status', text: raw.status?.message ? `${status}: ${raw.status.message}` : status })],
        ['span id', copyable(span.id)],
        ['parent', parentCell],
        ['trace id', copyable(raw.traceId)],
        ...(raw.traceState ? [['trace state', raw.traceState]] : []),
        ...(scope ? [['scope', scope]] : []),
        ...(span.crit ? [['critical path', fmtNs(span.crit.reduce((sum, [a, b]) => sum + b - a, 0))]] : []),
      ])),
      section('Attributes', attributes.length, attributes.length ? kv(attributes) : h('div', { class: 'muted', text: 'none' })),
      section('Resource', resource.length, kv(resource)),
      (raw.events || []).length ? section('Events', raw.events.length, (raw.events || []).map((event) => h('div', { class: 'event' },
        h('div', { class: 'event-title' }, h('span', { class: 'muted', text: `+${fmtNs(diffNs(event.timeUnixNano, raw.startTimeUnixNano))}` }), event.name),
        kv(attributeList(event.attributes))))) : null,
      (raw.links || []).length ? section('Links', raw.links.length, raw.links.map((link) => h('div', { class: 'event' },
        h('div', { class: 'event-title' }, h('a', { href: `/trace/${link.traceId}?span=${link.spanId}`, class: 'mono', text: `${link.traceId} / ${link.spanId}` })),
        kv(attributeList(link.attributes))))) : null,
    ].filter(Boolean));
    this.detail.dataset.spanId = span.id;
  }
}
