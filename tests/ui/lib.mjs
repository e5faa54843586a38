// Shared test helpers: where the server is, launching Debian's Chromium, pages that fail the
// test on script errors, screenshots.

import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through tests/ui/run.sh`);
  return v.replace(/\/$/, '');
}

export const HTTP = required('MESHSCOPE_HTTP');
export const OTLP_HTTP = required('MESHSCOPE_OTLP_HTTP');
export const SHOTS = process.env.SCREENSHOT_DIR || mkdtempSync(join(tmpdir(), 'meshscope-ui-shots-'));
mkdirSync(SHOTS, { recursive: true });

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A browser context with a fresh profile; close() also removes the profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'meshscope-ui-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const WEB = normalize(join(dirname(fileURLToPath(import.meta.url)), '../../web'));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

/**
 * A new page for the UI at `origin`. Script errors and requests to other origins are collected in
 * `page.problems` (assert it is empty). With UI_FROM_DISK=1 the UI files come from web/ on
 * disk instead of the binary (for iterating on the UI without rebuilding).
 */
export async function newPage(context, origin = HTTP) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) page.problems.push(`console: ${msg.text()}`);
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('blob:') && !request.url().startsWith('data:')) {
      page.problems.push(`request to another origin: ${request.url()}`);
    }
  });
  if (process.env.UI_FROM_DISK === '1') {
    await page.route(`${origin}/**`, async (route) => {
      const { pathname } = new URL(route.request().url());
      if (pathname.startsWith('/api/')) return route.fallback();
      let file = join(WEB, pathname);
      if (!file.startsWith(WEB) || !extname(file)) file = join(WEB, 'index.html');
      try {
        return route.fulfill({ body: readFileSync(file), contentType: TYPES[extname(file)] || 'application/octet-stream' });
      } catch {
        return route.fulfill({ status: 404, body: 'not found' });
      }
    });
  }
  return page;
}

export async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function eventually(fn, ms = 15_000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}: ${last?.message ?? last}`);
}
