/**
 * Each family end to end: KV-cache decoding equals the full forward; init_checkpoint writes a
 * Hugging Face folder (config.json and tensors under HF names: q_proj.bias, q_norm) that the
 * PyTorch reference reads by those names to the same logits as our loader; PEFT adapters and the
 * MindFormers layout round-trip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as initCheckpoint } from '../../src/commands/init_checkpoint.ts';
import { loadModel } from '../../src/checkpoint/load.ts';
import { modelTensors } from '../../src/checkpoint/model_tensors.ts';
import { saveAdapter } from '../../src/checkpoint/peft.ts';
import { SafetensorsFile } from '../../src/checkpoint/safetensors_file.ts';
import { writeTensors } from '../../src/checkpoint/write.ts';
import { generate } from '../../src/generate/generate.ts';
import type { LlamaConfig } from '../../src/model/config.ts';
import { LlamaModel, type ModelOptions } from '../../src/model/llama.ts';
import { rankShare } from '../../src/model/sharding.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { assertClose } from '../helpers.ts';
import { quietly, scratch } from '../checkpoint/helpers.ts';
import { referenceStep } from './harness.ts';
import { tinyBatch, tinyConfig } from './fixtures.ts';
import { HUB_CONFIGS } from './hub_configs.ts';

const CONFIGS = new URL('../../configs/', import.meta.url).pathname;
const dir = scratch();

/** A random tiny config of each family. */
const FAMILIES: Record<string, Partial<LlamaConfig>> = {
  'Llama 3': {
    nKvHeads: 2,
    tieEmbeddings: true,
    ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 },
  },
  Qwen2: { family: 'qwen2', qkvBias: true, nKvHeads: 1, tieEmbeddings: true },
  Qwen3: { family: 'qwen3', qkNorm: true, headSize: 12, nKvHeads: 2, tieEmbeddings: true },
  Mistral: { family: 'mistral', slidingWindow: 32, nKvHeads: 2 },
};

const finetune = (targetModules: string): ModelOptions => ({
  mode: 'finetune',
  weightType: WeightType.F32,
  lora: { rank: 4, alpha: 8, dropout: 0, targetModules },
});

/** Logits of every position of `seq` [1, S] by the full forward. */
function fullLogits(model: LlamaModel, seq: number[]): Float32Array {
  const out = new Float32Array(seq.length * model.config.vocabSize);
  model.step(Int32Array.from([...seq, 0]), null, 1, seq.length, false, out);
  return out;
}

/** Random around 1 for every norm vector, so that the q/k head norms' weights matter. */
function randomizeNorms(model: LlamaModel, seed: number): void {
  const rng = new Rng(seed);
  for (const t of model.weights.baseTensors()) {
    if (t.vector === undefined || !t.name.endsWith('norm.weight')) continue;
    const v = model.core.arena.f32(t.vector, t.shape[0]);
    for (let i = 0; i < v.length; i++) v[i] = 1 + 0.3 * rng.uniform();
  }
}

