// A sortable table. Columns: {key, label, num?, value(row) → sortable, render(row) → Node|text}.

import { h } from './util.js';

export function sortableTable({ columns, rows, sort, onSort, onRowClick, className = '' }) {
  let [key, dir] = (sort || `${columns[0].key}:asc`).split(':');
  const body = h('tbody');
  const head = h('tr');
  const table = h('table', { class: `grid ${className}` }, h('thead', {}, head), body);

  const draw = () => {
    head.replaceChildren(...columns.map((c) => h('th', {
      class: `sortable ${c.num ? 'num' : ''}`,
      text: `${c.label}${c.key === key ? (dir === 'asc' ? ' ▲' : ' ▼') : ''}`,
      onclick: () => {
        dir = c.key === key && dir === 'desc' ? 'asc' : c.key === key ? 'desc' : c.num ? 'desc' : 'asc';
        key = c.key;
        onSort?.(`${key}:${dir}`);
        draw();
      },
    })));
    const column = columns.find((c) => c.key === key) || columns[0];
    const value = column.value || ((row) => row[column.key]);
    const sorted = [...rows].sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      const cmp = va === vb ? 0 : va === null || va === undefined ? 1 : vb === null || vb === undefined ? -1
        : typeof va === 'number' ? va - vb : String(va).localeCompare(String(vb));
      return dir === 'asc' ? cmp : -cmp;
    });
    body.replaceChildren(...sorted.map((row) => h('tr', {
      class: onRowClick ? 'clickable' : '',
      onclick: onRowClick ? (event) => { if (!event.target.closest('a')) onRowClick(row); } : undefined,
    }, columns.map((c) => h('td', { class: c.num ? 'num' : '' }, c.render ? c.render(row) : String(row[c.key] ?? '–'))))));
  };
  draw();
  return table;
}
