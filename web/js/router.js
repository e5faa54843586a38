// History-style routing: every view's state lives in the URL (path + query string).
//
// A route is a regular expression over the path and a view module `{ render(el, ctx) }`.
// render gets `{ params: URLSearchParams, match: [...], signal }` and may return a cleanup
// function. Views change their own state in the URL with setParams() (replaceState by
// default, so the page is not re-rendered); links and history navigation re-render.

const routes = [];
let container = null;
let current = null; // { cleanup, controller }
const listeners = [];

export function route(pattern, view) {
  routes.push({ pattern, view });
}

/** Called after every render with the path, e.g. to mark the current nav entry. */
export function onNavigate(fn) {
  listeners.push(fn);
}

export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, location.origin);
  if (target.origin !== location.origin) {
    location.href = target.href;
    return;
  }
  const next = target.pathname + target.search + target.hash;
  if (replace) history.replaceState(null, '', next);
  else history.pushState(null, '', next);
  render();
}

/**
 * Updates query parameters of the current URL without re-rendering. `values` maps names to
 * strings, arrays (repeated keys), or null/'' to remove them.
 */
export function setParams(values, { push = false } = {}) {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(values)) {
    url.searchParams.delete(key);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== null && v !== undefined && v !== '' && v !== false) url.searchParams.append(key, v);
    }
  }
  const next = url.pathname + url.search + url.hash;
  if (next === location.pathname + location.search + location.hash) return;
  if (push) history.pushState(null, '', next);
  else history.replaceState(null, '', next);
}

function render() {
  if (current) {
    current.controller.abort();
    current.cleanup?.();
    current = null;
  }
  const path = location.pathname;
  for (const { pattern, view } of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    const controller = new AbortController();
    container.replaceChildren();
    container.className = 'view';
    const cleanup = view.render(container, {
      params: new URLSearchParams(location.search),
      match: match.slice(1).map(decodeURIComponent),
      signal: controller.signal,
    });
    current = { controller, cleanup };
    for (const fn of listeners) fn(path);
    return;
  }
  navigate(`/search${location.search}`, { replace: true });
}

function interceptLinks(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  event.preventDefault();
  navigate(url.href);
}

export function start(el) {
  container = el;
  window.addEventListener('popstate', render);
  document.addEventListener('click', interceptLinks);
  render();
}
