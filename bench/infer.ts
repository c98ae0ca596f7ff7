/**
 * Inference speed beside llama.cpp: prefill (a 128-token prompt) and decode tokens/s for the
 * stories15M, stories110M and TinyLlama-1.1B shapes (random weights from init_checkpoint), ours
 * with f32, bf16, q8_0, q4_0, q5_0, q4_k and q6_k weights, and llama.cpp's q4_k_m and q5_k_m mixes (the
 * super-blocks where rows are whole super-blocks of 256: not stories15M's 288) on 1 and 2 threads
 * beside llama.cpp on a GGUF file of the same type written by convert_weight (which ours reads
 * with --dtype stored for the block types: each matrix in its blocks), in
 * the same run: native through node-llama-cpp, and its WebAssembly build through @wllama/wllama
 * in headless Chromium (bench/wasm_peer.ts), each on 1 and 2 threads; n/a where wllama cannot run
 * a file or thread count, with why. Then the ratios of the best thread counts, our
 * 2-thread/1-thread decoding, and the peak RSS. Medians of 3 runs. The prompt is the ids of a
 * short story's text, since wllama takes text only. Run: node --import tsx bench/infer.ts
 * [--quick] [--shapes stories110M,TinyLlama-1.1B] [--types q8_0,q4_0] [--no-wasm] (--no-wasm:
 * without the WebAssembly build; --quick: stories15M only;
 * TinyLlama, whose f32 weights do not fit one WebAssembly memory, runs bf16 and the block types).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import { loadModel } from '../src/checkpoint/load.ts';
import { generate } from '../src/generate/generate.ts';
import { loadCore } from '../src/runtime/core.ts';
import { weightStorage } from '../src/model/weight_dtype.ts';
import type { WeightOptions } from '../src/model/weights.ts';
import { spawnWorkerThread } from '../src/runtime/threads.ts';
import { loadTokenizer } from '../src/tokenizer/load.ts';
import { ggufOf, randomCheckpoint, STORIES_110M, type Shape } from './random_models.ts';
import { medianMs } from './timing.ts';
import { wllamaSpeed } from './wasm_peer.ts';

const PROMPT = 128,
  DECODE = 64;
const SHAPES: (Shape & { types: string[] })[] = [
  { name: 'stories15M', dim: 288, layers: 6, heads: 6, kvHeads: 6, ffn: 768, types: ['f32', 'bf16', 'q8_0', 'q4_0'] },
  { ...STORIES_110M, types: ['f32', 'bf16', 'q8_0', 'q4_0', 'q5_0', 'q4_k', 'q6_k', 'q4_k_m', 'q5_k_m'] },
  {
    name: 'TinyLlama-1.1B',
    dim: 2048,
    layers: 22,
    heads: 32,
    kvHeads: 4,
    ffn: 5632,
    types: ['bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k', 'q4_k_m', 'q5_k_m'],
  },
];
const THREADS = [1, 2];

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-infer-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// --shapes a,b and --types x,y pick rows of the full run (each shape keeps only the types it has).
const picked = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? new Set(process.argv[at + 1].split(',')) : undefined;
};
// --no-wasm leaves out the WebAssembly build (its 4-bit prefill of TinyLlama takes many minutes).
const skipWasm = process.argv.includes('--no-wasm');
const onlyShapes = picked('--shapes'),
  onlyTypes = picked('--types');
const shapes = (process.argv.includes('--quick') ? SHAPES.slice(0, 1) : SHAPES)
  .filter((s) => !onlyShapes || onlyShapes.has(s.name))
  .map((s) => ({ ...s, types: s.types.filter((t) => !onlyTypes || onlyTypes.has(t)) }));
const cores = await Promise.all(THREADS.map((threads) => loadCore({ threads, spawnThread: spawnWorkerThread })));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
const STORY =
  'Once upon a time, a little fox found a red ball in the tall grass by the river, and she played all day. ';
/** PROMPT ids from BOS on (the Llama 2 vocabulary every shape here has). */
const prompt = (await loadTokenizer()).tokenizer.encode(STORY.repeat(8), { eos: false }).slice(0, PROMPT);
if (prompt.length !== PROMPT) throw new Error(`the prompt story gives ${prompt.length} ids, not ${PROMPT}`);

