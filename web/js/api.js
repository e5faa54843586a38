// The HTTP API on the same origin. Every call throws an Error with the server's message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body?.error) message = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

/** `params`: an object or URLSearchParams; array values repeat the key; empty values drop. */
export function query(params = {}) {
  const search = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params);
  for (const [key, value] of entries) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== '') search.append(key, v);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function getJson(path, params, signal) {
  const response = await fetch(`${path}${query(params)}`, { headers: { accept: 'application/json' }, signal });
  if (!response.ok) throw await failure(response);
  return response.json();
}

let servicesCache = null;

export const api = {
  async services() {
    const now = Date.now();
    if (!servicesCache || now - servicesCache.at > 15_000) {
      servicesCache = { at: now, list: getJson('/api/v1/services').then((r) => r.services) };
      servicesCache.list.catch(() => { servicesCache = null; });
    }
    return servicesCache.list;
  },
  async operations(service, kind) {
    const body = await getJson(`/api/v1/services/${encodeURIComponent(service)}/operations`, { kind });
    return body.operations;
  },
  async search(params, signal) {
    return (await getJson('/api/v1/search', params, signal)).traces;
  },
  trace(id, signal) {
    return getJson(`/api/v1/traces/${encodeURIComponent(id)}`, {}, signal);
  },
  dependencies(params, signal) {
    return getJson('/api/v1/dependencies', params, signal);
  },
  red(params, signal) {
    return getJson('/api/v1/red', params, signal);
  },
  async sql(text, signal) {
    const response = await fetch('/api/v1/sql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: text }),
      signal,
    });
    if (!response.ok) throw await failure(response);
    return response.json();
  },
  async sqlCsv(text) {
    const response = await fetch('/api/v1/sql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/csv' },
      body: JSON.stringify({ query: text }),
    });
    if (!response.ok) throw await failure(response);
    return response.blob();
  },
};
