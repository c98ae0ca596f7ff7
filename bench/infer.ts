/**
 * Inference speed beside llama.cpp: prefill (a 128-token prompt) and decode tokens/s for the
 * stories15M and stories110M shapes (random weights from init_checkpoint), ours with f32, bf16,
 * q8_0 and q4_0 weights beside node-llama-cpp (one thread) on a GGUF file of the same type
 * written by convert_weight, in the same run; then the ratios, and the process's peak RSS.
 * Medians of 3 runs. Run: node --import tsx bench/infer.ts [--quick] (--quick: stories15M only).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import { loadModel } from '../src/checkpoint/load.ts';
import { main as convertWeight } from '../src/commands/convert_weight.ts';
import { main as initCheckpoint } from '../src/commands/init_checkpoint.ts';
import { generate } from '../src/generate/generate.ts';
import { loadCore } from '../src/runtime/core.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { bundledLlama2Model } from '../src/tokenizer/load.ts';
import { medianMs } from './timing.ts';

const PROMPT = 128,
  DECODE = 64;
const SHAPES = [
  { name: 'stories15M', dim: 288, layers: 6, heads: 6 },
  { name: 'stories110M', dim: 768, layers: 12, heads: 12 },
];
const TYPES = [
  ['f32', WeightType.F32],
  ['bf16', WeightType.BF16],
  ['q8_0', WeightType.Q8_0],
  ['q4_0', WeightType.Q4_0],
] as const;

/** Runs a command's main with its console output swallowed; a failure throws. */
async function quiet(main: (argv: string[]) => Promise<number>, argv: string[]): Promise<void> {
  const log = console.log;
  console.log = () => {};
  try {
    if ((await main(argv)) !== 0) throw new Error(`${argv.join(' ')} failed`);
  } finally {
    console.log = log;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-infer-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const shapes = process.argv.includes('--quick') ? SHAPES.slice(0, 1) : SHAPES;
const core = await loadCore();
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
const prompt = Array.from({ length: PROMPT }, (_, i) => 1 + ((i * 7919) % 31000));

console.log(
  `Inference, ${PROMPT}-token prompt then ${DECODE} decoded tokens, 1 thread, medians of 3 (tokens/s; machine shared with other jobs)`,
);
for (const s of shapes) {
  const model = join(dir, s.name),
    o = (k: string, v: number) => [`--model.model_config.${k}`, String(v)];
  await quiet(initCheckpoint, [
    '--config',
    'configs/llama2/train_tiny.yaml',
    '--output_dir',
    model,
    '--dtype',
    'f32',
    ...o('hidden_size', s.dim),
    ...o('num_layers', s.layers),
    ...o('num_heads', s.heads),
    ...o('seq_length', 256),
  ]);
  writeFileSync(join(model, 'tokenizer.model'), await bundledLlama2Model());
  console.log(
    `\n${s.name} shape (hidden ${s.dim}, ${s.layers} layers)        prefill  decode   | llama.cpp prefill  decode | ratio prefill  decode`,
  );
  for (const [name, wt] of TYPES) {
    const m = await loadModel(core, model, { mode: 'finetune', weightType: wt });
    const prefill = (PROMPT / (await medianMs(() => generate(m, prompt, { maxNewTokens: 1, eosId: -1 })))) * 1000;
    const decode = (DECODE / (await medianMs(() => generate(m, [1], { maxNewTokens: DECODE, eosId: -1 })))) * 1000;
    const file = join(dir, `${s.name}.${name}.gguf`);
    await quiet(convertWeight, [
      '--model',
      'llama',
      '--input_path',
      model,
      '--output_path',
      file,
      '--output_format',
      'gguf',
      '--dtype',
      name,
    ]);
    const lm = await llama.loadModel({ modelPath: file });
    const ctx = await lm.createContext({ contextSize: 256, threads: 1, batchSize: PROMPT });
    const seq = ctx.getSequence();
    const theirPrefill =
      (PROMPT /
        (await medianMs(async () => {
          await seq.clearHistory();
          await seq.evaluateWithoutGeneratingNewTokens(prompt as Token[]);
        }))) *
      1000;
    const theirDecode =
      (DECODE /
        (await medianMs(async () => {
          await seq.clearHistory();
          let n = 0;
          for await (const _ of seq.evaluate([1 as Token], { temperature: 0 })) if (++n >= DECODE) break;
        }))) *
      1000;
    await ctx.dispose();
    await lm.dispose();
    const f = (x: number) => x.toFixed(1).padStart(7);
    console.log(
      `  ${name.padEnd(40)} ${f(prefill)} ${f(decode)}   |          ${f(theirPrefill)} ${f(theirDecode)} |      ${(prefill / theirPrefill).toFixed(2).padStart(5)}× ${(decode / theirDecode).toFixed(2).padStart(5)}×`,
    );
  }
}
console.log(
  `\npeak RSS of the whole run (both engines, every model): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
);
