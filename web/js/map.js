// Service map: `/map?lookback=|start=&end=&service=&depth=&sort=`. Services and virtual nodes
// (databases, queues, external) from /api/v1/dependencies, drawn in layers from callers to
// callees; edges carry calls/s, error % and p95. Clicking a service opens its overview.

import { api, query } from './api.js';
import { navigate, setParams } from './router.js';
import { rangePicker } from './range.js';
import { sortableTable } from './table.js';
import { h, s, fmtMs, fmtRate, fmtPct, fmtCount, colorFor, errorBox, tooltip, timeRange } from './util.js';

const NODE_W = 190;
const NODE_H = 58;
const GAP_X = 170;
const GAP_Y = 30;
const PAD = 24;
const ICONS = { service: '●', database: '⛁', queue: '☰', external: '◍' };

export function render(root, { params, signal }) {
  const page = h('div', { class: 'map-layout' });
  root.append(page);
  const rangeQuery = () => {
    const range = timeRange(params, '1h');
    return range.absolute ? { start: params.get('start'), end: params.get('end') } : { lookback: range.lookback, end: params.get('end') };
  };
  const picker = rangePicker(params, (next) => navigate(`/map${query({ ...Object.fromEntries(params), ...next })}`));
  const focus = h('select', { 'aria-label': 'Focus service' }, h('option', { value: '', text: 'All services' }));
  const depth = h('select', { 'aria-label': 'Depth' }, ['1', '2', '3', '5'].map((d) => h('option', { value: d, text: `${d} hop${d === '1' ? '' : 's'}` })));
  depth.value = params.get('depth') || '2';
  depth.hidden = !params.get('service');
  const go = () => navigate(`/map${query({ ...Object.fromEntries(params), service: focus.value, depth: focus.value ? depth.value : null })}`);
  focus.addEventListener('change', go);
  depth.addEventListener('change', go);
  api.services().then((names) => {
    focus.append(...names.map((n) => h('option', { value: n, text: n })));
    focus.value = params.get('service') || '';
  }, () => {});

  const canvas = h('div', { class: 'panel map-canvas' }, h('div', { class: 'notice loading', text: 'Loading the service graph' }));
  const tables = h('div');
  page.append(
    h('div', { class: 'row' }, h('h1', { text: 'Service map' }), h('span', { class: 'spacer' }), focus, depth, picker.el),
    canvas, tables);

  api.dependencies({ ...rangeQuery(), service: params.get('service'), depth: params.get('service') ? depth.value : null }, signal)
    .then((graph) => {
      if (signal.aborted) return;
      canvas.replaceChildren();
      if (!graph.nodes.length) {
        canvas.append(h('div', { class: 'notice', text: 'No calls between services in this time range.' }));
        return;
      }
      canvas.append(drawGraph(graph, params));
      tables.append(edgeTable(graph, params));
    }, (error) => {
      if (signal.aborted) return;
      canvas.replaceChildren(errorBox(error.status === 404 ? new Error('The dependency API (/api/v1/dependencies) is not available on this server.') : error));
    });
  return () => tooltip.hide();
}

