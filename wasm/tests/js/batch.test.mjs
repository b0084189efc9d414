// The Batch class under Node: the core scheduler driven by promises and setTimeout.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import { fakeAttempt, nodePackage, sleep, until } from './support.mjs';

const { Batch } = createRequire(import.meta.url)(nodePackage);

/** A batch of `count` template items on a priced model. */
function batchOf(count, spec = {}) {
  return new Batch({
    name: 'test',
    model: 'claude-sonnet-4-5',
    batches: [{ tier: 'template', count }],
    backoff: { baseMs: 1, maxMs: 4 },
    ...spec,
  });
}

test('200 items at concurrency 5 never have more than 5 attempts in flight', async () => {
  const batch = batchOf(200, { concurrency: 5 });
  const fake = fakeAttempt({ maxMs: 6 });
  const reported = [];
  batch.onProgress((progress) => reported.push(progress.inFlight));

  const summary = await batch.run(fake.attempt);

  assert.equal(summary.status, 'completed');
  assert.equal(summary.succeeded, 200);
  assert.equal(summary.results.length, 200);
  assert.equal(fake.calls, 200);
  assert.equal(fake.maxInFlight, 5, 'the batch uses its concurrency, and no more');
  assert.ok(Math.max(...reported) <= 5);
  assert.deepEqual(
    summary.results.map((result) => result.output.index).sort((a, b) => a - b),
    Array.from({ length: 200 }, (_, i) => i),
  );
  // 200 × (2000 × $3 + 3000 × $15) per million tokens.
  assert.equal(Math.round(summary.costUsd * 100) / 100, 10.2);
});

test('pause stops new attempts and resume finishes every item', async () => {
  const batch = batchOf(40, { concurrency: 4 });
  const fake = fakeAttempt({ maxMs: 4 });
  let latest;
  batch.onProgress((progress) => {
    latest = progress;
  });
  const done = batch.run(fake.attempt);

  await until(() => latest?.succeeded >= 8, '8 items to succeed');
  batch.pause();
  const callsAtPause = fake.calls;
  await until(() => fake.inFlight === 0, 'the attempts in flight to finish');
  await sleep(30);

  assert.equal(fake.calls, callsAtPause, 'no attempt starts while paused');
  const paused = batch.progress();
  assert.equal(paused.status, 'paused');
  assert.equal(paused.inFlight, 0);
  assert.equal(paused.succeeded, callsAtPause, 'attempts in flight at the pause are kept');
  assert.ok(paused.queued > 0);

  batch.resume();
  const summary = await done;
  assert.equal(summary.status, 'completed');
  assert.equal(summary.succeeded, 40);
  assert.equal(fake.calls, 40);
  assert.throws(() => batch.resume(), /batch: .*completed/);
});

test('cancel keeps the results in flight and cancels the rest', async () => {
  const batch = batchOf(30, { concurrency: 3 });
  const fake = fakeAttempt({ maxMs: 8 });
  let latest;
  batch.onProgress((progress) => {
    latest = progress;
  });
  const done = batch.run(fake.attempt);

  await until(() => latest?.succeeded >= 6, '6 items to succeed');
  batch.cancel();
  const callsAtCancel = fake.calls;
  const inFlightAtCancel = fake.inFlight;
  const summary = await done;

  assert.equal(summary.status, 'cancelled');
  assert.equal(fake.calls, callsAtCancel, 'no attempt starts after cancel');
  assert.equal(summary.succeeded, callsAtCancel, 'every attempt in flight was kept');
  assert.ok(inFlightAtCancel > 0, 'some attempts were in flight when cancelled');
  assert.equal(summary.cancelled, 30 - callsAtCancel);
  assert.equal(summary.results.length, summary.succeeded);
  assert.equal(summary.inFlight, 0);
  assert.throws(() => batch.cancel(), /batch: .*cancel/);
});

