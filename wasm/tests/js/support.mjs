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