/** Layers (longest path from the callers, cycles broken) and an order within each layer. */
export function layout(nodes, edges) {
  const names = nodes.map((n) => n.name);
  const out = new Map(names.map((n) => [n, []]));
  for (const e of edges) if (e.parent !== e.child && out.has(e.parent) && out.has(e.child)) out.get(e.parent).push(e.child);

  // depth-first search marks back edges; the rest is a DAG
  const state = new Map();
  const back = new Set();
  for (const start of names) {
    if (state.has(start)) continue;
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack.at(-1);
      const next = out.get(top[0])[top[1]];
      top[1] += 1;
      if (next === undefined) {
        state.set(top[0], 2);
        stack.pop();
      } else if (state.get(next) === 1) {
        back.add(`${top[0]}\u0000${next}`);
      } else if (!state.has(next)) {
        state.set(next, 1);
        stack.push([next, 0]);
      }
    }
  }
  const dag = new Map(names.map((n) => [n, []]));
  const indegree = new Map(names.map((n) => [n, 0]));
  for (const [from, tos] of out) {
    for (const to of tos) {
      if (back.has(`${from}\u0000${to}`)) continue;
      dag.get(from).push(to);
      indegree.set(to, indegree.get(to) + 1);
    }
  }
  const layer = new Map(names.map((n) => [n, 0]));
  const queue = names.filter((n) => indegree.get(n) === 0);
  while (queue.length) {
    const n = queue.shift();
    for (const to of dag.get(n)) {
      layer.set(to, Math.max(layer.get(to), layer.get(n) + 1));
      indegree.set(to, indegree.get(to) - 1);
      if (indegree.get(to) === 0) queue.push(to);
    }
  }
  const layers = [];
  for (const n of [...names].sort()) (layers[layer.get(n)] ||= []).push(n);

  // barycentre sweeps to reduce crossings
  const neighbours = new Map(names.map((n) => [n, []]));
  for (const [from, tos] of dag) for (const to of tos) {
    neighbours.get(from).push(to);
    neighbours.get(to).push(from);
  }
  const position = new Map();
  const index = () => layers.forEach((l) => l.forEach((n, i) => position.set(n, i)));
  index();
  for (let sweep = 0; sweep < 8; sweep += 1) {
    const order = sweep % 2 === 0 ? layers.keys() : [...layers.keys()].reverse();
    for (const li of order) {
      const adjacent = sweep % 2 === 0 ? li - 1 : li + 1;
      const weight = new Map(layers[li].map((n) => {
        const ps = neighbours.get(n).filter((m) => layer.get(m) === adjacent).map((m) => position.get(m));
        return [n, ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : position.get(n)];
      }));
      layers[li].sort((a, b) => weight.get(a) - weight.get(b));
      index();
    }
  }
  return { layers, layer, position };
}

