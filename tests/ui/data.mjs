// Known traces for the UI tests, sent through OTLP/HTTP JSON, and the generated 100,000-span
// trace. Times are the last 25 seconds: the default one-hour look-back finds them, and the
// service graph takes them (it counts spans older than its lateness, 40 s, as late).

const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

const hex = (n, width) => n.toString(16).padStart(width, '0');
const ns = (ms) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

function value(v) {
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isInteger(v)) return { intValue: String(v) };
  if (typeof v === 'number') return { doubleValue: v };
  return { stringValue: String(v) };
}
const kvs = (obj = {}) => Object.entries(obj).map(([key, v]) => ({ key, value: value(v) }));

/**
 * A span: {service, id, parent, name, kind, at (ms after the trace start), ms (duration),
 * attrs, error (status message), events: [{at, name, attrs}], links: [{traceId, spanId}]}.
 */
function otlpSpan(traceId, startMs, sp) {
  const begin = startMs + sp.at;
  return {
    traceId,
    spanId: sp.id,
    parentSpanId: sp.parent || '',
    name: sp.name,
    kind: KIND[sp.kind || 'internal'],
    startTimeUnixNano: ns(begin),
    endTimeUnixNano: ns(begin + sp.ms),
    attributes: kvs(sp.attrs),
    events: (sp.events || []).map((e) => ({ timeUnixNano: ns(begin + e.at), name: e.name, attributes: kvs(e.attrs) })),
    links: (sp.links || []).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: [] })),
    status: sp.error ? { code: 2, message: sp.error } : { code: 0 },
  };
}

/** OTLP/JSON for traces: [{traceId, startMs, spans}], one resource per service. */
export function exportRequest(traces) {
  const byService = new Map();
  for (const t of traces) {
    for (const sp of t.spans) {
      if (!byService.has(sp.service)) byService.set(sp.service, []);
      byService.get(sp.service).push(otlpSpan(t.traceId, t.startMs, sp));
    }
  }
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: kvs({ 'service.name': service, 'service.version': '1.4.2', 'k8s.namespace.name': 'shop' }) },
      scopeSpans: [{ scope: { name: 'meshscope-ui-test', version: '1.0' }, spans }],
    })),
  };
}

export const CHECKOUT_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const BROWSE_ID = '0af7651916cd43dd8448eb211c80319c';

/**
 * The known traces. `checkout`: 8 spans, 3 services, 1 error, 250 ms (its critical path
 * is every span but `render recommendations`, which runs beside `POST /cart`); `browse`: 4 spans,
 * 2 services, no error, 40 ms; plus 12 smaller `browse`-like traces over the last 25 s.
 */
