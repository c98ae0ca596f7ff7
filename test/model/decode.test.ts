/**
 * Decoding: KV-cache generation gives the same tokens (and logits) as re-running the full
 * forward at every step, for f32, bf16 and int8 weights and grouped-query heads; sampling follows
 * its hand-computed rules.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { generate } from '../../src/generate/generate.ts';
import { argmax, sampleToken, SEED_SAMPLING, topKIds } from '../../src/generate/sampling.ts';
import { assertClose } from '../helpers.ts';
import { tinyConfig } from './fixtures.ts';

/** Logits of the last position of `seq`, by the full (training) forward. */
function fullForwardLast(model: LlamaModel, seq: number[]): Float32Array {
  const S = seq.length,
    V = model.config.vocabSize;
  const logits = new Float32Array(S * V);
  model.step(Int32Array.from([...seq, 0]), null, 1, S, false, logits);
  return logits.slice((S - 1) * V);
}

describe('decoding with a KV cache', async () => {
  const core = await loadCore();
  for (const [wt, name] of [
    [WeightType.F32, 'f32'],
    [WeightType.BF16, 'bf16'],
    [WeightType.I8, 'int8'],
  ] as const) {
    it(`greedy tokens and logits equal the full forward at every step (${name} weights, grouped-query)`, () => {
      const mark = core.arena.mark();
      const config = tinyConfig({ dim: 48, nHeads: 6, nKvHeads: 2, ffnDim: 88, vocabSize: 97, nLayers: 3 });
      const model = new LlamaModel(core, config, {
        mode: 'finetune',
        weightType: wt,
        lora: { rank: 4, alpha: 8, dropout: 0, targetModules: '.*wq|.*wv' },
      });
      model.weights.initRandom(7, 0.3);
      model.weights.initLora(8);
      const prompt = [1, 17, 42, 5, 66];
      const tokens = generate(model, prompt, { maxNewTokens: 12, eosId: -1 });
      assert.equal(tokens.length, 12);
      const seq = [...prompt];
      for (const t of tokens) {
        const want = fullForwardLast(model, seq);
        assert.equal(t, argmax(want), `token after ${seq.length} positions`);
        seq.push(t);
      }
      // The cached logits themselves, step by step.
      const cache = model.newCache(1, 32);
      let got = model.forwardCached(cache, Int32Array.from(prompt), prompt.length);
      for (let i = 0; i <= tokens.length; i++) {
        assertClose(
          got,
          fullForwardLast(model, seq.slice(0, prompt.length + i)),
          1e-5,
          `logits at position ${prompt.length + i}`,
        );
        if (i < tokens.length) got = model.forwardCached(cache, Int32Array.of(tokens[i]), 1);
      }
      core.arena.release(mark);
    });
  }

  it('batched prompts decode like single ones', () => {
    const mark = core.arena.mark();
    const config = tinyConfig({ nKvHeads: 2 });
    const model = new LlamaModel(core, config, { mode: 'train', weightType: WeightType.F32 });
    model.weights.initRandom(3, 0.3);
    const prompts = [
      [1, 5, 9, 13],
      [1, 60, 2, 33],
    ];
    const cache = model.newCache(2, 8);
    const both = model.forwardCached(cache, Int32Array.from(prompts.flat()), 4);
    const V = config.vocabSize;
    prompts.forEach((p, i) =>
      assertClose(both.slice(i * V, (i + 1) * V), fullForwardLast(model, p), 1e-5, `prompt ${i}`),
    );
    core.arena.release(mark);
  });

  it('stops at the end-of-sequence id', () => {
    const mark = core.arena.mark();
    const model = new LlamaModel(core, tinyConfig({}), { mode: 'train', weightType: WeightType.F32 });
    model.weights.initRandom(5, 0.3);
    const free = generate(model, [1, 3], { maxNewTokens: 6, eosId: -1 });
    const stopped = generate(model, [1, 3], { maxNewTokens: 6, eosId: free[2] });
    assert.deepEqual(stopped, free.slice(0, free.indexOf(free[2]) + 1));
    core.arena.release(mark);
  });
});

describe('sampling', () => {
  const logits = () => Float32Array.from([1, 3, 2, -1, 0.5]);
  it('greedy takes the argmax; the repetition penalty divides positive and multiplies negative logits', () => {
    assert.equal(sampleToken(logits(), [], SEED_SAMPLING, new Rng(0)), 1);
    // penalty 4 on token 1: 3/4 = 0.75 < 2, so token 2 wins
    assert.equal(sampleToken(logits(), [1], { ...SEED_SAMPLING, repetitionPenalty: 4 }, new Rng(0)), 2);
    const l = logits();
    sampleToken(l, [3, 1], { ...SEED_SAMPLING, repetitionPenalty: 2 }, new Rng(0));
    assert.deepEqual(Array.from(l), [1, 1.5, 2, -2, 0.5]);
  });

  it('top-k 1 and a tiny top-p are greedy even when sampling', () => {
    const o = { ...SEED_SAMPLING, doSample: true };
    for (let s = 0; s < 20; s++) {
      assert.equal(sampleToken(logits(), [], { ...o, topK: 1 }, new Rng(s)), 1);
      assert.equal(sampleToken(logits(), [], { ...o, topK: 0, topP: 0.01 }, new Rng(s)), 1);
    }
  });

  it('draws follow the tempered softmax over the top-k tokens', () => {
    const o = { ...SEED_SAMPLING, doSample: true, topK: 3, temperature: 2 };
    const rng = new Rng(42),
      counts = new Map<number, number>(),
      n = 20000;
    for (let i = 0; i < n; i++) {
      const t = sampleToken(logits(), [], o, rng);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    // top 3 logits 3, 2, 1 at temperature 2: weights e^1.5, e^1, e^0.5
    const w = [Math.exp(1.5), Math.exp(1), Math.exp(0.5)],
      z = w[0] + w[1] + w[2];
    assert.deepEqual([...counts.keys()].sort(), [0, 1, 2]);
    [
      [1, w[0]],
      [2, w[1]],
      [0, w[2]],
    ].forEach(([id, wi]) => {
      const p = wi / z,
        got = counts.get(id)! / n;
      assert.ok(Math.abs(got - p) < 4 * Math.sqrt((p * (1 - p)) / n), `token ${id}: ${got} vs ${p}`);
    });
  });

  it('the top-k candidates are those of a stable sort of every id, cut to k (ties by id)', () => {
    const rng = new Rng(9);
    for (const k of [1, 3, 40, 99]) {
      // Values on a coarse grid, so that many tie.
      const l = Float32Array.from({ length: 100 }, () => Math.round(rng.uniform() * 8));
      const sorted = Array.from(l.keys()).sort((a, b) => l[b] - l[a] || a - b);
      assert.deepEqual(topKIds(l, k), sorted.slice(0, k), `k ${k}`);
    }
  });

  it('top-p keeps the smallest set that reaches p', () => {
    // probabilities of logits [1,3,2,-1,0.5]: token 1 ≈ 0.61, token 2 ≈ 0.22: p = 0.7 keeps both, never more
    const o = { ...SEED_SAMPLING, doSample: true, topK: 0, topP: 0.7 };
    const rng = new Rng(1),
      seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(sampleToken(logits(), [], o, rng));
    assert.deepEqual([...seen].sort(), [1, 2]);
  });
});
