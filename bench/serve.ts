/**
 * Serving benchmark (`node --import tsx bench/serve.ts [--quick]`): total decode tokens/s of
 * 1, 4 and 16 sequences decoding together (BatchDecoder.decodeBatch, the step `serve` runs for
 * every token), on the stories110M shape (hidden 768, 12 layers, 12 heads, FFN 2048, vocabulary
 * 32000) with random f32 and int8 base weights and a rank-16 LoRA adapter on half the sequences.
 * One thread. The goal is 16 streams at 6× one stream's tokens/s: one sequence is bound by
 * reading every weight once per token, a batch reads them once per step. Then the same f32 model
 * behind the HTTP server: 1, 4 and 16 concurrent streams of the openai client, total tokens/s
 * from the first request to the last token (prefill, sampling and text included) and the median
 * time to first token.
 *
 * llama.cpp's server is not measured: it needs a GGUF file of this shape, and GGUF export is not
 * built yet (node-llama-cpp loads only GGUF).
 */
import { loadCore } from '../src/runtime/core.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { validateConfig } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { BatchDecoder, type DecodeSequence } from '../src/model/batch_decode.ts';
import type { ServedAdapter } from '../src/model/adapters.ts';
import { Rng } from '../src/runtime/random.ts';
import OpenAI from 'openai';
import { loadTokenizer } from '../src/tokenizer/load.ts';
import { chatFormat } from '../src/serve/chat.ts';
import { Engine } from '../src/serve/engine.ts';
import { createApp } from '../src/serve/app.ts';
import { listen } from '../src/serve/listen.ts';

const quick = process.argv.includes('--quick');
const STREAMS = [1, 4, 16],
  PROMPT = 16,
  STEPS = quick ? 4 : 16,
  RANK = 16;
const config = validateConfig(
  {
    dim: 768,
    nLayers: 12,
    nHeads: 12,
    nKvHeads: 12,
    vocabSize: 32000,
    ffnDim: 2048,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: false,
    maxSeqLen: 256,
    bosId: 1,
    eosId: 2,
    padId: 0,
  },
  'stories110M',
);

/** A random rank-16 adapter on wq and wv of every layer, in the core's arena. */
function randomAdapter(model: LlamaModel): ServedAdapter {
  const arena = model.core.arena,
    rng = new Rng(1),
    D = config.dim;
  const factor = (n: number) => {
    const p = arena.alloc(n * 4);
    rng.fillNormal(arena.f32(p, n), 0.02);
    return p;
  };
  const layers = Array.from({ length: config.nLayers }, () => ({
    wq: { a: factor(RANK * D), b: factor(D * RANK), rank: RANK, scale: 2 },
    wv: { a: factor(RANK * D), b: factor(D * RANK), rank: RANK, scale: 2 },
  }));
  return { name: 'bench', dir: '(random)', layers, bytes: 0 };
}

const core = await loadCore();
console.log(
  `serve decode, stories110M shape, one thread (${core.kind} core); prompt ${PROMPT} tokens, ${STEPS} timed steps`,
);
for (const [wt, name] of [
  [WeightType.F32, 'f32'],
  [WeightType.I8, 'int8'],
] as const) {
  const mark = core.arena.mark();
  const model = new LlamaModel(core, config, { mode: 'finetune', weightType: wt });
  model.weights.initRandom(1, 0.02);
  const adapter = randomAdapter(model);
  const decoder = new BatchDecoder(model, Math.max(...STREAMS), PROMPT + STEPS + 2, RANK);
  const rates: number[] = [];
  for (const n of STREAMS) {
    const seqs: DecodeSequence[] = [];
    for (let i = 0; i < n; i++) {
      const seq = decoder.open(i % 2 ? adapter : undefined);
      decoder.prefill(
        seq,
        Array.from({ length: PROMPT }, (_, j) => 1 + ((i * 31 + j * 7) % 31999)),
      );
      seqs.push(seq);
    }
    const rows = seqs.map((seq) => ({ seq, token: 100 }));
    decoder.decodeBatch(rows); // warm-up
    const t0 = performance.now();
    for (let s = 0; s < STEPS; s++) decoder.decodeBatch(rows);
    const rate = (n * STEPS * 1000) / (performance.now() - t0);
    rates.push(rate);
    for (const seq of seqs) decoder.close(seq);
    console.log(`  ${name} weights, ${String(n).padStart(2)} streams: ${rate.toFixed(1).padStart(7)} tokens/s in all`);
  }
  console.log(`  ${name}: 16 streams / 1 stream = ${(rates[2] / rates[0]).toFixed(2)}× (goal 6×)`);
  if (wt === WeightType.F32) await overHttp(model, adapter);
  core.arena.release(mark);
}

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
      `  over HTTP, f32, ${String(n).padStart(2)} streams of ${tokens} tokens: ${rate.toFixed(1).padStart(7)} tokens/s in all, median time to first token ${ttft[ttft.length >> 1].toFixed(0)} ms`,
    );
  }
  console.log(`  over HTTP: 16 streams / 1 stream = ${(rates[2] / rates[0]).toFixed(2)}×`);
  await server.stop();
}
