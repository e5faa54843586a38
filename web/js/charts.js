// Hand-written SVG charts: time-series lines and a time/duration scatter plot. Each chart is
// a box that draws itself at its current width and redraws when resized.

import { h, s, tooltip, fmtTime, colorFor } from './util.js';

const MARGIN = { top: 8, right: 12, bottom: 20, left: 52 };

/** About `count` round values covering [min, max]. */
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw) ?? raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

const TIME_STEPS = [
  1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3,
  3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 172800e3, 604800e3,
];

/** Round local times across [min, max] (epoch ms), with a label format. */
export function timeTicks(min, max, count = 6) {
  const step = TIME_STEPS.find((v) => (max - min) / v <= count) ?? TIME_STEPS.at(-1);
  const offset = new Date(min).getTimezoneOffset() * 60e3;
  const ticks = [];
  for (let t = Math.ceil((min - offset) / step) * step + offset; t <= max; t += step) ticks.push(t);
  const label = (t) => {
    if (max - min > 2 * 86400e3) return fmtTime(t, { millis: false }).slice(5, 16);
    return fmtTime(t, { date: false, millis: false }).slice(0, step < 60e3 ? 8 : 5);
  };
  return { ticks, label };
}

/** A box that calls draw(width) now and on every resize. */
function responsive(className, draw) {
  const box = h('div', { class: `chart-box ${className || ''}` });
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    const width = Math.floor(box.clientWidth);
    if (width > 0 && width !== lastWidth) {
      lastWidth = width;
      box.replaceChildren(...[draw(width)].flat());
    }
  });
  observer.observe(box);
  return box;
}

function frame(width, height, xDomain, yDomain) {
  const innerW = Math.max(10, width - MARGIN.left - MARGIN.right);
  const innerH = height - MARGIN.top - MARGIN.bottom;
  const [x0, x1] = xDomain;
  const [y0, y1] = yDomain;
  return {
    innerW,
    innerH,
    x: (v) => MARGIN.left + ((v - x0) / (x1 - x0 || 1)) * innerW,
    y: (v) => MARGIN.top + innerH - ((v - y0) / (y1 - y0 || 1)) * innerH,
    xInvert: (px) => x0 + ((px - MARGIN.left) / innerW) * (x1 - x0),
  };
}

function axes(svg, f, xDomain, yTicks, yFormat) {
  for (const t of yTicks) {
    const y = f.y(t);
    svg.append(
      s('line', { class: 'grid-line', x1: MARGIN.left, x2: MARGIN.left + f.innerW, y1: y, y2: y }),
      s('text', { x: MARGIN.left - 6, y: y + 3, 'text-anchor': 'end', text: yFormat(t) }),
    );
  }
  const { ticks, label } = timeTicks(xDomain[0], xDomain[1], Math.max(2, Math.floor(f.innerW / 90)));
  const base = MARGIN.top + f.innerH;
  svg.append(s('line', { class: 'axis-line', x1: MARGIN.left, x2: MARGIN.left + f.innerW, y1: base, y2: base }));
  for (const t of ticks) {
    svg.append(s('text', { x: f.x(t), y: base + 14, 'text-anchor': 'middle', text: label(t) }));
  }
}

/**
 * Lines over time. `series`: [{name, color?, points: [[epochMs, value|null]]}]; gaps at null.
 * Options: height, xDomain ([ms, ms]), yFormat, yMin, onClick(epochMs of the nearest point).
 */
