/**
 * The HTTP routes of `serve` as a Hono app (web-standard Request and Response, so the same app
 * runs on Node, Deno and Bun): GET /health (no key needed: running, waiting, how generations
 * ended), GET /v1/models, POST
 * /v1/completions and /v1/chat/completions, streamed as server-sent events ending in
 * `data: [DONE]`. Every error is an OpenAI error object: 400 for malformed JSON, wrong types and
 * prompts too long, 401 without the API key, 404 for an unknown model or route, 413 for a body
 * over the limit, 429 when the queue is full, 503 while shutting down, 504 past the deadline.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import type { ServedAdapter } from '../model/adapters.ts';
import { EngineBusy, type GenerationResult } from './engine.ts';
import { ApiError, chatParams, completionParams, type GenerationParams } from './openai.ts';
import type { Served } from './served.ts';
import { CompletionText } from './text.ts';

/** HTTP settings. */
export interface AppOptions {
  /** every /v1 call must carry `Authorization: Bearer <apiKey>` */
  apiKey?: string;
  /** largest request body in bytes */
  bodyLimitBytes: number;
}

/** Compares two strings in time that depends only on their lengths. */
function sameKey(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

const errorResponse = (c: Context, err: ApiError) => c.json(err.body(), err.status as 400);

/** The app over a loaded model. */
export function createApp(served: Served, o: AppOptions): Hono {
  const app = new Hono();
  const created = Math.floor(Date.now() / 1000);
  app.onError((err, c) =>
    errorResponse(c, err instanceof ApiError ? err : new ApiError(500, `internal error: ${err.message}`)),
  );
  app.notFound((c) => errorResponse(c, new ApiError(404, `no route ${c.req.method} ${c.req.path}`)));

  // Run with node --expose-gc, /health also reports the JS heap after a full collection (for leak checks).
  const gc = (globalThis as { gc?: () => void }).gc;
  app.get('/health', (c) => {
    gc?.();
    return c.json({
      status: 'ok',
      ...served.engine.load,
      ...(gc ? { heap_mib: process.memoryUsage().heapUsed / 2 ** 20 } : {}),
    });
  });

  app.use('/v1/*', async (c, next) => {
    if (o.apiKey !== undefined && !sameKey(c.req.header('authorization') ?? '', `Bearer ${o.apiKey}`)) {
      return errorResponse(
        c,
        new ApiError(401, 'missing or wrong API key: send Authorization: Bearer <key>', null, 'invalid_api_key'),
      );
    }
    await next();
  });
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: o.bodyLimitBytes,
      onError: (c) =>
        errorResponse(c, new ApiError(413, `the request body is larger than the limit of ${o.bodyLimitBytes} bytes`)),
    }),
  );

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: [
        { id: served.name, object: 'model', created, owned_by: 'wasmformers' },
        ...[...served.adapters.keys()].map((id) => ({
          id,
          object: 'model',
          created,
          owned_by: 'wasmformers',
          parent: served.name,
        })),
      ],
    }),
  );

  app.post('/v1/completions', async (c) => {
    const p = completionParams(await jsonBody(c));
    const adapter = adapterOf(served, p.model);
    const prompt = typeof p.prompt === 'string' ? served.tok.encode(p.prompt, { bos: true, eos: false }) : p.prompt;
    return generate(c, served, p, adapter, prompt, []);
  });

  app.post('/v1/chat/completions', async (c) => {
    const p = chatParams(await jsonBody(c));
    const adapter = adapterOf(served, p.model);
    let prompt: number[];
    try {
      prompt = served.chat.promptIds(p.messages);
    } catch (err) {
      throw err instanceof ApiError ? err : new ApiError(400, `messages: ${(err as Error).message}`, 'messages');
    }
    return generate(c, served, p, adapter, prompt, served.chat.stopIds, true);
  });
  return app;
}

/** The request body as JSON; 400 naming the problem when it is not. */
async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The adapter a request's `model` names (undefined: the base); 404 for a name not served. */
function adapterOf(served: Served, model: string): ServedAdapter | undefined {
  if (model === served.name) return undefined;
  const adapter = served.adapters.get(model);
  if (!adapter)
    throw new ApiError(
      404,
      `model ${JSON.stringify(model)} does not exist here; GET /v1/models lists ${[served.name, ...served.adapters.keys()].join(', ')}`,
      'model',
      'model_not_found',
    );
  return adapter;
}

