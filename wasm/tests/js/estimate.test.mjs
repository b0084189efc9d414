// estimate(), simulate() and pricing() under Node, checked against the reference case
// of the design, against the native binary's own estimate, and with bad input.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { nodePackage, root } from './support.mjs';

const { estimate, pricing, simulate } = await import(join(nodePackage, 'convoy_wasm.js'));

const TEMPLATE_100 = {
  model: 'custom',
  pricing: { inputPerMillion: 15, outputPerMillion: 75 },
  batches: [{ tier: 'template', count: 100 }],
  concurrency: 5,
};

test('100 template items at $15 / $75 per million tokens cost $25.50', () => {
  const { cost, tokens } = estimate(TEMPLATE_100);
  assert.equal(cost.expectedUsd, 25.5);
  assert.equal(cost.inputUsd, 3);
  assert.equal(cost.outputUsd, 22.5);
  assert.ok(cost.lowUsd < 25.5 && cost.highUsd > 25.5, 'the range holds the expected cost');
  assert.deepEqual(tokens, { input: 200000, output: 300000 });
  assert.equal(cost.perTier.length, 1);
  assert.equal(cost.perTier[0].expectedUsd, 25.5);
});

test('a binding requests-per-minute limit is reported as requestsPerMinute', () => {
  const limited = estimate({ ...TEMPLATE_100, concurrency: 50, limits: { requestsPerMinute: 30 } });
  assert.equal(limited.time.bindingLimit, 'requestsPerMinute');
  // 100 requests at 30 a minute: 99 gaps of 2 s at the least.
  assert.ok(limited.time.boundSeconds >= 198, `${limited.time.boundSeconds}`);

  const free = estimate({ ...TEMPLATE_100, concurrency: 50 });
  assert.equal(free.time.bindingLimit, 'concurrency');
  assert.ok(free.time.p50Seconds < limited.time.p50Seconds);
});

test('more concurrency shortens the estimate until a limit binds', () => {
  const at = (concurrency) =>
    estimate({ ...TEMPLATE_100, concurrency, limits: { outputTokensPerMinute: 90000 } }).time;
  assert.ok(at(2).p50Seconds > at(8).p50Seconds);
  assert.equal(at(200).bindingLimit, 'outputTokensPerMinute');
  assert.equal(at(200).boundSeconds, at(400).boundSeconds);
});

test('the same request gives exactly the numbers of `convoy estimate --json`', (t) => {
  const convoy = join(root, 'target/debug/convoy');
  assert.ok(existsSync(convoy), `${convoy} is missing: run \`cargo build -p convoy\``);
  const cases = [
    { tier: 'template', count: 100, concurrency: 3, rpm: undefined },
    { tier: 'scenario', count: 250, concurrency: 8, rpm: 20 },
    { tier: 'edge_case', count: 40, concurrency: 16, rpm: 600 },
  ];
  for (const { tier, count, concurrency, rpm } of cases) {
    const args = ['estimate', '--json', '--db', join(tmpdir(), 'convoy-no-such.db')];
    args.push('--model', 'claude-sonnet-4-5', '--tier', tier, '--count', `${count}`);
    args.push('--concurrency', `${concurrency}`);
    if (rpm) args.push('--rpm', `${rpm}`);
    const native = JSON.parse(execFileSync(convoy, args, { encoding: 'utf8' }));

    const wasm = estimate({
      model: 'claude-sonnet-4-5',
      batches: [{ tier, count }],
      concurrency,
      limits: rpm ? { requestsPerMinute: rpm } : undefined,
    });
    t.diagnostic(`${tier} × ${count}: $${wasm.cost.expectedUsd}, p50 ${wasm.time.p50Seconds} s`);
    assert.deepEqual(wasm.cost, native.cost);
    assert.deepEqual(wasm.tokens, native.tokens);
    assert.deepEqual(wasm.time, {
      p10Seconds: native.time.p10Ms / 1000,
      p50Seconds: native.time.p50Ms / 1000,
      p90Seconds: native.time.p90Ms / 1000,
      boundSeconds: native.time.boundMs / 1000,
      bindingLimit: native.time.bindingLimit,
      simulatedItems: native.time.simulatedItems,
      runs: native.time.runs,
    });
  }
});

