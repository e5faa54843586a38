// End-to-end tests of every view against a real server with known traces (see data.mjs):
// search → trace → span detail, service map → service overview, SQL console, deep links.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP, OTLP_HTTP, SHOTS, launch, newPage, shot, eventually } from './lib.mjs';
import { knownTraces, send, CHECKOUT_ID, BROWSE_ID } from './data.mjs';

let browser;
let page;

before(async () => {
  await send(OTLP_HTTP, knownTraces());
  await eventually(async () => {
    const r = await fetch(`${HTTP}/api/v1/search?lookback=1h&limit=100`);
    return (await r.json()).traces?.length >= 14;
  }, 20_000, 'the known traces to be searchable');
  browser = await launch();
  page = await newPage(browser.context);
});

after(async () => {
  await browser?.close();
  console.log(`screenshots: ${SHOTS}`);
});

const texts = (selector) => page.locator(selector).allTextContents();

test('the server serves the UI, deep links and never shadows the API', async () => {
  const root = await fetch(`${HTTP}/`);
  assert.equal(root.status, 200);
  assert.match(root.headers.get('content-type'), /text\/html/);
  const deep = await fetch(`${HTTP}/trace/${CHECKOUT_ID}?span=a000000000000006`);
  assert.equal(deep.status, 200);
  assert.equal(await deep.text(), await root.text());
  const api = await fetch(`${HTTP}/api/v1/nope`);
  assert.equal(api.status, 404);
  assert.ok((await api.json()).error);
  assert.equal((await fetch(`${HTTP}/healthz`)).status, 200);
  const script = await fetch(`${HTTP}/js/main.js`);
  assert.match(script.headers.get('content-type'), /javascript/);
  const again = await fetch(`${HTTP}/js/main.js`, { headers: { 'if-none-match': script.headers.get('etag') } });
  assert.equal(again.status, 304);
});

test('search: pickers, filters, results and scatter plot', async () => {
  await page.goto(`${HTTP}/`);
  await page.locator('.trace-item').first().waitFor();
  // pickers come from the API
  await eventually(async () => (await texts('select[name=service] option')).includes('payments'), 10_000, 'service options');
  const services = await texts('select[name=service] option');
  for (const name of ['frontend', 'cart', 'payments', 'catalog']) assert.ok(services.includes(name), `service ${name} in ${services}`);
  assert.equal(await page.locator('.trace-item').count(), 14);
  assert.equal(await page.locator('.scatter circle.dot').count(), 14);
  assert.match(await page.locator('.result-count').textContent(), /14 traces/);

  // the checkout trace's summary
  const checkout = page.locator(`.trace-item[data-trace-id="${CHECKOUT_ID}"]`);
  assert.equal(await checkout.locator('.root-service').textContent(), 'frontend');
  assert.equal(await checkout.locator('.root-operation').textContent(), 'GET /checkout');
  assert.equal(await checkout.locator('.span-count').textContent(), '8 spans');
  assert.equal(await checkout.locator('.error-count').textContent(), '1 error');
  assert.equal(await checkout.locator('.duration').textContent(), '250ms');
  const chips = await checkout.locator('.trace-services .chip').allTextContents();
  assert.deepEqual(chips.map((c) => c.replace(/[\d!]+$/, '')).sort(), ['cart', 'frontend', 'payments']);

  // the form: service + operation pickers, submit → URL → results
  await page.selectOption('select[name=service]', 'payments');
  await eventually(async () => (await texts('select[name=operation] option')).includes('POST /pay'), 10_000, 'operations of payments');
  await page.selectOption('select[name=operation]', 'POST /pay');
  await page.fill('input[name=minDuration]', '100ms');
  await page.click('button[type=submit]');
  await page.waitForURL(/service=payments/);
  assert.match(page.url(), /operation=POST\+%2Fpay|operation=POST%20%2Fpay/);
  assert.match(page.url(), /minDuration=100ms/);
  await eventually(async () => (await page.locator('.trace-item').count()) === 1, 10_000, 'one payments trace');
  assert.equal(await page.locator('.trace-item').getAttribute('data-trace-id'), CHECKOUT_ID);

  // attribute filter and duration bounds through a deep link
  await page.goto(`${HTTP}/search?attr=customer.tier%3Dgold&lookback=1h`);
  await page.locator('.trace-item').first().waitFor();
  assert.equal(await page.locator('.trace-item').count(), 1);
  assert.equal(await page.locator('textarea[name=attr]').inputValue(), 'customer.tier=gold');
  await page.goto(`${HTTP}/search?service=frontend&maxDuration=30ms&lookback=1h`);
  await page.locator('.trace-item').first().waitFor();
  const durations = await texts('.trace-item .duration');
  assert.ok(durations.length >= 1 && durations.length < 14, `durations ${durations}`);
  await page.goto(`${HTTP}/search?service=payments&status=error&lookback=1h`);
  await page.locator('.trace-item').first().waitFor();
  assert.equal(await page.locator('.trace-item').count(), 1);

  await page.goto(`${HTTP}/search?lookback=1h&sort=longest`);
  await page.locator('.trace-item').first().waitFor();
  assert.equal(await page.locator('.trace-item').first().getAttribute('data-trace-id'), CHECKOUT_ID);
  await shot(page, '1-search');
  assert.deepEqual(page.problems, []);
});

