#!/usr/bin/env node
// How long `estimate` of a five-tier request takes in Node, per call: the request of
// the core's own benchmark (`cargo run --release -p convoy-core --example bench_core --
// speed`), so that the two can be set side by side. Reports the median and p90 of each
// call's wall-clock time and the process's CPU time per call (which other work on a
// shared machine disturbs less). Build the package first (`bash wasm/test.sh`), then:
//
//   node wasm/bench/estimate.mjs [calls per size]

import { performance } from 'node:perf_hooks';

import { estimate } from '../pkg/node/convoy_wasm.js';

/** Five tiers of `items / 5` items each, concurrency 20, 500 requests per minute. */
function request(items) {
  const perTier = items / 5;
  return {
    model: 'claude-sonnet-4-5',
    tiers: [
      { name: 'short', inputTokens: 500, outputTokens: 800 },
      { name: 'long', inputTokens: 6000, outputTokens: 7000 },
    ],
    batches: ['template', 'scenario', 'edge_case', 'short', 'long'].map((tier) => ({
      tier,
      count: perTier,
    })),
    concurrency: 20,
    limits: { requestsPerMinute: 500 },
  };
}

const calls = Number(process.argv[2] ?? 1000);
const us = (ms) => `${Math.round(ms * 1000)}`;
console.log(
  `estimate() in Node, five tiers, default 5 runs, concurrency 20, RPM 500; ${calls} calls each\n`,
);
console.log('| items | simulated per run | µs per call, median | p90 | CPU µs per call |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const items of [100, 1_000, 10_000, 1_000_000]) {
  const asked = request(items);
  for (let i = 0; i < 200; i += 1) estimate(asked);
  const times = [];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < calls; i += 1) {
    const start = performance.now();
    estimate(asked);
    times.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuBefore);
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.floor(q * (times.length - 1))];
  const simulated = estimate(asked).time.simulatedItems;
  const cpuPerCall = (cpu.user + cpu.system) / 1000 / calls;
  console.log(`| ${items} | ${simulated} | ${us(at(0.5))} | ${us(at(0.9))} | ${us(cpuPerCall)} |`);
}
