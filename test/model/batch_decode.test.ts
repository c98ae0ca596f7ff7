/**
 * Batched decoding (serve): a step over many sequences, each at its own position and with its own
 * adapter or none, gives every sequence bit for bit the logits of LlamaModel.forwardCached
 * decoding it alone with that adapter merged into nothing (the model's own LoRA path), for f32,
 * bf16, int8 and block-quantized base weights; and the small-row product equals one-row products exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore } from '../../src/runtime/core.ts';
import { blockValues, isBlockType, WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { BatchDecoder, type DecodeSequence } from '../../src/model/batch_decode.ts';
import type { ServedAdapter } from '../../src/model/adapters.ts';
import { argmax } from '../../src/generate/sampling.ts';
import { tinyConfig } from './fixtures.ts';
import { coreKinds } from '../helpers.ts';

/** The model's own LoRA factors (B drawn non-zero from `seed`) as a served adapter. */
function ownAdapter(model: LlamaModel, seed: number, name: string): ServedAdapter {
  const rng = new Rng(seed),
    arena = model.core.arena;
  const layers = model.weights.layers.map((p) =>
    Object.fromEntries(
      Object.entries(p.lora).map(([kind, ad]) => {
        rng.fillNormal(arena.f32(ad!.b.ptr, ad!.b.n), 0.2);
        return [kind, { a: ad!.a.ptr, b: ad!.b.ptr, rank: ad!.rank, scale: ad!.scale }];
      }),
    ),
  );
  return { name, dir: '(test)', layers, bytes: 0 };
}

/** Greedy tokens and every step's logits of one prompt through forwardCached (the model's own single-sequence path). */
function alone(model: LlamaModel, prompt: number[], steps: number): { tokens: number[]; logits: Float32Array[] } {
  const mark = model.core.arena.mark();
  const cache = model.newCache(1, prompt.length + steps);
  let logits = model.forwardCached(cache, Int32Array.from(prompt), prompt.length);
  const out = { tokens: [] as number[], logits: [logits] };
  for (let i = 0; i < steps; i++) {
    out.tokens.push(argmax(logits));
    if (i + 1 < steps) out.logits.push((logits = model.forwardCached(cache, Int32Array.of(out.tokens[i]), 1)));
  }
  model.core.arena.release(mark);
  return out;
}