test('search → trace → span detail', async () => {
  await page.goto(`${HTTP}/search?lookback=1h`);
  await page.locator(`.trace-item[data-trace-id="${CHECKOUT_ID}"]`).click();
  await page.waitForURL(new RegExp(`/trace/${CHECKOUT_ID}`));
  await page.locator('.wf-row').first().waitFor();

  assert.equal((await page.locator('.trace-title').textContent()).trim(), 'frontend: GET /checkout');
  assert.equal(await page.locator('.stat-duration b').textContent(), '250ms');
  assert.equal(await page.locator('.stat-spans b').textContent(), '8');
  assert.equal(await page.locator('.stat-services b').textContent(), '3');
  assert.equal(await page.locator('.stat-errors b').textContent(), '1');
  assert.equal(await page.locator('.wf-row').count(), 8);
  // depth-first order, children by start time
  const ops = await texts('.wf-row .op');
  assert.deepEqual(ops, ['GET /checkout', 'POST /cart', 'POST /cart', 'redis GET', 'render recommendations', 'POST /pay', 'POST /pay', 'publish payments']);
  assert.equal(await page.locator('.wf-row .err').count(), 1);

  // span detail
  await page.locator('.wf-row', { hasText: 'payments' }).filter({ hasText: 'POST /pay' }).locator('.op').click();
  await page.waitForURL(/span=a000000000000006/);
  const detail = page.locator('.detail');
  await detail.waitFor();
  assert.equal(await detail.locator('.detail-service').textContent(), 'payments');
  assert.equal(await detail.locator('.detail-name').textContent(), 'POST /pay');
  assert.equal(await detail.locator('.detail-duration').textContent(), '120ms');
  assert.equal(await detail.locator('.detail-status').textContent(), 'error: card declined');
  const detailText = await detail.textContent();
  for (const expected of ['http.route', '/pay', 'retries', 'service.version', '1.4.2', 'exception', 'card declined by issuer', 'a000000000000006']) {
    assert.ok(detailText.includes(expected), `detail shows ${expected}`);
  }
  await shot(page, '2-trace-span-detail');

  // deep link: the same URL restores the selection
  await page.reload();
  await page.locator('.detail .detail-name').waitFor();
  assert.equal(await page.locator('.wf-row.selected .op').textContent(), 'POST /pay');

  // collapse / expand a subtree, collapse all, expand all
  await page.locator('.wf-row', { hasText: 'POST /pay' }).first().locator('.toggle').click();
  assert.equal(await page.locator('.wf-row').count(), 6);
  assert.match(page.url(), /toggle=a000000000000005/);
  await page.getByRole('button', { name: 'Collapse all' }).click();
  // the root, its two children, and the selected span's parent opened to keep it in view
  assert.deepEqual(await texts('.wf-row .op'), ['GET /checkout', 'POST /cart', 'render recommendations', 'POST /pay', 'POST /pay']);
  await page.getByRole('button', { name: 'Expand all' }).click();
  assert.equal(await page.locator('.wf-row').count(), 8);

  // critical path: every span but the one running beside POST /cart
  await page.getByRole('button', { name: 'Critical path' }).click();
  assert.match(page.url(), /cp=1/);
  assert.deepEqual(await texts('.wf-row:not(.on-critical) .op'), ['render recommendations']);
  assert.equal(await page.locator('.wf-row.on-critical').count(), 7);

  // find in trace
  await page.fill('.toolbar input[type=search]', 'redis');
  await eventually(async () => (await page.locator('.match-count').textContent()) === '1 match', 5000, 'one match');
  assert.equal(await page.locator('.wf-row.match .op').textContent(), 'redis GET');
  await page.press('.toolbar input[type=search]', 'Enter');
  await page.waitForURL(/span=a000000000000004/);

  // zoom with the time axis, then reset
  const axis = await page.locator('.axis').boundingBox();
  await page.mouse.move(axis.x + axis.width * 0.4, axis.y + 10);
  await page.mouse.down();
  await page.mouse.move(axis.x + axis.width * 0.9, axis.y + 10, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL(/zoom=/);
  const zoom = new URL(page.url()).searchParams.get('zoom').split('-').map(Number);
  assert.ok(Math.abs(zoom[0] - 100) < 3 && Math.abs(zoom[1] - 225) < 3, `zoom ${zoom}`);
  await shot(page, '3-trace-critical-path-zoom');
  await page.getByRole('button', { name: 'Reset zoom' }).click();
  assert.ok(!page.url().includes('zoom='));

  // JSON download is the OTLP document
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON' }).click()]);
  const body = JSON.parse(await streamText(await download.createReadStream()));
  assert.equal(body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).length, 8);

  // a link in another trace's span opens this trace
  await page.goto(`${HTTP}/trace/${BROWSE_ID}?span=b000000000000004`);
  await page.locator('.detail a', { hasText: CHECKOUT_ID }).click();
  await page.waitForURL(new RegExp(`/trace/${CHECKOUT_ID}\\?span=a000000000000001`));
  await page.locator('.detail .detail-name', { hasText: 'GET /checkout' }).waitFor();

  // an unknown trace says so
  await page.goto(`${HTTP}/trace/00000000000000000000000000000bad`);
  await page.locator('.alert', { hasText: 'was not found' }).waitFor();
  assert.deepEqual(page.problems, []);
});

