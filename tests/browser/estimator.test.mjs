// The estimator widget (www/index.html) in headless Chromium, served as any static
// server would serve the repository.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, screenshot, serveRepository } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await serveRepository();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The page, loaded, with the wasm package initialised. */
async function openWidget() {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.url}/www/index.html`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

/** Waits until `selector`'s text is no longer `old`, and returns the new text. */
async function changed(page, selector, old) {
  await page.waitForFunction(
    ([sel, previous]) => document.querySelector(sel).textContent !== previous,
    [selector, old],
  );
  return page.textContent(selector);
}

test('the widget shows $25.50 for 100 template items at $15 / $75 per million', async () => {
  const { page, errors } = await openWidget();
  await page.fill('#count-template', '100');
  await page.fill('#count-scenario', '0');
  await page.fill('#count-edge_case', '0');
  const before = await page.textContent('#cost-expected');
  await page.selectOption('#model', 'custom');
  await page.fill('#price-in', '15');
  await page.fill('#price-out', '75');

  await page.waitForFunction(
    () => document.querySelector('#cost-expected').textContent === '$25.50',
  );
  assert.notEqual(before, '$25.50');
  assert.equal(await page.textContent('#cost-split'), 'input $3.00 · output $22.50');
  assert.match(await page.textContent('#binding'), /^Concurrency binds: with 5 attempts in flight/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the time changes with concurrency, and the chart shows where a limit binds', async () => {
  const { page, errors } = await openWidget();
  await page.fill('#concurrency', '5');
  const slow = await page.textContent('#time-p50');

  await page.fill('#concurrency', '20');
  const fast = await changed(page, '#time-p50', slow);
  const minutes = (text) => {
    const [, min = '0', s = '0'] = /(?:(\d+) min)?\s*(?:(\d+) s)?/.exec(text);
    return Number(min) + Number(s) / 60;
  };
  assert.ok(minutes(fast) < minutes(slow), `${fast} is shorter than ${slow}`);

  await page.fill('#rpm', '30');
  await page.waitForFunction(() =>
    document
      .querySelector('#binding')
      .textContent.startsWith('Your limit of 30 requests per minute binds'),
  );
  const knee = await page.textContent('#chart .knee-label');
  assert.match(knee, /^from \d+: requests per minute binds$/);
  const points = await page.$$eval(
    '#chart .p50',
    (lines) => lines[0].getAttribute('points').split(' ').length,
  );
  assert.ok(points >= 8, `${points} points on the line`);
  assert.equal(await page.locator('#chart circle.current').count(), 1);

  await page.fill('#concurrency', '-2');
  await page.waitForFunction(() => !document.querySelector('#error').hidden);
  assert.match(await page.textContent('#error'), /^concurrency: -2 is out of range/);
  assert.equal(await page.getAttribute('#concurrency', 'aria-invalid'), 'true');
  await page.fill('#concurrency', '20');
  await page.waitForFunction(() => document.querySelector('#error').hidden);

  await screenshot(page, 'estimator');
  assert.deepEqual(errors, []);
  await page.close();
});
