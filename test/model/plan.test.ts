/**
 * The memory plan is exact (the arena grows by precisely its bytes) and refuses, with a clear
 * message, what one 4 GiB instance cannot hold.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { alignUp } from '../../src/runtime/arena.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { LlamaModel, type ModelOptions } from '../../src/model/llama.ts';
import { activationPlan, formatPlan, memoryPlan, weightPlan } from '../../src/model/plan.ts';
import { ffnDimFor, validateConfig, type LlamaConfig } from '../../src/model/config.ts';
import { tinyConfig } from './fixtures.ts';

const sum = (rows: { bytes: number }[]) => rows.reduce((a, r) => a + r.bytes, 0);

function llama(dim: number, layers: number, heads: number, kv: number, ffn: number): LlamaConfig {
  return validateConfig(
    {
      dim,
      nLayers: layers,
      nHeads: heads,
      nKvHeads: kv,
      vocabSize: 32000,
      ffnDim: ffn,
      normEps: 1e-5,
      ropeTheta: 10000,
      tieEmbeddings: false,
      maxSeqLen: 4096,
      bosId: 1,
      eosId: 2,
      padId: 0,
    },
    'test',
  );
}

describe('memory plan', async () => {
  const core = await loadCore();
  const lora = { rank: 4, alpha: 8, dropout: 0.05, targetModules: '.*wq|.*wk|.*wv|.*wo' };
  const cases: [string, LlamaConfig, ModelOptions, number, number][] = [
    [
      'finetune, int8, dropout',
      tinyConfig({ nKvHeads: 2 }),
      { mode: 'finetune', weightType: WeightType.I8, lora },
      2,
      9,
    ],
    [
      'finetune, bf16, recompute',
      tinyConfig({ tieEmbeddings: true }),
      { mode: 'finetune', weightType: WeightType.BF16, lora, recompute: true },
      3,
      5,
    ],
    [
      'train, f32',
      tinyConfig({ dim: 24, nHeads: 3, nKvHeads: 1, ffnDim: 40 }),
      { mode: 'train', weightType: WeightType.F32 },
      2,
      6,
    ],
    [
      'Qwen3 q/k norms, head_dim above hidden, recompute',
      tinyConfig({ family: 'qwen3', qkNorm: true, dim: 16, nHeads: 2, nKvHeads: 1, headSize: 24 }),
      { mode: 'finetune', weightType: WeightType.F32, lora, recompute: true },
      2,
      7,
    ],
    [
      'Qwen2 q/k/v biases, train',
      tinyConfig({ family: 'qwen2', qkvBias: true, nKvHeads: 2 }),
      { mode: 'train', weightType: WeightType.F32 },
      2,
      5,
    ],
  ];
  for (const [name, config, options, B, S] of cases) {
    it(`allocates exactly what it plans (${name})`, () => {
      const mark = core.arena.mark(); // allocations start 64-byte aligned; the plan counts each one's padding
      const model = new LlamaModel(core, config, options);
      assert.equal(alignUp(core.arena.used, 64) - mark, sum(weightPlan(config, options)), 'parameters');
      const before = alignUp(core.arena.used, 64);
      model.reserve(B, S);
      assert.equal(alignUp(core.arena.used, 64) - before, sum(activationPlan(config, options, B, S)), 'activations');
      core.arena.release(mark);
    });
  }

  it('recompute keeps activations flat in depth', () => {
    const lora4 = { mode: 'finetune' as const, weightType: WeightType.F32, lora };
    const shallow = llama(768, 2, 12, 12, 2048),
      deep = llama(768, 12, 12, 12, 2048);
    const act = (c: LlamaConfig, recompute: boolean) => sum(activationPlan(c, { ...lora4, recompute }, 4, 256));
    const perLayerInput = 4 * 256 * 768 * 4;
    assert.equal(act(deep, true) - act(shallow, true), 10 * perLayerInput, 'only the layer inputs grow with depth');
    assert.ok(
      act(deep, false) - act(shallow, false) > 4 * (act(deep, true) - act(shallow, true)),
      'without recompute every layer keeps all of its activations',
    );
  });

  it('refuses Llama2-7B stored as f32 or int8 in one instance, naming the remedy', () => {
    const c7b = llama(4096, 32, 32, 32, ffnDimFor(4096, 256));
    assert.equal(c7b.ffnDim, 11008);
    const mark = core.arena.mark();
    assert.throws(
      () => new LlamaModel(core, c7b, { mode: 'finetune', weightType: WeightType.F32, lora }),
      /exceeds the 4\.00 GiB one WebAssembly instance can address; store the base weights as bf16 or int8/,
    );
    assert.throws(
      () => new LlamaModel(core, c7b, { mode: 'finetune', weightType: WeightType.I8, lora }),
      /exceeds the 4\.00 GiB/,
    );
    assert.equal(core.arena.mark(), mark, 'nothing was allocated');
    const plan = memoryPlan(c7b, { mode: 'finetune', weightType: WeightType.BF16, lora }, 1, 64, 0);
    assert.ok(plan.total > 13.5e9 && plan.total < 15e9, `7B bf16 plan ${plan.total}`);
    assert.match(formatPlan(plan), /weights +12\.\d\d GiB/);
  });

  it('refuses activations that do not fit, naming batch size and sequence length', () => {
    const mark = core.arena.mark();
    const model = new LlamaModel(core, llama(768, 12, 12, 12, 2048), {
      mode: 'finetune',
      weightType: WeightType.BF16,
      lora,
    });
    assert.throws(
      () => model.reserve(64, 4096),
      /lower the batch size \(64\) or the sequence length \(4096\), or turn on recompute/,
    );
    core.arena.release(mark);
  });
});
