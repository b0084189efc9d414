// One attempt of one item against an LLM provider, from a browser or Node 20: the
// request in the Anthropic Messages or OpenAI Chat Completions wire format, and the
// reply classified as convoy's native runner classifies it. Plain ES module that uses
// only `fetch`; the result is what a `Batch`'s attempt function resolves or rejects.

import { parseConversation, renderPrompt } from './conversation.js';

/** The path each wire format posts to, after the base URL. */
export const PATHS = { anthropic: '/v1/messages', openai: '/v1/chat/completions' };

/** A failure as a `Batch` reads it: `class`, `message`, and what else is known. */
function failure(klass, message, extra = {}) {
  return { class: klass, message, ...extra };
}

/** The failure class of an error status, per the table in convoy's design. */
export function classify(status, kind, message) {
  const text = `${message}`.toLowerCase();
  const outOfMoney =
    kind === 'insufficient_quota' ||
    ['spend limit', 'usage limit', 'credit balance', 'exceeded your current quota'].some((words) =>
      text.includes(words),
    );
  if (status === 429) return outOfMoney ? 'permanent' : 'rate_limited';
  if (status === 503 || status === 529) return 'overloaded';
  if (status === 408 || status === 409 || status >= 500) return 'transient';
  return 'permanent';
}

/** Milliseconds to wait from `retry-after-ms` or `retry-after` (seconds), if given. */
function retryAfter(headers) {
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const seconds = Number.parseFloat(headers.get('retry-after') ?? '');
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  return undefined;
}

/** The text and token usage of a successful reply body. */
function readReply(wire, body) {
  if (wire === 'anthropic') {
    if (!body?.usage) throw new Error('has no usage');
    const text = (body.content ?? [])
      .filter((block) => block.type === 'text')
      .map((block) => block.text)
      .join('');
    return {
      text,
      usage: {
        inputTokens: body.usage.input_tokens ?? 0,
        outputTokens: body.usage.output_tokens ?? 0,
        cacheWriteTokens: body.usage.cache_creation_input_tokens ?? 0,
        cacheReadTokens: body.usage.cache_read_input_tokens ?? 0,
      },
    };
  }
  if (!body?.usage) throw new Error('has no usage');
  const cached = body.usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    text: body.choices?.[0]?.message?.content ?? '',
    usage: {
      inputTokens: Math.max(0, (body.usage.prompt_tokens ?? 0) - cached),
      outputTokens: body.usage.completion_tokens ?? 0,
      cacheWriteTokens: 0,
      cacheReadTokens: cached,
    },
  };
}

/**
 * An attempt function for `Batch.run`: posts the item's rendered prompt to
 * `baseUrl` + the wire format's path and resolves `{ usage, output: { messages } }`,
 * or rejects with `{ class, message, retryAfterMs?, usage? }`.
 *
 * `wire` is `anthropic` or `openai`; `apiKey` is sent as `x-api-key` or as a bearer
 * token and goes nowhere else; `parameters` are the job's shared prompt parameters
 * (the item's own come with the item).
 */
export function providerAttempt({
  baseUrl,
  wire,
  apiKey,
  model,
  maxTokens = 4096,
  timeoutMs = 120000,
}) {
  if (!(wire in PATHS))
    throw new Error(`wire: unknown format \`${wire}\`, expected anthropic or openai`);
  const url = `${String(baseUrl).replace(/\/+$/, '')}${PATHS[wire]}`;
  const headers = { 'content-type': 'application/json' };
  if (wire === 'anthropic') {
    headers['x-api-key'] = apiKey;
    headers['anthropic-version'] = '2023-06-01';
    headers['anthropic-dangerous-direct-browser-access'] = 'true';
  } else {
    headers.authorization = `Bearer ${apiKey}`;
  }

  return async (item) => {
    let prompt;
    try {
      prompt = renderPrompt(item.tier, item.parameters);
    } catch (error) {
      throw failure('permanent', error.message);
    }
    const body = JSON.stringify({
      model,
      max_tokens: maxTokens,
      messages: [{ role: 'user', content: prompt }],
    });

    let response;
    let text;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = error?.name === 'TimeoutError';
      const cause = error?.cause?.message ? `: ${error.cause.message}` : '';
      throw failure(
        'transient',
        timedOut ? `timed out after ${timeoutMs} ms` : `cannot connect: ${error.message}${cause}`,
      );
    }

    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const detail = json?.error;
      const kind = detail?.type ?? detail?.code ?? undefined;
      const said = detail?.message ?? (text.trim().slice(0, 200) || 'with an empty body');
      const klass = classify(response.status, kind, said);
      const message = kind ? `${response.status} ${kind}: ${said}` : `${response.status} ${said}`;
      const wait = klass === 'rate_limited' ? retryAfter(response.headers) : undefined;
      throw failure(klass, message, wait === undefined ? {} : { retryAfterMs: wait });
    }

    let reply;
    try {
      reply = readReply(wire, json);
    } catch (error) {
      const problem = json === undefined ? `is not json (${text.length} bytes)` : error.message;
      throw failure('transient', `${response.status} reply ${problem}`);
    }
    try {
      return { usage: reply.usage, output: { messages: parseConversation(reply.text) } };
    } catch (error) {
      throw failure('bad_output', `reply is not a conversation: ${error.message}`, {
        usage: reply.usage,
      });
    }
  };
}
