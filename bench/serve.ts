/**
 * Serving benchmark (`node --import tsx bench/serve.ts [--quick]`): total decode tokens/s of
 * 1, 4 and 16 sequences decoding together (BatchDecoder.decodeBatch, the step `serve` runs for
 * every token), on the stories110M shape (random weights from init_checkpoint) with f32 and int8
 * base weights and a rank-16 LoRA adapter on half the sequences, on 1 and 2 threads. The goal is
 * 16 streams at 6× one stream's tokens/s: one sequence is bound by reading every weight once per
 * token, a batch reads them once per step. Beside it, llama.cpp (node-llama-cpp, the engine of
 * its server) decoding the same weights from GGUF (f32, and q8_0 beside our int8) with the same
 * number of sequences in one context, which it batches into one evaluation per step, on 1 and 2
 * threads. Then our f32 model behind the HTTP server: 1, 4 and 16 concurrent streams of the
 * openai client, total tokens/s from the first request to the last token (prefill, sampling and
 * text included) and the median time to first token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import OpenAI from 'openai';
import { loadModel } from '../src/checkpoint/load.ts';
import type { ServedAdapter } from '../src/model/adapters.ts';
import { BatchDecoder, type DecodeSequence } from '../src/model/batch_decode.ts';
import type { LlamaModel } from '../src/model/llama.ts';
import { loadCore, type Core } from '../src/runtime/core.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { Rng } from '../src/runtime/random.ts';
import { spawnWorkerThread } from '../src/runtime/threads.ts';
import { createApp } from '../src/serve/app.ts';
import { chatFormat } from '../src/serve/chat.ts';
import { Engine } from '../src/serve/engine.ts';
import { listen } from '../src/serve/listen.ts';
import { loadTokenizer } from '../src/tokenizer/load.ts';
import { ggufOf, randomCheckpoint, STORIES_110M } from './random_models.ts';

const quick = process.argv.includes('--quick');
const STREAMS = [1, 4, 16],
  PROMPT = 16,
  STEPS = quick ? 4 : 16,
  RANK = 16,
  THREADS = [1, 2];

/** A prompt of PROMPT ids for stream i. */
const promptOf = (i: number) => Array.from({ length: PROMPT }, (_, j) => 1 + ((i * 31 + j * 7) % 31999));

/** A random rank-16 adapter on wq and wv of every layer, in the core's arena. */
function randomAdapter(model: LlamaModel): ServedAdapter {
  const arena = model.core.arena,
    rng = new Rng(1),
    D = model.config.dim;
  const factor = (n: number) => {
    const p = arena.alloc(n * 4);
    rng.fillNormal(arena.f32(p, n), 0.02);
    return p;
  };
  const layers = Array.from({ length: model.config.nLayers }, () => ({
    wq: { a: factor(RANK * D), b: factor(D * RANK), rank: RANK, scale: 2 },
    wv: { a: factor(RANK * D), b: factor(D * RANK), rank: RANK, scale: 2 },
  }));
  return { name: 'bench', dir: '(random)', layers, bytes: 0 };
}

/** Our total tokens/s at each stream count, on `core`, for the model folder with `wt` weights. */
async function ours(core: Core, folder: string, wt: WeightType, http: boolean): Promise<number[]> {
  const mark = core.arena.mark();
  const model = await loadModel(core, folder, { mode: 'finetune', weightType: wt });
  const adapter = randomAdapter(model);
  const decoder = new BatchDecoder(model, Math.max(...STREAMS), PROMPT + STEPS + 2, RANK);
  const rates: number[] = [];
  for (const n of STREAMS) {
    const seqs: DecodeSequence[] = [];
    for (let i = 0; i < n; i++) {
      const seq = decoder.open(i % 2 ? adapter : undefined);
      decoder.prefill(seq, promptOf(i));
      seqs.push(seq);
    }
    const rows = seqs.map((seq) => ({ seq, token: 100 }));
    decoder.decodeBatch(rows); // warm-up
    const t0 = performance.now();
    for (let s = 0; s < STEPS; s++) decoder.decodeBatch(rows);
    rates.push((n * STEPS * 1000) / (performance.now() - t0));
    for (const seq of seqs) decoder.close(seq);
  }
  if (http) await overHttp(model, adapter);
  core.arena.release(mark);
  return rates;
}

