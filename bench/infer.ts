/**
 * Inference speed beside llama.cpp: prefill (a 128-token prompt) and decode tokens/s for the
 * stories15M, stories110M and TinyLlama-1.1B shapes (random weights from init_checkpoint), ours
 * with f32, bf16, q8_0, q4_0, q4_k and q6_k weights (q4_k and q6_k where rows are whole
 * super-blocks of 256: not stories15M's 288) on 1 and 2 threads beside node-llama-cpp on 1 and 2
 * threads on a GGUF file of the same type written by convert_weight (which ours reads as stored
 * for the block types), in the same run; then the
 * ratios of the best thread counts, our 2-thread/1-thread decoding, and the peak RSS. Medians of
 * 3 runs. Run: node --import tsx bench/infer.ts [--quick] (--quick: stories15M only; TinyLlama,
 * whose f32 weights do not fit one WebAssembly memory, runs bf16 and the block types).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import { loadModel } from '../src/checkpoint/load.ts';
import { generate } from '../src/generate/generate.ts';
import { loadCore } from '../src/runtime/core.ts';
import { isBlockType, WeightType } from '../src/runtime/kernels.ts';
import { spawnWorkerThread } from '../src/runtime/threads.ts';
import { ggufOf, randomCheckpoint, STORIES_110M, type Shape } from './random_models.ts';
import { medianMs } from './timing.ts';

const PROMPT = 128,
  DECODE = 64;
const SHAPES: (Shape & { types: string[] })[] = [
  { name: 'stories15M', dim: 288, layers: 6, heads: 6, kvHeads: 6, ffn: 768, types: ['f32', 'bf16', 'q8_0', 'q4_0'] },
  { ...STORIES_110M, types: ['f32', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'] },
  {
    name: 'TinyLlama-1.1B',
    dim: 2048,
    layers: 22,
    heads: 32,
    kvHeads: 4,
    ffn: 5632,
    types: ['bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'],
  },
];
const TYPES: Record<string, WeightType> = {
  f32: WeightType.F32,
  bf16: WeightType.BF16,
  q8_0: WeightType.Q8_0,
  q4_0: WeightType.Q4_0,
  q4_k: WeightType.Q4_K,
  q6_k: WeightType.Q6_K,
};
const THREADS = [1, 2];

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-infer-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const shapes = process.argv.includes('--quick') ? SHAPES.slice(0, 1) : SHAPES;
const cores = await Promise.all(THREADS.map((threads) => loadCore({ threads, spawnThread: spawnWorkerThread })));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
const prompt = Array.from({ length: PROMPT }, (_, i) => 1 + ((i * 7919) % 31000));
const f = (x: number) => x.toFixed(1).padStart(7);

/** Our prefill and decode tokens/s for a checkpoint (a model folder or a GGUF file) with `wt` weights on each core. */
async function ours(model: string, wt: WeightType): Promise<[number, number][]> {
  const out: [number, number][] = [];
  for (const core of cores) {
    const mark = core.arena.mark();
    const m = await loadModel(core, model, { mode: 'finetune', weightType: wt });
    const prefill = (PROMPT / (await medianMs(() => generate(m, prompt, { maxNewTokens: 1, eosId: -1 })))) * 1000;
    const decode = (DECODE / (await medianMs(() => generate(m, [1], { maxNewTokens: DECODE, eosId: -1 })))) * 1000;
    core.arena.release(mark);
    out.push([prefill, decode]);
  }
  return out;
}

/** llama.cpp's prefill and decode tokens/s for a GGUF file on each thread count. */
async function theirs(file: string): Promise<[number, number][]> {
  const lm = await llama.loadModel({ modelPath: file });
  const out: [number, number][] = [];
  for (const threads of THREADS) {
    const ctx = await lm.createContext({ contextSize: 256, threads, batchSize: PROMPT });
    const seq = ctx.getSequence();
    const prefillMs = await medianMs(async () => {
      await seq.clearHistory();
      await seq.evaluateWithoutGeneratingNewTokens(prompt as Token[]);
    });
    const decodeMs = await medianMs(async () => {
      await seq.clearHistory();
      let n = 0;
      for await (const _ of seq.evaluate([1 as Token], { temperature: 0 })) if (++n >= DECODE) break;
    });
    await ctx.dispose();
    out.push([(PROMPT / prefillMs) * 1000, (DECODE / decodeMs) * 1000]);
  }
  await lm.dispose();
  return out;
}

const best = (r: [number, number][], i: 0 | 1) => Math.max(...r.map((x) => x[i]));

console.log(
  `Inference, ${PROMPT}-token prompt then ${DECODE} decoded tokens, medians of 3 (tokens/s; machine shared with other jobs)`,
);
for (const s of shapes) {
  const model = await randomCheckpoint(dir, s, s.types.includes('f32') ? 'f32' : 'bf16');
  console.log(
    `\n${s.name} shape (hidden ${s.dim}, ${s.layers} layers)  ours 1 thread  2 threads    | llama.cpp 1 thread  2 threads    | best/best prefill decode | ours 2/1 decode`,
  );
  for (const name of s.types) {
    const file = await ggufOf(model, name),
      wt = TYPES[name];
    const us = await ours(isBlockType(wt) ? file : model, wt);
    const them = await theirs(file);
    rmSync(file);
    const pair = (r: [number, number]) => `${f(r[0])} ${f(r[1])}`;
    console.log(
      `  ${name.padEnd(10)} ${us.map(pair).join('  ')}   | ${them.map(pair).join('  ')} |    ${(best(us, 0) / best(them, 0)).toFixed(2).padStart(5)}× ${(best(us, 1) / best(them, 1)).toFixed(2).padStart(5)}× | ${(us[1][1] / us[0][1]).toFixed(2).padStart(5)}×`,
    );
  }
  rmSync(model, { recursive: true, force: true });
}
console.log(
  `\npeak RSS of the whole run (both engines, every model): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
);
for (const core of cores) core.close();
