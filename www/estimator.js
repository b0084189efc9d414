// The estimator widget (index.html): reads the form, asks the wasm package for an
// estimate on every change, and shows cost, time, what binds, and the chart of time
// against concurrency.

import { concurrencySteps, drawChart } from './chart.js';
import { byId, count, duration, limitInWords, loadConvoy, numberIn, usd } from './common.js';

const TIERS = ['template', 'scenario', 'edge_case'];
const CUSTOM = 'custom';

/** The inputs a field path of an error message points at. */
const FIELD_INPUTS = {
  concurrency: 'concurrency',
  'latency.meanSeconds': 'latency',
  'limits.requestsPerMinute': 'rpm',
  'limits.inputTokensPerMinute': 'itpm',
  'limits.outputTokensPerMinute': 'otpm',
  'pricing.inputPerMillion': 'price-in',
  'pricing.outputPerMillion': 'price-out',
};

/** The estimate request the form describes. */
function request() {
  const model = byId('model').value;
  const batches = TIERS.map((tier) => ({
    tier,
    count: numberIn(byId(`count-${tier}`)) ?? 0,
  })).filter((batch) => batch.count !== 0);
  const limits = {
    requestsPerMinute: numberIn(byId('rpm')),
    inputTokensPerMinute: numberIn(byId('itpm')),
    outputTokensPerMinute: numberIn(byId('otpm')),
  };
  const latency = numberIn(byId('latency'));
  return {
    model: model === CUSTOM ? 'custom' : model,
    batches,
    concurrency: numberIn(byId('concurrency')) ?? 1,
    limits,
    pricing:
      model === CUSTOM
        ? {
            inputPerMillion: numberIn(byId('price-in')) ?? 0,
            outputPerMillion: numberIn(byId('price-out')) ?? 0,
          }
        : undefined,
    latency: latency === undefined ? undefined : { meanSeconds: latency },
  };
}

function showError(message) {
  const error = byId('error');
  error.hidden = !message;
  error.textContent = message ?? '';
  for (const input of document.querySelectorAll('input')) input.removeAttribute('aria-invalid');
  const field = message && /^([\w.[\]]+):/.exec(message)?.[1];
  const input = FIELD_INPUTS[field] ?? (/^batches\[(\d+)\]/.test(field ?? '') ? null : undefined);
  if (input) byId(input).setAttribute('aria-invalid', 'true');
}

function update(convoy) {
  const asked = request();
  if (asked.batches.length === 0) {
    showError('Enter how many items of at least one tier to generate.');
    return;
  }
  let estimate;
  try {
    estimate = convoy.estimate(asked);
  } catch (error) {
    showError(error.message);
    return;
  }
  showError(undefined);

  const { cost, time, tokens } = estimate;
  byId('cost-expected').textContent = usd(cost.expectedUsd);
  byId('cost-range').textContent = `likely ${usd(cost.lowUsd)} to ${usd(cost.highUsd)}`;
  byId('cost-split').textContent = `input ${usd(cost.inputUsd)} · output ${usd(cost.outputUsd)}`;
  byId('time-p50').textContent = duration(time.p50Seconds);
  byId('time-range').textContent =
    `8 runs in 10 take ${duration(time.p10Seconds)} to ${duration(time.p90Seconds)}`;
  byId('tokens').textContent =
    `${count(tokens.input)} input and ${count(tokens.output)} output tokens`;
  byId('binding').textContent = limitInWords(time.bindingLimit, {
    concurrency: asked.concurrency,
    ...asked.limits,
  });

  const points = concurrencySteps(asked.concurrency).map((concurrency) => ({
    concurrency,
    time: convoy.estimate({ ...asked, concurrency }).time,
  }));
  drawChart(byId('chart'), points, asked.concurrency);
}

async function start() {
  let convoy;
  try {
    convoy = await loadConvoy();
  } catch (error) {
    showError(error.message);
    return;
  }
  const select = byId('model');
  for (const row of convoy.pricing()) {
    const option = new Option(
      `${row.model} · $${row.inputPerMillion} / $${row.outputPerMillion} per M`,
      row.model,
    );
    select.append(option);
  }
  select.append(new Option('custom prices…', CUSTOM));
  select.value = 'claude-sonnet-4-5';

  let queued = false;
  const schedule = () => {
    byId('custom-prices').hidden = select.value !== CUSTOM;
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      update(convoy);
    });
  };
  byId('inputs').addEventListener('input', schedule);
  byId('inputs').addEventListener('change', schedule);
  schedule();
  document.body.dataset.ready = 'true';
}

start();