/** Our prefill and decode tokens/s for a checkpoint (a model folder or a GGUF file) stored as `storage` on each core. */
async function ours(
  model: string,
  storage: Pick<WeightOptions, 'weightType' | 'asStored'>,
): Promise<[number, number][]> {
  const out: [number, number][] = [];
  for (const core of cores) {
    const mark = core.arena.mark();
    const m = await loadModel(core, model, { mode: 'finetune', ...storage });
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

/** llama.cpp's WebAssembly build's prefill and decode tokens/s on each thread count; null where it fails, with why in `notes`. */
async function wasm(file: string, notes: string[]): Promise<Speeds> {
  const out: Speeds = [];
  for (const threads of THREADS) {
    try {
      const r = await wllamaSpeed(file, { threads, prompt, decode: DECODE });
      out.push([r.prefill, r.decode]);
    } catch (e) {
      notes.push((e as Error).message.split('\n')[0]);
      out.push(null);
    }
  }
  return out;
}

/** Prefill and decode tokens/s per thread count; null where an engine could not run. */
type Speeds = ([number, number] | null)[];

/** The best of the thread counts' prefill (0) or decode (1) tokens/s; NaN when none ran. */
function best(r: Speeds, i: 0 | 1): number {
  const ran = r.flatMap((x) => (x ? [x[i]] : []));
  return ran.length ? Math.max(...ran) : Number.NaN;
}

/** A row: each column's cells joined and right-aligned to its header; NaN prints n/a. */
const row = (first: string, columns: string[], cells: string[][]) =>
  `  ${first.padEnd(10)}${columns.map((c, i) => cells[i].join(' ').padStart(c.length)).join(' | ')}`;
const speed = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(1)).padStart(7);
const ratio = (x: number) => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)}×`).padStart(7);
const pairs = (r: Speeds) => r.flatMap((x) => [speed(x ? x[0] : Number.NaN), speed(x ? x[1] : Number.NaN)]);

const SPEED_HEADS = ['prefill', 'decode', 'prefill', 'decode'].map((h) => h.padStart(7));
const SPEED_COLUMNS = ['ours', 'llama.cpp', 'llama.cpp wasm'].map((engine) =>
  `${engine} 1 thread (2 threads)`.padStart(SPEED_HEADS.join(' ').length),
);
const RATIO_COLUMNS = ['prefill decode vs llama.cpp', 'prefill decode vs wasm', 'decode ours 2/1 threads'];

console.log(
  `Inference, ${PROMPT}-token prompt then ${DECODE} decoded tokens, medians of 3 (tokens/s; machine shared with other jobs)`,
);
for (const s of shapes) {
  const model = await randomCheckpoint(dir, s, s.types.includes('f32') ? 'f32' : 'bf16');
  console.log(`\n${s.name} shape (hidden ${s.dim}, ${s.layers} layers): prefill and decode tokens/s`);
  console.log(`  ${''.padEnd(10)}${SPEED_COLUMNS.join(' | ')}`);
  console.log(
    row(
      '',
      SPEED_COLUMNS,
      SPEED_COLUMNS.map(() => SPEED_HEADS),
    ),
  );
  const ratios: string[] = [],
    notes: string[] = [];
  for (const name of s.types) {
    // f32 and bf16 from the model folder, the block types as the GGUF file stores them
    const file = await ggufOf(model, name),
      float = name === 'f32' || name === 'bf16';
    const us = await ours(float ? model : file, weightStorage(float ? name : 'stored', 'type'));
    const them = await theirs(file);
    const web = skipWasm ? THREADS.map(() => null) : await wasm(file, notes);
    rmSync(file);
    console.log(row(name, SPEED_COLUMNS, [pairs(us), pairs(them), pairs(web)]));
    const vs = (peer: Speeds) => [ratio(best(us, 0) / best(peer, 0)), ratio(best(us, 1) / best(peer, 1))];
    ratios.push(row(name, RATIO_COLUMNS, [vs(them), vs(web), [ratio(us[1][1] / us[0][1])]]));
  }
  console.log(`  ours best / theirs best\n  ${''.padEnd(10)}${RATIO_COLUMNS.join(' | ')}\n${ratios.join('\n')}`);
  for (const note of notes) console.log(`  n/a: ${note}`);
  rmSync(model, { recursive: true, force: true });
}
console.log(
  `\npeak RSS of this process (ours and node-llama-cpp, every model; not Chromium's): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
);
for (const core of cores) core.close();