describe('every family', async () => {
  const core = await loadCore();

  for (const [name, over] of Object.entries(FAMILIES)) {
    it(`${name}: KV-cache decoding gives the full forward's logits at every step`, () => {
      const mark = core.arena.mark();
      const model = new LlamaModel(core, tinyConfig(over), finetune('.*wq|.*wk|.*wv'));
      model.weights.initRandom(11, 0.3);
      model.weights.initLora(12);
      randomizeNorms(model, 13);
      const prompt = [1, 17, 42, 5, 66],
        V = model.config.vocabSize;
      const tokens = generate(model, prompt, { maxNewTokens: 10, eosId: -1 });
      const seq = [...prompt, ...tokens],
        full = fullLogits(model, seq);
      const cache = model.newCache(1, 32);
      let got = model.forwardCached(cache, Int32Array.from(prompt), prompt.length);
      for (let i = 0; i <= tokens.length; i++) {
        const at = prompt.length + i - 1;
        assertClose(got, full.subarray(at * V, (at + 1) * V), 1e-5, `${name}: logits at position ${at}`);
        if (i < tokens.length) got = model.forwardCached(cache, Int32Array.of(tokens[i]), 1);
      }
      core.arena.release(mark);
    });
  }

  it("Llama 3.2-1B's rope table (theta 500000, head 64, factor 32, low 1, high 4, original 8192) has the reference's rescaled frequencies", () => {
    const cfg = HUB_CONFIGS['Llama-3.2-1B'];
    const py = `import json, sys; sys.path.insert(0, sys.argv[1]); from llama_ref import Llama
m = Llama.__new__(Llama); m.cfg = json.loads(sys.argv[2]); m.theta = m.cfg['rope_theta']; m.hd = 64
print(json.dumps(m.inv_freq().tolist()))`;
    const invFreq: number[] = JSON.parse(
      execFileSync(
        '/usr/bin/python3',
        ['-c', py, new URL('../reference/', import.meta.url).pathname, JSON.stringify(cfg)],
        { encoding: 'utf8' },
      ),
    );
    const ratios = invFreq.map((f, i) => f * Math.pow(500000, (2 * i) / 64));
    assert.ok(
      ratios.some((r) => Math.abs(r - 1) < 1e-6) &&
        ratios.some((r) => Math.abs(r - 1 / 32) < 1e-6) &&
        ratios.some((r) => r > 1 / 32 + 1e-3 && r < 1 - 1e-3),
      "all three of the rule's branches",
    );
    const mark = core.arena.mark(),
      S = 100,
      hd = 64,
      tab = core.arena.alloc(S * hd * 4);
    core.kernels.ropeTable(
      tab,
      S,
      hd,
      500000,
      1,
      tinyConfig({
        dim: 64,
        nHeads: 1,
        nKvHeads: 1,
        ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
      }).ropeScaling,
    );
    const want = new Float32Array(S * hd);
    for (let s = 0; s < S; s++) {
      for (let i = 0; i < hd / 2; i++) {
        const angle = Math.fround((s + 1) * Math.fround(invFreq[i]));
        want[s * hd + i] = Math.cos(angle);
        want[s * hd + hd / 2 + i] = Math.sin(angle);
      }
    }
    assertClose(core.arena.f32(tab, S * hd), want, 0, 'cos and sin at positions 1..100', 2e-5);
    core.arena.release(mark);
  });

  /** Overrides that shrink a shipped YAML's model to a tiny one. */
  const tiny = (extra: string[] = []) => [
    '--model.model_config.hidden_size',
    '32',
    '--model.model_config.num_layers',
    '2',
    '--model.model_config.num_heads',
    '4',
    '--model.model_config.n_kv_heads',
    '2',
    '--model.model_config.intermediate_size',
    '48',
    '--model.model_config.vocab_size',
    '97',
    '--model.model_config.seq_length',
    '16',
    '--model.model_config.initializer_range',
    '0.3',
    '--model.model_config.pad_token_id',
    '0',
    ...extra,
  ];
  const inits: [string, string, string[], RegExp][] = [
    [
      'Llama 3.2',
      'llama3/lora_llama3_2_1b.yaml',
      ['--model.model_config.scaling_factor.original_max_position_embeddings', '64'],
      /"rope_type":"llama3"/,
    ],
    ['Qwen2.5', 'qwen2/lora_qwen2_5_0_5b.yaml', [], /"model_type":"qwen2"/],
    ['Qwen3', 'qwen3/lora_qwen3_0_6b.yaml', ['--model.model_config.head_dim', '12'], /"model_type":"qwen3"/],
    [
      'Mistral',
      'tinyllama/lora_tinyllama_1_1b.yaml',
      ['--model.model_config.model_type', 'mistral', '--model.model_config.sliding_window', '16'],
      /"sliding_window":16/,
    ],
  ];
  for (const [name, yaml, extra, marker] of inits) {
    it(`${name}: init_checkpoint's folder loads to the logits PyTorch computes from the same file by Hugging Face names`, async () => {
      const out = join(dir, `init-${yaml.split('/')[0]}`);
      const { code } = await quietly(initCheckpoint, [
        '--config',
        CONFIGS + yaml,
        '--output_dir',
        out,
        '--dtype',
        'f32',
        '--seed',
        '5',
        ...tiny(extra),
      ]);
      assert.equal(code, 0);
      assert.match(JSON.stringify(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))), marker);
      const mark = core.arena.mark();
      const model = await loadModel(core, out, { mode: 'finetune', weightType: WeightType.F32 });
      const { ids, labels } = tinyBatch(3, 2, 12, model.config.vocabSize);
      const logits = new Float32Array(2 * 12 * model.config.vocabSize);
      model.step(ids, labels, 2, 12, false, logits);
      const want = referenceStep(model, ids, labels, 2, 12, join(out, 'model.safetensors'));
      assertClose(logits, want.logits, 1e-4, `${name}: logits`);
      core.arena.release(mark);
    });
  }

  it('Qwen2: q/k/v biases are refused across model_parallel ranks with one line', () => {
    assert.throws(
      () => rankShare(tinyConfig(FAMILIES.Qwen2), 2, 'cfg'),
      /^Error: cfg: q\/k\/v biases \(Qwen2\) are not split across model_parallel ranks; use model_parallel 1$/,
    );
  });

  it('Qwen2: the tensors under HF names (q_proj.bias) and MindFormers names (attention.wq.bias), and a PEFT adapter, load back to the same logits', async () => {
    const mark = core.arena.mark();
    const config = tinyConfig(FAMILIES.Qwen2);
    const model = new LlamaModel(core, config, finetune('q_proj|k_proj|v_proj'));
    model.weights.initRandom(21, 0.3);
    model.weights.initLora(22);
    for (const layer of model.weights.layers)
      for (const ad of Object.values(layer.lora)) new Rng(23).fillNormal(core.arena.f32(ad.b.ptr, ad.b.n), 0.1);
    const seq = [1, 9, 33, 4, 60, 7],
      want = fullLogits(model, seq);
    const hf = join(dir, 'qwen2-hf'),
      mf = join(dir, 'qwen2-mf.safetensors'),
      adapter = join(dir, 'qwen2-adapter');
    await writeTensors(hf, 'hf', modelTensors(model.weights, { lora: false }), { config });
    await writeTensors(mf, 'safetensors', modelTensors(model.weights, { layout: 'mindformers', lora: false }));
    await saveAdapter(adapter, model.weights);
    const names = (path: string) => [...SafetensorsFile.open(path).tensors.keys()];
    assert.ok(names(join(hf, 'model.safetensors')).includes('model.layers.1.self_attn.v_proj.bias'));
    assert.ok(names(mf).includes('model.layers.1.attention.wv.bias'));
    assert.ok(
      names(join(adapter, 'adapter_model.safetensors')).includes(
        'base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight',
      ),
    );
    core.arena.release(mark);
    for (const [what, path, opts] of [
      ['HF folder with the adapter', hf, { adapter }],
      ['MindFormers names with the adapter', mf, { config, adapter }],
    ] as const) {
      const m = core.arena.mark();
      const loaded = await loadModel(core, path, { mode: 'finetune', weightType: WeightType.F32 }, opts);
      assert.deepEqual(loaded.config, config, what);
      assertClose(fullLogits(loaded, seq), want, 1e-6, what);
      core.arena.release(m);
    }
  });
});
