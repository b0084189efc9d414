// Shared by convoy's pages: loading the wasm package, and showing money, durations and
// limits in words. The pages load the package from ../wasm/pkg/web/, so any static
// server of the repository's root serves them (`python3 -m http.server` at the root,
// then http://127.0.0.1:8000/www/).

const PACKAGE = '../wasm/pkg/web/convoy_wasm.js';

let loading;

/**
 * The convoy-wasm package for the web, initialised once. Rejects with an Error that
 * says how to build the package when it is missing.
 */
export function loadConvoy() {
  loading ??= (async () => {
    let module;
    try {
      module = await import(PACKAGE);
    } catch (error) {
      throw new Error(
        `cannot load ${new URL(PACKAGE, import.meta.url).pathname} (${error.message}); ` +
          'build it with `bash wasm/test.sh` and serve the repository root',
      );
    }
    await module.default();
    return module;
  })();
  return loading;
}

/** `$25.50`; amounts under ten cents keep more digits (`$0.0123`). */
export function usd(amount) {
  if (!Number.isFinite(amount)) return '–';
  const digits = Math.abs(amount) >= 0.1 || amount === 0 ? 2 : 4;
  return `$${amount.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  })}`;
}

/** A duration in words: `42 s`, `7 min 24 s`, `2 h 10 min`, `3 d 4 h`. */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  if (s < 86400)
    return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

/** `12,345` */
export function count(value) {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–';
}

/** The name of a limit in plain words. */
export const LIMIT_NAMES = {
  concurrency: 'concurrency',
  requestsPerMinute: 'requests per minute',
  inputTokensPerMinute: 'input tokens per minute',
  outputTokensPerMinute: 'output tokens per minute',
  retryAfter: 'the provider asked to wait (retry-after)',
  spendCap: 'the spend cap',
};

/**
 * What holds a batch back, as a sentence: `limit` is an estimate's `bindingLimit` (or a
 * progress's `binding`), `values` the concurrency and limits that were asked for.
 */
export function limitInWords(limit, values = {}) {
  switch (limit) {
    case 'concurrency':
      return (
        `Concurrency binds: with ${values.concurrency ?? 'this many'} attempts in flight, ` +
        'each waits for a reply before the next starts. More concurrency makes it faster.'
      );
    case 'requestsPerMinute':
      return (
        `Your limit of ${count(values.requestsPerMinute)} requests per minute binds: ` +
        'more concurrency will not make this batch faster.'
      );
    case 'inputTokensPerMinute':
      return (
        `Your limit of ${count(values.inputTokensPerMinute)} input tokens per minute binds: ` +
        'more concurrency will not make this batch faster.'
      );
    case 'outputTokensPerMinute':
      return (
        `Your limit of ${count(values.outputTokensPerMinute)} output tokens per minute binds: ` +
        'more concurrency will not make this batch faster.'
      );
    default:
      return limit ? `Held back by ${LIMIT_NAMES[limit] ?? limit}.` : '';
  }
}

/** The element with `id`; throws when the page has none, so a typo fails loudly. */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no element #${id}`);
  return element;
}

/** A number typed in `input`, or `undefined` when it is empty. */
export function numberIn(input) {
  const text = input.value.trim();
  return text === '' ? undefined : Number(text);
}