async function streamText(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function graphReady() {
  const r = await fetch(`${HTTP}/api/v1/dependencies?lookback=1h`);
  if (r.status === 404) return null;
  const body = await r.json();
  return body.nodes?.some((n) => n.name === 'payments') && body.edges?.some((e) => e.parent === 'frontend' && e.child === 'cart') ? body : false;
}

test('service map → service overview', async (t) => {
  if ((await fetch(`${HTTP}/api/v1/dependencies?lookback=1h`)).status === 404) {
    t.skip('GET /api/v1/dependencies is not on this server yet');
    return;
  }
  const graph = await eventually(graphReady, 30_000, 'the service graph to hold the known calls');
  await page.goto(`${HTTP}/map?lookback=1h`);
  await page.locator('.map-svg .node').first().waitFor();
  const names = await page.locator('.map-svg .node').evaluateAll((nodes) => nodes.map((n) => n.dataset.name));
  for (const name of ['frontend', 'cart', 'payments', 'catalog']) assert.ok(names.includes(name), `node ${name} in ${names}`);
  assert.equal(names.length, graph.nodes.length);
  const virtual = await page.locator('.map-svg .node.virtual').count();
  assert.equal(virtual, graph.nodes.filter((n) => n.type !== 'service').length);
  assert.ok(virtual >= 1, 'databases / queues appear as virtual nodes');
  assert.equal(await page.locator('.map-svg .edge').count(), graph.edges.length);
  const edge = page.locator('.map-svg .edge[data-parent="frontend"][data-child="payments"]');
  assert.match(await edge.locator('text').textContent(), /\/(s|min) · 100% · p95 /);
  assert.equal(await page.locator('.edge-table tbody tr').count(), graph.edges.length);
  await shot(page, '4-service-map');

  await page.locator('.map-svg .node[data-name="payments"]').click();
  await page.waitForURL(/\/service\/payments\?lookback=1h/);
  await page.locator('.operations-table').waitFor();
  assert.equal(await page.locator('.service-name').textContent(), 'payments');
  const ops = await texts('.operations-table .op-name');
  assert.deepEqual(ops.sort(), ['POST /pay', 'publish payments']);
  // the figures are the API's: the header counts the service's server spans, the table
  // splits operations by kind
  const rows = await page.locator('.operations-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  const calls = rows.filter((r) => r[1] === 'server').reduce((sum, r) => sum + Number(r[2]), 0);
  assert.ok(calls >= 1);
  assert.equal(await page.locator('.stat-calls b').textContent(), String(calls));
  assert.match(await page.locator('.stat-errors b').textContent(), /^1 \(\d+%\)$/);
  assert.equal(await page.locator('.charts-grid svg.chart').count(), 3);
  await shot(page, '5-service-overview');

  // an operation links to its traces
  await page.locator('.operations-table .op-name', { hasText: 'POST /pay' }).click();
  await page.waitForURL(/\/search\?service=payments&operation=POST/);
  await page.locator('.trace-item').first().waitFor();
  assert.equal(await page.locator('.trace-item').getAttribute('data-trace-id'), CHECKOUT_ID);
  assert.deepEqual(page.problems, []);
});

test('SQL console: run with Ctrl+Enter, table, chart, CSV, errors', async () => {
  await page.goto(`${HTTP}/sql`);
  const editor = page.locator('textarea.editor');
  await editor.fill('SELECT service_name, count(*) AS spans FROM spans GROUP BY service_name ORDER BY service_name');
  await editor.press('Control+Enter');
  await page.waitForURL(/\/sql\?q=SELECT/);
  await page.locator('.sql-result tbody tr').first().waitFor();
  const rows = await page.locator('.sql-result tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.deepEqual(rows, [['cart', '2'], ['catalog', '26'], ['frontend', '30'], ['payments', '2']]);
  assert.match(await page.locator('.sql-status').textContent(), /^4 rows/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.equal((await streamText(await download.createReadStream())).trim(), 'service_name,spans\ncart,2\ncatalog,26\nfrontend,30\npayments,2');

  // a time series draws a chart; deep link with ?q=
  const series = "SELECT date_trunc('second', start_time) AS second, service_name, count(*) AS spans FROM spans GROUP BY 1, 2 ORDER BY 1";
  await page.goto(`${HTTP}/sql?q=${encodeURIComponent(series)}`);
  await page.locator('.sql-chart svg.chart path.line').first().waitFor();
  assert.match(await page.locator('.sql-chart h2').textContent(), /spans by service_name/);
  assert.ok(await page.locator('.sql-chart path.line').count() >= 2);
  await shot(page, '6-sql');

  // trace ids link to the trace
  await page.goto(`${HTTP}/sql?q=${encodeURIComponent(`SELECT trace_id, name FROM spans WHERE status_code = 'error'`)}`);
  await page.locator('.sql-result a', { hasText: CHECKOUT_ID }).click();
  await page.waitForURL(new RegExp(`/trace/${CHECKOUT_ID}`));

  // errors are shown as such
  await page.goto(`${HTTP}/sql?q=${encodeURIComponent('DROP TABLE spans')}`);
  await page.locator('.sql-error').waitFor();
  assert.ok((await page.locator('.sql-error').textContent()).length > 5);
  await page.goto(`${HTTP}/sql?q=${encodeURIComponent('SELECT nope FROM spans')}`);
  await page.locator('.sql-error').waitFor();
  assert.match(await page.locator('.sql-error').textContent(), /nope/);
  assert.deepEqual(page.problems, []);
});

test('views work offline: no request leaves the origin', async () => {
  const offline = await newPage(browser.context);
  for (const url of ['/search', `/trace/${CHECKOUT_ID}`, '/map', '/service/frontend', '/sql']) {
    await offline.goto(`${HTTP}${url}`);
    await offline.waitForLoadState('networkidle');
  }
  assert.deepEqual(offline.problems.filter((p) => p.startsWith('request to another origin')), []);
  await offline.close();
});
