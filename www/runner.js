// The browser runner (run.html): a Batch of the wasm package, whose attempts post to the
// chosen provider with fetch. Shows live progress and failures, and offers the results
// as JSONL in the shape of `convoy export`.

import { byId, count, duration, limitInWords, loadConvoy, numberIn, usd } from './common.js';
import { exportLines } from './lib/conversation.js';
import { providerAttempt } from './lib/provider.js';

const TIERS = ['template', 'scenario', 'edge_case'];

/** Where each provider lives, until the user says otherwise. */
const DEFAULT_URLS = {
  mock: 'http://127.0.0.1:8787',
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com',
};

/** The run in progress or last finished: its batch and the JSONL lines once it ended. */
const state = { batch: undefined, lines: [], status: 'idle', retries: 0 };

function showError(message) {
  byId('error').hidden = !message;
  byId('error').textContent = message ?? '';
}

/** The job spec the form describes. */
function spec() {
  const domain = byId('domain').value.trim();
  return {
    name: byId('job-name').value.trim() || 'browser-batch',
    provider: byId('provider').value,
    model: byId('model').value.trim(),
    concurrency: numberIn(byId('concurrency')),
    maxAttempts: numberIn(byId('max-attempts')),
    maxTokens: numberIn(byId('max-tokens')),
    limits: { requestsPerMinute: numberIn(byId('rpm')) },
    parameters: domain ? { domain } : {},
    batches: TIERS.map((tier) => ({ tier, count: numberIn(byId(`count-${tier}`)) ?? 0 })).filter(
      (batch) => batch.count > 0,
    ),
  };
}

/** Enables the buttons that make sense in `status`. */
function setStatus(status) {
  state.status = status;
  document.body.dataset.status = status;
  const badge = byId('status');
  badge.textContent = status;
  badge.className = `status ${status}`;
  const ended = ['idle', 'completed', 'failed', 'cancelled'].includes(status);
  byId('start').disabled = !ended;
  byId('pause').disabled = status !== 'running';
  byId('resume').disabled = status !== 'paused';
  byId('cancel').disabled = !['running', 'paused', 'queued'].includes(status);
  byId('download').disabled = !ended || state.lines.length === 0;
  for (const input of byId('settings').elements) input.disabled = !ended;
}

function showProgress(progress) {
  const share = (part) => `${(100 * part) / Math.max(progress.total, 1)}%`;
  byId('bar-done').style.width = share(progress.succeeded);
  byId('bar-failed').style.width = share(progress.failed);
  byId('bar-cancelled').style.width = share(progress.cancelled);
  byId('bar-flight').style.width = share(progress.inFlight);
  byId('bar').setAttribute('aria-valuenow', String(Math.round(progress.percent * 10) / 10));
  byId('ended').textContent = count(progress.succeeded + progress.failed);
  byId('total').textContent = count(progress.total);
  byId('succeeded').textContent = count(progress.succeeded);
  byId('failed').textContent = count(progress.failed);
  byId('in-flight').textContent = count(progress.inFlight);
  byId('queued').textContent = count(progress.queued + progress.waitingRetry);
  byId('cost').textContent = usd(progress.costUsd);
  const eta = progress.etaSeconds;
  byId('eta').textContent = eta === undefined ? '–' : duration(eta);
  const rate = progress.itemsPerMinute.toFixed(1);
  byId('rate').textContent = `${rate} items / min · ${duration(progress.elapsedSeconds)} elapsed`;
  const binding = byId('binding');
  binding.hidden = !progress.binding || progress.status !== 'running';
  binding.textContent = limitInWords(progress.binding, state.asked);
  if (progress.status !== state.status) setStatus(progress.status);
}

function addFailure(event) {
  const row = document.createElement('tr');
  const cells = [
    [event.attempt.item, 'num'],
    [event.tier, ''],
    [event.attempt.attempt, 'num'],
    [event.class, 'class'],
    [event.message, ''],
  ];
  for (const [text, kind] of cells) {
    const cell = document.createElement('td');
    if (kind === 'class') {
      const badge = document.createElement('span');
      badge.className = 'class';
      badge.textContent = text;
      cell.append(badge);
    } else {
      cell.className = kind;
      cell.textContent = text;
    }
    row.append(cell);
  }
  const table = byId('failures');
  table.tBodies[0].append(row);
  table.hidden = false;
  byId('no-failures').hidden = true;
  byId('failure-count').textContent = `(${table.tBodies[0].rows.length})`;
}