test('rate_limited with retryAfterMs holds every attempt until it has passed', async () => {
  const batch = batchOf(12, { concurrency: 3 });
  const fake = fakeAttempt({
    maxMs: 3,
    fail: (item, attempt) =>
      item.index === 4 && attempt === 1
        ? { class: 'rate_limited', message: '429 rate_limit_error', retryAfterMs: 150 }
        : undefined,
  });
  const events = [];
  batch.onEvent((event) => events.push(event));

  const summary = await batch.run(fake.attempt);

  assert.equal(summary.succeeded, 12);
  const limited = events.find((event) => event.type === 'retryScheduled');
  assert.equal(limited.class, 'rate_limited');
  assert.equal(limited.message, '429 rate_limit_error');
  assert.ok(limited.until >= limited.at + 150, 'the retry waits at least retryAfterMs');
  const later = events.filter((event) => event.type === 'dispatched' && event.at > limited.at);
  assert.ok(later.length > 0);
  for (const dispatch of later) {
    assert.ok(dispatch.at >= limited.until, `dispatch at ${dispatch.at} before ${limited.until}`);
  }
  // A rate-limited attempt does not use up one of the item's attempts.
  const retried = summary.results.find((result) => result.item === 4);
  assert.equal(retried.attempt, 2);
});

test('failures keep their class and message', async () => {
  const batch = batchOf(6, { concurrency: 2, maxAttempts: 3 });
  const fake = fakeAttempt({
    fail: (item) => {
      if (item.index === 1)
        return { class: 'permanent', message: '400 invalid_request_error: bad' };
      if (item.index === 2) return new Error('socket hang up');
      if (item.index === 3) return { class: 'bad_output', message: 'reply is not a conversation' };
      return undefined;
    },
  });

  const summary = await batch.run(fake.attempt);

  assert.equal(summary.status, 'completed');
  assert.equal(summary.succeeded, 3);
  assert.equal(summary.failed, 3);
  const byItem = Object.fromEntries(summary.failures.map((failure) => [failure.item, failure]));
  assert.deepEqual(byItem[1], {
    item: 1,
    tier: 'template',
    attempt: 1,
    class: 'permanent',
    message: '400 invalid_request_error: bad',
  });
  assert.equal(byItem[2].class, 'transient', 'a plain Error counts as transient');
  assert.equal(byItem[2].message, 'socket hang up');
  assert.equal(byItem[2].attempt, 3, 'a transient failure is retried up to maxAttempts');
  assert.equal(byItem[3].class, 'bad_output');
  assert.equal(byItem[3].attempt, 3);
});

test('items get their parameters and the batch refuses to run twice', async () => {
  const batch = new Batch({
    model: 'claude-haiku-4-5',
    parameters: { domain: 'banking', turns: 4 },
  });
  assert.equal(
    batch.addItems([{ tier: 'scenario', parameters: { turns: '8' } }, { tier: 'edge_case' }]),
    2,
  );
  const seen = [];
  const summary = await batch.run(async (item) => {
    seen.push(item);
    return { usage: { inputTokens: 1, outputTokens: 1 } };
  });
  assert.equal(summary.succeeded, 2);
  assert.deepEqual(
    seen.sort((a, b) => a.index - b.index),
    [
      { index: 0, tier: 'scenario', parameters: { domain: 'banking', turns: '8' } },
      { index: 1, tier: 'edge_case', parameters: { domain: 'banking', turns: '4' } },
    ],
  );
  await assert.rejects(
    batch.run(async () => ({ usage: {} })),
    /run: the batch has run already/,
  );
  assert.throws(() => batch.addItems([{ tier: 'template' }]), /items: cannot add items/);
});

test('an attempt result that cannot be read fails the item as permanent', async () => {
  const batch = batchOf(1);
  const summary = await batch.run(async () => ({ usage: { input_tokens: 5 } }));
  assert.equal(summary.failed, 1);
  assert.equal(summary.failures[0].class, 'permanent');
  assert.match(summary.failures[0].message, /^attempt result: usage\.input_tokens: unknown field/);
});