export function knownTraces(now = Date.now()) {
  const checkout = {
    traceId: CHECKOUT_ID,
    startMs: now - 12_000,
    spans: [
      { service: 'frontend', id: 'a000000000000001', name: 'GET /checkout', kind: 'server', at: 0, ms: 250,
        attrs: { 'http.request.method': 'GET', 'http.route': '/checkout', 'http.response.status_code': 200, 'customer.tier': 'gold' } },
      { service: 'frontend', id: 'a000000000000002', parent: 'a000000000000001', name: 'POST /cart', kind: 'client', at: 10, ms: 85,
        attrs: { 'http.request.method': 'POST', 'server.address': 'cart', 'peer.service': 'cart' } },
      { service: 'cart', id: 'a000000000000003', parent: 'a000000000000002', name: 'POST /cart', kind: 'server', at: 12, ms: 80,
        attrs: { 'http.request.method': 'POST', 'http.route': '/cart', 'http.response.status_code': 200 } },
      { service: 'cart', id: 'a000000000000004', parent: 'a000000000000003', name: 'redis GET', kind: 'client', at: 20, ms: 5,
        attrs: { 'db.system': 'redis', 'server.address': 'redis', 'db.statement': 'GET cart:42' } },
      { service: 'frontend', id: 'a000000000000008', parent: 'a000000000000001', name: 'render recommendations', kind: 'internal', at: 15, ms: 30 },
      { service: 'frontend', id: 'a000000000000005', parent: 'a000000000000001', name: 'POST /pay', kind: 'client', at: 100, ms: 140,
        attrs: { 'http.request.method': 'POST', 'server.address': 'payments', 'peer.service': 'payments' } },
      { service: 'payments', id: 'a000000000000006', parent: 'a000000000000005', name: 'POST /pay', kind: 'server', at: 105, ms: 120,
        attrs: { 'http.request.method': 'POST', 'http.route': '/pay', 'http.response.status_code': 402, retries: 3 },
        error: 'card declined',
        events: [{ at: 110, name: 'exception', attrs: { 'exception.type': 'CardDeclined', 'exception.message': 'card declined by issuer' } }] },
      { service: 'payments', id: 'a000000000000007', parent: 'a000000000000006', name: 'publish payments', kind: 'producer', at: 200, ms: 8,
        attrs: { 'messaging.system': 'kafka', 'messaging.destination.name': 'payments' } },
    ],
  };
  const browse = (traceId, startMs, total, prefix) => ({
    traceId,
    startMs,
    spans: [
      { service: 'frontend', id: `${prefix}01`, name: 'GET /products', kind: 'server', at: 0, ms: total,
        attrs: { 'http.request.method': 'GET', 'http.route': '/products', 'http.response.status_code': 200 } },
      { service: 'frontend', id: `${prefix}02`, parent: `${prefix}01`, name: 'GET /catalog', kind: 'client', at: 2, ms: total - 6,
        attrs: { 'http.request.method': 'GET', 'server.address': 'catalog', 'peer.service': 'catalog' } },
      { service: 'catalog', id: `${prefix}03`, parent: `${prefix}02`, name: 'GET /catalog', kind: 'server', at: 4, ms: total - 10,
        attrs: { 'http.request.method': 'GET', 'http.route': '/catalog', 'http.response.status_code': 200 } },
      { service: 'catalog', id: `${prefix}04`, parent: `${prefix}03`, name: 'SELECT products', kind: 'client', at: 6, ms: total - 16,
        attrs: { 'db.system': 'postgresql', 'db.name': 'shop', 'server.address': 'postgres' },
        links: prefix === 'b0000000000000' ? [{ traceId: CHECKOUT_ID, spanId: 'a000000000000001' }] : [] },
    ],
  });
  const traces = [checkout, browse(BROWSE_ID, now - 10_000, 40, 'b0000000000000')];
  for (let i = 0; i < 12; i += 1) {
    traces.push(browse(`c${hex(i, 31)}`, now - 25_000 + i * 1_500, 18 + i * 3, `c${hex(i, 13)}`));
  }
  return traces;
}

/** Posts `traces` to the OTLP/HTTP receiver at `base` (http://host:port). */
export async function send(base, traces) {
  const response = await fetch(`${base}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(exportRequest(traces)),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`OTLP export failed: ${response.status} ${text}`);
  const body = text ? JSON.parse(text) : {};
  if (body.partialSuccess?.rejectedSpans && Number(body.partialSuccess.rejectedSpans) > 0) {
    throw new Error(`spans rejected: ${text}`);
  }
}

/**
 * A trace of `count` spans over 12 services: a wide, deep tree (each span has up to 6
 * children), deterministic, 30 s long. Returns the OTLP/JSON document.
 */
export function bigTrace(count, traceId, now = Date.now()) {
  const services = Array.from({ length: 12 }, (_, i) => `svc-${String.fromCharCode(97 + i)}`);
  const spans = [];
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  // breadth-first: span i's parent is floor((i - 1) / 6), so depth is about log6(count)
  const start = new Array(count);
  const duration = new Array(count);
  start[0] = 0;
  duration[0] = 30_000;
  for (let i = 0; i < count; i += 1) {
    if (i > 0) {
      const p = Math.floor((i - 1) / 6);
      const offset = random() * duration[p] * 0.5;
      start[i] = start[p] + offset;
      duration[i] = Math.max(0.01, (duration[p] - offset) * (0.3 + random() * 0.6));
    }
    spans.push({
      service: services[i === 0 ? 0 : Math.floor(random() * services.length)],
      id: hex(i + 1, 16),
      parent: i === 0 ? '' : hex(Math.floor((i - 1) / 6) + 1, 16),
      name: `operation-${i % 97}`,
      kind: i === 0 ? 'server' : i % 2 ? 'client' : 'server',
      at: start[i],
      ms: duration[i],
      attrs: { 'http.route': `/route/${i % 50}`, index: i },
      error: i % 997 === 0 && i > 0 ? 'boom' : undefined,
    });
  }
  return exportRequest([{ traceId, startMs: now - 60_000, spans }]);
}
