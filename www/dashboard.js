// The dashboard of `convoy serve`: sign in with a token (kept in this tab's session
// storage, never in a URL), list the user's jobs with live progress from their event
// streams, steer them, show failed items, export, and submit jobs with an estimate first.
//
// EventSource cannot send an Authorization header, so event streams are read with
// fetch() and parsed here. The API is only there when `convoy serve` serves the page;
// from a static server the page says so instead of failing in silence.

import { count, duration, LIMIT_NAMES, usd } from './common.js';

const TOKEN_KEY = 'convoy.token';
const ESTIMATE_DELAY_MS = 300;

const state = {
  token: null,
  jobs: new Map(),      // id -> the job's latest view
  streams: new Map(),   // id -> AbortController of its event stream
};

const $ = (selector, root = document) => root.querySelector(selector);

// ---------------------------------------------------------------- the API

/** What to say when the page is served without convoy's API behind it. */
const NO_API = 'no convoy API answers here: open the dashboard at the address convoy serve prints';

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? (status === 404 ? NO_API : `the server answered ${status}`));
    this.status = status;
    this.body = body;
  }
}

/** `fetch`, with a network failure said in words. */
async function request(path, options) {
  try {
    return await fetch(path, options);
  } catch (failure) {
    if (failure.name === 'AbortError') throw failure;
    throw new Error(`cannot reach the server (${failure.message}); is convoy serve running?`);
  }
}

