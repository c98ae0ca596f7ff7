/**
 * The path of the seed's 7B model on a CPU-sized shape: a TinyLlama-shaped model with 2 layers
 * (hidden 2048, 32 heads, 4 KV heads, FFN 5632, Llama 2's vocabulary; 219M parameters), written
 * by init_checkpoint as bf16 shards, fine-tuned with LoRA by 2 ranks with streamed layers at
 * seq_length 64, then used for prediction; streamed logits equal resident ones (there, and at
 * Llama2-7B's widths with 2 layers); and the
 * placement refuses, before loading, what does not fit, naming what would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/checkpoint/load.ts';
import { loadRunConfig } from '../../src/config/load.ts';
import { configFromMindFormers } from '../../src/model/config.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { placeWeights } from '../../src/model/placement.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { ALPACA, ROOT, runCli } from '../fixtures.ts';

const CONFIG = join(ROOT, 'configs/llama2/lora_llama2_7b.yaml');
const SHAPE = [
  '--model.model_config.hidden_size',
  '2048',
  '--model.model_config.num_layers',
  '2',
  '--model.model_config.num_heads',
  '32',
  '--model.model_config.n_kv_heads',
  '4',
  '--model.model_config.multiple_of',
  '256',
  '--model.model_config.seq_length',
  '64',
];
const GiB = 2 ** 30;
let dir = '';

/** Runs the bundled CLI in the scratch folder. */
const cli = (args: string[]) => runCli(args, { cwd: dir });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasmformers-large-'));
  await runCli(
    [
      'init_checkpoint',
      '--config',
      CONFIG,
      ...SHAPE,
      '--dtype',
      'bf16',
      '--seed',
      '1',
      '--output_dir',
      join(dir, 'tinyllama2'),
    ],
    { cwd: dir, expect: 0 },
  );
  // Alpaca as plain text (wiki shards): at seq_length 64 the qa template's prompt fills the rows.
  const records: { instruction: string; output: string }[] = JSON.parse(readFileSync(ALPACA, 'utf8')).slice(0, 32);
  writeFileSync(join(dir, 'alpaca.txt'), records.map((r) => `${r.instruction}\n${r.output}\n`).join('\n'));
  await runCli(
    [
      'llama_preprocess',
      '--dataset_type',
      'wiki',
      '--input_glob',
      join(dir, 'alpaca.txt'),
      '--seq_length',
      '64',
      '--output_file',
      join(dir, 's64'),
      '--workers',
      '0',
    ],
    { cwd: dir, expect: 0 },
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the 7B path on the TinyLlama shape with 2 layers', () => {
  it('2 ranks fine-tune with streamed bf16 layers (2 LoRA steps, the adapter), then predict 8 tokens through the adapter', async () => {
    const run = [
      'run_mindformer',
      '--config',
      CONFIG,
      ...SHAPE,
      '--load_checkpoint',
      join(dir, 'tinyllama2'),
      '--train_dataset_dir',
      join(dir, 's64'),
      '--run_mode',
      'finetune',
      '--use_parallel',
      'True',
      '--parallel_config.data_parallel',
      '2',
      '--batch_size',
      '1',
      '--num_samples',
      '4',
      '--epochs',
      '1',
      '--model.model_config.param_init_type',
      'bfloat16',
      '--stream_layers',
      'on',
      '--output_dir',
      join(dir, 'out'),
    ].join(' ');
    const r = await cli(['msrun_launcher', run, '2']);
    assert.equal(r.code, 0, r.stderr);
    const log0 = readFileSync(join(dir, 'output/msrun_log/worker_0.log'), 'utf8');
    assert.match(
      log0,
      /weights: the blocks' frozen matrices outside the WebAssembly memory \(\d+\.\d+ MiB, held once\)/,
    );
    assert.match(log0, /memory plan for batch 1 × seq 64/);
    const losses = [...log0.matchAll(/step:\[\s*\d+\/\s*2\], loss: ([\d.]+)/g)].map((m) => Number(m[1]));
    assert.equal(losses.length, 2, 'two LoRA steps');
    assert.ok(
      losses.every((l) => l > 5),
      `every position is a target: losses ${losses}`,
    );
    assert.ok(existsSync(join(dir, 'out/adapter/adapter_model.safetensors')), 'the adapter is written');
    const p = await cli([
      'run_mindformer',
      '--config',
      CONFIG,
      ...SHAPE,
      '--run_mode',
      'predict',
      '--use_parallel',
      'False',
      '--load_checkpoint',
      join(dir, 'out/adapter'),
      '--model.model_config.param_init_type',
      'bfloat16',
      '--stream_layers',
      'on',
      '--predict_data',
      'I love Beijing, because',
      '--model.model_config.max_decode_length',
      '17',
      '--output_dir',
      join(dir, 'pred'),
    ]);
    assert.equal(p.code, 0, p.stderr);
    const m = /\{'text_generation_text': \["(.*)"\]\}/.exec(
      readFileSync(join(dir, 'pred/log/rank_0/info.log'), 'utf8'),
    );
    assert.ok(
      m && m[1].startsWith('I love Beijing, because') && m[1].length > 'I love Beijing, because'.length,
      p.stdout,
    );
  });

  it('streamed logits equal resident logits (bf16 and int8 base)', async () => {
    const config = configFromMindFormers(loadRunConfig(CONFIG, SHAPE, () => undefined).model.model_config, CONFIG);
    const ids = Int32Array.from([1, 306, 5360, 1522, 823, 292, 29892, 1363, 0]);
    for (const weightType of [WeightType.BF16, WeightType.I8]) {
      const logits: Float32Array[] = [];
      for (const streamLayers of [false, true]) {
        const core = await loadCore();
        const model = await loadModel(
          core,
          join(dir, 'tinyllama2'),
          { mode: 'finetune', weightType, streamLayers },
          { config },
        );
        const out = new Float32Array(8 * config.vocabSize);
        model.step(ids, null, 1, 8, false, out);
        logits.push(out);
      }
      let worst = 0;
      for (let i = 0; i < logits[0].length; i++)
        worst = Math.max(worst, Math.abs(logits[1][i] - logits[0][i]) / (Math.abs(logits[0][i]) + 1e-6));
      assert.ok(worst <= 1e-4, `${WeightType[weightType]}: relative difference ${worst}`);
    }
  });

  it("streamed logits equal resident logits for Llama2-7B's widths with 2 layers (bf16 base)", async () => {
    const config = {
      ...configFromMindFormers(loadRunConfig(CONFIG, [], () => undefined).model.model_config, CONFIG),
      nLayers: 2,
    };
    const core = await loadCore();
    const ids = Int32Array.from([1, 306, 5360, 1522, 823, 292, 29892, 1363, 0]);
    const logits = [false, true].map((streamLayers) => {
      const mark = core.arena.mark();
      const model = new LlamaModel(core, config, { mode: 'finetune', weightType: WeightType.BF16, streamLayers });
      assert.equal(model.weights.hostLayers !== undefined, streamLayers);
      model.weights.initRandom(11);
      const out = new Float32Array(8 * config.vocabSize);
      model.step(ids, null, 1, 8, false, out);
      core.arena.release(mark);
      return out;
    });
    let worst = 0;
    for (let i = 0; i < logits[0].length; i++)
      worst = Math.max(worst, Math.abs(logits[1][i] - logits[0][i]) / (Math.abs(logits[0][i]) + 1e-6));
    assert.ok(worst <= 1e-4, `relative difference ${worst}`);
  });

  it('refuses, before loading, what does not fit, and names what would', () => {
    const full = configFromMindFormers(loadRunConfig(CONFIG, [], () => undefined).model.model_config, CONFIG);
    const lora = { rank: 8, alpha: 16, dropout: 0, targetModules: '.*wq|.*wv' };
    const place = (weightType: WeightType, ranks: number, stream: string) =>
      placeWeights({
        config: full,
        options: { mode: 'finetune', weightType, lora },
        ranks,
        baseHolders: 1,
        B: 1,
        S: 64,
        stream,
        machineBytes: 24 * GiB,
      });
    assert.throws(
      () => place(WeightType.F32, 2, 'auto'),
      /^Error: memory plan before loading: 24\.\d+ GiB of base weights outside the WebAssembly memory .* exceed this machine's 24\.00 GiB; store the base as bfloat16 \(param_init_type bfloat16: 12\.\d+ GiB of streamed base weights\), or store the base as int8/,
    );
    assert.throws(
      () => place(WeightType.BF16, 2, 'off'),
      /exceed the 4\.00 GiB the ranks share; .*stream the layers \(--stream_layers on\)/,
    );
    assert.throws(
      () => place(WeightType.BF16, 12, 'auto'),
      /for 12 rank\(s\) exceed the 4\.00 GiB the ranks share; run at most \d rank\(s\)/,
    );
    const ok = place(WeightType.BF16, 2, 'auto');
    assert.equal(ok.streamLayers, true, 'auto streams when the resident weights would not fit');
    assert.ok(ok.hostBytes > 11 * GiB && ok.wasmBytes < 4 * GiB);
  });
});
