/**
 * Model benchmark, part of `npm run bench` (`-- --quick` for stories15M only): one LoRA training
 * step (forward, backward, AdamW on LoRA; targets wq wk wv wo, rank 16) in tokens/s on the
 * stories15M shape (B 8, S 256) and the stories110M shape (B 4, S 256), and greedy decoding
 * tokens/s with f32 and int8 base weights, each beside the PyTorch reference
 * (test/reference/llama_ref.py, Debian's python3-torch) on the same shapes in the same run, both
 * on one thread; plus the model FLOP utilisation against the 128-bit FMA peak measured here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCore, type Core } from '../src/runtime/core.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { configToHF, validateConfig, type LlamaConfig } from '../src/model/config.ts';
import { stepFlops } from '../src/model/flops.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { loraTargets, type LoraConfig } from '../src/model/lora.ts';
import { generate } from '../src/generate/generate.ts';
import { adamwStep, SEED_ADAMW } from '../src/train/optimizer.ts';
import { medianMs } from './timing.ts';

const quick = process.argv.includes('--quick');
const REF = new URL('../test/reference/llama_ref.py', import.meta.url).pathname;
const LORA: LoraConfig = { rank: 16, alpha: 16, dropout: 0, targetModules: '.*wq|.*wk|.*wv|.*wo' };
const DECODE_TOKENS = 64;

interface Shape {
  name: string;
  config: LlamaConfig;
  B: number;
  S: number;
}

function shape(name: string, dim: number, layers: number, heads: number, ffn: number, B: number): Shape {
  const config = validateConfig(
    {
      dim,
      nLayers: layers,
      nHeads: heads,
      nKvHeads: heads,
      vocabSize: 32000,
      ffnDim: ffn,
      normEps: 1e-5,
      ropeTheta: 10000,
      tieEmbeddings: false,
      maxSeqLen: 256,
      bosId: 1,
      eosId: 2,
      padId: 0,
    },
    name,
  );
  return { name, config, B, S: 256 };
}

const SHAPES = [shape('stories15M', 288, 6, 6, 768, 8), ...(quick ? [] : [shape('stories110M', 768, 12, 12, 2048, 4)])];

/** Our LoRA step tokens/s. */
async function ourTrain(core: Core, s: Shape): Promise<number> {
  const mark = core.arena.mark();
  const model = new LlamaModel(core, s.config, { mode: 'finetune', weightType: WeightType.F32, lora: LORA });
  model.weights.initRandom(1);
  model.weights.initLora(2);
  const ids = new Int32Array(s.B * (s.S + 1));
  for (let i = 0; i < ids.length; i++) ids[i] = 3 + ((i * 7919) % (s.config.vocabSize - 3));
  let step = 0;
  const ms = await medianMs(
    () => {
      model.weights.zeroGrads();
      model.step(ids, null, s.B, s.S, true);
      adamwStep(core, model.weights.trainable, { ...SEED_ADAMW, biasCorrection: true, lr: 1e-4 }, ++step);
    },
    { iterations: 3 },
  );
  core.arena.release(mark);
  return (s.B * s.S) / (ms / 1000);
}

/** Our greedy decoding tokens/s (batch 1, from a one-token prompt). */
async function ourDecode(core: Core, s: Shape, wt: WeightType): Promise<number> {
  const mark = core.arena.mark();
  const model = new LlamaModel(core, s.config, { mode: 'finetune', weightType: wt });
  model.weights.initRandom(1);
  const ms = await medianMs(() => generate(model, [1], { maxNewTokens: DECODE_TOKENS, eosId: -1 }), { iterations: 3 });
  core.arena.release(mark);
  return DECODE_TOKENS / (ms / 1000);
}

interface RefResult {
  blas: { libraries: string[]; gemm_gflops: number };
  train_tokens_per_s: number;
  decode_tokens_per_s: number;
}

/** The PyTorch reference on one thread, or why it cannot run. */
function reference(s: Shape): RefResult | string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-'));
  try {
    const cfg = join(dir, 'config.json'),
      lora = join(dir, 'lora.json');
    writeFileSync(cfg, JSON.stringify(configToHF(s.config)));
    writeFileSync(
      lora,
      JSON.stringify({ rank: LORA.rank, alpha: LORA.alpha, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }),
    );
    const out = execFileSync(
      '/usr/bin/python3',
      [
        REF,
        'bench',
        '--config',
        cfg,
        '--lora',
        lora,
        '--batch-size',
        String(s.B),
        '--seq',
        String(s.S),
        '--steps',
        '3',
        '--decode',
        String(DECODE_TOKENS),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return JSON.parse(out) as RefResult;
  } catch (err) {
    return `PyTorch reference unavailable (${(err as Error).message.split('\n')[0]})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const core = await loadCore();
  const peakMs = await medianMs(() => core.kernels.fmaPeak(2_000_000), { iterations: 5 });
  const peak = (80 * 2_000_000) / peakMs / 1e6;
  console.log(`\nmodel benchmark, one thread, ${core.kind} core; 128-bit FMA peak ${peak.toFixed(1)} GFLOP/s`);
  for (const s of SHAPES) {
    const ref = reference(s);
    const train = await ourTrain(core, s);
    const f32 = await ourDecode(core, s, WeightType.F32),
      int8 = await ourDecode(core, s, WeightType.I8);
    const mfu =
      (stepFlops(s.config, s.B, s.S, { train: false, loraKinds: loraTargets(LORA), loraRank: LORA.rank }) * train) /
      (s.B * s.S) /
      1e9 /
      peak;
    console.log(`\n${s.name} (B ${s.B}, S ${s.S}):`);
    let refOk = typeof ref !== 'string';
    if (typeof ref === 'string') console.log(`  ${ref}`);
    else {
      const blas = ref.blas.libraries.find((l) => /blas/.test(l)) ?? 'none found';
      refOk = /openblas/.test(blas) && ref.blas.gemm_gflops >= 40;
      console.log(
        `  PyTorch BLAS: ${blas}, ${ref.blas.gemm_gflops} GFLOP/s on one thread${refOk ? '' : ' — too slow a BLAS to compare against (install libopenblas0-pthread)'}`,
      );
    }
    const vs = (ours: number, theirs: number | undefined) =>
      refOk && theirs ? `  (${(ours / theirs).toFixed(2)}× PyTorch's ${theirs.toFixed(1)})` : '';
    const r = typeof ref === 'string' ? undefined : ref;
    console.log(
      `  LoRA step:        ${train.toFixed(0).padStart(6)} tokens/s${vs(train, r?.train_tokens_per_s)}; model FLOP utilisation ${(100 * mfu).toFixed(0)}% of the 128-bit peak`,
    );
    console.log(`  decode f32:       ${f32.toFixed(1).padStart(6)} tokens/s${vs(f32, r?.decode_tokens_per_s)}`);
    console.log(
      `  decode int8:      ${int8.toFixed(1).padStart(6)} tokens/s (${(int8 / f32).toFixed(2)}× our f32 decode)`,
    );
  }
}

await main();
