// Shared pieces of the package's JavaScript tests: where the built package and the
// repository are, and fake attempt functions that take a little time.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository's root folder. */
export const root = resolve(here, '../../..');

/** The package built for Node by `wasm-pack --target nodejs`. */
export const nodePackage = join(root, 'wasm/pkg/node');

/** The package built for browsers by `wasm-pack --target web`. */
export const webPackage = join(root, 'wasm/pkg/web');

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Resolves once `check()` is true, polling every few milliseconds. */
export async function until(check, what) {
  for (let i = 0; i < 2000; i += 1) {
    if (check()) return;
    await sleep(5);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/**
 * A fake attempt function taking 1 to `maxMs` milliseconds, with counters of the
 * calls made and of those in flight. `fail(item, attempt)` may return what to throw.
 */
export function fakeAttempt({ maxMs = 5, fail = () => undefined } = {}) {
  const state = { calls: 0, inFlight: 0, maxInFlight: 0, started: [] };
  state.attempt = async (item, attempt) => {
    state.calls += 1;
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    state.started.push({ item: item.index, attempt });
    try {
      await sleep(1 + Math.random() * (maxMs - 1));
      const failure = fail(item, attempt);
      if (failure !== undefined) throw failure;
      return { usage: { inputTokens: 2000, outputTokens: 3000 }, output: { index: item.index } };
    } finally {
      state.inFlight -= 1;
    }
  };
  return state;
}

/**
 * Starts `target/debug/convoy mock-server` on a free port of 127.0.0.1 with `args`, and
 * resolves `{ url, stop }` once it prints `listening on URL`.
 */
export async function startMockServer(args = []) {
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const { createInterface } = await import('node:readline');
  const convoy = join(root, 'target/debug/convoy');
  if (!existsSync(convoy)) throw new Error(`${convoy} is missing: run \`cargo build -p convoy\``);
  const child = spawn(convoy, ['mock-server', '--addr', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((found, failed) => {
    createInterface({ input: child.stdout }).once('line', (line) => {
      const match = /^listening on (http:\/\/\S+)/.exec(line);
      if (match) found(match[1]);
      else failed(new Error(`mock-server printed ${JSON.stringify(line)} first`));
    });
    child.once('exit', (code) => failed(new Error(`mock-server exited with ${code}`)));
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGKILL');
    });
  return { url, stop };
}