async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await request(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (response.status === 401) {
    signOut('The token was refused; sign in again.');
    throw new ApiError(401, await response.json().catch(() => null));
  }
  if (!response.ok) {
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  return response;
}

// ---------------------------------------------------------------- signing in

async function signIn(token) {
  state.token = token;
  const response = await request('/api/jobs', {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    state.token = null;
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#no-server').hidden = true;
  $('#sign-in-panel').hidden = true;
  $('#signed-in').hidden = false;
  $('#who').hidden = false;
  const { jobs } = await response.json();
  for (const job of jobs.reverse()) showJob(job);
  await loadModels();
  scheduleEstimate();
}

function signOut(message = '') {
  for (const controller of state.streams.values()) controller.abort();
  state.streams.clear();
  state.jobs.clear();
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('#jobs').replaceChildren();
  $('#signed-in').hidden = true;
  $('#who').hidden = true;
  $('#sign-in-panel').hidden = false;
  $('#sign-in-error').textContent = message;
}

/** Shows the notice in the sign-in panel when no convoy server answers `/healthz`. */
async function checkServer() {
  let served = false;
  try {
    const response = await fetch('/healthz');
    served = response.ok && (await response.json()).status === 'ok';
  } catch {
    served = false;
  }
  $('#no-server').hidden = served;
}

// ---------------------------------------------------------------- jobs

const seconds = (ms) => ms / 1000;

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const ALLOWED = {
  pause: ['queued', 'running'],
  resume: ['paused'],
  cancel: ['queued', 'running', 'paused'],
  retry: ['completed', 'failed'],
};

function showJob(job) {
  state.jobs.set(job.id, job);
  let row = $(`.job[data-id="${job.id}"]`);
  if (!row) {
    row = $('#job-template').content.firstElementChild.cloneNode(true);
    row.dataset.id = job.id;
    row.addEventListener('click', (event) => onJobClick(job.id, event));
    $('#jobs').prepend(row);
  }
  row.dataset.status = job.status;
  $('.job-name', row).textContent = `${job.name} #${job.id}`;
  const status = $('.status', row);
  status.textContent = job.status;
  status.className = `status ${job.status}`;
  $('.job-meta', row).textContent = `${job.model} · ${job.provider} · ${job.priority}`;
  const bar = $('.bar', row);
  bar.setAttribute('aria-valuenow', String(Math.round(job.percent * 10) / 10));
  const share = (part) => `${(100 * part) / Math.max(job.total, 1)}%`;
  $('.done', bar).style.width = share(job.succeeded);
  $('.failed', bar).style.width = share(job.failed);
  $('.cancelled', bar).style.width = share(job.cancelled);
  $('.flight', bar).style.width = share(job.in_flight);
  const counts = [`${count(job.succeeded)} / ${count(job.total)} done`];
  if (job.failed) counts.push(`${count(job.failed)} failed`);
  if (job.in_flight) counts.push(`${count(job.in_flight)} in flight`);
  if (job.cancelled) counts.push(`${count(job.cancelled)} cancelled`);
  $('.counts', row).textContent = counts.join(' · ');
  $('.cost', row).textContent = `cost ${usd(job.cost_usd)}`;
  $('.eta', row).textContent = job.eta_ms != null && !FINISHED.has(job.status)
    ? `${duration(seconds(job.eta_ms))} left` : '';
  $('.binding', row).textContent = job.binding && job.status === 'running'
    ? `bound by ${job.binding}` : '';
  for (const [command, states] of Object.entries(ALLOWED)) {
    const button = $(`[data-command="${command}"]`, row);
    button.disabled = !states.includes(job.status) || (command === 'retry' && !job.failed);
  }
  $('#no-jobs').hidden = state.jobs.size > 0;
  if (!FINISHED.has(job.status)) follow(job.id);
}

async function onJobClick(id, event) {
  const button = event.target.closest('button');
  if (!button) return;
  const row = $(`.job[data-id="${id}"]`);
  const error = $('.job-error', row);
  error.textContent = '';
  try {
    if (button.dataset.command) {
      const response = await api(`/api/jobs/${id}/${button.dataset.command}`, { method: 'POST' });
      showJob(await response.json());
    } else if (button.dataset.action === 'failed') {
      await toggleFailed(id, row);
    } else if (button.dataset.action === 'export') {
      await exportJob(id);
    }
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function toggleFailed(id, row) {
  const box = $('.failed-items', row);
  if (!box.hidden) {
    box.hidden = true;
    return;
  }
  const response = await api(`/api/jobs/${id}/items?status=failed&limit=100`);
  const { items, next_after: more } = await response.json();
  if (items.length === 0) {
    box.textContent = 'No failed items.';
  } else {
    const table = document.createElement('table');
    table.innerHTML = '<thead><tr><th class="num">item</th><th>tier</th>'
      + '<th class="num">attempts</th><th>class</th><th>message</th></tr></thead>';
    const body = document.createElement('tbody');
    for (const item of items) body.append(failedRow(item));
    table.append(body);
    box.replaceChildren(table);
    if (more != null) box.append('The first 100 are shown.');
  }
  box.hidden = false;
}

/** A row of the failed items' table, laid out as the browser runner's failures. */
function failedRow(item) {
  const tr = document.createElement('tr');
  const cells = [
    [item.item, 'num'],
    [item.tier, ''],
    [item.attempts, 'num'],
    [item.class ?? '', 'class'],
    [item.message ?? '', ''],
  ];
  for (const [value, kind] of cells) {
    const td = document.createElement('td');
    if (kind === 'class' && value) {
      const badge = document.createElement('span');
      badge.className = 'class';
      badge.textContent = value;
      td.append(badge);
    } else {
      td.className = kind === 'num' ? 'num' : '';
      td.textContent = String(value);
    }
    tr.append(td);
  }
  return tr;
}

async function exportJob(id) {
  const response = await api(`/api/jobs/${id}/export`);
  const blob = await response.blob();
  const job = state.jobs.get(id);
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `${job?.name ?? 'job'}-${id}.jsonl`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// ---------------------------------------------------------------- event streams

async function follow(id) {
  if (state.streams.has(id)) return;
  const controller = new AbortController();
  state.streams.set(id, controller);
  try {
    const response = await api(`/api/jobs/${id}/events`, { signal: controller.signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        onEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (failure) {
    if (failure.name !== 'AbortError') console.warn(`events of job ${id}:`, failure);
  } finally {
    state.streams.delete(id);
  }
  // A stream that closed before its job ended (the server restarted) is opened again.
  const job = state.jobs.get(id);
  if (state.token && job && !FINISHED.has(job.status) && !controller.signal.aborted) {
    setTimeout(() => follow(id), 1000);
  }
}

function onEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (data.length === 0) return;
  const value = JSON.parse(data.join('\n'));
  if (name === 'progress' || name === 'end') showJob(value);
}

// ---------------------------------------------------------------- new jobs

async function loadModels() {
  const response = await api('/api/pricing');
  const select = $('#submit-form [name="model"]');
  const models = await response.json();
  select.replaceChildren(...models.map((row) => {
    const option = document.createElement('option');
    option.value = row.model;
    option.textContent = row.model;
    option.title = `$${row.inputPerMillion} in / $${row.outputPerMillion} out per million tokens`;
    return option;
  }));
  select.value = models.some((row) => row.model === 'claude-sonnet-4-5')
    ? 'claude-sonnet-4-5' : models[0]?.model;
}

function jobBody() {
  const form = $('#submit-form');
  const field = (name) => form.elements[name].value.trim();
  const body = {
    name: field('name'),
    model: field('model'),
    provider: field('provider'),
    priority: field('priority'),
    concurrency: Number(field('concurrency')),
    batches: [{ tier: field('tier'), count: Number(field('count')) }],
  };
  if (field('rpm')) body.limits = { requests_per_minute: Number(field('rpm')) };
  if (field('spend_cap_usd')) body.spend_cap_usd = Number(field('spend_cap_usd'));
  if (field('extra')) {
    let extra;
    try {
      extra = JSON.parse(field('extra'));
    } catch (failure) {
      throw new Error(`more fields: not valid JSON: ${failure.message}`);
    }
    Object.assign(body, extra);
  }
  return body;
}

let estimateTimer = null;
let estimateRound = 0;

function scheduleEstimate() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(showEstimate, ESTIMATE_DELAY_MS);
}

async function showEstimate() {
  const round = ++estimateRound;
  const box = $('#estimate');
  try {
    const response = await api('/api/estimate', { method: 'POST', body: jobBody() });
    const estimate = await response.json();
    if (round !== estimateRound) return;
    const { cost, time } = estimate;
    const limit = time.bindingLimit;
    box.replaceChildren(
      'Estimate: ', strong(usd(cost.expectedUsd)),
      ' ', range(`(${usd(cost.lowUsd)}–${usd(cost.highUsd)})`), ', about ',
      strong(duration(seconds(time.p50Ms))),
      ' ', range(`(${duration(seconds(time.p10Ms))} to ${duration(seconds(time.p90Ms))})`),
      `, bound by ${LIMIT_NAMES[limit] ?? limit}`,
    );
    box.classList.remove('error');
  } catch (failure) {
    if (round !== estimateRound) return;
    box.textContent = failure.message;
    box.classList.add('error');
  }
}

const strong = (text) => Object.assign(document.createElement('strong'), { textContent: text });
const range = (text) => Object.assign(document.createElement('span'), { textContent: text });

async function submitJob(event) {
  event.preventDefault();
  const error = $('#submit-error');
  error.textContent = '';
  const button = $('#submit');
  button.disabled = true;
  try {
    const response = await api('/api/jobs', { method: 'POST', body: jobBody() });
    showJob(await response.json());
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- start

function start() {
  $('#sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('#sign-in-error').textContent = '';
    try {
      await signIn($('#token').value.trim());
      $('#token').value = '';
    } catch (failure) {
      $('#sign-in-error').textContent = failure.message;
    }
  });
  $('#sign-out').addEventListener('click', () => signOut());
  $('#submit-form').addEventListener('input', scheduleEstimate);
  $('#submit-form').addEventListener('submit', submitJob);
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) signIn(kept).catch(() => signOut());
  checkServer();
}

start();
