/**
 * A bounded load test of `serve` on 127.0.0.1: three rounds of 300 requests from 16 concurrent
 * streaming clients (openai client), spread over the base and two adapters, with about one in
 * ten cancelled after its second piece and one in twenty-five malformed. Properties: nothing
 * fails except the intended 400s (and 429s, should the queue fill); every completed stream ends
 * with a finish_reason; afterwards nothing is running or waiting; and the server's JS heap after a
 * full collection (node --expose-gc: /health reports it) is the same after each round, within
 * 2 MiB (a leak of even 7 KiB per request would add that much per round).
 * Prints p50/p99 time to first token and tokens/s (on a shared machine: indicative only).
 * SERVE_LOAD_ROUNDS=n runs n rounds instead of three.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { scratchDir } from '../reference/oracles.ts';
import { startServer, writeServedModel, type ServerProcess } from './fixtures.ts';

const ROUNDS = Number(process.env.SERVE_LOAD_ROUNDS ?? 3),
  REQUESTS = 300,
  CLIENTS = 16,
  MODELS = ['base', 'one', 'two'];

/** Resident memory of a process in MiB (Linux). */
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

interface Round {
  ttft: number[];
  tokens: number;
  seconds: number;
  outcomes: Record<string, number>;
}

/** One round: request i goes to client i % CLIENTS; returns what happened. */
async function round(client: OpenAI, url: string): Promise<Round> {
  const ttft: number[] = [],
    outcomes: Record<string, number> = {};
  let tokens = 0;
  const count = (k: string) => {
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  };
  const one = async (i: number) => {
    const model = MODELS[i % 3];
    if (i % 25 === 7) {
      const r = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        body: i % 2 ? '{"model": "base", "prompt": [' : JSON.stringify({ model, prompt: 'x', top_k: 'ten' }),
      });
      count(`malformed ${r.status}`);
      return;
    }
    const cancel = i % 10 === 3,
      abort = new AbortController(),
      t0 = performance.now();
    try {
      const stream = await client.completions.create(
        { model, prompt: `Story number ${i}:`, max_tokens: 8 + (i % 25), temperature: 0.8, seed: i, stream: true },
        { signal: abort.signal },
      );
      let pieces = 0,
        finish: string | null = null;
      for await (const chunk of stream) {
        if (pieces === 0) ttft.push(performance.now() - t0);
        if (chunk.choices[0]?.text) {
          pieces++;
          tokens++;
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (cancel && pieces === 2) abort.abort();
      }
      count(
        cancel && abort.signal.aborted
          ? 'cancelled'
          : finish
            ? `finished ${finish}`
            : 'stream ended without finish_reason',
      );
    } catch (err) {
      if (err instanceof OpenAI.APIUserAbortError || (cancel && abort.signal.aborted)) count('cancelled');
      else count(err instanceof OpenAI.APIError ? `error ${err.status}` : `failed ${(err as Error).message}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = c; i < REQUESTS; i += CLIENTS) await one(i);
    }),
  );
  return { ttft, tokens, seconds: (performance.now() - t0) / 1000, outcomes };
}

describe('serve under load', () => {
  const dir = scratchDir();
  let server: ServerProcess;
  before(async () => {
    const p = await writeServedModel(dir);
    server = await startServer(
      [
        '--load_checkpoint',
        p.base,
        '--model_name',
        'base',
        '--adapter',
        `one=${p.one}`,
        '--adapter',
        `two=${p.two}`,
        '--max_running',
        '16',
        '--max_queue',
        '16',
      ],
      'node',
      { NODE_OPTIONS: '--expose-gc' },
    );
  });
  after(async () => {
    await server.stop();
  });

  it(`three rounds of ${REQUESTS} requests from ${CLIENTS} streaming clients: only intended errors, memory flat`, async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const rss: number[] = [],
      heap: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const res = await round(client, server.url);
      const unexpected = Object.keys(res.outcomes).filter(
        (k) => !/^(finished (stop|length)|cancelled|malformed 400|error 429)$/.test(k),
      );
      assert.deepEqual(unexpected, [], JSON.stringify(res.outcomes));
      assert.equal(res.outcomes['malformed 400'], 12);
      assert.ok((res.outcomes.cancelled ?? 0) >= 25, JSON.stringify(res.outcomes));
      const health = await (await fetch(`${server.url}/health`)).json();
      assert.equal(health.running + health.queued, 0);
      rss.push(rssMiB(server.child.pid!));
      heap.push(health.heap_mib);
      console.log(
        `round ${r}: ${JSON.stringify(res.outcomes)}; time to first token p50 ${percentile(res.ttft, 50).toFixed(0)} ms, ` +
          `p99 ${percentile(res.ttft, 99).toFixed(0)} ms; ${(res.tokens / res.seconds).toFixed(0)} tokens/s streamed; server RSS ${rss[r - 1].toFixed(0)} MiB, JS heap ${heap[r - 1].toFixed(1)} MiB`,
      );
    }
    assert.ok(
      Math.max(...heap) - Math.min(...heap) < 2,
      `the JS heap grew across rounds: ${heap.map((m) => m.toFixed(1)).join(', ')} MiB`,
    );
    assert.ok(
      Math.max(rss[1], rss[2]) < rss[0] + 24,
      `resident memory grew across rounds: ${rss.map((m) => m.toFixed(0)).join(', ')} MiB`,
    );
  });
});