describe('batched decoding', async () => {
  const core = await loadCore();
  for (const [wt, name] of [
    [WeightType.F32, 'f32'],
    [WeightType.BF16, 'bf16'],
    [WeightType.I8, 'int8'],
    [WeightType.Q8_0, 'q8_0'],
    [WeightType.Q4_0, 'q4_0'],
    [WeightType.Q4_K, 'q4_k'],
    [WeightType.Q6_K, 'q6_k'],
  ] as const) {
    it(`sequences of mixed adapters and positions decode in one batch exactly as each alone (${name} weights)`, () => {
      const mark = core.arena.mark();
      // Block types take rows of whole blocks of 32 values; Q4_K and Q6_K of 256, w2's rows of
      // 288 are stored as Q8_0 instead.
      const config =
        blockValues(wt) === 256
          ? tinyConfig({ dim: 256, nHeads: 4, nKvHeads: 2, ffnDim: 288, vocabSize: 97, nLayers: 3, maxSeqLen: 48 })
          : isBlockType(wt)
            ? tinyConfig({ dim: 64, nHeads: 4, nKvHeads: 2, ffnDim: 96, vocabSize: 97, nLayers: 3, maxSeqLen: 48 })
            : tinyConfig({ dim: 48, nHeads: 6, nKvHeads: 2, ffnDim: 88, vocabSize: 97, nLayers: 3, maxSeqLen: 48 });
      const lora = { rank: 4, alpha: 8, dropout: 0, targetModules: '.*wq|.*wv|.*w2' };
      // Two models over the same base: with adapter 1, and with adapter 2 (its own factors).
      const m1 = new LlamaModel(core, config, { mode: 'finetune', weightType: wt, lora });
      m1.weights.initRandom(7, 0.3);
      m1.weights.initLora(8);
      const a1 = ownAdapter(m1, 9, 'one');
      const m2 = new LlamaModel(core, config, {
        mode: 'finetune',
        weightType: wt,
        lora: { ...lora, rank: 2, targetModules: '.*wk|.*w1|.*wo' },
      });
      m2.weights.initRandom(7, 0.3);
      m2.weights.initLora(10);
      const a2 = ownAdapter(m2, 11, 'two');
      const base = new LlamaModel(core, config, { mode: 'finetune', weightType: wt });
      base.weights.initRandom(7, 0.3);
      const prompts = [
        [1, 17, 42, 5, 66],
        [1, 3],
        [1, 50, 51, 52, 53, 54, 55, 56],
        [1, 9, 9],
      ];
      const owners = [m1, m2, base, m1],
        adapters = [a1, a2, undefined, a1],
        steps = 9;
      const want = prompts.map((p, i) => alone(owners[i], p, steps));
      // The decoder runs on the plain base; every model drew the same base values (seed 7).
      const decoder = new BatchDecoder(base, 4, 32, 8);
      const seqs: DecodeSequence[] = [],
        got: Float32Array[][] = prompts.map(() => []);
      const tokens: number[][] = prompts.map(() => []);
      // Sequences join one step apart, so the batch holds sequences at different positions.
      for (let step = 0; step < steps + prompts.length; step++) {
        const rows = seqs
          .map((seq, i) => ({ seq, token: tokens[i].at(-1)! }))
          .filter((_, i) => tokens[i].length < steps);
        if (rows.length) {
          const logits = decoder.decodeBatch(rows),
            V = config.vocabSize;
          rows.forEach((row, j) => {
            const i = seqs.indexOf(row.seq),
              l = logits.slice(j * V, (j + 1) * V);
            got[i].push(l);
            tokens[i].push(argmax(l));
          });
        }
        if (seqs.length < prompts.length) {
          const i = seqs.length,
            seq = decoder.open(adapters[i]);
          seqs.push(seq);
          const l = decoder.prefill(seq, prompts[i]);
          got[i].push(l);
          tokens[i].push(argmax(l));
        }
      }
      prompts.forEach((_, i) => {
        assert.deepEqual(tokens[i], want[i].tokens, `tokens of prompt ${i}`);
        want[i].logits.forEach((l, s) => assert.deepEqual(got[i][s], l, `logits of prompt ${i} at step ${s}`));
      });
      for (const s of seqs) decoder.close(s);
      assert.equal(decoder.free, 4);
      core.arena.release(mark);
    });
  }

  for (const kind of await coreKinds())
    it(`the small-row product gives each row exactly its one-row result (every storage type, edge sizes, ${kind} core)`, async () => {
      const own = await loadCore({ kind }),
        k = own.kernels,
        arena = own.arena,
        rng = new Rng(3);
      for (const wt of [WeightType.F32, WeightType.BF16, WeightType.I8]) {
        for (const [M, N, K] of [
          [1, 5, 7],
          [3, 13, 37],
          [9, 21, 300],
          [16, 8, 520],
        ]) {
          const x = arena.alloc(M * K * 4),
            w32 = arena.alloc(N * K * 4),
            w = arena.alloc(N * K * 4),
            s = arena.alloc(N * 4);
          const y = arena.alloc(M * N * 4),
            one = arena.alloc(N * 4);
          rng.fillNormal(arena.f32(x, M * K), 1);
          rng.fillNormal(arena.f32(w32, N * K), 1);
          if (wt === WeightType.F32) arena.f32(w, N * K).set(arena.f32(w32, N * K));
          else if (wt === WeightType.BF16) k.f32ToBf16(w, w32, N * K);
          else k.quantizeRowsInt8(w, s, w32, N, K);
          rng.fillNormal(arena.f32(y, M * N), 1);
          const before = Float32Array.from(arena.f32(y, M * N));
          k.matmulXWtRows(y, x, w, s, M, N, K, wt, true);
          for (let m = 0; m < M; m++) {
            arena.f32(one, N).set(before.subarray(m * N, (m + 1) * N));
            k.matmulXWt(one, x + m * K * 4, w, s, 1, N, K, wt, true);
            assert.deepEqual(arena.f32(y + m * N * 4, N), arena.f32(one, N), `row ${m} of ${M}x${N}x${K} (type ${wt})`);
          }
        }
      }
    });
});
