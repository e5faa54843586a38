// The OpenTelemetry JavaScript SDK's trace exporters against meshscope: OTLP over gRPC, HTTP/JSON
// (which writes 64-bit integers as JSON numbers, where Python and Rust write strings) and
// HTTP/protobuf, and Zipkin v2 JSON. Each exporter sends the same two spans under its own
// service name; they are read back through the SQL API.
//
//   MESHSCOPE_BIN=target/debug/meshscope tests/js/run.sh

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';

let server;
let addr;
let dataDir;

/** Starts the server on free ports and resolves with its addresses from the listening line. */
function start() {
  const bin = process.env.MESHSCOPE_BIN;
  if (!bin) throw new Error('MESHSCOPE_BIN is not set: run the tests through tests/js/run.sh');
  dataDir = mkdtempSync(join(tmpdir(), 'meshscope-js-'));
  server = spawn(
    bin,
    [
      '--otlp-grpc-addr', '127.0.0.1:0', '--otlp-http-addr', '127.0.0.1:0',
      '--http-addr', '127.0.0.1:0', '--zipkin-addr', '127.0.0.1:0', '--data-dir', dataDir,
    ],
    { env: { ...process.env, MESHSCOPE_LOG: 'info', NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let log = '';
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const line = log.split('\n').find((l) => l.includes('meshscope listening'));
      if (line && !addr) {
        const clean = line.replace(/\x1b\[[0-9;]*m/g, '');
        addr = Object.fromEntries([...clean.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
        resolve();
      }
    });
    server.on('exit', (code) => {
      if (!addr) reject(new Error(`meshscope exited (${code}) before listening:\n${log}`));
    });
  });
}

before(start);

after(async () => {
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.on('exit', resolve));
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Sends a server span and its client child through `exporter`; returns their ids. */
async function emit(exporter, service) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'k8s.pod.name': `${service}-6c4f` }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('js-interop', '3.1.0');
  const parent = tracer.startSpan('GET /cart', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'GET',
      'http.route': '/cart',
      'http.response.status_code': 503,
      'retry.count': 2,
      ratio: 0.25,
      'cache.hit': false,
      tags: ['a', 'b'],
    },
  });
  parent.addEvent('exception', { 'exception.type': 'Error', 'exception.message': 'upstream reset' });
  parent.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream reset' });
  const child = tracer.startSpan(
    'charge',
    { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc', 'rpc.service': 'Payments' } },
    trace.setSpan(context.active(), parent),
  );
  child.end();
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  return {
    trace: parent.spanContext().traceId,
    parent: parent.spanContext().spanId,
    child: child.spanContext().spanId,
  };
}

async function sql(query) {
  const response = await fetch(`http://${addr.http}/api/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  const names = answer.columns.map((c) => c.name);
  return answer.rows.map((row) => Object.fromEntries(row.map((v, i) => [names[i], v])));
}

/** The two spans of `service`, checked for what every exporter carries; `zipkin`: the JS Zipkin
 * exporter sends no scope and no event attributes. */
async function stored(service, ids, { zipkin = false } = {}) {
  const rows = await sql(
    'SELECT span_id, parent_span_id, trace_id, name, kind, status_code, status_message, ' +
      'scope_name, scope_version, http_method, http_route, http_status_code, rpc_service, k8s_pod, ' +
      `attributes, attribute_types, events FROM spans WHERE service_name = '${service}'`,
  );
  const byId = Object.fromEntries(rows.map((r) => [r.span_id, r]));
  assert.deepEqual(Object.keys(byId).sort(), [ids.parent, ids.child].sort());
  const parent = byId[ids.parent];
  const child = byId[ids.child];
  assert.equal(parent.trace_id, ids.trace);
  assert.equal(child.trace_id, ids.trace);
  assert.equal(parent.parent_span_id, '');
  assert.equal(child.parent_span_id, ids.parent);
  assert.deepEqual([parent.name, parent.kind, child.kind], ['GET /cart', 'server', 'client']);
  assert.deepEqual([parent.status_code, parent.status_message], ['error', 'upstream reset']);
  assert.deepEqual(
    [parent.scope_name, parent.scope_version],
    zipkin ? ['', ''] : ['js-interop', '3.1.0'],
  );
  // promoted columns, from the new semantic-convention names
  assert.deepEqual(
    [parent.http_method, parent.http_route, parent.http_status_code],
    ['GET', '/cart', 503],
  );
  assert.equal(child.rpc_service, 'Payments');
  assert.equal(parent.k8s_pod, `${service}-6c4f`);
  assert.equal(parent.attributes['retry.count'], '2');
  assert.equal(parent.events.length, 1);
  assert.equal(parent.events[0].name, 'exception');
  if (!zipkin) {
    assert.match(parent.events[0].attributes, /"exception.message":"upstream reset"/);
  }
  return parent;
}

for (const [name, make] of [
  ['otlp-grpc', () => new GrpcExporter({ url: `http://${addr.otlp_grpc}` })],
  ['otlp-http-json', () => new JsonExporter({ url: `http://${addr.otlp_http}/v1/traces` })],
  ['otlp-http-proto', () => new ProtoExporter({ url: `http://${addr.otlp_http}/v1/traces` })],
]) {
  test(`the JS SDK's ${name} exporter: every field arrives, typed`, async () => {
    const service = `js-${name}`;
    const ids = await emit(make(), service);
    const parent = await stored(service, ids);
    // OTLP keeps the types of values that are not strings
    assert.deepEqual(parent.attribute_types, {
      'http.response.status_code': 'int',
      'retry.count': 'int',
      ratio: 'double',
      'cache.hit': 'bool',
      tags: 'array',
    });
    assert.equal(parent.attributes.tags, '["a","b"]');
  });
}

test("the JS SDK's Zipkin exporter: what Zipkin carries arrives", async () => {
  const service = 'js-zipkin';
  const ids = await emit(new ZipkinExporter({ url: `http://${addr.zipkin}/api/v2/spans` }), service);
  const parent = await stored(service, ids, { zipkin: true });
  // Zipkin tags are strings: no types survive, and the exporter writes a list as "a,b"
  assert.deepEqual(parent.attribute_types, {});
  assert.equal(parent.attributes.tags, 'a,b');
});
