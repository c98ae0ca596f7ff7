/**
 * The Llama model against the PyTorch reference: logits and loss to 1e-4, every trainable
 * gradient to 1e-3 (relative to the largest magnitude), over multi-head and grouped-query
 * attention, tied and untied embeddings, odd sizes, padding and ignored labels, LoRA on several
 * target sets, f32/bf16/int8/q4_k/q6_k base weights, train mode, and recomputation; and a random tiny
 * config of every family (Llama 3 rope scaling, Qwen2 q/k/v bias, Qwen3 q/k norm with its own
 * head_dim, Mistral's window, SmolLM2 and TinyLlama shapes), whose norms and biases are random.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { configFromHF, type LlamaConfig } from '../../src/model/config.ts';
import { countedTargets, LlamaModel, type ModelOptions } from '../../src/model/llama.ts';
import { assertClose } from '../helpers.ts';
import { referenceStep } from './harness.ts';
import { tinyBatch, tinyConfig } from './fixtures.ts';

/** Random non-zero LoRA B (B starts at zero, which would hide A's gradient). */
function randomizeLoraB(model: LlamaModel, seed: number): void {
  const rng = new Rng(seed);
  for (const layer of model.weights.layers)
    for (const ad of Object.values(layer.lora)) rng.fillNormal(model.core.arena.f32(ad.b.ptr, ad.b.n), 0.05);
}

/** Random values around 1 for every norm (a norm of ones would hide the gradient paths through its weight). */
function randomizeNorms(model: LlamaModel, seed: number): void {
  const rng = new Rng(seed),
    arena = model.core.arena;
  for (const t of model.weights.baseTensors()) {
    if (t.vector === undefined || !/norm\.weight$/.test(t.name)) continue;
    const v = arena.f32(t.vector, t.shape[0]);
    rng.fillNormal(v, 0.2);
    for (let i = 0; i < v.length; i++) v[i] += 1;
  }
}

interface Case {
  name: string;
  config: Partial<LlamaConfig>;
  options: ModelOptions;
  B: number;
  S: number;
  randomNorms?: boolean;
}