/** Runs one generation and answers it whole or streamed. */
function generate(
  c: Context,
  served: Served,
  p: GenerationParams,
  adapter: ServedAdapter | undefined,
  prompt: number[],
  stopIds: number[],
  chat = false,
): Response | Promise<Response> {
  const V = served.model.config.vocabSize,
    n = served.contextLength;
  const outside = prompt.find((id) => id >= V);
  if (outside !== undefined)
    throw new ApiError(400, `prompt: token id ${outside} is outside the vocabulary of ${V}`, 'prompt');
  if (prompt.length >= n)
    throw new ApiError(
      400,
      `the prompt has ${prompt.length} tokens; this server holds ${n} positions per sequence, so at most ${n - 1}`,
      chat ? 'messages' : 'prompt',
      'context_length_exceeded',
    );
  const maxTokens = p.maxTokens ?? n - prompt.length;
  if (prompt.length + maxTokens > n) {
    throw new ApiError(
      400,
      `the prompt has ${prompt.length} tokens and max_tokens is ${maxTokens}: ${prompt.length + maxTokens} positions, more than the ${n} this server holds per sequence`,
      p.maxTokens === null ? 'messages' : 'max_tokens',
      'context_length_exceeded',
    );
  }
  const text = new CompletionText(served.tok, prompt, p.stop);
  const pending: string[] = [];
  let wake: (() => void) | undefined;
  const abort = new AbortController();
  // A stream learns of a client gone through stream.onAbort; a whole answer through the request's
  // signal, which may outlive the request (a kept-alive connection's): its listener goes when the
  // generation ends.
  const clientGone = () => abort.abort(),
    requestSignal = p.stream ? undefined : c.req.raw.signal;
  requestSignal?.addEventListener('abort', clientGone);
  let done: Promise<GenerationResult>;
  try {
    done = served.engine.submit({
      prompt,
      adapter,
      maxTokens,
      sampling: p.sampling,
      seed: p.seed,
      stopIds: [served.model.config.eosId, ...stopIds],
      signal: abort.signal,
      onToken: (id) => {
        const delta = text.push(id);
        if (p.stream && delta) {
          pending.push(delta);
          wake?.();
        }
        return text.stopped;
      },
    });
  } catch (err) {
    requestSignal?.removeEventListener('abort', clientGone);
    if (err instanceof EngineBusy) throw new ApiError(err.draining ? 503 : 429, err.message);
    throw err;
  }
  void done.finally(() => requestSignal?.removeEventListener('abort', clientGone)).catch(() => {});
  const id = `${chat ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID()}`,
    created = Math.floor(Date.now() / 1000),
    model = p.model;
  const usage = (r: GenerationResult) => ({
    prompt_tokens: prompt.length,
    completion_tokens: r.tokens.length,
    total_tokens: prompt.length + r.tokens.length,
  });
  const failure = (r: GenerationResult) =>
    r.finish === 'deadline'
      ? new ApiError(504, `the request ran past the server's deadline of ${served.engine.limits.deadlineMs / 1000} s`)
      : new ApiError(503, 'the request was cancelled: the server is shutting down');
  if (!p.stream) {
    return waitFor(c, done, (r) => {
      if (r.finish !== 'stop' && r.finish !== 'length') return errorResponse(c, failure(r));
      const body = text.value;
      const choice = chat
        ? { index: 0, message: { role: 'assistant', content: body }, finish_reason: r.finish, logprobs: null }
        : { index: 0, text: body, finish_reason: r.finish, logprobs: null };
      return c.json({
        id,
        object: chat ? 'chat.completion' : 'text_completion',
        created,
        model,
        choices: [choice],
        usage: usage(r),
      });
    });
  }
  const chunk = (delta: string | null, finish: string | null) =>
    JSON.stringify({
      id,
      object: chat ? 'chat.completion.chunk' : 'text_completion',
      created,
      model,
      choices: [
        chat
          ? { index: 0, delta: delta === null ? {} : { content: delta }, finish_reason: finish, logprobs: null }
          : { index: 0, text: delta ?? '', finish_reason: finish, logprobs: null },
      ],
    });
  let result: GenerationResult | undefined;
  done.then(
    (r) => {
      result = r;
      wake?.();
    },
    () => {
      result = { tokens: [], finish: 'cancelled' };
      wake?.();
    },
  );
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => abort.abort());
    if (chat)
      await stream.writeSSE({
        data: JSON.stringify({
          id,
          object: 'chat.completion.chunk',
          created,
          model,
          choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }],
        }),
      });
    for (;;) {
      while (pending.length) await stream.writeSSE({ data: chunk(pending.shift()!, null) });
      if (result) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    const r = result;
    if (r.finish === 'stop' || r.finish === 'length') {
      const rest = text.flush();
      if (rest) await stream.writeSSE({ data: chunk(rest, null) });
      await stream.writeSSE({ data: chunk(null, r.finish) });
      if (p.streamUsage)
        await stream.writeSSE({
          data: JSON.stringify({
            id,
            object: chat ? 'chat.completion.chunk' : 'text_completion',
            created,
            model,
            choices: [],
            usage: usage(r),
          }),
        });
    } else if (!abort.signal.aborted) {
      await stream.writeSSE({ data: JSON.stringify(failure(r).body()) });
    }
    await stream.writeSSE({ data: '[DONE]' });
  });
}

/** The response built from a generation's result once it ends (a failed generation is a 500 naming why). */
async function waitFor(
  c: Context,
  done: Promise<GenerationResult>,
  answer: (r: GenerationResult) => Response,
): Promise<Response> {
  try {
    return answer(await done);
  } catch (err) {
    return errorResponse(c, new ApiError(500, `generation failed: ${(err as Error).message}`));
  }
}