export function lineChart({ series, height = 170, xDomain, yFormat = String, yMin = 0, onClick }) {
  const all = series.flatMap((se) => se.points);
  const xs = all.map((p) => p[0]);
  const domainX = xDomain || [Math.min(...xs), Math.max(...xs)];
  const values = all.map((p) => p[1]).filter((v) => v !== null && Number.isFinite(v));
  const maxY = Math.max(yMin, ...values);
  const yTicks = niceTicks(yMin, maxY > yMin ? maxY : yMin + 1, 4);
  const domainY = [yMin, Math.max(yTicks.at(-1), maxY)];
  const legend = h('div', { class: 'chart-legend' }, series.map((se) => h('span', { class: 'row' },
    h('span', { class: 'swatch', style: { background: se.color || colorFor(se.name) } }), se.name)));

  const box = responsive('line-chart', (width) => {
    const f = frame(width, height, domainX, domainY);
    const svg = s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}` });
    axes(svg, f, domainX, yTicks, yFormat);
    for (const se of series) {
      let d = '';
      let pen = false;
      for (const [x, y] of se.points) {
        if (y === null || !Number.isFinite(y)) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${f.x(x).toFixed(1)},${f.y(y).toFixed(1)}`;
        pen = true;
      }
      svg.append(s('path', { class: 'line', d, stroke: se.color || colorFor(se.name) }));
      if (se.points.filter((p) => p[1] !== null).length === 1) {
        const [x, y] = se.points.find((p) => p[1] !== null);
        svg.append(s('circle', { cx: f.x(x), cy: f.y(y), r: 2.5, fill: se.color || colorFor(se.name) }));
      }
    }
    const cursor = s('line', { class: 'cursor', y1: MARGIN.top, y2: MARGIN.top + f.innerH, visibility: 'hidden' });
    const overlay = s('rect', { x: MARGIN.left, y: MARGIN.top, width: f.innerW, height: f.innerH, fill: 'transparent' });
    svg.append(cursor, overlay);
    const times = [...new Set(xs)].sort((a, b) => a - b);
    overlay.addEventListener('mousemove', (event) => {
      const px = event.clientX - svg.getBoundingClientRect().left;
      const t = f.xInvert(px);
      let best = times[0];
      for (const v of times) if (Math.abs(v - t) < Math.abs(best - t)) best = v;
      cursor.setAttribute('x1', f.x(best));
      cursor.setAttribute('x2', f.x(best));
      cursor.setAttribute('visibility', 'visible');
      tooltip.show(event.clientX, event.clientY, [
        h('div', { class: 't-title', text: fmtTime(best, { millis: false }) }),
        ...series.map((se) => {
          const point = se.points.find((p) => p[0] === best);
          return h('div', { class: 'row' },
            h('span', { class: 'swatch', style: { background: se.color || colorFor(se.name) } }),
            `${se.name}: `, h('b', { text: point && point[1] !== null ? yFormat(point[1]) : '–' }));
        }),
      ]);
    });
    if (onClick) {
      overlay.style.cursor = 'pointer';
      overlay.addEventListener('click', () => {
        const x = Number(cursor.getAttribute('x1'));
        const best = times.reduce((a, b) => (Math.abs(f.x(b) - x) < Math.abs(f.x(a) - x) ? b : a), times[0]);
        tooltip.hide();
        onClick(best);
      });
    }
    overlay.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      tooltip.hide();
    });
    return svg;
  });
  return h('div', {}, box, series.length > 1 ? legend : null);
}

/**
 * Points over time: `points` [{x: epochMs, y, r?, color?, tip: () => Node|string, onClick}].
 * Options: height, xDomain, yFormat.
 */
export function scatterPlot({ points, height = 150, xDomain, yFormat = String }) {
  const xs = points.map((p) => p.x);
  let domainX = xDomain || [Math.min(...xs), Math.max(...xs)];
  if (domainX[1] - domainX[0] < 1000) domainX = [domainX[0] - 500, domainX[1] + 500];
  const maxY = Math.max(1e-9, ...points.map((p) => p.y));
  const yTicks = niceTicks(0, maxY * 1.08, 3);
  const domainY = [0, Math.max(yTicks.at(-1), maxY)];
  return responsive('scatter-chart', (width) => {
    const f = frame(width, height, domainX, domainY);
    const svg = s('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}` });
    axes(svg, f, domainX, yTicks, yFormat);
    for (const p of points) {
      const dot = s('circle', {
        class: 'dot', cx: f.x(p.x), cy: f.y(p.y), r: p.r || 4, style: { fill: p.color || 'var(--accent)' }, 'fill-opacity': 0.75,
      });
      dot.addEventListener('mousemove', (event) => tooltip.show(event.clientX, event.clientY, p.tip()));
      dot.addEventListener('mouseleave', () => tooltip.hide());
      dot.addEventListener('click', () => {
        tooltip.hide();
        p.onClick?.();
      });
      svg.append(dot);
    }
    return svg;
  });
}
