// Entry point: routes, navigation bar, "go to trace".

import { route, start, onNavigate, navigate } from './router.js';
import * as search from './search.js';
import * as trace from './trace.js';
import * as map from './map.js';
import * as service from './service.js';
import * as sql from './sql.js';

route(/^\/(?:search)?\/?$/, search);
route(/^\/trace\/([^/]+)\/?$/, trace);
route(/^\/map\/?$/, map);
route(/^\/service\/([^/]+)\/?$/, service);
route(/^\/sql\/?$/, sql);

const viewOf = { search: 'search', trace: 'search', map: 'map', service: 'map', sql: 'sql' };

onNavigate((path) => {
  const view = viewOf[path.split('/')[1]] || 'search';
  for (const a of document.querySelectorAll('.nav a')) {
    a.classList.toggle('current', a.dataset.view === view);
  }
});

document.getElementById('goto').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = event.target.elements.id;
  const id = input.value.trim().toLowerCase();
  if (!id) return;
  input.value = '';
  navigate(`/trace/${encodeURIComponent(id)}`);
});

start(document.getElementById('view'));
