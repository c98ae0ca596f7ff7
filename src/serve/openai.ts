/**
 * The OpenAI request bodies `serve` accepts, checked field by field: a wrong type or value is an
 * ApiError (400) naming the parameter. Fields this server does not use are ignored, as OpenAI
 * compatible servers do; those that would change the answer and are not implemented (n > 1,
 * logprobs, echo, tools) are refused by name.
 *
 * Defaults: max_tokens 16 (completions) or up to the model's positions (chat), temperature 1,
 * top_p 1, top_k 40, repetition_penalty 1, seed 0. temperature 0 is greedy decoding.
 */
import type { ChatMessage } from '../tokenizer/chat_template.ts';
import type { SamplingOptions } from '../generate/sampling.ts';

/** An error answered as an OpenAI error object: `{ error: { message, type, param, code } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  /** The OpenAI error type for the status. */
  get type(): string {
    if (this.status === 401) return 'authentication_error';
    if (this.status === 429) return 'rate_limit_error';
    if (this.status >= 500) return 'server_error';
    return 'invalid_request_error';
  }

  /** The JSON body. */
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** What both endpoints share once checked. */
export interface GenerationParams {
  model: string;
  /** null: as many as the model's positions allow */
  maxTokens: number | null;
  sampling: SamplingOptions;
  seed: number;
  stop: string[];
  stream: boolean;
  /** stream_options.include_usage */
  streamUsage: boolean;
}

/** A checked /v1/completions body. */
export interface CompletionParams extends GenerationParams {
  /** the prompt text, or its token ids */
  prompt: string | number[];
}

/** A checked /v1/chat/completions body. */
export interface ChatParams extends GenerationParams {
  messages: ChatMessage[];
}

const TOP_K_DEFAULT = 40;

const bad = (param: string, why: string): never => {
  throw new ApiError(400, `${param}: ${why}`, param);
};

function object(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ApiError(400, 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function num(
  b: Record<string, unknown>,
  key: string,
  def: number,
  ok: (v: number) => boolean,
  range: string,
  integer = false,
): number {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) return bad(key, `expected a number, got ${JSON.stringify(v)}`);
  if (integer && !Number.isInteger(v)) return bad(key, `expected an integer, got ${v}`);
  if (!ok(v)) return bad(key, `${v} is out of range (${range})`);
  return v;
}

function bool(b: Record<string, unknown>, key: string): boolean {
  const v = b[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') return bad(key, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** The fields both endpoints share; `maxTokensKeys` are the names max_tokens goes by. */
function generation(b: Record<string, unknown>, maxTokensKeys: string[], defaultMax: number | null): GenerationParams {
  if (typeof b.model !== 'string' || !b.model)
    bad('model', `expected the name of a model (GET /v1/models lists them), got ${JSON.stringify(b.model)}`);
  num(b, 'n', 1, (v) => v === 1, 'only 1 is supported', true);
  for (const key of ['logprobs', 'top_logprobs', 'echo', 'tools', 'functions', 'best_of', 'suffix']) {
    const v = b[key];
    if (v !== undefined && v !== null && v !== false && !(key === 'best_of' && v === 1))
      bad(key, 'not supported by this server');
  }
  let maxTokens: number | null = defaultMax;
  for (const key of maxTokensKeys)
    if (b[key] !== undefined && b[key] !== null) maxTokens = num(b, key, 16, (v) => v >= 1, 'at least 1', true);
  const temperature = num(b, 'temperature', 1, (v) => v >= 0 && v <= 2, '0 to 2');
  const topP = num(b, 'top_p', 1, (v) => v > 0 && v <= 1, 'above 0, at most 1');
  const topK = num(b, 'top_k', TOP_K_DEFAULT, (v) => v >= 0, '0 or more; 0 keeps every token', true);
  const repetitionPenalty = num(b, 'repetition_penalty', 1, (v) => v > 0, 'above 0');
  const seed = num(b, 'seed', 0, () => true, '', true);
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop)) {
    if (b.stop.length > 4) bad('stop', `at most 4 strings, got ${b.stop.length}`);
    stop = b.stop.map((s, i) =>
      typeof s === 'string' && s ? s : bad(`stop[${i}]`, `expected a non-empty string, got ${JSON.stringify(s)}`),
    );
  } else if (b.stop !== undefined && b.stop !== null)
    bad('stop', `expected a string or an array of strings, got ${JSON.stringify(b.stop)}`);
  const stream = bool(b, 'stream');
  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so)))
    bad('stream_options', 'expected an object');
  const streamUsage = so ? bool(so as Record<string, unknown>, 'include_usage') : false;
  return {
    model: b.model as string,
    maxTokens,
    seed,
    stop,
    stream,
    streamUsage,
    sampling: {
      doSample: temperature > 0,
      temperature: temperature > 0 ? temperature : 1,
      topK,
      topP,
      repetitionPenalty,
    },
  };
}

/** Checks a /v1/completions body. */
export function completionParams(body: unknown): CompletionParams {
  const b = object(body);
  const p = b.prompt;
  let prompt: string | number[];
  if (typeof p === 'string') prompt = p;
  else if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') prompt = p[0];
  else if (Array.isArray(p) && p.length > 0 && p.every((v) => Number.isInteger(v) && v >= 0)) prompt = p as number[];
  else
    return bad(
      'prompt',
      `expected a string, one string in an array, or an array of token ids, got ${JSON.stringify(p)?.slice(0, 80)}`,
    );
  if (prompt.length === 0) bad('prompt', 'empty');
  return { ...generation(b, ['max_tokens'], 16), prompt };
}

/** Checks a /v1/chat/completions body. */
export function chatParams(body: unknown): ChatParams {
  const b = object(body);
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    bad('messages', `expected a non-empty array of messages, got ${JSON.stringify(b.messages)?.slice(0, 80)}`);
  const messages = (b.messages as unknown[]).map((m, i): ChatMessage => {
    const where = `messages[${i}]`;
    if (m === null || typeof m !== 'object') return bad(where, 'expected an object with role and content');
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'developer')
      return bad(`${where}.role`, `expected system, user or assistant, got ${JSON.stringify(role)}`);
    let text: string;
    if (typeof content === 'string') text = content;
    else if (Array.isArray(content)) {
      text = content
        .map((part, j) => {
          const p = part as { type?: unknown; text?: unknown };
          if (p === null || typeof p !== 'object' || p.type !== 'text' || typeof p.text !== 'string')
            return bad(`${where}.content[${j}]`, 'only text parts ({"type": "text", "text": ...}) are supported');
          return p.text;
        })
        .join('');
    } else
      return bad(`${where}.content`, `expected a string or an array of text parts, got ${JSON.stringify(content)}`);
    return { role: role === 'developer' ? 'system' : role, content: text };
  });
  return { ...generation(b, ['max_tokens', 'max_completion_tokens'], null), messages };
}
