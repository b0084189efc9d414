// The built package itself: its size, its imports, how Node loads it, and its
// TypeScript declarations.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { nodePackage, webPackage } from './support.mjs';

const require = createRequire(import.meta.url);

/** The budget of the .wasm a page downloads, in bytes (kilobytes of 1000 bytes). */
const MAX_BYTES = 250_000;
const MAX_GZIPPED_BYTES = 90_000;

test('the .wasm is at most 250 KB, and 90 KB gzipped', (t) => {
  for (const dir of [webPackage, nodePackage]) {
    const wasm = readFileSync(join(dir, 'convoy_wasm_bg.wasm'));
    const gzipped = gzipSync(wasm, { level: 9 }).length;
    t.diagnostic(`${dir}: ${wasm.length} bytes, ${gzipped} gzipped`);
    assert.ok(wasm.length <= MAX_BYTES, `${wasm.length} bytes`);
    assert.ok(gzipped <= MAX_GZIPPED_BYTES, `${gzipped} bytes gzipped`);
  }
});

test('the .wasm imports nothing from env, only the bindings wasm-bindgen wrote', () => {
  const wasm = new WebAssembly.Module(readFileSync(join(webPackage, 'convoy_wasm_bg.wasm')));
  const modules = new Set(WebAssembly.Module.imports(wasm).map((entry) => entry.module));
  assert.ok(!modules.has('env'), `imports from env: ${[...modules]}`);
  assert.deepEqual([...modules], ['wbg'], 'only the glue wasm-bindgen generated');
});

test('Node loads the package with require and with import', async () => {
  const required = require(nodePackage);
  const imported = await import(join(nodePackage, 'convoy_wasm.js'));
  for (const name of ['estimate', 'simulate', 'pricing', 'Batch']) {
    assert.equal(typeof required[name], 'function', `require: ${name}`);
    assert.equal(imported[name], required[name], `import: ${name}`);
  }
  assert.equal(require(join(nodePackage, 'package.json')).name, 'convoy-wasm');
});

/** The declarations without their comments. */
function declarations(dir) {
  return readFileSync(join(dir, 'convoy_wasm.d.ts'), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
}

/** Checks that every parameter of `signature` (`a: T, b: U`) has a type. */
function assertTypedParameters(signature, what) {
  for (const parameter of signature
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    assert.match(parameter, /^\w+\??: \S/, `${what}: parameter \`${parameter}\` has no type`);
  }
}

test('the TypeScript declarations type every export and every Batch method, without any', () => {
  const types = declarations(nodePackage);
  assert.doesNotMatch(types, /\bany\b/, 'no `any` in the declarations');

  const functions = new Map(
    [...types.matchAll(/export function (\w+)\(([^)]*)\): ([^;]+);/g)].map((m) => [m[1], m]),
  );
  const exported = Object.keys(require(nodePackage)).filter(
    (name) => !name.startsWith('__') && name !== 'Batch',
  );
  assert.deepEqual([...functions.keys()].sort(), exported.sort());
  for (const [name, [, , parameters, returns]] of functions) {
    assertTypedParameters(parameters, name);
    assert.ok(!['void', 'unknown'].includes(returns.trim()), `${name} returns ${returns}`);
  }
  assert.match(types, /export function estimate\(request: EstimateRequest\): Estimate;/);

  const body = /export class Batch \{([\s\S]*?)\n\}/.exec(types)[1];
  const methods = Object.getOwnPropertyNames(require(nodePackage).Batch.prototype).filter(
    (name) => name !== 'constructor' && name !== '__destroy_into_raw',
  );
  assert.ok(methods.length >= 9, `${methods}`);
  for (const method of methods) {
    const declared = new RegExp(`\\n  ${method}\\((.*)\\): ([^;()]+);`).exec(body);
    assert.ok(declared, `Batch.${method} is declared`);
    assertTypedParameters(declared[1], `Batch.${method}`);
  }
  assert.match(body, /constructor\(spec: BatchSpec\);/);
  assert.match(body, /run\(attempt: AttemptFn\): Promise<Summary>;/);
  assert.match(body, /progress\(\): Progress \| undefined;/);
  for (const type of [
    'EstimateRequest',
    'Estimate',
    'BatchSpec',
    'Progress',
    'Summary',
    'BatchEvent',
  ]) {
    assert.match(types, new RegExp(`export (interface|type) ${type}\\b`), `${type} is declared`);
  }
  assert.equal(declarations(webPackage).includes('export default function __wbg_init'), true);
});