/** llama.cpp's total tokens/s at each stream count on `threads` threads: n sequences of one context decoding at once. */
async function theirs(file: string, threads: number): Promise<number[]> {
  const lm = await llama.loadModel({ modelPath: file });
  const rates: number[] = [];
  for (const n of STREAMS) {
    const ctx = await lm.createContext({ contextSize: PROMPT + STEPS + 8, sequences: n, threads });
    const seqs = Array.from({ length: n }, () => ctx.getSequence());
    await Promise.all(seqs.map((seq, i) => seq.evaluateWithoutGeneratingNewTokens(promptOf(i) as Token[])));
    const t0 = performance.now();
    await Promise.all(
      seqs.map(async (seq) => {
        let k = 0;
        for await (const _ of seq.evaluate([100 as Token], { temperature: 0 })) if (++k >= STEPS) break;
      }),
    );
    rates.push((n * STEPS * 1000) / (performance.now() - t0));
    await ctx.dispose();
  }
  await lm.dispose();
  return rates;
}

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-serve-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const folder = await randomCheckpoint(dir, STORIES_110M, 'f32');
const cores = await Promise.all(THREADS.map((threads) => loadCore({ threads, spawnThread: spawnWorkerThread })));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
const f = (r: number[]) => r.map((x) => x.toFixed(1).padStart(7)).join(' ');
console.log(
  `serve decode, stories110M shape (${cores[0].kind} core); prompt ${PROMPT} tokens, ${STEPS} timed steps; total tokens/s at ${STREAMS.join(' / ')} streams`,
);
for (const [wt, name, theirType] of [
  [WeightType.F32, 'f32', 'f32'],
  [WeightType.I8, 'int8', 'q8_0'],
] as const) {
  const file = await ggufOf(folder, theirType);
  for (const [i, threads] of THREADS.entries()) {
    const us = await ours(cores[i], folder, wt, wt === WeightType.F32 && threads === THREADS.at(-1));
    const them = await theirs(file, threads);
    console.log(
      `  ${threads} thread${threads > 1 ? 's' : ' '}: ours ${name.padEnd(4)} ${f(us)}  (16/1 ${(us[2] / us[0]).toFixed(2)}×, goal 6×) | llama.cpp ${theirType.padEnd(4)} ${f(them)}  (16/1 ${(them[2] / them[0]).toFixed(2)}×) | ours/theirs ${us.map((u, k) => (u / them[k]).toFixed(2)).join(' / ')}`,
    );
  }
  rmSync(file);
}
for (const core of cores) core.close();

/** The model behind the server, with `adapter` served as "lora": streamed completions at 1, 4 and 16 at once. */
async function overHttp(model: LlamaModel, adapter: ServedAdapter): Promise<void> {
  const tok = (await loadTokenizer()).tokenizer,
    tokens = STEPS * 2;
  const engine = new Engine(new BatchDecoder(model, 16, 64, RANK), {
    maxQueue: 16,
    deadlineMs: 600_000,
    vocabLimit: model.config.vocabSize,
  });
  const served = {
    name: 'base',
    model,
    tok,
    chat: chatFormat(tok, 'no template'),
    adapters: new Map([['lora', adapter]]),
    engine,
    contextLength: 64,
    summary: [],
  };
  const server = await listen(createApp(served, { bodyLimitBytes: 1 << 20 }).fetch, '127.0.0.1', 0);
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${server.port}/v1`, apiKey: 'none', maxRetries: 0 });
  const rates: number[] = [];
  for (const n of STREAMS) {
    const t0 = performance.now(),
      ttft: number[] = [];
    let count = 0;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const stream = await client.completions.create({
          model: i % 2 ? 'lora' : 'base',
          prompt: `Once upon a time, story ${i}`,
          max_tokens: tokens,
          temperature: 0.8,
          seed: i,
          stream: true,
        });
        for await (const chunk of stream) {
          if (!ttft[i]) ttft[i] = performance.now() - t0;
          if (chunk.choices[0]?.finish_reason === null) count++;
        }
      }),
    );
    const rate = (count * 1000) / (performance.now() - t0);
    rates.push(rate);
    ttft.sort((a, b) => a - b);
    console.log(
      `  over HTTP, f32, ${model.core.threads} threads, ${String(n).padStart(2)} streams of ${tokens} tokens: ${rate.toFixed(1).padStart(7)} tokens/s in all, median time to first token ${ttft[ttft.length >> 1].toFixed(0)} ms`,
    );
  }
  console.log(`  over HTTP: 16 streams / 1 stream = ${(rates[2] / rates[0]).toFixed(2)}×`);
  await server.stop();
}