test('bad input throws an Error naming the field, never a trap', () => {
  const refused = (request, message) => {
    assert.throws(
      () => estimate(request),
      (error) => {
        assert.ok(error instanceof Error, `${error} is an Error`);
        assert.doesNotMatch(error.message, /unreachable/);
        assert.match(error.message, message);
        return true;
      },
    );
  };
  const { concurrency, ...noConcurrency } = TEMPLATE_100;
  refused(noConcurrency, /^concurrency: missing/);
  refused(
    { ...TEMPLATE_100, batches: [{ tier: 'template', count: -1 }] },
    /^batches\[0\]\.count: -1 is out of range/,
  );
  refused(
    { ...TEMPLATE_100, batches: [{ tier: 'epic', count: 1 }] },
    /^batches\[0\]\.tier: unknown tier `epic`/,
  );
  refused({ ...TEMPLATE_100, pricing: undefined }, /^model: `custom` has no built-in price/);
  refused({ ...TEMPLATE_100, concurrency: 0 }, /^concurrency: 0 is out of range/);
  refused({ ...TEMPLATE_100, concurrency: 2.5 }, /^concurrency: 2\.5 is out of range/);
  refused(
    { ...TEMPLATE_100, latency: { meanSeconds: -2 } },
    /^latency\.meanSeconds: -2 is out of range/,
  );
  refused(
    { ...TEMPLATE_100, limits: { requestsPerMinute: 'ten' } },
    /^limits\.requestsPerMinute: expected a number, got a string/,
  );
  refused({ ...TEMPLATE_100, seeds: 4 }, /^seeds: unknown field/);
  refused(null, /^request: expected an object, got null/);
  refused(undefined, /^request: expected an object, got null/);
  refused([], /^request: expected an object, got an array/);
  refused({ ...TEMPLATE_100, batches: 'template' }, /^batches: expected an array, got a string/);
});

test('a 5-tier request uses history where it has enough samples', () => {
  const stats = (mean) => ({ count: 50, mean, m2: 50 * mean });
  const history = [
    {
      model: 'claude-sonnet-4-5',
      tier: 'scenario',
      latencyMs: stats(4000),
      inputTokens: stats(1000),
      outputTokens: stats(1000),
      attempts: 50,
      failures: 0,
    },
  ];
  const request = {
    model: 'claude-sonnet-4-5',
    tiers: [
      { name: 'long_form', inputTokens: 4000, outputTokens: 8000 },
      { name: 'short', inputTokens: 500, outputTokens: 800, latencyMs: 5000 },
    ],
    batches: [
      { tier: 'template', count: 100 },
      { tier: 'scenario', count: 100 },
      { tier: 'edge_case', count: 100 },
      { tier: 'long_form', count: 50 },
      { tier: 'short', count: 50 },
    ],
    concurrency: 10,
    history,
  };
  const withHistory = estimate(request);
  const without = estimate({ ...request, history: undefined });
  assert.equal(withHistory.cost.perTier.length, 5);
  const tier = (result, name) => result.cost.perTier.find((row) => row.tier === name);
  assert.equal(tier(withHistory, 'scenario').fromHistory, true);
  assert.equal(tier(without, 'scenario').fromHistory, false);
  assert.ok(tier(withHistory, 'scenario').expectedUsd < tier(without, 'scenario').expectedUsd);
  // 50 × (4000 × $3 + 8000 × $15) per million tokens.
  assert.equal(tier(without, 'long_form').expectedUsd, 6.6);
  assert.throws(
    () => estimate({ ...request, tiers: [{ name: 'short', inputTokens: -5, outputTokens: 1 }] }),
    /^Error: tiers\[0\]\.inputTokens: -5 is out of range/,
  );
});

test('simulate gives a timeline that rises to every item', () => {
  const run = simulate({ ...TEMPLATE_100, seed: 7 });
  assert.equal(run.succeeded, 100);
  const priced = (run.inputTokens * 15 + run.outputTokens * 75) / 1e6;
  assert.ok(Math.abs(run.costUsd - priced) < 1e-9, `${run.costUsd} is ${priced}`);
  const ended = run.timeline.map((point) => point.ended);
  assert.deepEqual(
    [...ended].sort((a, b) => a - b),
    ended,
    'the timeline never goes back',
  );
  assert.equal(ended.at(-1), 100);
  assert.deepEqual(simulate({ ...TEMPLATE_100, seed: 7 }), run, 'the same seed, the same run');
});

test('pricing() lists the built-in models with their prices', () => {
  const table = pricing();
  assert.ok(table.length >= 5);
  for (const row of table) {
    assert.equal(typeof row.model, 'string');
    assert.ok(['anthropic', 'openai'].includes(row.provider), row.provider);
    assert.ok(row.inputPerMillion > 0 && row.outputPerMillion >= row.inputPerMillion);
  }
  const sonnet = table.find((row) => row.model === 'claude-sonnet-4-5');
  const { cost } = estimate({
    model: 'claude-sonnet-4-5',
    batches: [{ tier: 'template', count: 1 }],
    concurrency: 1,
  });
  assert.equal(cost.inputUsd, (2000 * sonnet.inputPerMillion) / 1e6);
});
