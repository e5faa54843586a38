// A 100,000-span trace: time to first render (median of 3 page loads) with the trace served
// to the page by Playwright (render time alone), scrolling, folding and finding; then the same
// trace ingested through OTLP and opened from the server.

import { createServer, request as httpRequest } from 'node:http';
import { loadavg } from 'node:os';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP, OTLP_HTTP, launch, newPage, shot, median } from './lib.mjs';
import { bigTrace } from './data.mjs';

const SPANS = 100_000;
const SERVED_ID = 'b16b16b16b16b16b16b16b16b16b16b1';
const INGESTED_ID = 'b16b16b16b16b16b16b16b16b16b16b2';
let browser;
let proxy;

/**
 * An HTTP server in front of meshscope that answers GET /api/v1/traces/{SERVED_ID} with
 * `body` from memory and passes every other request on: the page loads the trace over real
 * HTTP from its own origin, without the server's query time.
 */
function startProxy(body) {
  const target = new URL(HTTP);
  const server = createServer((req, res) => {
    if (req.url.startsWith(`/api/v1/traces/${SERVED_ID}`)) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
      return;
    }
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => res.destroy(error));
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
  proxy?.server.close();
});

/** Opens /trace/{id} at `origin`; returns the wall-clock ms until the first rows are on screen. */
async function open(page, id, origin = HTTP) {
  const started = Date.now();
  await page.goto(`${origin}/trace/${id}`, { waitUntil: 'commit' });
  await page.locator('.wf-row').first().waitFor({ timeout: 60_000 });
  await page.evaluate(() => new Promise((resolve) => { requestAnimationFrame(() => resolve()); }));
  const wall = Date.now() - started;
  const marks = await page.evaluate(() => {
    const at = (name) => Math.round(performance.getEntriesByName(name)[0]?.startTime ?? NaN);
    const fetch = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/traces/'));
    return { request: Math.round(fetch?.requestStart ?? NaN), fetched: at('trace-fetched'), built: at('trace-built'), rendered: at('trace-rendered') };
  });
  return { wall, mark: marks.rendered, marks };
}

test(`a ${SPANS.toLocaleString('en-US')}-span trace opens fast (target: under 2 s) and scrolls smoothly`, async () => {
  const body = Buffer.from(JSON.stringify(bigTrace(SPANS, SERVED_ID)));
  proxy = await startProxy(body);
  const runs = [];
  let page;
  for (let run = 0; run < 3; run += 1) {
    await page?.close();
    page = await newPage(browser.context, proxy.origin);
    runs.push(await open(page, SERVED_ID, proxy.origin));
  }
  const wall = median(runs.map((r) => r.wall));
  const mark = median(runs.map((r) => r.mark));
  console.log(`100k-span trace (${(body.length / 1e6).toFixed(1)} MB of OTLP/JSON), time to first render: `
    + `median ${wall} ms (runs ${runs.map((r) => r.wall).join(', ')} ms, navigation to first paint); `
    + `median ${mark.toFixed(0)} ms to the view's 'trace-rendered' mark; ms since navigation start per run: `
    + `${runs.map(({ marks: m }) => `request ${m.request}, fetched+parsed ${m.fetched}, tree ${m.built}, rows ${m.rendered}`).join(' | ')}`);

  assert.equal(await page.locator('.stat-spans b').textContent(), '100,000');
  const domRows = await page.locator('.wf-row').count();
  assert.ok(domRows > 10 && domRows < 150, `only visible rows are in the DOM (${domRows})`);

  // scrolling: 120 frames, 1,000 px each, through the whole tree
  const frames = await page.evaluate(() => new Promise((resolve) => {
    const scroller = document.querySelector('.wf-scroll');
    const times = [];
    let last = performance.now();
    const step = () => {
      const now = performance.now();
      times.push(now - last);
      last = now;
      if (times.length > 120) {
        resolve(times.slice(1));
        return;
      }
      scroller.scrollTop += scroller.scrollHeight / 121;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }));
  frames.sort((a, b) => a - b);
  const p95 = frames[Math.floor(frames.length * 0.95)];
  console.log(`scrolling the 100k-span waterfall: median frame ${median(frames).toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
  assert.ok(p95 < 100, `p95 frame ${p95} ms`);
  assert.ok(await page.locator('.wf-row').count() < 150);
  const lastRow = await page.evaluate(() => {
    const scroller = document.querySelector('.wf-scroll');
    scroller.scrollTop = scroller.scrollHeight;
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(
      Math.max(...[...document.querySelectorAll('.wf-row')].map((r) => Number(r.dataset.i))),
    ))));
  });
  assert.equal(lastRow, SPANS - 1);
  await shot(page, '7-trace-100k');

  // collapse all / expand all / find on 100k spans
  let started = Date.now();
  await page.getByRole('button', { name: 'Collapse all' }).click();
  await page.waitForFunction(() => document.querySelector('.wf-spacer').dataset.rows === '7');
  const collapse = Date.now() - started;
  started = Date.now();
  await page.getByRole('button', { name: 'Expand all' }).click();
  await page.waitForFunction((n) => document.querySelector('.wf-spacer').dataset.rows === String(n), SPANS);
  const expand = Date.now() - started;
  started = Date.now();
  await page.fill('.toolbar input[type=search]', 'operation-42');
  await page.waitForFunction(() => /match/.test(document.querySelector('.match-count').textContent));
  const find = Date.now() - started;
  const matches = await page.locator('.match-count').textContent();
  console.log(`100k spans: collapse all ${collapse} ms, expand all ${expand} ms, find ${find} ms (${matches})`);
  assert.equal(matches, `${Math.ceil((SPANS - 42) / 97).toLocaleString('en-US')} matches`);
  started = Date.now();
  await page.getByRole('button', { name: 'Critical path' }).click();
  await page.locator('.wf-row.on-critical').first().waitFor();
  console.log(`100k spans: critical path ${Date.now() - started} ms`);
  assert.deepEqual(page.problems, []);
  await page.close();
  // last, so that every figure above is printed even when this one is over. The target is
  // 2 s on a quiet machine (the printed median is the figure to report); the default budget
  // leaves room for a busy CI machine and still catches a regression of the rendering path.
  const budget = Number(process.env.TRACE_RENDER_BUDGET_MS || 3000);
  assert.ok(wall < budget, `first render took ${wall} ms (budget ${budget} ms; the machine's load average is ${loadavg()[0].toFixed(2)})`);
});

test('the 100k-span trace ingested through OTLP opens from the server', async () => {
  const doc = bigTrace(SPANS, INGESTED_ID, Date.now() - 3 * 3600_000); // outside the views tests' hour
  const resources = doc.resourceSpans;
  // send in pieces of about 10,000 spans: a request body limit applies
  for (const rs of resources) {
    const spans = rs.scopeSpans[0].spans;
    for (let i = 0; i < spans.length; i += 10_000) {
      const piece = { resourceSpans: [{ ...rs, scopeSpans: [{ ...rs.scopeSpans[0], spans: spans.slice(i, i + 10_000) }] }] };
      const response = await fetch(`${OTLP_HTTP}/v1/traces`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(piece),
      });
      assert.equal(response.status, 200, await response.text());
    }
  }
  const page = await newPage(browser.context);
  const { wall } = await open(page, INGESTED_ID);
  await page.locator('.stat-spans b', { hasText: '100,000' }).waitFor();
  console.log(`100k-span trace from the server (query + OTLP/JSON + transfer + render): ${wall} ms`);
  assert.deepEqual(page.problems, []);
  await page.close();
});
