// The browser runner's prompts (www/lib/conversation.js) against the native runner's:
// for each built-in tier, `renderPrompt` gives exactly what `convoy prompt` prints for
// the same job, so a batch run from a page asks the model what `convoy run` would.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';

import { TEMPLATES, renderPrompt } from '../../../www/lib/conversation.js';
import { root } from './support.mjs';

test('every built-in prompt matches the native runner, with and without parameters', (t) => {
  const convoy = join(root, 'target/debug/convoy');
  assert.ok(existsSync(convoy), `${convoy} is missing: run \`cargo build -p convoy\``);
  const folder = mkdtempSync(join(tmpdir(), 'convoy-prompts-'));
  t.after(() => rmSync(folder, { recursive: true, force: true }));

  const cases = [
    {},
    { domain: 'a ferry company', language: 'Norwegian', turns: '4' },
    { scenario: 'rebook a cancelled crossing', edge_case: 'a refund for a trip never booked' },
  ];
  assert.deepEqual(Object.keys(TEMPLATES).sort(), ['edge_case', 'scenario', 'template']);
  for (const tier of Object.keys(TEMPLATES)) {
    for (const parameters of cases) {
      const lines = Object.entries(parameters).map(([key, value]) => `${key} = "${value}"`);
      const job = [
        'name = "prompts"',
        'model = "claude-sonnet-4-5"',
        '[parameters]',
        ...lines,
        '[[batches]]',
        `tier = "${tier}"`,
        'count = 1',
        '',
      ].join('\n');
      const file = join(folder, 'job.toml');
      writeFileSync(file, job);
      const native = execFileSync(convoy, ['prompt', file], { encoding: 'utf8' });
      assert.equal(`${renderPrompt(tier, parameters)}\n`, native, `${tier} ${lines.join(', ')}`);
    }
  }
});
