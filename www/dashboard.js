// The dashboard of `convoy serve`: sign in with a token (kept in this tab's session
// storage, never in a URL), list the user's jobs with live progress from their event
// streams, steer them, show failed items, export, and submit jobs with an estimate first.
//
// EventSource cannot send an Authorization header, so event streams are read with
// fetch() and parsed here.

const TOKEN_KEY = 'convoy.token';
const ESTIMATE_DELAY_MS = 300;

const state = {
  token: null,
  jobs: new Map(),      // id -> the job's latest view
  streams: new Map(),   // id -> AbortController of its event stream
};

const $ = (selector, root = document) => root.querySelector(selector);

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
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
  const response = await fetch('/api/jobs', { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) {
    state.token = null;
    const body = await response.json().catch(() => null);
    throw new Error(body?.error ?? `the server answered ${response.status}`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
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

// ---------------------------------------------------------------- jobs

const money = (usd) => `$${usd.toFixed(usd < 1 ? 4 : 2)}`;

function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

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
  status.dataset.status = job.status;
  $('.job-meta', row).textContent = `${job.model} · ${job.provider} · ${job.priority}`;
  const percent = Math.round(job.percent * 10) / 10;
  const bar = $('.bar', row);
  bar.setAttribute('aria-valuenow', String(percent));
  $('.fill', bar).style.width = `${percent}%`;
  const counts = [`${job.succeeded} / ${job.total} done`];
  if (job.failed) counts.push(`${job.failed} failed`);
  if (job.in_flight) counts.push(`${job.in_flight} in flight`);
  if (job.cancelled) counts.push(`${job.cancelled} cancelled`);
  $('.counts', row).textContent = counts.join(' · ');
  $('.cost', row).textContent = `cost ${money(job.cost_usd)}`;
  $('.eta', row).textContent = job.eta_ms != null && !FINISHED.has(job.status)
    ? `eta ${duration(job.eta_ms)}` : '';
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
  const box = $('.failed', row);
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
    table.innerHTML = '<thead><tr><th>item</th><th>tier</th><th>attempts</th>'
      + '<th>class</th><th>message</th></tr></thead>';
    const body = document.createElement('tbody');
    for (const item of items) {
      const tr = document.createElement('tr');
      for (const value of [item.item, item.tier, item.attempts, item.class ?? '', item.message ?? '']) {
        const td = document.createElement('td');
        td.textContent = String(value);
        tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    box.replaceChildren(table);
    if (more != null) box.append('… the first 100 are shown.');
  }
  box.hidden = false;
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
    box.innerHTML = '';
    box.append(
      'Estimate: ', strong(money(cost.expectedUsd)),
      ` (${money(cost.lowUsd)}–${money(cost.highUsd)}), about `, strong(duration(time.p50Ms)),
      ` (${duration(time.p10Ms)}–${duration(time.p90Ms)}), bound by ${words(time.bindingLimit)}`,
    );
    box.classList.remove('error');
  } catch (failure) {
    if (round !== estimateRound) return;
    box.textContent = failure.message;
    box.classList.add('error');
  }
}

const strong = (text) => Object.assign(document.createElement('strong'), { textContent: text });
const words = (camel) => camel.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`);

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
}

start();
