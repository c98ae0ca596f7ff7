/**
 * `wasmformers serve` driven by the official `openai` client on 127.0.0.1, on a tiny random
 * model with two random PEFT adapters. Oracles: greedy text equals `run_mindformer --run_mode
 * predict` on the same prompt and adapter (the one-sequence decoding path, in another process);
 * the chat prompt is SPEC.md's Vicuna v1.1 format written out by hand; streamed deltas add up to
 * the whole answer; requests of both adapters and the base decoding in the same batch (their
 * streams overlap in time) give the text each gives alone. Every error status comes back as an
 * OpenAI error object that names the parameter or the numbers, and SIGTERM lets a running
 * request finish before the process exits 0.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { runCli } from '../fixtures.ts';
import { scratchDir } from '../reference/oracles.ts';
import { startServer, writeServedModel, type ServerProcess } from './fixtures.ts';

const KEY = 'test-key';
const VICUNA =
  "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";

/** The text run_mindformer predict prints for `prompt` through `checkpoint` (a model or an adapter folder), `maxLength` positions in all. */
async function predict(checkpoint: string, prompt: string, maxLength: number, out: string): Promise<string> {
  const r = await runCli(
    [
      'run_mindformer',
      '--config',
      'configs/llama2/lora_tiny.yaml',
      '--run_mode',
      'predict',
      '--predict_data',
      prompt,
      '--load_checkpoint',
      checkpoint,
      '--model.model_config.max_decode_length',
      String(maxLength),
      '--output_dir',
      out,
    ],
    { source: true },
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l && !l.startsWith('warning'))[0];
}

/** The streamed text of a completion and when its first and last pieces came. */
async function streamed(
  client: OpenAI,
  body: { model: string; prompt: string; max_tokens: number },
): Promise<{ text: string; first: number; last: number; finish: string | null }> {
  const stream = await client.completions.create({ ...body, temperature: 0, stream: true });
  let text = '',
    first = 0,
    last = 0,
    finish: string | null = null;
  for await (const chunk of stream) {
    const now = performance.now();
    if (!first) first = now;
    last = now;
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, first, last, finish };
}

/** The error a call throws (it must throw). */
async function failure(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call();
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  assert.fail('the call succeeded');
}

