// The browser runner (www/run.html) in headless Chromium against a real
// `convoy mock-server` that injects faults and invalid replies.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { launchBrowser, screenshot, serveRepository, startConvoyServer } from './support.mjs';

let server;
let browser;
let mock;

before(async () => {
  server = await serveRepository();
  browser = await launchBrowser();
  const faults = ['--fail-rate', '0.3', '--bad-output-rate', '0.2', '--seed', '5'];
  mock = await startConvoyServer(
    ['mock-server', '--addr', '127.0.0.1:0', '--latency-ms', '150'].concat(faults),
  );
});

after(async () => {
  await browser?.close();
  await server?.close();
  await mock?.stop();
});

const number = async (page, selector) =>
  Number((await page.textContent(selector)).replace(/,/g, ''));

test('run.html completes 50 items against mock-server with a pause and a resume', async () => {
  const page = await browser.newPage({
    viewport: { width: 1200, height: 900 },
    acceptDownloads: true,
  });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.url}/www/run.html`);
  await page.waitForSelector('body[data-ready="true"]');

  await page.selectOption('#provider', 'mock');
  await page.fill('#base-url', mock.url);
  await page.fill('#api-key', 'browser-test-key');
  await page.fill('#job-name', 'browser-test');
  await page.fill('#domain', 'train timetables');
  await page.fill('#count-template', '50');
  await page.fill('#concurrency', '4');
  await page.fill('#max-attempts', '2');
  assert.match(await page.textContent('#estimate'), /^Estimate: \$\d+\.\d\d/);
  await page.click('#start');
  await page.waitForSelector('body[data-status="running"]');
  assert.equal(await page.isDisabled('#start'), true);
  assert.equal(await page.isDisabled('#count-template'), true);

  await page.waitForFunction(() => Number(document.querySelector('#ended').textContent) >= 10);
  await page.click('#pause');
  await page.waitForSelector('body[data-status="paused"]');
  await page.waitForFunction(() => document.querySelector('#in-flight').textContent === '0');
  const atPause = await number(page, '#ended');
  const requestsAtPause = (await (await fetch(`${mock.url}/stats`)).json()).requests;
  await page.waitForTimeout(500);
  assert.equal(await number(page, '#ended'), atPause, 'nothing ends while paused');
  const requestsLater = (await (await fetch(`${mock.url}/stats`)).json()).requests;
  assert.equal(requestsLater, requestsAtPause, 'no request is sent while paused');
  assert.ok(atPause < 50, `paused in the middle, at ${atPause}`);
  assert.equal(await page.isEnabled('#resume'), true);

  await page.click('#resume');
  await page.waitForSelector('body[data-status="completed"]', { timeout: 60_000 });
  const succeeded = await number(page, '#succeeded');
  const failed = await number(page, '#failed');
  assert.equal(succeeded + failed, 50);
  // Half the attempts fail, and an item has two: about one item in four fails for good.
  assert.ok(failed > 0 && succeeded > 0, `${succeeded} succeeded, ${failed} failed`);
  assert.equal(await number(page, '#ended'), 50);
  const rows = await page.$$eval('#failures tbody tr', (trs) =>
    trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)),
  );
  assert.equal(rows.length, failed);
  for (const [item, tier, attempt, klass, message] of rows) {
    assert.ok(
      Number(item) < 50 && tier === 'template' && attempt === '2',
      `${item} ${tier} ${attempt}`,
    );
    assert.ok(['transient', 'overloaded', 'bad_output'].includes(klass), klass);
    assert.match(message, /^(500 api_error|529 overloaded_error|reply is not a conversation)/);
  }
  await screenshot(page, 'runner');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'browser-test.jsonl');
  const lines = (await readFile(await download.path(), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.equal(lines.length, succeeded);
  const items = lines.map((line) => line.metadata.item);
  assert.deepEqual(
    items,
    [...items].sort((a, b) => a - b),
    'lines in item order',
  );
  for (const line of lines) {
    assert.deepEqual(Object.keys(line), ['messages', 'metadata']);
    assert.equal(line.metadata.job, 'browser-test');
    assert.equal(line.metadata.model, 'claude-sonnet-4-5');
    assert.equal(line.metadata.tier, 'template');
    assert.deepEqual(line.metadata.parameters, { domain: 'train timetables' });
    assert.ok(line.metadata.usage.outputTokens > 0 && line.metadata.cost_usd > 0);
    assert.equal(line.messages[0].role, 'user');
    assert.equal(line.messages[1].role, 'assistant');
  }
  assert.deepEqual(errors, []);
  await page.close();
});
