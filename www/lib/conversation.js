// Conversations as convoy's native runner makes and checks them, for browsers and Node:
// the built-in prompt of each tier, the check a reply must pass, and the JSONL line of
// the native export (`convoy export`). Plain ES module, no dependencies.

const ANSWER_FORMAT = `Answer with one JSON object and nothing else:
{"turns": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
Turns alternate, starting with the user. No turn is empty.`;

/**
 * The built-in prompt templates, as the native runner has them (native/src/prompt.rs);
 * wasm/tests/js/prompts.test.mjs checks every one against `convoy prompt`.
 */
export const TEMPLATES = {
  template:
    'You write training data for a chat assistant.\n\n' +
    'Write one realistic conversation between a user and a helpful assistant about ' +
    '{{topic|an everyday question the user has}}.\n' +
    'Domain: {{domain|general customer support}}. Language: {{language|English}}.\n' +
    'The conversation has {{turns|6}} turns. The user writes naturally, with the small ' +
    'imprecisions real people have; the assistant is accurate, concise and friendly, ' +
    'asks a clarifying question when the request is ambiguous, and never invents facts.\n\n' +
    ANSWER_FORMAT,
  scenario:
    'You write training data for a chat assistant.\n\n' +
    'Write one conversation that plays out this scenario from start to finish:\n' +
    '{{scenario|the user tries to solve a problem that takes several steps}}\n\n' +
    'Domain: {{domain|general customer support}}. Language: {{language|English}}.\n' +
    'The user has a goal, gives context a little at a time and reacts to what the ' +
    'assistant says; the assistant keeps track of everything said so far, works step by ' +
    'step and confirms that the goal is reached. Use {{turns|8}} turns.\n\n' +
    ANSWER_FORMAT,
  edge_case:
    'You write training data for a chat assistant, focusing on hard cases.\n\n' +
    "Write one conversation in which the user's request is difficult to handle well: " +
    '{{edge_case|ambiguous, partly out of scope, or based on a false premise}}.\n' +
    'Domain: {{domain|general customer support}}. Language: {{language|English}}.\n' +
    'The assistant stays helpful and honest: it points out the problem politely, ' +
    'declines what it must decline with a short reason, and offers what it can do ' +
    'instead. Use {{turns|6}} turns.\n\n' +
    ANSWER_FORMAT,
};

/**
 * The prompt of an item of `tier` (a tier without a template of its own uses
 * `template`'s): placeholders `{{name}}` or `{{name|default}}` filled from `parameters`.
 * Throws an Error naming the template and the parameter when one has no value.
 */
export function renderPrompt(tier, parameters = {}) {
  const name = tier in TEMPLATES ? tier : 'template';
  return TEMPLATES[name].replace(/\{\{([^}|]+)(?:\|([^}]*))?\}\}/g, (_, key, fallback) => {
    const value = parameters[key.trim()] ?? fallback?.trim();
    if (value === undefined) throw new Error(`template ${name}: missing parameter ${key.trim()}`);
    return String(value);
  });
}

/** The JSON part of a reply: the whole text when it is an object, else a fenced block. */
function extractJson(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return trimmed;
  for (const match of trimmed.matchAll(/```([^\n]*)\n([\s\S]*?)```/g)) {
    const info = match[1].trim().toLowerCase();
    const block = match[2].trim();
    if ((info === '' || info === 'json') && block.startsWith('{')) return block;
  }
  return undefined;
}

/**
 * Checks a model's reply: one JSON object `{"turns": [...]}` (bare or in a ```json
 * fence), at least two turns alternating from `user`, none empty. Returns the turns as
 * chat messages, or throws an Error saying which rule the reply breaks, in the native
 * runner's words.
 */
export function parseConversation(text) {
  const json = extractJson(text);
  if (json === undefined) throw new Error('reply holds no json object, bare or in a ```json fence');
  let value;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new Error(`reply is not valid json: ${error.message}`);
  }
  if (Array.isArray(value))
    throw new Error('expected an object with a "turns" array, got an array');
  if (value === null || typeof value !== 'object') {
    throw new Error('expected an object with a "turns" array, got a json scalar');
  }
  if (!('turns' in value)) {
    throw new Error('expected an object with a "turns" array, got an object without "turns"');
  }
  if (!Array.isArray(value.turns)) {
    throw new Error('expected an object with a "turns" array, got a "turns" that is not an array');
  }
  const messages = value.turns.map((turn, index) => {
    const number = index + 1;
    if (typeof turn?.role !== 'string' || typeof turn?.content !== 'string') {
      throw new Error(`turn ${number}: expected an object with string "role" and "content"`);
    }
    const expected = index % 2 === 0 ? 'user' : 'assistant';
    if (turn.role !== expected) {
      throw new Error(`turn ${number}: expected role ${expected}, got ${turn.role.slice(0, 40)}`);
    }
    if (turn.content.trim() === '') throw new Error(`turn ${number}: content is empty`);
    return { role: expected, content: turn.content };
  });
  if (messages.length < 2) throw new Error(`expected at least 2 turns, got ${messages.length}`);
  return messages;
}

/**
 * The lines of a JSONL export of a batch's summary, in item order, in the shape of
 * `convoy export`: `{"messages": [...], "metadata": {"job", "item", "tier",
 * "parameters", "model", "usage", "cost_usd"}}`. Results without messages are skipped.
 */
export function exportLines(summary, job) {
  return [...summary.results]
    .filter((result) => Array.isArray(result.output?.messages))
    .sort((a, b) => a.item - b.item)
    .map((result) =>
      JSON.stringify({
        messages: result.output.messages,
        metadata: {
          job,
          item: result.item,
          tier: result.tier,
          parameters: result.parameters,
          model: summary.model,
          usage: result.usage,
          cost_usd: result.costUsd,
        },
      }),
    );
}
