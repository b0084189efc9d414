// The dashboard of `convoy serve` in headless Chromium: sign in, see an estimate, submit
// a job, watch its progress bar move, pause, resume, and see it complete; and the same
// page from a static server, where no API answers. Screenshots are saved under out/.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  launchBrowser,
  root,
  screenshot,
  serveRepository,
  startConvoyServer,
} from './support.mjs';

const TOKEN = 'dashboard-test-token-0123456789';

let server;
let browser;
let dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'convoy-dashboard-'));
  server = await startConvoyServer(
    ['--db', join(dir, 'convoy.db'), 'serve', '--addr', '127.0.0.1:0', '--www', join(root, 'www')],
    { env: { ...process.env, CONVOY_TOKEN: TOKEN } },
  );
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The progress bar's value of the job row. */
async function percentOf(row) {
  return Number(await row.locator('.bar').getAttribute('aria-valuenow'));
}

test('sign in, submit a job, watch it move, pause, resume and see it complete', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));

  await page.goto(`${server.url}/`);
  assert.match(page.url(), /\/www\/dashboard\.html$/);
  await page.locator('#token').fill('a-wrong-token-of-nobody-0000');
  await page.locator('#sign-in').click();
  await page.locator('#sign-in-error', { hasText: 'not valid' }).waitFor();
  await screenshot(page, 'dashboard-sign-in');

  await page.locator('#token').fill(TOKEN);
  await page.locator('#sign-in').click();
  await page.locator('#signed-in').waitFor({ state: 'visible' });
  assert.equal(page.url().includes(TOKEN), false);

  const form = page.locator('#submit-form');
  await form.locator('[name="name"]').fill('browser-batch');
  await form.locator('[name="count"]').fill('40');
  await form.locator('[name="concurrency"]').fill('2');
  await form.locator('[name="extra"]').fill('{"simulated": {"latency_scale": 0.02}}');
  await page.locator('#estimate', { hasText: 'Estimate: $' }).waitFor();
  const estimate = await page.locator('#estimate').textContent();
  assert.match(estimate, /bound by concurrency/);
  await screenshot(page, 'dashboard-estimate');

  await page.locator('#submit').click();
  const row = page.locator('.job', { hasText: 'browser-batch' });
  await row.waitFor();
  await page.waitForFunction(
    () => Number(document.querySelector('.job .bar').getAttribute('aria-valuenow')) > 0,
  );
  const moving = await percentOf(row);
  assert.ok(moving > 0 && moving < 100, `the bar moved to ${moving}%`);
  await screenshot(page, 'dashboard-running');

  await row.locator('[data-command="pause"]').click();
  await row.locator('.status', { hasText: 'paused' }).waitFor();
  assert.equal(await row.locator('[data-command="resume"]').isDisabled(), false);
  assert.equal(await row.locator('[data-command="pause"]').isDisabled(), true);
  await page.waitForFunction(
    () => !/in flight/.test(document.querySelector('.job .counts').textContent),
  );
  const paused = await percentOf(row);
  assert.ok(paused < 100, `paused at ${paused}%`);
  await screenshot(page, 'dashboard-paused');

  await row.locator('[data-command="resume"]').click();
  await row.locator('.status', { hasText: 'running' }).waitFor();
  await row.locator('.status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
  assert.equal(await percentOf(row), 100);
  assert.match(await row.locator('.counts').textContent(), /^40 \/ 40 done/);
  assert.match(await row.locator('.cost').textContent(), /^cost \$\d/);
  await row.locator('[data-action="failed"]').click();
  await row.locator('.failed-items', { hasText: 'No failed items.' }).waitFor();
  await screenshot(page, 'dashboard-completed');

  const download = page.waitForEvent('download');
  await row.locator('[data-action="export"]').click();
  const file = await download;
  assert.equal(file.suggestedFilename(), 'browser-batch-1.jsonl');

  assert.deepEqual(problems, []);
  await page.close();
});

test('from a static server, the dashboard says that no convoy server answers', async () => {
  const files = await serveRepository();
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  try {
    await page.goto(`${files.url}/www/dashboard.html`);
    await page.locator('#no-server', { hasText: 'No convoy server answers' }).waitFor();
    assert.deepEqual(await page.locator('header nav a').allTextContents(), [
      'Estimate',
      'Run in the browser',
      'Server dashboard',
    ]);

    await page.locator('#token').fill('a-token-for-no-server-000000');
    await page.locator('#sign-in').click();
    await page.locator('#sign-in-error', { hasText: 'no convoy API answers here' }).waitFor();
    assert.equal(await page.locator('#signed-in').isHidden(), true);
    await screenshot(page, 'dashboard-static');
  } finally {
    await page.close();
    await files.close();
  }
  assert.deepEqual(problems, []);
});
