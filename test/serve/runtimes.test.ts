/**
 * The same server code on Deno (Deno.serve) and Bun (Bun.serve), from the bundled
 * dist/scripts/serve.js: through the openai client, the greedy completion of an adapter, streamed
 * and whole, and a chat answer equal Node's (@hono/node-server) exactly; a bad body is the same 400;
 * SIGTERM exits 0.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { scratchDir } from '../reference/oracles.ts';
import { ROOT, startServer, writeServedModel } from './fixtures.ts';

/** What the checks read from one server. */
async function answers(url: string): Promise<unknown[]> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 });
  const whole = await client.completions.create({
    model: 'one',
    prompt: 'Once upon a time',
    max_tokens: 20,
    temperature: 0,
  });
  let streamed = '';
  for await (const c of await client.completions.create({
    model: 'one',
    prompt: 'Once upon a time',
    max_tokens: 20,
    temperature: 0,
    stream: true,
  }))
    streamed += c.choices[0]?.text ?? '';
  const chat = await client.chat.completions.create({
    model: 'base',
    messages: [{ role: 'user', content: 'Hi' }],
    max_tokens: 8,
    temperature: 0,
  });
  const bad = await fetch(`${url}/v1/completions`, { method: 'POST', body: '{"model": 1, "prompt": "x"}' });
  return [whole.choices[0].text, streamed, chat.choices[0].message.content, bad.status, (await bad.json()).error.param];
}

describe('serve on every runtime', () => {
  const dir = scratchDir();
  let args: string[], node: unknown[];
  before(async () => {
    execFileSync(process.execPath, ['tools/build.mjs', '--if-stale'], { cwd: ROOT, stdio: 'ignore' });
    const paths = await writeServedModel(dir);
    args = ['--load_checkpoint', paths.base, '--model_name', 'base', '--adapter', `one=${paths.one}`];
    const server = await startServer(args, 'node');
    node = await answers(server.url);
    assert.equal(await server.stop(), 0);
    assert.deepEqual(node.slice(3), [400, 'model']);
  });
  for (const runtime of ['deno', 'bun'] as const) {
    it(`${runtime}: the same answers as Node, and SIGTERM exits 0`, async () => {
      const server = await startServer(args, runtime);
      assert.match(server.output(), new RegExp(`\\(${runtime}\\)`));
      assert.deepEqual(await answers(server.url), node);
      assert.equal(await server.stop(), 0);
    });
  }
});
