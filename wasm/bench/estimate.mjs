#!/usr/bin/env node
// How long `estimate` of a 5-tier request takes in Node, per call. Build the package
// first (`bash wasm/test.sh`), then: node wasm/bench/estimate.mjs [calls]

import { performance } from 'node:perf_hooks';

import { estimate } from '../pkg/node/convoy_wasm.js';

const REQUEST = {
  model: 'claude-sonnet-4-5',
  tiers: [
    { name: 'long_form', inputTokens: 4000, outputTokens: 8000 },
    { name: 'short', inputTokens: 500, outputTokens: 800, latencyMs: 5000 },
  ],
  batches: [
    { tier: 'template', count: 400 },
    { tier: 'scenario', count: 300 },
    { tier: 'edge_case', count: 200 },
    { tier: 'long_form', count: 100 },
    { tier: 'short', count: 1000 },
  ],
  concurrency: 16,
  limits: { requestsPerMinute: 500, outputTokensPerMinute: 400000 },
};

const calls = Number(process.argv[2] ?? 2000);
for (let i = 0; i < 200; i += 1) estimate(REQUEST);

const times = [];
for (let i = 0; i < calls; i += 1) {
  const start = performance.now();
  estimate({ ...REQUEST, seed: i });
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
const mean = times.reduce((sum, t) => sum + t, 0) / times.length;
const sample = estimate(REQUEST);
console.log(`estimate of a 5-tier request (${sample.time.simulatedItems} items simulated x ${sample.time.runs} runs), ${calls} calls:`);
console.log(`  mean ${(mean * 1000).toFixed(0)} µs, p50 ${(at(0.5) * 1000).toFixed(0)} µs, p90 ${(at(0.9) * 1000).toFixed(0)} µs, p99 ${(at(0.99) * 1000).toFixed(0)} µs`);
