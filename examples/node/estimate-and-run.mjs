#!/usr/bin/env node
// Estimates a batch with the convoy-wasm package for Node, then runs it against a
// provider speaking the Anthropic Messages format, such as `convoy mock-server`:
//
//   cargo run -p convoy -- mock-server --latency-ms 200 &     # prints its URL
//   bash wasm/test.sh                                         # builds wasm/pkg/node
//   node examples/node/estimate-and-run.mjs http://127.0.0.1:PORT --count 20 --out out.jsonl
//
// It prints the estimate, a progress line per finished item, the summary, and writes
// the conversations as JSONL in the shape of `convoy export`.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Batch, estimate } from '../../wasm/pkg/node/convoy_wasm.js';
import { exportLines } from '../../www/lib/conversation.js';
import { providerAttempt } from '../../www/lib/provider.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '4' },
    model: { type: 'string', default: 'claude-sonnet-4-5' },
    key: { type: 'string', default: process.env.ANTHROPIC_API_KEY ?? 'mock-key' },
    out: { type: 'string' },
  },
});
const [baseUrl] = positionals;
if (!baseUrl) {
  console.error('usage: estimate-and-run.mjs BASE_URL [--count N] [--concurrency N] [--out FILE]');
  process.exit(2);
}
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const batches = [{ tier: 'template', count }];

const { cost, time } = estimate({ model: values.model, batches, concurrency });
const dollars = (usd) => `$${usd.toFixed(2)}`;
console.log(
  `estimate: ${dollars(cost.expectedUsd)} (${dollars(cost.lowUsd)}–${dollars(cost.highUsd)}), ` +
    `${Math.round(time.p50Seconds)} s (p10 ${Math.round(time.p10Seconds)} – ` +
    `p90 ${Math.round(time.p90Seconds)} s), bound by ${time.bindingLimit}`,
);

const batch = new Batch({
  name: 'node-example',
  model: values.model,
  concurrency,
  maxTokens: 4096,
  parameters: { domain: 'home internet support' },
  batches,
});
batch.onEvent((event) => {
  if (event.type === 'succeeded' || event.type === 'failed') {
    const progress = batch.progress();
    console.log(
      `${event.type} item ${event.attempt.item} (attempt ${event.attempt.attempt}): ` +
        `${progress.succeeded + progress.failed}/${progress.total}, ` +
        `$${progress.costUsd.toFixed(4)}`,
    );
  }
});
const attempt = providerAttempt({
  baseUrl,
  wire: 'anthropic',
  apiKey: values.key,
  model: values.model,
});
const summary = await batch.run(attempt);

console.log(
  `${summary.status}: ${summary.succeeded} succeeded, ${summary.failed} failed, ` +
    `$${summary.costUsd.toFixed(4)} in ${summary.elapsedSeconds.toFixed(1)} s`,
);
for (const failed of summary.failures) {
  console.log(`failed item ${failed.item}: ${failed.class}: ${failed.message}`);
}
const lines = exportLines(summary, 'node-example');
if (values.out) {
  writeFileSync(values.out, lines.map((line) => `${line}\n`).join(''));
  console.log(`wrote ${lines.length} conversations to ${values.out}`);
}
process.exitCode = summary.status === 'completed' ? 0 : 1;