const lora = (targetModules: string | string[], rank = 4) => ({ rank, alpha: 8, dropout: 0, targetModules });
const cases: Case[] = [
  {
    name: 'multi-head, untied, LoRA on q k v o (MindFormers names)',
    config: {},
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora('.*wq|.*wk|.*wv|.*wo') },
    B: 2,
    S: 9,
  },
  {
    name: 'grouped-query, tied, LoRA on all seven (Hugging Face names), padding, logits in chunks of 5 rows',
    config: { dim: 48, nHeads: 6, nKvHeads: 2, ffnDim: 100, vocabSize: 101, tieEmbeddings: true },
    options: {
      mode: 'finetune',
      weightType: WeightType.F32,
      lora: lora('q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj', 3),
      logitsChunk: 5,
    },
    B: 3,
    S: 7,
  },
  {
    name: 'odd sizes, one kv head, LoRA on the MLP, recompute',
    config: { dim: 20, nHeads: 5, nKvHeads: 1, ffnDim: 33, vocabSize: 37, nLayers: 3 },
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora(['w1', 'w2', 'w3'], 5), recompute: true },
    B: 2,
    S: 11,
  },
  {
    name: 'bf16 base weights, against the reference on the same rounded weights',
    config: { nKvHeads: 2 },
    options: { mode: 'finetune', weightType: WeightType.BF16, lora: lora('.*wq|.*wv') },
    B: 2,
    S: 8,
  },
  {
    name: 'int8 base weights, against the reference on the same dequantized weights',
    config: { dim: 40, nHeads: 5, nKvHeads: 5, ffnDim: 72 },
    options: { mode: 'finetune', weightType: WeightType.I8, lora: lora('.*wo|.*w2') },
    B: 2,
    S: 70,
  },
  {
    name: 'q4_k base weights (w2, rows of 288, as q8_0), against the reference on the same dequantized weights',
    config: { dim: 256, nHeads: 4, nKvHeads: 2, ffnDim: 288 },
    options: { mode: 'finetune', weightType: WeightType.Q4_K, lora: lora('.*wq|.*w2') },
    B: 2,
    S: 6,
  },
  {
    name: 'q6_k base weights, three rows (the decoding product), against the reference on the same dequantized weights',
    config: { dim: 256, nHeads: 4, nKvHeads: 4, ffnDim: 512 },
    options: { mode: 'finetune', weightType: WeightType.Q6_K, lora: lora('.*wv|.*w1|.*w3') },
    B: 1,
    S: 3,
  },
  {
    name: 'train mode: every parameter, untied',
    config: { nKvHeads: 2 },
    options: { mode: 'train', weightType: WeightType.F32 },
    B: 2,
    S: 6,
  },
  {
    name: 'train mode: every parameter, tied, recompute, logits in chunks of 4 rows',
    config: { dim: 24, nHeads: 3, nKvHeads: 1, ffnDim: 40, tieEmbeddings: true },
    options: { mode: 'train', weightType: WeightType.F32, recompute: true, logitsChunk: 4 },
    B: 3,
    S: 5,
  },
  // The families: wavelengths 2π·10^(2i/8) of 6, 63, 628 and 6283 positions against 64/4 and 64/1 take each branch of Llama 3's rule.
  {
    name: 'Llama 3: rope_scaling llama3 (factor 8, low 1, high 4, original 64), grouped-query, tied',
    config: {
      nKvHeads: 2,
      tieEmbeddings: true,
      ropeTheta: 10000,
      ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 },
    },
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora('.*wq|.*wk|.*wv|.*wo') },
    B: 2,
    S: 12,
    randomNorms: true,
  },
  {
    name: 'Qwen2: q/k/v bias, LoRA on q k v',
    config: {
      family: 'qwen2',
      qkvBias: true,
      dim: 40,
      nHeads: 5,
      nKvHeads: 1,
      ffnDim: 64,
      tieEmbeddings: true,
      normEps: 1e-6,
    },
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora('q_proj|k_proj|v_proj') },
    B: 2,
    S: 9,
    randomNorms: true,
  },
  {
    name: "Qwen2: q/k/v bias, train mode (the biases' gradients), recompute",
    config: { family: 'qwen2', qkvBias: true, nKvHeads: 2 },
    options: { mode: 'train', weightType: WeightType.F32, recompute: true },
    B: 2,
    S: 7,
    randomNorms: true,
  },
  {
    name: 'Qwen3: q/k head norms before RoPE, head_dim 12 with 4 heads over a hidden size of 32, LoRA on all seven',
    config: { family: 'qwen3', qkNorm: true, headSize: 12, nKvHeads: 2, tieEmbeddings: true, normEps: 1e-6 },
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora('.*') },
    B: 2,
    S: 10,
    randomNorms: true,
  },
  {
    name: "Qwen3: train mode (the head norms' gradients)",
    config: { family: 'qwen3', qkNorm: true, headSize: 6, dim: 24, nHeads: 6, nKvHeads: 3 },
    options: { mode: 'train', weightType: WeightType.F32 },
    B: 2,
    S: 6,
    randomNorms: true,
  },
  {
    name: 'Mistral: a sequence within the sliding window',
    config: { family: 'mistral', slidingWindow: 12, nKvHeads: 2 },
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora('.*wq|.*wv') },
    B: 2,
    S: 12,
    randomNorms: true,
  },
  {
    name: 'SmolLM2 shape: 9 heads over 3 kv heads, tied, theta 100000',
    config: { dim: 36, nHeads: 9, nKvHeads: 3, ffnDim: 96, tieEmbeddings: true, ropeTheta: 100000 },
    options: { mode: 'finetune', weightType: WeightType.BF16, lora: lora('.*wq|.*wk|.*wv|.*wo') },
    B: 2,
    S: 8,
    randomNorms: true,
  },
  {
    name: 'TinyLlama shape: 8 heads over 1 kv head, untied',
    config: { nHeads: 8, nKvHeads: 1, ffnDim: 88 },
    options: { mode: 'finetune', weightType: WeightType.F32, lora: lora('.*wq|.*wv') },
    B: 2,
    S: 8,
    randomNorms: true,
  },
];