function clearFailures() {
  byId('failures').tBodies[0].replaceChildren();
  byId('failures').hidden = true;
  byId('no-failures').hidden = false;
  byId('failure-count').textContent = '';
}

async function start(convoy) {
  showError(undefined);
  const asked = spec();
  const provider = byId('provider').value;
  let batch;
  let attempt;
  try {
    batch = new convoy.Batch(asked);
    attempt = providerAttempt({
      baseUrl: byId('base-url').value.trim(),
      wire: provider === 'openai' ? 'openai' : 'anthropic',
      apiKey: byId('api-key').value,
      model: asked.model,
      maxTokens: asked.maxTokens,
    });
  } catch (error) {
    showError(error.message);
    return;
  }
  state.batch = batch;
  state.lines = [];
  state.retries = 0;
  state.asked = { concurrency: asked.concurrency, ...asked.limits };
  byId('retries').textContent = '0';
  clearFailures();

  batch.onProgress(showProgress);
  batch.onEvent((event) => {
    if (event.type === 'retryScheduled') byId('retries').textContent = count((state.retries += 1));
    if (event.type === 'failed') addFailure({ ...event, tier: tierOf(asked, event.attempt.item) });
  });
  setStatus('running');
  try {
    const summary = await batch.run(attempt);
    state.lines = exportLines(summary, asked.name);
    showProgress(summary);
    setStatus(summary.status);
  } catch (error) {
    showError(error.message);
    setStatus('idle');
  }
}

/** The tier of item `index` of `asked`: batches in order, as the core numbers them. */
function tierOf(asked, index) {
  let first = 0;
  for (const batch of asked.batches) {
    if (index < first + batch.count) return batch.tier;
    first += batch.count;
  }
  return '';
}

function download() {
  const name = byId('job-name').value.trim() || 'browser-batch';
  const blob = new Blob(
    state.lines.map((line) => `${line}\n`),
    { type: 'application/jsonl' },
  );
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `${name}.jsonl`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function command(name) {
  showError(undefined);
  try {
    state.batch?.[name]();
    const progress = state.batch?.progress();
    if (progress) showProgress(progress);
  } catch (error) {
    showError(error.message);
  }
}

function showEstimate(convoy) {
  const asked = spec();
  const line = byId('estimate');
  if (asked.batches.length === 0) {
    line.textContent = 'Enter how many items to generate.';
    return;
  }
  try {
    const { cost, time } = convoy.estimate({
      model: asked.model,
      batches: asked.batches,
      concurrency: asked.concurrency ?? 1,
      limits: asked.limits,
    });
    const strong = (text) => Object.assign(document.createElement('strong'), { textContent: text });
    line.replaceChildren(
      'Estimate: ',
      strong(usd(cost.expectedUsd)),
      ` (${usd(cost.lowUsd)}–${usd(cost.highUsd)}), about `,
      strong(duration(time.p50Seconds)),
      " at a real provider's pace.",
    );
  } catch (error) {
    line.textContent = `Estimate: ${error.message}`;
  }
}

async function main() {
  let convoy;
  try {
    convoy = await loadConvoy();
  } catch (error) {
    showError(error.message);
    byId('start').disabled = true;
    return;
  }
  for (const row of convoy.pricing()) byId('models').append(new Option(row.provider, row.model));
  byId('provider').addEventListener('change', () => {
    byId('base-url').value = DEFAULT_URLS[byId('provider').value];
    if (byId('provider').value !== 'mock') byId('api-key').value = '';
  });
  byId('settings').addEventListener('input', () => showEstimate(convoy));
  byId('start').addEventListener('click', () => start(convoy));
  byId('pause').addEventListener('click', () => command('pause'));
  byId('resume').addEventListener('click', () => command('resume'));
  byId('cancel').addEventListener('click', () => command('cancel'));
  byId('download').addEventListener('click', download);
  setStatus('idle');
  showEstimate(convoy);
  document.body.dataset.ready = 'true';
}

main();