describe('serve', () => {
  const dir = scratchDir();
  let paths: Awaited<ReturnType<typeof writeServedModel>>;
  let server: ServerProcess, client: OpenAI;
  before(async () => {
    paths = await writeServedModel(dir);
    server = await startServer([
      '--load_checkpoint',
      paths.base,
      '--model_name',
      'base',
      '--adapter',
      `one=${paths.one}`,
      '--adapter',
      `two=${paths.two}`,
      '--api_key',
      KEY,
      '--body_limit',
      '8192',
      '--max_running',
      '4',
      '--max_queue',
      '1',
    ]);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    if (server.child.exitCode === null) await server.stop();
  });

  it('lists the base and each adapter; /health needs no key', async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['base', 'one', 'two'],
    );
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, 'ok');
  });

  it('greedy completions equal run_mindformer predict on the same prompt, for the base and each adapter; streamed pieces add up to the same text', async () => {
    const prompt = 'Give three tips',
      maxLength = 24;
    const texts = new Set<string>();
    for (const [model, checkpoint] of [
      ['base', paths.base],
      ['one', paths.one],
      ['two', paths.two],
    ]) {
      const want = await predict(checkpoint, prompt, maxLength, `${dir}/predict-${model}`);
      const ids = (await client.completions.create({ model, prompt, max_tokens: 1, temperature: 0 })).usage!
        .prompt_tokens;
      const got = await client.completions.create({ model, prompt, max_tokens: maxLength - ids, temperature: 0 });
      assert.equal(prompt + got.choices[0].text, want, `${model}: served vs predict`);
      assert.equal(got.choices[0].finish_reason, 'length');
      assert.equal(got.usage!.completion_tokens, maxLength - ids);
      const s = await streamed(client, { model, prompt, max_tokens: maxLength - ids });
      assert.equal(s.text, got.choices[0].text, `${model}: streamed`);
      assert.equal(s.finish, 'length');
      texts.add(got.choices[0].text);
    }
    assert.equal(texts.size, 3, 'each adapter changes the text');
  });

  it('chat renders the Vicuna v1.1 conversation (no template in the tokenizer), streamed or not', async () => {
    const messages = [{ role: 'user' as const, content: 'Name a colour.' }];
    const chat = await client.chat.completions.create({ model: 'one', messages, max_tokens: 10, temperature: 0 });
    const plain = await client.completions.create({
      model: 'one',
      prompt: `${VICUNA} USER: Name a colour. ASSISTANT:`,
      max_tokens: 10,
      temperature: 0,
    });
    assert.equal(chat.choices[0].message.content, plain.choices[0].text);
    assert.equal(chat.usage!.prompt_tokens, plain.usage!.prompt_tokens);
    const stream = await client.chat.completions.create({
      model: 'one',
      messages,
      max_tokens: 10,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '',
      usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, chat.choices[0].message.content);
    assert.deepEqual(usage, chat.usage);
  });

  it('stop strings end the text before them with finish_reason stop; a seed makes sampling repeatable', async () => {
    const whole = (await client.completions.create({ model: 'two', prompt: 'Hello', max_tokens: 12, temperature: 0 }))
      .choices[0].text;
    const stop = whole.slice(whole.length / 2, whole.length / 2 + 2);
    const cut = await client.completions.create({
      model: 'two',
      prompt: 'Hello',
      max_tokens: 12,
      temperature: 0,
      stop: [stop],
    });
    assert.equal(cut.choices[0].text, whole.slice(0, whole.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, 'stop');
    const sample = () =>
      client.completions.create({ model: 'two', prompt: 'Hello', max_tokens: 12, temperature: 1.5, seed: 7 });
    assert.equal((await sample()).choices[0].text, (await sample()).choices[0].text);
  });

  it('the base and both adapters decoding in one batch give the text each gives alone', async () => {
    const jobs = [
      ['one', 'Once upon a time'],
      ['two', 'Once upon a time'],
      ['base', 'The sky is'],
      ['one', 'The sky is'],
    ] as const;
    const alone = [];
    for (const [model, prompt] of jobs)
      alone.push((await client.completions.create({ model, prompt, max_tokens: 40, temperature: 0 })).choices[0].text);
    const together = await Promise.all(
      jobs.map(([model, prompt]) => streamed(client, { model, prompt, max_tokens: 40 })),
    );
    assert.ok(
      Math.max(...together.map((t) => t.first)) < Math.min(...together.map((t) => t.last)),
      'the four streams overlapped',
    );
    assert.deepEqual(
      together.map((t) => t.text),
      alone,
    );
  });

  it('answers each error with an OpenAI error object: 400, 401, 404, 413, 429', async () => {
    const post = (body: string, key = KEY) =>
      fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      });
    const malformed = await post('{"model": "base", "prompt": ');
    assert.equal(malformed.status, 400);
    assert.match((await malformed.json()).error.message, /not valid JSON/);
    const wrongType = await failure(() =>
      client.completions.create({ model: 'base', prompt: 'Hi', max_tokens: 'many' as unknown as number }),
    );
    assert.equal(wrongType.status, 400);
    assert.equal((wrongType.error as { param: string }).param, 'max_tokens');
    const temperature = await failure(() => client.completions.create({ model: 'base', prompt: 'Hi', temperature: 9 }));
    assert.match(temperature.message, /temperature: 9 is out of range/);
    const tooLong = await failure(() => client.completions.create({ model: 'base', prompt: 'Hi', max_tokens: 300 }));
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.message, /the prompt has 2 tokens and max_tokens is 300: 302 positions, more than the 256/);
    const noKey = await failure(() =>
      new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list(),
    );
    assert.equal(noKey.status, 401);
    const unknown = await failure(() => client.completions.create({ model: 'three', prompt: 'Hi' }));
    assert.equal(unknown.status, 404);
    const big = await post(JSON.stringify({ model: 'base', prompt: 'a'.repeat(9000) }));
    assert.equal(big.status, 413);
    assert.match((await big.json()).error.message, /larger than the limit of 8192 bytes/);
    // 4 running and 1 waiting: of 8 at once, 3 are refused with 429.
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        client.completions.create({ model: 'base', prompt: 'Hi', max_tokens: 60, temperature: 0 }),
      ),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(refused.length, 3);
    for (const r of refused) assert.equal((r.reason as InstanceType<typeof OpenAI.APIError>).status, 429);
    // The server goes on afterwards.
    assert.equal((await client.completions.create({ model: 'base', prompt: 'Hi', max_tokens: 2 })).choices.length, 1);
  });

  it('a client that goes away, mid-stream or waiting for the whole answer, cancels its sequence and frees its cache', async () => {
    const health = async () => (await fetch(`${server.url}/health`)).json();
    const before = (await health()).finished.cancelled;
    const abort = new AbortController();
    const stream = await client.completions.create(
      { model: 'one', prompt: 'Hello', max_tokens: 200, temperature: 0, stream: true },
      { signal: abort.signal },
    );
    let pieces = 0;
    try {
      for await (const _ of stream) if (++pieces === 3) abort.abort();
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIUserAbortError || (err as Error).name === 'AbortError', String(err));
    }
    assert.equal(pieces, 3);
    let load = await health();
    for (let i = 0; i < 50 && load.running !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      load = await health();
    }
    assert.equal(load.running, 0);
    assert.equal(load.finished.cancelled, before + 1, 'ended as cancelled, not by running to max_tokens');
    // A whole (not streamed) answer whose client gives up waiting.
    const whole = new AbortController();
    const pending = client.completions.create(
      { model: 'one', prompt: 'Hello', max_tokens: 250, temperature: 0 },
      { signal: whole.signal },
    );
    setTimeout(() => whole.abort(), 30);
    await assert.rejects(pending);
    for (let i = 0; i < 50 && load.finished.cancelled === before + 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      load = await health();
    }
    assert.equal(load.finished.cancelled, before + 2);
  });

  it('refuses bad settings with one line and exit 1 before listening', async () => {
    for (const [args, message] of [
      [['--adapter', 'one'], /^serve: --adapter takes name=path/],
      [['--adapter', `x=${paths.base}`], /^serve: --adapter x: .*adapter_config\.json: missing/],
      [
        ['--max_running', '100000'],
        /^serve: KV caches for 100000 sequences of 256 positions take .* GiB.*lower --max_running or --max_seq_length$/,
      ],
      [['--timeout', '0'], /^serve: --timeout takes a number of seconds above 0, got 0$/],
      [['--threads', '0'], /^serve: --threads takes a whole number of at least 1, got 0$/],
    ] as const) {
      const r = await runCli(['serve', '--load_checkpoint', paths.base, '--port', '0', ...args], { source: true });
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });

  it('a request that runs past --timeout is a 504 naming the deadline, whole or streamed, and the server goes on', async () => {
    // A deadline of 2 ms: 200 greedy tokens of the base cannot be done by then.
    const hurried = await startServer(['--load_checkpoint', paths.base, '--model_name', 'base', '--timeout', '0.002']);
    try {
      const c = new OpenAI({ baseURL: `${hurried.url}/v1`, apiKey: 'none', maxRetries: 0 });
      const body = { model: 'base', prompt: 'Give three tips', max_tokens: 200, temperature: 0 };
      const whole = await failure(() => c.completions.create(body));
      assert.equal(whole.status, 504);
      assert.match(whole.message, /ran past the server's deadline of 0\.002 s/);
      const streamedErr = await failure(async () => {
        for await (const _ of await c.completions.create({ ...body, stream: true }));
      });
      assert.match(streamedErr.message, /ran past the server's deadline of 0\.002 s/);
      const health = await (await fetch(`${hurried.url}/health`)).json();
      assert.equal(health.status, 'ok');
      assert.equal(health.finished.deadline, 2);
      assert.equal(health.running, 0);
    } finally {
      await hurried.stop();
    }
  });

  it('SIGTERM lets the running request finish, then exits 0', async () => {
    const pending = client.completions.create({ model: 'two', prompt: 'Hello', max_tokens: 150, temperature: 0 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const code = await server.stop('SIGTERM');
    const done = await pending;
    assert.equal(done.choices[0].finish_reason, 'length');
    assert.equal(done.usage!.completion_tokens, 150);
    assert.equal(code, 0);
    assert.match(server.output(), /SIGTERM: no new requests; finishing 1 running/);
  });
});