describe('Llama forward and backward against PyTorch', async () => {
  const core = await loadCore();
  for (const [i, tc] of cases.entries()) {
    it(tc.name, () => {
      const mark = core.arena.mark();
      const config = tinyConfig(tc.config);
      const model = new LlamaModel(core, config, { seed: i, ...tc.options });
      model.weights.initRandom(100 + i, 0.15);
      model.weights.initLora(200 + i);
      randomizeLoraB(model, 300 + i);
      if (tc.randomNorms) randomizeNorms(model, 500 + i);
      const { ids, labels } = tinyBatch(400 + i, tc.B, tc.S, config.vocabSize);
      const logits = new Float32Array(tc.B * tc.S * config.vocabSize);
      const got = model.step(ids, labels, tc.B, tc.S, true, logits);
      const want = referenceStep(model, ids, labels, tc.B, tc.S);
      assertClose(logits, want.logits, 1e-4, 'logits');
      assert.ok(Math.abs(got.loss - want.loss) <= 1e-4 * Math.abs(want.loss), `loss ${got.loss} vs ${want.loss}`);
      const trainable = model.weights.trainable;
      assert.equal(trainable.length, want.grads.size, 'the same set of trainable tensors');
      for (const t of trainable) {
        const ref = want.grads.get(t.name);
        assert.ok(ref, `the reference has a gradient for ${t.name}`);
        assertClose(core.arena.f32(t.grad, t.n), ref, 1e-3, `gradient of ${t.name}`);
      }
      // Without all logits requested, only the counted rows go through the head: same loss and gradients.
      const full = trainable.map((t) => Float32Array.from(core.arena.f32(t.grad, t.n)));
      model.weights.zeroGrads();
      model.stepCount--;
      const compact = model.step(ids, labels, tc.B, tc.S, true);
      assert.ok(
        Math.abs(compact.loss - got.loss) <= 1e-6 * Math.abs(got.loss),
        `loss over counted rows ${compact.loss} vs ${got.loss}`,
      );
      trainable.forEach((t, j) =>
        assertClose(core.arena.f32(t.grad, t.n), full[j], 1e-6, `gradient of ${t.name} over counted rows`),
      );
      core.arena.release(mark);
    });
  }
});

describe('Mistral sliding window', async () => {
  const core = await loadCore();
  it('a longer sequence is refused with one line, in training and in decoding', () => {
    const mark = core.arena.mark();
    const model = new LlamaModel(core, tinyConfig({ family: 'mistral', slidingWindow: 6 }), {
      mode: 'train',
      weightType: WeightType.F32,
    });
    const { ids } = tinyBatch(1, 1, 7, 67);
    const refusal =
      /^Error: a sequence of 7 positions is longer than the model's sliding_window of 6; sliding-window attention is not implemented, so use sequences of at most 6$/;
    assert.throws(() => model.step(ids, null, 1, 7, false), refusal);
    const cache = model.newCache(1, 16);
    model.forwardCached(cache, ids.subarray(0, 6), 6);
    assert.throws(() => model.forwardCached(cache, ids.subarray(6, 7), 1), refusal);
    core.arena.release(mark);
  });
});

describe('a model without a pad token', async () => {
  const core = await loadCore();
  it('a config.json without pad_token_id skips no input: targets after id 0 (Llama 3\'s "!") count, as in PyTorch', () => {
    const mark = core.arena.mark();
    const hf = {
      hidden_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 67,
      intermediate_size: 56,
      max_position_embeddings: 64,
    };
    const config = configFromHF(hf, 'config.json');
    assert.equal(config.padId, -1);
    assert.equal(configFromHF({ ...hf, pad_token_id: null }, 'config.json').padId, -1);
    assert.equal(configFromHF({ ...hf, pad_token_id: 0 }, 'config.json').padId, 0);
    const model = new LlamaModel(core, config, { mode: 'train', weightType: WeightType.F32 });
    model.weights.initRandom(7, 0.15);
    const B = 2,
      S = 9;
    const ids = Int32Array.from({ length: B * (S + 1) }, (_, i) => (i % 3 === 1 ? 0 : 3 + ((i * 7) % 60)));
    const labels = Int32Array.from(ids, (id, i) => (i % (S + 1) === 0 ? -100 : id));
    assert.equal(countedTargets(ids, labels, B, S, config.padId), B * S, 'every target counts');
    assert.ok(countedTargets(ids, labels, B, S, 0) < B * S, 'a pad of 0 would have dropped some');
    const got = model.step(ids, labels, B, S, false);
    const want = referenceStep(model, ids, labels, B, S);
    assert.ok(Math.abs(got.loss - want.loss) <= 1e-4 * Math.abs(want.loss), `loss ${got.loss} vs ${want.loss}`);
    core.arena.release(mark);
  });
});