function drawGraph(graph, params) {
  const { layers } = layout(graph.nodes, graph.edges);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const tallest = Math.max(...layers.map((l) => l.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y + 30;
  const width = PAD * 2 + layers.length * NODE_W + (layers.length - 1) * GAP_X;
  const at = new Map();
  layers.forEach((names, li) => {
    const offset = ((tallest - names.length) * (NODE_H + GAP_Y)) / 2;
    names.forEach((name, i) => at.set(name, { x: PAD + li * (NODE_W + GAP_X), y: PAD + offset + i * (NODE_H + GAP_Y) }));
  });
  const svg = s('svg', { class: 'map-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Service map' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z' }))));
  const rangeQ = Object.fromEntries(['lookback', 'start', 'end'].map((k) => [k, params.get(k)]));

  for (const e of graph.edges) {
    const a = at.get(e.parent);
    const b = at.get(e.child);
    if (!a || !b) continue;
    let d;
    let label;
    if (e.parent === e.child) {
      const x = a.x + NODE_W - 30;
      d = `M${x},${a.y} C${x - 10},${a.y - 40} ${x + 40},${a.y - 40} ${x + 30},${a.y}`;
      label = { x: x + 14, y: a.y - 32 };
    } else {
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x;
      const y2 = b.y + NODE_H / 2;
      if (x2 > x1) {
        const mid = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`;
        label = { x: mid, y: (y1 + y2) / 2 - 5 };
      } else {
        const low = Math.max(a.y, b.y) + NODE_H + 26;
        d = `M${x1},${y1} C${x1 + 80},${low} ${x2 - 80},${low} ${x2 - 2},${y2}`;
        label = { x: (x1 + x2) / 2, y: low - 8 };
      }
    }
    const widthPx = Math.min(6, 1.2 + Math.log10(1 + (e.rate || 0)) * 1.6);
    const text = `${fmtRate(e.rate)} · ${fmtPct(e.errorRate)} · p95 ${fmtMs(e.p95Ms)}`;
    const edge = s('g', { class: `edge ${e.errors ? 'errors' : ''}`, dataset: { parent: e.parent, child: e.child } },
      s('path', { d, 'stroke-width': widthPx, 'marker-end': 'url(#arrow)' }),
      s('text', { x: label.x, y: label.y, 'text-anchor': 'middle', text }));
    edge.addEventListener('mousemove', (event) => tooltip.show(event.clientX, event.clientY, [
      h('div', { class: 't-title', text: `${e.parent} → ${e.child}` }),
      h('div', { text: `${fmtCount(e.calls)} calls · ${fmtRate(e.rate)} · ${fmtCount(e.errors)} errors (${fmtPct(e.errorRate)})` }),
      h('div', { text: `p50 ${fmtMs(e.p50Ms)} · p95 ${fmtMs(e.p95Ms)} · p99 ${fmtMs(e.p99Ms)}` }),
      e.unpaired ? h('div', { class: 'muted', text: `${fmtCount(e.unpaired)} seen from the caller only` }) : null,
    ]));
    edge.addEventListener('mouseleave', () => tooltip.hide());
    svg.append(edge);
  }

  for (const [name, { x, y }] of at) {
    const n = byName.get(name);
    const type = n.type || 'service';
    const isService = type === 'service';
    const shown = name.length > 24 ? `${name.slice(0, 23)}…` : name;
    const meta = n.calls ? `${fmtRate(n.rate)} · ${fmtPct(n.errorRate)} err · p95 ${fmtMs(n.p95Ms)}` : 'no calls received';
    const node = s('g', {
      class: `node ${isService ? 'service' : 'virtual'} ${n.errors ? 'has-errors' : ''}`,
      transform: `translate(${x},${y})`,
      dataset: { name, type },
    },
    s('rect', { width: NODE_W, height: NODE_H, rx: 7 }),
    s('rect', { width: 4, height: NODE_H - 14, x: 0, y: 7, rx: 2, style: { fill: isService ? colorFor(name) : 'var(--muted)', stroke: 'none' } }),
    s('text', { class: 'type', x: 14, y: 16, text: `${ICONS[type] || '●'} ${type}` }),
    s('text', { class: 'name', x: 14, y: 33, text: shown }),
    s('text', { class: 'meta', x: 14, y: 49, text: meta }));
    node.addEventListener('mousemove', (event) => tooltip.show(event.clientX, event.clientY, [
      h('div', { class: 't-title', text: `${name} (${type})` }),
      h('div', { text: `${fmtCount(n.calls)} calls · ${fmtRate(n.rate)} · ${fmtPct(n.errorRate)} errors` }),
      h('div', { text: `p50 ${fmtMs(n.p50Ms)} · p95 ${fmtMs(n.p95Ms)} · p99 ${fmtMs(n.p99Ms)}` }),
      h('div', { class: 'muted', text: isService ? 'Click for the service overview' : 'A virtual node: seen from its callers' }),
    ]));
    node.addEventListener('mouseleave', () => tooltip.hide());
    if (isService) node.addEventListener('click', () => navigate(`/service/${encodeURIComponent(name)}${query(rangeQ)}`));
    svg.append(node);
  }
  return svg;
}

function edgeTable(graph, params) {
  const rangeQ = Object.fromEntries(['lookback', 'start', 'end'].map((k) => [k, params.get(k)]));
  const serviceLink = (name, type) => (type === 'service' || type === undefined
    ? h('a', { href: `/service/${encodeURIComponent(name)}${query(rangeQ)}`, text: name })
    : h('span', {}, name, h('span', { class: 'muted', text: ` (${type})` })));
  const table = sortableTable({
    sort: params.get('sort') || 'calls:desc',
    onSort: (sort) => setParams({ sort }),
    columns: [
      { key: 'parent', label: 'Caller', render: (e) => serviceLink(e.parent) },
      { key: 'child', label: 'Callee', render: (e) => serviceLink(e.child, e.childType) },
      { key: 'calls', label: 'Calls', num: true, render: (e) => fmtCount(e.calls) },
      { key: 'rate', label: 'Calls/s', num: true, render: (e) => fmtRate(e.rate) },
      { key: 'errorRate', label: 'Errors', num: true, render: (e) => h('span', { class: e.errors ? 'error-text' : '', text: fmtPct(e.errorRate) }) },
      { key: 'p50Ms', label: 'p50', num: true, render: (e) => fmtMs(e.p50Ms) },
      { key: 'p95Ms', label: 'p95', num: true, render: (e) => fmtMs(e.p95Ms) },
      { key: 'p99Ms', label: 'p99', num: true, render: (e) => fmtMs(e.p99Ms) },
      { key: 'traces', label: '', value: () => 0, render: (e) => h('a', { href: `/search${query({ service: e.parent, ...rangeQ })}`, text: 'traces →' }) },
    ],
    rows: graph.edges,
    className: 'edge-table',
  });
  return h('div', { class: 'panel' }, h('div', { class: 'panel-body' }, h('h2', { text: `Edges (${graph.edges.length})` }), table));
}
