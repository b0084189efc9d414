// The Node example, run as a user would run it, against a real `convoy mock-server`
// that injects faults and invalid replies.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { root, startMockServer } from './support.mjs';

const run = promisify(execFile);

test('the Node example estimates, runs a batch against mock-server and writes JSONL', async (t) => {
  const server = await startMockServer(['--latency-ms', '20', '--fail-rate', '0.3', '--seed', '3']);
  t.after(server.stop);
  const dir = mkdtempSync(join(tmpdir(), 'convoy-example-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out.jsonl');

  const script = join(root, 'examples/node/estimate-and-run.mjs');
  const { stdout } = await run(
    process.execPath,
    [script, server.url, '--count', '16', '--out', out],
    {
      timeout: 60_000,
    },
  );

  const lines = stdout.trim().split('\n');
  assert.match(
    lines[0],
    /^estimate: \$\d+\.\d\d \(\$\d+\.\d\d–\$\d+\.\d\d\), \d+ s .*bound by concurrency$/,
  );
  assert.match(stdout, /^completed: 16 succeeded, 0 failed, \$\d+\.\d{4} in /m);
  assert.match(stdout, /^wrote 16 conversations to /m);
  assert.ok(
    lines.some((line) => /\(attempt [2-9]\)/.test(line)),
    'injected faults were retried',
  );

  const exported = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    exported.map((line) => line.metadata.item),
    Array.from({ length: 16 }, (_, i) => i),
  );
  for (const line of exported) {
    assert.deepEqual(Object.keys(line), ['messages', 'metadata']);
    assert.deepEqual(Object.keys(line.metadata), [
      'job',
      'item',
      'tier',
      'parameters',
      'model',
      'usage',
      'cost_usd',
    ]);
    assert.equal(line.metadata.job, 'node-example');
    assert.equal(line.metadata.tier, 'template');
    assert.deepEqual(line.metadata.parameters, { domain: 'home internet support' });
    assert.ok(line.messages.length >= 2);
    assert.deepEqual(
      line.messages.map((message) => message.role),
      line.messages.map((_, i) => (i % 2 === 0 ? 'user' : 'assistant')),
    );
    assert.ok(line.metadata.usage.outputTokens > 0 && line.metadata.cost_usd > 0);
  }
});
